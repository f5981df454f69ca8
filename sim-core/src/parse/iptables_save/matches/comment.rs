//! `-m comment --comment TEXT` (`libxt_comment.c`): at most 255 bytes.

use super::{dup, missing};
use crate::model::ruleset::Match;
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::words::{push_quoted, Args, PErr};

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let start = a.col();
    let mut c: Option<String> = None;
    while let Some((inv, opt, col)) = a.next_opt(&["--comment"]) {
        if inv {
            return Err(PErr::new(col, "`--comment` cannot be negated"));
        }
        if c.is_some() {
            return Err(dup(col, opt));
        }
        let w = a.value(opt)?;
        if w.as_str().len() > 255 {
            return Err(PErr::expected(w.col, "comment too long", "at most 255 bytes", format!("{} bytes", w.as_str().len())));
        }
        c = Some(w.as_str().to_string());
    }
    c.map(Match::Comment).ok_or_else(|| missing(start, "-m comment", "`--comment`"))
}

pub(crate) fn save(c: &str, out: &mut String) {
    out.push_str(" --comment");
    push_quoted(out, c);
}
