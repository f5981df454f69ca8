//! Forwarding database entries (`bridge fdb`): `master` entries belong to a bridge, `self`
//! entries to the device itself (a VXLAN device's remote table).

use crate::model::types::Mac;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdbEntry {
    pub mac: Mac,
    /// The port or device the entry is on.
    pub dev: String,
    /// The bridge, for `master` entries.
    pub master: Option<String>,
    /// VXLAN remote (`dst`).
    pub dst: Option<Ipv4Addr>,
    pub vlan: Option<u16>,
    pub vni: Option<u32>,
    pub port: Option<u16>,
    pub is_self: bool,
    /// `permanent`, `static`, or dynamic (neither).
    pub permanent: bool,
    pub is_static: bool,
    pub extern_learn: bool,
    /// Entries that IPv6 dst or other things we keep only as text.
    pub raw_flags: Vec<String>,
}
