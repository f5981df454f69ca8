//! Import benchmark (nfpath issues 2 and 7): `iptables-save` text of a generated kube-proxy node
//! -> `Ruleset`, with throughput in lines per second and the peak heap of one import compared
//! with the size of the text.
//!
//! Cases: kube-proxy nodes with 1,000 and 10,000 service ports of 10 endpoints each, realistic
//! mix (`sim_core::gen::kube_proxy::synthetic`, seed 1), and a calico-felix node with 1,000
//! workloads (`sim_core::gen::calico::synthetic`). Run `cargo bench --bench import -- --quick`
//! for a short run; the memory figures are printed before criterion's output.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sim_core::gen::calico;
use sim_core::gen::kube_proxy::{self, SyntheticMix};
use sim_core::parse::iptables_save;

/// The system allocator, counting live bytes and the high-water mark since the last reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; the counters only observe sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

struct Case {
    name: &'static str,
    dump: String,
    lines: u64,
}

fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = [("kube-proxy-1k-services-x10", 1_000usize), ("kube-proxy-10k-services-x10", 10_000)]
        .into_iter()
        .map(|(name, n)| {
            let s = kube_proxy::synthetic(n, 10, 1);
            let lines = s.stats.lines as u64;
            Case { name, dump: s.dump, lines }
        })
        .collect();
    let felix = calico::synthetic(1_000, 1).dump.iptables;
    let lines = felix.lines().count() as u64;
    cases.push(Case { name: "calico-1k-workloads", dump: felix, lines });
    cases
}

/// Sizes against kube-proxy.md's formula: N ClusterIP services x M endpoints give
/// N(3M+2)+5 nat rules (plus 3 built-in jumps) and N(M+1)+4 nat chains (plus 2 canaries).
fn print_formula_check() {
    let (n, m) = (10_000usize, 10usize);
    let s = kube_proxy::synthetic_with(n, m, 1, &SyntheticMix::cluster_ip_only());
    println!(
        "kube-proxy ClusterIP-only {n}x{m}: {} lines, {:.1} MiB; nat rules {} (formula {} + 3 \
         built-in jumps), nat chains {} (formula {} + 2 canaries), large-cluster mode {}",
        s.stats.lines,
        s.stats.bytes as f64 / 1_048_576.0,
        s.stats.nat_rules,
        n * (3 * m + 2) + 5,
        s.stats.nat_user_chains,
        n * (m + 1) + 4,
        s.stats.large_cluster_mode,
    );
}

/// Runs `f` and returns its result with the heap it used above what was live before it:
/// (result, peak during, still live when it returned).
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let value = f();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    let retained = LIVE.load(Ordering::Relaxed).saturating_sub(before);
    (value, peak, retained)
}

/// Heap used by one import: (peak, retained, diagnostics).
fn import_memory(text: &str) -> (usize, usize, usize) {
    let (parsed, peak, retained) = measure(|| iptables_save::parse("bench.rules", text));
    let diagnostics = parsed.diagnostics.len();
    drop(parsed);
    (peak, retained, diagnostics)
}

fn bench_import(c: &mut Criterion) {
    // The counter must see a known allocation, or the figures below would mean nothing.
    let (v, peak, retained) = measure(|| vec![0u8; 1 << 20]);
    assert!(peak >= 1 << 20 && retained >= 1 << 20, "allocation counter is not counting");
    drop(v);

    print_formula_check();
    let cases = cases();
    for case in &cases {
        let (peak, retained, diagnostics) = import_memory(&case.dump);
        let mb = |b: usize| b as f64 / 1_048_576.0;
        println!(
            "import {}: {} lines, {:.1} MiB text; one import peaks at {:.1} MiB above baseline \
             ({:.2}x the text), keeps {:.1} MiB ({:.2}x); {} diagnostics",
            case.name,
            case.lines,
            mb(case.dump.len()),
            mb(peak),
            peak as f64 / case.dump.len() as f64,
            mb(retained),
            retained as f64 / case.dump.len() as f64,
            diagnostics,
        );
    }

    let mut group = c.benchmark_group("import/iptables-save");
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_secs(1));
    group.measurement_time(std::time::Duration::from_secs(5));
    for case in &cases {
        group.throughput(Throughput::Elements(case.lines));
        group.bench_with_input(BenchmarkId::from_parameter(case.name), &case.dump, |b, text| {
            b.iter(|| iptables_save::parse("bench.rules", std::hint::black_box(text)))
        });
    }
    group.finish();

    // Generation is part of every benchmark and property test that uses these dumps.
    let mut group = c.benchmark_group("gen/kube-proxy");
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_secs(1));
    group.measurement_time(std::time::Duration::from_secs(5));
    for (case, n) in cases.iter().zip([1_000usize, 10_000]) {
        group.throughput(Throughput::Elements(case.lines));
        group.bench_function(BenchmarkId::from_parameter(case.name), |b| b.iter(|| kube_proxy::synthetic(std::hint::black_box(n), 10, 1).stats.lines));
    }
    group.finish();
}

criterion_group!(benches, bench_import);
criterion_main!(benches);
