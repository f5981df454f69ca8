//! MASQUERADE and REDIRECT (`libipt_MASQUERADE.c`, `libxt_REDIRECT.c`): `--to-ports lo[-hi]`
//! and the randomisation flags.

use super::{bad, dup};
use crate::model::ruleset::{MasqTarget, Target};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};

fn parse_masq(a: &mut Args) -> Result<MasqTarget, PErr> {
    let mut t = MasqTarget::default();
    let mut seen: Vec<&str> = Vec::new();
    while let Some((inv, opt, col)) = a.next_opt(&["--to-ports", "--random", "--random-fully"]) {
        if inv {
            return Err(PErr::new(col, format!("`{opt}` cannot be negated")));
        }
        if seen.contains(&opt) {
            return Err(dup(col, opt));
        }
        seen.push(opt);
        match opt {
            "--to-ports" => {
                let w = a.value(opt)?;
                let s = w.as_str();
                let r = values::port_range_dash(s);
                t.ports = Some(r.ok_or_else(|| bad(w, opt, "a port or range `lo-hi`, 0-65535"))?);
            }
            "--random" => t.random = true,
            _ => t.random_fully = true,
        }
    }
    Ok(t)
}

pub(crate) fn parse_masquerade(a: &mut Args, _cx: &mut Cx) -> Result<Target, PErr> {
    parse_masq(a).map(Target::Masquerade)
}

pub(crate) fn parse_redirect(a: &mut Args, _cx: &mut Cx) -> Result<Target, PErr> {
    parse_masq(a).map(Target::Redirect)
}

pub(crate) fn save(t: &MasqTarget, out: &mut String) {
    if let Some(p) = t.ports {
        out.push_str(&format!(" --to-ports {}", p.lo));
        if p.hi != p.lo {
            out.push_str(&format!("-{}", p.hi));
        }
    }
    if t.random {
        out.push_str(" --random");
    }
    if t.random_fully {
        out.push_str(" --random-fully");
    }
}
