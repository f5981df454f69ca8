//! Same input, same output, byte for byte, whatever the thread count: `nfpath test --json` and
//! `nfpath trace` over the bundled scenarios with 1 and 4 worker threads, twice each.

use std::process::Command;

fn run(args: &[&str], threads: &str) -> Vec<u8> {
    let out = Command::new(harness::nfpath_bin())
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RAYON_NUM_THREADS", threads)
        .env("NO_COLOR", "1")
        .output()
        .expect("run nfpath");
    assert!(out.status.code().is_some_and(|c| c <= 1), "nfpath {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn outputs_do_not_depend_on_threads_or_runs() {
    for args in [
        vec!["test", "scenarios/", "--json"],
        vec!["test", "scenarios/"],
        vec!["trace", "scenarios/kube-proxy-routed/flows.yaml"],
        vec!["trace", "scenarios/kube-proxy-routed/flows.yaml", "--format", "dot"],
    ] {
        let first = run(&args, "1");
        assert!(!first.is_empty(), "nfpath {args:?} printed nothing");
        for threads in ["4", "1", "4"] {
            assert!(run(&args, threads) == first, "nfpath {args:?} differs with {threads} threads");
        }
    }
}
