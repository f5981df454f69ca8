//! `-m nfacct --nfacct-name` (`libxt_nfacct.c`).

use super::{bad, dup, missing};
use crate::model::ruleset::Match;
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::words::{Args, PErr};

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let start = a.col();
    let mut n: Option<String> = None;
    while let Some((inv, opt, col)) = a.next_opt(&["--nfacct-name"]) {
        if inv {
            return Err(PErr::new(col, "`--nfacct-name` cannot be negated"));
        }
        if n.is_some() {
            return Err(dup(col, opt));
        }
        let w = a.value(opt)?;
        if w.as_str().is_empty() || w.as_str().len() > 31 {
            return Err(bad(w, opt, "a name of 1 to 31 characters"));
        }
        n = Some(w.as_str().to_string());
    }
    n.map(Match::Nfacct).ok_or_else(|| missing(start, "-m nfacct", "`--nfacct-name`"))
}

pub(crate) fn save(n: &str, out: &mut String) {
    out.push_str(&format!(" --nfacct-name {n}"));
}
