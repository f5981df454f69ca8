//! `-m state --state` (`libxt_state.c`).

use super::{bit_names, bits, dup, missing, neg};
use crate::model::ruleset::{ctstate, Match, StateMatch};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::words::{Args, PErr};

/// The names `--state` takes (SNAT/DNAT are conntrack-only).
const STATE_NAMES: [(&str, u16); 5] = [
    ("INVALID", ctstate::INVALID),
    ("NEW", ctstate::NEW),
    ("RELATED", ctstate::RELATED),
    ("ESTABLISHED", ctstate::ESTABLISHED),
    ("UNTRACKED", ctstate::UNTRACKED),
];

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let start = a.col();
    let mut m: Option<StateMatch> = None;
    while let Some((mut inv, opt, col)) = a.next_opt(&["--state"]) {
        if m.is_some() {
            return Err(dup(col, opt));
        }
        let w = a.value_inv(opt, &mut inv)?;
        let states = bits(w, opt, &STATE_NAMES, "a comma list of INVALID,NEW,RELATED,ESTABLISHED,UNTRACKED")?;
        m = Some(StateMatch { neg: inv, states });
    }
    m.map(Match::State).ok_or_else(|| missing(start, "-m state", "`--state`"))
}

pub(crate) fn save(m: &StateMatch, out: &mut String) {
    neg(out, m.neg);
    out.push_str(" --state ");
    out.push_str(&bit_names(m.states, &STATE_NAMES));
}
