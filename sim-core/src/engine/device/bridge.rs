//! The Linux bridge (`net/bridge/br_input.c`, `br_forward.c`, `br_fdb.c`) and br_netfilter
//! (`br_netfilter_hooks.c`), as netfilter-model.md §2 and §6.2 describe them.
//!
//! A frame entering a port: the port must be forwarding; with br_netfilter on (the sysctl
//! `net.bridge.bridge-nf-call-iptables=1` or the bridge's own `nf_call_iptables`) the IPv4
//! PREROUTING hooks run with in = the bridge (`br_nf_pre_routing`), and a changed destination
//! address is routed again (`br_nf_pre_routing_finish`): back onto the bridge ("bridged DNAT",
//! only the destination MAC changes) or up the stack. Then `br_handle_frame_finish`: a local MAC
//! goes up (where `ip_sabotage_in` keeps PREROUTING from running twice), a known MAC to its port
//! (FORWARD with in = out = bridge, then POSTROUTING, `br_nf_forward_ip`, `br_nf_post_routing`),
//! an unknown one is flooded. A port never gets its own frame back unless it has hairpin mode
//! (`should_deliver`). Bridged frames keep their TTL.

use crate::engine::device::l2::{self, hook_end, mac_of};
use crate::engine::flow::{End, OutRoute, Run, Skb};
use crate::engine::hooks::Hook;
use crate::engine::route_api::{Decision, FlowKey};
use crate::engine::World;
use crate::model::link::{BridgePort, LinkKind};
use crate::model::ruleset::PhysdevMatch;
use crate::model::types::Mac;
use crate::trace::{DropReason, StepKind};
use std::net::Ipv4Addr;

/// `struct nf_bridge_info`: the ports a bridged frame came in and goes out by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NfBridge {
    pub physin: String,
    /// Set by `br_nf_forward_ip` once the frame is bridged to a port.
    pub physout: Option<String>,
}

/// `xt_physdev.c:physdev_mt`.
pub(crate) fn physdev_mt(pd: &PhysdevMatch, nb: Option<&NfBridge>) -> bool {
    let Some(nb) = nb else {
        // No bridge info: true only when every option given is inverted.
        return [pd.physdev_in.as_ref().map(|x| x.neg), pd.physdev_out.as_ref().map(|x| x.neg), pd.is_in, pd.is_out, pd.is_bridged]
            .iter()
            .flatten()
            .all(|neg| *neg);
    };
    let out = nb.physout.as_deref();
    if let Some(neg) = pd.is_bridged {
        if out.is_some() == neg {
            return false;
        }
    }
    if let Some(neg) = pd.is_in {
        // physindev is always set once the info exists.
        if neg {
            return false;
        }
    }
    if let Some(neg) = pd.is_out {
        if out.is_some() == neg {
            return false;
        }
    }
    if let Some(i) = &pd.physdev_in {
        if !i.apply(i.val.matches(Some(nb.physin.as_str()))) {
            return false;
        }
    }
    if let Some(o) = &pd.physdev_out {
        if !o.apply(o.val.matches(out)) {
            return false;
        }
    }
    true
}

/// The bridge `dev` is a port of, if any.
pub(crate) fn bridge_of(w: &World, ns: usize, dev: &str) -> Option<String> {
    let nsd = &w.nss[ns].ns;
    let m = nsd.link(dev)?.master.as_deref()?;
    matches!(nsd.link(m)?.kind, LinkKind::Bridge(_)).then(|| m.to_string())
}

/// The ports of bridge `br`, by ifindex.
pub(crate) fn ports(w: &World, ns: usize, br: &str) -> Vec<String> {
    let mut v: Vec<(u32, String)> = w.nss[ns].ns.links.iter().filter(|l| l.master.as_deref() == Some(br)).map(|l| (l.ifindex, l.name.clone())).collect();
    v.sort();
    v.into_iter().map(|(_, n)| n).collect()
}

fn brport(w: &World, ns: usize, dev: &str) -> BridgePort {
    w.nss[ns].ns.link(dev).and_then(|l| l.brport.clone()).unwrap_or_default()
}

pub(crate) fn port_forwarding(w: &World, ns: usize, dev: &str) -> bool {
    brport(w, ns, dev).state == "forwarding"
}

fn filtering(w: &World, ns: usize, br: &str) -> bool {
    matches!(w.nss[ns].ns.link(br).map(|l| &l.kind), Some(LinkKind::Bridge(b)) if b.vlan_filtering)
}

/// The VLAN a frame entering port `p` with `tag` belongs to (`br_allowed_ingress`): with VLAN
/// filtering a tagged frame must be of a VLAN of the port and an untagged one gets the port's
/// PVID; `None` when the frame is not allowed in. Without filtering the tag passes unchanged.
pub(crate) fn ingress_tag(w: &World, ns: usize, br: &str, p: &str, tag: Option<u16>) -> Option<Option<u16>> {
    if !filtering(w, ns, br) {
        return Some(tag);
    }
    let vlans = brport(w, ns, p).vlans;
    match tag {
        Some(v) => vlans.iter().any(|x| x.vid == v).then_some(Some(v)),
        None => vlans.iter().find(|x| x.pvid).map(|x| Some(x.vid)),
    }
}

/// The VLAN of frames the bridge device itself sends (its own PVID under VLAN filtering).
pub(crate) fn own_ingress_tag(w: &World, ns: usize, br: &str) -> Option<u16> {
    match w.nss[ns].ns.link(br).map(|l| &l.kind) {
        Some(LinkKind::Bridge(b)) if b.vlan_filtering => b.vlans.iter().find(|x| x.pvid).map(|x| x.vid),
        _ => None,
    }
}

/// The tag a frame of VLAN `tag` leaves port `q` with (`br_allowed_egress`, `br_handle_vlan`):
/// `None` when `q` is not a member; the tag is removed where the VLAN is egress-untagged.
pub(crate) fn egress_tag(w: &World, ns: usize, br: &str, q: &str, tag: Option<u16>) -> Option<Option<u16>> {
    if !filtering(w, ns, br) {
        return Some(tag);
    }
    let v = tag?;
    let e = brport(w, ns, q).vlans.into_iter().find(|x| x.vid == v)?;
    Some(if e.untagged { None } else { Some(v) })
}

/// Which device of the bridge's own stack receives a frame of VLAN `tag` passed up: the bridge
/// when the frame ends untagged, else its 802.1Q device for the VLAN.
pub(crate) fn local_rx_dev(w: &World, ns: usize, br: &str, tag: Option<u16>) -> Option<String> {
    let tag = if filtering(w, ns, br) {
        let v = tag?;
        let LinkKind::Bridge(b) = &w.nss[ns].ns.link(br)?.kind else { return None };
        let e = b.vlans.iter().find(|x| x.vid == v)?;
        if e.untagged {
            None
        } else {
            Some(v)
        }
    } else {
        tag
    };
    l2::rx_dev(w, ns, br, tag)
}

/// Whether iptables sees frames bridged by `br` (`br_nf_pre_routing`: the per-netns sysctl or the
/// bridge's own option). No `net.bridge.*` keys in an imported sysctl list means the module is
/// not loaded; with no sysctl list at all nfpath assumes so and says it.
fn br_nf_on(r: &mut Run, ns: usize, br: &str) -> bool {
    let nsd = &r.w.nss[ns].ns;
    let own = matches!(nsd.link(br).map(|l| &l.kind), Some(LinkKind::Bridge(b)) if b.nf_call_iptables);
    match nsd.sysctls.values.get("net.bridge.bridge-nf-call-iptables").map(|v| v.trim()) {
        Some("1") => true,
        Some(_) => own,
        None if own => true,
        None if nsd.sysctls.imported => false,
        None => {
            r.assume(ns, "no sysctl list: br_netfilter is taken as not loaded, so bridged frames bypass iptables".into());
            false
        }
    }
}

/// The fdb entries of `br` with this MAC: `(port, local, static)`.
fn local_mac(w: &World, ns: usize, br: &str, mac: Mac) -> bool {
    let nsd = &w.nss[ns].ns;
    if mac_of(w, ns, br) == Some(mac) {
        return true;
    }
    if ports(w, ns, br).iter().any(|p| mac_of(w, ns, p) == Some(mac)) {
        return true;
    }
    nsd.fdb.iter().any(|e| e.mac == mac && e.permanent && (e.master.as_deref() == Some(br) || (e.dev == br && e.master.is_none())))
}

/// The port a bridge of `ns` would forward a frame for `mac` to, and why: a static fdb entry,
/// what the bridge learned from the ARP answer (the port leading to the device with that MAC,
/// if learning is on there), a dynamic entry of the snapshot, or flooding (only the copy that
/// reaches the owner of the MAC matters; the others are OTHERHOST where they land).
fn fdb_port(w: &World, ns: usize, br: &str, mac: Mac) -> Result<(String, String), String> {
    let nsd = &w.nss[ns].ns;
    let of_br = |e: &&crate::model::fdb::FdbEntry| e.mac == mac && (e.master.as_deref() == Some(br)) && !e.is_self;
    if let Some(e) = nsd.fdb.iter().filter(of_br).find(|e| e.is_static || e.permanent) {
        return Ok((e.dev.clone(), format!("static fdb entry {mac} dev {} master {br}", e.dev)));
    }
    let toward = ports(w, ns, br).into_iter().find(|p| port_forwarding(w, ns, p) && leads_to(w, ns, p, mac));
    if let Some(p) = &toward {
        if brport(w, ns, p).learning {
            return Ok((p.clone(), format!("fdb: {mac} learned on {p}")));
        }
    }
    if let Some(e) = nsd.fdb.iter().find(of_br) {
        return Ok((e.dev.clone(), format!("fdb entry {mac} dev {} from the snapshot", e.dev)));
    }
    match toward {
        Some(p) if brport(w, ns, &p).flood => Ok((p.clone(), format!("{mac} unknown (learning is off on {p}): flooded; the copy out {p} reaches its owner"))),
        Some(p) => Err(format!("{mac} is unknown to {br} and port {p}, which leads to it, has flooding off")),
        None => Err(format!("no port of {br} leads to a device with MAC {mac}")),
    }
}

/// Whether the wire from port `p` reaches a device with `mac`.
fn leads_to(w: &World, ns: usize, p: &str, mac: Mac) -> bool {
    // `segment` of a port device follows its wire (the port itself is skipped).
    l2::segment(w, ns, p).iter().any(|ep| mac_of(w, ep.ns, &ep.dev) == Some(mac))
}

/// `flow.rs` hook: a frame received on a bridge port belongs to the bridge. The skb is handed
/// back by value when it is not the bridge's (the common case costs no allocation).
#[allow(clippy::result_large_err)]
pub(crate) fn rx_hook(r: &mut Run, ns: usize, skb: Skb) -> Result<End, Skb> {
    let Some(iif) = skb.iif.clone() else { return Err(skb) };
    if bridge_of(r.w, ns, &iif).is_none() {
        return Err(skb);
    }
    Ok(port_rx(r, ns, &iif, skb))
}

/// `br_handle_frame` for a frame arriving on `port`.
pub(crate) fn port_rx(r: &mut Run, ns: usize, port: &str, mut skb: Skb) -> End {
    let w = r.w;
    let Some(br) = bridge_of(w, ns, port) else { return End::Indeterminate { why: format!("{port} is not a bridge port") } };
    r.hops += 1;
    if r.hops > crate::engine::device::MAX_BRIDGE_HOPS {
        return End::Dropped { ns, reason: DropReason::Loop, local_out: false };
    }
    let bp = brport(w, ns, port);
    if bp.state != "forwarding" {
        let (p, st) = (port.to_string(), bp.state.clone());
        r.step(ns, || StepKind::Device { dev: p, action: format!("bridge port in state {st}: the frame is not forwarded (br_handle_frame)") });
        return End::Dropped { ns, reason: DropReason::BridgePortState, local_out: false };
    }
    if skb.pkt.eth_dst.is_none() {
        // An injected packet: addressed as the sender's ARP would have addressed it.
        let mac = if w.nss[ns].router.addr_type(skb.pkt.dst, None) == crate::model::route::RouteType::Local {
            mac_of(w, ns, &br)
        } else {
            l2::resolve(w, ns, &br, skb.pkt.dst, skb.pkt.src).ok().map(|x| x.0).or_else(|| mac_of(w, ns, &br))
        };
        skb.pkt.eth_dst = mac;
        let text = format!("the injected frame is taken to be addressed to {}", mac.map(|m| m.to_string()).unwrap_or_else(|| "?".into()));
        r.assume(ns, text);
    }
    let mut brnf = br_nf_on(r, ns, &br);
    // `br_nf_pre_routing` hands iptables only untagged IPv4 (IS_IP), or tagged IPv4 when
    // `bridge-nf-filter-vlan-tagged` is on (`is_vlan_ip`).
    let tagged_ok = w.nss[ns].ns.sysctls.values.get("net.bridge.bridge-nf-filter-vlan-tagged").map(|v| v.trim()) == Some("1");
    if brnf && skb.l2.vlan.is_some() && !tagged_ok {
        brnf = false;
        let (p, vid) = (port.to_string(), skb.l2.vlan.unwrap_or(0));
        r.step(ns, || StepKind::Device {
            dev: p,
            action: format!("the frame carries VLAN tag {vid}: br_netfilter passes it without iptables (IS_IP is false, bridge-nf-filter-vlan-tagged is off)"),
        });
    }
    if r.full {
        let (p, b) = (port.to_string(), br.clone());
        let mac = skb.pkt.eth_dst.map(|m| m.to_string()).unwrap_or_default();
        r.step(ns, || StepKind::Device {
            dev: p,
            action: format!(
                "bridge {b}: frame for MAC {mac} enters port {}{}",
                port,
                if brnf { "; br_netfilter hands it to iptables with in = the bridge" } else { "; br_netfilter is off: iptables does not see bridged frames" }
            ),
        });
    }
    if brnf {
        skb.l2.nf_bridge = Some(NfBridge { physin: port.to_string(), physout: None });
        let dst_before = skb.pkt.dst;
        let he = r.run_hook(ns, Hook::PreRouting, &mut skb, Some(&br), None, None);
        if let Some(end) = hook_end(ns, he, false) {
            return end;
        }
        // A reply of a masqueraded connection is de-SNATed right here, in the middle of the
        // bridge (`nf_nat_ipv4_pre_routing` from `br_nf_pre_routing`), whatever its way on.
        if let crate::engine::conntrack::SkbCt::Tracked { id, info } = skb.ct {
            let c = &r.ct.conns[id];
            if info.is_reply() && c.src_nat && r.full {
                let orig = crate::engine::conntrack::fmt_tuple(c.proto, &c.tuple[0]);
                let (b, dst, dport) = (br.clone(), skb.pkt.dst, skb.pkt.dport);
                r.step(ns, || StepKind::Note {
                    text: format!("{b}: this bridged frame is a reply of the SNATed connection {orig}: br_netfilter's nat PREROUTING has rewritten its destination back to {dst}:{dport} (de-SNAT) while it is being bridged"),
                });
            }
        }
        if skb.pkt.dst != dst_before {
            match pre_routing_finish(r, ns, &br, &mut skb) {
                Ok(()) => {}
                Err(end) => return end,
            }
        }
    }
    // `br_allowed_ingress`, after the PREROUTING hooks: the frame's VLAN on this bridge.
    match ingress_tag(w, ns, &br, port, skb.l2.vlan) {
        Some(t) => {
            if t != skb.l2.vlan && r.full {
                let (p, v) = (port.to_string(), t.unwrap_or(0));
                r.step(ns, || StepKind::Device { dev: p, action: format!("VLAN filtering: the untagged frame gets the port's PVID {v}") });
            }
            skb.l2.vlan = t;
        }
        None => {
            let (p, v) = (port.to_string(), skb.l2.vlan);
            r.step(ns, || StepKind::Device {
                dev: p,
                action: match v {
                    Some(v) => format!("VLAN filtering: VLAN {v} is not allowed on this port: dropped"),
                    None => "VLAN filtering: an untagged frame and no PVID on this port: dropped".into(),
                },
            });
            return End::Dropped { ns, reason: DropReason::BridgePortState, local_out: false };
        }
    }
    handle_frame_finish(r, ns, &br, Some(port), skb)
}

/// `br_nf_pre_routing_finish` when PREROUTING changed the destination address.
#[allow(clippy::result_large_err)]
fn pre_routing_finish(r: &mut Run, ns: usize, br: &str, skb: &mut Skb) -> Result<(), End> {
    let w = r.w;
    let key = FlowKey {
        dst: skb.pkt.dst,
        src: Some(skb.pkt.src),
        iif: Some(br.to_string()),
        oif: None,
        mark: skb.mark,
        tos: skb.pkt.tos,
        proto: skb.pkt.proto,
        sport: skb.pkt.sport,
        dport: skb.pkt.dport,
        trace: r.full,
        uid: Some(0),
        anysrc: false,
    };
    let mut rr = w.nss[ns].router.input(&key);
    r.push_route_steps(ns, &rr);
    r.pick_branch(&mut rr);
    let bridged_to = match rr.decision {
        Decision::Unicast { dev, nexthop, .. } if dev == br => Some(nexthop),
        Decision::Unicast { .. } | Decision::Local { .. } => None,
        Decision::Fail { reason: DropReason::ForwardingDisabled, .. } => {
            // "bridged-and-DNAT'ed traffic doesn't require ip_forwarding": an output lookup
            // that resolves to the bridge keeps the frame bridged.
            let okey = FlowKey { iif: None, ..key };
            match w.nss[ns].router.output(&okey).decision {
                Decision::Unicast { dev, nexthop, .. } if dev == br => Some(nexthop),
                _ => {
                    let d = br.to_string();
                    r.step(ns, || StepKind::Device {
                        dev: d,
                        action: "the new destination is not on the bridge and forwarding is off: dropped (br_nf_pre_routing_finish)".into(),
                    });
                    return Err(End::Dropped { ns, reason: DropReason::ForwardingDisabled, local_out: false });
                }
            }
        }
        Decision::Fail { reason, .. } => {
            let d = br.to_string();
            r.step(ns, || StepKind::Device { dev: d, action: "no route for the new destination: dropped (br_nf_pre_routing_finish)".into() });
            return Err(End::Dropped { ns, reason, local_out: false });
        }
        Decision::Broadcast => return Err(End::Indeterminate { why: format!("{}: bridged DNAT to a broadcast address is not modelled", w.nss[ns].ns.name) }),
        Decision::Indeterminate { what } => return Err(End::Indeterminate { why: format!("{}: {what}", w.nss[ns].ns.name) }),
    };
    match bridged_to {
        Some(nh) => match l2::resolve(w, ns, br, nh, skb.pkt.src) {
            Ok((mac, how)) => {
                skb.pkt.eth_dst = Some(mac);
                let d = br.to_string();
                let dst = skb.pkt.dst;
                r.step(ns, || StepKind::Device {
                    dev: d,
                    action: format!("bridged DNAT: {dst} is on the bridge, only the destination MAC changes ({how}); the frame is bridged again, TTL kept"),
                });
                Ok(())
            }
            Err(why) => {
                let d = br.to_string();
                r.step(ns, || StepKind::Device { dev: d, action: format!("bridged DNAT: {why}") });
                Err(End::Dropped { ns, reason: DropReason::NoNeighbour, local_out: false })
            }
        },
        None => {
            skb.pkt.eth_dst = mac_of(w, ns, br);
            let d = br.to_string();
            let dst = skb.pkt.dst;
            r.step(ns, || StepKind::Device {
                dev: d,
                action: format!("{dst} is not on the bridge: the frame goes up to the host stack to be routed (destination MAC = the bridge's)"),
            });
            Ok(())
        }
    }
}

/// `br_handle_frame_finish`: local delivery, a known port, or flooding. `inport` is `None` for
/// frames the host itself sends on the bridge (`br_dev_xmit`).
fn handle_frame_finish(r: &mut Run, ns: usize, br: &str, inport: Option<&str>, skb: Skb) -> End {
    let w = r.w;
    let Some(mac) = skb.pkt.eth_dst else { return End::Indeterminate { why: format!("{}: a frame on {br} without a destination MAC", w.nss[ns].ns.name) } };
    if inport.is_some() && local_mac(w, ns, br, mac) {
        return pass_up(r, ns, br, skb);
    }
    match fdb_port(w, ns, br, mac) {
        Ok((q, how)) => deliver(r, ns, br, inport, &q, skb, &how),
        Err(why) => {
            let d = br.to_string();
            r.step(ns, || StepKind::Device { dev: d, action: format!("bridge: {why}; the frame reaches nobody") });
            End::Dropped { ns, reason: DropReason::NoNeighbour, local_out: false }
        }
    }
}

/// `br_pass_frame_up`: the frame is the host's; with br_netfilter its PREROUTING already ran.
fn pass_up(r: &mut Run, ns: usize, br: &str, mut skb: Skb) -> End {
    let d = br.to_string();
    r.step(ns, || StepKind::Device { dev: d, action: "bridge: the destination MAC is the bridge's own: passed up to the host stack".into() });
    let Some(dev) = local_rx_dev(r.w, ns, br, skb.l2.vlan) else {
        let (d, v) = (br.to_string(), skb.l2.vlan.unwrap_or(0));
        r.step(ns, || StepKind::Device {
            dev: d,
            action: format!("VLAN {v} is not delivered to the bridge's own stack (no such VLAN on it or no 802.1Q device): dropped"),
        });
        return End::Dropped { ns, reason: DropReason::OtherHost, local_out: false };
    };
    skb.l2.vlan = None;
    skb.iif = Some(dev.clone());
    if skb.l2.nf_bridge.is_some() && dev == br {
        // `ip_sabotage_in`: the IPv4 PREROUTING hooks do not run a second time.
        r.route_in(ns, skb, dev)
    } else {
        r.receive(ns, skb, false)
    }
}

/// `br_forward` to port `q`: hairpin and state checks, then (for frames br_netfilter saw) the
/// FORWARD and POSTROUTING hooks with the bridge as both devices, then the wire.
fn deliver(r: &mut Run, ns: usize, br: &str, inport: Option<&str>, q: &str, mut skb: Skb, how: &str) -> End {
    let w = r.w;
    let qp = brport(w, ns, q);
    if inport == Some(q) && !qp.hairpin {
        let (d, qq, h) = (br.to_string(), q.to_string(), how.to_string());
        r.step(ns, || StepKind::Device {
            dev: d,
            action: format!("{h}: that is the port the frame came in by, and {qq} has hairpin mode off: dropped (should_deliver)"),
        });
        return End::Dropped { ns, reason: DropReason::BridgeHairpin, local_out: false };
    }
    if qp.state != "forwarding" {
        let (d, qq, st) = (br.to_string(), q.to_string(), qp.state.clone());
        r.step(ns, || StepKind::Device { dev: d, action: format!("port {qq} is in state {st}: not forwarded") });
        return End::Dropped { ns, reason: DropReason::BridgePortState, local_out: false };
    }
    if r.full {
        let (d, qq, h) = (br.to_string(), q.to_string(), how.to_string());
        let hair = if inport == Some(q) { " (hairpin mode on: back out the ingress port)" } else { "" };
        r.step(ns, || StepKind::Device { dev: d, action: format!("bridged to port {qq}{hair}: {h}") });
    }
    // `br_handle_vlan` in `__br_forward`, before the bridge FORWARD hooks.
    match egress_tag(w, ns, br, q, skb.l2.vlan) {
        Some(t) => {
            if t != skb.l2.vlan && r.full {
                let (qq, v) = (q.to_string(), skb.l2.vlan.unwrap_or(0));
                r.step(ns, || StepKind::Device { dev: qq, action: format!("VLAN {v} leaves this port untagged") });
            }
            skb.l2.vlan = t;
        }
        None => {
            let (qq, v) = (q.to_string(), skb.l2.vlan.unwrap_or(0));
            r.step(ns, || StepKind::Device { dev: qq.clone(), action: format!("VLAN filtering: port {qq} is not a member of VLAN {v}: not sent") });
            return End::Dropped { ns, reason: DropReason::BridgePortState, local_out: false };
        }
    }
    let tagged_ok = w.nss[ns].ns.sysctls.values.get("net.bridge.bridge-nf-filter-vlan-tagged").map(|v| v.trim()) == Some("1");
    if inport.is_some() && skb.l2.nf_bridge.is_some() && skb.l2.vlan.is_some() && !tagged_ok {
        // `br_nf_forward_ip` and `br_nf_post_routing`: a tagged frame is not IS_IP, so neither
        // FORWARD nor POSTROUTING runs (and physoutdev stays unset).
        let (qq, v) = (q.to_string(), skb.l2.vlan.unwrap_or(0));
        r.step(ns, || StepKind::Device {
            dev: qq,
            action: format!("the frame leaves tagged VLAN {v}: br_netfilter runs neither FORWARD nor POSTROUTING for it"),
        });
    } else if inport.is_some() {
        if let Some(nb) = skb.l2.nf_bridge.as_mut() {
            nb.physout = Some(q.to_string());
            // `br_nf_forward_ip`: IPv4 FORWARD with in = out = the bridge.
            let he = r.run_hook(ns, Hook::Forward, &mut skb, Some(br), Some(br), None);
            if let Some(end) = hook_end(ns, he, false) {
                return end;
            }
            // `br_nf_post_routing`: IPv4 POSTROUTING with out = the bridge; the bridge's fake
            // rtable has no gateway, so MASQUERADE's nexthop is the destination.
            let mut out = OutRoute { dev: br.to_string(), nexthop: skb.pkt.dst, local: false };
            let he = r.run_hook(ns, Hook::PostRouting, &mut skb, None, Some(br), Some(&mut out));
            if let Some(end) = hook_end(ns, he, false) {
                return end;
            }
        }
    }
    l2::send_on_wire(r, ns, q, skb)
}

/// The host sends a routed packet on bridge `br` (`br_dev_xmit`): neighbour resolution for the
/// nexthop across the ports, then the fdb. Frames the host sends see no bridge hooks.
pub(crate) fn xmit(r: &mut Run, ns: usize, br: &str, mut skb: Skb, nexthop: Ipv4Addr) -> End {
    let w = r.w;
    match l2::resolve(w, ns, br, nexthop, skb.pkt.src) {
        Ok((mac, how)) => {
            skb.pkt.eth_src = mac_of(w, ns, br);
            skb.pkt.eth_dst = Some(mac);
            let d = br.to_string();
            r.step(ns, || StepKind::Device { dev: d, action: format!("sent on the bridge; neighbour {nexthop}: {how}") });
            skb.l2.vlan = own_ingress_tag(w, ns, br);
            handle_frame_finish(r, ns, br, None, skb)
        }
        Err(why) => {
            let d = br.to_string();
            r.step(ns, || StepKind::Device { dev: d, action: format!("no neighbour: {why}") });
            End::Dropped { ns, reason: DropReason::NoNeighbour, local_out: false }
        }
    }
}
