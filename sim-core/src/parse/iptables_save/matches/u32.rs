//! `-m u32 --u32 "tests"` (`libxt_u32.c`): kept as text; the engine treats it as unknown.

use super::{dup, missing, neg};
use crate::model::ruleset::Match;
use crate::model::types::Neg;
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::words::{Args, PErr};

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let start = a.col();
    let mut m: Option<Neg<String>> = None;
    while let Some((mut inv, opt, col)) = a.next_opt(&["--u32"]) {
        if m.is_some() {
            return Err(dup(col, opt));
        }
        let w = a.value_inv(opt, &mut inv)?;
        m = Some(Neg::new(inv, w.as_str().to_string()));
    }
    m.map(Match::U32).ok_or_else(|| missing(start, "-m u32", "`--u32`"))
}

pub(crate) fn save(m: &Neg<String>, out: &mut String) {
    neg(out, m.neg);
    // u32_save always quotes the test string.
    out.push_str(" --u32 \"");
    out.push_str(&m.val);
    out.push('"');
}
