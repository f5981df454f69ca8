//! Lint checks that need the device model (`engine/device`, `engine/underlay.rs`): VXLAN
//! neighbours without an fdb entry, fdb destinations the node cannot route to or that the
//! underlay cannot reach, VXLAN `local` addresses the node does not own, routed pod veths
//! without proxy ARP, bridge ports that do not forward, tunnel devices that are down. Like
//! `lint.rs`, each check reads the model and names the entry responsible.

use crate::diag::{Diagnostic, Severity, Span};
use crate::engine::route_api::{Decision, FlowKey, Router};
use crate::engine::World;
use crate::model::link::LinkKind;
use crate::model::route::{RouteType, RT_TABLE_MAIN};
use crate::model::types::Mac;
use crate::model::Namespace;
use std::net::Ipv4Addr;

fn diag(ns: &Namespace, file: &str, sev: Severity, code: &str, msg: String) -> Diagnostic {
    Diagnostic::new(Span::new(format!("{}/{}", ns.name, file), 0, 0), sev, code, msg)
}

const ZERO_MAC: Mac = Mac([0; 6]);

/// Checks of one namespace's devices.
pub fn lint_devices(ns: &Namespace) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let router = crate::engine::routing::Fib::new(ns);
    let local = |ip: Ipv4Addr| ns.addrs.iter().any(|a| a.local == ip);
    let routed_via = |dev: &str| ns.routes.iter().any(|r| r.table == RT_TABLE_MAIN && r.dev() == Some(dev));
    for l in &ns.links {
        match &l.kind {
            LinkKind::Vxlan(v) => {
                if let Some(a) = v.local {
                    if !local(a) {
                        out.push(diag(ns, "ip-link.json", Severity::Error, "vxlan-local-not-local",
                            format!("{} sends from local {a}, which is not an address of this namespace: every encapsulated packet fails its route lookup (vxlan_get_route)", l.name)));
                    }
                }
                if !l.up && routed_via(&l.name) {
                    out.push(diag(
                        ns,
                        "ip-link.json",
                        Severity::Error,
                        "tunnel-down",
                        format!("{} is down but routes use it: packets routed to it are not sent, and VXLAN packets for it are not received", l.name),
                    ));
                }
                let fdb: Vec<_> = ns.fdb.iter().filter(|e| e.dev == l.name && e.master.is_none()).collect();
                let has_default = fdb.iter().any(|e| e.mac == ZERO_MAC && e.dst.is_some());
                for n in ns.neighs.iter().filter(|n| n.dev == l.name && n.lladdr.is_some()) {
                    let mac = n.lladdr.unwrap_or(ZERO_MAC);
                    if !has_default && !fdb.iter().any(|e| e.mac == mac && e.dst.is_some()) && !ns.fdb.is_empty() {
                        out.push(diag(
                            ns,
                            "bridge-fdb.json",
                            Severity::Error,
                            "vxlan-neighbour-without-fdb",
                            format!(
                                "{} has neighbour {} lladdr {mac} but no fdb entry for {mac}: packets to that VTEP are dropped by vxlan_xmit (no destination)",
                                l.name, n.dst
                            ),
                        ));
                    }
                }
                let port = if v.dstport == 0 { 8472 } else { v.dstport };
                for e in &fdb {
                    let Some(dst) = e.dst else { continue };
                    if dst.is_unspecified() || dst.is_multicast() {
                        continue;
                    }
                    let key = FlowKey { dst, src: v.local.filter(|a| local(*a)), proto: 17, dport: e.port.unwrap_or(port), trace: false, ..Default::default() };
                    let what = match router.output(&key).decision {
                        Decision::Fail { reason, errno, .. } => Some(format!("the node has no route to it ({}, {errno})", reason.as_str())),
                        Decision::Unicast { dev, .. } if dev == l.name || ns.link(&dev).is_some_and(|d| matches!(d.kind, LinkKind::Vxlan(_))) => {
                            Some(format!("its route leads into VXLAN device {dev} (ELOOP)"))
                        }
                        _ => None,
                    };
                    if let Some(w) = what {
                        out.push(diag(
                            ns,
                            "bridge-fdb.json",
                            Severity::Error,
                            "vxlan-remote-unroutable",
                            format!("fdb entry {} dev {} dst {dst}: {w}; packets encapsulated toward it are dropped", e.mac, l.name),
                        ));
                    }
                }
            }
            LinkKind::Bridge(b) if b.vlan_filtering => {
                // br_netfilter sees untagged IPv4 only (`IS_IP`), unless filter_vlan_tagged.
                let sy = &ns.sysctls.values;
                let brnf = sy.get("net.bridge.bridge-nf-call-iptables").map(|v| v.trim() == "1").unwrap_or(false) || b.nf_call_iptables;
                let tagged_seen = sy.get("net.bridge.bridge-nf-filter-vlan-tagged").map(|v| v.trim() == "1").unwrap_or(false);
                if brnf && !tagged_seen {
                    let ports: Vec<&crate::model::link::Link> = ns.links.iter().filter(|p| p.master.as_deref() == Some(l.name.as_str())).collect();
                    let mut vids: Vec<u16> = ports.iter().flat_map(|p| p.brport.iter().flat_map(|bp| bp.vlans.iter().map(|v| v.vid))).collect();
                    vids.sort_unstable();
                    vids.dedup();
                    for vid in vids {
                        let with = |untagged: bool| -> Vec<&str> {
                            ports
                                .iter()
                                .filter(|p| p.brport.as_ref().is_some_and(|bp| bp.vlans.iter().any(|v| v.vid == vid && (v.untagged || v.pvid) == untagged)))
                                .map(|p| p.name.as_str())
                                .collect()
                        };
                        let (tagged, untagged) = (with(false), with(true));
                        if !tagged.is_empty() && !untagged.is_empty() {
                            out.push(diag(ns, "bridge-vlan.json", Severity::Warning, "br-netfilter-vlan-asymmetry",
                                format!("bridge {}: VLAN {vid} enters by {} tagged, which br_netfilter hands to no iptables hook (bridge-nf-filter-vlan-tagged is off), and by {} untagged, which it does: a connection whose request arrives tagged is unknown to conntrack here while its reply is NATed in the middle of the bridge (a masqueraded reply is de-SNATed too early, seed 003)",
                                    l.name, tagged.join(", "), untagged.join(", "))));
                        }
                    }
                }
            }
            LinkKind::Ipip(_) if !l.up && routed_via(&l.name) => {
                out.push(diag(ns, "ip-link.json", Severity::Error, "tunnel-down",
                    format!("{} is down but routes use it: packets routed to it are not sent, and IPIP packets for this node are not received (ip_tunnel_lookup wants it UP)", l.name)));
            }
            LinkKind::Veth if l.master.is_none() => {
                // A calico-style routed pod: a /32 route to the veth and no address on it.
                let pods: Vec<Ipv4Addr> = ns
                    .routes
                    .iter()
                    .filter(|r| {
                        r.table == RT_TABLE_MAIN
                            && r.rtype == RouteType::Unicast
                            && r.dst.prefix_len() == 32
                            && r.dev() == Some(l.name.as_str())
                            && r.gateway().is_none()
                    })
                    .map(|r| r.dst.addr())
                    .collect();
                let bare = ns.addrs_of(&l.name).next().is_none();
                let proxy = ns.sysctls.conf(&l.name, "proxy_arp").0 != 0 || ns.sysctls.conf_all("proxy_arp").0 != 0;
                if !pods.is_empty() && bare && !proxy && ns.sysctls.imported {
                    out.push(diag(ns, "sysctl.txt", Severity::Warning, "routed-pod-without-proxy-arp",
                        format!("{} carries pod(s) {} by /32 route with no address on the node's side and proxy_arp off: a pod whose gateway is 169.254.1.1 gets no ARP answer", l.name,
                            pods.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "))));
                }
            }
            _ => {}
        }
        if let Some(bp) = &l.brport {
            if bp.state != "forwarding" && l.up {
                out.push(diag(
                    ns,
                    "ip-link.json",
                    Severity::Warning,
                    "bridge-port-not-forwarding",
                    format!(
                        "bridge port {} of {} is in state {}: frames entering or leaving it are not forwarded",
                        l.name,
                        l.master.clone().unwrap_or_default(),
                        bp.state
                    ),
                ));
            }
        }
    }
    out
}

/// Every finding of a world: each namespace (`lint::lint_namespace`, which includes
/// [`lint_devices`]), the cluster checks over the nodes (`lint::lint_cluster`), and the fdb
/// destinations judged against the cluster file's underlay, when it has one.
pub fn lint_world(world: &World) -> Vec<Diagnostic> {
    let nss: Vec<&Namespace> = world.namespace_names().filter_map(|n| world.namespace(n)).collect();
    let mut out = Vec::new();
    for ns in &nss {
        out.extend(crate::lint::lint_namespace(ns));
    }
    let nodes: Vec<&Namespace> = nss.iter().copied().filter(|n| crate::scenario::generate::is_node(n)).collect();
    let underlay = world.cluster.underlay.as_ref();
    let public: Vec<Ipv4Addr> = underlay.map(|u| u.nat.iter().map(|(p, _)| *p).collect()).unwrap_or_default();
    if nodes.len() > 1 {
        // A destination the cloud maps is known: `lint_cluster` cannot see the NAT.
        out.extend(
            crate::lint::lint_cluster(&nodes)
                .into_iter()
                .filter(|d| !(d.code == "fdb-destination-unknown" && public.iter().any(|p| d.message.contains(&format!(" dst {p}:"))))),
        );
    }
    if let Some(u) = underlay {
        for ns in &nss {
            let Some(&i) = world.index.get(&ns.name) else { continue };
            let mine: Vec<&str> = u.networks.iter().filter(|(_, ms)| ms.iter().any(|m| m.ns == ns.name)).map(|(n, _)| n.as_str()).collect();
            for e in ns.fdb.iter().filter(|e| e.is_self && e.dst.is_some()) {
                let Some(dst) = e.dst else { continue };
                if dst.is_unspecified() || dst.is_multicast() || public.contains(&dst) {
                    continue;
                }
                let owner = u
                    .networks
                    .iter()
                    .flat_map(|(n, ms)| ms.iter().map(move |m| (n, m)))
                    .find(|(_, m)| m.ns != ns.name && world.namespace(&m.ns).is_some_and(|o| o.addrs.iter().any(|a| a.local == dst)));
                let Some((net, m)) = owner else { continue };
                let shared = u.networks.iter().any(|(n, ms)| mine.contains(&n.as_str()) && ms.contains(m));
                if !shared {
                    let via = u
                        .nat
                        .iter()
                        .find(|(_, x)| x == m)
                        .map(|(p, _)| format!(" (the cloud maps {p} to it: that is the address to use, e.g. flannel's public-ip-overwrite)"))
                        .unwrap_or_default();
                    let _ = i;
                    out.push(diag(ns, "bridge-fdb.json", Severity::Error, "fdb-destination-unreachable",
                        format!("fdb entry {} dev {} dst {dst}: {dst} is {m}'s address in underlay network {net}, which this node's uplinks (network {}) cannot reach: everything encapsulated toward it is lost{via}", e.mac, e.dev, if mine.is_empty() { "none".to_string() } else { mine.join(",") })));
                }
            }
        }
    }
    out
}
