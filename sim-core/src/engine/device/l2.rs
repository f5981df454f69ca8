//! Layer-2 segments: which IP stacks a frame sent on a device can reach (through veth pairs and
//! bridges), who answers ARP for an address there (`net/ipv4/arp.c:arp_process`), and frames
//! crossing a wire into the next namespace.
//!
//! nfpath does not send ARP packets. It asks the question ARP asks: among the endpoints of the
//! segment, in a fixed order (ports by ifindex), the first that would answer gives the MAC, and
//! every bridge on the way is taken to have learned that MAC on the port the answer came in
//! (`br_fdb_update` from the reply's source), which is what the kernel's fdb holds by the time
//! the packet itself is sent.

use crate::engine::device::bridge;
use crate::engine::flow::{End, HookEnd, Run, Skb};
use crate::engine::route_api::{Decision, FlowKey};
use crate::engine::underlay;
use crate::engine::World;
use crate::model::link::LinkKind;
use crate::model::route::RouteType;
use crate::model::types::Mac;
use crate::trace::{DropReason, StepKind};
use std::net::Ipv4Addr;

/// A device whose IP stack receives the frames that reach it (not a bridge port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub ns: usize,
    pub dev: String,
}

pub(crate) fn mac_of(w: &World, ns: usize, dev: &str) -> Option<Mac> {
    w.nss[ns].ns.link(dev).and_then(|l| l.mac)
}

fn up(w: &World, ns: usize, dev: &str) -> bool {
    w.nss[ns].ns.link(dev).is_some_and(|l| l.up)
}

/// The parent of 802.1Q device `dev` and its VLAN id.
pub(crate) fn vlan_parent(w: &World, ns: usize, dev: &str) -> Option<(String, u16)> {
    let nsd = &w.nss[ns].ns;
    let l = nsd.link(dev)?;
    let LinkKind::Vlan { id } = l.kind else { return None };
    let parent = l.link_name.clone().or_else(|| l.link_ifindex.and_then(|i| nsd.link_by_index(i)).map(|p| p.name.clone()))?;
    Some((parent, id))
}

/// The 802.1Q device on `dev` for VLAN `vid`, if the namespace has one.
pub(crate) fn vlan_child(w: &World, ns: usize, dev: &str, vid: u16) -> Option<String> {
    let nsd = &w.nss[ns].ns;
    let ifindex = nsd.link(dev)?.ifindex;
    nsd.links
        .iter()
        .find(|l| l.kind == LinkKind::Vlan { id: vid } && (l.link_name.as_deref() == Some(dev) || (l.link_name.is_none() && l.link_ifindex == Some(ifindex))))
        .map(|l| l.name.clone())
}

/// Where a frame with `tag` arriving at non-port device `dev` is received: the device itself
/// when untagged, else its 802.1Q device for that VLAN (none: the frame is dropped).
pub(crate) fn rx_dev(w: &World, ns: usize, dev: &str, tag: Option<u16>) -> Option<String> {
    match tag {
        None => Some(dev.to_string()),
        Some(vid) => vlan_child(w, ns, dev, vid),
    }
}

/// Every endpoint a broadcast sent on `dev` of `ns` reaches, in a fixed order, following VLAN
/// tags through 802.1Q devices and VLAN-filtering bridges.
pub(crate) fn segment(w: &World, ns: usize, dev: &str) -> Vec<Endpoint> {
    let mut out = Vec::new();
    let mut seen: Vec<(usize, String)> = vec![(ns, dev.to_string())];
    match w.nss[ns].ns.link(dev).map(|l| &l.kind) {
        Some(LinkKind::Bridge(_)) => {
            // Frames the bridge itself sends get its own PVID, then each port's egress rule.
            let tag = bridge::own_ingress_tag(w, ns, dev);
            for p in bridge::ports(w, ns, dev) {
                if bridge::port_forwarding(w, ns, &p) {
                    if let Some(t) = bridge::egress_tag(w, ns, dev, &p, tag) {
                        wire(w, ns, &p, t, &mut out, &mut seen);
                    }
                }
            }
        }
        _ => match vlan_parent(w, ns, dev) {
            Some((parent, id)) => wire(w, ns, &parent, Some(id), &mut out, &mut seen),
            None => wire(w, ns, dev, None, &mut out, &mut seen),
        },
    }
    out
}

/// Follows the wire from `dev` of `ns` (a frame carrying `tag`) to its far end, through bridges.
fn wire(w: &World, ns: usize, dev: &str, tag: Option<u16>, out: &mut Vec<Endpoint>, seen: &mut Vec<(usize, String)>) {
    let Some((pns, pdev)) = w.nss[ns].veth_peer.get(dev).map(|(a, b)| (*a, b.clone())) else { return };
    if !up(w, pns, &pdev) {
        return;
    }
    match bridge::bridge_of(w, pns, &pdev) {
        Some(br) => {
            if !bridge::port_forwarding(w, pns, &pdev) || !up(w, pns, &br) || seen.contains(&(pns, pdev.clone())) {
                return;
            }
            seen.push((pns, pdev.clone()));
            let Some(tag) = bridge::ingress_tag(w, pns, &br, &pdev, tag) else { return };
            // A broadcast is delivered to the bridge's own stack and flooded to its other ports.
            if let Some(local) = bridge::local_rx_dev(w, pns, &br, tag) {
                if !seen.contains(&(pns, local.clone())) {
                    seen.push((pns, local.clone()));
                    out.push(Endpoint { ns: pns, dev: local });
                }
            }
            for q in bridge::ports(w, pns, &br) {
                if q != pdev && bridge::port_forwarding(w, pns, &q) {
                    if let Some(t) = bridge::egress_tag(w, pns, &br, &q, tag) {
                        wire(w, pns, &q, t, out, seen);
                    }
                }
            }
        }
        None => {
            let Some(rx) = rx_dev(w, pns, &pdev, tag) else { return };
            if up(w, pns, &rx) && !seen.contains(&(pns, rx.clone())) {
                seen.push((pns, rx.clone()));
                out.push(Endpoint { ns: pns, dev: rx });
            }
        }
    }
}

/// Why `ep` answers an ARP request for `target` from `sender`, if it does (`arp_process`:
/// a local address, subject to `arp_ignore`; or proxy ARP when the route to the target leaves
/// by another device, `arp_fwd_proxy`).
pub(crate) fn answers_arp(w: &World, ep: &Endpoint, target: Ipv4Addr, sender: Ipv4Addr) -> Option<String> {
    let nsp = &w.nss[ep.ns];
    let link = nsp.ns.link(&ep.dev)?;
    if !link.up || link.noarp || target.is_loopback() {
        return None;
    }
    if nsp.router.addr_type(target, None) == RouteType::Local {
        let ignore = nsp.ns.sysctls.conf(&ep.dev, "arp_ignore").0.max(nsp.ns.sysctls.conf_all("arp_ignore").0);
        let on_dev = nsp.ns.addrs_of(&ep.dev).any(|a| a.local == target);
        if ignore == 0 || on_dev {
            return Some(format!("{}:{} owns {target}", nsp.ns.name, ep.dev));
        }
        return None;
    }
    if nsp.dev_flags.get(ep.dev.as_str()).is_some_and(|f| f.0) {
        let key = FlowKey { dst: target, src: Some(sender), iif: Some(ep.dev.clone()), trace: false, ..Default::default() };
        if let Decision::Unicast { dev, .. } = nsp.router.input(&key).decision {
            if dev != ep.dev {
                return Some(format!("{}:{} answers by proxy ARP (its route to {target} leaves by {dev})", nsp.ns.name, ep.dev));
            }
        }
    }
    None
}

/// The MAC a frame to `target` sent on `dev` of `ns` carries: a static neighbour entry, else the
/// first endpoint of the segment that answers ARP, else a cached entry. `Err` says why none.
pub(crate) fn resolve(w: &World, ns: usize, dev: &str, target: Ipv4Addr, sender: Ipv4Addr) -> Result<(Mac, String), String> {
    let nsd = &w.nss[ns].ns;
    let cached = nsd.neighs.iter().find(|n| n.dst == target && n.dev == dev && n.usable());
    if let Some(n) = cached {
        if n.state.iter().any(|s| s == "PERMANENT" || s == "NOARP") {
            let mac = n.lladdr.unwrap_or(Mac::BROADCAST);
            return Ok((mac, format!("static neighbour {target} lladdr {mac} on {dev}")));
        }
    }
    for ep in segment(w, ns, dev) {
        if ep.ns == ns && ep.dev == dev {
            continue;
        }
        if let Some(why) = answers_arp(w, &ep, target, sender) {
            if let Some(mac) = mac_of(w, ep.ns, &ep.dev) {
                return Ok((mac, format!("ARP: {why}, MAC {mac}")));
            }
        }
    }
    if let Some(n) = cached {
        let mac = n.lladdr.unwrap_or(Mac::BROADCAST);
        return Ok((mac, format!("cached neighbour {target} lladdr {mac} ({}); nothing in the model answers ARP for it", n.state.join(","))));
    }
    Err(format!("nobody on the segment of {dev} answers ARP for {target}"))
}

/// A routed packet sent on a veth whose peer is a bridge port: resolve the nexthop's MAC across
/// the bridge, then send the frame.
pub(crate) fn xmit_resolved(r: &mut Run, ns: usize, dev: &str, mut skb: Skb, nexthop: Ipv4Addr) -> End {
    match resolve(r.w, ns, dev, nexthop, skb.pkt.src) {
        Ok((mac, how)) => {
            skb.pkt.eth_src = mac_of(r.w, ns, dev);
            skb.pkt.eth_dst = Some(mac);
            let d = dev.to_string();
            r.step(ns, || StepKind::Device { dev: d, action: format!("neighbour {nexthop}: {how}") });
            // An 802.1Q device tags the frame and sends it on its parent (`vlan_dev_hard_start_xmit`).
            match vlan_parent(r.w, ns, dev) {
                Some((parent, id)) => {
                    skb.l2.vlan = Some(id);
                    let d = dev.to_string();
                    r.step(ns, || StepKind::Device { dev: d, action: format!("802.1Q: tagged VLAN {id}, sent on {parent}") });
                    send_on_wire(r, ns, &parent, skb)
                }
                None => send_on_wire(r, ns, dev, skb),
            }
        }
        Err(why) => {
            let d = dev.to_string();
            r.step(ns, || StepKind::Device { dev: d, action: format!("no neighbour: {why}") });
            End::Dropped { ns, reason: DropReason::NoNeighbour, local_out: false }
        }
    }
}

/// A frame (MACs set) leaves `dev` of `ns`: into a VXLAN device, across a veth, or into the
/// underlay.
pub(crate) fn send_on_wire(r: &mut Run, ns: usize, dev: &str, skb: Skb) -> End {
    let w = r.w;
    if matches!(w.nss[ns].ns.link(dev).map(|l| &l.kind), Some(LinkKind::Vxlan(_))) {
        return crate::engine::device::vxlan::xmit_frame(r, ns, dev, skb);
    }
    match w.nss[ns].veth_peer.get(dev) {
        Some((pns, pdev)) => cross(r, ns, dev, *pns, pdev, skb),
        None if underlay::is_member(w, ns, dev) => {
            let nh = skb.pkt.dst;
            underlay::send(r, ns, dev, skb, nh)
        }
        None => {
            let d = dev.to_string();
            r.step_pkt(ns, &skb.pkt, || StepKind::Device { dev: d.clone(), action: "sent; nothing modelled behind this device".into() });
            End::Exited { ns, dev: dev.to_string(), skb }
        }
    }
}

/// A frame crosses a veth (`veth_xmit` -> `__dev_forward_skb`, `skb_scrub_packet`): conntrack
/// and bridge info are dropped, the mark too when the namespace changes. On the far side a
/// bridge port hands it to its bridge; any other device drops a frame for another MAC
/// (`ip_rcv_core`: PACKET_OTHERHOST).
pub(crate) fn cross(r: &mut Run, ns: usize, dev: &str, pns: usize, pdev: &str, mut skb: Skb) -> End {
    r.hops += 1;
    if r.hops > crate::engine::device::MAX_BRIDGE_HOPS {
        return End::Dropped { ns, reason: DropReason::Loop, local_out: false };
    }
    let w = r.w;
    let xnet = pns != ns;
    if r.full {
        let (d, pname, pd) = (dev.to_string(), w.nss[pns].ns.name.clone(), pdev.to_string());
        let named = underlay::ns_label(w, pns);
        r.step(ns, || StepKind::Device {
            dev: d,
            action: format!("veth: to {pname}:{pd}{named}{}", if xnet { " (conntrack and mark cleared)" } else { " (conntrack cleared)" }),
        });
    }
    skb.ct = crate::engine::conntrack::SkbCt::None;
    skb.l2.nf_bridge = None;
    if xnet {
        skb.mark = 0;
    }
    skb.iif = Some(pdev.to_string());
    if matches!(skb.owner, crate::engine::flow::Owner::Client | crate::engine::flow::Owner::Server | crate::engine::flow::Owner::Kernel) {
        skb.owner = crate::engine::flow::Owner::Foreign;
    }
    if bridge::bridge_of(w, pns, pdev).is_some() {
        return bridge::port_rx(r, pns, pdev, skb);
    }
    // A tagged frame is received by the 802.1Q device for its VLAN (`vlan_do_receive`).
    let rx = match rx_dev(w, pns, pdev, skb.l2.vlan) {
        Some(d) => d,
        None => {
            let (pd, vid) = (pdev.to_string(), skb.l2.vlan.unwrap_or(0));
            r.step(pns, || StepKind::Device { dev: pd, action: format!("frame tagged VLAN {vid} and no 802.1Q device for it here: dropped") });
            return End::Dropped { ns: pns, reason: DropReason::OtherHost, local_out: false };
        }
    };
    if rx != pdev {
        let (pd, rxd) = (pdev.to_string(), rx.clone());
        r.step(pns, || StepKind::Device { dev: pd, action: format!("802.1Q: VLAN {} received on {rxd}, tag removed", skb.l2.vlan.unwrap_or(0)) });
        skb.l2.vlan = None;
        skb.iif = Some(rx.clone());
    }
    let pdev = rx.as_str();
    let pmac = mac_of(w, pns, pdev);
    if let (Some(d), Some(m)) = (skb.pkt.eth_dst, pmac) {
        if d != m && d != Mac::BROADCAST && !w.nss[pns].ns.link(pdev).is_some_and(|l| l.promisc) {
            let pd = pdev.to_string();
            r.step(pns, || StepKind::Device { dev: pd, action: format!("frame for MAC {d}, not this device's {m}: PACKET_OTHERHOST, dropped by ip_rcv") });
            return End::Dropped { ns: pns, reason: DropReason::OtherHost, local_out: false };
        }
    }
    r.receive(pns, skb, false)
}

/// A hook's end as the end of the packet's walk (`None`: the packet goes on).
pub(crate) fn hook_end(ns: usize, he: HookEnd, local_out: bool) -> Option<End> {
    match he {
        HookEnd::Continue => None,
        HookEnd::Drop(reason) => Some(End::Dropped { ns, reason, local_out }),
        HookEnd::Reject(answer) => Some(End::Answered { ns, answer, reason: DropReason::Rule, local_out }),
        HookEnd::RouteFail { reason, errno } => Some(End::SendError { ns, errno, reason }),
        HookEnd::Indet(why) => Some(End::Indeterminate { why }),
    }
}
