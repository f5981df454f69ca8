//! ipsets (`ipset save`, or `ipset list`).

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpSet {
    pub name: String,
    /// The set type as written (`hash:ip,port`); `dims` are its parts in order.
    pub set_type: String,
    pub dims: Vec<SetDim>,
    /// `inet` or `inet6`.
    pub family: String,
    /// Create options as written (`maxelem 1048576`, `timeout 0`, `range 0-65535`).
    pub options: Vec<String>,
    pub members: Vec<SetMember>,
    /// Line of the `create` / `Name:` line.
    pub line: u32,
    /// True when the listing was cut short (e.g. a PARTIAL excerpt): absent members unknown.
    pub incomplete: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetDim {
    Ip,
    Net,
    Port,
    Mac,
    Iface,
    Mark,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetElem {
    /// An address or network (an `ip` dimension holds /32s, or a range expanded to nets).
    Net(Ipv4Net),
    /// A port of a protocol; ICMP "ports" are `type << 8 | code`. `proto` 0 (the members of a
    /// `bitmap:port` set, which stores no protocol) matches the port of a TCP or UDP packet
    /// (`ip_set_bitmap_port.c: ip_set_get_ip_port` accepts only those two).
    Port {
        proto: u8,
        port: u16,
    },
    Iface(String),
    Mac(crate::model::types::Mac),
    Mark(u32),
    /// A member set of a `list:set` (its name).
    Set(String),
    /// An IPv6 or otherwise unmodelled element, as written.
    Other(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetMember {
    pub elems: Vec<SetElem>,
    pub nomatch: bool,
    /// Remaining member options as written (`timeout 100`, `comment "x"`).
    pub options: Vec<String>,
    pub line: u32,
}

impl SetMember {
    pub fn first_ip(&self) -> Option<Ipv4Addr> {
        self.elems.iter().find_map(|e| match e {
            SetElem::Net(n) => Some(n.addr()),
            _ => None,
        })
    }
}
