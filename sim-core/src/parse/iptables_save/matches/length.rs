//! `-m length --length` and `-m tcpmss --mss` (`libxt_length.c`, `libxt_tcpmss.c`): a 16-bit
//! range written `lo[:hi]`, printed `lo` when equal.

use super::{bad, dup, missing, neg};
use crate::model::ruleset::Match;
use crate::model::types::Neg;
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};

fn parse_range(a: &mut Args, opt_name: &'static str, ext: &str) -> Result<Neg<(u16, u16)>, PErr> {
    let start = a.col();
    let mut m: Option<Neg<(u16, u16)>> = None;
    while let Some((mut inv, opt, col)) = a.next_opt(&[opt_name]) {
        if m.is_some() {
            return Err(dup(col, opt));
        }
        let w = a.value_inv(opt, &mut inv)?;
        let r = values::port_range(w.as_str(), ':').filter(|_| !w.as_str().is_empty() && w.as_str().bytes().all(|b| b.is_ascii_digit() || b == b':'));
        let r = r.ok_or_else(|| bad(w, opt, "`lo[:hi]`, 0-65535, lo <= hi"))?;
        m = Some(Neg::new(inv, (r.lo, r.hi)));
    }
    m.ok_or_else(|| missing(start, ext, &format!("`{opt_name}`")))
}

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    parse_range(a, "--length", "-m length").map(Match::Length)
}

pub(crate) fn parse_tcpmss(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    parse_range(a, "--mss", "-m tcpmss").map(Match::Tcpmss)
}

pub(crate) fn save(opt: &str, m: &Neg<(u16, u16)>, out: &mut String) {
    neg(out, m.neg);
    let (l, h) = m.val;
    if l == h {
        out.push_str(&format!(" {opt} {l}"));
    } else {
        out.push_str(&format!(" {opt} {l}:{h}"));
    }
}
