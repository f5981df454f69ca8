//! Network devices, as `ip -d link show` describes them.

use crate::model::types::Mac;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub ifindex: u32,
    pub name: String,
    pub kind: LinkKind,
    pub mtu: u32,
    pub mac: Option<Mac>,
    /// Administrative state (`IFF_UP`).
    pub up: bool,
    /// Carrier (`IFF_LOWER_UP`); a device that is up without carrier gets LINKDOWN routes.
    pub lower_up: bool,
    pub noarp: bool,
    pub promisc: bool,
    /// `master` device name (a bridge port's bridge).
    pub master: Option<String>,
    /// `link` (the `@peer` of `veth0@if5`, or a VLAN's parent) as an ifindex and, when known, name.
    pub link_ifindex: Option<u32>,
    pub link_name: Option<String>,
    /// `link-netnsid`: the peer lives in another namespace.
    pub link_netnsid: Option<i32>,
    /// Per-port bridge flags when this device is a bridge port.
    pub brport: Option<BridgePort>,
    /// `ip link` group.
    pub group: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LinkKind {
    Loopback,
    /// A device without `linkinfo` (physical NIC or unknown ethernet).
    Ether,
    Veth,
    Bridge(BridgeInfo),
    Vxlan(VxlanInfo),
    Ipip(TunnelInfo),
    Dummy,
    Vlan {
        id: u16,
    },
    /// Anything else: the kind as `ip` reports it (`wireguard`, `tun`, `bond`, ...).
    Other {
        name: String,
    },
}

impl LinkKind {
    pub fn name(&self) -> &str {
        match self {
            LinkKind::Loopback => "loopback",
            LinkKind::Ether => "ether",
            LinkKind::Veth => "veth",
            LinkKind::Bridge(_) => "bridge",
            LinkKind::Vxlan(_) => "vxlan",
            LinkKind::Ipip(_) => "ipip",
            LinkKind::Dummy => "dummy",
            LinkKind::Vlan { .. } => "vlan",
            LinkKind::Other { name } => name,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BridgeInfo {
    pub stp_state: u32,
    pub vlan_filtering: bool,
    pub ageing_time: Option<u32>,
    /// The bridge's own `nf_call_iptables` option (independent of the sysctl).
    pub nf_call_iptables: bool,
    /// The bridge device's own VLAN entries (`bridge vlan show`, `self`), with vlan_filtering.
    #[serde(default)]
    pub vlans: Vec<BridgeVlan>,
}

/// One VLAN of a bridge port or bridge (`bridge vlan show`): frames of `vid` may enter and leave;
/// `pvid` untagged frames entering get this VLAN; `untagged` frames leave without the tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeVlan {
    pub vid: u16,
    pub pvid: bool,
    pub untagged: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgePort {
    /// `forwarding`, `learning`, `blocking`, `disabled`, `listening`.
    pub state: String,
    pub hairpin: bool,
    pub learning: bool,
    pub flood: bool,
    pub proxy_arp: bool,
    /// VLAN membership (`bridge vlan show`); used when the bridge has vlan_filtering.
    #[serde(default)]
    pub vlans: Vec<BridgeVlan>,
}

impl Default for BridgePort {
    fn default() -> Self {
        BridgePort { state: "forwarding".into(), hairpin: false, learning: true, flood: true, proxy_arp: false, vlans: Vec::new() }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VxlanInfo {
    pub vni: u32,
    pub local: Option<Ipv4Addr>,
    /// `remote` or `group`.
    pub remote: Option<Ipv4Addr>,
    pub dstport: u16,
    /// Underlying device (`dev ens4`).
    pub dev: Option<String>,
    pub learning: bool,
    pub port_range: Option<(u16, u16)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TunnelInfo {
    pub local: Option<Ipv4Addr>,
    pub remote: Option<Ipv4Addr>,
    pub dev: Option<String>,
    pub ttl: Option<u8>,
}
