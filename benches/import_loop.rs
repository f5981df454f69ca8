//! A loop for profilers (perf, `valgrind --tool=callgrind`): parses one iptables-save file a
//! given number of times, with no criterion machinery and no generation inside the measured
//! process. Without a file it writes the generated 10,000 x 10 kube-proxy dump first.
//!
//!     cargo bench --bench import_loop -- /tmp/kp10k.rules 3 [SERVICES]
//!     valgrind --tool=callgrind target/release/deps/import_loop-* /tmp/kp10k.rules 1
//!
//! SERVICES (default 10,000) sizes the dump generated when the file does not exist.

use sim_core::gen::kube_proxy;
use sim_core::parse::iptables_save;

fn main() {
    // `cargo bench` appends `--bench`; only the plain arguments count.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let path = args.first().cloned().unwrap_or_else(|| "/tmp/nfpath-kube-proxy-10k-x10.rules".into());
    let times: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let services: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    if !std::path::Path::new(&path).exists() {
        let s = kube_proxy::synthetic(services, 10, 1);
        std::fs::write(&path, &s.dump).expect("write the generated dump");
        eprintln!("wrote {path} ({} lines)", s.stats.lines);
    }
    let text = std::fs::read_to_string(&path).expect("read the dump");
    let lines = text.lines().count();
    for _ in 0..times {
        let t = std::time::Instant::now();
        let p = iptables_save::parse(&path, std::hint::black_box(&text));
        let dt = t.elapsed();
        println!(
            "{} lines in {:.1} ms: {:.0}k lines/s; {} rules, {} diagnostics",
            lines,
            dt.as_secs_f64() * 1e3,
            lines as f64 / dt.as_secs_f64() / 1e3,
            p.value.rule_count(),
            p.diagnostics.len()
        );
    }
}
