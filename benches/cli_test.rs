//! `nfpath test` at scale (nfpath issue 5): a 1,000-flow run on a node of a generated
//! 1,000-service cluster, at library level as the command runs it: the state is loaded once,
//! then every flow runs in parallel (rayon) with full traces and is checked against an
//! expectation. Goal: under one second.
//!
//! The node: `gen::kube_proxy::synthetic(1_000, 10, 1)` rules (realistic mix: NodePorts,
//! LoadBalancers, affinity, services without endpoints...), eth0 192.168.0.10/24 with a default
//! route, forwarding on, and one pod (10.0.1.2) on a veth. The flows: the pod to each of the
//! first 1,000 Service ports (`scenario::generate::service_flows`), each enumerating its
//! `-m statistic` branches (about 10 endpoints per Service).
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
    let opts = RunOptions { trace: TraceLevel::Full, ..RunOptions::default() };
    flows
        .par_iter()
        .map(|f| {
            let spec = flow_spec(f).expect("spec");
            FlowReport::new(f.clone(), world.run_flow(&spec, &opts))
        })
        .collect()
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

criterion_group!(benches, bench);
criterion_main!(benches);
