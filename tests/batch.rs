//! `World::run_batch` and `World::run_matrix` (nfpath issue 7, row 3): the same answers as
//! flows run one by one with `run_flow`, whatever the number of threads, on a bundled scenario
//! collected from the kernel and on generated kube-proxy nodes whose pods include endpoints of
//! the Services they call (hairpin), LoadBalancers with source ranges, externalTrafficPolicy
//! Local and session affinity.

use sim_core::engine::batch::{class_of, kube_node, Matrix};
use sim_core::engine::{FlowSpec, RunOptions, TraceLevel, World};
use sim_core::trace::FlowResult;
use std::collections::BTreeMap;

fn pool(n: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(n).build().expect("a rayon pool")
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialize")
}

fn sequential(w: &World, flows: &[FlowSpec], opts: &RunOptions) -> Vec<FlowResult> {
    flows.iter().map(|f| w.run_flow(f, opts)).collect()
}

fn scenario_world() -> World {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/kube-proxy-routed");
    let text = std::fs::read_to_string(dir.join("cluster.yaml")).expect("cluster.yaml");
    let cluster = sim_core::scenario::parse_cluster("cluster.yaml", &text);
    let mut snaps = BTreeMap::new();
    for (ns, rel) in &cluster.value.namespaces {
        let mut files = BTreeMap::new();
        for e in std::fs::read_dir(dir.join(rel)).expect("snapshot folder") {
            let p = e.expect("entry").path();
            files.insert(p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string(), std::fs::read_to_string(&p).expect("snapshot file"));
        }
        snaps.insert(ns.clone(), files);
    }
    sim_core::scenario::world::build_world("cluster.yaml", Some(&cluster.value), &snaps).value.expect("the scenario's world")
}

/// Batches on 1 and 4 threads print what the flows print one by one, for full traces and
/// summaries, enumerated and seeded.
fn check_batches(w: &World, flows: &[FlowSpec]) {
    let all_opts = [
        RunOptions::default(),
        RunOptions { trace: TraceLevel::Summary, ..RunOptions::default() },
        RunOptions { seed: Some(42), trace: TraceLevel::Summary, ..RunOptions::default() },
    ];
    for opts in &all_opts {
        let seq = json(&sequential(w, flows, opts));
        let one = json(&pool(1).install(|| w.run_batch(flows, opts)));
        let four = json(&pool(4).install(|| w.run_batch(flows, opts)));
        assert!(one == seq, "1 thread differs from the sequential run ({opts:?})");
        assert!(four == seq, "4 threads differ from the sequential run ({opts:?})");
    }
}

#[test]
fn batches_match_sequential_runs_on_a_collected_scenario() {
    let w = scenario_world();
    let m = Matrix::every_pod_to_every_service(&w);
    assert_eq!(m.clients, vec!["outside", "pod-a", "pod-b"]);
    assert!(!m.ports.is_empty());
    check_batches(&w, &m.flows());
}

#[test]
fn batches_match_sequential_runs_on_generated_nodes() {
    // 40 pods in 10.0.0.0/24 and 120 Service ports: with seed 5 some Service endpoints are
    // pods of this node (hairpin), and the realistic mix has LoadBalancers with source ranges,
    // eTP=Local, affinity and Services without endpoints.
    let (w, k) = kube_node(40, 120, 5);
    let pods: std::collections::HashSet<_> = k.pods.iter().collect();
    let svcs = &k.config.services;
    assert!(svcs.iter().any(|s| s.endpoints.iter().any(|e| pods.contains(&e.ip))), "a pod is an endpoint");
    assert!(svcs.iter().any(|s| !s.load_balancer_source_ranges.is_empty()), "LB source ranges");
    assert!(svcs.iter().any(|s| s.external_traffic_policy == sim_core::gen::kube_proxy::TrafficPolicy::Local), "eTP=Local");
    assert!(svcs.iter().any(|s| s.session_affinity_seconds.is_some()), "affinity");
    let m = Matrix::every_pod_to_every_service(&w);
    check_batches(&w, &m.flows()[..m.ports.len() * 8]);
}

#[test]
fn the_matrix_report_folds_the_per_flow_answers() {
    let (w, _) = kube_node(12, 60, 5);
    let m = Matrix::every_pod_to_every_service(&w);
    let opts = RunOptions { trace: TraceLevel::Summary, ..RunOptions::default() };
    let report = pool(4).install(|| w.run_matrix(&m, &opts));
    assert_eq!(json(&report), json(&pool(1).install(|| w.run_matrix(&m, &opts))));
    // Recount from flows run one by one.
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut failing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &m.ports {
        for c in &m.clients {
            let class = class_of(&w.run_flow(&m.flow(c, p), &opts).outcomes);
            if class != "connected" {
                failing.entry(format!("{} {class}", p.dst)).or_default().push(c.clone());
            }
            *counts.entry(class).or_default() += 1;
        }
    }
    assert_eq!(report.counts, counts);
    assert_eq!(report.flows, (m.clients.len() * m.ports.len()) as u64);
    assert_eq!(report.connected, counts.get("connected").copied().unwrap_or(0));
    let got: BTreeMap<String, Vec<String>> =
        report.failing.iter().flat_map(|f| f.groups.iter().map(move |g| (format!("{} {}", f.port, g.class), g.clients.clone()))).collect();
    assert_eq!(got, failing);
    assert!(report.connected > 0 && !report.failing.is_empty(), "{:#?}", report.counts);
}
