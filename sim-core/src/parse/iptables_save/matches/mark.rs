//! `-m mark` and `-m connmark` (`libxt_mark.c`, `libxt_connmark.c`): `--mark value[/mask]`.

use super::{bad, dup, missing, neg};
use crate::model::ruleset::{MarkMatch, Match};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};

fn parse_mark(a: &mut Args, ext: &str) -> Result<MarkMatch, PErr> {
    let start = a.col();
    let mut m: Option<MarkMatch> = None;
    while let Some((mut inv, opt, col)) = a.next_opt(&["--mark"]) {
        if m.is_some() {
            return Err(dup(col, opt));
        }
        let w = a.value_inv(opt, &mut inv)?;
        let (value, mask) = values::mark_mask(w.as_str()).ok_or_else(|| bad(w, opt, "value[/mask], 32-bit numbers"))?;
        m = Some(MarkMatch { neg: inv, value, mask: mask.unwrap_or(u32::MAX) });
    }
    m.ok_or_else(|| missing(start, ext, "`--mark`"))
}

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    parse_mark(a, "-m mark").map(Match::Mark)
}

pub(crate) fn parse_connmark(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    parse_mark(a, "-m connmark").map(Match::Connmark)
}

pub(crate) fn save(m: &MarkMatch, out: &mut String) {
    neg(out, m.neg);
    out.push_str(&format!(" --mark 0x{:x}", m.value));
    if m.mask != u32::MAX {
        out.push_str(&format!("/0x{:x}", m.mask));
    }
}
