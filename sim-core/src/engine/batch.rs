//! Many flows at once: [`World::run_batch`] runs a list of flows in parallel (rayon) and returns
//! their results in input order, and [`World::run_matrix`] runs every client to every Service
//! port of a [`Matrix`] and folds the answers into a [`MatrixReport`] without keeping 10M traces.
//!
//! Determinism: a flow's answer depends only on the world, the flow and the options. Random
//! choices are either enumerated (`seed: None`) or drawn from the options' seed, restarted for
//! every flow (`flow::Run::new`), so neither the thread a flow runs on nor the order in which
//! flows run can change it; collecting keeps input order and the fold sums integers, so the
//! output is byte-for-byte the same for any number of threads.
//!
//! [`kube_node`] builds the world the "every pod to every Service port" figure is
//! measured on: one kube-proxy node with P calico-style pods and S generated Service ports.

use crate::engine::build::WorldB;
use crate::engine::{FlowSpec, RunOptions, VethLink, World};
use crate::gen::kube_proxy;
use crate::model::route::{NextHop, Route, RouteType, RT_TABLE_LOCAL};
use crate::model::types::Scope;
use crate::model::Namespace;
use crate::scenario::files::Destination;
use crate::scenario::generate;
use crate::trace::{ClientResult, FlowResult, Outcome};
use ipnet::Ipv4Net;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

impl World {
    /// Runs every flow (in parallel on the current rayon pool); results in input order.
    pub fn run_batch(&self, flows: &[FlowSpec], opts: &RunOptions) -> Vec<FlowResult> {
        flows.par_iter().map(|f| self.run_flow(f, opts)).collect()
    }

    /// Runs every client of `m` to every Service port of `m` and folds the answers.
    pub fn run_matrix(&self, m: &Matrix, opts: &RunOptions) -> MatrixReport {
        // One task per Service port: each runs every client to it, so failures group by
        // Service port as they are found, and the per-port partials come back in port order.
        let per_port: Vec<(BTreeMap<String, u64>, Option<PortFailures>)> = m.ports.par_iter().map(|p| self.matrix_port(m, p, opts)).collect();
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut failing = Vec::new();
        for (c, f) in per_port {
            for (k, v) in c {
                *counts.entry(k).or_default() += v;
            }
            failing.extend(f);
        }
        let flows = (m.clients.len() * m.ports.len()) as u64;
        let connected = counts.get(CONNECTED).copied().unwrap_or(0);
        MatrixReport { clients: m.clients.len(), ports: m.ports.len(), flows, connected, counts, failing }
    }

    fn matrix_port(&self, m: &Matrix, p: &MatrixPort, opts: &RunOptions) -> (BTreeMap<String, u64>, Option<PortFailures>) {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut groups: Vec<FailGroup> = Vec::new();
        for c in &m.clients {
            let spec = m.flow(c, p);
            let r = self.run_flow(&spec, opts);
            let class = class_of(&r.outcomes);
            if class != CONNECTED {
                match groups.iter_mut().find(|g| g.class == class) {
                    Some(g) => g.clients.push(c.clone()),
                    None => groups.push(FailGroup {
                        summary: r.outcomes.iter().find(|o| o.result != ClientResult::Connected).map(|o| o.summary.clone()).unwrap_or_default(),
                        class: class.clone(),
                        clients: vec![c.clone()],
                    }),
                }
            }
            *counts.entry(class).or_default() += 1;
        }
        let f = (!groups.is_empty()).then(|| PortFailures { port: p.dst.to_string(), name: p.name.clone(), groups });
        (counts, f)
    }
}

/// The class a flow's answer is counted under.
pub const CONNECTED: &str = "connected";

/// One word (or a few) for a flow's outcomes: `connected`, `timeout (no-route)`, or, when random
/// choices end differently, each result with its summed probability (`connected p=0.9000 |
/// timeout (rule) p=0.1000`). Outcomes that differ only in where they were delivered (which
/// endpoint a Service chose) count as one.
pub fn class_of(outcomes: &[Outcome]) -> String {
    let mut by: Vec<(String, f64)> = Vec::new();
    for o in outcomes {
        let k = match o.reason {
            Some(r) => format!("{} ({})", o.result.as_string(), r.as_str()),
            None => o.result.as_string(),
        };
        match by.iter_mut().find(|(x, _)| *x == k) {
            Some(e) => e.1 += o.probability,
            None => by.push((k, o.probability)),
        }
    }
    match by.len() {
        0 => "no outcome".into(),
        1 => by.swap_remove(0).0,
        _ => {
            by.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal).then_with(|| a.0.cmp(&b.0)));
            by.iter().map(|(k, p)| format!("{k} p={p:.4}")).collect::<Vec<_>>().join(" | ")
        }
    }
}

/// A Service port of a matrix.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct MatrixPort {
    pub dst: Destination,
    /// kube-proxy's comment (`ns/name:port cluster IP`), when the rule has one.
    pub name: Option<String>,
}

/// Every client namespace to every Service port.
#[derive(Clone, Debug, Default)]
pub struct Matrix {
    pub clients: Vec<String>,
    pub ports: Vec<MatrixPort>,
}

impl Matrix {
    /// Every namespace that is not a node (`scenario::generate::is_node`) to every Service port
    /// of every node's kube-proxy rules (nat KUBE-SERVICES), both in name order.
    pub fn every_pod_to_every_service(w: &World) -> Matrix {
        let nss: Vec<&Namespace> = w.namespace_names().filter_map(|n| w.namespace(n)).collect();
        let mut ports = std::collections::BTreeSet::new();
        let mut clients = Vec::new();
        for ns in nss {
            if generate::is_node(ns) {
                for s in generate::services(ns).0 {
                    ports.insert(MatrixPort { dst: s.dst, name: s.name });
                }
            } else {
                clients.push(ns.name.clone());
            }
        }
        Matrix { clients, ports: ports.into_iter().collect() }
    }

    /// The flow from `client` to `port`, named as `nfpath diff` names it.
    pub fn flow(&self, client: &str, port: &MatrixPort) -> FlowSpec {
        FlowSpec::client(&format!("{client} -> {}", port.dst), client, port.dst.addr, port.dst.port.unwrap_or(0), port.dst.proto.number())
    }

    /// Every flow, client-major (the order `run_batch` results come in for [`Matrix::flows`]).
    pub fn flows(&self) -> Vec<FlowSpec> {
        self.clients.iter().flat_map(|c| self.ports.iter().map(move |p| self.flow(c, p))).collect()
    }
}

/// Clients that did not connect to one Service port, grouped by what happened to them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PortFailures {
    pub port: String,
    pub name: Option<String>,
    pub groups: Vec<FailGroup>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailGroup {
    /// See [`class_of`].
    pub class: String,
    /// The first client's summary of its first outcome that is not `connected`.
    pub summary: String,
    /// In client order.
    pub clients: Vec<String>,
}

/// What a matrix run found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatrixReport {
    pub clients: usize,
    pub ports: usize,
    pub flows: u64,
    /// Flows whose every outcome is `connected`.
    pub connected: u64,
    /// Flows per class ([`class_of`]).
    pub counts: BTreeMap<String, u64>,
    /// Service ports some client did not connect to, in port order.
    pub failing: Vec<PortFailures>,
}

// ---- the benchmark world ----

/// What [`kube_node`] made, beside the world.
#[derive(Clone, Debug)]
pub struct KubeNode {
    pub config: kube_proxy::KubeProxyConfig,
    /// Pod addresses, in pod order (`pod-0000`, `pod-0001`, ...).
    pub pods: Vec<Ipv4Addr>,
}

/// The pods' block: a calico IPAM block just large enough, at 10.0.0.0, where
/// `gen::kube_proxy::synthetic` puts the endpoints of its first nodes (10.0.k.0/24 for node k), so
/// some of them are these pods whatever the size.
fn pod_block(pods: usize) -> Ipv4Net {
    let mut len = 24u8;
    while len > 12 && (1usize << (32 - len)) < pods + 2 {
        len -= 1;
    }
    Ipv4Net::new(Ipv4Addr::new(10, 0, 0, 0), len).unwrap_or_default()
}

/// The prefixes of `outer` that do not overlap `inner` (the rest of the cluster).
fn complement(outer: Ipv4Net, inner: Ipv4Net) -> Vec<Ipv4Net> {
    if !outer.contains(&inner.network()) {
        return vec![outer];
    }
    if outer == inner {
        return vec![];
    }
    outer.subnets(outer.prefix_len() + 1).map(|it| it.flat_map(|h| complement(h, inner)).collect()).unwrap_or_default()
}

/// One kube-proxy node (iptables mode, `gen::kube_proxy::synthetic(services, 10, seed)` with the
/// realistic mix: NodePorts, LoadBalancers with source ranges, externalTrafficPolicy Local,
/// affinity, Services without endpoints) and `pods` pods on calico-style routed veths
/// (`caliNNNN`, a /32 each, default via 169.254.1.1 answered by proxy ARP, a blackhole for the
/// block as calico installs). Endpoints inside the pods' block are this node's pods (so some pods
/// are endpoints of Services they call: hairpin). Everything else of the cluster (other nodes'
/// pods, the API servers) is one namespace `rest-of-cluster` behind the node's eth0 that owns
/// those addresses (local routes, as `ip route add local PREFIX dev lo`) and listens everywhere.
pub fn kube_node(pods: usize, services: usize, seed: u64) -> (World, KubeNode) {
    let mut cfg = kube_proxy::synthetic(services, 10, seed).config;
    let block = pod_block(pods);
    let pod_ips: Vec<Ipv4Addr> = block.hosts().skip(1).take(pods).collect();
    cfg.node_pod_cidr = block;
    let is_pod: std::collections::HashSet<Ipv4Addr> = pod_ips.iter().copied().collect();
    for s in &mut cfg.services {
        for e in &mut s.endpoints {
            e.local = is_pod.contains(&e.ip);
        }
    }
    let rules = kube_proxy::render(&cfg);

    let mut b = WorldB::new();
    b.veth("node", "eth0", Some(&format!("{}/24", cfg.node_ip)), "rest-of-cluster", "eth0", Some("192.168.0.1/24"));
    let names: Vec<(String, String)> = (0..pods).map(|i| (format!("pod-{i:04}"), format!("cali{i:04}"))).collect();
    for ((pod, cali), ip) in names.iter().zip(&pod_ips) {
        b.veth("node", cali, None, pod, "eth0", Some(&format!("{ip}/32")));
        b.ns("node").route(&format!("{ip}/32"), None, Some(cali)).sysctl(&format!("net.ipv4.conf.{cali}.proxy_arp"), "1");
        let p = b.ns(pod);
        p.route("169.254.1.1/32", None, Some("eth0")).route("0.0.0.0/0", Some("169.254.1.1"), Some("eth0"));
        // No socket list: every port listens, as for a pod synthesized from a cluster file.
        p.ns.sockets = None;
    }
    let node = b.ns("node");
    // This node is also an API server (`default/kubernetes` has an endpoint on its address).
    node.listen(6, 6443);
    node.route("0.0.0.0/0", Some("192.168.0.1"), Some("eth0")).route_type(RouteType::Blackhole, &block.to_string()).sysctl("net.ipv4.ip_forward", "1");
    let rest = b.ns("rest-of-cluster");
    rest.route(&block.to_string(), Some(&cfg.node_ip.to_string()), Some("eth0")).sysctl("net.ipv4.ip_forward", "1");
    rest.ns.sockets = None;
    let mut owned = complement(cfg.cluster_cidr, block);
    // The API servers (default/kubernetes' endpoints) other than this node.
    for s in cfg.services.iter().filter(|s| s.namespace == "default" && s.name == "kubernetes") {
        owned.extend(s.endpoints.iter().filter(|e| e.ip != cfg.node_ip).filter_map(|e| Ipv4Net::new(e.ip, 32).ok()));
    }
    for dst in owned {
        rest.ns.routes.push(Route {
            table: RT_TABLE_LOCAL,
            rtype: RouteType::Local,
            dst,
            tos: 0,
            metric: 0,
            protocol: Some("boot".into()),
            scope: Scope::Host,
            prefsrc: None,
            nexthops: vec![NextHop { gateway: None, dev: Some("lo".into()), onlink: false, weight: 1, dead: false, linkdown: false }],
            mtu: None,
            origin: None,
        });
    }
    let mut nss: Vec<Namespace> = b.nss.iter().map(|n| n.build()).collect();
    let p = crate::parse::iptables_save::parse("iptables-save.txt", &rules);
    if let Some(n) = nss.iter_mut().find(|n| n.name == "node") {
        n.ruleset = p.value;
    }
    let links: Vec<VethLink> = b.links.clone();
    let w = World::new(nss, &links).unwrap_or_else(|e| panic!("the generated node world is inconsistent: {e}"));
    (w, KubeNode { config: cfg, pods: pod_ips })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_of_the_cluster_is_the_cluster_cidr_minus_the_pods_block() {
        let block = pod_block(1000);
        assert_eq!(block.to_string(), "10.0.0.0/22");
        assert_eq!(pod_block(10).to_string(), "10.0.0.0/24");
        let outer: Ipv4Net = "10.0.0.0/10".parse().unwrap_or_default();
        let rest = complement(outer, block);
        let size = |n: &Ipv4Net| 1u64 << (32 - n.prefix_len());
        assert_eq!(rest.iter().map(size).sum::<u64>() + size(&block), size(&outer));
        assert!(rest.iter().all(|n| !n.contains(&block.network()) && !block.contains(&n.network())));
    }
}
