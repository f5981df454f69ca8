//! What a cluster file adds to the namespaces of its snapshots (interface.md §2): pods that have
//! no snapshot (synthesized from their node's state), the underlay between node uplinks (networks,
//! 1:1 cloud NAT, security-group allow lists), and names for addresses.
//!
//! A synthesized pod is what the CNI plugin would have made: one `eth0` (its host end a port of
//! the node's bridge, or a calico `cali*` veth), its address, a default route via the node's
//! gateway for that CNI (flannel: the bridge's address; calico: 169.254.1.1, which the node
//! answers by proxy ARP), no iptables rules and no socket list, so every port listens. Its
//! provenance says it was synthesized, and traces show it like any imported state.

use crate::diag::{Diagnostic, Span};
use crate::engine::underlay::{Allow, ClusterMeta, Member, Underlay};
use crate::engine::World;
use crate::model::addr::Addr;
use crate::model::link::{Link, LinkKind};
use crate::model::route::{NextHop, Route, RouteType, RT_TABLE_LOCAL, RT_TABLE_MAIN};
use crate::model::rule::FibRule;
use crate::model::types::{Mac, Scope};
use crate::model::Namespace;
use crate::scenario::files::{ClusterFile, Endpoint, Proto};
use ipnet::Ipv4Net;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// How a pod hangs off its node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cni {
    /// A port of a bridge (`cni0`): the pod's subnet and gateway are the bridge's.
    Bridge { bridge: String, gateway: Ipv4Addr, prefix: u8 },
    /// A calico-style routed veth: a /32, gateway 169.254.1.1 by proxy ARP.
    Routed,
}

/// The calico pod gateway (`cni-plugin/pkg/dataplane/linux/dataplane_linux.go`).
pub const CALICO_GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

fn link(ifindex: u32, name: &str, kind: LinkKind, mac: Option<Mac>, mtu: u32) -> Link {
    Link {
        ifindex,
        name: name.into(),
        kind,
        mtu,
        mac,
        up: true,
        lower_up: true,
        noarp: false,
        promisc: false,
        master: None,
        link_ifindex: None,
        link_name: None,
        link_netnsid: None,
        brport: None,
        group: None,
    }
}

fn route(table: u32, rtype: RouteType, dst: Ipv4Net, scope: Scope, gw: Option<Ipv4Addr>, dev: &str, src: Option<Ipv4Addr>) -> Route {
    Route {
        table,
        rtype,
        dst,
        tos: 0,
        metric: 0,
        protocol: Some(if gw.is_none() && rtype == RouteType::Unicast && table == RT_TABLE_MAIN { "kernel".into() } else { "boot".into() }),
        scope,
        prefsrc: src,
        nexthops: vec![NextHop { gateway: gw, dev: Some(dev.into()), onlink: false, weight: 1, dead: false, linkdown: false }],
        mtu: None,
        origin: None,
    }
}

fn net(a: Ipv4Addr, len: u8) -> Ipv4Net {
    Ipv4Net::new(a, len).map(|n| n.trunc()).unwrap_or_default()
}

/// How the node's device `dev` carries a pod: a bridge port, or a routed veth.
pub fn cni_of(node: &Namespace, dev: &str) -> Option<Cni> {
    let l = node.link(dev)?;
    if let Some(br) = &l.master {
        let a = node.addrs_of(br).find(|a| !a.secondary)?;
        return Some(Cni::Bridge { bridge: br.clone(), gateway: a.local, prefix: a.prefix_len });
    }
    (l.kind == LinkKind::Veth).then_some(Cni::Routed)
}

/// The node device a pod with address `ip` hangs off: a `/32` route to a veth (calico), or the
/// bridge port behind which the node's neighbour entry for it was learned (flannel).
pub fn find_pod_device(node: &Namespace, ip: Ipv4Addr) -> Option<String> {
    if let Some(r) = node.routes.iter().find(|r| r.table == RT_TABLE_MAIN && r.dst.prefix_len() == 32 && r.dst.addr() == ip && r.gateway().is_none()) {
        if let Some(d) = r.dev() {
            if node.link(d).is_some_and(|l| l.kind == LinkKind::Veth) {
                return Some(d.to_string());
            }
        }
    }
    let n = node.neighs.iter().find(|n| n.dst == ip && n.lladdr.is_some())?;
    let mac = n.lladdr?;
    node.fdb.iter().find(|e| e.mac == mac && e.master.as_deref() == Some(n.dev.as_str()) && !e.permanent).map(|e| e.dev.clone())
}

/// A pod's namespace as its CNI plugin would have built it.
pub fn synthesize_pod(name: &str, ip: Ipv4Addr, node: &Namespace, node_dev: &str, cni: &Cni) -> Namespace {
    let mac = node.neighs.iter().find(|n| n.dst == ip && n.lladdr.is_some()).and_then(|n| n.lladdr).unwrap_or_else(|| {
        // The CNI bridge plugin's convention: 0a:58 followed by the address.
        let o = ip.octets();
        Mac([0x0a, 0x58, o[0], o[1], o[2], o[3]])
    });
    let mtu = node.link(node_dev).map_or(1500, |l| l.mtu);
    let (prefix, gw) = match cni {
        Cni::Bridge { gateway, prefix, .. } => (*prefix, *gateway),
        Cni::Routed => (32, CALICO_GATEWAY),
    };
    let mut eth0 = link(2, "eth0", LinkKind::Veth, Some(mac), mtu);
    eth0.link_netnsid = Some(0);
    let mut ns = Namespace {
        name: name.to_string(),
        links: vec![link(1, "lo", LinkKind::Loopback, Some(Mac([0; 6])), 65536), eth0],
        addrs: vec![
            Addr {
                ifname: "lo".into(),
                ifindex: 1,
                local: Ipv4Addr::LOCALHOST,
                prefix_len: 8,
                peer: None,
                broadcast: None,
                scope: Scope::Host,
                secondary: false,
                noprefixroute: false,
                label: Some("lo".into()),
            },
            Addr {
                ifname: "eth0".into(),
                ifindex: 2,
                local: ip,
                prefix_len: prefix,
                peer: None,
                broadcast: None,
                scope: Scope::Universe,
                secondary: false,
                noprefixroute: false,
                label: Some("eth0".into()),
            },
        ],
        rules: FibRule::defaults(),
        ..Default::default()
    };
    ns.routes.push(route(RT_TABLE_LOCAL, RouteType::Local, net(Ipv4Addr::LOCALHOST, 8), Scope::Host, None, "lo", Some(Ipv4Addr::LOCALHOST)));
    ns.routes.push(route(RT_TABLE_LOCAL, RouteType::Local, net(ip, 32), Scope::Host, None, "eth0", Some(ip)));
    match cni {
        Cni::Bridge { .. } => {
            ns.routes.push(route(RT_TABLE_MAIN, RouteType::Unicast, net(ip, prefix), Scope::Link, None, "eth0", Some(ip)));
            ns.routes.push(route(RT_TABLE_MAIN, RouteType::Unicast, net(Ipv4Addr::UNSPECIFIED, 0), Scope::Universe, Some(gw), "eth0", None));
        }
        Cni::Routed => {
            ns.routes.push(route(RT_TABLE_MAIN, RouteType::Unicast, net(CALICO_GATEWAY, 32), Scope::Link, None, "eth0", None));
            ns.routes.push(route(RT_TABLE_MAIN, RouteType::Unicast, net(Ipv4Addr::UNSPECIFIED, 0), Scope::Universe, Some(CALICO_GATEWAY), "eth0", None));
        }
    }
    let how = match cni {
        Cni::Bridge { bridge, .. } => format!("synthesized: pod {name} {ip}/{prefix} on {}:{node_dev} (port of {bridge}), default via {gw}", node.name),
        Cni::Routed => format!("synthesized: pod {name} {ip}/32 on {}:{node_dev} (routed veth), default via {gw} (proxy ARP)", node.name),
    };
    for k in ["links", "addrs", "routes", "rules", "neighs", "fdb", "sysctls", "conntrack", "ruleset"] {
        ns.provenance.insert(k.into(), how.clone());
    }
    ns.provenance.insert("sockets".into(), format!("{how}; no socket list: every port listens"));
    ns
}

/// Pods of the cluster file that have no snapshot, synthesized; `links` gains the veth of each
/// one placed from its node's state. Diagnostics say what could not be placed.
pub fn synthesize_pods(file: &str, c: &ClusterFile, namespaces: &mut Vec<Namespace>, links: &mut Vec<[Endpoint; 2]>, diags: &mut Vec<Diagnostic>) {
    let have: BTreeSet<String> = namespaces.iter().map(|n| n.name.clone()).collect();
    let pod_ip = |name: &str| c.pods.iter().find(|p| p.name == name).map(|p| p.ip);
    let mut made: Vec<Namespace> = Vec::new();
    // Link ends whose namespace has no snapshot.
    for [a, b] in links.iter() {
        for (me, other) in [(a, b), (b, a)] {
            if have.contains(&me.ns) || made.iter().any(|m| m.name == me.ns) {
                continue;
            }
            let Some(node) = namespaces.iter().find(|n| n.name == other.ns) else {
                diags.push(Diagnostic::error(Span::new(file, 0, 0), "no-snapshot", format!("link {me} - {other}: neither end has a snapshot")));
                continue;
            };
            let Some(ip) = pod_ip(&me.ns) else {
                diags.push(Diagnostic::error(
                    Span::new(file, 0, 0),
                    "no-snapshot",
                    format!("link end {me}: {} has no snapshot folder and no `pods:` entry giving its address, so it cannot be synthesized", me.ns),
                ));
                continue;
            };
            let Some(cni) = cni_of(node, &other.dev) else {
                diags.push(Diagnostic::error(
                    Span::new(file, 0, 0),
                    "no-snapshot",
                    format!("link end {me}: {other} is neither a bridge port with an addressed bridge nor a veth, so the pod's gateway is unknown"),
                ));
                continue;
            };
            if me.dev != "eth0" {
                diags.push(Diagnostic::warning(
                    Span::new(file, 0, 0),
                    "synthesized-pod",
                    format!("link end {me}: a synthesized pod's device is eth0; {} is used as given", me.dev),
                ));
            }
            let mut ns = synthesize_pod(&me.ns, ip, node, &other.dev, &cni);
            if me.dev != "eth0" {
                rename_dev(&mut ns, "eth0", &me.dev);
            }
            diags.push(Diagnostic::info(Span::new(file, 0, 0), "synthesized-pod", ns.provenance["links"].clone()));
            made.push(ns);
        }
    }
    // Pods named with a node, without snapshot or link: placed from the node's routes or fdb.
    for p in &c.pods {
        if have.contains(&p.name)
            || made.iter().any(|m| m.name == p.name)
            || namespaces.iter().chain(made.iter()).any(|n| n.addrs.iter().any(|a| a.local == p.ip))
        {
            continue;
        }
        let Some(node_name) = &p.node else { continue };
        let Some(node) = namespaces.iter().find(|n| &n.name == node_name) else {
            diags.push(Diagnostic::warning(Span::new(file, 0, 0), "pod-not-placed", format!("pod {} ({}): node {node_name} has no snapshot", p.name, p.ip)));
            continue;
        };
        let placed = find_pod_device(node, p.ip).and_then(|d| cni_of(node, &d).map(|c| (d, c)));
        let Some((dev, cni)) = placed else {
            diags.push(Diagnostic::info(
                Span::new(file, 0, 0),
                "pod-not-placed",
                format!("pod {} ({}): {node_name} has no /32 route to a veth nor a neighbour and fdb entry naming its port, so it is not synthesized (give it a link)", p.name, p.ip),
            ));
            continue;
        };
        if links.iter().any(|[a, b]| (a.ns == *node_name && a.dev == dev) || (b.ns == *node_name && b.dev == dev)) {
            continue;
        }
        let ns = synthesize_pod(&p.name, p.ip, node, &dev, &cni);
        diags.push(Diagnostic::info(Span::new(file, 0, 0), "synthesized-pod", ns.provenance["links"].clone()));
        links.push([Endpoint { ns: node_name.clone(), dev }, Endpoint { ns: p.name.clone(), dev: "eth0".into() }]);
        made.push(ns);
    }
    namespaces.extend(made);
}

fn rename_dev(ns: &mut Namespace, from: &str, to: &str) {
    for l in &mut ns.links {
        if l.name == from {
            l.name = to.into();
        }
    }
    for a in &mut ns.addrs {
        if a.ifname == from {
            a.ifname = to.into();
            a.label = Some(to.into());
        }
    }
    for r in &mut ns.routes {
        for nh in &mut r.nexthops {
            if nh.dev.as_deref() == Some(from) {
                nh.dev = Some(to.into());
            }
        }
    }
}

fn parse_ports(s: &str) -> Option<(u16, u16)> {
    match s.split_once('-').or_else(|| s.split_once(':')) {
        Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
        None => {
            let p = s.trim().parse().ok()?;
            Some((p, p))
        }
    }
}

/// Devices that lead out of the model: no veth peer, not a bridge, tunnel or loopback, with a
/// global address on the device or on its bridge.
fn uplinks(w: &World) -> Vec<Member> {
    let mut out = Vec::new();
    for p in &w.nss {
        for l in &p.ns.links {
            if matches!(l.kind, LinkKind::Loopback | LinkKind::Bridge(_) | LinkKind::Vxlan(_) | LinkKind::Ipip(_)) || p.veth_peer.contains_key(&l.name) {
                continue;
            }
            let dev = l.master.clone().unwrap_or_else(|| l.name.clone());
            if p.ns.addrs_of(&dev).any(|a| a.scope == Scope::Universe && !a.local.is_loopback()) {
                out.push(Member { ns: p.ns.name.clone(), dev: l.name.clone() });
            }
        }
    }
    out
}

/// The underlay and the names a cluster file gives, checked against the world.
pub fn cluster_meta(file: &str, c: &ClusterFile, w: &World, diags: &mut Vec<Diagnostic>) -> ClusterMeta {
    let mut meta = ClusterMeta::default();
    let exists = |e: &Endpoint| w.namespace(&e.ns).is_some_and(|n| n.link(&e.dev).is_some());
    let member = |e: &Endpoint, diags: &mut Vec<Diagnostic>, what: &str| -> Option<Member> {
        if exists(e) {
            Some(Member { ns: e.ns.clone(), dev: e.dev.clone() })
        } else {
            diags.push(Diagnostic::error(Span::new(file, 0, 0), "bad-underlay", format!("{what} {e}: no such namespace or device")));
            None
        }
    };
    let u = c.underlay.clone().unwrap_or_default();
    let mut und = Underlay::default();
    if u.networks.is_empty() {
        let ups = uplinks(w);
        if !ups.is_empty() {
            und.networks.push(("default".into(), ups));
            und.implicit = true;
        }
    } else {
        for n in &u.networks {
            let ms: Vec<Member> = n.members.iter().filter_map(|e| member(e, diags, &format!("underlay network {} member", n.name))).collect();
            und.networks.push((n.name.clone(), ms));
        }
    }
    for n in &u.nat {
        if let Some(m) = member(&n.to, diags, &format!("cloud NAT {} ->", n.public)) {
            und.nat.push((n.public, m));
        }
    }
    for f in &u.filters {
        let Some(m) = member(&f.member, diags, "underlay filter of") else { continue };
        let mut allow = Vec::new();
        for a in &f.allow {
            let ports = match &a.ports {
                Some(p) => match parse_ports(p) {
                    Some(r) => Some(r),
                    None => {
                        diags.push(Diagnostic::error(
                            Span::new(file, 0, 0),
                            "bad-underlay",
                            format!("underlay filter of {}: ports {p:?}: expected PORT or LOW-HIGH", f.member),
                        ));
                        continue;
                    }
                },
                None => None,
            };
            allow.push(Allow { from: a.from, proto: a.proto.map(Proto::number), ports });
        }
        und.filters.push((m, allow));
    }
    if !und.networks.is_empty() || !und.nat.is_empty() {
        meta.underlay = Some(und);
    }
    for p in &c.pods {
        meta.names.insert(p.ip, p.name.clone());
        let holder = w.namespace_names().find(|n| w.namespace(n).is_some_and(|ns| ns.addrs.iter().any(|a| a.local == p.ip)) && Some(*n) != p.node.as_deref());
        if let Some(h) = holder {
            if h != p.name {
                meta.ns_names.insert(h.to_string(), p.name.clone());
            }
        }
    }
    meta
}

/// Pods from `kubectl get pods -A -o json` (the cluster file's `kubectl_pods`), added to the
/// file's `pods:` for names and placement: `metadata.namespace/metadata.name`, `status.podIP`,
/// `spec.nodeName` (the node when a namespace of that name exists). Host-network pods (their IP
/// is their node's) and pods without an IP are skipped; a pod already listed keeps its entry.
pub fn add_kubectl_pods(c: &mut ClusterFile, file: &str, text: &str) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let v: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            diags.push(Diagnostic::error(Span::new(file, e.line() as u32, e.column() as u32), "bad-json", format!("not kubectl JSON: {e}")));
            return diags;
        }
    };
    let Some(items) = v.get("items").and_then(|i| i.as_array()) else {
        diags.push(Diagnostic::error(Span::new(file, 1, 0), "bad-json", "expected a kubectl List with `items` (kubectl get pods -A -o json)"));
        return diags;
    };
    let mut added = 0;
    for it in items {
        let s = |path: &[&str]| -> Option<String> {
            let mut x = it;
            for p in path {
                x = x.get(*p)?;
            }
            x.as_str().map(str::to_string)
        };
        let name = match (s(&["metadata", "namespace"]), s(&["metadata", "name"])) {
            (Some(ns), Some(n)) => format!("{ns}/{n}"),
            (None, Some(n)) => n,
            _ => continue,
        };
        if it.get("spec").and_then(|sp| sp.get("hostNetwork")).and_then(|h| h.as_bool()) == Some(true) {
            continue;
        }
        let Some(ip) = s(&["status", "podIP"]).and_then(|ip| ip.parse::<Ipv4Addr>().ok()) else { continue };
        if c.pods.iter().any(|p| p.name == name || p.ip == ip) {
            continue;
        }
        let node = s(&["spec", "nodeName"]).filter(|n| c.namespaces.contains_key(n));
        c.pods.push(crate::scenario::files::PodName { name, ip, node });
        added += 1;
    }
    diags.push(Diagnostic::info(Span::new(file, 1, 0), "kubectl-pods", format!("{added} pods named from {file}")));
    diags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_pods_are_named_and_host_network_pods_skipped() {
        let mut c = ClusterFile::default();
        c.namespaces.insert("node-b".into(), "nodes/node-b".into());
        let text = r#"{"apiVersion":"v1","kind":"List","items":[
          {"metadata":{"namespace":"default","name":"nginx-6fd9b8bcc7-ln2ws"},"spec":{"nodeName":"node-b"},"status":{"podIP":"10.244.1.2"}},
          {"metadata":{"namespace":"kube-system","name":"kube-proxy-x"},"spec":{"nodeName":"node-b","hostNetwork":true},"status":{"podIP":"192.168.0.12"}},
          {"metadata":{"namespace":"default","name":"pending"},"spec":{},"status":{}}]}"#;
        let d = add_kubectl_pods(&mut c, "pods.json", text);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(c.pods.len(), 1);
        assert_eq!(c.pods[0].name, "default/nginx-6fd9b8bcc7-ln2ws");
        assert_eq!(c.pods[0].node.as_deref(), Some("node-b"));
        assert!(add_kubectl_pods(&mut c, "pods.json", "{]").iter().any(|d| d.code == "bad-json"));
    }

    #[test]
    fn a_synthesized_bridge_pod_has_the_cni_gateway() {
        let mut node = Namespace { name: "node".into(), ..Default::default() };
        let mut port = link(5, "veth1", LinkKind::Veth, None, 1450);
        port.master = Some("cni0".into());
        node.links = vec![link(4, "cni0", LinkKind::Bridge(Default::default()), None, 1450), port];
        node.addrs.push(Addr {
            ifname: "cni0".into(),
            ifindex: 4,
            local: "10.244.1.1".parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
            prefix_len: 24,
            peer: None,
            broadcast: None,
            scope: Scope::Universe,
            secondary: false,
            noprefixroute: false,
            label: None,
        });
        let cni = cni_of(&node, "veth1");
        assert!(matches!(&cni, Some(Cni::Bridge { bridge, prefix: 24, .. }) if bridge == "cni0"));
        let pod = synthesize_pod("p", "10.244.1.7".parse().unwrap_or(Ipv4Addr::UNSPECIFIED), &node, "veth1", &cni.unwrap_or(Cni::Routed));
        assert_eq!(pod.link("eth0").and_then(|l| l.mac).map(|m| m.to_string()).as_deref(), Some("0a:58:0a:f4:01:07"));
        assert!(pod.routes.iter().any(|r| r.gateway() == Some("10.244.1.1".parse().unwrap_or(Ipv4Addr::UNSPECIFIED))));
        assert!(pod.provenance["links"].starts_with("synthesized"));
    }
}
