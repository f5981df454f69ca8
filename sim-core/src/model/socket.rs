//! Listening sockets (`ss -Htulpn`).

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Socket {
    /// 6 (tcp) or 17 (udp).
    pub proto: u8,
    /// `None` for a wildcard bind (`0.0.0.0`, `*`, or `[::]` with v4-mapped).
    pub local: Option<Ipv4Addr>,
    pub port: u16,
    /// Bound device (`%eth0`), if any.
    pub dev: Option<String>,
    pub process: Option<String>,
    pub line: u32,
}
