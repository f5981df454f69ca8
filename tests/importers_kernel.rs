//! The importers against the live kernel: a pair of namespaces is built, its state collected
//! with the real tools exactly as a snapshot folder is, loaded, and the result checked against
//! what the kernel itself does (connects, conntrack entries, route types).
//!
//! Needs root (CI runs as root). If namespaces cannot be created the test fails loudly.

use sim_core::model::link::LinkKind;
use sim_core::model::route::RouteType;
use sim_core::parse::{ip_json, route_n, snapshot};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Two namespaces with unique names, deleted (and their helper processes killed) on drop.
struct Pair {
    a: String,
    b: String,
    children: Vec<Child>,
}

impl Drop for Pair {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

fn run(cmd: &str) -> String {
    let o = Command::new("bash").args(["-c", cmd]).output().unwrap_or_else(|e| panic!("cannot run bash: {e}"));
    assert!(o.status.success(), "command failed: {cmd}\nstderr: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Output and status, for commands whose failure is the point.
fn try_run(cmd: &str) -> bool {
    Command::new("bash").args(["-c", cmd]).stdout(Stdio::null()).stderr(Stdio::null()).status().map(|s| s.success()).unwrap_or(false)
}

fn pair() -> Pair {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let id = std::process::id();
    let p = Pair { a: format!("nfp-imp-{id}-{n}-a"), b: format!("nfp-imp-{id}-{n}-b"), children: Vec::new() };
    for ns in [&p.a, &p.b] {
        let ok = Command::new("ip").args(["netns", "add", ns]).status().map(|s| s.success()).unwrap_or(false);
        assert!(ok, "KERNEL TEST CANNOT RUN: `ip netns add {ns}` failed. These tests need root and network namespaces.");
    }
    p
}

fn collect(ns: &str) -> BTreeMap<String, String> {
    let x = |c: &str| run(&format!("ip netns exec {ns} {c}"));
    let mut m = BTreeMap::new();
    m.insert("ip-link.json".into(), x("ip -j -d link show"));
    m.insert("ip-addr.json".into(), x("ip -j addr show"));
    m.insert("ip-route.json".into(), x("ip -j -d route show table all"));
    m.insert("ip-rule.json".into(), x("ip -j rule show"));
    m.insert("ip-neigh.json".into(), x("ip -j neigh show"));
    m.insert("bridge-fdb.json".into(), x("bridge -j fdb show"));
    m.insert("sysctl.txt".into(), x("sysctl -a 2>/dev/null | grep -E '^net\\.ipv4\\.(ip_forward|conf\\.)' || true"));
    m.insert("conntrack.txt".into(), x("conntrack -L 2>&1 || true"));
    m.insert("sockets.txt".into(), x("ss -Htulpn"));
    m.insert("iptables-save.txt".into(), x("iptables-save"));
    m
}

#[test]
fn live_snapshot_matches_the_kernel() {
    let mut p = pair();
    let (a, b) = (p.a.clone(), p.b.clone());
    let xa = |c: &str| run(&format!("ip netns exec {a} {c}"));
    let xb = |c: &str| run(&format!("ip netns exec {b} {c}"));
    run(&format!("ip -n {a} link add up0 type veth peer name up0 netns {b}"));
    xa("ip link set lo up");
    xb("ip link set lo up");
    xa("ip addr add 198.51.100.1/24 dev up0");
    xa("ip link set up0 up");
    xb("ip addr add 198.51.100.2/24 dev up0");
    xb("ip link set up0 up");
    xa("ip link add br0 type bridge nf_call_iptables 1");
    xa("ip link add p1 type veth peer name p1peer");
    xa("ip link set p1 master br0");
    xa("ip link set p1 type bridge_slave hairpin on learning off");
    xa("ip link set br0 up");
    xa("ip addr add 10.244.9.1/24 dev br0");
    xa("ip link add vx0 type vxlan id 99 local 198.51.100.1 remote 198.51.100.2 dstport 4789 dev up0 nolearning");
    xa("ip link set vx0 up");
    xa("ip route add blackhole 10.244.9.0/26 proto bird");
    xa("ip route add unreachable 10.250.0.0/16");
    xa("ip route add prohibit 10.251.0.0/16");
    xa("ip route add throw 10.11.0.0/16");
    xa("ip route add 10.252.0.0/16 nexthop via 198.51.100.2 dev up0 weight 1 nexthop via 198.51.100.3 dev up0 weight 3");
    xa("ip route add default via 198.51.100.2 table 100");
    xa("ip route add 10.96.0.0/16 via 198.51.100.2 dev up0");
    xa("ip rule add pref 100 fwmark 0x10/0xff lookup 100");
    xa("iptables -t nat -A OUTPUT -d 10.96.0.99 -p tcp --dport 80 -j DNAT --to-destination 198.51.100.2:80");
    // B listens dual-stack on 80 and v6-only on 81.
    for (port, v6only) in [(80, 0), (81, 1)] {
        let child = Command::new("ip")
            .args(["netns", "exec", &b, "socat", &format!("TCP6-LISTEN:{port},bind=[::],fork,reuseaddr,ipv6only={v6only}"), "SYSTEM:echo hi"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("KERNEL TEST CANNOT RUN: socat is required");
        p.children.push(child);
    }
    // Wait (briefly) until both listeners show up.
    for _ in 0..50 {
        let s = xb("ss -Htln");
        if s.contains(":80 ") && s.contains(":81 ") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // What the kernel does with IPv4 connections to each.
    let v4_80 = try_run(&format!("ip netns exec {a} timeout 2 socat -T1 - TCP4:10.96.0.99:80 </dev/null"));
    let v4_81 = try_run(&format!("ip netns exec {a} timeout 2 socat -T1 - TCP4:198.51.100.2:81 </dev/null"));
    assert!(v4_80, "IPv4 connect to the dual-stack listener (via DNAT) failed");
    assert!(!v4_81, "IPv4 connect to the v6-only listener succeeded");

    let na = snapshot::load("a", &collect(&a));
    let errs: Vec<_> = na.diagnostics.iter().filter(|d| d.severity == sim_core::diag::Severity::Error).map(|d| d.to_string()).collect();
    assert!(errs.is_empty(), "{errs:?}");
    let ns = na.value;
    match &ns.link("br0").unwrap().kind {
        LinkKind::Bridge(bi) => assert!(bi.nf_call_iptables),
        k => panic!("{k:?}"),
    }
    let port = ns.link("p1").unwrap().brport.clone().unwrap();
    assert!(port.hairpin && !port.learning);
    match &ns.link("vx0").unwrap().kind {
        LinkKind::Vxlan(v) => assert_eq!((v.vni, v.dstport, v.learning, v.dev.as_deref()), (99, 4789, false, Some("up0"))),
        k => panic!("{k:?}"),
    }
    let up0 = ns.link("up0").unwrap();
    assert_eq!(up0.kind, LinkKind::Veth);
    assert!(up0.link_netnsid.is_some());
    assert_eq!(ns.routes.iter().find(|r| r.dst.to_string() == "10.244.9.0/26").unwrap().rtype, RouteType::Blackhole);
    assert_eq!(ns.routes.iter().find(|r| r.dst.to_string() == "10.252.0.0/16").unwrap().nexthops.iter().map(|n| n.weight).collect::<Vec<_>>(), vec![1, 3]);
    assert!(ns.rules.iter().any(|r| r.priority == 100 && r.fwmark == Some((0x10, 0xff))));
    // The DNAT'd connection is in A's conntrack table as the kernel left it.
    let ct = ns.conntrack.iter().find(|e| e.orig.dst.to_string() == "10.96.0.99").expect("DNAT entry");
    assert!(ct.is_dnat());
    assert_eq!((ct.reply.src.to_string(), ct.reply.sport), ("198.51.100.2".to_string(), 80));

    // B's sockets: the importer's IPv4 view must agree with the connects above.
    let nb = snapshot::load("b", &collect(&b)).value;
    let socks = nb.sockets.unwrap();
    assert_eq!(socks.iter().any(|s| s.proto == 6 && s.port == 80 && s.local.is_none()), v4_80);
    assert_eq!(socks.iter().any(|s| s.proto == 6 && s.port == 81), v4_81);
    assert_eq!(nb.ipv6_ignored.get("sockets"), Some(&1));

    // `ip netconf` and `sysctl -a` give the same per-device values.
    xa("sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.br0.rp_filter=2 net.ipv4.conf.up0.rp_filter=1 net.ipv4.conf.up0.proxy_arp=1");
    let nc = sim_core::parse::sysctl::parse_netconf("ip-netconf.txt", &xa("ip netconf")).value;
    let sc = sim_core::parse::sysctl::parse("sysctl.txt", &xa("sysctl -a 2>/dev/null | grep -E '^net\\.ipv4\\.(ip_forward|conf\\.)'")).value;
    assert_eq!(nc.get("net.ipv4.ip_forward"), Some(("1", false)));
    for dev in ["br0", "up0", "vx0", "lo", "all"] {
        for key in ["forwarding", "rp_filter", "proxy_arp"] {
            assert_eq!(nc.conf(dev, key), sc.conf(dev, key), "{dev} {key}");
        }
    }
    assert_eq!(sc.conf("br0", "rp_filter"), (2, false));

    // route -n and ip -j agree on A's main table, including `*` (blackhole) and `!` rows.
    // The two ambiguities route -n has (`*` is blackhole or throw, `!` unreachable or prohibit)
    // are imported as blackhole and unreachable, each with a warning on its row.
    let rnp = route_n::parse("route-n.txt", &xa("route -n"));
    let rn = rnp.value;
    let j = ip_json::parse_routes("ip-route.json", &xa("ip -j -d route show table main")).value;
    assert_eq!(rn.len(), j.len());
    for r in &j {
        let expect = match r.rtype {
            RouteType::Throw => RouteType::Blackhole,
            RouteType::Prohibit => RouteType::Unreachable,
            t => t,
        };
        assert!(rn.iter().any(|x| x.dst == r.dst && x.rtype == expect), "{} {:?} not in route -n", r.dst, r.rtype);
    }
    assert_eq!(rnp.diagnostics.iter().filter(|d| d.code == "no-device-route").count(), 2);
    assert_eq!(rnp.diagnostics.iter().filter(|d| d.code == "reject-route").count(), 2);
}
