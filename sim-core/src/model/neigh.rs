//! Neighbour (ARP) entries (`ip neigh`).

use crate::model::types::Mac;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neigh {
    pub dst: Ipv4Addr,
    pub dev: String,
    pub lladdr: Option<Mac>,
    /// NUD states as reported (`PERMANENT`, `REACHABLE`, `STALE`, `FAILED`, `INCOMPLETE`, ...).
    pub state: Vec<String>,
    pub router: bool,
    pub proxy: bool,
}

impl Neigh {
    /// An entry whose address can be used to send now (not FAILED/INCOMPLETE, has an lladdr).
    pub fn usable(&self) -> bool {
        self.lladdr.is_some() && !self.state.iter().any(|s| s == "FAILED" || s == "INCOMPLETE")
    }
}
