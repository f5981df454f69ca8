//! `-m icmp --icmp-type` (`libipt_icmp.c`). iptables-save prints the number, `any` for type 255
//! with the full code range.

use super::{bad, dup, missing, neg};
use crate::model::ruleset::{IcmpMatch, Match};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};

/// `libipt_icmp.c:icmp_codes` (name, type, code_min, code_max).
const CODES: &[(&str, u8, u8, u8)] = &[
    ("any", 0xff, 0, 0xff),
    ("echo-reply", 0, 0, 0xff),
    ("destination-unreachable", 3, 0, 0xff),
    ("network-unreachable", 3, 0, 0),
    ("host-unreachable", 3, 1, 1),
    ("protocol-unreachable", 3, 2, 2),
    ("port-unreachable", 3, 3, 3),
    ("fragmentation-needed", 3, 4, 4),
    ("source-route-failed", 3, 5, 5),
    ("network-unknown", 3, 6, 6),
    ("host-unknown", 3, 7, 7),
    ("network-prohibited", 3, 9, 9),
    ("host-prohibited", 3, 10, 10),
    ("TOS-network-unreachable", 3, 11, 11),
    ("TOS-host-unreachable", 3, 12, 12),
    ("communication-prohibited", 3, 13, 13),
    ("host-precedence-violation", 3, 14, 14),
    ("precedence-cutoff", 3, 15, 15),
    ("source-quench", 4, 0, 0xff),
    ("redirect", 5, 0, 0xff),
    ("network-redirect", 5, 0, 0),
    ("host-redirect", 5, 1, 1),
    ("TOS-network-redirect", 5, 2, 2),
    ("TOS-host-redirect", 5, 3, 3),
    ("echo-request", 8, 0, 0xff),
    ("router-advertisement", 9, 0, 0xff),
    ("router-solicitation", 10, 0, 0xff),
    ("time-exceeded", 11, 0, 0xff),
    ("ttl-zero-during-transit", 11, 0, 0),
    ("ttl-zero-during-reassembly", 11, 1, 1),
    ("parameter-problem", 12, 0, 0xff),
    ("ip-header-bad", 12, 0, 0),
    ("required-option-missing", 12, 1, 1),
    ("timestamp-request", 13, 0, 0xff),
    ("timestamp-reply", 14, 0, 0xff),
    ("address-mask-request", 17, 0, 0xff),
    ("address-mask-reply", 18, 0, 0xff),
];

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let start = a.col();
    let mut m: Option<IcmpMatch> = None;
    while let Some((mut inv, opt, col)) = a.next_opt(&["--icmp-type"]) {
        if m.is_some() {
            return Err(dup(col, opt));
        }
        let w = a.value_inv(opt, &mut inv)?;
        let s = w.as_str();
        let expected = "an ICMP type name, `type` or `type/code` (0-255)";
        let (t, lo, hi, name) = if let Some((_, t, lo, hi)) = CODES.iter().find(|(n, ..)| n.eq_ignore_ascii_case(s)) {
            (*t, *lo, *hi, Some(s.to_string()))
        } else if let Some((t, c)) = s.split_once('/') {
            let t = values::dec(t).filter(|v| *v <= 255).ok_or_else(|| bad(w, opt, expected))? as u8;
            // `255/0:255` is a code range (xtables accepts `type/min:max` in newer versions).
            let (lo, hi) = match c.split_once(':') {
                Some((l, h)) => (
                    values::dec(l).filter(|v| *v <= 255).ok_or_else(|| bad(w, opt, expected))? as u8,
                    values::dec(h).filter(|v| *v <= 255).ok_or_else(|| bad(w, opt, expected))? as u8,
                ),
                None => {
                    let c = values::dec(c).filter(|v| *v <= 255).ok_or_else(|| bad(w, opt, expected))? as u8;
                    (c, c)
                }
            };
            (t, lo, hi, None)
        } else {
            let t = values::dec(s).filter(|v| *v <= 255).ok_or_else(|| bad(w, opt, expected))? as u8;
            (t, 0, 0xff, None)
        };
        m = Some(IcmpMatch { neg: inv, icmp_type: t, code_min: lo, code_max: hi, name });
    }
    m.map(Match::Icmp).ok_or_else(|| missing(start, "-m icmp", "`--icmp-type`"))
}

pub(crate) fn save(m: &IcmpMatch, out: &mut String) {
    neg(out, m.neg);
    if m.icmp_type == 0xff && m.code_min == 0 && m.code_max == 0xff {
        out.push_str(" --icmp-type any");
        return;
    }
    out.push_str(&format!(" --icmp-type {}", m.icmp_type));
    if m.code_min != 0 || m.code_max != 0xff {
        out.push_str(&format!("/{}", m.code_min));
    }
}
