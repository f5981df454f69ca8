//! DNAT and SNAT (`libxt_NAT.c`): one `--to-destination`/`--to-source` range
//! `[ip[-ip]][:port[-port][/base]]` plus `--random`, `--random-fully`, `--persistent`.
//!
//! An iptables that does not know the kernel's NAT target revision prints the range empty and
//! repeats the options (`--to-destination  --random --to-destination  --random ...`): such a
//! rule is reported as unreadable with its own diagnostic, never guessed.

use super::bad;
use crate::model::ruleset::{NatRange, NatTarget, Target};
use crate::model::types::PortRange;
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr, Word};

fn range(w: &Word, opt: &str) -> Result<NatRange, PErr> {
    let s = w.as_str();
    let e = "`[ip[-ip]][:port[-port][/base]]`";
    // Byte positions rather than `str` searches: the values are a dozen bytes long.
    let pos = |s: &str, c: u8| s.bytes().position(|b| b == c);
    let colon = pos(s, b':');
    if colon.is_some_and(|c| pos(&s[c + 1..], b':').is_some()) || s.starts_with('[') {
        return Err(crate::parse::iptables_save::rule::ipv6(w.col, opt, s));
    }
    let (ips, ports) = match colon {
        Some(c) => (&s[..c], Some(&s[c + 1..])),
        None => (s, None),
    };
    let (min_ip, max_ip) = if ips.is_empty() {
        (None, None)
    } else {
        let (l, h) = match pos(ips, b'-') {
            Some(d) => {
                let l = values::ipv4(&ips[..d]).ok_or_else(|| bad(w, opt, e))?;
                (l, values::ipv4(&ips[d + 1..]).ok_or_else(|| bad(w, opt, e))?)
            }
            None => {
                let l = values::ipv4(ips).ok_or_else(|| bad(w, opt, e))?;
                (l, l)
            }
        };
        if u32::from(l) > u32::from(h) {
            return Err(bad(w, opt, "an address range with from <= to"));
        }
        (Some(l), Some(h))
    };
    let (ports, base_port) = match ports {
        None => (None, None),
        Some(p) => {
            let (r, base) = match pos(p, b'/') {
                Some(k) => (&p[..k], Some(&p[k + 1..])),
                None => (p, None),
            };
            let pr = values::port_range_dash(r).ok_or_else(|| bad(w, opt, e))?;
            let base = match base {
                None => None,
                Some(b) => Some(values::port(b).filter(|b| *b != 0).ok_or_else(|| bad(w, opt, "a base port 1-65535 after `/`"))?),
            };
            (Some(pr), base)
        }
    };
    if min_ip.is_none() && ports.is_none() {
        return Err(bad(w, opt, e));
    }
    Ok(NatRange { min_ip, max_ip, ports, base_port })
}

fn garbled(col: u32, name: &str, opt: &str, why: &str) -> PErr {
    PErr::expected(
        col,
        format!("{name} target printed by an iptables that does not understand the kernel's target revision ({why}); the translation it performs is unknown"),
        format!("one `{opt} [ip[-ip]][:port[-port]]`"),
        why.to_string(),
    )
    .code("garbled-nat-target")
}

fn parse_nat(a: &mut Args, name: &str, opt_to: &'static str) -> Result<NatTarget, PErr> {
    let start = a.col();
    let mut t = NatTarget::default();
    let mut flags_seen: Vec<&str> = Vec::new();
    let mut repeated = false;
    let mut err: Option<PErr> = None;
    while let Some((inv, opt, col)) = a.next_opt(&[opt_to, "--random", "--random-fully", "--persistent"]) {
        if inv {
            return Err(PErr::new(col, format!("`{opt}` cannot be negated")));
        }
        if opt == opt_to {
            if !t.ranges.is_empty() || err.is_some() {
                repeated = true;
            }
            // The value is whatever word follows; an option there means the range was empty.
            match a.peek() {
                None => return Err(garbled(a.col(), name, opt_to, &format!("`{opt_to}` with no range"))),
                Some(w) if w.is_option() || w.as_str().is_empty() => {
                    err.get_or_insert(garbled(w.col, name, opt_to, &format!("`{opt_to}` printed with an empty range")));
                    continue;
                }
                Some(w) => {
                    a.bump();
                    match range(w, opt_to) {
                        Ok(r) => {
                            // One range is the rule (a kube-proxy node has 100k DNATs): room
                            // for exactly one.
                            if t.ranges.is_empty() {
                                t.ranges.reserve_exact(1);
                            }
                            t.ranges.push(r)
                        }
                        Err(e) => {
                            err.get_or_insert(e);
                        }
                    }
                }
            }
            continue;
        }
        if flags_seen.contains(&opt) {
            repeated = true;
        }
        flags_seen.push(opt);
        match opt {
            "--random" => t.random = true,
            "--random-fully" => t.random_fully = true,
            _ => t.persistent = true,
        }
    }
    if repeated {
        return Err(garbled(start, name, opt_to, &format!("`{opt_to}` or its flags repeated")));
    }
    if let Some(e) = err {
        return Err(e);
    }
    if t.ranges.is_empty() {
        return Err(super::missing(start, &format!("-j {name}"), &format!("`{opt_to}`")));
    }
    Ok(t)
}

pub(crate) fn parse_dnat(a: &mut Args, _cx: &mut Cx) -> Result<Target, PErr> {
    parse_nat(a, "DNAT", "--to-destination").map(|t| Target::Dnat(Box::new(t)))
}

pub(crate) fn parse_snat(a: &mut Args, _cx: &mut Cx) -> Result<Target, PErr> {
    parse_nat(a, "SNAT", "--to-source").map(|t| Target::Snat(Box::new(t)))
}

pub(crate) fn range_text(r: &NatRange) -> String {
    let mut s = String::new();
    if let Some(l) = r.min_ip {
        s.push_str(&l.to_string());
        if let Some(h) = r.max_ip.filter(|h| *h != l) {
            s.push('-');
            s.push_str(&h.to_string());
        }
    }
    if let Some(PortRange { lo, hi }) = r.ports {
        s.push_str(&format!(":{lo}"));
        if hi != lo {
            s.push_str(&format!("-{hi}"));
        }
        if let Some(b) = r.base_port {
            s.push_str(&format!("/{b}"));
        }
    }
    s
}

pub(crate) fn save(opt_to: &str, t: &NatTarget, out: &mut String) {
    for r in &t.ranges {
        out.push_str(&format!(" {opt_to} {}", range_text(r)));
    }
    if t.random {
        out.push_str(" --random");
    }
    if t.random_fully {
        out.push_str(" --random-fully");
    }
    if t.persistent {
        out.push_str(" --persistent");
    }
}
