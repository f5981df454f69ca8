//! `-m statistic` (`libxt_statistic.c`). `--probability p` is stored as the kernel holds it,
//! `lround(p * 2^31)`, and printed back with `%.11f` of `threshold / 2^31`.

use super::{bad, dup, missing};
use crate::model::ruleset::{Match, StatisticMatch, StatisticMode};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};

const OPTS: &[&str] = &["--mode", "--probability", "--every", "--packet"];

/// `lround(0x80000000 * p)` for p in [0, 1]: rounds half away from zero.
pub(crate) fn threshold(p: f64) -> u32 {
    (p * 2147483648.0).round() as u32
}

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let start = a.col();
    let (mut mode, mut prob, mut every, mut packet) = (None::<&str>, None::<u32>, None::<u32>, None::<u32>);
    let mut neg = false;
    while let Some((mut inv, opt, col)) = a.next_opt(OPTS) {
        match opt {
            "--mode" => {
                if mode.is_some() {
                    return Err(dup(col, opt));
                }
                if inv {
                    return Err(PErr::new(col, "`--mode` cannot be negated"));
                }
                let w = a.value(opt)?;
                if w.as_str() != "random" && w.as_str() != "nth" {
                    return Err(bad(w, opt, "random or nth"));
                }
                mode = Some(w.as_str());
            }
            "--probability" => {
                if prob.is_some() {
                    return Err(dup(col, opt));
                }
                let w = a.value_inv(opt, &mut inv)?;
                let p: f64 = w.as_str().parse().ok().filter(|p: &f64| (0.0..=1.0).contains(p)).ok_or_else(|| bad(w, opt, "a probability between 0 and 1"))?;
                prob = Some(threshold(p));
                neg |= inv;
            }
            "--every" => {
                if every.is_some() {
                    return Err(dup(col, opt));
                }
                let w = a.value_inv(opt, &mut inv)?;
                let n = values::dec(w.as_str()).filter(|n| (1..=u32::MAX as u64).contains(n)).ok_or_else(|| bad(w, opt, "a count of at least 1"))?;
                every = Some(n as u32);
                neg |= inv;
            }
            _ => {
                if packet.is_some() {
                    return Err(dup(col, opt));
                }
                if inv {
                    return Err(PErr::new(col, "`--packet` cannot be negated"));
                }
                let w = a.value(opt)?;
                packet = Some(values::dec(w.as_str()).filter(|n| *n <= u32::MAX as u64).ok_or_else(|| bad(w, opt, "a packet number"))? as u32);
            }
        }
    }
    let mode = match (mode, prob, every) {
        (Some("random"), Some(threshold), None) if packet.is_none() => StatisticMode::Random { threshold },
        (Some("random"), None, _) => return Err(missing(start, "-m statistic --mode random", "`--probability`")),
        (Some("nth"), None, Some(every)) => {
            // libxt_statistic.c final check: both --every and --packet, with packet < every.
            let packet = packet.ok_or_else(|| missing(start, "-m statistic --mode nth", "`--packet`"))?;
            if packet >= every {
                return Err(PErr::expected(start, "`--packet` must be below `--every`", format!("a packet number below {every}"), packet.to_string()));
            }
            StatisticMode::Nth { every, packet }
        }
        (Some("nth"), _, None) => return Err(missing(start, "-m statistic --mode nth", "`--every`")),
        (None, ..) => return Err(missing(start, "-m statistic", "`--mode`")),
        _ => return Err(PErr::new(start, "options of `-m statistic` do not fit its `--mode`")),
    };
    Ok(Match::Statistic(StatisticMatch { neg, mode }))
}

pub(crate) fn save(m: &StatisticMatch, out: &mut String) {
    let n = if m.neg { " !" } else { "" };
    match m.mode {
        StatisticMode::Random { threshold } => {
            out.push_str(&format!(" --mode random{n} --probability {:.11}", threshold as f64 / 2147483648.0));
        }
        StatisticMode::Nth { every, packet } => {
            out.push_str(&format!(" --mode nth{n} --every {every} --packet {packet}"));
        }
    }
}
