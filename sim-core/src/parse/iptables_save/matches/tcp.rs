//! `-m tcp` and `-m udp` (`libxt_tcp.c`, `libxt_udp.c`; kernel `xt_tcpudp.c`).

use super::{bad, dup, neg, range};
use crate::model::ruleset::{Match, TcpMatch, UdpMatch};
use crate::model::types::{Neg, PortRange};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr, Word};

const TCP_OPTS: &[&str] = &["--sport", "--source-port", "--dport", "--destination-port", "--tcp-flags", "--syn", "--tcp-option"];
const UDP_OPTS: &[&str] = &["--sport", "--source-port", "--dport", "--destination-port"];

/// TCP flag names as `libxt_tcp.c:tcp_flag_names` has them (print order is lowest bit first).
const FLAGS: &[(&str, u8)] = &[("FIN", 0x01), ("SYN", 0x02), ("RST", 0x04), ("PSH", 0x08), ("ACK", 0x10), ("URG", 0x20), ("ALL", 0x3f), ("NONE", 0)];

/// A `--sport`/`--dport` value. The full range without `!` tests nothing and is not saved.
fn ports(a: &mut Args, opt: &str, mut inv: bool, seen: &mut bool, col: u32) -> Result<Option<Neg<PortRange>>, PErr> {
    if *seen {
        return Err(dup(col, opt));
    }
    *seen = true;
    let w = a.value_inv(opt, &mut inv)?;
    let r = values::port_range(w.as_str(), ':').ok_or_else(|| bad(w, opt, "a port or range `lo:hi` with lo <= hi <= 65535"))?;
    Ok(if r.lo == 0 && r.hi == 65535 && !inv { None } else { Some(Neg::new(inv, r)) })
}

fn flag_list(w: &Word, opt: &str) -> Result<u8, PErr> {
    let mut v = 0u8;
    for part in w.as_str().split(',') {
        match FLAGS.iter().find(|(n, _)| n.eq_ignore_ascii_case(part)) {
            Some((_, b)) => v |= b,
            None => return Err(bad(w, opt, "a comma list of FIN,SYN,RST,PSH,ACK,URG,ALL,NONE")),
        }
    }
    Ok(v)
}

pub(crate) fn flag_names(mut f: u8) -> String {
    if f == 0 {
        return "NONE".into();
    }
    let mut s = String::new();
    while f != 0 {
        let Some((n, b)) = FLAGS[..6].iter().find(|(_, b)| f & b != 0) else { break };
        if !s.is_empty() {
            s.push(',');
        }
        s.push_str(n);
        f &= !b;
    }
    s
}

pub(crate) fn parse_tcp(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let mut m = TcpMatch::default();
    let (mut sseen, mut dseen) = (false, false);
    while let Some((mut inv, opt, col)) = a.next_opt(TCP_OPTS) {
        match opt {
            "--sport" | "--source-port" => m.sport = ports(a, opt, inv, &mut sseen, col)?,
            "--dport" | "--destination-port" => m.dport = ports(a, opt, inv, &mut dseen, col)?,
            "--tcp-flags" => {
                if m.flags.is_some() {
                    return Err(dup(col, opt));
                }
                let mw = a.value_inv(opt, &mut inv)?;
                let mask = flag_list(mw, opt)?;
                let cw = a.value(opt)?;
                let comp = flag_list(cw, opt)?;
                m.flags = Some(Neg::new(inv, (mask, comp)));
            }
            "--syn" => {
                if m.flags.is_some() {
                    return Err(dup(col, opt));
                }
                m.flags = Some(Neg::new(inv, (0x17, 0x02)));
            }
            _ => {
                if m.option.is_some() {
                    return Err(dup(col, opt));
                }
                let w = a.value_inv(opt, &mut inv)?;
                let n = values::dec(w.as_str()).filter(|v| (1..=255).contains(v)).ok_or_else(|| bad(w, opt, "a TCP option number 1-255"))?;
                m.option = Some(Neg::new(inv, n as u8));
            }
        }
    }
    Ok(Match::Tcp(m))
}

pub(crate) fn parse_udp(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let mut m = UdpMatch::default();
    let (mut sseen, mut dseen) = (false, false);
    while let Some((inv, opt, col)) = a.next_opt(UDP_OPTS) {
        match opt {
            "--sport" | "--source-port" => m.sport = ports(a, opt, inv, &mut sseen, col)?,
            _ => m.dport = ports(a, opt, inv, &mut dseen, col)?,
        }
    }
    Ok(Match::Udp(m))
}

fn save_ports(out: &mut String, name: &str, p: &Option<Neg<PortRange>>) {
    if let Some(p) = p {
        neg(out, p.neg);
        out.push_str(name);
        out.push_str(&range(p.val, ':'));
    }
}

pub(crate) fn save_tcp(m: &TcpMatch, out: &mut String) {
    save_ports(out, " --sport ", &m.sport);
    save_ports(out, " --dport ", &m.dport);
    if let Some(o) = &m.option {
        neg(out, o.neg);
        out.push_str(&format!(" --tcp-option {}", o.val));
    }
    if let Some(f) = &m.flags {
        neg(out, f.neg);
        out.push_str(" --tcp-flags ");
        out.push_str(&flag_names(f.val.0));
        out.push(' ');
        out.push_str(&flag_names(f.val.1));
    }
}

pub(crate) fn save_udp(m: &UdpMatch, out: &mut String) {
    save_ports(out, " --sport ", &m.sport);
    save_ports(out, " --dport ", &m.dport);
}
