//! TCPMSS (`libxt_TCPMSS.c`): exactly one of `--set-mss N` and `--clamp-mss-to-pmtu`.

use super::{bad, missing};
use crate::model::ruleset::{Target, TcpmssTarget};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Target, PErr> {
    let start = a.col();
    let mut t: Option<TcpmssTarget> = None;
    while let Some((inv, opt, col)) = a.next_opt(&["--set-mss", "--clamp-mss-to-pmtu"]) {
        if inv {
            return Err(PErr::new(col, format!("`{opt}` cannot be negated")));
        }
        if t.is_some() {
            return Err(PErr::new(col, "only one of `--set-mss` and `--clamp-mss-to-pmtu` may be given"));
        }
        t = Some(if opt == "--set-mss" {
            let w = a.value(opt)?;
            TcpmssTarget::SetMss(values::u16v(w.as_str()).ok_or_else(|| bad(w, opt, "an MSS 0-65535"))?)
        } else {
            TcpmssTarget::ClampMssToPmtu
        });
    }
    t.map(Target::Tcpmss).ok_or_else(|| missing(start, "-j TCPMSS", "`--set-mss` or `--clamp-mss-to-pmtu`"))
}

pub(crate) fn save(t: TcpmssTarget, out: &mut String) {
    match t {
        TcpmssTarget::ClampMssToPmtu => out.push_str(" --clamp-mss-to-pmtu"),
        TcpmssTarget::SetMss(m) => out.push_str(&format!(" --set-mss {m}")),
    }
}
