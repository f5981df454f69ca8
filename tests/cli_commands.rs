//! The built `nfpath` binary, command by command: help with an example and shell completions
//! for every command, `trace` (text, JSON against schema/answer.schema.json, DOT through
//! graphviz's `dot -Tsvg`), `test` (one line per flow, JUnit XML well-formed with the right
//! counts, exit codes 0/1/2, a broken flows file at its file:line:column), `lint` (clean and
//! failing states, JSON) and `gen` (the library's dumps, byte for byte).

#[path = "support/schema.rs"]
mod schema;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn nfpath(args: &[&str]) -> Output {
    Command::new(harness::nfpath_bin()).args(args).env("NO_COLOR", "1").output().expect("run nfpath")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scenario() -> String {
    root().join("scenarios/kube-proxy-routed").display().to_string()
}

const ALL: &[&[&str]] = &[
    &["collect"],
    &["show"],
    &["trace"],
    &["test"],
    &["diff"],
    &["lint"],
    &["gen"],
    &["gen", "kube-proxy"],
    &["gen", "calico"],
    &["probe"],
    &["matrix"],
    &["completions"],
];

#[test]
fn every_command_has_help_with_an_example_and_completions() {
    for cmd in ALL {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = nfpath(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let help = text(&out.stdout);
        assert!(help.contains("Example"), "nfpath {} --help has no example:\n{help}", cmd.join(" "));
        assert!(help.contains(&format!("nfpath {}", cmd.join(" "))), "the example runs the command itself:\n{help}");
    }
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = nfpath(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = text(&out.stdout);
        for name in ["collect", "show", "trace", "test", "diff", "lint", "gen", "kube-proxy", "calico", "probe", "change", "outside-src", "workloads"] {
            assert!(script.contains(name), "{shell} completion lacks {name}");
        }
    }
    // bash really loads the script and completes the subcommands.
    let script = text(&nfpath(&["completions", "bash"]).stdout);
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("{script}\nCOMP_WORDS=(nfpath di); COMP_CWORD=1; _nfpath nfpath di nfpath; echo \"${{COMPREPLY[@]}}\""))
        .output()
        .expect("bash");
    assert_eq!(text(&out.stdout).trim(), "diff", "{}", text(&out.stderr));
}

#[test]
fn trace_text_json_and_dot() {
    let s = scenario();
    let out = nfpath(&["trace", &s, "--from", "pod-a", "--to", "10.96.0.10:53/udp"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("flow pod-a -> 10.96.0.10:53/udp"), "{t}");
    assert!(t.contains("KUBE-SEP-KWISGLXFFMZB7NFP") && t.contains("DNAT"), "{t}");
    assert!(!t.contains('\x1b'), "no colour when piped");

    let out = nfpath(&["trace", &s, "--from", "pod-a", "--to", "10.96.0.10:53/udp", "--json"]);
    let v = schema::assert_valid(&text(&out.stdout));
    assert_eq!(v["outcomes"][0]["result"], "connected");
    assert_eq!(v["outcomes"][0]["at"], "pod-b");

    let out = nfpath(&["trace", &s, "--from", "pod-a", "--to", "10.96.12.34:80/tcp", "--format", "dot"]);
    assert_eq!(out.status.code(), Some(0));
    let dot = text(&out.stdout);
    assert!(dot.starts_with("digraph"), "{dot}");
    // graphviz must accept it (CI installs graphviz; a missing `dot` is a failure, not a skip).
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("graphviz's `dot` is needed for this test (apt-get install graphviz; .ci/run installs it)");
    use std::io::Write;
    child.stdin.take().expect("stdin").write_all(dot.as_bytes()).expect("write dot");
    let svg = child.wait_with_output().expect("dot");
    assert!(svg.status.success(), "dot -Tsvg refused the graph: {}", text(&svg.stderr));
    let svg = text(&svg.stdout);
    assert!(svg.contains("<svg") && svg.contains("KUBE&#45;SERVICES #1 jump KUBE&#45;SVC&#45;67NZLRHBNDSAWJRO"), "the picture names the rules that matched");
}

/// A minimal XML well-formedness check: every tag closes in order, attributes are quoted, and
/// the text holds no raw `<` or `&` that is not an entity. Returns (element name, attributes)
/// for every element opened.
fn xml_elements(x: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut rest = x.trim_start();
    if let Some(r) = rest.strip_prefix("<?xml") {
        rest = &r[r.find("?>").expect("xml declaration ends") + 2..];
    }
    while !rest.is_empty() {
        let lt = rest.find('<').unwrap_or(rest.len());
        let content = &rest[..lt];
        for (i, _) in content.match_indices('&') {
            let ent = &content[i..content[i..].find(';').map_or(content.len(), |j| i + j + 1)];
            assert!(["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&ent), "bad entity {ent:?}");
        }
        rest = &rest[lt..];
        if rest.is_empty() {
            break;
        }
        let gt = rest.find('>').expect("tag ends");
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name.trim()), "closing tag out of order");
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name = tag.split_whitespace().next().expect("tag name").to_string();
        let mut attrs = Vec::new();
        let mut a = tag[name.len()..].trim();
        while !a.is_empty() {
            let eq = a.find("=\"").expect("attribute quoted");
            let key = a[..eq].trim().to_string();
            let end = a[eq + 2..].find('"').expect("attribute closes") + eq + 2;
            let val = &a[eq + 2..end];
            assert!(!val.contains('<'), "raw < in an attribute");
            attrs.push((key, val.to_string()));
            a = a[end + 1..].trim();
        }
        out.push((name.clone(), attrs));
        if !self_closing {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed elements {stack:?}");
    out
}

fn attr<'a>(e: &'a (String, Vec<(String, String)>), k: &str) -> &'a str {
    e.1.iter().find(|(n, _)| n == k).map_or("", |(_, v)| v.as_str())
}

#[test]
fn test_passes_on_the_bundled_scenarios_with_junit_and_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junit = dir.path().join("report.xml");
    let out = nfpath(&["test", &root().join("scenarios").display().to_string(), "--junit", junit.to_str().expect("p")]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.lines().filter(|l| l.starts_with("  PASS ")).count() >= 11, "{t}");
    let last = t.lines().last().unwrap_or("");
    assert!(last.ends_with(" passed, 0 failed"), "{t}");
    let passed: usize = last.split(' ').next().and_then(|n| n.parse().ok()).expect("count");
    let els = xml_elements(&std::fs::read_to_string(&junit).expect("junit"));
    let cases = els.iter().filter(|e| e.0 == "testcase").count();
    assert_eq!(cases, passed);
    let top = els.iter().find(|e| e.0 == "testsuites").expect("testsuites");
    assert_eq!((attr(top, "tests"), attr(top, "failures")), (passed.to_string().as_str(), "0"));

    let out = nfpath(&["test", &root().join("scenarios").display().to_string(), "--json"]);
    let v = schema::assert_valid(&text(&out.stdout));
    assert_eq!(v.as_array().map(Vec::len), Some(passed));
}

#[test]
fn test_exit_codes_and_failures_in_junit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = root().join("scenarios/kube-proxy-routed/cluster.yaml");
    let flows = dir.path().join("flows.yaml");
    std::fs::write(
        &flows,
        format!(
            "state: {}\nflows:\n  - name: holds\n    from: pod-a\n    to: 10.96.0.10:53/udp\n    expect: {{result: connected, at: pod-b}}\n  - name: wrong\n    from: pod-b\n    to: 10.96.50.50:80/tcp\n    expect: {{result: connected}}\n  - name: no-expectation\n    from: node\n    to: 10.96.12.34:80/tcp\n",
            state.display()
        ),
    )
    .expect("write");
    let junit = dir.path().join("j.xml");
    let out = nfpath(&["test", flows.to_str().expect("p"), "--junit", junit.to_str().expect("p")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("  PASS holds (pod-a -> 10.96.0.10:53/udp)"), "{t}");
    assert!(t.contains("  FAIL wrong (pod-b -> 10.96.50.50:80/tcp): result: expected connected, found refused"), "{t}");
    assert!(t.contains("  RAN  no-expectation"), "{t}");
    assert!(t.ends_with("2 passed, 1 failed\n"), "{t}");
    let els = xml_elements(&std::fs::read_to_string(&junit).expect("junit"));
    let top = els.iter().find(|e| e.0 == "testsuites").expect("testsuites");
    assert_eq!((attr(top, "tests"), attr(top, "failures")), ("3", "1"));
    assert_eq!(els.iter().filter(|e| e.0 == "failure").count(), 1);

    // A broken flows file: exit 2, the place (file:line:column) on stdout and in JUnit.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, format!("state: {}\nflows:\n  - name: x\n    from: pod-a\n    to: 10.96.0.10:53/udpp\n", state.display())).expect("write");
    let out = nfpath(&["test", bad.to_str().expect("p"), "--junit", junit.to_str().expect("p")]);
    assert_eq!(out.status.code(), Some(2));
    let t = text(&out.stdout);
    assert!(t.contains(&format!("ERROR {}:5:23: error[bad-yaml]: flows[0]: expected protocol tcp, udp or icmp, found \"udpp\"", bad.display())), "{t}");
    let els = xml_elements(&std::fs::read_to_string(&junit).expect("junit"));
    assert!(els.iter().any(|e| e.0 == "failure"), "the unusable file is a failed case in JUnit");
    // No flows at all, and a missing path: 2 as well.
    let out = nfpath(&["test", dir.path().join("none").to_str().expect("p")]);
    assert_eq!(out.status.code(), Some(2));
}

/// A copy of the scenario's node snapshot made wrong on purpose: the calico-style veths renamed
/// (so the calico exemption does not apply) and an address from the cluster CIDR (10.244.0.0/16,
/// read from kube-proxy's `! -s 10.244.0.0/16` rule) put on eth0, as incident 3's tunl0 had.
fn broken_node(dir: &Path) -> PathBuf {
    let src = root().join("scenarios/kube-proxy-routed/snapshots/node");
    let dst = dir.join("node");
    std::fs::create_dir_all(&dst).expect("mkdir");
    for e in std::fs::read_dir(&src).expect("read").flatten() {
        let t = std::fs::read_to_string(e.path()).expect("read").replace("cali-", "veth-");
        std::fs::write(dst.join(e.file_name()), t).expect("write");
    }
    let p = dst.join("ip-addr.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("json");
    let eth0 = v.as_array_mut().expect("array").iter_mut().find(|l| l["ifname"] == "eth0").expect("eth0");
    eth0["addr_info"].as_array_mut().expect("addr_info").push(serde_json::json!({
        "family": "inet", "local": "10.244.9.1", "prefixlen": 32, "scope": "global", "label": "eth0",
        "valid_life_time": 4294967295u64, "preferred_life_time": 4294967295u64
    }));
    std::fs::write(&p, serde_json::to_string(&v).expect("json")).expect("write");
    dst
}

#[test]
fn lint_clean_and_failing_states() {
    let out = nfpath(&["lint", &scenario()]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(text(&out.stdout), "0 errors, 0 warnings, 0 notes\n");
    let out = nfpath(&["lint", &scenario(), "--json"]);
    schema::assert_valid(&text(&out.stdout));

    let dir = tempfile::tempdir().expect("tempdir");
    let node = broken_node(dir.path());
    let out = nfpath(&["lint", node.to_str().expect("p")]);
    assert_eq!(out.status.code(), Some(1), "{}{}", text(&out.stdout), text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("node/ip-addr.json:0: error[local-address-in-pod-network]: 10.244.9.1/32 on eth0 lies in the pod network 10.244.0.0/16"), "{t}");
    // The renamed veths' /32 routes now look like leftovers in the pod network: warnings.
    assert!(t.ends_with("1 errors, 2 warnings, 0 notes\n"), "{t}");
    let out = nfpath(&["lint", node.to_str().expect("p"), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = schema::assert_valid(&text(&out.stdout));
    assert_eq!(v[0]["code"], "local-address-in-pod-network");
    assert_eq!(v[0]["severity"], "error");
    // An unusable state is 2, not a lint finding.
    let out = nfpath(&["lint", dir.path().join("nothing").to_str().expect("p")]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn gen_prints_the_library_dumps_byte_for_byte() {
    let out = nfpath(&["gen", "kube-proxy", "--services", "40", "--endpoints", "3", "--seed", "7"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), sim_core::gen::kube_proxy::synthetic(40, 3, 7).dump);
    let p = sim_core::parse::iptables_save::parse("gen", &text(&out.stdout));
    assert!(!p.has_errors(), "{:?}", p.diagnostics);
    let out = nfpath(&["gen", "kube-proxy", "--services", "5", "--endpoints", "2", "--mix", "cluster-ip-only"]);
    let mix = sim_core::gen::kube_proxy::SyntheticMix::cluster_ip_only();
    assert_eq!(text(&out.stdout), sim_core::gen::kube_proxy::synthetic_with(5, 2, 1, &mix).dump);

    let dir = tempfile::tempdir().expect("tempdir");
    let ipset = dir.path().join("ipset.txt");
    let out = nfpath(&["gen", "calico", "--workloads", "12", "--ipset", ipset.to_str().expect("p")]);
    assert_eq!(out.status.code(), Some(0));
    let s = sim_core::gen::calico::synthetic(12, 1);
    assert_eq!(text(&out.stdout), s.dump.iptables);
    assert_eq!(std::fs::read_to_string(&ipset).expect("ipset"), s.dump.ipset);

    for args in [&["gen", "kube-proxy", "--services", "0"][..], &["gen", "calico", "--workloads", "x"], &["gen", "nft"]] {
        let out = nfpath(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn a_snapshot_diagnostic_names_the_snapshot_folder() {
    // Both flannel nodes of incident 1 hold a conntrack.txt with an IGMP entry nfpath keeps with
    // addresses only; the two warnings must say which node's file they are about.
    let dir = root().join("scenarios/incident-1-flannel-public-ip/broken");
    let out = nfpath(&["test", &dir.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    for node in ["node-a", "node-b"] {
        let want = format!("snapshots/{node}/conntrack.txt:1:1: warning[unsupported]");
        assert!(err.contains(&want), "no `{want}` in:\n{err}");
    }
}
