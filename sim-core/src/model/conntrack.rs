//! Conntrack entries (`conntrack -L`, or `/proc/net/nf_conntrack`).

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// One direction's tuple. For ICMP, `sport` holds the id and `dport` holds `type << 8 | code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CtTuple {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtEntry {
    pub proto: u8,
    pub timeout: Option<u32>,
    /// TCP state as written (`ESTABLISHED`, `SYN_SENT`, `TIME_WAIT`, ...).
    pub tcp_state: Option<String>,
    pub orig: CtTuple,
    pub reply: CtTuple,
    /// `[UNREPLIED]`: no SEEN_REPLY.
    pub unreplied: bool,
    pub assured: bool,
    pub mark: u32,
    pub zone: u16,
    /// 1-based line in the imported file.
    pub line: u32,
}

impl CtEntry {
    /// SNAT ⇔ reply.dst ≠ orig.src (address or port).
    pub fn is_snat(&self) -> bool {
        self.reply.dst != self.orig.src || self.reply.dport != self.orig.sport
    }
    /// DNAT ⇔ reply.src ≠ orig.dst.
    pub fn is_dnat(&self) -> bool {
        self.reply.src != self.orig.dst || self.reply.sport != self.orig.dport
    }
}
