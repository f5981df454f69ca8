//! One bidirectional trace, pod -> ClusterIP, on a node with 1k, 10k and 30k service ports
//! (issue 7, row 2: under 5 us at every size, single thread). `World::run_flow` with
//! `TraceLevel::Summary` (outcomes only) and with `TraceLevel::Full` (every step rendered), on
//! the indexed chain walk and on the plain walk. See `support/mod.rs` for the world.
//!
//!     cargo bench --bench trace -- --quick

mod support;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sim_core::engine::{RunOptions, TraceLevel};
use sim_core::trace::ClientResult;

fn bench_trace(c: &mut Criterion) {
    let sizes: Vec<usize> =
        std::env::var("NFPATH_BENCH_SIZES").ok().map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect()).unwrap_or_else(|| vec![1_000, 10_000, 30_000]);
    let mut group = c.benchmark_group("trace/pod-to-clusterip");
    group.sample_size(20);
    group.warm_up_time(std::time::Duration::from_millis(500));
    group.measurement_time(std::time::Duration::from_secs(2));
    let flow = support::web_flow();
    for &n in &sizes {
        let t = std::time::Instant::now();
        let world = support::world(n);
        eprintln!("world with {n} service ports built in {:.1} s", t.elapsed().as_secs_f64());
        let summary = RunOptions { trace: TraceLevel::Summary, ..RunOptions::default() };
        let full = RunOptions { trace: TraceLevel::Full, ..RunOptions::default() };
        let plain = RunOptions { trace: TraceLevel::Summary, plain_walk: true, ..RunOptions::default() };
        // The answer the figures are for: both endpoints reached, one outcome each.
        let r = world.run_flow(&flow, &summary);
        assert_eq!(r.outcomes.len(), 2, "{r:?}");
        assert!(r.outcomes.iter().all(|o| o.result == ClientResult::Connected), "{r:?}");
        assert_eq!(world.run_flow(&flow, &plain).outcomes, r.outcomes);
        group.bench_with_input(BenchmarkId::new("summary", n), &n, |b, _| b.iter(|| world.run_flow(std::hint::black_box(&flow), &summary)));
        group.bench_with_input(BenchmarkId::new("full", n), &n, |b, _| b.iter(|| world.run_flow(std::hint::black_box(&flow), &full)));
        group.bench_with_input(BenchmarkId::new("summary-plain-walk", n), &n, |b, _| b.iter(|| world.run_flow(std::hint::black_box(&flow), &plain)));
    }
    group.finish();
}

criterion_group!(benches, bench_trace);
criterion_main!(benches);
