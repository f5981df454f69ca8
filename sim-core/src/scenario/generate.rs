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
    let dev = ns
        .routes
        .iter()
        .find(|r| r.table == crate::model::route::RT_TABLE_MAIN && r.dst.prefix_len() == 0)
        .and_then(|r| r.dev())?;
    let a = ns.addrs.iter().find(|a| a.ifname == dev && a.scope == crate::model::types::Scope::Universe)?;
    Some((dev.to_string(), a.local))
}

/// Every client (pods and nodes) to every Service port, and every NodePort on every node from
/// an outside source (`external_src`, injected on the node's uplink).
pub fn service_flows(
    nodes: &[&Namespace],
    pods: &[&Namespace],
    external_src: Ipv4Addr,
) -> Vec<Flow> {
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
            flows.push(Flow {
                name: format!("{} -> {}", client.name, s.dst),
                from: Source::Ns(client.name.clone()),
                to: s.dst,
                expect: None,
                seed: None,
            });
        }
    }
    for n in nodes {
        let Some((dev, addr)) = uplink(n) else { continue };
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
