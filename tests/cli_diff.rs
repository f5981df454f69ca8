//! `nfpath diff` on the bundled kube-proxy-routed scenario: a change that breaks one Service (a
//! DROP inserted, a route removed, a mark changed) reports exactly the flows that broke and the
//! rule or route responsible; a harmless change reports none. The flows each change breaks were
//! worked out by hand from the scenario (README.md) before the engine was asked, and
//! tests/diff_kernel.rs checks the same predictions against the kernel.

#[path = "support/schema.rs"]
mod schema;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/kube-proxy-routed")
}

fn nfpath(args: &[&str]) -> Output {
    Command::new(harness::nfpath_bin()).args(args).env("NO_COLOR", "1").output().expect("run nfpath")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Writes a change file and runs `nfpath diff SCENARIO --change node=FILE [extra]`.
fn diff_with(change: &str, extra: &[&str]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("change.txt");
    std::fs::write(&file, change).expect("write change");
    let spec = format!("node={}", file.display());
    let sc = scenario();
    let mut args = vec!["diff", sc.to_str().expect("path"), "--change", &spec];
    args.extend_from_slice(extra);
    (nfpath(&args), dir)
}

/// The flows reported as changed and, per flow, its causes (`now` lines), from the JSON report.
fn changed(out: &Output) -> (BTreeSet<String>, Vec<(String, Vec<String>, Vec<String>)>) {
    let v = schema::assert_valid(&text(&out.stdout));
    let changes = v["changes"].as_array().expect("changes");
    assert_eq!(v["changed"].as_u64(), Some(changes.len() as u64));
    let names = changes.iter().map(|c| c["flow"].as_str().expect("flow").to_string()).collect();
    let causes = changes
        .iter()
        .map(|c| {
            let get = |k: &str| c["causes"].as_array().expect("causes").iter().filter_map(|x| x[k].as_str().map(str::to_string)).collect();
            (c["flow"].as_str().unwrap_or("").to_string(), get("now"), get("was"))
        })
        .collect();
    (names, causes)
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_drop_inserted_breaks_exactly_the_flows_to_that_endpoint_and_names_the_rule() {
    // Forwarded TCP to pod-b:8080 is dropped: shop/web from pods (the pod-b branch) and the
    // NodePort break; the node's own connections go through OUTPUT, not FORWARD, and DNS is UDP.
    let change = "# block web on pod-b\niptables -I FORWARD 1 -d 10.244.1.3/32 -p tcp --dport 8080 -j DROP\n";
    let (out, _d) = diff_with(change, &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let (names, causes) = changed(&out);
    assert_eq!(names, set(&["pod-a -> 10.96.12.34:80/tcp", "pod-b -> 10.96.12.34:80/tcp", "outside -> node:192.168.0.10:30080/tcp"]));
    for (flow, now, _) in &causes {
        assert_eq!(now.len(), 1, "{flow}: {now:?}");
        assert!(
            now[0].contains("filter FORWARD FORWARD #1 (") && now[0].contains("change.txt:2) DROP: iptables -I FORWARD 1 -d 10.244.1.3/32"),
            "{flow}: {now:?}"
        );
    }
    assert!(text(&out.stderr).contains("3 of 9 flows changed"), "{}", text(&out.stderr));
}

#[test]
fn a_route_removed_breaks_every_flow_that_reaches_the_pod_and_names_the_route() {
    let (out, _d) = diff_with("ip route del 10.244.1.3 dev cali-b\n", &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let (names, causes) = changed(&out);
    // Everything that reaches pod-b (web's second endpoint, DNS's only one, replies to pod-b's
    // own connections); outside's ClusterIP flows had no route to begin with.
    assert_eq!(
        names,
        set(&[
            "pod-a -> 10.96.0.10:53/udp",
            "pod-a -> 10.96.12.34:80/tcp",
            "pod-b -> 10.96.0.10:53/udp",
            "pod-b -> 10.96.12.34:80/tcp",
            "node -> 10.96.0.10:53/udp",
            "node -> 10.96.12.34:80/tcp",
            "outside -> node:192.168.0.10:30080/tcp",
        ])
    );
    for (flow, now, was) in &causes {
        assert!(was.iter().any(|w| w.contains("[node] route table main: 10.244.1.3 dev cali-b")), "{flow}: {was:?}");
        assert!(now.iter().any(|n| n.contains("[node] route table main: default via 192.168.0.53 dev eth0")), "{flow}: {now:?}");
    }
}

#[test]
fn a_mark_changed_breaks_masquerade_and_names_the_mark_rule() {
    // KUBE-POSTROUTING masquerades 0x4000; marking 0x8000 instead leaves hairpin connections
    // (a pod reaching itself through a Service) and the NodePort without SNAT. The node's own
    // connections to Services change too: `MASQUERADE --random-fully` re-picks their source
    // port (same address), and without the mark they keep the port they had.
    let (out, _d) = diff_with("iptables -t nat -R KUBE-MARK-MASQ 1 -j MARK --set-xmark 0x8000/0x8000\n", &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let (names, causes) = changed(&out);
    assert_eq!(
        names,
        set(&[
            "pod-a -> 10.96.12.34:80/tcp",
            "pod-b -> 10.96.0.10:53/udp",
            "pod-b -> 10.96.12.34:80/tcp",
            "node -> 10.96.0.10:53/udp",
            "node -> 10.96.12.34:80/tcp",
            "outside -> node:192.168.0.10:30080/tcp"
        ])
    );
    for (flow, now, was) in &causes {
        assert!(now.iter().all(|n| n.contains("KUBE-MARK-MASQ #1 (") && n.contains("change.txt:1) MARK")), "{flow}: {now:?}");
        assert!(was.iter().all(|w| w.contains("--set-xmark 0x4000/0x4000")), "{flow}: {was:?}");
    }
}

#[test]
fn a_harmless_change_reports_no_flow_and_exits_0() {
    let change = "iptables -A INPUT -p tcp --dport 2222 -j DROP\nip route add 198.51.100.0/24 via 192.168.0.53\nip rule add fwmark 0x99 lookup 100 pref 500\n*filter\n:KUBE-NEW - [0:0]\n-A KUBE-NEW -j RETURN\nCOMMIT\n";
    let (out, _d) = diff_with(change, &[]);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.ends_with("0 of 9 flows changed\n"), "{s}");
    assert!(!s.contains("CHANGED"), "{s}");
    // What the change did is listed, each with its line.
    for l in [
        "change.txt:1: filter INPUT: rule 5 appended",
        "change.txt:2: route added: 198.51.100.0/24 via 192.168.0.53 dev eth0",
        "change.txt:3: rule added: 500:",
        "change.txt:5: filter KUBE-NEW: chain created",
        "change.txt:7: filter: committed",
    ] {
        assert!(s.contains(l), "missing {l:?} in:\n{s}");
    }
}

#[test]
fn the_text_report_shows_old_and_new_and_the_responsible_rule() {
    let (out, _d) = diff_with("iptables -I FORWARD 1 -d 10.244.1.3/32 -p tcp --dport 8080 -j DROP\n", &["--quiet"]);
    assert_eq!(out.status.code(), Some(1));
    let s = text(&out.stdout);
    let block: Vec<&str> = s.lines().skip_while(|l| *l != "CHANGED outside -> node:192.168.0.10:30080/tcp").take(7).collect();
    assert_eq!(
        block[1..5],
        [
            "  before: p=0.5000 connected, delivered at pod-a as 192.168.0.10:1024 -> 10.244.1.2:8080/tcp",
            "  before: p=0.5000 connected, delivered at pod-b as 192.168.0.10:1024 -> 10.244.1.3:8080/tcp",
            "  after:  p=0.5000 connected, delivered at pod-a as 192.168.0.10:1024 -> 10.244.1.2:8080/tcp",
            "  after:  p=0.5000 timeout, dropped (rule)",
        ],
        "{s}"
    );
    assert!(
        block[5].starts_with("  now:    [node] filter FORWARD FORWARD #1 (")
            && block[5].ends_with("change.txt:1) DROP: iptables -I FORWARD 1 -d 10.244.1.3/32 -p tcp --dport 8080 -j DROP"),
        "{s}"
    );
    assert!(block[6].starts_with("  was:    [node] filter FORWARD FORWARD #1 (iptables-save.txt:30) jump KUBE-PROXY-FIREWALL"), "{s}");
    assert!(!s.contains("change applied"), "--quiet leaves out what the change did");
}

#[test]
fn two_states_and_a_flows_file() {
    // The state after: a copy of the scenario whose node lost the DNS Service rule.
    let tmp = tempfile::tempdir().expect("tempdir");
    let copy = tmp.path().join("after");
    let sh = Command::new("cp").arg("-r").arg(scenario()).arg(&copy).status().expect("cp");
    assert!(sh.success());
    let save = copy.join("snapshots/node/iptables-save.txt");
    let t = std::fs::read_to_string(&save).expect("read");
    let edited: String = t.lines().filter(|l| !l.starts_with("-A KUBE-SERVICES -d 10.96.0.10/32")).map(|l| format!("{l}\n")).collect();
    assert_eq!(t.lines().count(), edited.lines().count() + 1, "exactly one rule removed");
    std::fs::write(&save, edited).expect("write");
    let sc = scenario();
    let flows = sc.join("flows.yaml");
    let out = nfpath(&["diff", sc.to_str().expect("p"), copy.to_str().expect("p"), "--flows", flows.to_str().expect("p"), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let (names, causes) = changed(&out);
    assert_eq!(names, set(&["pod-to-dns-clusterip-udp", "node-to-dns-clusterip-udp"]));
    for (flow, now, was) in causes {
        assert!(was.iter().any(|w| w.contains("-d 10.96.0.10/32") && w.contains("KUBE-SVC-TCOU7JCQXEZGVUNU")), "{flow}: {was:?}");
        assert!(!now.is_empty(), "{flow}");
    }
    // Generated flows: the union of both sides, so the vanished Service is still compared.
    let out = nfpath(&["diff", sc.to_str().expect("p"), copy.to_str().expect("p"), "--json"]);
    let (names, _) = changed(&out);
    assert_eq!(names, set(&["pod-a -> 10.96.0.10:53/udp", "pod-b -> 10.96.0.10:53/udp", "node -> 10.96.0.10:53/udp"]));
}

#[test]
fn unusable_changes_and_arguments_exit_2_with_their_place() {
    let (out, d) = diff_with("ip route add 10.9.0.0/16 dev cali-b\niptables -A NO-SUCH-CHAIN -j ACCEPT\n", &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    let file = d.path().join("change.txt");
    assert!(err.contains(&format!("nfpath: error: {}:2:13: table filter has no chain `NO-SUCH-CHAIN`", file.display())), "{err}");
    let (out, _d) = diff_with("ip route add 10.9.0.0/16 via 10.99.0.1\n", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("change.txt:1:30: nexthop via 10.99.0.1"), "{}", text(&out.stderr));
    let sc = scenario();
    let s = sc.to_str().expect("p");
    for (args, msg) in [
        (vec!["diff", s], "nothing to compare"),
        (vec!["diff", s, s, "--change", "x"], "not both"),
        // Without NS=, the only node (here: `node`) gets the change.
        (vec!["diff", s, "--change", "/nonexistent/change.txt"], "/nonexistent/change.txt: cannot read the change file"),
        (vec!["diff", s, "--change", "nope=/tmp/x"], "no namespace \"nope\""),
        (vec!["diff", s, "--change", "node=/nonexistent/change.txt"], "cannot read the change file"),
    ] {
        let out = nfpath(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains(msg), "{args:?}: {}", text(&out.stderr));
    }
    // A broken flows file: 2, at its line and column.
    let bad = d.path().join("flows.yaml");
    std::fs::write(&bad, "flows:\n  - name: x\n    from: pod-a\n    to: 10.96.0.300:80/tcp\n").expect("write");
    let out = nfpath(&["diff", s, s, "--flows", bad.to_str().expect("p")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(&format!("{}:4:9", bad.display())), "{}", text(&out.stderr));
}

#[test]
fn diff_output_is_deterministic() {
    let (a, _d1) = diff_with("ip route del 10.244.1.3 dev cali-b\n", &["--json"]);
    let (b, _d2) = diff_with("ip route del 10.244.1.3 dev cali-b\n", &["--json"]);
    // The change file's path differs between the two runs; nothing else may.
    let norm = |o: &Output| text(&o.stdout).lines().filter(|l| !l.contains("change.txt")).collect::<Vec<_>>().join("\n");
    assert_eq!(norm(&a), norm(&b));
}
