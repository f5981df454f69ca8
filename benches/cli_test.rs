//! `nfpath test` at scale (nfpath issue 5): a 1,000-flow run on a node of a generated
//! 1,000-service cluster, at library level as the command runs it: the state is loaded once,
//! then every flow runs in parallel (rayon), outcomes only as without --json, and is checked against an
//! expectation. Goal: under one second.
//!
//! The node: `gen::kube_proxy::synthetic(1_000, 10, 1)` rules (realistic mix: NodePorts,
//! LoadBalancers, affinity, services without endpoints...), eth0 192.168.0.10/24 with a default
//! route, forwarding on, and one pod (10.0.1.2) on a veth. The flows: the pod to each of the
//! first 1,000 Service ports (`scenario::generate::service_flows`), each enumerating its
//! `-m statistic` branches (about 10 endpoints per Service).
//!
//! A second benchmark times the command itself, end to end: the built `nfpath test` (release)
//! on a scenario folder made from `scenarios/kube-proxy-routed` with the node's rules replaced by
//! the same 1,000-service dump and a flows file of 1,000 flows (pod-a to each Service port):
//! reading and parsing every file, building the world, running and checking every flow,
//! printing the report.
//!
//!     cargo bench --bench cli_test -- --quick

use criterion::{criterion_group, criterion_main, Criterion};
use rayon::prelude::*;
use sim_core::engine::build::WorldB;
use sim_core::engine::{RunOptions, TraceLevel, VethLink, World};
use sim_core::scenario::files::{Expect, ExpectedResult, Flow};
use sim_core::scenario::generate::service_flows;
use sim_core::scenario::runner::FlowReport;
use sim_core::scenario::world::flow_spec;
use sim_core::trace::ClientResult;
use std::time::Instant;

fn world(n_services: usize) -> (World, Vec<Flow>) {
    let mut b = WorldB::new();
    b.veth("node", "cali0", Some("10.0.1.1/24"), "pod", "eth0", Some("10.0.1.2/24"));
    b.veth("node", "eth0", Some("192.168.0.10/24"), "gw", "eth0", Some("192.168.0.1/24"));
    b.ns("node").sysctl("net.ipv4.ip_forward", "1").route("0.0.0.0/0", Some("192.168.0.1"), Some("eth0"));
    b.ns("pod").route("0.0.0.0/0", Some("10.0.1.1"), Some("eth0"));
    let mut nss: Vec<_> = b.nss.iter().map(|n| n.build()).collect();
    let dump = sim_core::gen::kube_proxy::synthetic(n_services, 10, 1).dump;
    let node = nss.iter_mut().find(|n| n.name == "node").expect("node");
    let p = sim_core::parse::iptables_save::parse("iptables-save.txt", &dump);
    assert!(!p.has_errors(), "{:?}", p.diagnostics.first());
    node.ruleset = p.value;
    let links = vec![VethLink::new("node", "cali0", "pod", "eth0"), VethLink::new("node", "eth0", "gw", "eth0")];
    let flows = {
        let node = nss.iter().find(|n| n.name == "node").expect("node");
        let pod = nss.iter().find(|n| n.name == "pod").expect("pod");
        service_flows(&[node], &[pod], None)
    };
    let mut flows: Vec<Flow> = flows.into_iter().filter(|f| f.from.ns() == "pod").take(1_000).collect();
    // An expectation on every flow, so the run checks as `nfpath test` does.
    for f in &mut flows {
        f.expect = Some(Expect { result: Some(ExpectedResult(ClientResult::Timeout)), ..Expect::default() });
    }
    (World::new(nss, &links).expect("world"), flows)
}

/// One `nfpath test` run: every flow in parallel, full traces, checked; results in file order.
fn run(world: &World, flows: &[Flow]) -> Vec<FlowReport> {
    // As the command runs without --json: outcomes only.
    let opts = RunOptions { trace: TraceLevel::Summary, ..RunOptions::default() };
    flows
        .par_iter()
        .map(|f| {
            let spec = flow_spec(f).expect("spec");
            FlowReport::new(f.clone(), world.run_flow(&spec, &opts))
        })
        .collect()
}

/// The 1,000-flow scenario folder for the end-to-end run, in `dir`.
fn scenario_folder(dir: &std::path::Path) {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/kube-proxy-routed");
    for ns in ["node", "pod-a", "pod-b", "outside"] {
        let to = dir.join("snapshots").join(ns);
        std::fs::create_dir_all(&to).expect("mkdir");
        for e in std::fs::read_dir(src.join("snapshots").join(ns)).expect("snapshot").flatten() {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
    std::fs::copy(src.join("cluster.yaml"), dir.join("cluster.yaml")).expect("copy cluster.yaml");
    let dump = sim_core::gen::kube_proxy::synthetic(1_000, 10, 1).dump;
    std::fs::write(dir.join("snapshots/node/iptables-save.txt"), &dump).expect("write rules");
    let node = sim_core::model::namespace::Namespace {
        name: "node".into(),
        ruleset: sim_core::parse::iptables_save::parse("iptables-save.txt", &dump).value,
        ..Default::default()
    };
    let pod = sim_core::model::namespace::Namespace { name: "pod-a".into(), ..Default::default() };
    let mut yaml = String::from("state: cluster.yaml\nflows:\n");
    for f in service_flows(&[&node], &[&pod], None).into_iter().filter(|f| f.from.ns() == "pod-a").take(1_000) {
        yaml.push_str(&format!("  - name: {}\n    from: pod-a\n    to: {}\n", f.name, f.to));
    }
    assert_eq!(yaml.matches("- name:").count(), 1_000);
    std::fs::write(dir.join("flows.yaml"), yaml).expect("write flows");
}

fn bench_binary(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    scenario_folder(dir.path());
    let bin = harness::nfpath_bin();
    let run = || {
        let out = std::process::Command::new(bin).args(["test", "-q"]).arg(dir.path()).output().expect("run nfpath");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout.len()
    };
    let t = Instant::now();
    run();
    eprintln!("cli_test: `nfpath test` (end to end, {}) on 1,000 flows and 1,000 services: {:.2?}", bin.display(), t.elapsed());
    let mut g = c.benchmark_group("nfpath-test-binary");
    g.sample_size(10);
    g.bench_function("1000-flows-on-1000-services", |b| b.iter(run));
    g.finish();
}

fn bench(c: &mut Criterion) {
    let t = Instant::now();
    let (w, flows) = world(1_000);
    let load = t.elapsed();
    assert_eq!(flows.len(), 1_000, "1,000 service ports from the pod");
    let t = Instant::now();
    let reports = run(&w, &flows);
    let once = t.elapsed();
    let outcomes: usize = reports.iter().map(|r| r.result.outcomes.len()).sum();
    eprintln!("cli_test: 1,000-service node loaded in {load:.2?}; 1,000 flows ({outcomes} outcomes) in {once:.2?} on {} threads", rayon::current_num_threads());
    let mut g = c.benchmark_group("nfpath-test");
    g.sample_size(10);
    g.bench_function("1000-flows-on-1000-services", |b| b.iter(|| run(&w, &flows).len()));
    g.finish();
}

criterion_group!(benches, bench, bench_binary);
criterion_main!(benches);
