//! Kernel conformance of `engine::routing`: each test builds a situation in real network
//! namespaces with iproute2, snapshots it (`ip -j`, `sysctl net.ipv4`) into the model, and
//! compares `Fib`'s answers with the kernel's: `ip route get` (input with `iif`/`from`, output,
//! with `mark`, `tos`, `ipproto`, `dport`, `uid`, `oif`), route insertion, and real UDP packets
//! where only a packet shows the effect (forwarding, rp_filter).
//!
//! Namespaces are named `nfp-rt-<pid>-<n>-<tag>` and deleted on drop. If they cannot be created
//! the tests fail loudly: they must run as root.

use ipnet::Ipv4Net;
use serde_json::Value;
use sim_core::engine::routing::{Decision, Fib, FlowKey, RouteResult};
use sim_core::model::addr::Addr;
use sim_core::model::link::{Link, LinkKind};
use sim_core::model::route::{NextHop, Route, RouteType, RT_TABLE_DEFAULT, RT_TABLE_LOCAL, RT_TABLE_MAIN};
use sim_core::model::rule::{FibRule, RuleAction};
use sim_core::model::types::{proto_number, Scope};
use sim_core::model::Namespace;
use sim_core::trace::DropReason;
use std::net::Ipv4Addr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// A minimal private namespace helper (to be replaced by the shared `harness` crate).

static COUNTER: AtomicU32 = AtomicU32::new(0);

struct Ns {
    name: String,
}

fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"))
}

impl Ns {
    fn new(tag: &str) -> Ns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("nfp-rt-{}-{n}-{tag}", std::process::id());
        let o = run("ip", &["netns", "add", &name]);
        assert!(
            o.status.success(),
            "KERNEL TEST CANNOT RUN: `ip netns add {name}` failed ({}). These tests need root and \
             network namespaces.",
            String::from_utf8_lossy(&o.stderr).trim()
        );
        let ns = Ns { name };
        ns.ip("link set lo up");
        ns
    }
    /// `ip -n NS <args>`; panics with the command on failure.
    fn ip(&self, args: &str) {
        let o = self.try_ip(args);
        assert!(o.status.success(), "ip -n {} {args}: {}", self.name, String::from_utf8_lossy(&o.stderr).trim());
    }
    fn try_ip(&self, args: &str) -> Output {
        let mut v = vec!["-n", self.name.as_str()];
        v.extend(args.split_whitespace());
        run("ip", &v)
    }
    fn exec(&self, cmd: &str) -> Output {
        run("ip", &["netns", "exec", &self.name, "sh", "-c", cmd])
    }
    fn sysctl(&self, kv: &str) {
        let o = self.exec(&format!("sysctl -qw {kv}"));
        assert!(o.status.success(), "sysctl {kv}: {}", String::from_utf8_lossy(&o.stderr));
    }
    fn json(&self, args: &str) -> Value {
        let o = self.try_ip(args);
        assert!(o.status.success(), "ip {args}: {}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("ip {args}: bad JSON: {e}"))
    }
    /// A counter from /proc/net/snmp or /proc/net/netstat (`Udp`, `NoPorts`).
    fn counter(&self, group: &str, field: &str) -> u64 {
        let o = self.exec("cat /proc/net/snmp /proc/net/netstat");
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        let lines: Vec<&str> = text.lines().collect();
        for pair in lines.chunks(2) {
            if pair.len() < 2 {
                continue;
            }
            let (h, v) = (pair[0], pair[1]);
            if h.split(':').next() != Some(group) {
                continue;
            }
            let names: Vec<&str> = h.split_whitespace().skip(1).collect();
            let vals: Vec<&str> = v.split_whitespace().skip(1).collect();
            if let Some(i) = names.iter().position(|n| *n == field) {
                return vals[i].parse().expect("counter");
            }
        }
        panic!("no counter {group}:{field}")
    }
    /// Reads the namespace into the model, as `nfpath collect` would.
    fn snapshot(&self) -> Namespace {
        let sysctl = self.exec("sysctl net.ipv4");
        snapshot_from(
            &self.name,
            &self.json("-j -d link show"),
            &self.json("-j addr show"),
            &self.json("-j -d route show table all"),
            &self.json("-j rule show"),
            &String::from_utf8_lossy(&sysctl.stdout),
        )
    }
    /// `ip route get <args>`: the kernel's answer.
    fn route_get(&self, args: &str) -> Kernel {
        let o = self.try_ip(&format!("-j route get {args}"));
        if !o.status.success() {
            let e = String::from_utf8_lossy(&o.stderr).to_string();
            let errno = [
                ("Network is unreachable", "ENETUNREACH"),
                ("No route to host", "EHOSTUNREACH"),
                ("Invalid argument", "EINVAL"),
                ("Permission denied", "EACCES"),
                ("Invalid cross-device link", "EXDEV"),
                ("No such device", "ENODEV"),
            ]
            .iter()
            .find(|(m, _)| e.contains(m))
            .map(|(_, n)| *n)
            .unwrap_or_else(|| panic!("ip route get {args}: unknown error {e}"));
            return Kernel::Err(errno);
        }
        let v: Value = serde_json::from_slice(&o.stdout).expect("route get json");
        let r = &v[0];
        let s = |k: &str| r.get(k).and_then(|x| x.as_str()).map(str::to_string);
        Kernel::Ok {
            rtype: s("type").unwrap_or_else(|| "unicast".into()),
            dev: s("dev").unwrap_or_default(),
            gateway: s("gateway").map(|g| g.parse().expect("gw")),
            // With a given source the kernel prints `from` instead of `prefsrc`.
            prefsrc: s("prefsrc").or_else(|| s("from")).map(|g| g.parse().expect("src")),
        }
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Kernel {
    Ok { rtype: String, dev: String, gateway: Option<Ipv4Addr>, prefsrc: Option<Ipv4Addr> },
    Err(&'static str),
}

// ---------------------------------------------------------------------------------------------
// `ip -j` JSON -> model (test-only; the importers own the real one).

fn sv<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(|x| x.as_str())
}
fn uv(v: &Value, k: &str) -> Option<u64> {
    v.get(k).and_then(|x| x.as_u64())
}
fn flags(v: &Value) -> Vec<String> {
    v.get("flags").and_then(|f| f.as_array()).map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}
fn table_id(s: &str) -> u32 {
    match s {
        "local" => RT_TABLE_LOCAL,
        "main" => RT_TABLE_MAIN,
        "default" => RT_TABLE_DEFAULT,
        n => n.parse().expect("table"),
    }
}
fn hex(s: &str) -> u32 {
    u32::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex")
}

fn snapshot_from(name: &str, links: &Value, addrs: &Value, routes: &Value, rules: &Value, sysctl: &str) -> Namespace {
    let mut ns = Namespace { name: name.into(), ..Namespace::default() };
    for l in links.as_array().expect("links") {
        let f = flags(l);
        let kind = match l.get("linkinfo").and_then(|i| sv(i, "info_kind")) {
            Some("veth") => LinkKind::Veth,
            Some("dummy") => LinkKind::Dummy,
            Some(k) => LinkKind::Other { name: k.into() },
            None if f.iter().any(|x| x == "LOOPBACK") => LinkKind::Loopback,
            None => LinkKind::Ether,
        };
        ns.links.push(Link {
            ifindex: uv(l, "ifindex").expect("ifindex") as u32,
            name: sv(l, "ifname").expect("ifname").into(),
            kind,
            mtu: uv(l, "mtu").unwrap_or(1500) as u32,
            mac: None,
            up: f.iter().any(|x| x == "UP"),
            lower_up: f.iter().any(|x| x == "LOWER_UP"),
            noarp: f.iter().any(|x| x == "NOARP"),
            promisc: false,
            master: sv(l, "master").map(str::to_string),
            link_ifindex: None,
            link_name: None,
            link_netnsid: None,
            brport: None,
            group: sv(l, "group").map(str::to_string),
        });
    }
    for l in addrs.as_array().expect("addrs") {
        for ai in l.get("addr_info").and_then(|a| a.as_array()).into_iter().flatten() {
            if sv(ai, "family") != Some("inet") {
                continue;
            }
            let local: Ipv4Addr = sv(ai, "local").expect("local").parse().expect("ip");
            ns.addrs.push(Addr {
                ifname: sv(l, "ifname").expect("ifname").into(),
                ifindex: uv(l, "ifindex").expect("ifindex") as u32,
                local,
                prefix_len: uv(ai, "prefixlen").expect("prefixlen") as u8,
                peer: sv(ai, "address").map(|p| p.parse().expect("peer")),
                broadcast: sv(ai, "broadcast").map(|p| p.parse().expect("brd")),
                scope: Scope::parse(sv(ai, "scope").unwrap_or("global")).expect("scope"),
                secondary: ai.get("secondary").and_then(|x| x.as_bool()).unwrap_or(false),
                noprefixroute: false,
                label: sv(ai, "label").map(str::to_string),
            });
        }
    }
    let nh = |v: &Value| {
        let f = flags(v);
        NextHop {
            gateway: sv(v, "gateway").map(|g| g.parse().expect("gw")),
            dev: sv(v, "dev").map(str::to_string),
            onlink: f.iter().any(|x| x == "onlink"),
            weight: uv(v, "weight").unwrap_or(1) as u32,
            dead: f.iter().any(|x| x == "dead"),
            linkdown: f.iter().any(|x| x == "linkdown"),
        }
    };
    for r in routes.as_array().expect("routes") {
        let dst = sv(r, "dst").expect("dst");
        if dst.contains(':') {
            continue;
        }
        let dst: Ipv4Net = match dst {
            "default" => "0.0.0.0/0".parse().expect("net"),
            d if d.contains('/') => d.parse().expect("net"),
            d => format!("{d}/32").parse().expect("net"),
        };
        let nexthops = match r.get("nexthops").and_then(|n| n.as_array()) {
            Some(list) => list.iter().map(nh).collect(),
            None if sv(r, "dev").is_some() => vec![nh(r)],
            None => Vec::new(),
        };
        ns.routes.push(Route {
            table: table_id(sv(r, "table").unwrap_or("main")),
            rtype: RouteType::parse(sv(r, "type").unwrap_or("unicast")).expect("type"),
            dst,
            tos: sv(r, "tos").or(sv(r, "dsfield")).map(|t| hex(t) as u8).unwrap_or(0),
            metric: uv(r, "metric").unwrap_or(0) as u32,
            protocol: sv(r, "protocol").map(str::to_string),
            scope: Scope::parse(sv(r, "scope").unwrap_or("global")).expect("scope"),
            prefsrc: sv(r, "prefsrc").map(|p| p.parse().expect("prefsrc")),
            nexthops,
            mtu: None,
            origin: None,
        });
    }
    for r in rules.as_array().expect("rules") {
        let pre = |k: &str, l: &str| -> Option<Ipv4Net> {
            let a = sv(r, k)?;
            if a == "all" {
                return None;
            }
            Some(format!("{a}/{}", uv(r, l).unwrap_or(32)).parse().expect("net"))
        };
        let range = |a: &str, b: &str| uv(r, a).map(|x| (x as u16, uv(r, b).unwrap_or(x) as u16));
        let action = if let Some(g) = uv(r, "goto") {
            RuleAction::Goto(g as u32)
        } else if r.get("nop").is_some() {
            RuleAction::Nop
        } else {
            match sv(r, "action") {
                Some("unreachable") => RuleAction::Unreachable,
                Some("prohibit") => RuleAction::Prohibit,
                Some("blackhole") => RuleAction::Blackhole,
                _ => RuleAction::Table(table_id(sv(r, "table").expect("table"))),
            }
        };
        ns.rules.push(FibRule {
            priority: uv(r, "priority").expect("priority") as u32,
            not: r.get("not").is_some(),
            from: pre("src", "srclen"),
            to: pre("dst", "dstlen"),
            iif: sv(r, "iif").map(str::to_string),
            oif: sv(r, "oif").map(str::to_string),
            fwmark: sv(r, "fwmark").map(|m| (hex(m), sv(r, "fwmask").map(hex).unwrap_or(u32::MAX))),
            tos: sv(r, "tos").map(|t| hex(t) as u8),
            ipproto: sv(r, "ipproto").and_then(proto_number),
            sport: range("sport_start", "sport_end"),
            dport: range("dport_start", "dport_end"),
            uidrange: uv(r, "uid_start").map(|s| (s as u32, uv(r, "uid_end").unwrap_or(s) as u32)),
            l3mdev: r.get("l3mdev").is_some(),
            suppress_prefixlength: r.get("suppress_prefixlen").and_then(|x| x.as_i64()).map(|x| x as i32),
            suppress_ifgroup: sv(r, "suppress_ifgroup").map(str::to_string),
            action,
            protocol: None,
        });
    }
    for line in sysctl.lines() {
        if let Some((k, v)) = line.split_once(" = ") {
            ns.sysctls.values.insert(k.trim().into(), v.trim().into());
        }
    }
    ns.sysctls.imported = true;
    ns
}

// ---------------------------------------------------------------------------------------------
// Comparing answers

/// A query, written as `ip route get` arguments; the same words build the `FlowKey`.
fn key_of(args: &str) -> (FlowKey, bool) {
    let w: Vec<&str> = args.split_whitespace().collect();
    let mut k = FlowKey { dst: w[0].parse().expect("dst"), uid: Some(0), ..FlowKey::default() };
    let mut i = 1;
    while i < w.len() {
        let v = w[i + 1];
        match w[i] {
            "from" => k.src = Some(v.parse().expect("from")),
            "iif" => k.iif = Some(v.into()),
            "oif" => k.oif = Some(v.into()),
            "mark" => k.mark = hex(v),
            "tos" => k.tos = hex(v) as u8,
            "ipproto" => k.proto = proto_number(v).expect("proto"),
            "sport" => k.sport = v.parse().expect("port"),
            "dport" => k.dport = v.parse().expect("port"),
            "uid" => k.uid = Some(v.parse().expect("uid")),
            o => panic!("query word {o}"),
        }
        i += 2;
    }
    let input = k.iif.is_some();
    (k, input)
}

fn ask(fib: &Fib, args: &str) -> RouteResult {
    let (k, input) = key_of(args);
    if input {
        fib.route_input(&k)
    } else {
        fib.route_output(&k)
    }
}

/// Whether the model's decision is the kernel's answer; `None` when they agree.
fn disagreement(k: &Kernel, r: &RouteResult, input: bool) -> Option<String> {
    let same =
        match (k, &r.decision) {
            // Since 6.13 `ip_route_input_rcu` returns a drop reason and `inet_rtm_getroute` turns
            // any reason into EINVAL, so rp_filter's EXDEV reads as EINVAL here (the packet test
            // tells rp_filter drops apart with the IPReversePathFilter counter).
            (Kernel::Err("EINVAL"), Decision::Fail { errno: "EXDEV", .. }) if input => true,
            (Kernel::Err(e), Decision::Fail { errno, .. }) => e == errno,
            // Output out lo is local delivery (RTCF_LOCAL) even when the route type is unicast.
            (Kernel::Ok { rtype, dev, .. }, Decision::Local { src }) => {
                (rtype == "local" || !input && dev == "lo") && (input || matches!(k, Kernel::Ok { prefsrc: Some(p), .. } if p == src))
            }
            (Kernel::Ok { rtype, dev, .. }, Decision::Broadcast) => rtype == "broadcast" && (input || Some(dev) == r.dev.as_ref()),
            (Kernel::Ok { rtype, dev: kd, gateway: kg, prefsrc: ks }, Decision::Unicast { .. }) => rtype == "unicast"
                && (r.branches.len() > 1
                    && r.branches.iter().any(
                        |b| matches!(&b.decision, Decision::Unicast { dev, gateway, src, .. } if dev == kd && gateway == kg && (input || Some(*src) == *ks)),
                    )
                    || matches!(&r.decision, Decision::Unicast { dev, gateway, src, .. } if dev == kd && gateway == kg && (input || Some(*src) == *ks))),
            _ => false,
        };
    (!same).then(|| format!("kernel {k:?}\nmodel {:?}\nsteps {:#?}", r.decision, r.steps))
}

/// Asks the kernel and the model every query; fails listing every disagreement.
fn compare(ns: &Ns, queries: &[&str]) -> Fib {
    let fib = Fib::new(&ns.snapshot());
    let mut bad = Vec::new();
    for q in queries {
        let k = ns.route_get(q);
        let (_, input) = key_of(q);
        let r = ask(&fib, q);
        if let Some(d) = disagreement(&k, &r, input) {
            bad.push(format!("ip route get {q}\n{d}"));
        }
    }
    assert!(bad.is_empty(), "{} of {} queries disagree with the kernel:\n\n{}", bad.len(), queries.len(), bad.join("\n\n"));
    fib
}

fn reason(r: &RouteResult) -> Option<DropReason> {
    match r.decision {
        Decision::Fail { reason, .. } => Some(reason),
        _ => None,
    }
}

/// A namespace with two veth pairs whose far ends stay in the same namespace (up, no address),
/// so `eth0` and `eth1` have carrier: eth0 10.0.0.1/24 (+10.0.5.1/24), eth1 10.1.0.1/24.
fn router(tag: &str) -> Ns {
    let ns = Ns::new(tag);
    for (d, p) in [("eth0", "peer0"), ("eth1", "peer1"), ("eth2", "peer2")] {
        ns.ip(&format!("link add {d} type veth peer name {p}"));
        ns.ip(&format!("link set {d} up"));
        ns.ip(&format!("link set {p} up"));
    }
    ns.ip("addr add 10.0.0.1/24 dev eth0");
    ns.ip("addr add 10.1.0.1/24 dev eth1");
    ns.ip("addr add 10.2.0.1/24 dev eth2");
    ns.ip("route add default via 10.0.0.254 dev eth0");
    ns
}

// ---------------------------------------------------------------------------------------------
// Tests

/// Longest prefix, metric order, TOS routes, reject route types and throw, without custom rules
/// (merged local/main) and for input (forwarding on) and output.
#[test]
fn kernel_table_lookup_and_route_types() {
    let ns = router("tbl");
    ns.sysctl("net.ipv4.ip_forward=1");
    ns.ip("route add 10.9.0.0/16 via 10.1.0.2 dev eth1");
    ns.ip("route add 10.9.9.0/24 via 10.2.0.3 dev eth2");
    ns.ip("route add 10.8.0.0/16 via 10.1.0.2 dev eth1 metric 200");
    ns.ip("route add 10.8.0.0/16 via 10.2.0.2 dev eth2 metric 100");
    ns.ip("route add 10.7.0.0/16 tos 0x10 via 10.2.0.7 dev eth2");
    ns.ip("route add 10.7.0.0/16 via 10.1.0.7 dev eth1");
    ns.ip("route add blackhole 192.0.2.0/26");
    ns.ip("route add unreachable 192.0.2.64/26");
    ns.ip("route add prohibit 192.0.2.128/26");
    ns.ip("route add throw 192.0.2.192/26");
    ns.ip("route add local 198.51.100.0/24 dev lo table main");
    // An address on a device that is down stays local (its host-scope route survives).
    ns.ip("link add tunl7 type veth peer name tunl7p");
    ns.ip("addr add 10.244.2.0/32 dev tunl7");
    ns.ip("addr add 10.66.0.1/24 dev tunl7");
    let mut q = vec!["10.244.2.0".to_string(), "10.244.2.0 from 10.2.0.9 iif eth2".into(), "10.66.0.9".into(), "10.66.0.1".into()];
    for dst in [
        "10.9.9.9",
        "10.9.8.8",
        "10.8.1.1",
        "10.7.1.1",
        "10.1.0.77",
        "10.1.0.1",
        "10.0.0.1",
        "127.0.0.9",
        "10.1.0.255",
        "192.0.2.1",
        "192.0.2.65",
        "192.0.2.129",
        "192.0.2.200",
        "203.0.113.5",
        "198.51.100.9",
    ] {
        q.push(dst.to_string());
        q.push(format!("{dst} from 10.2.0.9 iif eth2"));
    }
    q.push("10.7.1.1 tos 0x10".into());
    q.push("10.7.1.1 from 10.2.0.9 iif eth2 tos 0x10".into());
    let qs: Vec<&str> = q.iter().map(String::as_str).collect();
    let fib = compare(&ns, &qs);
    assert!(!fib.has_custom_rules());
    // Reasons the kernel does not print but the trace must name.
    assert_eq!(reason(&ask(&fib, "192.0.2.1")), Some(DropReason::Blackhole));
    assert_eq!(reason(&ask(&fib, "192.0.2.65")), Some(DropReason::UnreachableRoute));
    assert_eq!(reason(&ask(&fib, "192.0.2.129")), Some(DropReason::Prohibit));
}

/// Policy rules: fwmark into another table, from, iif (and `iif lo` for local traffic), tos,
/// ipproto/dport, uidrange, `not`, goto/nop, rule actions, throw, suppress_prefixlength.
#[test]
fn kernel_policy_rules() {
    let ns = router("rules");
    ns.sysctl("net.ipv4.ip_forward=1");
    ns.ip("rule add pref 100 fwmark 0x1/0x3 lookup 100");
    ns.ip("route add default via 10.1.0.254 dev eth1 table 100");
    ns.ip("route add throw 198.51.100.0/24 table 100");
    // A rule naming a device that does not exist never matches ("detached"); a goto to a
    // priority nobody has is unresolved and skipped.
    ns.ip("rule add pref 105 iif ghost0 lookup 105");
    ns.ip("rule add pref 106 oif ghost1 lookup 105");
    ns.ip("route add default via 10.2.0.105 dev eth2 table 105");
    ns.ip("rule add pref 107 to 203.0.113.64/26 goto 108");
    ns.ip("rule add pref 110 from 10.2.0.0/24 lookup 110");
    ns.ip("route add default via 10.2.0.254 dev eth2 table 110");
    ns.ip("rule add pref 120 iif eth1 lookup 120");
    ns.ip("route add 203.0.113.0/24 via 10.2.0.120 dev eth2 table 120");
    ns.ip("rule add pref 130 iif lo to 203.0.113.128/25 lookup 130");
    ns.ip("route add 203.0.113.0/24 via 10.1.0.130 dev eth1 table 130");
    ns.ip("rule add pref 140 tos 0x10 lookup 140");
    ns.ip("route add default via 10.2.0.140 dev eth2 table 140");
    ns.ip("rule add pref 150 ipproto tcp dport 8000-8100 lookup 150");
    ns.ip("route add default via 10.1.0.150 dev eth1 table 150");
    ns.ip("rule add pref 160 uidrange 1000-1999 lookup 160");
    ns.ip("route add default via 10.2.0.160 dev eth2 table 160");
    ns.ip("rule add pref 170 to 192.0.2.1 blackhole");
    ns.ip("rule add pref 171 to 192.0.2.2 unreachable");
    ns.ip("rule add pref 172 to 192.0.2.3 prohibit");
    ns.ip("rule add pref 180 to 192.0.2.16/28 goto 190");
    ns.ip("rule add pref 181 to 192.0.2.16/28 prohibit");
    ns.ip("rule add pref 190 to 192.0.2.16/28 nop");
    ns.ip("rule add pref 191 to 192.0.2.16/28 lookup 191");
    ns.ip("route add 192.0.2.16/28 via 10.2.0.191 dev eth2 table 191");
    ns.ip("rule add pref 200 not to 192.0.2.0/24 lookup 200");
    ns.ip("route add 192.0.2.0/24 via 10.1.0.200 dev eth1 table 200");
    ns.ip("route add 198.18.0.0/15 via 10.1.0.201 dev eth1 table 200");
    ns.ip("link set eth2 group 5");
    ns.ip("rule add pref 195 to 198.18.0.0/15 lookup main suppress_ifgroup 5");
    ns.ip("route add 198.18.0.0/16 via 10.2.0.205 dev eth2");
    ns.ip("rule add pref 196 to 198.18.0.0/15 lookup 206");
    ns.ip("route add 198.18.0.0/15 via 10.1.0.206 dev eth1 table 206");
    ns.ip("rule add pref 210 lookup main suppress_prefixlength 0");
    ns.ip("rule add pref 220 lookup 220");
    ns.ip("route add default via 10.2.0.220 dev eth2 table 220");
    let q = [
        "203.0.113.5",
        "203.0.113.200",
        "203.0.113.70",
        "203.0.113.5 mark 0x1",
        "203.0.113.5 mark 0x5",
        "203.0.113.5 mark 0x2",
        "198.51.100.5 mark 0x1",
        "203.0.113.5 from 10.2.0.1",
        "203.0.113.5 from 10.2.0.9 iif eth0",
        "203.0.113.5 from 10.1.0.9 iif eth1",
        "203.0.113.200 from 10.1.0.9 iif eth1",
        "198.51.100.1 tos 0x10",
        "198.51.100.1 ipproto tcp dport 8080",
        "198.51.100.1 ipproto tcp dport 9000",
        "198.51.100.1 ipproto udp dport 8080",
        "198.51.100.1 from 10.0.0.9 iif eth0 ipproto tcp dport 8080",
        "198.51.100.1 uid 1500",
        "198.51.100.1 uid 2500",
        "192.0.2.1",
        "192.0.2.2",
        "192.0.2.3",
        "192.0.2.1 from 10.0.0.9 iif eth0",
        "192.0.2.2 from 10.0.0.9 iif eth0",
        "192.0.2.3 from 10.0.0.9 iif eth0",
        "192.0.2.17",
        "192.0.2.17 from 10.0.0.9 iif eth0",
        "192.0.2.99",
        "198.18.0.1",
        "198.19.0.1",
        "198.51.100.1",
        "10.1.0.9",
        "10.0.0.1",
    ];
    let fib = compare(&ns, &q);
    assert!(fib.has_custom_rules());
    // suppress_ifgroup: main's route via eth2 (group 5) is suppressed, table 206 answers.
    assert!(matches!(ask(&fib, "198.18.0.1").decision, Decision::Unicast { gateway: Some(g), .. } if g == Ipv4Addr::new(10, 1, 0, 206)));
    let r = ask(&fib, "203.0.113.5 mark 0x1");
    assert!(r.steps.iter().any(|s| format!("{:?}", s.kind).contains("from all fwmark 0x1/0x3 lookup 100")), "{:#?}", r.steps);
}

/// LINKDOWN nexthops (carrier lost) are used unless `ignore_routes_with_linkdown`; then the
/// lookup moves on to the next alias of the prefix.
#[test]
fn kernel_linkdown_routes() {
    let ns = router("linkdown");
    ns.sysctl("net.ipv4.ip_forward=1");
    ns.ip("link add eth3 type veth peer name peer3");
    ns.ip("link set eth3 up");
    ns.ip("addr add 10.3.0.1/24 dev eth3");
    ns.ip("route add 10.30.0.0/16 via 10.3.0.2 dev eth3 metric 10");
    ns.ip("route add 10.30.0.0/16 via 10.1.0.2 dev eth1 metric 20");
    let q = ["10.30.1.1", "10.3.0.9", "10.30.1.1 from 10.0.0.9 iif eth0", "10.3.0.9 from 10.0.0.9 iif eth0"];
    let fib = compare(&ns, &q);
    assert!(ask(&fib, "10.30.1.1").route.is_some_and(|r| r.contains("linkdown")));
    ns.sysctl("net.ipv4.conf.eth3.ignore_routes_with_linkdown=1");
    compare(&ns, &q);
    ns.sysctl("net.ipv4.conf.eth3.ignore_routes_with_linkdown=0");
    ns.sysctl("net.ipv4.conf.all.ignore_routes_with_linkdown=1");
    compare(&ns, &q);
}

/// The default table is consulted after main; no route at all is ENETUNREACH.
#[test]
fn kernel_no_route_and_default_table() {
    let ns = Ns::new("noroute");
    ns.ip("link add eth0 type veth peer name peer0");
    ns.ip("link set eth0 up");
    ns.ip("link set peer0 up");
    ns.ip("addr add 10.0.0.1/24 dev eth0");
    compare(&ns, &["198.51.100.1", "10.0.0.9", "198.51.100.1 oif eth0", "198.51.100.1 oif peer0", "198.51.100.1 from 10.0.0.9 iif eth0"]);
    ns.ip("route add default via 10.0.0.253 dev eth0 table default");
    ns.ip("route add blackhole 198.51.100.0/24");
    compare(&ns, &["198.51.100.1", "203.0.113.1", "198.51.100.1 from 10.0.0.9 iif eth0"]);
}

/// Source selection: route `src`, the address sharing the gateway's subnet, secondaries skipped,
/// a device without addresses, a bound source, oif with no route.
#[test]
fn kernel_source_selection() {
    let ns = router("src");
    ns.ip("addr add 10.0.5.1/24 dev eth0");
    ns.ip("addr add 10.0.0.2/24 dev eth0");
    ns.ip("link add cali0 type veth peer name calip");
    ns.ip("link set cali0 up");
    ns.ip("link set calip up");
    ns.ip("route replace default via 10.0.5.254 dev eth0");
    ns.ip("route add 203.0.113.0/24 via 10.0.0.254 dev eth0 src 10.2.0.1");
    ns.ip("route add 192.0.2.0/24 dev cali0 scope link");
    ns.ip("route add 198.18.0.0/24 via 10.0.0.254 dev eth0");
    // A device with only a link-scope address: usable for link-scope routes, not for a gateway.
    ns.ip("link add cali9 type veth peer name calip9");
    ns.ip("link set cali9 up");
    ns.ip("link set calip9 up");
    ns.ip("addr add 169.254.7.1/16 dev cali9 scope link");
    ns.ip("route add 192.0.2.128/25 dev cali9 scope link");
    ns.ip("route add 198.18.5.0/24 via 169.254.1.1 dev cali9 onlink");
    let fib = compare(
        &ns,
        &[
            "8.8.8.8",
            "203.0.113.9",
            "10.0.0.9",
            "10.0.5.9",
            "198.18.0.1",
            "192.0.2.7",
            "8.8.8.8 from 10.1.0.1",
            "8.8.8.8 from 10.0.0.99",
            "8.8.8.8 from 10.0.0.2",
            "198.51.100.1 oif eth1",
            "198.51.100.1 oif cali0",
            "10.1.0.1",
            "10.1.0.1 from 10.0.0.1",
            "127.0.0.1",
            "10.0.0.1 oif eth1",
            "10.0.0.1 oif eth0",
            "10.0.0.1 oif lo",
            "127.0.0.1 oif eth0",
            "10.1.0.255 oif eth0",
            "10.1.0.255",
            "192.0.2.200",
            "198.18.5.5",
        ],
    );
    assert_eq!(fib.inet_select_addr("cali0", "192.0.2.7".parse().expect("ip"), Scope::Universe), Some("10.0.0.1".parse().expect("ip")));
}

/// Forwarding off (global and per device), rp_filter 0/1/2 with an asymmetric return path, an
/// input device without address, accept_local, src_valid_mark, martians and route_localnet, as
/// `ip route get ... iif` reports them (it runs `ip_route_input_slow`, rp_filter included).
#[test]
fn kernel_input_checks() {
    let ns = router("input");
    ns.ip("route add 10.20.0.0/16 via 10.1.0.254 dev eth1");
    ns.ip("link add cali1 type veth peer name calip1");
    ns.ip("link set cali1 up");
    ns.ip("link set calip1 up");
    let q = [
        "10.1.0.9 from 10.0.0.9 iif eth0",
        "10.1.0.9 from 10.20.0.9 iif eth0",
        "10.0.0.1 from 10.20.0.9 iif eth0",
        "10.0.0.1 from 10.0.0.9 iif eth0",
        "10.0.0.1 from 198.51.100.9 iif eth0",
        "10.1.0.9 from 10.20.0.9 iif cali1",
        "10.0.0.1 from 10.20.0.9 iif cali1",
        "10.0.0.1 from 10.1.0.1 iif eth0",
        "10.0.0.1 from 0.1.2.3 iif eth0",
        "10.0.0.1 from 224.0.0.9 iif eth0",
        "0.1.0.1 from 10.0.0.9 iif eth0",
        "127.0.0.1 from 10.0.0.9 iif eth0",
        "10.0.0.1 from 127.0.0.1 iif eth0",
        "10.0.0.255 from 10.0.0.9 iif eth0",
        "255.255.255.255 from 10.0.0.9 iif eth0",
        "10.0.0.9 from 10.0.0.8 iif eth0",
        "10.0.0.1 from 10.20.0.9 iif eth0 mark 0x7",
    ];
    // forwarding off everywhere
    compare(&ns, &q);
    ns.sysctl("net.ipv4.ip_forward=1");
    let rp_matrix = |ns: &Ns| {
        for (all, dev) in [(0, 0), (1, 0), (1, 2), (2, 2), (0, 1)] {
            ns.sysctl(&format!("net.ipv4.conf.all.rp_filter={all}"));
            for d in ["eth0", "cali1"] {
                ns.sysctl(&format!("net.ipv4.conf.{d}.rp_filter={dev}"));
            }
            compare(ns, &q);
            ns.sysctl("net.ipv4.conf.all.src_valid_mark=1");
            compare(ns, &q);
            ns.sysctl("net.ipv4.conf.all.src_valid_mark=0");
        }
    };
    // Without custom rules (rp_filter 0 fast path), then with a mark rule in the way.
    rp_matrix(&ns);
    ns.ip("rule add pref 100 fwmark 0x7 lookup 100");
    ns.ip("route add 10.20.0.0/16 via 10.0.0.254 dev eth0 table 100");
    rp_matrix(&ns);
    ns.sysctl("net.ipv4.conf.eth0.accept_local=1");
    ns.sysctl("net.ipv4.conf.eth0.route_localnet=1");
    compare(&ns, &q);
    // A later per-device write wins: forwarding off on eth0 only.
    ns.sysctl("net.ipv4.conf.eth0.forwarding=0");
    let fib = compare(&ns, &q);
    assert_eq!(reason(&ask(&fib, "10.1.0.9 from 10.0.0.9 iif eth0")), Some(DropReason::ForwardingDisabled));
}

/// rp_filter 0 outside the fast path: with custom rules a source equal to a local address or a
/// broadcast address is a martian, a blackholed source is accepted; hairpin with send_redirects.
#[test]
fn kernel_rp_filter_zero_full_check() {
    let ns = router("rpzero");
    ns.sysctl("net.ipv4.ip_forward=1");
    ns.ip("route add blackhole 10.0.0.128/25");
    let q = [
        "10.0.0.9 from 10.0.0.200 iif eth0",
        "10.0.0.9 from 10.0.0.255 iif eth0",
        "10.0.0.9 from 10.0.0.1 iif eth0",
        "10.1.0.9 from 10.0.0.200 iif eth0",
        "10.1.0.9 from 10.1.0.1 iif eth0",
    ];
    compare(&ns, &q);
    ns.ip("rule add pref 100 iif eth1 lookup 100");
    ns.ip("route add 10.0.0.0/24 via 10.1.0.254 dev eth1 table 100");
    compare(&ns, &q);
    ns.sysctl("net.ipv4.conf.all.send_redirects=0");
    ns.sysctl("net.ipv4.conf.eth0.send_redirects=0");
    compare(&ns, &q);
}

/// Multipath: every nexthop the kernel picks over many flows is one of the model's branches, and
/// every branch is picked; the shares follow the weights.
#[test]
fn kernel_multipath_enumeration() {
    let ns = router("mpath");
    ns.ip("route add 198.51.100.0/24 nexthop via 10.1.0.2 dev eth1 weight 1 nexthop via 10.2.0.2 dev eth2 weight 3");
    let fib = Fib::new(&ns.snapshot());
    let r = ask(&fib, "198.51.100.1");
    assert_eq!(r.branches.len(), 2, "{r:?}");
    let mut seen = [0u32; 2];
    let n = 250;
    for i in 0..n {
        let kq = format!("198.51.100.{}", i + 1);
        let ko = ns.route_get(&kq);
        let Kernel::Ok { dev, .. } = &ko else { panic!("{kq}: {ko:?}") };
        let idx = r.branches.iter().position(|b| matches!(&b.decision, Decision::Unicast { dev: d, .. } if d == dev));
        let idx = idx.unwrap_or_else(|| panic!("kernel chose {dev}, not a model branch"));
        seen[idx] += 1;
    }
    // Input lookups of forwarded packets branch the same way; a bound source that is a
    // nexthop's source pins the flow to that nexthop (6.16+), any other bound source does not.
    ns.ip("addr add 10.9.0.1/24 dev eth1");
    let mut q = vec!["198.51.100.7 from 10.0.0.9 iif eth0".to_string(), "198.51.100.8 from 10.0.0.9 iif eth0".to_string()];
    for i in 1..=20 {
        for src in ["10.1.0.1", "10.2.0.1", "10.9.0.1"] {
            q.push(format!("198.51.100.{i} from {src}"));
        }
    }
    let fib = compare(&ns, &q.iter().map(String::as_str).collect::<Vec<_>>());
    let pinned = ask(&fib, "198.51.100.1 from 10.2.0.1");
    assert_eq!(pinned.branches.len(), 1, "{pinned:?}");
    assert_eq!(ask(&fib, "198.51.100.1 from 10.9.0.1").branches.len(), 2);
    assert!(seen.iter().all(|&c| c > 0), "{seen:?}");
    let share = seen[1] as f64 / n as f64;
    assert!((share - r.branches[1].probability).abs() < 0.15, "kernel share {share}, model {}", r.branches[1].probability);
}

/// `fib_check_nh_v4_gw`: the onlink gateway check of incident 3, with merged and unmerged tables,
/// compared with the kernel accepting or refusing the same `ip route add`.
#[test]
fn kernel_onlink_gateway_check() {
    let ns = router("onlink");
    // No dummy module here: veth pairs stand in for flannel.1 and tunl0.
    ns.ip("link add flannel.1 type veth peer name flannelp");
    ns.ip("link set flannel.1 up");
    ns.ip("link set flannelp up");
    ns.ip("link add tunl9 type veth peer name tunlp");
    ns.ip("addr add 10.244.2.0/32 dev tunl9");
    ns.ip("route add blackhole 10.244.1.0/26 proto bird");
    ns.ip("route add local 10.244.40.0/24 dev lo table main");
    let cases = [
        ("10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink", "10.244.2.0", Some("flannel.1"), true),
        ("10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink", "10.244.1.0", Some("flannel.1"), true),
        ("10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink", "10.244.3.0", Some("flannel.1"), true),
        ("10.244.4.0/24 via 10.244.40.0 dev flannel.1 onlink", "10.244.40.0", Some("flannel.1"), true),
        ("10.244.5.0/24 via 10.244.5.1 dev flannel.1", "10.244.5.1", Some("flannel.1"), false),
        ("10.244.6.0/24 via 10.1.0.9 dev eth1", "10.1.0.9", Some("eth1"), false),
        ("10.244.7.0/24 via 10.1.0.1 dev eth1", "10.1.0.1", Some("eth1"), false),
        ("10.244.8.0/24 via 10.0.0.254", "10.0.0.254", None, false),
    ];
    let check = |ns: &Ns| {
        let fib = Fib::new(&ns.snapshot());
        let mut bad = Vec::new();
        for (route, gw, dev, onlink) in cases {
            let model = fib.check_nh_v4_gw(RT_TABLE_MAIN, gw.parse().expect("gw"), dev, onlink, Scope::Universe);
            let o = ns.try_ip(&format!("route add {route}"));
            if o.status.success() {
                ns.ip(&format!("route del {route}"));
            }
            let kernel_msg = String::from_utf8_lossy(&o.stderr).to_string();
            let agree = match &model {
                Ok(()) => o.status.success(),
                Err(e) => !o.status.success() && kernel_msg.contains(e.message),
            };
            if !agree {
                bad.push(format!("{route}: kernel {:?} {kernel_msg:?}, model {model:?}", o.status.code()));
            }
        }
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    };
    check(&ns);
    // A custom rule unmerges local and main: main's local route no longer counts.
    ns.ip("rule add pref 100 fwmark 0x9 lookup 100");
    check(&ns);
}

// ---------------------------------------------------------------------------------------------
// Real packets: client C -- router R -- server S; UDP to a closed port on S counts `Udp
// NoPorts` there, which proves the router forwarded it.

struct Topo {
    c: Ns,
    r: Ns,
    s: Ns,
}

fn topo(tag: &str) -> Topo {
    let c = Ns::new(&format!("{tag}c"));
    let r = Ns::new(&format!("{tag}r"));
    let s = Ns::new(&format!("{tag}s"));
    r.ip(&format!("link add r0 type veth peer name c0 netns {}", c.name));
    r.ip(&format!("link add r1 type veth peer name s0 netns {}", s.name));
    r.ip(&format!("link add r2 type veth peer name x0 netns {}", s.name));
    for (ns, d) in [(&c, "c0"), (&r, "r0"), (&r, "r1"), (&r, "r2"), (&s, "s0"), (&s, "x0")] {
        ns.ip(&format!("link set {d} up"));
    }
    c.ip("addr add 10.0.0.2/24 dev c0");
    c.ip("route add default via 10.0.0.1");
    r.ip("addr add 10.0.0.1/24 dev r0");
    r.ip("addr add 10.1.0.1/24 dev r1");
    r.ip("addr add 10.3.0.1/24 dev r2");
    s.ip("addr add 10.1.0.2/24 dev s0");
    s.ip("addr add 10.3.0.2/24 dev x0");
    s.ip("route add default via 10.1.0.1");
    Topo { c, r, s }
}

/// Sends one UDP datagram from C to S:9 and says whether S received it.
fn delivered(t: &Topo) -> bool {
    let before = t.s.counter("Udp", "NoPorts");
    let o = t.c.exec("bash -c 'echo x > /dev/udp/10.1.0.2/9'");
    assert!(o.status.success(), "send: {}", String::from_utf8_lossy(&o.stderr));
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(800) {
        if t.s.counter("Udp", "NoPorts") > before {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn model_forwards(t: &Topo) -> (bool, RouteResult) {
    let fib = Fib::new(&t.r.snapshot());
    let r = fib.route_input(&FlowKey { proto: 17, dport: 9, ..FlowKey::input("10.0.0.2".parse().expect("ip"), "10.1.0.2".parse().expect("ip"), "r0") });
    (matches!(&r.decision, Decision::Unicast { dev, .. } if dev == "r1"), r)
}

#[test]
fn kernel_packets_forwarding_and_rp_filter() {
    let t = topo("pk");
    let cases = vec![
        // Forwarding off (the namespace default), then on.
        ("forwarding off", None),
        ("forwarding on", Some("net.ipv4.ip_forward=1")),
        // Per-device forwarding off on the input device only, then back on.
        ("r0 forwarding off", Some("net.ipv4.conf.r0.forwarding=0")),
        ("r0 forwarding on", Some("net.ipv4.conf.r0.forwarding=1")),
    ];
    let mut bad = Vec::new();
    let check = |what: &str, t: &Topo, bad: &mut Vec<String>| {
        let (model, r) = model_forwards(t);
        let kernel = delivered(t);
        if model != kernel {
            bad.push(format!("{what}: kernel delivered={kernel}, model {:?}\n{:#?}", r.decision, r.steps));
        }
        kernel
    };
    for (what, sysctl) in cases {
        if let Some(s) = sysctl {
            t.r.sysctl(s);
        }
        check(what, &t, &mut bad);
    }
    // Asymmetric return path: R routes the client's subnet back via r2 (towards S's x0).
    t.r.ip("route add 10.0.0.2/32 via 10.3.0.2 dev r2");
    for rp in ["1", "2", "0"] {
        t.r.sysctl(&format!("net.ipv4.conf.all.rp_filter={rp}"));
        t.r.sysctl(&format!("net.ipv4.conf.r0.rp_filter={rp}"));
        let before = t.r.counter("TcpExt", "IPReversePathFilter");
        let k = check(&format!("rp_filter={rp}"), &t, &mut bad);
        let after = t.r.counter("TcpExt", "IPReversePathFilter");
        if rp == "1" {
            assert!(!k && after > before, "rp_filter=1 should drop and count IPReversePathFilter");
        }
    }
    // Hairpin: C sends to 10.0.0.77 through R, which forwards it back out r0 and flags an ICMP
    // redirect (IPSKB_DOREDIRECT); R counts it as Icmp OutRedirects (the redirect itself is
    // routed by R's asymmetric route, so C may never see it).
    t.c.ip("route add 10.0.0.77/32 via 10.0.0.1");
    let redirect_case = |what: &str, bad: &mut Vec<String>| {
        let fib = Fib::new(&t.r.snapshot());
        let key = FlowKey { proto: 17, dport: 9, ..FlowKey::input("10.0.0.2".parse().expect("ip"), "10.0.0.77".parse().expect("ip"), "r0") };
        let r = fib.route_input(&key);
        let before = t.r.counter("Icmp", "OutRedirects");
        let o = t.c.exec("bash -c 'echo x > /dev/udp/10.0.0.77/9'");
        assert!(o.status.success());
        let start = Instant::now();
        let mut kernel = false;
        while start.elapsed() < Duration::from_millis(800) && !kernel {
            kernel = t.r.counter("Icmp", "OutRedirects") > before;
            std::thread::sleep(Duration::from_millis(20));
        }
        if r.redirect != kernel {
            bad.push(format!("{what}: kernel redirect {kernel}, model {} ({:?})", r.redirect, r.decision));
        }
    };
    redirect_case("hairpin, send_redirects on", &mut bad);
    t.r.sysctl("net.ipv4.conf.all.send_redirects=0");
    t.r.sysctl("net.ipv4.conf.r0.send_redirects=0");
    redirect_case("hairpin, send_redirects off", &mut bad);
    assert!(bad.is_empty(), "{}", bad.join("\n\n"));
}

/// `xt_addrtype` as the kernel evaluates it: a peer sends one UDP datagram to each address and
/// raw PREROUTING counts `-m addrtype --dst-type T` (with and without `--limit-iface-in`) for
/// every type; exactly the model's `addr_type` must count. Merged tables first, then unmerged.
#[test]
fn kernel_addrtype_match() {
    let r = Ns::new("atr");
    let p = Ns::new("atp");
    r.ip(&format!("link add eth0 type veth peer name p0 netns {}", p.name));
    r.ip("link add eth1 type veth peer name peer1");
    for d in ["eth0", "eth1", "peer1"] {
        r.ip(&format!("link set {d} up"));
    }
    p.ip("link set p0 up");
    r.ip("addr add 10.0.0.1/24 dev eth0");
    r.ip("addr add 10.1.0.1/24 dev eth1");
    p.ip("addr add 10.0.0.2/24 dev p0");
    p.ip("route add default via 10.0.0.1");
    r.ip("route add blackhole 10.244.1.0/26");
    r.ip("route add unreachable 10.60.0.0/16");
    r.ip("route add local 10.244.40.0/24 dev lo table main");
    r.ip("route add 10.50.0.0/16 via 10.0.0.2 dev eth0");
    let dsts = ["10.0.0.1", "10.1.0.1", "10.244.1.5", "10.244.40.7", "10.50.1.1", "10.60.1.1", "0.1.0.1", "203.0.113.9"];
    let types = [
        RouteType::Unicast,
        RouteType::Local,
        RouteType::Broadcast,
        RouteType::Anycast,
        RouteType::Multicast,
        RouteType::Blackhole,
        RouteType::Unreachable,
        RouteType::Prohibit,
        RouteType::Throw,
    ];
    let run_round = |round: &str| {
        let o = r.exec("iptables -t raw -F PREROUTING");
        assert!(o.status.success(), "iptables: {}", String::from_utf8_lossy(&o.stderr));
        let mut order = Vec::new();
        for d in dsts {
            for t in types {
                for limit in [false, true] {
                    let l = if limit { " --limit-iface-in" } else { "" };
                    let cmd = format!("iptables -t raw -A PREROUTING -d {d} -m addrtype --dst-type {}{l}", t.as_str().to_uppercase());
                    let o = r.exec(&cmd);
                    assert!(o.status.success(), "{cmd}: {}", String::from_utf8_lossy(&o.stderr));
                    order.push((d, t, limit));
                }
            }
        }
        for d in dsts {
            let o = p.exec(&format!("bash -c 'echo x > /dev/udp/{d}/9'"));
            assert!(o.status.success(), "send to {d}: {}", String::from_utf8_lossy(&o.stderr));
        }
        std::thread::sleep(Duration::from_millis(200));
        let o = r.exec("iptables -t raw -L PREROUTING -v -x -n --line-numbers");
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        let counts: Vec<u64> = text.lines().skip(2).map(|l| l.split_whitespace().nth(1).expect("pkts").parse().expect("n")).collect();
        assert_eq!(counts.len(), order.len(), "{text}");
        let fib = Fib::new(&r.snapshot());
        let mut bad = Vec::new();
        for d in dsts {
            for limit in [false, true] {
                let kernel: Vec<RouteType> =
                    order.iter().zip(&counts).filter(|((od, _, ol), c)| *od == d && *ol == limit && **c > 0).map(|((_, t, _), _)| *t).collect();
                let model = fib.addr_type(d.parse().expect("ip"), limit.then_some("eth0"));
                if kernel != vec![model] {
                    bad.push(format!("{round}: {d} limit-iface-in={limit}: kernel {kernel:?}, model {model:?}"));
                }
            }
        }
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    };
    run_round("merged");
    r.ip("rule add pref 100 fwmark 0x9 lookup 100");
    run_round("unmerged");
}

/// `-m rpfilter` (`ipt_rpfilter.c`) as the kernel evaluates it, against `Fib::rpfilter`: a peer
/// sends from several bound sources and raw PREROUTING counts each variant.
#[test]
fn kernel_rpfilter_match() {
    let r = Ns::new("rpmr");
    let p = Ns::new("rpmp");
    r.ip(&format!("link add eth0 type veth peer name p0 netns {}", p.name));
    r.ip("link add eth1 type veth peer name peer1");
    for d in ["eth0", "eth1", "peer1"] {
        r.ip(&format!("link set {d} up"));
    }
    p.ip("link set p0 up");
    r.ip("addr add 10.0.0.1/24 dev eth0");
    r.ip("addr add 10.1.0.1/24 dev eth1");
    r.ip("route add 10.20.0.0/16 via 10.1.0.254 dev eth1");
    r.ip("route add blackhole 10.9.0.0/16");
    p.ip("addr add 10.0.0.2/24 dev p0");
    p.ip("route add default via 10.0.0.1");
    let srcs = ["10.0.0.2", "10.20.0.5", "10.9.0.5", "10.1.0.1", "198.51.100.5"];
    for s in &srcs[1..] {
        p.ip(&format!("addr add {s}/32 dev p0"));
    }
    let variants = [(false, false), (true, false), (false, true), (true, true)];
    let mut order = Vec::new();
    for s in srcs {
        for (loose, al) in variants {
            let mut cmd = format!("iptables -t raw -A PREROUTING -s {s} -d 10.0.0.1 -m rpfilter");
            if loose {
                cmd.push_str(" --loose");
            }
            if al {
                cmd.push_str(" --accept-local");
            }
            let o = r.exec(&cmd);
            assert!(o.status.success(), "{cmd}: {}", String::from_utf8_lossy(&o.stderr));
            order.push((s, loose, al));
        }
    }
    for s in srcs {
        let o = p.exec(&format!("echo x | socat - UDP4-SENDTO:10.0.0.1:9,bind={s}"));
        assert!(o.status.success(), "send from {s}: {}", String::from_utf8_lossy(&o.stderr));
    }
    std::thread::sleep(Duration::from_millis(200));
    let o = r.exec("iptables -t raw -L PREROUTING -v -x -n");
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let counts: Vec<u64> = text.lines().skip(2).map(|l| l.split_whitespace().next().expect("pkts").parse().expect("n")).collect();
    assert_eq!(counts.len(), order.len(), "{text}");
    let fib = Fib::new(&r.snapshot());
    let mut bad = Vec::new();
    for ((s, loose, al), c) in order.iter().zip(&counts) {
        let model = fib.rpfilter(s.parse().expect("ip"), Ipv4Addr::new(10, 0, 0, 1), "eth0", 0, *loose, *al);
        if model != Some(*c > 0) {
            bad.push(format!("-s {s} loose={loose} accept-local={al}: kernel matched {c}, model {model:?}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// A real node's policy routing, replayed: the k3s + flannel + NetBird node of the corpus
/// (`corpus/routes/k3s-v1.30.6-flannel-kuberouter-netpol-netbird-ddanielgal-ytdl.ip-rule.txt`
/// and `...ip-route-main.txt`, quoted below). NetBird's own table is not in the dump: it gets one
/// made-up peer network (10.99.0.0/16 dev wt0) in table 7120, NetBird's default table id.
#[test]
fn kernel_corpus_netbird_node() {
    const IP_ROUTE_MAIN: &str = "\
default via 192.168.1.1 dev eth0 proto dhcp src 192.168.1.105 metric 100
10.42.0.0/24 dev cni0 proto kernel scope link src 10.42.0.1
100.90.0.0/16 dev wt0 proto kernel scope link src 100.90.167.160
192.168.1.0/24 dev eth0 proto kernel scope link src 192.168.1.105 metric 100
192.168.1.1 dev eth0 proto dhcp scope link src 192.168.1.105 metric 100";
    let ns = Ns::new("netbird");
    for (d, p, a) in [("eth0", "eth0p", "192.168.1.105/24"), ("cni0", "cni0p", "10.42.0.1/24"), ("wt0", "wt0p", "100.90.167.160/16")] {
        ns.ip(&format!("link add {d} type veth peer name {p}"));
        ns.ip(&format!("link set {d} up"));
        ns.ip(&format!("link set {p} up"));
        // The dump's prefix routes carry metrics the kernel's own would not: add them by hand.
        ns.ip(&format!("addr add {a} dev {d} noprefixroute"));
    }
    // Gateways need their link routes first (`fib_check_nh_v4_gw`).
    for line in IP_ROUTE_MAIN.lines().filter(|l| !l.contains(" via ")).chain(IP_ROUTE_MAIN.lines().filter(|l| l.contains(" via "))) {
        ns.ip(&format!("route add {line}"));
    }
    ns.ip("rule add pref 105 from all lookup main suppress_prefixlength 0");
    ns.ip("rule add pref 110 not from all fwmark 0x1bd00 lookup 7120");
    ns.ip("route add 10.99.0.0/16 dev wt0 table 7120");
    ns.sysctl("net.ipv4.ip_forward=1");
    let fib = compare(
        &ns,
        &[
            "8.8.8.8",
            "8.8.8.8 mark 0x1bd00",
            "10.42.0.5",
            "10.99.1.1",
            "10.99.1.1 mark 0x1bd00",
            "100.90.1.1",
            "192.168.1.1",
            "192.168.1.77",
            "10.99.1.1 from 10.42.0.5 iif cni0",
            "8.8.8.8 from 10.42.0.5 iif cni0",
            "10.42.0.9 from 100.90.3.3 iif wt0",
            "192.168.1.105 from 10.42.0.5 iif cni0",
        ],
    );
    // NetBird's design: main's default route is suppressed at 105 and the packet falls to 110.
    let r = ask(&fib, "10.99.1.1");
    let text = format!("{:?}", r.steps);
    assert!(text.contains("suppress_prefixlength 0") || text.contains("suppressed"), "{text}");
}
