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
        let c = canonical(w.as_str()).ok_or_else(|| super::bad(w, opt, "a u32 test: numbers joined by & << >> @ = : , &&"))?;
        m = Some(Neg::new(inv, c));
    }
    m.map(Match::U32).ok_or_else(|| missing(start, "-m u32", "`--u32`"))
}

/// The text u32_save prints: blanks dropped, every number in hex (`0>>22&0x3C` becomes
/// `0x0>>0x16&0x3c`). Numbers are read as `strtoul(.., 0)` does.
pub(crate) fn canonical(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len() + 8);
    let b = s.as_bytes();
    let mut i = 0;
    let mut any = false;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphanumeric() {
            let start = i;
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let n = crate::parse::iptables_save::values::u32v(&s[start..i])?;
            out.push_str(&format!("0x{n:x}"));
            any = true;
        } else if matches!(c, b'&' | b'<' | b'>' | b'@' | b'=' | b':' | b',') {
            out.push(c as char);
            i += 1;
        } else {
            return None;
        }
    }
    any.then_some(out)
}

pub(crate) fn save(m: &Neg<String>, out: &mut String) {
    neg(out, m.neg);
    // u32_save always quotes the test string.
    out.push_str(" --u32 \"");
    out.push_str(&m.val);
    out.push('"');
}
