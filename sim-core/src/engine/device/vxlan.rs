//! VXLAN (`drivers/net/vxlan/vxlan_core.c`), as flannel.1 and vxlan.calico use it
//! (netfilter-model.md §6.3).
//!
//! Sending: the nexthop's MAC comes from a neighbour entry on the device (flannel writes one per
//! remote node); an unknown neighbour would need ARP, which finds no fdb entry for the broadcast
//! address and is dropped. The MAC's fdb entry (`self`) names the remote VTEP; the outer UDP
//! packet (source: the device's `local`, destination port: the device's port, 8472 when 0) is
//! routed with the inner packet's mark and sent by this host: it walks OUTPUT and POSTROUTING
//! like any locally generated packet (`vxlan_xmit_one`, `udp_tunnel_xmit_skb`, `ip_local_out`).
//!
//! Receiving: the outer packet must pass LOCAL_IN to reach the VXLAN socket; the VNI picks the
//! device, the inner frame must be addressed to the device's MAC (`vxlan_rcv`), and it is
//! received on the device with the outer skb's mark (same namespace: `skb_scrub_packet(skb,
//! false)`).

use crate::engine::conntrack::SkbCt;
use crate::engine::device::l2::mac_of;
use crate::engine::device::{bridge, tunnel_route, Encap, EncapKind, L2Meta, TunnelRoute, TunnelWords};
use crate::engine::flow::{End, Owner, Run, Skb};
use crate::engine::route_api::FlowKey;
use crate::model::link::{LinkKind, VxlanInfo};
use crate::model::packet::{Packet, IPPROTO_UDP};
use crate::model::types::Mac;
use crate::trace::{DropReason, StepKind};
use std::net::Ipv4Addr;

/// The kernel's default VXLAN port (`vxlan` module parameter `udp_port`).
pub const VXLAN_DEFAULT_PORT: u16 = 8472;

const ZERO_MAC: Mac = Mac([0; 6]);

fn info<'w>(r: &Run<'w>, ns: usize, dev: &str) -> Option<&'w VxlanInfo> {
    match &r.w.nss[ns].ns.link(dev)?.kind {
        LinkKind::Vxlan(v) => Some(v),
        _ => None,
    }
}

fn port_of(v: &VxlanInfo) -> u16 {
    if v.dstport == 0 {
        VXLAN_DEFAULT_PORT
    } else {
        v.dstport
    }
}

/// A packet routed out a VXLAN device toward `nexthop`.
pub(crate) fn xmit_routed(r: &mut Run, ns: usize, dev: &str, mut skb: Skb, nexthop: Ipv4Addr) -> End {
    let w = r.w;
    let nsd = &w.nss[ns].ns;
    let neigh = nsd.neighs.iter().find(|n| n.dst == nexthop && n.dev == dev && n.usable());
    let mac = match neigh {
        Some(n) => {
            let mac = n.lladdr.unwrap_or(ZERO_MAC);
            let (d, st) = (dev.to_string(), n.state.join(","));
            r.step(ns, || StepKind::Device { dev: d, action: format!("neighbour {nexthop} lladdr {mac} {st}") });
            mac
        }
        None => {
            let d = dev.to_string();
            if nsd.fdb.iter().any(|e| e.dev == dev && e.mac == ZERO_MAC) {
                return End::Indeterminate {
                    why: format!("{}: no neighbour for {nexthop} on {dev}: ARP flooded to the default VXLAN destinations is not modelled", nsd.name),
                };
            }
            r.step(ns, || StepKind::Device {
                dev: d,
                action: format!("no neighbour for {nexthop}: the ARP request (broadcast) has no fdb entry to go to, vxlan_xmit drops it"),
            });
            return End::Dropped { ns, reason: DropReason::NoNeighbour, local_out: false };
        }
    };
    skb.pkt.eth_src = mac_of(w, ns, dev);
    skb.pkt.eth_dst = Some(mac);
    xmit_frame(r, ns, dev, skb)
}

/// `vxlan_xmit`: an Ethernet frame on the device, encapsulated to the VTEP its fdb names.
pub(crate) fn xmit_frame(r: &mut Run, ns: usize, dev: &str, skb: Skb) -> End {
    let w = r.w;
    let nsd = &w.nss[ns].ns;
    let name = nsd.name.clone();
    let Some(v) = info(r, ns, dev) else { return End::Indeterminate { why: format!("{name}: {dev} is not a VXLAN device") } };
    let Some(mac) = skb.pkt.eth_dst else { return End::Indeterminate { why: format!("{name}: a frame on {dev} without a destination MAC") } };
    let entries: Vec<&crate::model::fdb::FdbEntry> = nsd.fdb.iter().filter(|e| e.dev == dev && e.master.is_none() && e.mac == mac && e.dst.is_some()).collect();
    let (entries, how) = if entries.is_empty() {
        let dflt: Vec<&crate::model::fdb::FdbEntry> =
            nsd.fdb.iter().filter(|e| e.dev == dev && e.master.is_none() && e.mac == ZERO_MAC && e.dst.is_some()).collect();
        (dflt, "the default (00:00:00:00:00:00) entry")
    } else {
        (entries, "its fdb entry")
    };
    let (remote, port, vni, entry_text) = match entries.as_slice() {
        [e] => {
            let dst = e.dst.unwrap_or(Ipv4Addr::UNSPECIFIED);
            let text =
                format!("{} dst {dst}{} self{}", e.mac, e.port.map(|p| format!(" port {p}")).unwrap_or_default(), if e.permanent { " permanent" } else { "" });
            (dst, e.port.unwrap_or(port_of(v)), e.vni.unwrap_or(v.vni), text)
        }
        [] => match v.remote {
            Some(rem) if nsd.fdb.is_empty() => {
                r.assume(ns, format!("no fdb imported: {dev} sends to its configured remote {rem}"));
                (rem, port_of(v), v.vni, format!("remote {rem} of {dev}"))
            }
            _ => {
                let d = dev.to_string();
                r.step(ns, || StepKind::Device {
                    dev: d,
                    action: format!("vxlan: no fdb entry for {mac} and no default destination: dropped (vxlan_xmit, tx_dropped)"),
                });
                return End::Dropped { ns, reason: DropReason::NoNeighbour, local_out: false };
            }
        },
        many => {
            return End::Indeterminate {
                why: format!("{name}: {dev} has {} fdb destinations for {mac}: replication to several VTEPs is not modelled", many.len()),
            };
        }
    };
    if remote.is_unspecified() {
        let d = dev.to_string();
        r.step(ns, || StepKind::Device { dev: d, action: format!("vxlan: fdb entry for {mac} has no destination address: dropped") });
        return End::Dropped { ns, reason: DropReason::NoNeighbour, local_out: false };
    }
    if !r.dev.encap() {
        return End::Dropped { ns, reason: DropReason::Loop, local_out: false };
    }
    let lo = v.port_range.map(|p| p.0).filter(|p| *p != 0).unwrap_or(w.nss[ns].port_lo);
    let key = FlowKey {
        dst: remote,
        src: v.local,
        mark: skb.mark,
        proto: IPPROTO_UDP,
        sport: lo,
        dport: port,
        trace: r.full,
        uid: Some(0),
        anysrc: false,
        ..Default::default()
    };
    let words = TunnelWords {
        kind: "vxlan",
        remote: "the remote ",
        endpoint: "the remote ",
        looped: "ELOOP",
        no_route: " (vxlan_get_route, tx_errors)",
        broadcast: "VXLAN to a broadcast remote",
    };
    let (src, rr) = match tunnel_route(r, ns, dev, &key, v.local, &words) {
        Ok((TunnelRoute::Via(src), rr)) => (src, rr),
        Ok((TunnelRoute::Local(src), _)) => {
            // `vxlan_encap_bypass`: a local remote hands the frame straight to the device.
            let Some(to) = nsd.links.iter().find(|l| matches!(&l.kind, LinkKind::Vxlan(x) if x.vni == vni && port_of(x) == port)).map(|l| l.name.clone())
            else {
                return End::Dropped { ns, reason: DropReason::NoListener, local_out: false };
            };
            let d = dev.to_string();
            r.step(ns, || StepKind::Device {
                dev: d,
                action: format!("vxlan: the remote {remote} is local: the frame goes straight to {to} (vxlan_encap_bypass)"),
            });
            let _ = src;
            return receive_inner(r, ns, &to, skb);
        }
        Err(end) => return end,
    };
    r.assume(ns, format!("VXLAN outer source port {lo} (the kernel hashes the inner flow into the port range)"));
    let outer = Packet {
        src,
        dst: remote,
        proto: IPPROTO_UDP,
        sport: lo,
        dport: port,
        icmp_type: 0,
        icmp_code: 0,
        tcp_flags: 0,
        ttl: w.nss[ns].default_ttl,
        tos: 0,
        len: skb.pkt.len.saturating_add(50),
        frag_off: 0,
        eth_src: None,
        eth_dst: None,
    };
    if r.full {
        let (d, ip) = (dev.to_string(), &skb.pkt);
        let text = format!(
            "vxlan: inner {} -> {} (MAC {mac}) encapsulated by {how} {entry_text}: outer {src}:{lo} -> {remote}:{port} udp, vni {vni}; sent by this host (OUTPUT, POSTROUTING) with mark 0x{:x}",
            ip.src, ip.dst, skb.mark
        );
        r.step_pkt(ns, &outer, || StepKind::Device { dev: d, action: text });
    }
    let mark = skb.mark;
    let outer_skb = Skb {
        pkt: outer,
        mark,
        iif: None,
        ct: SkbCt::None,
        inner: None,
        owner: Owner::Kernel,
        l2: L2Meta { nf_bridge: None, vlan: None, encap: Some(Box::new(Encap { inner: skb, kind: EncapKind::Vxlan { vni } })) },
    };
    r.local_out(ns, outer_skb, Some(rr))
}

/// `vxlan_rcv`: the outer packet passed LOCAL_IN of `ns`.
pub(crate) fn rcv(r: &mut Run, ns: usize, mut skb: Skb, vni: u32) -> End {
    let w = r.w;
    let nsd = &w.nss[ns].ns;
    let port = skb.pkt.dport;
    let on_port: Vec<&crate::model::link::Link> = nsd.links.iter().filter(|l| matches!(&l.kind, LinkKind::Vxlan(x) if port_of(x) == port) && l.up).collect();
    if skb.pkt.proto != IPPROTO_UDP || on_port.is_empty() {
        let text = format!("a VXLAN packet to udp port {port}, where no VXLAN device of this namespace listens: the kernel answers ICMP port unreachable and the frame is lost");
        r.step(ns, || StepKind::Note { text });
        return End::Dropped { ns, reason: DropReason::NoListener, local_out: false };
    }
    let Some(dev) = on_port.iter().find(|l| matches!(&l.kind, LinkKind::Vxlan(x) if x.vni == vni)) else {
        let text = format!("vxlan: no device with VNI {vni} on port {port}: dropped (vxlan_vs_find_vni)");
        r.step(ns, || StepKind::Note { text });
        return End::Dropped { ns, reason: DropReason::NoListener, local_out: false };
    };
    let dev = dev.name.clone();
    let Some(enc) = skb.l2.encap.take() else { return End::Indeterminate { why: "internal: no encapsulated frame".into() } };
    let mut inner = enc.inner;
    // Same namespace: `skb_scrub_packet(skb, false)` keeps the mark the outer skb has here.
    inner.mark = skb.mark;
    if r.full {
        let (d, o) = (dev.clone(), skb.pkt.clone());
        r.step_pkt(ns, &inner.pkt, || StepKind::Device {
            dev: d,
            action: format!(
                "vxlan: outer {}:{} -> {}:{} vni {vni} decapsulated; inner {} -> {} received on this device",
                o.src, o.sport, o.dst, o.dport, inner.pkt.src, inner.pkt.dst
            ),
        });
    }
    receive_inner(r, ns, &dev, inner)
}

/// The inner frame arrives on VXLAN device `dev`.
fn receive_inner(r: &mut Run, ns: usize, dev: &str, mut inner: Skb) -> End {
    let w = r.w;
    let own = mac_of(w, ns, dev);
    if inner.pkt.eth_src.is_some() && inner.pkt.eth_src == own {
        let d = dev.to_string();
        r.step(ns, || StepKind::Device { dev: d, action: "vxlan: the inner source MAC is this device's own: dropped".into() });
        return End::Dropped { ns, reason: DropReason::OtherHost, local_out: false };
    }
    inner.ct = SkbCt::None;
    inner.l2 = L2Meta::default();
    inner.iif = Some(dev.to_string());
    inner.owner = Owner::Foreign;
    if bridge::bridge_of(w, ns, dev).is_some() {
        return bridge::port_rx(r, ns, dev, inner);
    }
    if let (Some(d), Some(m)) = (inner.pkt.eth_dst, own) {
        if d != m && d != Mac::BROADCAST {
            let dd = dev.to_string();
            r.step(ns, || StepKind::Device {
                dev: dd,
                action: format!("vxlan: the inner frame is for MAC {d}, not this device's {m}: PACKET_OTHERHOST, dropped by ip_rcv"),
            });
            return End::Dropped { ns, reason: DropReason::OtherHost, local_out: false };
        }
    }
    r.receive(ns, inner, false)
}
