//! `-m mac --mac-source` (`libxt_mac.c`).

use super::{bad, dup, missing, neg};
use crate::model::ruleset::Match;
use crate::model::types::{Mac, Neg};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::words::{Args, PErr};

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let start = a.col();
    let mut m: Option<Neg<Mac>> = None;
    while let Some((mut inv, opt, col)) = a.next_opt(&["--mac-source"]) {
        if m.is_some() {
            return Err(dup(col, opt));
        }
        let w = a.value_inv(opt, &mut inv)?;
        let mac = Mac::parse(w.as_str()).ok_or_else(|| {
            if w.as_str().eq_ignore_ascii_case("XX:XX:XX:XX:XX:XX") {
                PErr::expected(
                    w.col,
                    "redacted MAC address: the published dump was anonymised, so this rule cannot be evaluated",
                    "a MAC address like 00:11:22:33:44:55",
                    "`XX:XX:XX:XX:XX:XX`",
                )
                .code("redacted-value")
            } else {
                bad(w, opt, "a MAC address like 00:11:22:33:44:55")
            }
        })?;
        m = Some(Neg::new(inv, mac));
    }
    m.map(Match::Mac).ok_or_else(|| missing(start, "-m mac", "`--mac-source`"))
}

pub(crate) fn save(m: &Neg<Mac>, out: &mut String) {
    neg(out, m.neg);
    out.push_str(&format!(" --mac-source {}", m.val));
}
