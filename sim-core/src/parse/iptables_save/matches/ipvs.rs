//! `-m ipvs` (`libxt_ipvs.c`). Every option but `--ipvs` implies the IPVS property, and
//! `--ipvs` is printed only when it is the sole test (`ipvs_mt_dump`), so it is dropped here in
//! that case too.

use super::{bad, dup, missing, neg};
use crate::model::ruleset::{CtDir, IpvsMatch, Match};
use crate::model::types::Neg;
use crate::parse::iptables_save::rule::{proto_by_name, Cx};
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};

const OPTS: &[&str] = &["--ipvs", "--vproto", "--vaddr", "--vport", "--vdir", "--vmethod", "--vportctl"];

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let start = a.col();
    let mut m = IpvsMatch::default();
    let mut seen: Vec<&str> = Vec::new();
    while let Some((mut inv, opt, col)) = a.next_opt(OPTS) {
        if seen.contains(&opt) {
            return Err(dup(col, opt));
        }
        seen.push(opt);
        match opt {
            "--ipvs" => m.ipvs = Some(inv),
            "--vproto" => {
                let w = a.value_inv(opt, &mut inv)?;
                m.vproto = Some(Neg::new(inv, proto_by_name(w.as_str()).ok_or_else(|| bad(w, opt, "a protocol name or number"))?));
            }
            "--vaddr" => {
                let w = a.value_inv(opt, &mut inv)?;
                m.vaddr = Some(Neg::new(inv, values::addr_mask(w.as_str(), false).ok_or_else(|| bad(w, opt, "an IPv4 address[/mask]"))?));
            }
            "--vport" | "--vportctl" => {
                let w = a.value_inv(opt, &mut inv)?;
                let p = values::port(w.as_str()).ok_or_else(|| bad(w, opt, "a port"))?;
                if opt == "--vport" {
                    m.vport = Some(Neg::new(inv, p));
                } else {
                    m.vportctl = Some(Neg::new(inv, p));
                }
            }
            "--vdir" => {
                if inv {
                    return Err(PErr::new(col, "`--vdir` cannot be negated"));
                }
                let w = a.value(opt)?;
                m.vdir = Some(match w.as_str() {
                    "ORIGINAL" => CtDir::Original,
                    "REPLY" => CtDir::Reply,
                    _ => return Err(bad(w, opt, "ORIGINAL or REPLY")),
                });
            }
            _ => {
                let w = a.value_inv(opt, &mut inv)?;
                let s = w.as_str().to_ascii_uppercase();
                if !["GATE", "IPIP", "MASQ"].contains(&s.as_str()) {
                    return Err(bad(w, opt, "GATE, IPIP or MASQ"));
                }
                m.vmethod = Some(Neg::new(inv, s));
            }
        }
    }
    if seen.is_empty() {
        return Err(missing(start, "-m ipvs", "at least one option"));
    }
    let others = m.vproto.is_some() || m.vaddr.is_some() || m.vport.is_some() || m.vdir.is_some() || m.vmethod.is_some() || m.vportctl.is_some();
    if others {
        m.ipvs = None;
    }
    Ok(Match::Ipvs(Box::new(m)))
}

pub(crate) fn save(m: &IpvsMatch, out: &mut String) {
    let others = m.vproto.is_some() || m.vaddr.is_some() || m.vport.is_some() || m.vdir.is_some() || m.vmethod.is_some() || m.vportctl.is_some();
    if let (Some(n), false) = (m.ipvs, others) {
        neg(out, n);
        out.push_str(" --ipvs");
    }
    if let Some(p) = &m.vproto {
        neg(out, p.neg);
        out.push_str(&format!(" --vproto {}", p.val));
    }
    if let Some(v) = &m.vaddr {
        neg(out, v.neg);
        out.push_str(&format!(" --vaddr {}", values::addr_short(&v.val)));
    }
    if let Some(p) = &m.vport {
        neg(out, p.neg);
        out.push_str(&format!(" --vport {}", p.val));
    }
    if let Some(d) = m.vdir {
        out.push_str(match d {
            CtDir::Original => " --vdir ORIGINAL",
            CtDir::Reply => " --vdir REPLY",
        });
    }
    if let Some(v) = &m.vmethod {
        neg(out, v.neg);
        out.push_str(&format!(" --vmethod {}", v.val));
    }
    if let Some(p) = &m.vportctl {
        neg(out, p.neg);
        out.push_str(&format!(" --vportctl {}", p.val));
    }
}
