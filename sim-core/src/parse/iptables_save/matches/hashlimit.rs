//! `-m hashlimit` revisions 2/3 (`libxt_hashlimit.c`). The rate is kept as written with the unit
//! spelled as iptables-save prints it; the table options are kept in `other` and printed in the
//! extension's order.

use super::{bad, dup, missing};
use crate::model::ruleset::{HashlimitMatch, Match};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr, Word};

const OPTS: &[&str] = &[
    "--hashlimit-upto",
    "--hashlimit-above",
    "--hashlimit",
    "--hashlimit-burst",
    "--hashlimit-mode",
    "--hashlimit-name",
    "--hashlimit-htable-size",
    "--hashlimit-htable-max",
    "--hashlimit-htable-gcinterval",
    "--hashlimit-htable-expire",
    "--hashlimit-srcmask",
    "--hashlimit-dstmask",
    "--hashlimit-rate-match",
    "--hashlimit-rate-interval",
];

/// Options kept in `other`, in print order, with the default that is not printed.
const OTHER: &[(&str, Option<&str>)] = &[
    ("htable-size", None),
    ("htable-max", None),
    ("htable-gcinterval", Some("1000")),
    ("htable-expire", None),
    ("srcmask", Some("32")),
    ("dstmask", Some("32")),
    ("rate-match", None),
    ("rate-interval", Some("1")),
];

/// Packet rates `N/sec|min|hour|day` (any prefix of the unit word) or byte rates `Nb/s`,
/// `Nkb/s`, `Nmb/s`. Returns the canonical text and whether it is a byte rate.
fn rate(w: &Word, opt: &str) -> Result<(String, bool), PErr> {
    let s = w.as_str();
    let e = "a rate `N/sec|min|hour|day` or `N[kb|mb|b]/s`";
    let (n, unit) = s.split_once('/').unwrap_or((s, "sec"));
    let lower = n.to_ascii_lowercase();
    for suf in ["kb", "mb", "b"] {
        if let Some(num) = lower.strip_suffix(suf) {
            values::dec(num).filter(|v| *v > 0).ok_or_else(|| bad(w, opt, e))?;
            if unit != "s" && !"second".starts_with(unit) {
                return Err(bad(w, opt, e));
            }
            return Ok((format!("{num}{suf}/s"), true));
        }
    }
    values::dec(n).filter(|v| *v > 0).ok_or_else(|| bad(w, opt, e))?;
    let u = match unit {
        u if !u.is_empty() && "second".starts_with(u) => "sec",
        u if !u.is_empty() && "minute".starts_with(u) => "min",
        u if !u.is_empty() && "hour".starts_with(u) => "hour",
        u if !u.is_empty() && "day".starts_with(u) => "day",
        _ => return Err(bad(w, opt, e)),
    };
    Ok((format!("{n}/{u}"), false))
}

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let start = a.col();
    let mut m = HashlimitMatch::default();
    let mut have_rate = false;
    let mut bytes = false;
    let mut burst_text: Option<String> = None;
    let mut seen: Vec<&str> = Vec::new();
    while let Some((inv, opt, col)) = a.next_opt(OPTS) {
        let key = if opt == "--hashlimit" || opt == "--hashlimit-above" { "--hashlimit-upto" } else { opt };
        if seen.contains(&key) {
            return Err(dup(col, opt));
        }
        seen.push(key);
        if inv {
            return Err(PErr::new(col, format!("`{opt}` cannot be negated")));
        }
        match opt {
            "--hashlimit-upto" | "--hashlimit" | "--hashlimit-above" => {
                let w = a.value(opt)?;
                let (r, b) = rate(w, opt)?;
                m.rate = r;
                bytes = b;
                m.above = opt == "--hashlimit-above";
                have_rate = true;
            }
            "--hashlimit-burst" => {
                let w = a.value(opt)?;
                let s = w.as_str().to_ascii_lowercase();
                if let Some(v) = values::dec(&s) {
                    m.burst = Some(u32::try_from(v).map_err(|_| bad(w, opt, "a burst count"))?);
                } else if ["kb", "mb", "b"].iter().any(|suf| s.strip_suffix(suf).is_some_and(|n| values::dec(n).is_some())) {
                    burst_text = Some(s);
                } else {
                    return Err(bad(w, opt, "a burst count or size like `400kb`"));
                }
            }
            "--hashlimit-mode" => {
                let w = a.value(opt)?;
                let mut modes = Vec::new();
                for p in w.as_str().split(',') {
                    if !["srcip", "srcport", "dstip", "dstport"].contains(&p) {
                        return Err(bad(w, opt, "a comma list of srcip,srcport,dstip,dstport"));
                    }
                    modes.push(p);
                }
                let order = ["srcip", "srcport", "dstip", "dstport"];
                modes.sort_by_key(|p| order.iter().position(|o| o == p));
                modes.dedup();
                m.mode = Some(modes.join(","));
            }
            "--hashlimit-name" => {
                let w = a.value(opt)?;
                if w.as_str().is_empty() || w.as_str().len() > 15 {
                    return Err(bad(w, opt, "a name of 1 to 15 characters"));
                }
                m.name = w.as_str().to_string();
            }
            "--hashlimit-rate-match" => m.other.push(("rate-match".into(), String::new())),
            _ => {
                let w = a.value(opt)?;
                let v = values::dec(w.as_str()).filter(|v| *v <= u32::MAX as u64).ok_or_else(|| bad(w, opt, "a number"))?;
                m.other.push((opt["--hashlimit-".len()..].to_string(), v.to_string()));
            }
        }
    }
    if !have_rate {
        return Err(missing(start, "-m hashlimit", "`--hashlimit-upto` or `--hashlimit-above`"));
    }
    if m.name.is_empty() {
        return Err(missing(start, "-m hashlimit", "`--hashlimit-name`"));
    }
    if let Some(b) = burst_text {
        if !bytes {
            return Err(PErr::new(start, "a byte burst needs a byte rate"));
        }
        m.other.push(("burst".into(), b));
    } else if !bytes && m.burst.is_none() {
        // Packet mode prints the burst always; its default is 5 (XT_HASHLIMIT_BURST).
        m.burst = Some(5);
    }
    // Drop values equal to the printed defaults and order as printed.
    m.other.retain(|(k, v)| !OTHER.iter().any(|(n, d)| n == k && *d == Some(v.as_str())));
    m.other.sort_by_key(|(k, _)| if k == "burst" { 0 } else { 1 + OTHER.iter().position(|(n, _)| n == k).unwrap_or(99) });
    Ok(Match::Hashlimit(Box::new(m)))
}

pub(crate) fn save(m: &HashlimitMatch, out: &mut String) {
    out.push_str(if m.above { " --hashlimit-above " } else { " --hashlimit-upto " });
    out.push_str(&m.rate);
    for (k, v) in m.other.iter().filter(|(k, _)| k == "burst") {
        out.push_str(&format!(" --hashlimit-{k} {v}"));
    }
    if let Some(b) = m.burst {
        out.push_str(&format!(" --hashlimit-burst {b}"));
    }
    if let Some(md) = &m.mode {
        out.push_str(&format!(" --hashlimit-mode {md}"));
    }
    out.push_str(&format!(" --hashlimit-name {}", m.name));
    for (k, v) in m.other.iter().filter(|(k, _)| k != "burst") {
        if v.is_empty() {
            out.push_str(&format!(" --hashlimit-{k}"));
        } else {
            out.push_str(&format!(" --hashlimit-{k} {v}"));
        }
    }
}
