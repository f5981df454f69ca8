//! `-m iprange` revision 1 (`libxt_iprange.c`).

use super::{bad, dup, missing, neg};
use crate::model::ruleset::{IprangeMatch, Match};
use crate::model::types::Neg;
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let start = a.col();
    let mut m = IprangeMatch::default();
    while let Some((mut inv, opt, col)) = a.next_opt(&["--src-range", "--dst-range"]) {
        let f = if opt == "--src-range" { &mut m.src } else { &mut m.dst };
        if f.is_some() {
            return Err(dup(col, opt));
        }
        let w = a.value_inv(opt, &mut inv)?;
        let s = w.as_str();
        let (lo, hi) = match s.split_once('-') {
            Some((l, h)) => (values::ipv4(l), values::ipv4(h)),
            None => (values::ipv4(s), values::ipv4(s)),
        };
        match (lo, hi) {
            (Some(l), Some(h)) if u32::from(l) <= u32::from(h) => *f = Some(Neg::new(inv, (l, h))),
            _ => return Err(bad(w, opt, "`from-to` IPv4 addresses, from <= to")),
        }
    }
    if m.src.is_none() && m.dst.is_none() {
        return Err(missing(start, "-m iprange", "`--src-range` or `--dst-range`"));
    }
    Ok(Match::Iprange(m))
}

pub(crate) fn save(m: &IprangeMatch, out: &mut String) {
    if let Some(r) = &m.src {
        neg(out, r.neg);
        out.push_str(&format!(" --src-range {}-{}", r.val.0, r.val.1));
    }
    if let Some(r) = &m.dst {
        neg(out, r.neg);
        out.push_str(&format!(" --dst-range {}-{}", r.val.0, r.val.1));
    }
}
