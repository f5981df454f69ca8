//! `-m pkttype --pkt-type` (`libxt_pkttype.c`).

use super::{bad, dup, missing, neg};
use crate::model::ruleset::{Match, PktType};
use crate::model::types::Neg;
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::words::{Args, PErr};

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let start = a.col();
    let mut m: Option<Neg<PktType>> = None;
    while let Some((mut inv, opt, col)) = a.next_opt(&["--pkt-type"]) {
        if m.is_some() {
            return Err(dup(col, opt));
        }
        let w = a.value_inv(opt, &mut inv)?;
        let t = match w.as_str().to_ascii_lowercase().as_str() {
            "unicast" | "host" => PktType::Unicast,
            "broadcast" => PktType::Broadcast,
            "multicast" => PktType::Multicast,
            _ => return Err(bad(w, opt, "unicast, broadcast or multicast")),
        };
        m = Some(Neg::new(inv, t));
    }
    m.map(Match::Pkttype).ok_or_else(|| missing(start, "-m pkttype", "`--pkt-type`"))
}

pub(crate) fn save(m: &Neg<PktType>, out: &mut String) {
    neg(out, m.neg);
    out.push_str(match m.val {
        PktType::Unicast => " --pkt-type unicast",
        PktType::Broadcast => " --pkt-type broadcast",
        PktType::Multicast => " --pkt-type multicast",
    });
}
