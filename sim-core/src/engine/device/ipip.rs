//! IPIP (`net/ipv4/ipip.c`, `ip_tunnel.c`), as calico's `tunl0` uses it (netfilter-model.md
//! §6.4). `tunl0` has no remote (NBMA): the outer destination is the inner route's nexthop, the
//! gateway of `<block> via <node> dev tunl0 onlink` (`ip_tunnel_xmit`). The outer route lookup
//! uses the tunnel's fwmark (0), not the packet's mark, but the mark stays on the skb
//! (`iptunnel_xmit` scrubs within the namespace). The outer packet (protocol 4) is sent by this
//! host through OUTPUT and POSTROUTING. A receiving host delivers it locally (LOCAL_IN must
//! accept it), finds the tunnel by its endpoints or falls back to an UP `tunl0`
//! (`ip_tunnel_lookup`), and receives the inner packet on it.

use crate::engine::conntrack::SkbCt;
use crate::engine::device::{tunnel_route, Encap, EncapKind, L2Meta, TunnelRoute, TunnelWords};
use crate::engine::flow::{End, Owner, Run, Skb};
use crate::engine::route_api::FlowKey;
use crate::model::link::{LinkKind, TunnelInfo};
use crate::model::packet::{Packet, IPPROTO_IPIP};
use crate::trace::{DropReason, StepKind};
use std::net::Ipv4Addr;

fn info<'w>(r: &Run<'w>, ns: usize, dev: &str) -> Option<&'w TunnelInfo> {
    match &r.w.nss[ns].ns.link(dev)?.kind {
        LinkKind::Ipip(t) => Some(t),
        _ => None,
    }
}

/// A packet routed out an IPIP device toward `nexthop`.
pub(crate) fn xmit(r: &mut Run, ns: usize, dev: &str, skb: Skb, nexthop: Ipv4Addr) -> End {
    let w = r.w;
    let name = w.nss[ns].ns.name.clone();
    let Some(t) = info(r, ns, dev) else { return End::Indeterminate { why: format!("{name}: {dev} is not an IPIP device") } };
    let remote = t.remote.unwrap_or(nexthop);
    if remote.is_unspecified() {
        return End::Dropped { ns, reason: DropReason::NoRoute, local_out: false };
    }
    if !r.dev.encap() {
        return End::Dropped { ns, reason: DropReason::Loop, local_out: false };
    }
    let key = FlowKey { dst: remote, src: t.local, mark: 0, proto: IPPROTO_IPIP, trace: r.full, uid: Some(0), ..Default::default() };
    let words = TunnelWords {
        kind: "ipip",
        remote: "",
        endpoint: "the tunnel endpoint ",
        looped: "local routing loop",
        no_route: "",
        broadcast: "IPIP to a broadcast endpoint",
    };
    let (src, rr) = match tunnel_route(r, ns, dev, &key, t.local, &words) {
        Ok((TunnelRoute::Via(src) | TunnelRoute::Local(src), rr)) => (src, rr),
        Err(end) => return end,
    };
    // `ttl inherit` (0): the inner TTL.
    let ttl = t.ttl.filter(|x| *x != 0).unwrap_or(skb.pkt.ttl);
    let outer = Packet {
        src,
        dst: remote,
        proto: IPPROTO_IPIP,
        sport: 0,
        dport: 0,
        icmp_type: 0,
        icmp_code: 0,
        tcp_flags: 0,
        ttl,
        tos: skb.pkt.tos,
        len: skb.pkt.len.saturating_add(20),
        frag_off: 0,
        eth_src: None,
        eth_dst: None,
    };
    if r.full {
        let (d, ip) = (dev.to_string(), &skb.pkt);
        let nbma = if t.remote.is_none() { " (no fixed remote: the route's gateway)" } else { "" };
        let text =
            format!("ipip: inner {} -> {} encapsulated: outer {src} -> {remote}{nbma} protocol 4; sent by this host (OUTPUT, POSTROUTING)", ip.src, ip.dst);
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
        l2: L2Meta { nf_bridge: None, vlan: None, encap: Some(Box::new(Encap { inner: skb, kind: EncapKind::Ipip })) },
    };
    r.local_out(ns, outer_skb, Some(rr))
}

/// `ipip_rcv`: the outer packet passed LOCAL_IN of `ns`.
pub(crate) fn rcv(r: &mut Run, ns: usize, mut skb: Skb) -> End {
    let w = r.w;
    let nsd = &w.nss[ns].ns;
    let (src, dst) = (skb.pkt.src, skb.pkt.dst);
    let tunnels: Vec<(&str, &TunnelInfo, bool)> = nsd
        .links
        .iter()
        .filter_map(|l| match &l.kind {
            LinkKind::Ipip(t) => Some((l.name.as_str(), t, l.up)),
            _ => None,
        })
        .collect();
    // `ip_tunnel_lookup`: both ends, then the local end, then the remote end, then the
    // fallback device, which must be UP.
    let pick = tunnels
        .iter()
        .find(|(_, t, up)| *up && t.remote == Some(src) && t.local == Some(dst))
        .or_else(|| tunnels.iter().find(|(_, t, up)| *up && t.remote.is_none() && t.local == Some(dst)))
        .or_else(|| tunnels.iter().find(|(_, t, up)| *up && t.remote == Some(src) && t.local.is_none()))
        .or_else(|| tunnels.iter().find(|(n, t, up)| *up && *n == "tunl0" && t.remote.is_none() && t.local.is_none()));
    let Some((dev, _, _)) = pick else {
        let text = "ipip: no UP tunnel device matches this outer packet: dropped".to_string();
        r.step(ns, || StepKind::Note { text });
        return End::Dropped { ns, reason: DropReason::NoListener, local_out: false };
    };
    let dev = dev.to_string();
    let Some(enc) = skb.l2.encap.take() else { return End::Indeterminate { why: "internal: no encapsulated packet".into() } };
    let mut inner = enc.inner;
    inner.mark = skb.mark;
    inner.ct = SkbCt::None;
    inner.l2 = L2Meta::default();
    inner.iif = Some(dev.clone());
    inner.owner = Owner::Foreign;
    inner.pkt.eth_src = None;
    inner.pkt.eth_dst = None;
    if r.full {
        let d = dev.clone();
        r.step_pkt(ns, &inner.pkt, || StepKind::Device {
            dev: d,
            action: format!("ipip: outer {src} -> {dst} decapsulated; inner {} -> {} received on this device", inner.pkt.src, inner.pkt.dst),
        });
    }
    r.receive(ns, inner, false)
}
