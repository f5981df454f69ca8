//! TPROXY revision 1 (`libxt_TPROXY.c`): iptables-save prints all three options.

use super::{bad, dup, missing};
use crate::model::ruleset::{Target, TproxyTarget};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};
use std::net::Ipv4Addr;

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Target, PErr> {
    let start = a.col();
    let (mut port, mut ip, mut mark) = (None::<u16>, None::<Ipv4Addr>, None::<(u32, u32)>);
    while let Some((inv, opt, col)) = a.next_opt(&["--on-port", "--on-ip", "--tproxy-mark"]) {
        if inv {
            return Err(PErr::new(col, format!("`{opt}` cannot be negated")));
        }
        let w = a.value(opt)?;
        match opt {
            "--on-port" => {
                if port.is_some() {
                    return Err(dup(col, opt));
                }
                port = Some(values::port(w.as_str()).ok_or_else(|| bad(w, opt, "a port"))?);
            }
            "--on-ip" => {
                if ip.is_some() {
                    return Err(dup(col, opt));
                }
                ip = Some(values::ipv4(w.as_str()).ok_or_else(|| bad(w, opt, "an IPv4 address"))?);
            }
            _ => {
                if mark.is_some() {
                    return Err(dup(col, opt));
                }
                let (v, m) = values::mark_mask(w.as_str()).ok_or_else(|| bad(w, opt, "value[/mask]"))?;
                mark = Some((v, m.unwrap_or(u32::MAX)));
            }
        }
    }
    let on_port = port.ok_or_else(|| missing(start, "-j TPROXY", "`--on-port`"))?;
    Ok(Target::Tproxy(Box::new(TproxyTarget { on_port, on_ip: ip, mark })))
}

pub(crate) fn save(t: &TproxyTarget, out: &mut String) {
    let ip = t.on_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let (v, m) = t.mark.unwrap_or((0, 0));
    out.push_str(&format!(" --on-port {} --on-ip {ip} --tproxy-mark 0x{v:x}/0x{m:x}", t.on_port));
}
