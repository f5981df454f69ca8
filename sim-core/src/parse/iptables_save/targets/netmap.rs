//! NETMAP (`libipt_NETMAP.c`): `--to addr[/prefix]`; the kernel keeps the network address
//! (`--to 198.51.100.7/24` is saved as `198.51.100.0/24`, checked against iptables-legacy-save).

use super::{bad, dup, missing};
use crate::model::ruleset::Target;
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};
use ipnet::Ipv4Net;

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Target, PErr> {
    let start = a.col();
    let mut n: Option<Ipv4Net> = None;
    while let Some((inv, opt, col)) = a.next_opt(&["--to"]) {
        if inv {
            return Err(PErr::new(col, "`--to` cannot be negated"));
        }
        if n.is_some() {
            return Err(dup(col, opt));
        }
        let w = a.value(opt)?;
        let am = values::addr_mask(w.as_str(), true).ok_or_else(|| bad(w, opt, "an IPv4 network addr[/prefix]"))?;
        let len = am.prefix_len().ok_or_else(|| bad(w, opt, "a contiguous netmask"))?;
        n = Some(Ipv4Net::new(am.addr, len).map_err(|_| bad(w, opt, "a prefix length 0-32"))?);
    }
    n.map(Target::Netmap).ok_or_else(|| missing(start, "-j NETMAP", "`--to`"))
}

pub(crate) fn save(n: &Ipv4Net, out: &mut String) {
    out.push_str(&format!(" --to {}/{}", n.addr(), n.prefix_len()));
}
