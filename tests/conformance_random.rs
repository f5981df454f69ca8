//! Random differential testing of nfpath against the real kernel (issue 6): random but
//! meaningful cases (2 to 6 namespaces, veth trees with extra paths, addresses, routes in several
//! tables with policy rules, forwarding and rp_filter, iptables rulesets over raw, mangle, nat and
//! filter, listeners, TCP, UDP and ICMP echo flows) are built in namespaces, collected with
//! `nfpath collect`, predicted by nfpath from the snapshots, and sent for real. Every flow must
//! agree. Measured runs and the bugs they found: `tests/conformance/LOG.md`.
//!
//! `NFPATH_CONFORMANCE_CASES` sets the count (default 300), `NFPATH_CONFORMANCE_SEED` the seed,
//! `NFPATH_CONFORMANCE_JOBS` the parallel workers; see `tests/harness/conformance/driver.rs`. A
//! disagreement is shrunk and saved under `tests/conformance/` as a fixture that
//! `tests/conformance_regressions.rs` replays.
//!
//! Must run as root: where namespaces cannot be made, the test fails loudly.

use harness::conformance::driver::{run_random, DriverConfig};

#[test]
fn random_cases_agree_with_the_kernel() {
    harness::require_root();
    let cfg = DriverConfig::from_env(300);
    eprintln!(
        "conformance: {} random cases from seed {} (first {}), {} at a time, timeout {} ms",
        cfg.cases, cfg.seed, cfg.first, cfg.jobs, cfg.run.timeout_ms
    );
    let summary = run_random(&cfg);
    let results: Vec<String> = summary.results.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("conformance: {}", summary.line());
    println!("conformance: kernel results over all flows: {}", results.join(", "));
    let phases: Vec<String> = summary.phases.iter().map(|(k, v)| format!("{k} {:.2} s", v.as_secs_f64() / summary.cases.max(1) as f64)).collect();
    println!("conformance: mean time per case: {}", phases.join(", "));
    let cov: Vec<String> = summary.coverage.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    println!("conformance: flows whose walk went through (per nfpath's traces):\n  {}", cov.join("\n  "));
    eprintln!("conformance: {}", summary.line());
    assert!(summary.cases == cfg.cases, "ran {} cases of {}", summary.cases, cfg.cases);
    if !summary.failures.is_empty() {
        let mut msg = String::new();
        for f in &summary.failures {
            msg.push_str(&format!("\n=== case {} ({}):\n{}", f.index, f.saved.as_ref().map_or("not saved".into(), |p| p.display().to_string()), f.report));
        }
        panic!("nfpath disagreed with the kernel (or a case could not be built) in {} of {} cases:{msg}", summary.failures.len(), summary.cases);
    }
}
