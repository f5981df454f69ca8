//! `-m socket` (`libxt_socket.c`), revisions 0-3 by flags.

use crate::model::ruleset::{Match, SocketMatch};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::words::{Args, PErr};

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let mut m = SocketMatch::default();
    while let Some((inv, opt, col)) = a.next_opt(&["--transparent", "--nowildcard", "--restore-skmark"]) {
        if inv {
            return Err(PErr::new(col, format!("`{opt}` cannot be negated")));
        }
        match opt {
            "--transparent" => m.transparent = true,
            "--nowildcard" => m.nowildcard = true,
            _ => m.restore_skmark = true,
        }
    }
    Ok(Match::Socket(m))
}

pub(crate) fn save(m: &SocketMatch, out: &mut String) {
    if m.transparent {
        out.push_str(" --transparent");
    }
    if m.nowildcard {
        out.push_str(" --nowildcard");
    }
    if m.restore_skmark {
        out.push_str(" --restore-skmark");
    }
}
