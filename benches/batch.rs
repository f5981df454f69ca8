//! Every pod to every Service port (nfpath issue 7, row 3): `World::run_matrix` on the node of
//! `sim_core::engine::batch::kube_node(pods, services, 1)`: kube-proxy rules for the Service
//! ports of `gen::kube_proxy::synthetic(services, 10, 1)` (realistic mix) and `pods` pods on
//! calico-style veths. Outcomes only (`TraceLevel::Summary`), every `-m statistic` branch
//! enumerated, in parallel on the rayon pool (all cores unless RAYON_NUM_THREADS says otherwise).
//!
//!     cargo bench --bench batch -- --quick
//!     NFPATH_MATRIX=1000x10000 cargo bench --bench batch   # only one run of that size

use criterion::{criterion_group, criterion_main, Criterion};
use sim_core::engine::batch::{kube_node, Matrix};
use sim_core::engine::{RunOptions, TraceLevel};
use std::time::Instant;

fn once(pods: usize, services: usize) {
    let t = Instant::now();
    let (w, _) = kube_node(pods, services, 1);
    let m = Matrix::every_pod_to_every_service(&w);
    let load = t.elapsed();
    let opts = RunOptions { trace: TraceLevel::Summary, ..RunOptions::default() };
    let t = Instant::now();
    let r = w.run_matrix(&m, &opts);
    let run = t.elapsed();
    eprintln!(
        "batch: {pods} pods x {services} services: world in {load:.2?}; {} clients x {} ports = {} flows in {run:.2?} ({:.1} us/flow wall, {} threads); {} connected; {:?}",
        m.clients.len(),
        m.ports.len(),
        r.flows,
        run.as_secs_f64() * 1e6 / r.flows.max(1) as f64,
        rayon::current_num_threads(),
        r.connected,
        r.counts
    );
}

fn bench(c: &mut Criterion) {
    if let Some((p, s)) = std::env::var("NFPATH_MATRIX").ok().and_then(|v| v.split_once('x').map(|(a, b)| (a.parse().ok(), b.parse().ok()))) {
        if let (Some(p), Some(s)) = (p, s) {
            once(p, s);
            return;
        }
    }
    once(100, 1_000);
    let (w, _) = kube_node(10, 1_000, 1);
    let m = Matrix::every_pod_to_every_service(&w);
    let opts = RunOptions { trace: TraceLevel::Summary, ..RunOptions::default() };
    let mut g = c.benchmark_group("matrix");
    g.sample_size(10);
    g.bench_function("10-pods-x-1000-services", |b| b.iter(|| w.run_matrix(&m, &opts).flows));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
