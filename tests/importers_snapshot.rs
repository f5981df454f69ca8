//! The snapshot loader on folders captured from real namespaces (`tests/fixtures/netns-*`).

use sim_core::diag::Severity;
use sim_core::model::link::LinkKind;
use sim_core::model::rule::FibRule;
use sim_core::parse::snapshot;
use std::collections::BTreeMap;

/// The shared folder (corpus, seeds): beside the repository in CI, at /work/shared on a
/// developer machine, or where `NFPATH_SHARED` points. Missing is a failure, never a skip.
fn shared() -> String {
    let m = env!("CARGO_MANIFEST_DIR");
    let cands = [std::env::var("NFPATH_SHARED").ok(), Some(format!("{m}/../shared")), Some(format!("{m}/../../shared")), Some("/work/shared".to_string())];
    for c in cands.into_iter().flatten() {
        if std::path::Path::new(&c).join("corpus").is_dir() {
            return c;
        }
    }
    panic!("the shared corpus folder was not found (looked beside the repository and at /work/shared; set NFPATH_SHARED)");
}

fn folder(dir: &str) -> BTreeMap<String, String> {
    let path = format!("{}/tests/fixtures/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(&path).unwrap_or_else(|e| panic!("{path}: {e}")) {
        let p = e.unwrap().path();
        m.insert(p.file_name().unwrap().to_string_lossy().to_string(), std::fs::read_to_string(&p).unwrap());
    }
    m
}

#[test]
fn json_snapshot_of_a_real_namespace() {
    let p = snapshot::load("a", &folder("netns-a"));
    let bad: Vec<_> = p.diagnostics.iter().filter(|d| d.severity != Severity::Info).map(|d| d.to_string()).collect();
    // The only warning is the macvlan, which nfpath does not model.
    assert_eq!(bad.len(), 1, "{bad:#?}");
    assert!(bad[0].contains("mv0") && bad[0].contains("macvlan"));
    let ns = p.value;
    assert_eq!(ns.name, "a");
    for (k, f) in [
        ("links", "ip-link.json"),
        ("addrs", "ip-addr.json"),
        ("routes", "ip-route.json"),
        ("rules", "ip-rule.json"),
        ("neighs", "ip-neigh.json"),
        ("fdb", "bridge-fdb.json"),
        ("sysctls", "sysctl.txt"),
        ("conntrack", "conntrack.txt"),
        ("sockets", "sockets.txt"),
        ("ipsets", "ipset-save.txt"),
        ("ruleset", "iptables-save.txt"),
    ] {
        assert_eq!(ns.provenance.get(k).map(String::as_str), Some(f), "{k}");
    }
    assert!(ns.ipv6_ignored["addrs"] > 0 && ns.ipv6_ignored["routes"] > 0);
    assert!(matches!(ns.link("br0").unwrap().kind, LinkKind::Bridge(_)));
    assert_eq!(ns.addrs_of("br0").count(), 2);
    assert_eq!(ns.rules.len(), 13);
    // The kernel's own VXLAN sockets (vx0 on 8472, vx1 on 4789) have no owning process.
    let socks: Vec<_> = ns.sockets.as_ref().unwrap().iter().map(|s| (s.proto, s.port, s.process.clone())).collect();
    assert_eq!(socks, vec![(17, 4789, None), (17, 8472, None)]);
    assert!(ns.sysctls.imported);
    assert_eq!(ns.conntrack.len(), 10);
    assert_eq!(ns.ipsets.len(), 12);
    // Every address's index is its device's.
    for a in &ns.addrs {
        assert_eq!(ns.link(&a.ifname).unwrap().ifindex, a.ifindex);
    }
}

#[test]
fn text_snapshot_gives_the_same_namespace() {
    let j = snapshot::load("a", &folder("netns-a")).value;
    let p = snapshot::load("a", &folder("netns-a-text"));
    let errs: Vec<_> = p.diagnostics.iter().filter(|d| d.severity == Severity::Error).map(|d| d.to_string()).collect();
    // The text folder has no iptables-save.txt: the one required file it lacks.
    assert_eq!(errs, vec!["iptables-save.txt:0: error[missing-file]: required file `iptables-save.txt` is missing (it may be empty, or give iptables -S listings as iptables-S*.txt): the namespace has no ruleset".to_string()]);
    let info = |code: &str, file: &str| p.diagnostics.iter().any(|d| d.code == code && d.span.file == file);
    assert!(info("unused-file", "route-n.txt"));
    assert!(info("unused-file", "ifconfig-a.txt"));
    assert!(info("unknown-file", "proc-nf_conntrack.txt"));
    let t = p.value;
    assert_eq!(t.provenance["sysctls"], "ip-netconf.txt (per-device forwarding, rp_filter, proxy_arp only; other keys kernel defaults)");
    assert_eq!(t.sysctls.conf("br0", "rp_filter"), j.sysctls.conf("br0", "rp_filter"));
    assert_eq!(t.provenance["sockets"], "default: no sockets.txt, every port assumed to listen");
    assert_eq!(t.provenance["ipsets"], "ipset-list.txt");
    assert!(t.sockets.is_none());
    let norm = |ns: &sim_core::model::Namespace| {
        ns.routes
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.origin = None;
                r
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(norm(&j), norm(&t));
    assert_eq!(j.rules, t.rules);
    assert_eq!(j.neighs, t.neighs);
    assert_eq!(j.fdb, t.fdb);
    assert_eq!(j.links.len(), t.links.len());
    assert_eq!(j.addrs.iter().map(|a| (a.local, a.ifindex)).collect::<Vec<_>>(), t.addrs.iter().map(|a| (a.local, a.ifindex)).collect::<Vec<_>>());
}

#[test]
fn fallbacks_and_defaults() {
    let a = folder("netns-a-text");
    let mut files = BTreeMap::new();
    files.insert("route-n.txt".to_string(), a["route-n.txt"].clone());
    files.insert("ifconfig-a.txt".to_string(), a["ifconfig-a.txt"].clone());
    files.insert("iptables-save.txt".to_string(), String::new());
    files.insert("notes.md".to_string(), "my notes".to_string());
    let p = snapshot::load("n", &files);
    assert!(!p.has_errors(), "{:?}", p.diagnostics);
    let ns = p.value;
    assert_eq!(ns.provenance["links"], "ifconfig-a.txt");
    assert_eq!(ns.provenance["addrs"], "ifconfig-a.txt");
    assert_eq!(ns.provenance["routes"], "route-n.txt (main table only)");
    assert_eq!(ns.provenance["rules"], "default: no ip-rule.json, the three default rules assumed");
    assert_eq!(ns.rules, FibRule::defaults());
    assert!(p.diagnostics.iter().any(|d| d.code == "unknown-file" && d.span.file == "notes.md"));
    // ifconfig numbers devices in order; the addresses follow the same numbering.
    let br = ns.link("br0").unwrap().ifindex;
    assert!(ns.addrs_of("br0").all(|x| x.ifindex == br));
}

#[test]
fn missing_required_files_are_errors() {
    let p = snapshot::load("empty", &BTreeMap::new());
    let files: Vec<_> = p.diagnostics.iter().filter(|d| d.code == "missing-file").map(|d| d.span.file.as_str()).collect();
    assert_eq!(files, vec!["ip-addr.json", "ip-link.json", "ip-route.json", "iptables-save.txt"]);
    assert_eq!(p.value.provenance["conntrack"], "default: no conntrack.txt, the conntrack table is empty");
    assert_eq!(p.value.provenance["sysctls"], "default: no sysctl.txt, kernel defaults assumed");
    assert!(!p.value.sysctls.imported);
}

#[test]
fn names_must_agree_across_files() {
    let mut files = folder("netns-a");
    files.insert("ip-neigh.json".into(), "[{\"dst\":\"10.0.0.1\",\"dev\":\"eth9\",\"lladdr\":\"02:00:00:00:00:01\",\"state\":[\"REACHABLE\"]}]".into());
    files.insert("ip-route.txt".into(), "10.0.0.0/8 dev eth0\n".into());
    let p = snapshot::load("a", &files);
    assert!(p.diagnostics.iter().any(|d| d.code == "unknown-device" && d.message.contains("eth9")));
    assert!(p.diagnostics.iter().any(|d| d.code == "unused-file" && d.span.file == "ip-route.txt"));
}

#[test]
fn iptables_s_listings_are_read_when_there_is_no_save_file() {
    let mut files = folder("netns-b");
    files.remove("iptables-save.txt");
    files.insert("iptables-S-filter.txt".into(), "-P INPUT ACCEPT\n".into());
    files.insert("iptables-S-nat.txt".into(), "-P PREROUTING ACCEPT\n".into());
    let p = snapshot::load("b", &files);
    assert_eq!(p.value.provenance["ruleset"], "iptables-S-filter.txt, iptables-S-nat.txt");
    assert!(!p.diagnostics.iter().any(|d| d.code == "unknown-file"));
    assert!(p.value.sockets.as_ref().unwrap().len() >= 5);
}

#[test]
fn index_mismatch_between_json_files_is_reported() {
    let mut files = folder("netns-a");
    let addr = files["ip-addr.json"].replacen("\"ifindex\":3,", "\"ifindex\":33,", 1);
    assert_ne!(addr, files["ip-addr.json"]);
    files.insert("ip-addr.json".into(), addr);
    let p = snapshot::load("a", &files);
    let d: Vec<_> = p.diagnostics.iter().filter(|d| d.code == "index-mismatch").collect();
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d[0].message.contains("`br0` has ifindex 33"));
    assert!(p.value.addrs_of("br0").all(|a| a.ifindex == 3));
}

fn corpus(p: &str) -> String {
    std::fs::read_to_string(format!("{}/corpus/{p}", shared())).unwrap()
}

#[test]
fn corpus_gravity_node_from_pasted_text() {
    // A node as a user pastes it: `ip link`, `ip route`, `brctl show`, `ip netconf`.
    let mut files = BTreeMap::new();
    files.insert("ip-link.txt".to_string(), corpus("links/gravity-flannel-vxlan-gravitational-workshop.ip-link.txt"));
    files.insert("ip-route.txt".to_string(), corpus("routes/gravity-flannel-vxlan-gravitational-workshop.ip-route.txt"));
    files.insert("brctl-show.txt".to_string(), corpus("links/gravity-flannel-vxlan-gravitational-workshop.brctl-show.txt"));
    files.insert("ip-netconf.txt".to_string(), corpus("links/gravity-flannel-vxlan-gravitational-workshop.ip-netconf.txt"));
    files.insert("iptables-save.txt".to_string(), String::new());
    let p = snapshot::load("gravity", &files);
    let errs: Vec<_> = p.diagnostics.iter().filter(|d| d.severity == Severity::Error).map(|d| d.to_string()).collect();
    // No address file: the one required input missing.
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("ip-addr.json"));
    // brctl show agrees with the `master cni0` of every veth in ip link.
    assert!(!p.diagnostics.iter().any(|d| d.code == "inconsistent" || d.code == "unknown-device"), "{:?}", p.diagnostics);
    let ns = p.value;
    assert_eq!(ns.links.iter().filter(|l| l.master.as_deref() == Some("cni0")).count(), 17);
    assert_eq!(ns.sysctls.conf("cni0", "rp_filter"), (1, false));
    assert_eq!(ns.sysctls.get("net.ipv4.ip_forward"), Some(("1", false)));

    // With ifconfig, which shows no masters, brctl show supplies them.
    let mut files = BTreeMap::new();
    files.insert("ifconfig-a.txt".to_string(), fixture_text("netns-a-text/ifconfig-a.txt"));
    files.insert(
        "brctl-show.txt".to_string(),
        "bridge name\tbridge id\t\tSTP enabled\tinterfaces\nbr0\t\t8000.2211a3956baa\tno\t\tvport1\n\t\t\t\t\t\t\tvport2\n".to_string(),
    );
    let p = snapshot::load("a", &files);
    assert_eq!(p.value.link("vport2").unwrap().master.as_deref(), Some("br0"));
    assert!(p.value.link("vport2").unwrap().brport.is_some());
}

fn fixture_text(p: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}
