//! Routes of every table and type (`ip route show table all`).

use crate::model::types::Scope;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

pub const RT_TABLE_DEFAULT: u32 = 253;
pub const RT_TABLE_MAIN: u32 = 254;
pub const RT_TABLE_LOCAL: u32 = 255;

/// `rtnetlink.h: RTN_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteType {
    Unicast,
    Local,
    Broadcast,
    Anycast,
    Multicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
    Nat,
}

impl RouteType {
    pub fn parse(s: &str) -> Option<RouteType> {
        Some(match s {
            "unicast" => RouteType::Unicast,
            "local" => RouteType::Local,
            "broadcast" => RouteType::Broadcast,
            "anycast" => RouteType::Anycast,
            "multicast" => RouteType::Multicast,
            "blackhole" => RouteType::Blackhole,
            "unreachable" => RouteType::Unreachable,
            "prohibit" => RouteType::Prohibit,
            "throw" => RouteType::Throw,
            "nat" => RouteType::Nat,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            RouteType::Unicast => "unicast",
            RouteType::Local => "local",
            RouteType::Broadcast => "broadcast",
            RouteType::Anycast => "anycast",
            RouteType::Multicast => "multicast",
            RouteType::Blackhole => "blackhole",
            RouteType::Unreachable => "unreachable",
            RouteType::Prohibit => "prohibit",
            RouteType::Throw => "throw",
            RouteType::Nat => "nat",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextHop {
    pub gateway: Option<Ipv4Addr>,
    pub dev: Option<String>,
    pub onlink: bool,
    pub weight: u32,
    /// `dead` / `linkdown` flags as reported.
    pub dead: bool,
    pub linkdown: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub table: u32,
    pub rtype: RouteType,
    pub dst: Ipv4Net,
    pub tos: u8,
    pub metric: u32,
    /// `proto` as written (`kernel`, `bird`, `80`, ...).
    pub protocol: Option<String>,
    pub scope: Scope,
    pub prefsrc: Option<Ipv4Addr>,
    /// One entry for a simple route, several for multipath; empty for blackhole and friends.
    pub nexthops: Vec<NextHop>,
    pub mtu: Option<u32>,
    /// Where the route came from (`file:line`), when imported from text.
    pub origin: Option<String>,
}

impl Route {
    pub fn dev(&self) -> Option<&str> {
        self.nexthops.first().and_then(|n| n.dev.as_deref())
    }
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        self.nexthops.first().and_then(|n| n.gateway)
    }
}
