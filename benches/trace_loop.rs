//! A loop for profilers: builds the benchmark world with N service ports (default 10,000),
//! prints when it is ready, then runs the pod -> ClusterIP flow for S seconds (default 5) and
//! prints the mean time per flow on this thread's CPU. Record from the "ready" line on, e.g.
//! `perf record -D 9000 ...` or `valgrind --tool=callgrind --toggle-collect='*run_flow*'`.
//!
//!     cargo bench --bench trace_loop -- 10000 5 [full|plain]

mod support;

use sim_core::engine::{RunOptions, TraceLevel};

fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let n: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let mode = args.get(2).map(String::as_str).unwrap_or("summary");
    let t = std::time::Instant::now();
    let world = support::world(n);
    let flow = support::web_flow();
    let opts = RunOptions { trace: if mode == "full" { TraceLevel::Full } else { TraceLevel::Summary }, plain_walk: mode == "plain", ..RunOptions::default() };
    eprintln!("ready: world with {n} service ports in {:.1} s", t.elapsed().as_secs_f64());
    let t = std::time::Instant::now();
    let c0 = thread_cpu_ns();
    let mut runs = 0u64;
    while t.elapsed().as_secs_f64() < secs {
        for _ in 0..100 {
            std::hint::black_box(world.run_flow(std::hint::black_box(&flow), &opts));
        }
        runs += 100;
    }
    let wall = t.elapsed().as_secs_f64();
    let cpu = thread_cpu_ns().zip(c0).map(|(b, a)| (b - a) as f64 / 1e9);
    println!(
        "{runs} flows ({mode}): {:.2} us wall, {} per flow",
        wall / runs as f64 * 1e6,
        cpu.map_or("?".into(), |c| format!("{:.2} us CPU", c / runs as f64 * 1e6))
    );
}
