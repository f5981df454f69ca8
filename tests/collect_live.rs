//! `nfpath collect` and `scripts/collect-node.sh` against a live namespace: a bridge with veth
//! ports, a VXLAN device (the test kernel has no ipip, gre, sit or dummy support: "Unknown device
//! type"), iptables rules in four tables, an ipset, routes in two tables
//! and a policy rule. The files must exist and be exactly what the commands print.

use harness::{Lab, Ns};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The node namespace of the topology described above, with its pods and peer.
fn build(lab: &Lab) -> Ns {
    let (node, pod1, pod2, peer) = (lab.ns("node"), lab.ns("pod1"), lab.ns("pod2"), lab.ns("peer"));
    // No IPv6 anywhere: link-local addresses, DAD flags and the FDB entries learned from router
    // solicitations would change between two collections.
    for ns in [&node, &pod1, &pod2, &peer] {
        ns.disable_ipv6();
    }
    lab.veth((&node, "eth0"), (&peer, "eth0"));
    lab.veth((&node, "veth1"), (&pod1, "eth0"));
    lab.veth((&node, "veth2"), (&pod2, "eth0"));
    node.sh("ip addr add 10.1.0.1/24 dev eth0
         ip link add cni0 type bridge
         ip link set veth1 master cni0
         ip link set veth2 master cni0
         ip addr add 10.244.0.1/24 dev cni0
         ip link set cni0 up
         ip link add vxlan0 type vxlan id 42 local 10.1.0.1 dstport 4789 dev eth0 nolearning
         ip addr add 10.244.0.0/32 dev vxlan0
         ip link set vxlan0 up
         bridge fdb append 00:00:00:00:00:00 dev vxlan0 dst 10.1.0.2
         ip route add 10.244.1.0/24 via 10.244.1.0 dev vxlan0 onlink
         ip route add default via 10.1.0.254 dev eth0 onlink table 100
         ip route add 192.0.2.0/24 via 10.1.0.2 table 100
         ip rule add fwmark 0x1 table 100 priority 100
         ip neigh add 10.1.0.2 lladdr 02:00:00:00:00:02 dev eth0 nud permanent
         ipset create allowed hash:net
         ipset add allowed 10.244.0.0/16
         iptables -t raw -A PREROUTING -p udp --dport 4789 -j NOTRACK
         iptables -t mangle -A PREROUTING -s 10.244.0.0/24 -j MARK --set-xmark 0x1/0xffffffff
         iptables -N FW-POD
         iptables -A FORWARD -i cni0 -j FW-POD
         iptables -A FW-POD -m set --match-set allowed src -j ACCEPT
         iptables -A FW-POD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
         iptables -A FW-POD -j DROP
         iptables -t nat -A POSTROUTING -s 10.244.0.0/16 ! -o cni0 -j MASQUERADE");
    // The bridge gets its carrier a moment after its first port forwards (br_port_carrier_check).
    node.sh("for i in $(seq 100); do ip link show cni0 | grep -q NO-CARRIER || exit 0; sleep 0.02; done; exit 1");
    node
}

/// Drops what differs between two runs of the same command: iptables-save's timestamp comments
/// and the bridge's running timers (`gc_timer`, `forward_delay_timer`...) in `ip -d link`.
fn stable(file: &str, text: &str) -> String {
    fn drop_timers(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.retain(|k, _| !k.ends_with("_timer"));
                m.values_mut().for_each(drop_timers);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(drop_timers),
            _ => {}
        }
    }
    match file {
        "iptables-save.txt" => text.lines().filter(|l| !l.starts_with('#')).map(|l| format!("{l}\n")).collect(),
        "ip-link.json" => {
            let mut v: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
            drop_timers(&mut v);
            v.to_string()
        }
        _ => text.to_string(),
    }
}

/// What the commands print right now in `ns`, for the files that do not change on their own.
fn expected(ns: &Ns) -> BTreeMap<&'static str, String> {
    let mut m = BTreeMap::new();
    m.insert("iptables-save.txt", ns.sh("iptables-save"));
    m.insert("ipset-save.txt", ns.sh("ipset save"));
    m.insert("ip-link.json", ns.sh("ip -j -d link show"));
    m.insert("ip-addr.json", ns.sh("ip -j addr show"));
    m.insert("ip-route.json", ns.sh("ip -j -d route show table all"));
    m.insert("ip-rule.json", ns.sh("ip -j rule show"));
    m.insert("ip-neigh.json", ns.sh("ip -j neigh show"));
    m.insert("bridge-fdb.json", ns.sh("bridge -j fdb show"));
    m
}

fn check_folder(dir: &Path, want: &BTreeMap<&'static str, String>) {
    for (file, text) in want {
        let got = std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(stable(file, &got), stable(file, text), "{file} differs from the command's output");
    }
    // The rest exist and hold what they should.
    let sysctl = std::fs::read_to_string(dir.join("sysctl.txt")).expect("sysctl.txt");
    assert!(sysctl.lines().all(|l| l.starts_with("net.")), "sysctl.txt keeps net.* only");
    assert!(sysctl.contains("net.ipv4.ip_forward = "), "sysctl.txt has ip_forward");
    assert!(dir.join("conntrack.txt").is_file(), "conntrack.txt");
    assert!(dir.join("sockets.txt").is_file(), "sockets.txt");
    let log = std::fs::read_to_string(dir.join("collect.log")).expect("collect.log");
    for file in ["iptables-save.txt", "ip-link.json", "ip-addr.json", "ip-route.json", "sysctl.txt", "sockets.txt"] {
        assert!(log.lines().any(|l| l.starts_with(&format!("ok {file}: "))), "collect.log lacks ok {file}:\n{log}");
    }
}

#[test]
fn collect_writes_what_the_commands_print() {
    let lab = Lab::new("clicol");
    let node = build(&lab);
    let snap = node.collect();
    check_folder(snap.path(), &expected(&node));
    // Spot checks that the topology really is in there, so the comparison above is not vacuous.
    let link = snap.file("ip-link.json");
    for needle in ["\"vxlan\"", "\"id\":42", "\"master\":\"cni0\"", "\"veth\""] {
        assert!(link.contains(needle), "ip-link.json lacks {needle}");
    }
    let route = snap.file("ip-route.json");
    assert!(route.contains("\"table\":\"100\""), "routes of table 100: {route}");
    assert!(snap.file("ip-rule.json").contains("\"fwmark\":\"0x1\""));
    let ipt = snap.file("iptables-save.txt");
    for table in ["*raw", "*mangle", "*filter", "*nat", ":FW-POD - [0:0]", "-j MASQUERADE"] {
        assert!(ipt.contains(table), "iptables-save.txt lacks {table}");
    }
    assert!(snap.file("ipset-save.txt").contains("add allowed 10.244.0.0/16"));
    assert!(snap.file("bridge-fdb.json").contains("\"dst\":\"10.1.0.2\""));
}

#[test]
fn collect_node_sh_writes_the_same_folder() {
    let lab = Lab::new("clicol");
    let node = build(&lab);
    let dir = tempfile::Builder::new().prefix("nfp-snap-").tempdir().expect("temp dir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/collect-node.sh");
    // dash: the script must not depend on bash.
    let out = Command::new("ip").args(["netns", "exec", &node.name, "dash"]).arg(&script).arg(dir.path()).output().expect("run collect-node.sh");
    assert!(out.status.success(), "collect-node.sh failed: {}", String::from_utf8_lossy(&out.stderr));
    check_folder(dir.path(), &expected(&node));
    // Same log shape as nfpath collect, line for line apart from byte counts of changing files.
    let nf = node.collect();
    let kinds = |p: &Path| -> Vec<String> {
        std::fs::read_to_string(p.join("collect.log")).expect("collect.log").lines().map(|l| l.split(':').next().unwrap_or("").to_string()).collect()
    };
    assert_eq!(kinds(dir.path()), kinds(nf.path()));
}

#[test]
fn collect_reports_a_missing_namespace_and_missing_tools() {
    let lab = Lab::new("clicol");
    let ns = lab.ns("x");
    let out = Command::new(harness::nfpath_bin())
        .args(["collect", "--out", "/nonexistent-nfp/should-not-be-made", "--netns", "nfp-clicol-no-such-ns"])
        .output()
        .expect("run nfpath");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("nfpath: error: cannot enter network namespace"), "{err}");
    assert!(!Path::new("/nonexistent-nfp").exists());
    // With a PATH that has ip but not the optional tools, collect still succeeds and says so.
    let bin = tempfile::tempdir().expect("temp dir");
    for tool in ["ip", "iptables-save"] {
        let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().expect("sh");
        let path = String::from_utf8_lossy(&found.stdout).trim().to_string();
        std::os::unix::fs::symlink(&path, bin.path().join(tool)).expect("symlink");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(harness::nfpath_bin())
        .args(["collect", "--out"])
        .arg(dir.path())
        .args(["--netns", &ns.name])
        .env("PATH", bin.path())
        .output()
        .expect("run nfpath");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log = std::fs::read_to_string(dir.path().join("collect.log")).expect("log");
    assert!(log.contains("absent ipset-save.txt: ipset not found on PATH"), "{log}");
    assert!(log.contains("absent conntrack.txt: conntrack not found on PATH"), "{log}");
    assert!(!dir.path().join("conntrack.txt").exists());
    // Without iptables-save it is fatal.
    std::fs::remove_file(bin.path().join("iptables-save")).expect("rm");
    let out = Command::new(harness::nfpath_bin())
        .args(["collect", "--out"])
        .arg(dir.path())
        .args(["--netns", &ns.name])
        .env("PATH", bin.path())
        .output()
        .expect("run nfpath");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not collect iptables-save.txt (required)"));
}

/// The round trip: what `nfpath collect` writes imports back into the model of what was built.
#[test]
fn collect_imports_back_into_the_same_model() {
    use sim_core::model::link::LinkKind;
    use sim_core::model::route::RT_TABLE_MAIN;
    use sim_core::model::rule::RuleAction;
    use sim_core::model::ruleset::TableName;

    let lab = Lab::new("clicol");
    let node = build(&lab);
    let snap = node.collect();
    let parsed = sim_core::parse::snapshot::load("node", &snap.files());
    let errors: Vec<String> = parsed.diagnostics.iter().filter(|d| d.severity == sim_core::diag::Severity::Error).map(|d| d.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let ns = &parsed.value;

    // Devices and how they connect.
    let kind = |n: &str| ns.link(n).map(|l| l.kind.clone()).unwrap_or_else(|| panic!("no link {n}"));
    assert!(matches!(kind("cni0"), LinkKind::Bridge(_)));
    for port in ["veth1", "veth2"] {
        let l = ns.link(port).expect("port");
        assert_eq!(l.kind, LinkKind::Veth);
        assert_eq!(l.master.as_deref(), Some("cni0"), "{port} is a port of cni0");
        assert!(l.link_netnsid.is_some(), "{port}'s peer is in another namespace");
    }
    match kind("vxlan0") {
        LinkKind::Vxlan(v) => {
            assert_eq!((v.vni, v.dstport, v.dev.as_deref(), v.learning), (42, 4789, Some("eth0"), false));
            assert_eq!(v.local, Some("10.1.0.1".parse().expect("ip")));
        }
        other => panic!("vxlan0 is {other:?}"),
    }
    let addrs: Vec<String> = ns.addrs.iter().map(|a| format!("{} {}/{}", a.ifname, a.local, a.prefix_len)).collect();
    for want in ["eth0 10.1.0.1/24", "cni0 10.244.0.1/24", "vxlan0 10.244.0.0/32", "lo 127.0.0.1/8"] {
        assert!(addrs.iter().any(|a| a == want), "{want} not in {addrs:?}");
    }

    // Routes in two tables and the policy rule.
    let find =
        |table: u32, dst: &str| ns.routes.iter().find(|r| r.table == table && r.dst.to_string() == dst).unwrap_or_else(|| panic!("no {dst} in table {table}"));
    let r = find(RT_TABLE_MAIN, "10.244.1.0/24");
    assert_eq!((r.gateway().map(|g| g.to_string()), r.dev(), r.nexthops[0].onlink), (Some("10.244.1.0".into()), Some("vxlan0"), true));
    assert_eq!(find(100, "0.0.0.0/0").gateway().map(|g| g.to_string()).as_deref(), Some("10.1.0.254"));
    assert_eq!(find(100, "192.0.2.0/24").dev(), Some("eth0"));
    let rule = ns.rules.iter().find(|r| r.priority == 100).expect("rule 100");
    assert_eq!((rule.fwmark.map(|f| f.0), &rule.action), (Some(1), &RuleAction::Table(100)));
    assert_eq!(ns.rules.len(), 4, "the three default rules plus ours");

    // Neighbours, fdb, ipset.
    let n = ns.neighs.iter().find(|n| n.dst.to_string() == "10.1.0.2").expect("neigh");
    assert_eq!(n.lladdr.map(|m| m.to_string()).as_deref(), Some("02:00:00:00:00:02"));
    assert!(ns.fdb.iter().any(|f| f.dev == "vxlan0" && f.dst.map(|d| d.to_string()).as_deref() == Some("10.1.0.2")));
    let set = ns.ipset("allowed").expect("ipset");
    assert_eq!(set.members.len(), 1);

    // iptables: every table and chain with its rule count.
    let count = |t: TableName, c: &str| ns.ruleset.table(t).and_then(|t| t.chain(c)).map(|c| c.rules.len());
    assert_eq!(count(TableName::Raw, "PREROUTING"), Some(1));
    assert_eq!(count(TableName::Mangle, "PREROUTING"), Some(1));
    assert_eq!(count(TableName::Filter, "FORWARD"), Some(1));
    assert_eq!(count(TableName::Filter, "FW-POD"), Some(3));
    assert_eq!(count(TableName::Nat, "POSTROUTING"), Some(1));
    assert_eq!(ns.ruleset.rule_count(), 7);

    // The rest was imported, not defaulted.
    assert!(ns.sysctls.imported && ns.sysctls.values.contains_key("net.ipv4.ip_forward"));
    // The only socket is the VXLAN device's own kernel UDP socket (vxlan_sock_add), with no process.
    let sockets = ns.sockets.as_ref().expect("sockets imported");
    assert_eq!(sockets.iter().map(|s| (s.proto, s.port, s.process.is_none())).collect::<Vec<_>>(), [(17, 4789, true)]);

    // And `nfpath show` prints it, exit 0.
    let out = harness::nfpath(&["show", snap.path().to_str().expect("utf-8 path")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for needle in [
        "ports: veth1, veth2",
        "vni 42 local 10.1.0.1 remote - dstport 4789 dev eth0 learning off",
        "table 100 (100)",
        "100: from all fwmark 0x1 lookup 100",
        "FW-POD",
    ] {
        assert!(text.contains(needle), "show lacks {needle:?}:\n{text}");
    }
    let out = harness::nfpath(&["show", "--json", snap.path().to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("show --json is JSON");
    assert_eq!(v["links"].as_array().map(Vec::len), Some(ns.links.len()));
    // And the JSON reads back into the same model.
    let back: sim_core::model::Namespace = serde_json::from_value(v).expect("show --json reads back as a Namespace");
    assert_eq!((&back.links, &back.addrs, &back.routes, &back.rules), (&ns.links, &ns.addrs, &ns.routes, &ns.rules));
    assert_eq!((&back.fdb, &back.neighs, &back.ipsets), (&ns.fdb, &ns.neighs, &ns.ipsets));
    for (a, b) in back.ruleset.tables.iter().zip(&ns.ruleset.tables) {
        assert_eq!(a.chains, b.chains, "table {}", a.name);
    }
}
