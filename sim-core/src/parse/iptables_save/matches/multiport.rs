//! `-m multiport` revision 1 (`libxt_multiport.c`, `xt_multiport.c`): up to 15 ports, a range
//! counting as two.

use super::{bad, dup, missing, range};
use crate::model::ruleset::{Match, MultiportDir, MultiportMatch};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};

const OPTS: &[&str] = &["--sports", "--source-ports", "--dports", "--destination-ports", "--ports"];

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let start = a.col();
    let mut m: Option<MultiportMatch> = None;
    while let Some((mut inv, opt, col)) = a.next_opt(OPTS) {
        if m.is_some() {
            return Err(dup(col, "--ports/--sports/--dports"));
        }
        let dir = match opt {
            "--sports" | "--source-ports" => MultiportDir::Source,
            "--dports" | "--destination-ports" => MultiportDir::Destination,
            _ => MultiportDir::Both,
        };
        let w = a.value_inv(opt, &mut inv)?;
        let mut ports = Vec::new();
        let mut slots = 0;
        for part in w.as_str().split(',') {
            let r = values::port_range(part, ':').filter(|_| !part.is_empty()).ok_or_else(|| bad(w, opt, "a comma list of ports or ranges `lo:hi`"))?;
            slots += if r.lo == r.hi && !part.contains(':') { 1 } else { 2 };
            ports.push(r);
        }
        if slots > 15 {
            return Err(bad(w, opt, "at most 15 ports (a range counts as two)"));
        }
        m = Some(MultiportMatch { dir, neg: inv, ports });
    }
    m.map(Match::Multiport).ok_or_else(|| missing(start, "-m multiport", "`--sports`, `--dports` or `--ports`"))
}

pub(crate) fn save(m: &MultiportMatch, out: &mut String) {
    super::neg(out, m.neg);
    out.push_str(match m.dir {
        MultiportDir::Source => " --sports ",
        MultiportDir::Destination => " --dports ",
        MultiportDir::Both => " --ports ",
    });
    for (i, p) in m.ports.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&range(*p, ':'));
    }
}
