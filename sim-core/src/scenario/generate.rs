//! Flows generated from the state itself, for `nfpath diff` and whole-cluster checks: every pod
//! and node to every Service port, every NodePort from outside, pod to pod across nodes.

use crate::model::ruleset::{Match, TableName, Target};
use crate::model::Namespace;
use crate::scenario::files::{Destination, Flow, InjectSource, Proto, Source};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// A Service port found in kube-proxy's nat KUBE-SERVICES chain.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServicePort {
    pub dst: Destination,
    /// The kube-proxy comment (`ns/name:port cluster IP`), when present.
    pub name: Option<String>,
}

fn port_proto(matches: &[Match], proto: Option<u8>) -> Option<(u16, Proto)> {
    let proto = match proto? {
        6 => Proto::Tcp,
        17 => Proto::Udp,
        _ => return None,
    };
    matches.iter().find_map(|m| match m {
        Match::Tcp(t) => t.dport.as_ref().filter(|d| !d.neg && d.val.lo == d.val.hi).map(|d| (d.val.lo, proto)),
        Match::Udp(u) => u.dport.as_ref().filter(|d| !d.neg && d.val.lo == d.val.hi).map(|d| (d.val.lo, proto)),
        _ => None,
    })
}

fn comment(matches: &[Match]) -> Option<String> {
    matches.iter().find_map(|m| if let Match::Comment(c) = m { Some(c.clone()) } else { None })
}

/// Service ports (`-d VIP/32 -p P --dport N` in KUBE-SERVICES) and NodePorts (KUBE-NODEPORTS).
pub fn services(ns: &Namespace) -> (BTreeSet<ServicePort>, BTreeSet<(u16, Proto)>) {
    let mut svc = BTreeSet::new();
    let mut nodeports = BTreeSet::new();
    let Some(nat) = ns.ruleset.table(TableName::Nat) else { return (svc, nodeports) };
    if let Some(c) = nat.chain("KUBE-SERVICES") {
        for r in &c.rules {
            let Some(d) = r.base.dst.as_ref().filter(|d| !d.neg && d.val.prefix_len() == Some(32)) else { continue };
            let Some((port, proto)) = port_proto(&r.matches, r.base.proto.as_ref().filter(|p| !p.neg).map(|p| p.val)) else {
                continue;
            };
            if !matches!(r.target, Target::Jump(_) | Target::Goto(_)) {
                continue;
            }
            svc.insert(ServicePort { dst: Destination { addr: d.val.addr, port: Some(port), proto }, name: comment(&r.matches) });
        }
    }
    if let Some(c) = nat.chain("KUBE-NODEPORTS") {
        for r in &c.rules {
            if let Some(pp) = port_proto(&r.matches, r.base.proto.as_ref().filter(|p| !p.neg).map(|p| p.val)) {
                nodeports.insert(pp);
            }
        }
    }
    (svc, nodeports)
}

/// The address a node is reached at from outside: the first global address on the device of
/// its default route.
pub fn uplink(ns: &Namespace) -> Option<(String, Ipv4Addr)> {
    let dev = ns.routes.iter().find(|r| r.table == crate::model::route::RT_TABLE_MAIN && r.dst.prefix_len() == 0).and_then(|r| r.dev())?;
    let a = ns.addrs.iter().find(|a| a.ifname == dev && a.scope == crate::model::types::Scope::Universe)?;
    Some((dev.to_string(), a.local))
}

/// The source of NodePort flows from outside when none is given: the node's default gateway,
/// a host on the uplink's network that really is outside the node and that the node's replies
/// reach; 203.0.113.7 (a documentation address) when the node has no default gateway.
pub fn default_outside_src(ns: &Namespace) -> Ipv4Addr {
    ns.routes
        .iter()
        .find(|r| r.table == crate::model::route::RT_TABLE_MAIN && r.dst.prefix_len() == 0)
        .and_then(|r| r.gateway())
        .unwrap_or(Ipv4Addr::new(203, 0, 113, 7))
}

/// Every client (pods and nodes) to every Service port, and every NodePort on every node from
/// an outside source (`external_src`, or [`default_outside_src`] when `None`), injected on the
/// node's uplink.
pub fn service_flows(nodes: &[&Namespace], pods: &[&Namespace], external_src: Option<Ipv4Addr>) -> Vec<Flow> {
    let mut all_svc = BTreeSet::new();
    let mut all_np = BTreeSet::new();
    for n in nodes {
        let (s, np) = services(n);
        all_svc.extend(s);
        all_np.extend(np);
    }
    let mut flows = Vec::new();
    for client in pods.iter().chain(nodes.iter()) {
        for s in &all_svc {
            flows.push(Flow { name: format!("{} -> {}", client.name, s.dst), from: Source::Ns(client.name.clone()), to: s.dst, expect: None, seed: None });
        }
    }
    for n in nodes {
        let Some((dev, addr)) = uplink(n) else { continue };
        let external_src = external_src.unwrap_or_else(|| default_outside_src(n));
        for (port, proto) in &all_np {
            let to = Destination { addr, port: Some(*port), proto: *proto };
            flows.push(Flow {
                name: format!("outside -> {}:{to}", n.name),
                from: Source::Inject(InjectSource { ns: n.name.clone(), src: Some(external_src), iif: Some(dev.clone()), sport: None, mark: None }),
                to,
                expect: None,
                seed: None,
            });
        }
    }
    flows
}

/// Whether a namespace is a node (it forwards, or kube-proxy's rules live in it) rather than a
/// client such as a pod or an outside host.
pub fn is_node(ns: &Namespace) -> bool {
    let forwards = ns.sysctls.int("net.ipv4.ip_forward").is_some_and(|(v, _)| v != 0);
    let kube = ns.ruleset.table(TableName::Nat).is_some_and(|t| t.chain("KUBE-SERVICES").is_some());
    forwards || kube
}

/// A client's own address: the first global address that is not on loopback.
pub fn own_address(ns: &Namespace) -> Option<Ipv4Addr> {
    ns.addrs.iter().find(|a| a.scope == crate::model::types::Scope::Universe && a.ifname != "lo").map(|a| a.local)
}

/// The flows `nfpath diff` runs when none are given: [`service_flows`] with the namespaces split
/// into nodes and clients by [`is_node`], plus pod to pod across nodes: every client linked by a
/// veth to one node, to every listening port of every client linked to another node (a pod
/// without a socket list gets no such flows, since which ports listen is unknown).
pub fn cluster_flows(namespaces: &[&Namespace], links: &[crate::engine::VethLink], external_src: Option<Ipv4Addr>) -> Vec<Flow> {
    let nodes: Vec<&Namespace> = namespaces.iter().copied().filter(|n| is_node(n)).collect();
    let clients: Vec<&Namespace> = namespaces.iter().copied().filter(|n| !is_node(n)).collect();
    let mut flows = service_flows(&nodes, &clients, external_src);
    // A node whose uplink is a veth to a client namespace (a host on its LAN) is reached from
    // outside by that client: its replies really go there, where an injected packet's would not.
    let peer_of = |ns: &str, dev: &str| -> Option<String> {
        links.iter().find_map(|l| {
            let peer = if l.a_ns == ns && l.a_dev == dev {
                &l.b_ns
            } else if l.b_ns == ns && l.b_dev == dev {
                &l.a_ns
            } else {
                return None;
            };
            clients.iter().any(|c| &c.name == peer).then(|| peer.clone())
        })
    };
    for f in &mut flows {
        let Source::Inject(i) = &f.from else { continue };
        let Some(peer) = i.iif.as_deref().and_then(|d| peer_of(&i.ns, d)) else { continue };
        f.name = format!("{peer} -> {}:{}", i.ns, f.to);
        f.from = Source::Ns(peer);
    }
    let node_of = |pod: &str| -> Option<&str> {
        links.iter().find_map(|l| {
            let other = if l.a_ns == pod {
                &l.b_ns
            } else if l.b_ns == pod {
                &l.a_ns
            } else {
                return None;
            };
            nodes.iter().find(|n| &n.name == other).map(|n| n.name.as_str())
        })
    };
    for a in &clients {
        let Some(na) = node_of(&a.name) else { continue };
        for b in &clients {
            let Some(nb) = node_of(&b.name) else { continue };
            if na == nb {
                continue;
            }
            let (Some(addr), Some(socks)) = (own_address(b), b.sockets.as_ref()) else { continue };
            let ports: BTreeSet<(u16, Proto)> = socks
                .iter()
                .filter(|s| s.local.is_none_or(|l| l == addr))
                .filter_map(|s| match s.proto {
                    6 => Some((s.port, Proto::Tcp)),
                    17 => Some((s.port, Proto::Udp)),
                    _ => None,
                })
                .collect();
            for (port, proto) in ports {
                let to = Destination { addr, port: Some(port), proto };
                flows.push(Flow { name: format!("{} -> {} {to}", a.name, b.name), from: Source::Ns(a.name.clone()), to, expect: None, seed: None });
            }
        }
    }
    flows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::build::{WorldB, R};
    use crate::engine::VethLink;

    #[test]
    fn services_nodeports_and_cross_node_pods_become_flows() {
        let mut w = WorldB::new();
        w.veth("node-a", "cali1", None, "pod-1", "eth0", Some("10.244.1.2/32"));
        w.veth("node-b", "cali2", None, "pod-2", "eth0", Some("10.244.2.2/32"));
        w.veth("node-a", "eth0", Some("192.168.0.10/24"), "node-b", "eth0", Some("192.168.0.11/24"));
        for n in ["node-a", "node-b"] {
            let b = w.ns(n);
            b.sysctl("net.ipv4.ip_forward", "1").route("0.0.0.0/0", Some("192.168.0.1"), Some("eth0"));
            b.chain("nat", "KUBE-SERVICES").chain("nat", "KUBE-NODEPORTS").chain("nat", "KUBE-SVC-X");
            b.ipt("nat", "KUBE-SERVICES", R::new().d("10.96.0.10/32").p("tcp").dport(80).j("KUBE-SVC-X"));
            b.ipt("nat", "KUBE-NODEPORTS", R::new().p("tcp").dport(30080).j("KUBE-SVC-X"));
        }
        w.ns("pod-2").listen(6, 8080);
        let nss: Vec<Namespace> = w.nss.iter().map(|n| n.build()).collect();
        let refs: Vec<&Namespace> = nss.iter().collect();
        let links = vec![VethLink::new("node-a", "cali1", "pod-1", "eth0"), VethLink::new("node-b", "cali2", "pod-2", "eth0")];
        let flows = cluster_flows(&refs, &links, Some(Ipv4Addr::new(203, 0, 113, 7)));
        let names: Vec<&str> = flows.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "pod-1 -> 10.96.0.10:80/tcp",
                "pod-2 -> 10.96.0.10:80/tcp",
                "node-a -> 10.96.0.10:80/tcp",
                "node-b -> 10.96.0.10:80/tcp",
                "outside -> node-a:192.168.0.10:30080/tcp",
                "outside -> node-b:192.168.0.11:30080/tcp",
                "pod-1 -> pod-2 10.244.2.2:8080/tcp",
            ]
        );
    }
}
