//! Proves the expectations of bundled scenarios against the real kernel: each scenario's
//! `build.sh` rebuilds it in fresh namespaces, every flow of its `flows.yaml` is sent as real
//! connections (several times where `-m statistic` branches), and the observations are checked
//! with the same `check_flow` that `nfpath test` applies to nfpath's predictions. So a scenario
//! that passes both here and under `nfpath test` means nfpath agrees with the kernel.

use sim_core::scenario::{check_flow, parse_flows, Proto, Source};
use sim_core::trace::{ClientResult, Disposition, FlowResult, Outcome, Seen};
use std::collections::BTreeMap;
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

fn log_lines(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("logdir").flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(stem) = name.strip_suffix(".jsonl") {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            m.insert(stem.to_string(), text.lines().map(str::to_string).collect());
        }
    }
    m
}

fn kernel_check(scenario: &str) {
    harness::require_root();
    let bin = harness::nfpath_bin();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(scenario);
    let tmp = tempfile::tempdir().expect("tempdir");
    // Unique per test: the scenario tests of one process run in parallel.
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let prefix = format!("nfp-sk{}-{}", std::process::id(), SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
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

    let text = std::fs::read_to_string(dir.join("flows.yaml")).expect("flows.yaml");
    let flows = parse_flows("flows.yaml", &text);
    assert!(flows.diagnostics.is_empty(), "{:?}", flows.diagnostics);
    let mut failures = Vec::new();
    for flow in &flows.value.flows {
        let Source::Ns(from) = &flow.from else { panic!("{}: kernel check needs a namespace source", flow.name) };
        let branches = flow.expect.as_ref().and_then(|e| e.at.as_ref()).map_or(1, |a| a.to_vec().len());
        let tries = if branches > 1 { 16 } else { 1 };
        let mut seen: BTreeMap<(String, Option<String>, Option<(String, String)>), usize> = BTreeMap::new();
        for _ in 0..tries {
            let before = log_lines(tmp.path());
            let proto = match flow.to.proto {
                Proto::Tcp => "--tcp",
                Proto::Udp => "--udp",
                Proto::Icmp => panic!("{}: icmp flows are not probed here", flow.name),
            };
            let out = Command::new("ip")
                .args(["netns", "exec", &format!("{prefix}-{from}")])
                .arg(bin)
                .args(["probe", "connect", &format!("{}:{}", flow.to.addr, flow.to.port.unwrap_or(0)), proto, "--timeout-ms", "1000"])
                .output()
                .expect("probe connect");
            let v: serde_json::Value =
                serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{}: probe said {:?}: {e}", flow.name, String::from_utf8_lossy(&out.stdout)));
            let result = v["result"].as_str().unwrap_or("?").to_string();
            std::thread::sleep(Duration::from_millis(100));
            let after = log_lines(tmp.path());
            let mut got = None;
            for (stem, lines) in &after {
                let old = before.get(stem).map_or(0, Vec::len);
                if let Some(l) = lines.get(old) {
                    let r: serde_json::Value = serde_json::from_str(l).expect("listener json");
                    let ns = stem.split('.').next().unwrap_or("").to_string();
                    got = Some((ns, r["peer"].as_str().unwrap_or("").to_string(), r["local"].as_str().unwrap_or("").to_string()));
                }
            }
            let key = (result, got.as_ref().map(|g| g.0.clone()), got.map(|g| (g.1, g.2)));
            *seen.entry(key).or_default() += 1;
        }
        let outcomes = seen
            .into_iter()
            .map(|((result, at, s), n)| Outcome {
                probability: n as f64 / tries as f64,
                result: ClientResult::parse(&result).unwrap_or(ClientResult::Indeterminate),
                disposition: if at.is_some() { Disposition::Delivered } else { Disposition::Dropped },
                at,
                seen: s.map(|(src, dst)| Seen { src, dst, proto: flow.to.proto.as_str().into() }),
                reason: None,
                indeterminate: None,
                summary: String::new(),
                steps: vec![],
            })
            .collect();
        let r = FlowResult { flow: flow.name.clone(), outcomes };
        for f in check_flow(flow.expect.as_ref(), &r) {
            failures.push(format!("{}: {f}", flow.name));
        }
    }
    assert!(failures.is_empty(), "the kernel disagrees with {scenario}/flows.yaml:\n{}", failures.join("\n"));
}

#[test]
fn kube_proxy_routed_expectations_hold_on_the_kernel() {
    kernel_check("kube-proxy-routed");
}

#[test]
fn incident_1_broken_expectations_hold_on_the_kernel() {
    kernel_check("incident-1-flannel-public-ip/broken");
}

#[test]
fn incident_1_fixed_expectations_hold_on_the_kernel() {
    kernel_check("incident-1-flannel-public-ip/fixed");
}

#[test]
fn incident_3_broken_expectations_hold_on_the_kernel() {
    kernel_check("incident-3-stale-calico-route/broken");
}

#[test]
fn incident_3_fixed_expectations_hold_on_the_kernel() {
    kernel_check("incident-3-stale-calico-route/fixed");
}

#[test]
fn kube_proxy_flannel_expectations_hold_on_the_kernel() {
    kernel_check("kube-proxy-flannel");
}

#[test]
fn kube_proxy_calico_expectations_hold_on_the_kernel() {
    kernel_check("kube-proxy-calico");
}

#[test]
fn incident_5_local_endpoint_expectations_hold_on_the_kernel() {
    kernel_check("incident-5-calico-nodeport-walk/local-endpoint");
}

#[test]
fn incident_2_broken_expectations_hold_on_the_kernel() {
    kernel_check("incident-2-cloud-checklist/broken");
}

#[test]
fn incident_2_fixed_expectations_hold_on_the_kernel() {
    kernel_check("incident-2-cloud-checklist/fixed");
}

#[test]
fn incident_4_untagged_expectations_hold_on_the_kernel() {
    kernel_check("incident-4-bridge-nf-desnat/untagged");
}
