//! Devices the engine moves packets through: veth pairs, Linux bridges with br_netfilter
//! (`bridge.rs`), VXLAN (`vxlan.rs`) and IPIP (`ipip.rs`) tunnels, the layer-2 segments they form
//! (`l2.rs`, with 802.1Q devices and tags), and uplinks into the cluster's underlay (`engine/underlay.rs`).
//!
//! `flow.rs` calls in at three places only: [`transmit`] when a routed packet is handed to its
//! output device, `bridge::rx_hook` when a frame arrives on a bridge port, and [`decap`] when a
//! packet passed LOCAL_IN (a tunnel's outer packet is decapsulated there, as `vxlan_rcv` and
//! `ipip_rcv` do behind the UDP socket and the protocol handler).

pub mod bridge;
pub mod ipip;
pub mod l2;
pub mod veth;
pub mod vxlan;

use crate::engine::flow::{End, OutRoute, Run, Skb};
use crate::engine::underlay;
use crate::model::link::LinkKind;

/// Frames one packet may cross inside bridges before nfpath calls it a loop (STP normally
/// prevents one; the kernel would loop until the frame is dropped).
pub(crate) const MAX_BRIDGE_HOPS: u32 = 300;

/// Nested encapsulations one flow may build (a tunnel routed into a tunnel).
const MAX_ENCAPS: u32 = 8;

/// What the skb carries besides its headers, for devices.
#[derive(Clone, Debug, Default)]
pub(crate) struct L2Meta {
    /// `nf_bridge_info`: set by br_netfilter when the frame entered a bridge port.
    pub nf_bridge: Option<bridge::NfBridge>,
    /// The encapsulated packet, when this is a tunnel's outer packet.
    pub encap: Option<Box<Encap>>,
    /// The frame's 802.1Q tag (the kernel keeps it beside the frame, `skb->vlan_tci`).
    pub vlan: Option<u16>,
}

/// A tunnel's payload.
#[derive(Clone, Debug)]
pub(crate) struct Encap {
    pub inner: Skb,
    pub kind: EncapKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EncapKind {
    /// VXLAN with this VNI (the frame keeps its Ethernet header).
    Vxlan { vni: u32 },
    /// IPv4 in IPv4 (protocol 4), no Ethernet header.
    Ipip,
}

/// Per-run device state.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunState {
    /// Encapsulations built so far in this run.
    pub encaps: u32,
    /// Packets that left an underlay member in this run, as (member, src, dst, proto, sport,
    /// dport): the state a stateful security group keeps so that their replies come back.
    pub underlay_sent: Vec<(String, std::net::Ipv4Addr, std::net::Ipv4Addr, u8, u16, u16)>,
}

impl RunState {
    /// Counts one more encapsulation; false when the limit is reached.
    pub(crate) fn encap(&mut self) -> bool {
        self.encaps += 1;
        self.encaps <= MAX_ENCAPS
    }
}

/// Hands a routed packet to `out.dev` when that device is one this module models: a bridge, a
/// VXLAN or IPIP device, a veth whose peer is a bridge port, or an uplink into the underlay.
/// `Err` gives the packet back for the plain veth path in `flow.rs`.
#[allow(clippy::result_large_err)]
pub(crate) fn transmit(r: &mut Run, ns: usize, skb: Skb, out: &OutRoute) -> Result<End, Skb> {
    let w = r.w;
    let Some(link) = w.nss[ns].ns.link(&out.dev) else { return Err(skb) };
    match &link.kind {
        LinkKind::Bridge(_) => Ok(bridge::xmit(r, ns, &out.dev, skb, out.nexthop)),
        LinkKind::Vxlan(_) => Ok(vxlan::xmit_routed(r, ns, &out.dev, skb, out.nexthop)),
        LinkKind::Ipip(_) => Ok(ipip::xmit(r, ns, &out.dev, skb, out.nexthop)),
        LinkKind::Vlan { .. } if l2::vlan_parent(w, ns, &out.dev).is_some() => Ok(l2::xmit_resolved(r, ns, &out.dev, skb, out.nexthop)),
        _ => match w.nss[ns].veth_peer.get(out.dev.as_str()) {
            Some((pns, pdev)) if bridge::bridge_of(w, *pns, pdev).is_some() => Ok(l2::xmit_resolved(r, ns, &out.dev, skb, out.nexthop)),
            Some(_) => Err(skb),
            None if underlay::is_member(w, ns, &out.dev) => Ok(underlay::send(r, ns, &out.dev, skb, out.nexthop)),
            None => Err(skb),
        },
    }
}

/// A packet that passed LOCAL_IN: a tunnel's outer packet is decapsulated and its payload
/// received on the tunnel device; anything else goes on to the socket (`Err`).
#[allow(clippy::result_large_err)]
pub(crate) fn decap(r: &mut Run, ns: usize, skb: Skb) -> Result<End, Skb> {
    let Some(kind) = skb.l2.encap.as_ref().map(|e| e.kind) else { return Err(skb) };
    Ok(match kind {
        EncapKind::Vxlan { vni } => vxlan::rcv(r, ns, skb, vni),
        EncapKind::Ipip => ipip::rcv(r, ns, skb),
    })
}

/// Where a tunnel's outer packet goes: the underlay route lookup both IPIP and VXLAN make
/// (`ip_tunnel_xmit`, `vxlan_get_route`), with the checks they share.
pub(crate) enum TunnelRoute {
    /// Out another device, from this source.
    Via(std::net::Ipv4Addr),
    /// The remote is one of this namespace's own addresses (this local source).
    Local(std::net::Ipv4Addr),
}

/// Texts of the drops `tunnel_route` reports, per tunnel kind.
pub(crate) struct TunnelWords {
    /// "ipip" or "vxlan": starts each step's text.
    pub kind: &'static str,
    /// How the remote is named in the loop drop: "" (IPIP) or "the remote " (VXLAN).
    pub remote: &'static str,
    /// How it is named in the no-route drop: "the tunnel endpoint " or "the remote ".
    pub endpoint: &'static str,
    /// What the loop drop adds: "local routing loop" or "ELOOP".
    pub looped: &'static str,
    /// What the no-route drop adds after "dropped" (with its separator).
    pub no_route: &'static str,
    /// What is not modelled for a broadcast remote: "IPIP to a broadcast endpoint", ...
    pub broadcast: &'static str,
}

/// Looks up the route for a tunnel's outer packet (`key`) leaving through `dev`, records its
/// steps and picks a multipath branch (the route comes back for the outer packet); the source is `local` when the device fixes one. An end
/// comes back for a routing loop into the tunnel itself, a failed lookup, a broadcast or an
/// indeterminate answer.
pub(crate) fn tunnel_route(
    r: &mut Run,
    ns: usize,
    dev: &str,
    key: &crate::engine::route_api::FlowKey,
    local: Option<std::net::Ipv4Addr>,
    words: &TunnelWords,
) -> Result<(TunnelRoute, crate::engine::route_api::RouteResult), End> {
    use crate::engine::route_api::Decision;
    use crate::trace::{DropReason, StepKind};
    let w = r.w;
    let remote = key.dst;
    let mut rr = w.nss[ns].router.output(key);
    r.push_route_steps(ns, &rr);
    r.pick_branch(&mut rr);
    let name = &w.nss[ns].ns.name;
    let to = match &rr.decision {
        Decision::Unicast { dev: odev, src, .. } => {
            if odev == dev {
                let d = dev.to_string();
                let (kind, rem, looped) = (words.kind, words.remote, words.looped);
                r.step(ns, || StepKind::Device { dev: d, action: format!("{kind}: the route to {rem}{remote} leads back into {dev}: dropped ({looped})") });
                return Err(End::Dropped { ns, reason: DropReason::Loop, local_out: false });
            }
            TunnelRoute::Via(local.unwrap_or(*src))
        }
        Decision::Local { src } => TunnelRoute::Local(local.unwrap_or(*src)),
        Decision::Fail { reason, .. } => {
            let (d, reason) = (dev.to_string(), *reason);
            let (kind, what, rest) = (words.kind, words.endpoint, words.no_route);
            r.step(ns, || StepKind::Device { dev: d, action: format!("{kind}: no route to {what}{remote}: dropped{rest}") });
            return Err(End::Dropped { ns, reason, local_out: false });
        }
        Decision::Broadcast => return Err(End::Indeterminate { why: format!("{name}: {} is not modelled", words.broadcast) }),
        Decision::Indeterminate { what } => return Err(End::Indeterminate { why: format!("{name}: {what}") }),
    };
    Ok((to, rr))
}
