//! Re-check after adding one Service to a 10k-Service node (issue 7, row 4: kube-proxy's own
//! partial sync takes about 141 ms; goal under 50 ms). The node of `support/mod.rs` with N
//! generated service ports, every flow from pod-a to every Service port run once as the
//! baseline (full traces, what-if's dependencies recorded), then timed: apply a change that adds
//! one Service as kube-proxy writes it (a KUBE-SVC chain, two KUBE-SEP chains with their DNAT
//! rules, and its rule inserted at the top of KUBE-SERVICES, which moves every other Service's
//! rule number), recompile what it touched, rerun the flows that could see it and renumber the
//! rest, and run the new Service's own flow. Each iteration is undone (not timed) before the next.
//!
//!     cargo bench --bench recheck -- --quick
//!     NFPATH_BENCH_SIZES=1000 cargo bench --bench recheck -- --quick

mod support;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sim_core::change::incremental::Recheck;
use sim_core::engine::{FlowSpec, RunOptions, TraceLevel};
use sim_core::scenario::generate::service_flows;
use sim_core::scenario::world::flow_spec;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const NEW_VIP: Ipv4Addr = Ipv4Addr::new(10, 100, 77, 1);

/// One new Service with two endpoints (the scenario's pods), as kube-proxy writes it.
fn add_service(position: usize) -> String {
    let mut s = String::new();
    for c in ["KUBE-SVC-NEWSERVICE00001", "KUBE-SEP-NEWSERVICE0000A", "KUBE-SEP-NEWSERVICE0000B"] {
        s.push_str(&format!("iptables -t nat -N {c}\n"));
    }
    for (x, ip) in [("A", "10.244.1.2"), ("B", "10.244.1.3")] {
        s.push_str(&format!("iptables -t nat -A KUBE-SEP-NEWSERVICE0000{x} -m comment --comment shop/new:http -s {ip}/32 -j KUBE-MARK-MASQ\n"));
        s.push_str(&format!(
            "iptables -t nat -A KUBE-SEP-NEWSERVICE0000{x} -m comment --comment shop/new:http -p tcp -m tcp -j DNAT --to-destination {ip}:8080\n"
        ));
    }
    s.push_str("iptables -t nat -A KUBE-SVC-NEWSERVICE00001 -m comment --comment shop/new:http -m statistic --mode random --probability 0.5 -j KUBE-SEP-NEWSERVICE0000A\n");
    s.push_str("iptables -t nat -A KUBE-SVC-NEWSERVICE00001 -m comment --comment shop/new:http -j KUBE-SEP-NEWSERVICE0000B\n");
    s.push_str(&format!(
        "iptables -t nat -I KUBE-SERVICES {position} -d {NEW_VIP}/32 -p tcp -m comment --comment \"shop/new:http cluster IP\" -m tcp --dport 80 -j KUBE-SVC-NEWSERVICE00001\n"
    ));
    s
}

fn bench_recheck(c: &mut Criterion) {
    let sizes: Vec<usize> =
        std::env::var("NFPATH_BENCH_SIZES").ok().map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect()).unwrap_or_else(|| vec![10_000]);
    let mut group = c.benchmark_group("recheck/add-one-service");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(5));
    let opts = RunOptions { trace: TraceLevel::Full, ..RunOptions::default() };
    for &n in &sizes {
        let t = Instant::now();
        let world = support::world(n);
        let built = t.elapsed();
        let (node, pod) = (world.namespace("node").expect("node"), world.namespace("pod-a").expect("pod-a"));
        let flows: Vec<(FlowSpec, RunOptions)> =
            service_flows(&[node], &[pod], None).iter().map(|f| (flow_spec(f).expect("flow"), RunOptions { seed: f.seed, ..opts.clone() })).collect();
        let count = flows.len();
        let t = Instant::now();
        let mut rc = Recheck::new(world, flows);
        eprintln!(
            "{n} service ports: world built in {:.1} s; baseline of {count} flows (pod-a to every Service port) in {:.2} s",
            built.as_secs_f64(),
            t.elapsed().as_secs_f64()
        );
        let change = add_service(1);
        let new_flow = vec![(FlowSpec::client("pod-a to shop/new", "pod-a", NEW_VIP, 80, 6), opts.clone())];

        // One run by hand: what the re-check did, and the answer for the new Service.
        let t = Instant::now();
        let (p, done) = rc.apply("node", "add-service.txt", &change).expect("apply");
        let applied = t.elapsed();
        assert!(!p.diagnostics.iter().any(|d| d.severity == sim_core::diag::Severity::Error), "{:?}", p.diagnostics);
        let t = Instant::now();
        rc.add_flows(new_flow.clone());
        let new_run = t.elapsed();
        let t = Instant::now();
        rc.results();
        let flushed = t.elapsed();
        let r = &rc.results()[count];
        assert!(r.outcomes.iter().all(|o| o.result == sim_core::trace::ClientResult::Connected), "{r:?}");
        eprintln!(
            "add one Service: {} flows rerun, {} to renumber; apply + recompile + rerun {:.1} ms, the new Service's flow {:.1} ms; renumbering every kept trace when read {:.1} ms",
            done.rerun.len(),
            done.renumbered,
            applied.as_secs_f64() * 1e3,
            new_run.as_secs_f64() * 1e3,
            flushed.as_secs_f64() * 1e3
        );
        // The naive what-if for comparison: rebuild the world, rerun every flow.
        let t = Instant::now();
        let fresh = rc.world().rebuilt(&support_links()).expect("rebuild");
        let rebuilt = t.elapsed();
        let t = Instant::now();
        let all: Vec<_> = {
            use rayon::prelude::*;
            rc.flows().to_vec().par_iter().map(|(s, o)| fresh.run_flow(s, o)).collect()
        };
        eprintln!(
            "full rebuild for comparison: world {:.0} ms, rerun of all {} flows {:.0} ms",
            rebuilt.as_secs_f64() * 1e3,
            all.len(),
            t.elapsed().as_secs_f64() * 1e3
        );
        assert!(all.iter().zip(rc.results()).all(|(a, b)| a == b), "the incremental results differ from the full rerun");
        drop((fresh, all));
        rc.revert_all();
        rc.truncate_flows(count);

        group.bench_with_input(BenchmarkId::new("apply-recompile-recheck", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let out = rc.apply("node", "add-service.txt", &change).expect("apply");
                    rc.add_flows(new_flow.clone());
                    total += t.elapsed();
                    std::hint::black_box(out);
                    rc.revert_all();
                    rc.truncate_flows(count);
                }
                total
            })
        });
    }
    group.finish();
}

fn support_links() -> Vec<sim_core::engine::VethLink> {
    let text = std::fs::read_to_string(support::scenario_dir().join("cluster.yaml")).expect("cluster.yaml");
    let c = sim_core::scenario::parse_cluster("cluster.yaml", &text);
    c.value.links.iter().map(|[a, b]| sim_core::engine::VethLink::new(&a.ns, &a.dev, &b.ns, &b.dev)).collect()
}

criterion_group!(benches, bench_recheck);
criterion_main!(benches);
