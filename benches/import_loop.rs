//! A loop for profilers (perf, `valgrind --tool=callgrind`): parses one iptables-save file a
//! given number of times, with no criterion machinery and no generation inside the measured
//! process. Without a file it writes the generated 10,000 x 10 kube-proxy dump first.
//!
//!     cargo bench --bench import_loop -- /tmp/kp10k.rules 3 [SERVICES]
//!     valgrind --tool=callgrind target/release/deps/import_loop-* /tmp/kp10k.rules 1
//!
//! SERVICES (default 10,000) sizes the dump generated when the file does not exist; a file
//! name containing "calico" gets a calico-felix node of that many workloads instead.

use sim_core::gen::{calico, kube_proxy};
use sim_core::model::ruleset::{Chain, Match, NatRange, NatTarget, Rule, Ruleset, Target};
use sim_core::parse::iptables_save;
use std::mem::size_of;

/// Heap bytes by part of the model, as the allocator is asked for them (no malloc overhead).
fn breakdown(rs: &Ruleset, text_len: usize) {
    let mut parts: Vec<(&str, usize)> = Vec::new();
    parts.push(("rule texts kept", rs.sources.iter().map(|s| s.len()).sum()));
    let chains = rs.tables.iter().flat_map(|t| &t.chains);
    parts.push(("chain structs", rs.tables.iter().map(|t| t.chains.capacity() * size_of::<Chain>()).sum()));
    parts.push(("chain names", chains.clone().map(|c| c.name.len() + 16).sum()));
    parts.push(("rule structs", chains.clone().map(|c| c.rules.capacity() * size_of::<Rule>()).sum()));
    let rules = || chains.clone().flat_map(|c| &c.rules);
    parts.push(("match structs", rules().map(|r| r.matches.capacity() * size_of::<Match>()).sum()));
    parts.push(("comments", rules().flat_map(|r| &r.matches).map(|m| if let Match::Comment(c) = m { c.capacity() } else { 0 }).sum()));
    parts.push((
        "nat targets",
        rules()
            .map(|r| match &r.target {
                Target::Dnat(n) | Target::Snat(n) => size_of::<NatTarget>() + n.ranges.capacity() * size_of::<NatRange>(),
                _ => 0,
            })
            .sum(),
    ));
    parts.push((
        "counters, interfaces, unreadable",
        rules()
            .map(|r| {
                r.counters.as_ref().map_or(0, |_| 16)
                    + r.base.in_iface.as_ref().map_or(0, |_| 40)
                    + r.base.out_iface.as_ref().map_or(0, |_| 40)
                    + r.unreadable.as_ref().map_or(0, |u| 24 + u.len())
            })
            .sum(),
    ));
    let total: usize = parts.iter().map(|p| p.1).sum();
    let text = text_len.max(1);
    for (n, b) in &parts {
        eprintln!("  {n:<34} {:>8.1} MiB {:>5.2}x", *b as f64 / 1048576.0, *b as f64 / text as f64);
    }
    eprintln!(
        "  {:<34} {:>8.1} MiB {:>5.2}x (not counted: other boxed options, jump names not shared)",
        "total",
        total as f64 / 1048576.0,
        total as f64 / text as f64
    );
}

/// Time this thread has run on a CPU, in nanoseconds (`/proc/thread-self/schedstat`): on a
/// shared machine the wall clock also counts the time other processes had the core.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

fn main() {
    // `cargo bench` appends `--bench`; only the plain arguments count.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let path = args.first().cloned().unwrap_or_else(|| "/tmp/nfpath-kube-proxy-10k-x10.rules".into());
    let times: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let services: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    if !std::path::Path::new(&path).exists() {
        // A file name with "calico" in it gets a calico-felix node of SERVICES workloads.
        let dump = if path.contains("calico") { calico::synthetic(services, 1).dump.iptables } else { kube_proxy::synthetic(services, 10, 1).dump };
        std::fs::write(&path, &dump).expect("write the generated dump");
        eprintln!("wrote {path} ({} lines)", dump.lines().count());
    }
    let text = std::fs::read_to_string(&path).expect("read the dump");
    let lines = text.lines().count();
    breakdown(&iptables_save::parse(&path, &text).value, text.len());
    for _ in 0..times {
        let t = std::time::Instant::now();
        let cpu = thread_cpu_ns();
        let p = iptables_save::parse(&path, std::hint::black_box(&text));
        let rules = p.value.rule_count();
        let diagnostics = p.diagnostics.len();
        drop(p);
        let dt = t.elapsed();
        let dcpu = thread_cpu_ns().zip(cpu).map(|(b, a)| (b - a) as f64 / 1e9);
        println!(
            "{} lines in {:.1} ms wall ({:.0}k lines/s), {} on this thread's CPU; {} rules, {} diagnostics (import and drop)",
            lines,
            dt.as_secs_f64() * 1e3,
            lines as f64 / dt.as_secs_f64() / 1e3,
            dcpu.map_or("unknown time".to_string(), |c| format!("{:.1} ms ({:.0}k lines/s)", c * 1e3, lines as f64 / c / 1e3)),
            rules,
            diagnostics
        );
    }
}
