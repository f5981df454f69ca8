//! `-m limit` (`libxt_limit.c`). The rate is stored in the canonical form iptables-save prints
//! (`print_rate` picks the largest unit that divides exactly), so `10/minute` reads as `10/min`.

use super::{bad, dup};
use crate::model::ruleset::{LimitMatch, Match};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};

/// XT_LIMIT_SCALE and the unit multipliers of `libxt_limit.c:rates`.
const SCALE: u64 = 10000;
const UNITS: [(&str, u64); 4] = [("day", SCALE * 86400), ("hour", SCALE * 3600), ("min", SCALE * 60), ("sec", SCALE)];

/// `N/unit` -> the kernel's average period (`parse_rate`); the unit is any prefix of second,
/// minute, hour or day; no unit means per second.
pub(crate) fn rate_period(s: &str) -> Option<u32> {
    let (n, unit) = match s.split_once('/') {
        Some((n, u)) => (n, Some(u)),
        None => (s, None),
    };
    let mult = match unit {
        None => SCALE,
        Some(u) if !u.is_empty() && "second".starts_with(u) => SCALE,
        Some(u) if !u.is_empty() && "minute".starts_with(u) => SCALE * 60,
        Some(u) if !u.is_empty() && "hour".starts_with(u) => SCALE * 3600,
        Some(u) if !u.is_empty() && "day".starts_with(u) => SCALE * 86400,
        _ => return None,
    };
    let r = values::dec(n).filter(|r| *r > 0)?;
    // libxt_limit.c: "Rate too fast" when the period would be 0.
    let p = mult / r;
    (p > 0 && p <= u32::MAX as u64).then_some(p as u32)
}

/// The text `print_rate` gives for a period.
pub(crate) fn rate_text(period: u32) -> String {
    let p = period as u64;
    if p == 0 {
        return "inf".into();
    }
    let mut i = 1;
    while i < UNITS.len() {
        let m = UNITS[i].1;
        if p > m || m / p < m % p {
            break;
        }
        i += 1;
    }
    format!("{}/{}", UNITS[i - 1].1 / p, UNITS[i - 1].0)
}

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let mut rate: Option<String> = None;
    let mut burst: Option<u32> = None;
    while let Some((inv, opt, col)) = a.next_opt(&["--limit", "--limit-burst"]) {
        if inv {
            return Err(PErr::new(col, format!("`{opt}` cannot be negated")));
        }
        let w = a.value(opt)?;
        if opt == "--limit" {
            if rate.is_some() {
                return Err(dup(col, opt));
            }
            let p = rate_period(w.as_str()).ok_or_else(|| bad(w, opt, "a rate `N/sec|min|hour|day`"))?;
            rate = Some(rate_text(p));
        } else {
            if burst.is_some() {
                return Err(dup(col, opt));
            }
            burst = Some(values::dec(w.as_str()).filter(|b| *b <= 10000).ok_or_else(|| bad(w, opt, "a burst of 0-10000"))? as u32);
        }
    }
    // Defaults of libxt_limit.c: 3/hour, burst 5.
    Ok(Match::Limit(LimitMatch { rate: rate.unwrap_or_else(|| "3/hour".into()), burst: burst.unwrap_or(5) }))
}

pub(crate) fn save(m: &LimitMatch, out: &mut String) {
    let r = rate_period(&m.rate).map(rate_text).unwrap_or_else(|| m.rate.clone());
    out.push_str(&format!(" --limit {r}"));
    if m.burst != 5 {
        out.push_str(&format!(" --limit-burst {}", m.burst));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_rates() {
        for (i, o) in [
            ("10/min", "10/min"),
            ("1/sec", "1/sec"),
            ("1000/hour", "1000/hour"),
            ("3/hour", "3/hour"),
            ("60/minute", "1/sec"),
            ("1000/day", "1000/day"),
            ("5", "5/sec"),
        ] {
            assert_eq!(rate_period(i).map(rate_text).as_deref(), Some(o), "{i}");
        }
    }
}
