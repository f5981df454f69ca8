//! Small value types shared by the model: MAC addresses, masked IPv4 addresses, port ranges,
//! negation wrappers.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;

/// An Ethernet address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub const BROADCAST: Mac = Mac([0xff; 6]);
    pub fn parse(s: &str) -> Option<Mac> {
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.split(':') {
            if n == 6 || part.is_empty() || part.len() > 2 {
                return None;
            }
            out[n] = u8::from_str_radix(part, 16).ok()?;
            n += 1;
        }
        (n == 6).then_some(Mac(out))
    }
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

/// An IPv4 address under a mask, as iptables stores `-s`/`-d` (the mask need not be a prefix:
/// `-s 10.0.0.0/255.0.255.0` is legal and saved in dotted form).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AddrMask {
    pub addr: Ipv4Addr,
    pub mask: Ipv4Addr,
}

impl AddrMask {
    pub fn from_prefix(addr: Ipv4Addr, len: u8) -> Self {
        let m: u32 = if len == 0 { 0 } else { u32::MAX << (32 - len as u32) };
        AddrMask { addr: Ipv4Addr::from(u32::from(addr) & m), mask: Ipv4Addr::from(m) }
    }
    /// `(ip & mask) == (addr & mask)`, as `ip_packet_match` does.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let m = u32::from(self.mask);
        (u32::from(ip) & m) == (u32::from(self.addr) & m)
    }
    /// The prefix length when the mask is contiguous.
    pub fn prefix_len(&self) -> Option<u8> {
        let m = u32::from(self.mask);
        let len = m.leading_ones();
        (m.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
    }
}

impl fmt::Display for AddrMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.prefix_len() {
            Some(l) => write!(f, "{}/{}", self.addr, l),
            None => write!(f, "{}/{}", self.addr, self.mask),
        }
    }
}

/// An inclusive port range; a single port has `lo == hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    pub fn single(p: u16) -> Self {
        PortRange { lo: p, hi: p }
    }
    pub fn contains(&self, p: u16) -> bool {
        self.lo <= p && p <= self.hi
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}:{}", self.lo, self.hi)
        }
    }
}

/// A value with iptables' `!` in front of it or not.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Neg<T> {
    pub neg: bool,
    pub val: T,
}

impl<T> Neg<T> {
    pub fn pos(val: T) -> Self {
        Neg { neg: false, val }
    }
    pub fn new(neg: bool, val: T) -> Self {
        Neg { neg, val }
    }
    /// Applies the negation to a raw match result.
    pub fn apply(&self, raw: bool) -> bool {
        raw != self.neg
    }
}

/// An interface name as `-i`/`-o`/`--physdev-*` take it: a trailing `+` matches any name with
/// that prefix (`ip_tables.c:ifname_compare`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IfName {
    pub name: String,
    pub wildcard: bool,
}

impl IfName {
    pub fn parse(s: &str) -> IfName {
        match s.strip_suffix('+') {
            Some(p) => IfName { name: p.to_string(), wildcard: true },
            None => IfName { name: s.to_string(), wildcard: false },
        }
    }
    /// Compare against a device name; `None` (no device) never matches a non-empty pattern, and
    /// `+` alone matches any device including none (`-i +` is saved as nothing).
    pub fn matches(&self, dev: Option<&str>) -> bool {
        let d = dev.unwrap_or("");
        if self.wildcard {
            d.starts_with(self.name.as_str())
        } else {
            d == self.name
        }
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.name, if self.wildcard { "+" } else { "" })
    }
}

/// Route and address scopes (`rtnetlink.h: enum rt_scope_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    #[default]
    Universe,
    Site,
    Link,
    Host,
    Nowhere,
    Other(u8),
}

impl Scope {
    /// The kernel's numeric value: lower is wider.
    pub fn value(self) -> u8 {
        match self {
            Scope::Universe => 0,
            Scope::Site => 200,
            Scope::Link => 253,
            Scope::Host => 254,
            Scope::Nowhere => 255,
            Scope::Other(v) => v,
        }
    }
    pub fn parse(s: &str) -> Option<Scope> {
        Some(match s {
            "global" | "universe" => Scope::Universe,
            "site" => Scope::Site,
            "link" => Scope::Link,
            "host" => Scope::Host,
            "nowhere" => Scope::Nowhere,
            n => match n.parse::<u8>().ok()? {
                0 => Scope::Universe,
                200 => Scope::Site,
                253 => Scope::Link,
                254 => Scope::Host,
                255 => Scope::Nowhere,
                v => Scope::Other(v),
            },
        })
    }
}

/// IP protocol numbers with the names `/etc/protocols` and iptables use.
pub fn proto_name(p: u8) -> Option<&'static str> {
    Some(match p {
        1 => "icmp",
        2 => "igmp",
        4 => "ipencap",
        6 => "tcp",
        17 => "udp",
        41 => "ipv6",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "ipv6-icmp",
        132 => "sctp",
        136 => "udplite",
        33 => "dccp",
        _ => return None,
    })
}

pub fn proto_number(s: &str) -> Option<u8> {
    let l = s.to_ascii_lowercase();
    Some(match l.as_str() {
        "icmp" => 1,
        "igmp" => 2,
        "ipencap" | "ip-encap" => 4,
        // /etc/protocols: 4 is ipencap (IP-in-IP, what calico and tunl0 use), 94 is ipip.
        "ipip" => 94,
        "tcp" => 6,
        "udp" => 17,
        "ipv6" => 41,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "ipv6-icmp" | "icmpv6" => 58,
        "sctp" => 132,
        "udplite" => 136,
        "dccp" => 33,
        n => return n.parse().ok(),
    })
}
