//! `nfpath matrix` (nfpath issue 7, row 3): every pod to every Service port of a state, its text
//! and JSON reports, exit codes, and the same stdout whatever the number of threads.

use std::process::{Command, Output};

fn nfpath(args: &[&str], threads: &str) -> Output {
    Command::new(harness::nfpath_bin())
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env("RAYON_NUM_THREADS", threads)
        .output()
        .expect("run nfpath")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn matrix_of_a_collected_scenario() {
    let out = nfpath(&["matrix", "scenarios/kube-proxy-routed"], "1");
    let stdout = text(&out.stdout);
    // The scenario's clients (the LAN host and both pods) to its two Service ports: the pods
    // reach both, the LAN host has no route to the Service network at all.
    assert!(stdout.starts_with("3 clients x 2 Service ports = 6 flows\n  4 connected\n  2 error:ENETUNREACH (no-route)\n"), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("10.96.12.34:80/tcp (shop/web:http cluster IP): error:ENETUNREACH (no-route) from 1 of 3 clients: "), "{stdout}");
    assert!(stdout.contains("\n    outside\n"), "{stdout}");
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(nfpath(&["matrix", "scenarios/kube-proxy-routed"], "4").stdout, out.stdout);

    let json = nfpath(&["matrix", "scenarios/kube-proxy-routed", "--json", "--from", "pod-*"], "2");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(v["clients"], 2);
    assert_eq!(v["flows"], 4);
    assert_eq!(v["connected"], 4);
    assert_eq!(v["counts"], serde_json::json!({"connected": 4}));
    assert_eq!(json.status.code(), Some(0), "every pod connects");

    let none = nfpath(&["matrix", "scenarios/kube-proxy-routed", "--from", "nobody"], "1");
    assert_eq!(none.status.code(), Some(2));
    assert!(text(&none.stderr).contains("no client namespace matches --from nobody"), "{}", text(&none.stderr));
}

#[test]
fn matrix_of_the_generated_benchmark_node() {
    let args = ["matrix", "--generate", "6x40", "--seed", "5"];
    let out = nfpath(&args, "1");
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("6 clients x "), "{stdout}\n{}", text(&out.stderr));
    // Endpoints in the pods' block that are no pod meet calico's blackhole route.
    assert!(stdout.contains(": connected p=0.9000 | timeout (blackhole) p=0.1000 from every client: the request is dropped in node (blackhole)"), "{stdout}");
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(nfpath(&args, "3").stdout, out.stdout, "stdout depends on the thread count");
    let json = nfpath(&["matrix", "--generate", "6x40", "--seed", "5", "--json"], "2");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(v["clients"], 6);
    let failing = v["failing"].as_array().expect("failing");
    assert!(failing.iter().all(|f| f["groups"].as_array().is_some_and(|g| !g.is_empty())));
    let bad = nfpath(&["matrix", "--generate", "6by40"], "1");
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("expected PODSxSERVICES"), "{}", text(&bad.stderr));
}
