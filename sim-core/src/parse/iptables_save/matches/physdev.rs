//! `-m physdev` (`libxt_physdev.c`).

use super::{bad, dup, missing, neg};
use crate::model::ruleset::{Match, PhysdevMatch};
use crate::model::types::{IfName, Neg};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::words::{Args, PErr};

const OPTS: &[&str] = &["--physdev-in", "--physdev-out", "--physdev-is-in", "--physdev-is-out", "--physdev-is-bridged"];

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let start = a.col();
    let mut m = PhysdevMatch::default();
    while let Some((mut inv, opt, col)) = a.next_opt(OPTS) {
        match opt {
            "--physdev-in" | "--physdev-out" => {
                let f = if opt == "--physdev-in" { &mut m.physdev_in } else { &mut m.physdev_out };
                if f.is_some() {
                    return Err(dup(col, opt));
                }
                let w = a.value_inv(opt, &mut inv)?;
                if w.as_str().is_empty() || w.as_str().len() > 15 {
                    return Err(bad(w, opt, "an interface name of 1 to 15 characters"));
                }
                *f = Some(Neg::new(inv, IfName::parse(w.as_str())));
            }
            _ => {
                let f = match opt {
                    "--physdev-is-in" => &mut m.is_in,
                    "--physdev-is-out" => &mut m.is_out,
                    _ => &mut m.is_bridged,
                };
                if f.is_some() {
                    return Err(dup(col, opt));
                }
                *f = Some(inv);
            }
        }
    }
    if m == PhysdevMatch::default() {
        return Err(missing(start, "-m physdev", "at least one `--physdev-*` option"));
    }
    Ok(Match::Physdev(Box::new(m)))
}

pub(crate) fn save(m: &PhysdevMatch, out: &mut String) {
    if let Some(n) = m.is_in {
        neg(out, n);
        out.push_str(" --physdev-is-in");
    }
    if let Some(d) = &m.physdev_in {
        neg(out, d.neg);
        out.push_str(&format!(" --physdev-in {}", d.val));
    }
    if let Some(n) = m.is_out {
        neg(out, n);
        out.push_str(" --physdev-is-out");
    }
    if let Some(d) = &m.physdev_out {
        neg(out, d.neg);
        out.push_str(&format!(" --physdev-out {}", d.val));
    }
    if let Some(n) = m.is_bridged {
        neg(out, n);
        out.push_str(" --physdev-is-bridged");
    }
}
