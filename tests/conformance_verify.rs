//! `nfpath verify` against the kernel:
//! - the bundled kube-proxy scenario replays and every flow agrees (exit 0);
//! - random conformance cases, collected into a scenario folder and torn down, replay through
//!   `nfpath verify` into fresh namespaces and agree too: the replay (devices, addresses,
//!   routes, rules, sysctls, iptables, listeners) rebuilds what the snapshots describe;
//! - what cannot be replayed is exit 2, injected flows are reported as not verifiable.
//!
//! Must run as root: where namespaces cannot be made, the tests fail loudly.

use harness::conformance::driver::case_tree;
use harness::conformance::gen::render;
use harness::conformance::run::{build, RunConfig};
use std::fmt::Write as _;
use std::path::Path;

fn verify(args: &[&str]) -> (i32, String, String) {
    harness::require_root();
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    let out = harness::nfpath(&all);
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn kube_proxy_routed_agrees_on_this_kernel() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/kube-proxy-routed");
    let (code, out, err) = verify(&[dir.to_str().expect("utf-8 path")]);
    assert_eq!(code, 0, "nfpath verify exited {code}\n{out}\n{err}");
    assert!(out.contains("11 agree, 0 disagree, 0 not verifiable"), "{out}\n{err}");
    // The load-balanced flows were sent several times and landed on both endpoints.
    assert!(out.contains("received at pod-a") && out.contains("received at pod-b"), "{out}");
}

#[test]
fn json_verdicts_name_every_flow() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/kube-proxy-routed/flows.yaml");
    let (code, out, err) = verify(&[dir.to_str().expect("utf-8 path"), "--json", "--tries", "4"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let verdicts = v.as_array().expect("an array");
    assert_eq!(verdicts.len(), 11);
    for x in verdicts {
        assert_eq!(x["verdict"], "agree", "{x}");
        assert!(!x["observed"].as_array().expect("observed").is_empty());
        assert!(x["predicted"]["outcomes"].is_array());
    }
}

/// Writes a scenario folder: the snapshots copied to `dir/<namespace>/`, `cluster.yaml` with
/// the case's links, `flows.yaml` with its flows.
fn write_scenario(dir: &Path, case: &harness::conformance::case::Case, snaps: &[(String, tempfile::TempDir)]) {
    let mut cluster = String::from("namespaces:\n");
    for (name, d) in snaps {
        let to = dir.join(name);
        std::fs::create_dir_all(&to).expect("mkdir");
        for e in std::fs::read_dir(d.path()).expect("read snapshot").flatten() {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
        let _ = writeln!(cluster, "  {name}: {name}");
    }
    cluster.push_str("links:\n");
    for l in &case.links {
        let _ = writeln!(cluster, "  - [{}:{}, {}:{}]", l.a, l.a_dev, l.b, l.b_dev);
    }
    std::fs::write(dir.join("cluster.yaml"), cluster).expect("write cluster.yaml");
    let mut flows = String::from("state: cluster.yaml\nflows:\n");
    for (i, f) in case.flows.iter().enumerate() {
        let _ = writeln!(flows, "  - name: flow-{i}\n    from: {}\n    to: {}", f.from, f.to);
    }
    std::fs::write(dir.join("flows.yaml"), flows).expect("write flows.yaml");
}

#[test]
fn random_cases_replayed_by_verify_agree() {
    harness::require_root();
    let n: usize = std::env::var("NFPATH_VERIFY_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(12);
    let cfg = RunConfig { prefix: "confv".into(), ..RunConfig::default() };
    let failures = std::sync::Mutex::new(Vec::new());
    let flows = std::sync::atomic::AtomicUsize::new(0);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let case = render(&case_tree(7, i).current());
                let tmp = tempfile::tempdir().expect("tempdir");
                {
                    // Built, collected, and torn down before the replay starts.
                    let built = build(&case, &cfg).unwrap_or_else(|e| panic!("case {i} could not be built: {e}\n{}", case.describe()));
                    let snaps = built.collect_dirs().expect("collect");
                    write_scenario(tmp.path(), &case, &snaps);
                }
                flows.fetch_add(case.flows.len(), std::sync::atomic::Ordering::SeqCst);
                let (code, out, err) = verify(&[tmp.path().to_str().expect("utf-8"), "--timeout-ms", "500"]);
                if code != 0 {
                    let msg = format!("case {i}: nfpath verify exited {code}\n{}{out}\n{err}", case.describe());
                    failures.lock().unwrap_or_else(|p| p.into_inner()).push(msg);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    let flows = flows.into_inner();
    println!("nfpath verify on {n} random cases ({flows} flows): {} failed", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn what_cannot_be_replayed_is_unusable_and_injected_flows_are_skipped() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let snap = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/kube-proxy-routed/snapshots");
    // An underlay cannot be built in namespaces: exit 2, saying why.
    std::fs::write(
        tmp.path().join("cluster.yaml"),
        format!("namespaces:\n  node: {}\nunderlay:\n  networks:\n    - name: vpc\n      members: [node:eth0]\n", snap.join("node").display()),
    )
    .expect("write");
    std::fs::write(tmp.path().join("flows.yaml"), "flows:\n  - name: f\n    from: node\n    to: 192.168.0.10:80/tcp\n").expect("write");
    let (code, out, err) = verify(&[tmp.path().to_str().expect("utf-8")]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("underlay"), "{err}");

    // A packet injected on an interface is not sent; the other flows are.
    std::fs::write(tmp.path().join("cluster.yaml"), format!("namespaces:\n  node: {}\n", snap.join("node").display())).expect("write");
    std::fs::write(
        tmp.path().join("flows.yaml"),
        "flows:\n  - name: injected\n    from: {ns: node, src: 192.168.0.53, iif: eth0}\n    to: 192.168.0.10:30081/tcp\n  - name: local\n    from: node\n    to: 192.168.0.10:30081/tcp\n",
    )
    .expect("write");
    let (code, out, err) = verify(&[tmp.path().to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("SKIP     injected"), "{out}");
    assert!(out.contains("1 agree, 0 disagree, 1 not verifiable"), "{out}");
}
