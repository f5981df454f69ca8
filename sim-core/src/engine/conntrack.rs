//! Connection tracking for one flow: tuples, lookup in imported and flow-created entries,
//! ctinfo, confirmation (`nf_conntrack_core.c`, `nf_conntrack_proto_{tcp,udp,icmp}.c`).
//!
//! Imported `conntrack -L` entries are read-only in the World; a flow that touches one copies it
//! into its own `CtStore` (copy on touch), so runs stay independent and cheap.

use crate::model::conntrack::{CtEntry, CtTuple};
use crate::model::packet::{Packet, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use crate::model::ruleset::tcp_flags as tf;
use std::fmt;

/// `enum ip_conntrack_info`, as the skb carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtInfo {
    New,
    Established,
    Related,
    EstablishedReply,
    RelatedReply,
}

impl CtInfo {
    pub fn is_reply(self) -> bool {
        matches!(self, CtInfo::EstablishedReply | CtInfo::RelatedReply)
    }
    /// `IP_CT_DIR_ORIGINAL` = 0, `IP_CT_DIR_REPLY` = 1.
    pub fn dir(self) -> usize {
        usize::from(self.is_reply())
    }
}

/// What the skb carries (`skb->_nfct`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkbCt {
    /// No conntrack: not looked up yet, or INVALID after the lookup.
    None,
    /// Looked up and found invalid (`--ctstate INVALID`).
    Invalid,
    /// `NOTRACK` / `CT --notrack`.
    Untracked,
    /// A raw-table `CT --zone` template waiting for the conntrack hook.
    Template {
        zone: u16,
    },
    Tracked {
        id: usize,
        info: CtInfo,
    },
}

/// One connection: both tuples and the status bits the engine needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Conn {
    pub ns: usize,
    pub zone: u16,
    pub proto: u8,
    /// `[IP_CT_DIR_ORIGINAL, IP_CT_DIR_REPLY]`.
    pub tuple: [CtTuple; 2],
    pub seen_reply: bool,
    pub assured: bool,
    pub confirmed: bool,
    /// `IPS_SRC_NAT` / `IPS_DST_NAT`.
    pub src_nat: bool,
    pub dst_nat: bool,
    /// `IPS_SRC_NAT_DONE` / `IPS_DST_NAT_DONE`: the binding for that manip was made.
    pub src_nat_done: bool,
    pub dst_nat_done: bool,
    pub mark: u32,
    /// The line of the imported entry this was copied from.
    pub imported_line: Option<u32>,
    /// For MASQUERADE bindings: the device it was made on (`nf_nat_oif_changed`).
    pub masq_dev: Option<String>,
}

impl Conn {
    pub fn from_entry(ns: usize, e: &CtEntry) -> Conn {
        Conn {
            ns,
            zone: e.zone,
            proto: e.proto,
            tuple: [e.orig, e.reply],
            seen_reply: !e.unreplied,
            assured: e.assured,
            confirmed: true,
            src_nat: e.is_snat(),
            dst_nat: e.is_dnat(),
            src_nat_done: true,
            dst_nat_done: true,
            mark: e.mark,
            imported_line: Some(e.line),
            masq_dev: None,
        }
    }
}

pub fn fmt_tuple(proto: u8, t: &CtTuple) -> String {
    match proto {
        IPPROTO_ICMP => format!("{}->{} icmp id={} type={} code={}", t.src, t.dst, t.sport, t.dport >> 8, t.dport & 0xff),
        IPPROTO_TCP | IPPROTO_UDP | crate::model::packet::IPPROTO_SCTP => {
            format!("{}:{}->{}:{} {}", t.src, t.sport, t.dst, t.dport, crate::model::types::proto_name(proto).unwrap_or("?"))
        }
        p => format!("{}->{} proto {p}", t.src, t.dst),
    }
}

/// The tuple of a packet (`nf_ct_get_tuple`): ICMP keeps the id in `sport` and type/code in `dport`.
pub fn tuple_of(p: &Packet) -> CtTuple {
    match p.proto {
        IPPROTO_ICMP => CtTuple { src: p.src, dst: p.dst, sport: p.sport, dport: (u16::from(p.icmp_type) << 8) | u16::from(p.icmp_code) },
        _ if p.has_ports() => CtTuple { src: p.src, dst: p.dst, sport: p.sport, dport: p.dport },
        _ => CtTuple { src: p.src, dst: p.dst, sport: 0, dport: 0 },
    }
}

/// `icmp_invert_tuple`'s type map: echo, timestamp, info and address-mask requests and replies.
pub fn icmp_inverse_type(t: u8) -> Option<u8> {
    Some(match t {
        8 => 0,
        0 => 8,
        13 => 14,
        14 => 13,
        15 => 16,
        16 => 15,
        17 => 18,
        18 => 17,
        _ => return None,
    })
}

/// `nf_ct_invert_tuple`.
pub fn invert(proto: u8, t: &CtTuple) -> CtTuple {
    if proto == IPPROTO_ICMP {
        let ty = (t.dport >> 8) as u8;
        let code = t.dport & 0xff;
        let inv = icmp_inverse_type(ty).unwrap_or(ty);
        CtTuple { src: t.dst, dst: t.src, sport: t.sport, dport: (u16::from(inv) << 8) | code }
    } else {
        CtTuple { src: t.dst, dst: t.src, sport: t.dport, dport: t.sport }
    }
}

/// ICMP error types whose payload embeds the offending packet (`icmp_is_err`).
pub fn icmp_is_error(t: u8) -> bool {
    matches!(t, 3 | 4 | 5 | 11 | 12)
}

/// Whether a packet without an entry may create one (`nf_conntrack_tcp.c:tcp_new`,
/// `icmp_new`); `None` when it may, `Some(why)` when it is INVALID.
pub fn can_create(p: &Packet, tcp_loose: bool) -> Result<(), &'static str> {
    match p.proto {
        IPPROTO_TCP => {
            let f = p.tcp_flags;
            let syn = f & tf::SYN != 0;
            let ack = f & tf::ACK != 0;
            if f & (tf::RST | tf::FIN) != 0 {
                Err("TCP FIN or RST without a conntrack entry is INVALID")
            } else if syn && ack {
                Err("TCP SYN/ACK without a conntrack entry is INVALID")
            } else if syn || tcp_loose {
                // A SYN starts a connection; with `nf_conntrack_tcp_loose` a mid-stream packet is
                // picked up too.
                Ok(())
            } else {
                Err("TCP packet without SYN and nf_conntrack_tcp_loose=0 is INVALID")
            }
        }
        IPPROTO_ICMP => {
            if icmp_inverse_type(p.icmp_type).is_some() && matches!(p.icmp_type, 8 | 13 | 15 | 17) {
                Ok(())
            } else {
                Err("an ICMP reply or unknown ICMP type without a conntrack entry is INVALID")
            }
        }
        _ => Ok(()),
    }
}

/// The flow's conntrack entries, across every namespace it touches.
#[derive(Clone, Debug, Default)]
pub struct CtStore {
    pub conns: Vec<Conn>,
}

impl CtStore {
    /// Finds a confirmed entry in `ns`/`zone` that has `t` as one of its tuples.
    pub fn find_local(&self, ns: usize, zone: u16, proto: u8, t: &CtTuple) -> Option<(usize, usize)> {
        self.conns.iter().enumerate().find_map(|(i, c)| {
            if c.ns != ns || c.zone != zone || c.proto != proto || !c.confirmed {
                return None;
            }
            if c.tuple[0] == *t {
                Some((i, 0))
            } else if c.tuple[1] == *t {
                Some((i, 1))
            } else {
                None
            }
        })
    }
    pub fn push(&mut self, c: Conn) -> usize {
        self.conns.push(c);
        self.conns.len() - 1
    }
}

impl fmt::Display for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "orig {} reply {}", fmt_tuple(self.proto, &self.tuple[0]), fmt_tuple(self.proto, &self.tuple[1]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn pkt(proto: u8, flags: u8, icmp_type: u8) -> Packet {
        Packet {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            proto,
            sport: 1000,
            dport: 80,
            icmp_type,
            icmp_code: 0,
            tcp_flags: flags,
            ttl: 64,
            tos: 0,
            len: 60,
            frag_off: 0,
            eth_src: None,
            eth_dst: None,
        }
    }

    #[test]
    fn tcp_creation_rules_follow_tcp_new() {
        assert!(can_create(&pkt(6, tf::SYN, 0), true).is_ok());
        assert!(can_create(&pkt(6, tf::SYN | tf::ACK, 0), true).is_err());
        assert!(can_create(&pkt(6, tf::RST, 0), true).is_err());
        assert!(can_create(&pkt(6, tf::ACK, 0), true).is_ok());
        assert!(can_create(&pkt(6, tf::ACK, 0), false).is_err());
        assert!(can_create(&pkt(1, 0, 8), true).is_ok());
        assert!(can_create(&pkt(1, 0, 0), true).is_err());
        assert!(can_create(&pkt(17, 0, 0), true).is_ok());
    }

    #[test]
    fn icmp_echo_inverts_to_echo_reply() {
        let t = tuple_of(&pkt(1, 0, 8));
        let r = invert(1, &t);
        assert_eq!(r.dport >> 8, 0);
        assert_eq!(r.sport, t.sport);
        assert_eq!(r.src, t.dst);
        assert_eq!(invert(1, &r), t);
        let u = tuple_of(&pkt(17, 0, 0));
        assert_eq!(invert(17, &invert(17, &u)), u);
        assert_eq!(invert(17, &u).sport, 80);
    }
}
