//! `nfpath diff`'s predictions against the kernel: the kube-proxy-routed scenario is built in
//! namespaces (its build.sh), a change is applied there with the real tools, and every flow
//! `nfpath diff` generated is sent as real connections. What the clients see after the change
//! must be what `nfpath diff` predicted for "after" (results and receivers over all branches),
//! and the flows it reported as changed must look different from its "before" prediction.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

struct Built {
    script: PathBuf,
    prefix: String,
}

impl Drop for Built {
    fn drop(&mut self) {
        let _ = Command::new("sh").arg(&self.script).args(["--down", "--prefix", &self.prefix]).output();
    }
}

fn log_lines(dir: &Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("logdir").flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(stem) = name.strip_suffix(".jsonl") {
            m.insert(stem.to_string(), std::fs::read_to_string(e.path()).unwrap_or_default().lines().count());
        }
    }
    m
}

/// (result, receiving namespace) pairs the outcomes of a predicted flow result allow.
fn predicted(r: &Value) -> BTreeSet<(String, Option<String>)> {
    r["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .map(|o| {
            let result = o["result"].as_str().unwrap_or("").to_string();
            // A receiver counts only when the client saw the connection (a delivered request whose
            // reply is lost leaves the client with a timeout, and the listener log may show it).
            let at = (result == "connected").then(|| o["at"].as_str().unwrap_or("").to_string());
            (result, at)
        })
        .collect()
}

fn check_change(tag: &str, change: &str) {
    harness::require_root();
    let bin = harness::nfpath_bin();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/kube-proxy-routed");
    let tmp = tempfile::tempdir().expect("tempdir");
    let change_file = tmp.path().join("change.txt");
    std::fs::write(&change_file, change).expect("write change");
    // The prediction, from the bundled snapshots.
    let out =
        Command::new(bin).arg("diff").arg(&dir).arg("--change").arg(format!("node={}", change_file.display())).arg("--json").output().expect("nfpath diff");
    assert_eq!(out.status.code(), Some(1), "{tag}: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    let changes = report["changes"].as_array().expect("changes").clone();
    assert!(!changes.is_empty());

    let prefix = format!("nfp-dk{tag}{}", std::process::id());
    let built = Built { script: dir.join("build.sh"), prefix: prefix.clone() };
    let out = Command::new("sh")
        .arg(&built.script)
        .args(["--keep", "--prefix", &prefix, "--out"])
        .arg(tmp.path().join("snap"))
        .env("NFPATH", bin)
        .env("LOGDIR", tmp.path())
        .output()
        .expect("run build.sh");
    assert!(out.status.success(), "build.sh failed:\n{}", String::from_utf8_lossy(&out.stderr));
    std::thread::sleep(Duration::from_millis(200));
    for line in change.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let st = Command::new("ip").args(["netns", "exec", &format!("{prefix}-node"), "sh", "-c", line]).status().expect("apply");
        assert!(st.success(), "{tag}: the kernel refused {line}");
    }

    let mut failures = Vec::new();
    for c in &changes {
        let flow = c["flow"].as_str().expect("flow");
        // Generated names are `CLIENT -> ADDR:PORT/PROTO` (NodePorts: `CLIENT -> NODE:ADDR:PORT/PROTO`).
        let (from, to) = flow.split_once(" -> ").expect("flow name");
        let to = to.rsplit(':').take(2).collect::<Vec<_>>();
        let (port_proto, addr) = (to[0], to[1]);
        let (port, proto) = port_proto.split_once('/').expect("proto");
        let addr = addr.rsplit(':').next().unwrap_or(addr);
        let after = predicted(&c["after"]);
        let before = predicted(&c["before"]);
        let mut seen = BTreeSet::new();
        for _ in 0..16 {
            let logs = log_lines(tmp.path());
            let out = Command::new("ip")
                .args(["netns", "exec", &format!("{prefix}-{from}")])
                .arg(bin)
                .args(["probe", "connect", &format!("{addr}:{port}"), &format!("--{proto}"), "--timeout-ms", "500"])
                .output()
                .expect("probe");
            let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            let result = v["result"].as_str().unwrap_or("?").to_string();
            std::thread::sleep(Duration::from_millis(50));
            let at = log_lines(tmp.path())
                .into_iter()
                .find(|(stem, n)| logs.get(stem).copied().unwrap_or(0) < *n)
                .map(|(stem, _)| stem.split('.').next().unwrap_or("").to_string());
            seen.insert((result.clone(), if result == "connected" { at } else { None }));
        }
        if !seen.is_subset(&after) {
            failures.push(format!("{flow}: the kernel gave {seen:?}, nfpath predicted {after:?}"));
        }
        if seen.is_subset(&before) {
            failures.push(format!("{flow}: nfpath says it changed, but the kernel still gives {seen:?} as before ({before:?})"));
        }
    }
    assert!(failures.is_empty(), "{tag}:\n{}", failures.join("\n"));
}

#[test]
fn a_drop_inserted_changes_on_the_kernel_what_nfpath_diff_says() {
    check_change("drop", "iptables -I FORWARD 1 -d 10.244.1.3/32 -p tcp --dport 8080 -j DROP\n");
}

#[test]
fn a_route_removed_changes_on_the_kernel_what_nfpath_diff_says() {
    check_change("route", "ip route del 10.244.1.3 dev cali-b\n");
}
