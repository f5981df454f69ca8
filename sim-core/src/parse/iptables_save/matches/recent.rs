//! `-m recent` revision 1 (`libxt_recent.c`).

use super::{bad, dup};
use crate::model::ruleset::{Match, RecentCmd, RecentMatch};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};
use std::net::Ipv4Addr;

const OPTS: &[&str] = &["--set", "--rcheck", "--update", "--remove", "--seconds", "--reap", "--hitcount", "--rttl", "--name", "--mask", "--rsource", "--rdest"];

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let start = a.col();
    let mut cmd: Option<(bool, RecentCmd)> = None;
    let mut m = RecentMatch {
        neg: false,
        cmd: RecentCmd::Set,
        name: "DEFAULT".into(),
        seconds: None,
        reap: false,
        hitcount: None,
        rttl: false,
        rsource: true,
        mask: Ipv4Addr::new(255, 255, 255, 255),
    };
    let mut seen: Vec<&str> = Vec::new();
    while let Some((inv, opt, col)) = a.next_opt(OPTS) {
        let c = match opt {
            "--set" => Some(RecentCmd::Set),
            "--rcheck" => Some(RecentCmd::Rcheck),
            "--update" => Some(RecentCmd::Update),
            "--remove" => Some(RecentCmd::Remove),
            _ => None,
        };
        if let Some(c) = c {
            if cmd.is_some() {
                return Err(PErr::new(col, "only one of `--set`, `--rcheck`, `--update` or `--remove` may be given"));
            }
            cmd = Some((inv, c));
            continue;
        }
        if inv {
            return Err(PErr::new(col, format!("`{opt}` cannot be negated")));
        }
        if seen.contains(&opt) {
            return Err(dup(col, opt));
        }
        seen.push(opt);
        match opt {
            "--seconds" => {
                let w = a.value(opt)?;
                m.seconds =
                    Some(values::dec(w.as_str()).filter(|v| *v >= 1 && *v <= u32::MAX as u64).ok_or_else(|| bad(w, opt, "seconds, at least 1"))? as u32);
            }
            "--hitcount" => {
                // xt_recent.c:recent_mt_check refuses hit_count >= XT_RECENT_MAX_NSTAMPS (256).
                let w = a.value(opt)?;
                m.hitcount = Some(values::dec(w.as_str()).filter(|v| *v >= 1 && *v <= 255).ok_or_else(|| bad(w, opt, "a hit count 1-255"))? as u32);
            }
            "--name" => {
                let w = a.value(opt)?;
                if w.as_str().is_empty() || w.as_str().len() > 199 {
                    return Err(bad(w, opt, "a list name of 1 to 199 characters"));
                }
                m.name = w.as_str().to_string();
            }
            "--mask" => {
                let w = a.value(opt)?;
                m.mask = values::ipv4(w.as_str()).ok_or_else(|| bad(w, opt, "a dotted IPv4 mask"))?;
            }
            "--reap" => m.reap = true,
            "--rttl" => m.rttl = true,
            "--rsource" => m.rsource = true,
            _ => m.rsource = false,
        }
    }
    let Some((neg, cmd)) = cmd else {
        return Err(PErr::expected(start, "`-m recent` needs a command", "one of `--set`, `--rcheck`, `--update`, `--remove`", "none"));
    };
    if m.rttl && !matches!(cmd, RecentCmd::Rcheck | RecentCmd::Update) {
        return Err(PErr::new(start, "`--rttl` is only valid with `--rcheck` or `--update`"));
    }
    if m.reap && m.seconds.is_none() {
        return Err(PErr::new(start, "`--reap` needs `--seconds`"));
    }
    m.neg = neg;
    m.cmd = cmd;
    Ok(Match::Recent(Box::new(m)))
}

pub(crate) fn save(m: &RecentMatch, out: &mut String) {
    super::neg(out, m.neg);
    out.push_str(match m.cmd {
        RecentCmd::Set => " --set",
        RecentCmd::Rcheck => " --rcheck",
        RecentCmd::Update => " --update",
        RecentCmd::Remove => " --remove",
    });
    if let Some(s) = m.seconds {
        out.push_str(&format!(" --seconds {s}"));
    }
    if m.reap {
        out.push_str(" --reap");
    }
    if let Some(h) = m.hitcount {
        out.push_str(&format!(" --hitcount {h}"));
    }
    if m.rttl {
        out.push_str(" --rttl");
    }
    out.push_str(&format!(" --name {} --mask {}", m.name, m.mask));
    out.push_str(if m.rsource { " --rsource" } else { " --rdest" });
}
