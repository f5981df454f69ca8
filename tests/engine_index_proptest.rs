//! The indexed chain walk (runs of `-d x/32` and `--dport N` rules dispatched on the packet's
//! destination and port, `engine/mod.rs` `KeyRun`) gives exactly the results of the plain
//! rule-by-rule walk (`RunOptions::plain_walk`), which follows the kernel's `ipt_do_table`.
//!
//! - Random chains written as `iptables-save` text and read by the real parser: `/32` and wider
//!   destinations, `! -d`, sources, `-p` with and without `-m tcp/udp`, single, negated and
//!   ranged ports, multiport, `-f`/`! -f`, interfaces; before and after the port, matches that
//!   are pure (comment, mark, addrtype, state), random (`statistic`), have side effects
//!   (`recent --set`, read later by `--rcheck`, `limit`'s assumption) or are indeterminate
//!   (`quota`, `socket`, `mac` without a source address); every target (verdicts, REJECT,
//!   RETURN, MARK, LOG, none, jumps and gotos into a chain that has its own random rules).
//!   Random packets (TCP, UDP, ICMP; fragments at offset 0, 1 and 5; flags, marks, input
//!   devices) walk the FORWARD table alone (`World::walk_table`: every statistic branch, the
//!   verdict, the mark after, every step and note), and random flows cross the node whole
//!   (`World::run_flow`: the whole `FlowResult`).
//! - Generated kube-proxy nodes (ClusterIP, NodePort, LoadBalancer with source ranges,
//!   external IPs, no endpoints, eTP=Local, affinity) in a router's tables, flows to every
//!   address and port of interest.
//!
//! Both walks run at `TraceLevel::Full` and `Summary`. `index_is_used_*` show the compared
//! chains are in fact indexed, so equality is not the plain walk compared with itself.

use proptest::prelude::*;
use sim_core::engine::build::WorldB;
use sim_core::engine::chain::WalkInput;
use sim_core::engine::hooks::Hook;
use sim_core::engine::{FlowSpec, RunOptions, TraceLevel, World};
use sim_core::gen::kube_proxy::{self, Endpoint, Protocol, ServiceSpec, TrafficPolicy};
use sim_core::model::packet::Packet;
use sim_core::model::ruleset::TableName;
use std::net::Ipv4Addr;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("ip")
}

/// client 10.0.1.2 -- router -- server 10.0.2.2 (which also owns the pool addresses).
fn routed(pool: &[String]) -> WorldB {
    let mut w = WorldB::new();
    w.veth("client", "eth0", Some("10.0.1.2/24"), "router", "c0", Some("10.0.1.1/24"));
    w.veth("router", "s0", Some("10.0.2.1/24"), "server", "eth0", Some("10.0.2.2/24"));
    w.ns("client").route("default", Some("10.0.1.1"), None);
    w.ns("server").route("default", Some("10.0.2.1"), None);
    for port in [80, 81, 82, 53, 30000, 30001, 8080] {
        w.ns("server").listen(6, port).listen(17, port);
    }
    w.ns("router").sysctl("net.ipv4.ip_forward", "1");
    for p in pool {
        w.ns("server").addr("lo", &format!("{p}/32"));
        w.ns("router").route(&format!("{p}/32"), Some("10.0.2.2"), None);
    }
    w
}

/// The world with the router's rules replaced by `rules` (iptables-save text).
fn with_rules(b: &WorldB, rules: &str) -> World {
    let parsed = sim_core::parse::iptables_save::parse("gen.rules", rules);
    // `-m multiport` without `-p tcp/udp` is kept as an unreadable rule on purpose: the walk
    // must stop there as indeterminate, indexed or not.
    let errors: Vec<_> =
        parsed.diagnostics.iter().filter(|d| d.severity == sim_core::diag::Severity::Error && !d.message.contains("kept as unreadable")).collect();
    assert!(errors.is_empty(), "{errors:?}\n{rules}");
    let mut nss: Vec<sim_core::model::Namespace> = b.nss.iter().map(|n| n.build()).collect();
    for ns in nss.iter_mut().filter(|n| n.name == "router") {
        ns.ruleset = parsed.value.clone();
    }
    World::new(nss, &b.links).expect("world")
}

const POOL: [&str; 6] = ["10.0.2.10", "10.0.2.11", "10.0.2.12", "10.0.2.13", "10.0.2.14", "10.0.2.15"];
const PORTS: [u16; 5] = [80, 81, 82, 53, 30000];

/// One random rule, as the parts of its iptables-save line.
#[derive(Clone, Debug)]
struct GenRule {
    /// 0 none, 1 `-s net`, 2 `! -s net`.
    src: u8,
    /// 0 none, 1..=6 `-d pool/32`, 7 `-d net/24`, 8 `! -d pool[0]/32`.
    dst: u8,
    /// 0 none, 1 tcp, 2 udp, 3 icmp.
    proto: u8,
    /// 0 none, 1 `-f`, 2 `! -f`, 3 `-i c0`, 4 `! -i s0`.
    base: u8,
    pre: Vec<u8>,
    /// 0 none, 1 `--dport N`, 2 `! --dport N`, 3 `--dport 80:82`, 4 multiport; N from PORTS.
    port: (u8, usize),
    post: Vec<u8>,
    target: u8,
}

/// A match by number; `proto` restricts the protocol-specific ones.
fn match_text(m: u8, proto: u8) -> Option<String> {
    Some(match m {
        0 => "-m comment --comment \"ns/svc:p\"".into(),
        1 => "-m mark --mark 0x1/0x1".into(),
        2 => "-m mark ! --mark 0x2/0x2".into(),
        3 => "-m addrtype --dst-type LOCAL".into(),
        4 => "-m addrtype ! --dst-type LOCAL".into(),
        5 => "-m statistic --mode random --probability 0.50000000000".into(),
        6 => "-m state --state INVALID".into(),
        7 => "-m conntrack --ctstate NEW".into(),
        8 => "-m recent --set --name L --mask 255.255.255.255 --rsource".into(),
        9 => "-m recent --rcheck --name L --mask 255.255.255.255 --rsource".into(),
        10 => "-m limit --limit 10/min --limit-burst 5".into(),
        11 => "-m quota --quota 100".into(),
        12 => "-m socket".into(),
        13 => "-m mac --mac-source 02:00:00:00:00:01".into(),
        14 if proto == 1 => "-m tcp --tcp-flags SYN,ACK SYN".into(),
        15 if proto == 1 => "-m tcp --sport 1024:65535".into(),
        16 if proto == 3 => "-m icmp --icmp-type 8".into(),
        // Unreadable (kept, indeterminate) when the rule has no `-p tcp/udp`.
        17 => "-m multiport --dports 80,81".into(),
        _ => return None,
    })
}

fn rule_text(chain: &str, g: &GenRule, sub_targets: bool) -> String {
    let mut w: Vec<String> = vec![format!("-A {chain}")];
    match g.src {
        1 => w.push("-s 10.0.1.0/24".into()),
        2 => w.push("! -s 10.0.1.0/24".into()),
        _ => {}
    }
    match g.dst {
        d @ 1..=6 => w.push(format!("-d {}/32", POOL[d as usize - 1])),
        7 => w.push("-d 10.0.2.0/24".into()),
        8 => w.push(format!("! -d {}/32", POOL[0])),
        _ => {}
    }
    match g.base {
        3 => w.push("-i c0".into()),
        4 => w.push("! -i s0".into()),
        _ => {}
    }
    match g.proto {
        1 => w.push("-p tcp".into()),
        2 => w.push("-p udp".into()),
        3 => w.push("-p icmp".into()),
        _ => {}
    }
    match g.base {
        1 => w.push("-f".into()),
        2 => w.push("! -f".into()),
        _ => {}
    }
    w.extend(g.pre.iter().filter_map(|&m| match_text(m, g.proto)));
    let name = if g.proto == 2 { "udp" } else { "tcp" };
    let n = PORTS[g.port.1 % PORTS.len()];
    if g.proto == 1 || g.proto == 2 {
        match g.port.0 {
            1 => w.push(format!("-m {name} --dport {n}")),
            2 => w.push(format!("-m {name} ! --dport {n}")),
            3 => w.push(format!("-m {name} --dport 80:82")),
            4 => w.push("-m multiport --dports 80,81".into()),
            _ => {}
        }
    }
    w.extend(g.post.iter().filter_map(|&m| match_text(m, g.proto)));
    let t = match g.target {
        0 => "-j DROP",
        1 => "-j REJECT --reject-with icmp-port-unreachable",
        2 => "-j RETURN",
        3 => "-j MARK --set-xmark 0x2/0x2",
        4 => "-j ACCEPT",
        5 => "-j LOG",
        6 => "",
        7 if sub_targets => "-j MARKER",
        8 if sub_targets => "-j SUB",
        9 if sub_targets => "-g SUB",
        _ => "-j ACCEPT",
    };
    if !t.is_empty() {
        w.push(t.into());
    }
    w.join(" ")
}

fn gen_rule() -> impl Strategy<Value = GenRule> {
    // Mostly kube-proxy's two keyed shapes (`-d x/32`, `-p tcp -m tcp --dport N`), so runs long
    // enough to be indexed form often, with everything else mixed in.
    let dst = prop_oneof![3 => Just(0u8), 8 => 1..=6u8, 1 => Just(7u8), 1 => Just(8u8)];
    let proto = prop_oneof![2 => Just(0u8), 5 => Just(1u8), 3 => Just(2u8), 1 => Just(3u8)];
    let base = prop_oneof![8 => Just(0u8), 1 => 1..=4u8];
    let port = (prop_oneof![2 => Just(0u8), 6 => Just(1u8), 1 => 2..=4u8], 0..5usize);
    let m = prop_oneof![6 => 0..=4u8, 1 => 5..=17u8];
    let ms = prop::collection::vec(m, 0..3);
    (prop_oneof![6 => Just(0u8), 1 => 1..=2u8], dst, proto, base, ms.clone(), port, ms, 0..10u8)
        .prop_map(|(src, dst, proto, base, pre, port, post, target)| GenRule { src, dst, proto, base, pre, port, post, target })
}

/// A filter table: FORWARD jumps to SVC (the random chain), which may jump or go to SUB (random
/// too) and MARKER; what the marks and the recent list say is looked at after SVC returns.
fn ruleset_text(svc: &[GenRule], sub: &[GenRule]) -> String {
    let mut t = String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:MARKER - [0:0]\n:SUB - [0:0]\n:SVC - [0:0]\n");
    t.push_str("-A FORWARD -j SVC\n");
    t.push_str("-A FORWARD -m mark --mark 0x1/0x1 -j DROP\n");
    t.push_str("-A FORWARD -m recent --rcheck --name L --mask 255.255.255.255 --rsource -j REJECT --reject-with icmp-host-prohibited\n");
    t.push_str("-A FORWARD -m mark --mark 0x2/0x2 -j ACCEPT\n");
    t.push_str("-A FORWARD -p tcp -j ACCEPT\n");
    t.push_str("-A MARKER -j MARK --set-xmark 0x1/0x1\n");
    for g in sub {
        t.push_str(&rule_text("SUB", g, false));
        t.push('\n');
    }
    for g in svc {
        t.push_str(&rule_text("SVC", g, true));
        t.push('\n');
    }
    t.push_str("-A SVC -p udp -j ACCEPT\nCOMMIT\n");
    t
}

#[derive(Clone, Debug)]
struct GenPacket {
    src: u8,
    dst: u8,
    proto: u8,
    sport: u16,
    dport: usize,
    flags: u8,
    frag: u8,
    mark: u32,
    iif: bool,
    mac: bool,
}

fn gen_packet() -> impl Strategy<Value = GenPacket> {
    (
        0..2u8,
        0..9u8,
        prop_oneof![5 => Just(6u8), 3 => Just(17u8), 1 => Just(1u8)],
        prop_oneof![Just(1024u16), Just(40000)],
        0..5usize,
        0..3u8,
        prop_oneof![6 => Just(0u8), 1 => 1..3u8],
        0..4u32,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(src, dst, proto, sport, dport, flags, frag, mark, iif, mac)| GenPacket { src, dst, proto, sport, dport, flags, frag, mark, iif, mac })
}

fn packet(g: &GenPacket) -> Packet {
    let dst = match g.dst {
        d @ 0..=5 => ip(POOL[d as usize]),
        6 => ip("10.0.2.2"),
        7 => ip("10.0.3.1"),
        _ => ip("10.0.1.1"),
    };
    Packet {
        src: if g.src == 0 { ip("10.0.1.2") } else { ip("10.0.9.9") },
        dst,
        proto: g.proto,
        sport: g.sport,
        dport: if g.proto == 1 { 0 } else { PORTS[g.dport] },
        icmp_type: if g.proto == 1 { 8 } else { 0 },
        icmp_code: 0,
        tcp_flags: [0x02u8, 0x10, 0x12][g.flags as usize],
        ttl: 64,
        tos: 0,
        len: 60,
        frag_off: [0u16, 1, 5][g.frag as usize],
        eth_src: g.mac.then_some(sim_core::model::types::Mac([2, 0, 0, 0, 0, 1])),
        eth_dst: None,
    }
}

fn pool_strings() -> Vec<String> {
    POOL.iter().map(|s| s.to_string()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    /// One table walk, random packets: every branch's verdict, mark, steps and notes.
    #[test]
    fn indexed_table_walk_equals_plain_walk(
        svc in prop::collection::vec(gen_rule(), 8..48),
        sub in prop::collection::vec(gen_rule(), 0..16),
        pkts in prop::collection::vec(gen_packet(), 1..12),
    ) {
        let text = ruleset_text(&svc, &sub);
        let w = with_rules(&routed(&pool_strings()), &text);
        for g in &pkts {
            let input = WalkInput {
                ns: "router",
                table: TableName::Filter,
                hook: Hook::Forward,
                pkt: packet(g),
                mark: g.mark,
                in_dev: Some(if g.iif { "c0" } else { "s0" }),
                out_dev: Some(if g.iif { "s0" } else { "c0" }),
            };
            for trace in [TraceLevel::Full, TraceLevel::Summary] {
                let plain = w.walk_table(&input, &RunOptions { plain_walk: true, trace, ..RunOptions::default() });
                let indexed = w.walk_table(&input, &RunOptions { trace, ..RunOptions::default() });
                prop_assert_eq!(&plain, &indexed, "{:?}\n{}", g, text);
            }
        }
    }
}

fn same_results(w: &World, dsts: &[Ipv4Addr], ports: &[u16], protos: &[u8]) -> Result<(), TestCaseError> {
    for trace in [TraceLevel::Summary, TraceLevel::Full] {
        for &d in dsts {
            for &port in ports {
                for &proto in protos {
                    let spec = FlowSpec::client("t", "client", d, port, proto);
                    let plain = w.run_flow(&spec, &RunOptions { plain_walk: true, trace, ..RunOptions::default() });
                    let indexed = w.run_flow(&spec, &RunOptions { trace, ..RunOptions::default() });
                    prop_assert_eq!(&plain, &indexed, "{}:{} proto {}", d, port, proto);
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whole flows through the router: the whole `FlowResult`, both trace levels.
    #[test]
    fn indexed_flows_equal_plain_flows_on_random_chains(
        svc in prop::collection::vec(gen_rule(), 8..40),
        sub in prop::collection::vec(gen_rule(), 0..8),
    ) {
        let text = ruleset_text(&svc, &sub);
        let w = with_rules(&routed(&pool_strings()), &text);
        let dsts: Vec<Ipv4Addr> = POOL.iter().map(|p| ip(p)).chain([ip("10.0.2.2")]).collect();
        same_results(&w, &dsts, &[80, 81, 53], &[6, 17])?;
    }
}

/// The general chains above are indexed: a fixed chain of the generator's keyed shapes.
#[test]
fn index_is_used_on_generated_chains() {
    let keyed = |dst: u8, proto: u8, port: u8| GenRule { src: 0, dst, proto, base: 0, pre: vec![0], port: (port, 0), post: vec![5, 8], target: 0 };
    let svc: Vec<GenRule> = (0..12).map(|i| if i % 2 == 0 { keyed(1 + (i % 6) as u8, 1, 0) } else { keyed(0, 1, 1) }).collect();
    let w = with_rules(&routed(&pool_strings()), &ruleset_text(&svc, &[]));
    assert_eq!(w.indexed_rules("router", TableName::Filter, "SVC"), Some(12));
}

/// A kube-proxy node of `n` random service ports whose VIPs, external and LB addresses are
/// routed to the server (which owns them all, so any endpoint choice is reachable).
fn kube_world(seed: u64, n: usize) -> (World, Vec<Ipv4Addr>, Vec<u16>) {
    let mut rng = seed;
    let mut next = |k: u64| {
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (rng >> 33) % k
    };
    let mut services = Vec::new();
    let mut addrs = Vec::new();
    let mut ports = vec![80u16, 53];
    for i in 0..n {
        let vip = Ipv4Addr::new(10, 96, 0, 10 + i as u8);
        let proto = if next(4) == 0 { Protocol::Udp } else { Protocol::Tcp };
        let port = [80u16, 53, 81][next(3) as usize];
        let mut s = ServiceSpec::cluster_ip("ns", &format!("svc{i}"), "p", proto, vip, port);
        addrs.push(vip);
        match next(4) {
            0 => {
                s.node_port = Some(30000 + (i % 2) as u16);
            }
            1 => {
                s.node_port = Some(30000 + (i % 2) as u16);
                let lb = Ipv4Addr::new(203, 0, 113, 10 + i as u8);
                s.load_balancer_ips.push(lb);
                addrs.push(lb);
                if next(2) == 0 {
                    s.load_balancer_source_ranges.push("10.0.1.0/24".parse().expect("net"));
                }
                if next(2) == 0 {
                    s.external_traffic_policy = TrafficPolicy::Local;
                }
            }
            2 => {
                let e = Ipv4Addr::new(198, 51, 100, 10 + i as u8);
                s.external_ips.push(e);
                addrs.push(e);
            }
            _ => {}
        }
        if next(3) == 0 {
            s.session_affinity_seconds = Some(10800);
        }
        let eps = next(4) as usize;
        for k in 0..eps {
            s.endpoints.push(Endpoint { ip: Ipv4Addr::new(10, 0, 2, 20 + (i * 4 + k) as u8), port: 8080, local: false });
        }
        services.push(s);
    }
    for p in [30000u16, 30001] {
        ports.push(p);
    }
    ports.push(81);
    let cfg = kube_proxy::KubeProxyConfig {
        node_ip: ip("10.0.1.1"),
        cluster_cidr: "10.0.0.0/16".parse().expect("net"),
        node_pod_cidr: "10.0.9.0/24".parse().expect("net"),
        services,
        header: None,
        ..kube_proxy::KubeProxyConfig::default()
    };
    let text = kube_proxy::render(&cfg);
    let parsed = sim_core::parse::iptables_save::parse("kube.rules", &text);
    assert!(parsed.diagnostics.iter().all(|d| d.severity != sim_core::diag::Severity::Error), "{:?}", parsed.diagnostics);
    let pool: Vec<String> = addrs.iter().map(|a| a.to_string()).chain((20..60).map(|h| format!("10.0.2.{h}"))).collect();
    let mut b = routed(&pool);
    b.ns("server").listen(6, 8080).listen(17, 8080);
    let mut nss: Vec<sim_core::model::Namespace> = b.nss.iter().map(|n| n.build()).collect();
    for ns in nss.iter_mut().filter(|n| n.name == "router") {
        ns.ruleset = parsed.value.clone();
    }
    addrs.push(ip("10.0.1.1"));
    addrs.push(ip("10.0.2.2"));
    (World::new(nss, &b.links).expect("world"), addrs, ports)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn indexed_walk_equals_plain_walk_on_kube_proxy_nodes(seed in any::<u64>(), n in 10usize..28) {
        let (w, dsts, ports) = kube_world(seed, n);
        same_results(&w, &dsts, &ports, &[6, 17])?;
    }
}

/// The kube-proxy chains the property above compares are indexed: KUBE-SERVICES on
/// destinations, KUBE-NODEPORTS on ports (nat), KUBE-EXTERNAL-SERVICES on both (filter).
#[test]
fn index_is_used_on_kube_proxy_nodes() {
    let (w, _, _) = kube_world(7, 27);
    let svc = w.indexed_rules("router", TableName::Nat, "KUBE-SERVICES").expect("KUBE-SERVICES");
    assert!(svc >= 27, "KUBE-SERVICES: {svc} rules indexed");
    let np = w.indexed_rules("router", TableName::Nat, "KUBE-NODEPORTS").expect("KUBE-NODEPORTS");
    assert!(np >= 8, "KUBE-NODEPORTS: {np} rules indexed");
    let spec = FlowSpec::client("t", "client", ip("10.96.0.10"), 80, 6);
    assert_eq!(w.run_flow(&spec, &RunOptions { plain_walk: true, ..RunOptions::default() }), w.run_flow(&spec, &RunOptions::default()));
}
