//! `-m addrtype` revision 1 (`libxt_addrtype.c`).

use super::{bit_names, bits, dup, missing, neg};
use crate::model::ruleset::{addrtype, AddrtypeMatch, Match};
use crate::model::types::Neg;
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::words::{Args, PErr};

const OPTS: &[&str] = &["--src-type", "--dst-type", "--limit-iface-in", "--limit-iface-out"];

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let start = a.col();
    let mut m = AddrtypeMatch::default();
    while let Some((mut inv, opt, col)) = a.next_opt(OPTS) {
        match opt {
            "--src-type" | "--dst-type" => {
                let f = if opt == "--src-type" { &mut m.src_type } else { &mut m.dst_type };
                if f.is_some() {
                    return Err(dup(col, opt));
                }
                let w = a.value_inv(opt, &mut inv)?;
                let v = bits(
                    w,
                    opt,
                    &addrtype::NAMES,
                    "a comma list of UNSPEC,UNICAST,LOCAL,BROADCAST,ANYCAST,MULTICAST,BLACKHOLE,UNREACHABLE,PROHIBIT,THROW,NAT,XRESOLVE",
                )?;
                *f = Some(Neg::new(inv, v));
            }
            "--limit-iface-in" => m.limit_iface_in = true,
            _ => m.limit_iface_out = true,
        }
        if m.limit_iface_in && m.limit_iface_out {
            return Err(PErr::new(col, "`--limit-iface-in` and `--limit-iface-out` cannot both be given"));
        }
    }
    if m.src_type.is_none() && m.dst_type.is_none() {
        return Err(missing(start, "-m addrtype", "`--src-type` or `--dst-type`"));
    }
    Ok(Match::Addrtype(m))
}

pub(crate) fn save(m: &AddrtypeMatch, out: &mut String) {
    if let Some(s) = &m.src_type {
        neg(out, s.neg);
        out.push_str(" --src-type ");
        out.push_str(&bit_names(s.val, &addrtype::NAMES));
    }
    if let Some(d) = &m.dst_type {
        neg(out, d.neg);
        out.push_str(" --dst-type ");
        out.push_str(&bit_names(d.val, &addrtype::NAMES));
    }
    if m.limit_iface_in {
        out.push_str(" --limit-iface-in");
    }
    if m.limit_iface_out {
        out.push_str(" --limit-iface-out");
    }
}
