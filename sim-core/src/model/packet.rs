//! Packets: the header stack and the skb metadata the kernel carries with them.

use crate::model::types::Mac;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_IPIP: u8 = 4;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_SCTP: u8 = 132;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Packet {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    /// TCP/UDP/SCTP ports; for ICMP `sport` is the echo id.
    pub sport: u16,
    pub dport: u16,
    pub icmp_type: u8,
    pub icmp_code: u8,
    pub tcp_flags: u8,
    pub ttl: u8,
    pub tos: u8,
    pub len: u16,
    /// Fragment offset (non-zero: a non-first fragment).
    pub frag_off: u16,
    pub eth_src: Option<Mac>,
    pub eth_dst: Option<Mac>,
}

impl Packet {
    pub fn has_ports(&self) -> bool {
        matches!(self.proto, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP | 136 | 33)
    }
}
