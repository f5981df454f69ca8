//! The network between nodes when no namespace models it (interface.md §2, `underlay:`):
//! networks of node uplinks, 1:1 cloud NAT of public addresses, and security-group style allow
//! lists (stateful, as cloud security groups are: a member's replies come back). It is not a
//! kernel: it is the cloud or the LAN a cluster file describes, and traces say so.
//!
//! A packet sent out an uplink goes to the member of a shared network that owns the nexthop
//! (a LAN neighbour), else the fabric routes it by destination: a member of a shared network, or
//! a public address that the cloud maps to a member (the destination is rewritten, and the
//! source too when the sender has a public address of its own). A member address in no shared
//! network is unreachable (the packet is lost); an address nothing in the model owns leaves the
//! model.

use crate::engine::conntrack::SkbCt;
use crate::engine::device::{bridge, l2};
use crate::engine::flow::{End, Owner, Run, Skb};
use crate::engine::World;
use crate::model::link::LinkKind;
use crate::model::packet::{IPPROTO_TCP, IPPROTO_UDP};
use crate::trace::{DropReason, StepKind};
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// What a cluster file adds to a world.
#[derive(Clone, Debug, Default)]
pub struct ClusterMeta {
    pub underlay: Option<Underlay>,
    /// Names for addresses (pods, from the cluster file or kube-proxy comments), shown in traces.
    pub names: BTreeMap<Ipv4Addr, String>,
    /// Names for namespaces (a pod's name when its namespace is named otherwise).
    pub ns_names: BTreeMap<String, String>,
}

/// One uplink: a device of a namespace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    pub ns: String,
    pub dev: String,
}

impl std::fmt::Display for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.ns, self.dev)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Underlay {
    pub networks: Vec<(String, Vec<Member>)>,
    /// Public address -> the member the cloud maps it to.
    pub nat: Vec<(Ipv4Addr, Member)>,
    pub filters: Vec<(Member, Vec<Allow>)>,
    /// True when the networks were not given and every uplink reaches every other.
    pub implicit: bool,
}

/// One allow rule of a member's filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allow {
    pub from: Option<Ipv4Net>,
    pub proto: Option<u8>,
    pub ports: Option<(u16, u16)>,
}

impl Allow {
    fn allows(&self, src: Ipv4Addr, proto: u8, dport: u16) -> bool {
        self.from.is_none_or(|n| n.contains(&src))
            && self.proto.is_none_or(|p| p == proto)
            && self.ports.is_none_or(|(lo, hi)| (proto == IPPROTO_TCP || proto == IPPROTO_UDP) && lo <= dport && dport <= hi)
    }
}

fn member_of(w: &World, ns: usize, dev: &str) -> Member {
    Member { ns: w.nss[ns].ns.name.clone(), dev: dev.to_string() }
}

/// Whether `dev` of `ns` is an uplink of the underlay.
pub(crate) fn is_member(w: &World, ns: usize, dev: &str) -> bool {
    let Some(u) = &w.cluster.underlay else { return false };
    let m = member_of(w, ns, dev);
    u.networks.iter().any(|(_, ms)| ms.contains(&m))
}

/// A member's addresses: on the device, or on its bridge when it is a bridge port.
fn addrs(w: &World, m: &Member) -> Vec<Ipv4Addr> {
    let Some(&i) = w.index.get(&m.ns) else { return vec![] };
    let nsd = &w.nss[i].ns;
    let dev = bridge::bridge_of(w, i, &m.dev).unwrap_or_else(|| m.dev.clone());
    nsd.addrs_of(&dev).map(|a| a.local).collect()
}

/// ` (pod NAME)` when the namespace is a named pod, for step texts.
pub(crate) fn ns_label(w: &World, ns: usize) -> String {
    match w.cluster.ns_names.get(&w.nss[ns].ns.name) {
        Some(n) => format!(" (pod {n})"),
        None => String::new(),
    }
}

/// Sends a packet out uplink `dev` of `ns` toward `nexthop`.
pub(crate) fn send(r: &mut Run, ns: usize, dev: &str, mut skb: Skb, nexthop: Ipv4Addr) -> End {
    let w = r.w;
    let Some(u) = &w.cluster.underlay else { return End::Exited { ns, dev: dev.to_string(), skb } };
    let me = member_of(w, ns, dev);
    let p = &skb.pkt;
    r.dev.underlay_sent.push((me.to_string(), p.src, p.dst, p.proto, p.sport, p.dport));
    let mine: Vec<&str> = u.networks.iter().filter(|(_, ms)| ms.contains(&me)).map(|(n, _)| n.as_str()).collect();
    let shared = |m: &Member| u.networks.iter().any(|(n, ms)| mine.contains(&n.as_str()) && ms.contains(m));
    let all: Vec<&Member> = u.networks.iter().flat_map(|(_, ms)| ms.iter()).collect();
    let owner_of = |ip: Ipv4Addr| all.iter().find(|m| **m != &me && addrs(w, m).contains(&ip)).map(|m| (*m).clone());
    let net_label = if u.implicit { "the underlay".to_string() } else { format!("underlay network {}", mine.join(",")) };
    // A LAN neighbour owns the nexthop.
    let target = match owner_of(nexthop).filter(|m| shared(m)) {
        Some(m) => {
            let text = format!("{net_label}: {nexthop} is {}'s address", fmt_m(w, &m));
            Some((m, text))
        }
        None => None,
    };
    let target = match target {
        Some(t) => t,
        None => {
            let dst = skb.pkt.dst;
            match owner_of(dst) {
                Some(m) if shared(&m) => {
                    let text = format!("{net_label} routes {dst} to {}", fmt_m(w, &m));
                    (m, text)
                }
                Some(m) => {
                    let nets: Vec<&str> = u.networks.iter().filter(|(_, ms)| ms.contains(&m)).map(|(n, _)| n.as_str()).collect();
                    let text = format!(
                        "{dst} is {}'s address in underlay network {}, which {me} (network {}) cannot reach: the packet is lost",
                        fmt_m(w, &m),
                        nets.join(","),
                        mine.join(",")
                    );
                    let d = dev.to_string();
                    r.step_pkt(ns, &skb.pkt, || StepKind::Device { dev: d, action: text });
                    return End::Dropped { ns, reason: DropReason::UnderlayUnreachable, local_out: false };
                }
                None => match u.nat.iter().find(|(p, _)| *p == dst) {
                    Some((public, m)) => {
                        let Some(to) = addrs(w, m).first().copied() else {
                            return End::Indeterminate { why: format!("cloud NAT {public} -> {m}: {m} has no address") };
                        };
                        skb.pkt.dst = to;
                        let mut text = format!("cloud NAT: destination {public} -> {to} ({})", fmt_m(w, m));
                        if !shared(m) {
                            if let Some((mp, _)) = u.nat.iter().find(|(_, x)| *x == me) {
                                text.push_str(&format!("; source {} -> {mp} ({me}'s public address)", skb.pkt.src));
                                skb.pkt.src = *mp;
                            }
                        }
                        (m.clone(), text)
                    }
                    None => {
                        let d = dev.to_string();
                        let text = format!("sent into {net_label}; nothing in the model owns {dst}");
                        r.step_pkt(ns, &skb.pkt, || StepKind::Device { dev: d, action: text });
                        return End::Exited { ns, dev: dev.to_string(), skb };
                    }
                },
            }
        }
    };
    let (to, mut text) = target;
    // The cloud's return path: a member with a public address, talking to a member it does not
    // share a network with, is seen from its public address.
    if !shared(&to) && !text.contains("source") {
        if let Some((mp, _)) = u.nat.iter().find(|(_, x)| *x == me) {
            text.push_str(&format!("; source {} -> {mp} ({me}'s public address)", skb.pkt.src));
            skb.pkt.src = *mp;
        }
    }
    deliver(r, ns, dev, skb, &to, text)
}

fn fmt_m(w: &World, m: &Member) -> String {
    match w.cluster.ns_names.get(&m.ns) {
        Some(n) => format!("{m} (pod {n})"),
        None => m.to_string(),
    }
}

fn deliver(r: &mut Run, ns: usize, dev: &str, mut skb: Skb, to: &Member, text: String) -> End {
    let w = r.w;
    let Some(u) = &w.cluster.underlay else { return End::Exited { ns, dev: dev.to_string(), skb } };
    let Some(&tns) = w.index.get(&to.ns) else { return End::Indeterminate { why: format!("underlay member {to}: no such namespace") } };
    let d = dev.to_string();
    r.step_pkt(ns, &skb.pkt, || StepKind::Device { dev: d, action: text });
    let p = &skb.pkt;
    // Security groups are stateful: the reply to a packet the member sent is let in.
    let key = to.to_string();
    let reply =
        r.dev.underlay_sent.iter().any(|(m, s, d, pr, sp, dp)| *m == key && *s == p.dst && *d == p.src && *pr == p.proto && *sp == p.dport && *dp == p.sport);
    for (m, allow) in &u.filters {
        if m == to && !reply && !allow.iter().any(|a| a.allows(skb.pkt.src, skb.pkt.proto, skb.pkt.dport)) {
            let text = format!(
                "the underlay filter (security group) of {to} allows no rule for {} from {}{}: dropped",
                crate::model::types::proto_name(skb.pkt.proto).unwrap_or("?"),
                skb.pkt.src,
                if skb.pkt.proto == IPPROTO_TCP || skb.pkt.proto == IPPROTO_UDP { format!(" to port {}", skb.pkt.dport) } else { String::new() }
            );
            let d = dev.to_string();
            r.step(ns, || StepKind::Device { dev: d, action: text });
            return End::Dropped { ns, reason: DropReason::UnderlayFilter, local_out: false };
        }
    }
    r.hops += 1;
    if r.hops > crate::engine::device::MAX_BRIDGE_HOPS {
        return End::Dropped { ns, reason: DropReason::Loop, local_out: false };
    }
    skb.ct = SkbCt::None;
    skb.mark = 0;
    skb.l2.nf_bridge = None;
    skb.pkt.eth_src = l2::mac_of(w, ns, dev);
    skb.pkt.eth_dst = l2::mac_of(w, tns, &to.dev);
    skb.iif = Some(to.dev.clone());
    skb.owner = Owner::Foreign;
    if matches!(w.nss[tns].ns.link(&to.dev).map(|l| &l.kind), Some(LinkKind::Bridge(_))) {
        return End::Indeterminate { why: format!("underlay member {to} is a bridge; name its uplink port instead") };
    }
    if bridge::bridge_of(w, tns, &to.dev).is_some() {
        // The frame is for the address on the bridge: its MAC.
        skb.pkt.eth_dst = bridge::bridge_of(w, tns, &to.dev).and_then(|b| l2::mac_of(w, tns, &b));
        return bridge::port_rx(r, tns, &to.dev, skb);
    }
    r.receive(tns, skb, false)
}
