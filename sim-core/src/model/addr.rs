//! Interface addresses (`ip addr`).

use crate::model::types::Scope;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addr {
    pub ifname: String,
    pub ifindex: u32,
    pub local: Ipv4Addr,
    pub prefix_len: u8,
    /// Point-to-point peer (`peer`), if any.
    pub peer: Option<Ipv4Addr>,
    pub broadcast: Option<Ipv4Addr>,
    pub scope: Scope,
    pub secondary: bool,
    pub noprefixroute: bool,
    pub label: Option<String>,
}
