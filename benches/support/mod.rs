//! The worlds the engine benchmarks run on: the bundled `scenarios/kube-proxy-routed` node (two
//! pods on calico-style veths, a client on the LAN; every snapshot collected from the kernel)
//! with its kube-proxy rules replaced by a generated node of N service ports x 10 endpoints
//! (`sim_core::gen::kube_proxy::synthetic`, seed 1) plus the scenario's own `shop/web`
//! service, whose endpoints are the two pods. The generated services' endpoints live on other
//! nodes; `shop/web` sits in the middle of KUBE-SERVICES, so a plain walk reads half of it.

#![allow(dead_code)]

use sim_core::engine::{FlowSpec, World};
use sim_core::gen::kube_proxy::{self, Endpoint, Protocol, ServiceSpec};
use sim_core::scenario::world::{build_world, SnapshotFiles};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

/// The ClusterIP of `shop/web` in the benchmark worlds (outside the generated 10.96.x range).
pub const WEB_VIP: Ipv4Addr = Ipv4Addr::new(10, 100, 12, 34);

pub fn scenario_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/kube-proxy-routed")
}

/// The node's kube-proxy dump: N generated service ports and `shop/web` in the middle.
pub fn node_rules(n_services: usize) -> (String, kube_proxy::KubeProxyConfig) {
    let mut cfg = kube_proxy::synthetic(n_services, 10, 1).config;
    // The scenario's pods are in 10.244.1.0/24; the generated cluster is 10.0.0.0/10.
    cfg.cluster_cidr = "10.0.0.0/8".parse().expect("cidr");
    cfg.node_pod_cidr = "10.244.1.0/24".parse().expect("cidr");
    let mut web = ServiceSpec::cluster_ip("shop", "web", "http", Protocol::Tcp, WEB_VIP, 80);
    web.endpoints =
        vec![Endpoint { ip: Ipv4Addr::new(10, 244, 1, 2), port: 8080, local: true }, Endpoint { ip: Ipv4Addr::new(10, 244, 1, 3), port: 8080, local: true }];
    let mid = cfg.services.len() / 2;
    cfg.services.insert(mid, web);
    (kube_proxy::render(&cfg), cfg)
}

/// The scenario's snapshot files with the node's rules replaced.
pub fn snapshots(rules: &str) -> BTreeMap<String, SnapshotFiles> {
    let dir = scenario_dir().join("snapshots");
    let mut all = BTreeMap::new();
    for ns in ["node", "pod-a", "pod-b", "outside"] {
        let mut files = SnapshotFiles::new();
        for e in std::fs::read_dir(dir.join(ns)).expect("snapshot folder") {
            let p = e.expect("entry").path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            files.insert(name, std::fs::read_to_string(&p).expect("snapshot file"));
        }
        if ns == "node" {
            files.insert("iptables-save.txt".into(), rules.to_string());
        }
        all.insert(ns.to_string(), files);
    }
    all
}

/// The world for a node with `n_services` generated service ports.
pub fn world(n_services: usize) -> World {
    let (rules, _) = node_rules(n_services);
    world_from(&snapshots(&rules))
}

pub fn world_from(snaps: &BTreeMap<String, SnapshotFiles>) -> World {
    let dir = scenario_dir();
    let text = std::fs::read_to_string(dir.join("cluster.yaml")).expect("cluster.yaml");
    let cluster = sim_core::scenario::parse_cluster("cluster.yaml", &text);
    assert!(!cluster.has_errors(), "{:?}", cluster.diagnostics);
    let w = build_world("cluster.yaml", Some(&cluster.value), snaps);
    let errors: Vec<_> = w.diagnostics.iter().filter(|d| d.severity == sim_core::diag::Severity::Error).collect();
    w.value.unwrap_or_else(|| panic!("world: {errors:?}"))
}

/// pod-a to `shop/web`'s ClusterIP.
pub fn web_flow() -> FlowSpec {
    FlowSpec::client("pod-a to shop/web", "pod-a", WEB_VIP, 80, 6)
}
