//! Policy routing and route lookup (`net/ipv4/fib_rules.c`, `fib_trie.c`, `route.c`).
//! API agreed between the routing and netfilter parts of the engine (being written).

use crate::model::route::RouteType;
use crate::model::Namespace;
use crate::trace::{DropReason, Step};
use std::net::Ipv4Addr;

/// A prepared routing view of one namespace (built once, queried many times).
pub struct Fib {
    _private: (),
}

/// What a lookup is asked.
#[derive(Clone, Debug, Default)]
pub struct FlowKey {
    pub dst: Ipv4Addr,
    /// The packet's source (input), or a caller-bound source (output; `None` = choose one).
    pub src: Option<Ipv4Addr>,
    /// Input device; `None` for locally generated packets (the kernel then uses `lo` for `iif`
    /// selectors).
    pub iif: Option<String>,
    /// Output device for sockets bound to a device.
    pub oif: Option<String>,
    pub mark: u32,
    pub tos: u8,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Deliver locally (input), or send via `lo` (output).
    Local { src: Ipv4Addr },
    /// Send out `dev` to `nexthop` (the gateway, or the destination when on-link).
    Unicast { dev: String, nexthop: Ipv4Addr, gateway: Option<Ipv4Addr>, src: Ipv4Addr },
    Broadcast,
    /// The packet cannot go on. `errno` is what a local socket sees (ENETUNREACH, EHOSTUNREACH,
    /// EACCES, EINVAL...), `icmp` the error an input route sends back (type, code), if any.
    Fail { reason: DropReason, errno: &'static str, icmp: Option<(u8, u8)> },
}

#[derive(Clone, Debug, PartialEq)]
pub struct RouteResult {
    pub decision: Decision,
    /// Rules consulted and route chosen, for the trace.
    pub steps: Vec<Step>,
    /// The route type found, if a route matched.
    pub rtype: Option<RouteType>,
}

impl Fib {
    pub fn new(ns: &Namespace) -> Fib {
        let _ = ns;
        Fib { _private: () }
    }
}
