//! Engine scenarios on hand-built worlds. Each expected answer here was checked against the
//! kernel (see `tests/kernel_engine.rs`, which runs the same builders in real namespaces) or
//! follows from a kernel function named in the test.

use crate::engine::build::{WorldB, R};
use crate::engine::{FlowFrom, FlowSpec, RunOptions, World};
use crate::model::packet::{IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use crate::model::route::RouteType;
use crate::model::ruleset::{Policy, RejectWith};
use crate::trace::{ClientResult, DropReason, FlowResult, StepKind};
use std::net::Ipv4Addr;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("address")
}

/// client (10.0.0.1) <-veth-> server (10.0.0.2), server listens on tcp/80 and udp/53.
fn pair() -> WorldB {
    let mut w = WorldB::new();
    w.veth("client", "eth0", Some("10.0.0.1/24"), "server", "eth0", Some("10.0.0.2/24"));
    w.ns("server").listen(IPPROTO_TCP, 80).listen(IPPROTO_UDP, 53);
    w.ns("client").listen(IPPROTO_TCP, 22);
    w
}

/// client 10.0.1.2 -- router (10.0.1.1 | 10.0.2.1) -- server 10.0.2.2.
fn routed() -> WorldB {
    let mut w = WorldB::new();
    w.veth("client", "eth0", Some("10.0.1.2/24"), "router", "c0", Some("10.0.1.1/24"));
    w.veth("router", "s0", Some("10.0.2.1/24"), "server", "eth0", Some("10.0.2.2/24"));
    w.ns("client").route("default", Some("10.0.1.1"), None);
    w.ns("server").route("default", Some("10.0.2.1"), None).listen(IPPROTO_TCP, 80).listen(IPPROTO_UDP, 53).listen(IPPROTO_TCP, 8080);
    w.ns("router").sysctl("net.ipv4.ip_forward", "1");
    w
}

fn run(w: &World, from: &str, dst: &str, port: u16, proto: u8) -> FlowResult {
    w.run_flow(&FlowSpec::client("t", from, ip(dst), port, proto), &RunOptions::default())
}

fn only(r: &FlowResult) -> &crate::trace::Outcome {
    assert_eq!(r.outcomes.len(), 1, "{:#?}", r.outcomes.iter().map(|o| (&o.result, o.probability, &o.summary)).collect::<Vec<_>>());
    &r.outcomes[0]
}

fn result(w: &World, from: &str, dst: &str, port: u16, proto: u8) -> ClientResult {
    only(&run(w, from, dst, port, proto)).result.clone()
}

#[test]
fn direct_tcp_and_udp_connect() {
    let w = pair().build().expect("world");
    let r = run(&w, "client", "10.0.0.2", 80, IPPROTO_TCP);
    let o = only(&r);
    assert_eq!(o.result, ClientResult::Connected, "{}", o.summary);
    assert_eq!(o.at.as_deref(), Some("server"));
    let seen = o.seen.as_ref().expect("seen");
    assert_eq!(seen.src, "10.0.0.1:32768");
    assert_eq!(seen.dst, "10.0.0.2:80");
    assert_eq!(result(&w, "client", "10.0.0.2", 53, IPPROTO_UDP), ClientResult::Connected);
    assert_eq!(result(&w, "client", "10.0.0.2", 0, IPPROTO_ICMP), ClientResult::Connected);
}

#[test]
fn no_listener_refuses_tcp_and_udp() {
    let w = pair().build().expect("world");
    let r = run(&w, "client", "10.0.0.2", 81, IPPROTO_TCP);
    let o = only(&r);
    assert_eq!(o.result, ClientResult::Refused);
    assert_eq!(o.reason, Some(DropReason::NoListener));
    assert_eq!(result(&w, "client", "10.0.0.2", 54, IPPROTO_UDP), ClientResult::Refused);
    // Unknown sockets: every port is assumed to listen, and the summary says so.
    let mut b = pair();
    b.ns("server").ns.sockets = None;
    let w = b.build().expect("world");
    let r = run(&w, "client", "10.0.0.2", 81, IPPROTO_TCP);
    assert_eq!(only(&r).result, ClientResult::Connected);
    assert!(only(&r).summary.contains("assumed to listen"), "{}", only(&r).summary);
}

#[test]
fn input_drop_reject_variants() {
    let cases: Vec<(R, ClientResult, ClientResult)> = vec![
        (R::new().j("DROP"), ClientResult::Timeout, ClientResult::Timeout),
        (R::new().reject(RejectWith::IcmpPortUnreachable), ClientResult::Refused, ClientResult::Refused),
        (R::new().reject(RejectWith::IcmpHostUnreachable), ClientResult::Error("EHOSTUNREACH".into()), ClientResult::Timeout),
        (R::new().reject(RejectWith::IcmpNetUnreachable), ClientResult::Error("ENETUNREACH".into()), ClientResult::Timeout),
        (R::new().reject(RejectWith::IcmpAdminProhibited), ClientResult::Error("EHOSTUNREACH".into()), ClientResult::Error("EHOSTUNREACH".into())),
        (R::new().reject(RejectWith::IcmpHostProhibited), ClientResult::Error("EHOSTUNREACH".into()), ClientResult::Error("EHOSTUNREACH".into())),
        (R::new().reject(RejectWith::IcmpProtoUnreachable), ClientResult::Error("ENOPROTOOPT".into()), ClientResult::Error("ENOPROTOOPT".into())),
    ];
    for (rule, tcp, udp) in cases {
        let mut b = pair();
        b.ns("server").ipt("filter", "INPUT", rule.clone());
        let w = b.build().expect("world");
        assert_eq!(result(&w, "client", "10.0.0.2", 80, IPPROTO_TCP), tcp, "{rule:?}");
        assert_eq!(result(&w, "client", "10.0.0.2", 53, IPPROTO_UDP), udp, "{rule:?}");
    }
    let mut b = pair();
    b.ns("server").ipt("filter", "INPUT", R::new().p("tcp").reject(RejectWith::TcpReset));
    let w = b.build().expect("world");
    assert_eq!(result(&w, "client", "10.0.0.2", 80, IPPROTO_TCP), ClientResult::Refused);
    let mut b = pair();
    b.ns("server").policy("filter", "INPUT", Policy::Drop);
    let w = b.build().expect("world");
    let r = run(&w, "client", "10.0.0.2", 80, IPPROTO_TCP);
    assert_eq!(only(&r).result, ClientResult::Timeout);
    assert_eq!(only(&r).reason, Some(DropReason::Policy));
}

#[test]
fn client_output_drop_and_reject() {
    // Checked against the kernel: tcp DROP -> timeout, udp DROP -> EPERM from send().
    let mut b = pair();
    b.ns("client").ipt("filter", "OUTPUT", R::new().d("10.0.0.2").j("DROP"));
    let w = b.build().expect("world");
    assert_eq!(result(&w, "client", "10.0.0.2", 80, IPPROTO_TCP), ClientResult::Timeout);
    assert_eq!(result(&w, "client", "10.0.0.2", 53, IPPROTO_UDP), ClientResult::Error("EPERM".into()));
    let mut b = pair();
    b.ns("client").ipt("filter", "OUTPUT", R::new().d("10.0.0.2").reject(RejectWith::IcmpHostUnreachable));
    let w = b.build().expect("world");
    assert_eq!(result(&w, "client", "10.0.0.2", 80, IPPROTO_TCP), ClientResult::Error("EHOSTUNREACH".into()));
    assert_eq!(result(&w, "client", "10.0.0.2", 53, IPPROTO_UDP), ClientResult::Error("EPERM".into()));
    let mut b = pair();
    b.ns("client").ipt("filter", "OUTPUT", R::new().d("10.0.0.2").reject(RejectWith::IcmpPortUnreachable));
    let w = b.build().expect("world");
    assert_eq!(result(&w, "client", "10.0.0.2", 80, IPPROTO_TCP), ClientResult::Refused);
}

#[test]
fn route_types_give_the_socket_errors() {
    let mut b = pair();
    b.ns("client")
        .route_type(RouteType::Blackhole, "10.7.0.0/24")
        .route_type(RouteType::Unreachable, "10.6.0.0/24")
        .route_type(RouteType::Prohibit, "10.5.0.0/24");
    let w = b.build().expect("world");
    for proto in [IPPROTO_TCP, IPPROTO_UDP] {
        assert_eq!(result(&w, "client", "10.7.0.1", 80, proto), ClientResult::Error("EINVAL".into()));
        assert_eq!(result(&w, "client", "10.6.0.1", 80, proto), ClientResult::Error("EHOSTUNREACH".into()));
        assert_eq!(result(&w, "client", "10.5.0.1", 80, proto), ClientResult::Error("EACCES".into()));
        assert_eq!(result(&w, "client", "10.8.0.1", 80, proto), ClientResult::Error("ENETUNREACH".into()));
    }
}

#[test]
fn user_chains_return_and_goto() {
    let mut b = pair();
    {
        let s = b.ns("server");
        s.ipt("filter", "INPUT", R::new().p("tcp").j("CHK"));
        s.ipt("filter", "INPUT", R::new().p("tcp").dport(80).j("DROP"));
        s.ipt("filter", "CHK", R::new().p("tcp").dport(80).j("RETURN"));
        s.ipt("filter", "CHK", R::new().j("ACCEPT"));
    }
    let w = b.build().expect("world");
    // RETURN from CHK resumes INPUT, whose next rule drops port 80.
    assert_eq!(result(&w, "client", "10.0.0.2", 80, IPPROTO_TCP), ClientResult::Timeout);
    let mut b = pair();
    {
        let s = b.ns("server");
        s.ipt("filter", "INPUT", R::new().p("tcp").j("A"));
        s.ipt("filter", "INPUT", R::new().j("DROP"));
        s.ipt("filter", "A", R::new().goto("B"));
        s.ipt("filter", "A", R::new().j("ACCEPT"));
        s.ipt("filter", "B", R::new().j("RETURN"));
    }
    let w = b.build().expect("world");
    // -g B does not push: B's RETURN goes back to INPUT after the jump to A, which drops.
    let r = run(&w, "client", "10.0.0.2", 80, IPPROTO_TCP);
    assert_eq!(only(&r).result, ClientResult::Timeout);
    let texts: Vec<String> =
        only(&r).steps.iter().filter_map(|s| if let StepKind::Netfilter { verdict, .. } = &s.kind { Some(verdict.clone()) } else { None }).collect();
    assert!(texts.contains(&"goto B".to_string()), "{texts:?}");
}

#[test]
fn forwarding_off_and_on() {
    let mut b = routed();
    b.ns("router").sysctl("net.ipv4.ip_forward", "0");
    let w = b.build().expect("world");
    let r = run(&w, "client", "10.0.2.2", 80, IPPROTO_TCP);
    assert_eq!(only(&r).result, ClientResult::Timeout);
    assert_eq!(only(&r).reason, Some(DropReason::ForwardingDisabled));
    let w = routed().build().expect("world");
    let r = run(&w, "client", "10.0.2.2", 80, IPPROTO_TCP);
    assert_eq!(only(&r).result, ClientResult::Connected);
    assert_eq!(only(&r).seen.as_ref().map(|s| s.src.as_str()), Some("10.0.1.2:32768"));
}

#[test]
fn dnat_and_masquerade_on_a_router() {
    let mut b = routed();
    b.ns("router").ipt("nat", "PREROUTING", R::new().p("tcp").d("10.0.1.1").dport(80).dnat("10.0.2.2:8080"));
    b.ns("router").ipt("nat", "POSTROUTING", R::new().o("s0").masquerade(false));
    let w = b.build().expect("world");
    let r = run(&w, "client", "10.0.1.1", 80, IPPROTO_TCP);
    let o = only(&r);
    assert_eq!(o.result, ClientResult::Connected, "{}", o.summary);
    assert_eq!(o.at.as_deref(), Some("server"));
    let seen = o.seen.as_ref().expect("seen");
    assert_eq!(seen.dst, "10.0.2.2:8080");
    assert_eq!(seen.src, "10.0.2.1:32768");
}

#[test]
fn snat_on_forward_and_output_dnat_on_the_router() {
    let mut b = routed();
    b.ns("router").ipt("nat", "POSTROUTING", R::new().s("10.0.1.0/24").snat("10.0.2.1"));
    let w = b.build().expect("world");
    let o = run(&w, "client", "10.0.2.2", 80, IPPROTO_TCP);
    assert_eq!(only(&o).seen.as_ref().map(|s| s.src.clone()), Some("10.0.2.1:32768".into()));
    // Locally generated traffic to a "ClusterIP" that only exists in nat OUTPUT.
    let mut b = routed();
    b.ns("router").ipt("nat", "OUTPUT", R::new().p("tcp").d("10.96.0.10").dport(80).dnat("10.0.2.2:8080"));
    let w = b.build().expect("world");
    // No route to 10.96.0.10: the socket's own lookup fails before nat OUTPUT runs.
    assert_eq!(result(&w, "router", "10.96.0.10", 80, IPPROTO_TCP), ClientResult::Error("ENETUNREACH".into()));
    let mut b2 = b.clone();
    b2.ns("router").route("10.96.0.0/12", None, Some("c0"));
    let w = b2.build().expect("world");
    let r = run(&w, "router", "10.96.0.10", 80, IPPROTO_TCP);
    let o = only(&r);
    assert_eq!(o.result, ClientResult::Connected, "{}", o.summary);
    // The source was chosen for c0 before DNAT and is kept after the reroute to s0.
    assert_eq!(o.seen.as_ref().map(|s| s.src.clone()), Some("10.0.1.1:32768".into()));
}

#[test]
fn statistic_branches_enumerate_and_seed_follows_one() {
    let mut b = routed();
    b.ns("server").listen(IPPROTO_TCP, 8081);
    {
        let r = b.ns("router");
        r.ipt("nat", "PREROUTING", R::new().p("tcp").d("10.0.1.1").dport(80).j("SVC"));
        r.ipt("nat", "SVC", R::new().probability(0.5).j("SEP1"));
        r.ipt("nat", "SVC", R::new().j("SEP2"));
        r.ipt("nat", "SEP1", R::new().p("tcp").dnat("10.0.2.2:8080"));
        r.ipt("nat", "SEP2", R::new().p("tcp").dnat("10.0.2.2:8081"));
    }
    let w = b.build().expect("world");
    let r = run(&w, "client", "10.0.1.1", 80, IPPROTO_TCP);
    assert_eq!(r.outcomes.len(), 2);
    let total: f64 = r.outcomes.iter().map(|o| o.probability).sum();
    assert!((total - 1.0).abs() < 1e-9);
    let dsts: Vec<String> = r.outcomes.iter().map(|o| o.seen.as_ref().expect("seen").dst.clone()).collect();
    assert!(dsts.contains(&"10.0.2.2:8080".to_string()) && dsts.contains(&"10.0.2.2:8081".to_string()));
    for o in &r.outcomes {
        assert!((o.probability - 0.5).abs() < 1e-6);
    }
    let seeded = w.run_flow(&FlowSpec::client("t", "client", ip("10.0.1.1"), 80, IPPROTO_TCP), &RunOptions { seed: Some(7), ..Default::default() });
    assert_eq!(seeded.outcomes.len(), 1);
    // Same destination backend for both (merging): only the seen dst differs, so 2 outcomes.
}

#[test]
fn ctstate_invalid_and_established() {
    // A SYN/ACK injected with no conntrack entry is INVALID.
    let mut b = pair();
    b.ns("server").ipt("filter", "INPUT", R::new().ctstate(&["INVALID"]).j("DROP"));
    let w = b.build().expect("world");
    // A plain SYN is NEW: not dropped.
    assert_eq!(result(&w, "client", "10.0.0.2", 80, IPPROTO_TCP), ClientResult::Connected);
    // Replies are ESTABLISHED: a client that accepts only ESTABLISHED input still connects.
    let mut b = pair();
    b.ns("client").ipt("filter", "INPUT", R::new().ctstate(&["ESTABLISHED", "RELATED"]).j("ACCEPT"));
    b.ns("client").policy("filter", "INPUT", Policy::Drop);
    let w = b.build().expect("world");
    assert_eq!(result(&w, "client", "10.0.0.2", 80, IPPROTO_TCP), ClientResult::Connected);
    // ...and gets the RELATED port-unreachable for UDP to a closed port.
    assert_eq!(result(&w, "client", "10.0.0.2", 54, IPPROTO_UDP), ClientResult::Refused);
    // With NEW only, the SYN/ACK is dropped.
    let mut b = pair();
    b.ns("client").ipt("filter", "INPUT", R::new().ctstate(&["NEW"]).j("ACCEPT"));
    b.ns("client").policy("filter", "INPUT", Policy::Drop);
    let w = b.build().expect("world");
    assert_eq!(result(&w, "client", "10.0.0.2", 80, IPPROTO_TCP), ClientResult::Timeout);
}

#[test]
fn marks_steer_policy_routing() {
    // client has two paths to 10.0.9.9: main via router c0 (router drops), table 100 via eth1.
    let mut b = routed();
    b.veth("client", "eth1", Some("10.0.3.2/24"), "server", "eth1", Some("10.0.3.1/24"));
    b.ns("server").addr("lo", "10.0.9.9/32");
    b.ns("client").route_in(100, "10.0.9.9/32", Some("10.0.3.1"), Some("eth1")).rule_fwmark(100, 0x10, 0x10, 100);
    b.ns("router").ipt("filter", "FORWARD", R::new().d("10.0.9.9").j("DROP"));
    b.ns("router").route("10.0.9.9/32", Some("10.0.2.2"), None);
    let w = b.build().expect("world");
    assert_eq!(result(&w, "client", "10.0.9.9", 80, IPPROTO_TCP), ClientResult::Timeout);
    let mut b2 = b.clone();
    b2.ns("client").ipt("mangle", "OUTPUT", R::new().d("10.0.9.9").or_mark(0x10));
    let w = b2.build().expect("world");
    let r = run(&w, "client", "10.0.9.9", 80, IPPROTO_TCP);
    let o = only(&r);
    assert_eq!(o.result, ClientResult::Connected, "{}", o.summary);
    // The source chosen before the mark is kept by ip_route_me_harder.
    assert_eq!(o.seen.as_ref().map(|s| s.src.clone()), Some("10.0.1.2:32768".into()));
}

#[test]
fn rp_filter_strict_drops_asymmetric_source() {
    let mut b = routed();
    b.ns("router").sysctl("net.ipv4.conf.all.rp_filter", "1");
    let mut w = b.clone();
    let ok = w.build().expect("world");
    assert_eq!(result(&ok, "client", "10.0.2.2", 80, IPPROTO_TCP), ClientResult::Connected);
    // A packet from 192.0.2.7 arriving on c0, while the router routes 192.0.2.0/24 via s0.
    w.ns("router").route("192.0.2.0/24", Some("10.0.2.2"), None);
    let world = w.build().expect("world");
    let spec = FlowSpec {
        from: FlowFrom::Inject { ns: "router".into(), src: ip("192.0.2.7"), iif: "c0".into() },
        ..FlowSpec::client("t", "router", ip("10.0.2.2"), 80, IPPROTO_TCP)
    };
    let r = world.run_flow(&spec, &RunOptions::default());
    assert_eq!(only(&r).reason, Some(DropReason::RpFilter));
}

#[test]
fn imported_conntrack_entry_is_established() {
    use crate::model::conntrack::{CtEntry, CtTuple};
    let mut b = pair();
    b.ns("server").ipt("filter", "INPUT", R::new().ctstate(&["ESTABLISHED"]).j("ACCEPT"));
    b.ns("server").ipt("filter", "INPUT", R::new().j("DROP"));
    let t = CtTuple { src: ip("10.0.0.1"), dst: ip("10.0.0.2"), sport: 32768, dport: 80 };
    b.ns("server").ns.conntrack.push(CtEntry {
        proto: 6,
        timeout: Some(100),
        tcp_state: Some("ESTABLISHED".into()),
        orig: t,
        reply: CtTuple { src: t.dst, dst: t.src, sport: t.dport, dport: t.sport },
        unreplied: false,
        assured: true,
        mark: 0,
        zone: 0,
        line: 1,
    });
    let w = b.build().expect("world");
    // The flow's tuple matches the imported entry: ESTABLISHED, accepted.
    assert_eq!(result(&w, "client", "10.0.0.2", 80, IPPROTO_TCP), ClientResult::Connected);
    let spec = FlowSpec { sport: Some(40001), ..FlowSpec::client("t", "client", ip("10.0.0.2"), 80, IPPROTO_TCP) };
    assert_eq!(only(&w.run_flow(&spec, &RunOptions::default())).result, ClientResult::Timeout);
}

#[test]
fn unsupported_match_is_indeterminate_with_its_line() {
    let mut b = pair();
    b.ns("server").ipt("filter", "INPUT", R::new().m("-m socket", crate::model::ruleset::Match::Socket(Default::default())).j("DROP"));
    let w = b.build().expect("world");
    let r = run(&w, "client", "10.0.0.2", 80, IPPROTO_TCP);
    let o = only(&r);
    assert_eq!(o.result, ClientResult::Indeterminate);
    let why = o.indeterminate.as_deref().expect("why");
    assert!(why.contains("iptables-save.txt:") && why.contains("-m socket"), "{why}");
}

#[test]
fn ttl_and_veth_crossing_clear_mark() {
    let mut b = routed();
    // The mark set in the client's OUTPUT does not survive the veth into the router.
    b.ns("client").ipt("mangle", "OUTPUT", R::new().set_xmark(0x7, 0xffffffff));
    b.ns("router").ipt("filter", "FORWARD", R::new().mark(0x7, 0xffffffff).j("DROP"));
    let w = b.build().expect("world");
    assert_eq!(result(&w, "client", "10.0.2.2", 80, IPPROTO_TCP), ClientResult::Connected);
}

#[test]
fn summary_level_skips_steps() {
    let w = routed().build().expect("world");
    let r = w.run_flow(
        &FlowSpec::client("t", "client", ip("10.0.2.2"), 80, IPPROTO_TCP),
        &RunOptions { trace: crate::engine::TraceLevel::Summary, ..Default::default() },
    );
    assert!(only(&r).steps.is_empty());
    let r = run(&w, "client", "10.0.2.2", 80, IPPROTO_TCP);
    assert!(!only(&r).steps.is_empty());
}

/// The SYN goes client -> r1 -> server, the SYN/ACK comes back server -> r2 -> client.
pub(crate) fn asymmetric() -> WorldB {
    let mut w = WorldB::new();
    w.veth("client", "eth0", Some("10.0.1.2/24"), "r1", "c0", Some("10.0.1.1/24"));
    w.veth("client", "eth1", Some("10.0.4.2/24"), "r2", "c0", Some("10.0.4.1/24"));
    w.veth("r1", "s0", Some("10.0.2.1/24"), "server", "eth0", Some("10.0.2.2/24"));
    w.veth("r2", "s0", Some("10.0.5.1/24"), "server", "eth1", Some("10.0.5.2/24"));
    w.ns("client").route("default", Some("10.0.1.1"), None);
    w.ns("server").route("10.0.1.0/24", Some("10.0.5.1"), None).listen(IPPROTO_TCP, 80).listen(IPPROTO_UDP, 53);
    w.ns("r1").sysctl("net.ipv4.ip_forward", "1");
    w.ns("r2").sysctl("net.ipv4.ip_forward", "1").route("10.0.1.0/24", Some("10.0.4.2"), None);
    w
}

#[test]
fn asymmetric_syn_ack_is_invalid_where_no_syn_was_seen() {
    let w = asymmetric().build().expect("world");
    assert_eq!(result(&w, "client", "10.0.2.2", 80, IPPROTO_TCP), ClientResult::Connected);
    let mut b = asymmetric();
    b.ns("r2").ipt("filter", "FORWARD", R::new().ctstate(&["INVALID"]).j("DROP"));
    let w = b.build().expect("world");
    let r = run(&w, "client", "10.0.2.2", 80, IPPROTO_TCP);
    assert_eq!(only(&r).result, ClientResult::Timeout);
    assert!(only(&r).summary.contains("reply is dropped in r2"), "{}", only(&r).summary);
    // A UDP answer creates a NEW entry on r2: not INVALID.
    assert_eq!(result(&w, "client", "10.0.2.2", 53, IPPROTO_UDP), ClientResult::Connected);
}

#[test]
fn imported_dnat_entry_is_followed_without_rules() {
    use crate::model::conntrack::{CtEntry, CtTuple};
    // The router holds a DNAT entry client:41000 -> 10.0.1.1:80 => 10.0.2.2:8080, but no rules.
    let mut b = routed();
    b.ns("router").ipt("filter", "FORWARD", R::new().log());
    let orig = CtTuple { src: ip("10.0.1.2"), dst: ip("10.0.1.1"), sport: 41000, dport: 80 };
    let reply = CtTuple { src: ip("10.0.2.2"), dst: ip("10.0.1.2"), sport: 8080, dport: 41000 };
    b.ns("router").ns.conntrack.push(CtEntry {
        proto: 6,
        timeout: Some(60),
        tcp_state: Some("ESTABLISHED".into()),
        orig,
        reply,
        unreplied: false,
        assured: true,
        mark: 0,
        zone: 0,
        line: 3,
    });
    // nat must be loaded for translation to happen.
    b.ns("router").chain("nat", "KUBE-X");
    let w = b.build().expect("world");
    let spec = FlowSpec { sport: Some(41000), ..FlowSpec::client("t", "client", ip("10.0.1.1"), 80, IPPROTO_TCP) };
    let r = w.run_flow(&spec, &RunOptions::default());
    let o = only(&r);
    assert_eq!(o.result, ClientResult::Connected, "{}", o.summary);
    assert_eq!(o.seen.as_ref().map(|s| s.dst.clone()), Some("10.0.2.2:8080".into()));
    // Another source port misses the entry and reaches the router itself, where nothing listens.
    let spec = FlowSpec { sport: Some(41001), ..spec };
    assert_eq!(only(&w.run_flow(&spec, &RunOptions::default())).result, ClientResult::Refused);
}

#[test]
fn notrack_skips_nat() {
    let mut b = routed();
    b.ns("router").ipt("raw", "PREROUTING", R::new().d("10.0.1.1").notrack());
    b.ns("router").ipt("nat", "PREROUTING", R::new().p("tcp").d("10.0.1.1").dport(80).dnat("10.0.2.2:8080"));
    let w = b.build().expect("world");
    // Untracked: the DNAT never runs and the router's own (closed) port answers.
    assert_eq!(result(&w, "client", "10.0.1.1", 80, IPPROTO_TCP), ClientResult::Refused);
}

mod matches {
    use super::*;
    use crate::model::ruleset::*;
    use crate::model::types::{Neg, PortRange};

    fn server_drop(m: Match, text: &str) -> World {
        let mut b = pair();
        b.ns("server").ipt("filter", "INPUT", R::new().m(text, m).j("DROP"));
        b.build().expect("world")
    }

    fn dropped(w: &World, port: u16, proto: u8) -> bool {
        matches!(result(w, "client", "10.0.0.2", port, proto), ClientResult::Timeout)
    }

    #[test]
    fn multiport_and_negation() {
        let m =
            Match::Multiport(MultiportMatch { dir: MultiportDir::Destination, neg: false, ports: vec![PortRange::single(53), PortRange { lo: 70, hi: 90 }] });
        let w = server_drop(m, "-m multiport --dports 53,70:90");
        assert!(dropped(&w, 80, IPPROTO_TCP));
        assert!(dropped(&w, 53, IPPROTO_UDP));
        let m = Match::Multiport(MultiportMatch { dir: MultiportDir::Destination, neg: true, ports: vec![PortRange::single(53)] });
        let w = server_drop(m, "-m multiport ! --dports 53");
        assert!(dropped(&w, 80, IPPROTO_TCP));
        assert!(!dropped(&w, 53, IPPROTO_UDP));
    }

    #[test]
    fn iprange_length_pkttype_comment_nfacct() {
        let w = server_drop(
            Match::Iprange(IprangeMatch { src: Some(Neg::pos((ip("10.0.0.1"), ip("10.0.0.5")))), dst: None }),
            "-m iprange --src-range 10.0.0.1-10.0.0.5",
        );
        assert!(dropped(&w, 80, IPPROTO_TCP));
        let w = server_drop(
            Match::Iprange(IprangeMatch { src: Some(Neg::pos((ip("10.0.0.3"), ip("10.0.0.5")))), dst: None }),
            "-m iprange --src-range 10.0.0.3-10.0.0.5",
        );
        assert!(!dropped(&w, 80, IPPROTO_TCP));
        // A SYN is 60 bytes in nfpath's synthetic packets.
        let w = server_drop(Match::Length(Neg::pos((0, 100))), "-m length --length 0:100");
        assert!(dropped(&w, 80, IPPROTO_TCP));
        let w = server_drop(Match::Pkttype(Neg::pos(PktType::Broadcast)), "-m pkttype --pkt-type broadcast");
        assert!(!dropped(&w, 80, IPPROTO_TCP));
        let w = server_drop(Match::Comment("x".into()), "-m comment --comment x");
        assert!(dropped(&w, 80, IPPROTO_TCP));
        let w = server_drop(Match::Nfacct("n".into()), "-m nfacct --nfacct-name n");
        assert!(dropped(&w, 80, IPPROTO_TCP));
    }

    #[test]
    fn addrtype_local_and_limit_iface() {
        let w = server_drop(Match::Addrtype(AddrtypeMatch { dst_type: Some(Neg::pos(addrtype::LOCAL)), ..Default::default() }), "-m addrtype --dst-type LOCAL");
        assert!(dropped(&w, 80, IPPROTO_TCP));
        let w = server_drop(Match::Addrtype(AddrtypeMatch { src_type: Some(Neg::pos(addrtype::LOCAL)), ..Default::default() }), "-m addrtype --src-type LOCAL");
        assert!(!dropped(&w, 80, IPPROTO_TCP));
        let w = server_drop(
            Match::Addrtype(AddrtypeMatch { dst_type: Some(Neg::pos(addrtype::LOCAL)), limit_iface_in: true, ..Default::default() }),
            "-m addrtype --dst-type LOCAL --limit-iface-in",
        );
        assert!(dropped(&w, 80, IPPROTO_TCP));
    }

    #[test]
    fn physdev_without_bridge() {
        let w = server_drop(Match::Physdev(Box::new(PhysdevMatch { is_bridged: Some(false), ..Default::default() })), "-m physdev --physdev-is-bridged");
        assert!(!dropped(&w, 80, IPPROTO_TCP));
        let w = server_drop(Match::Physdev(Box::new(PhysdevMatch { is_bridged: Some(true), ..Default::default() })), "-m physdev ! --physdev-is-bridged");
        assert!(dropped(&w, 80, IPPROTO_TCP));
    }

    #[test]
    fn limit_hashlimit_recent_are_assumptions() {
        let w = server_drop(Match::Limit(LimitMatch { rate: "1/min".into(), burst: 5 }), "-m limit --limit 1/min");
        let r = run(&w, "client", "10.0.0.2", 80, IPPROTO_TCP);
        assert_eq!(only(&r).result, ClientResult::Timeout);
        assert!(only(&r).summary.contains("fresh token bucket"));
        let w = server_drop(
            Match::Hashlimit(Box::new(HashlimitMatch { name: "h".into(), rate: "1/sec".into(), above: true, ..Default::default() })),
            "-m hashlimit --hashlimit-above 1/sec",
        );
        assert!(!dropped(&w, 80, IPPROTO_TCP));
        let rc = |cmd| {
            Match::Recent(Box::new(RecentMatch {
                neg: false,
                cmd,
                name: "r".into(),
                seconds: Some(60),
                reap: false,
                hitcount: None,
                rttl: false,
                rsource: true,
                mask: ip("255.255.255.255"),
            }))
        };
        let w = server_drop(rc(RecentCmd::Rcheck), "-m recent --rcheck --name r");
        let r = run(&w, "client", "10.0.0.2", 80, IPPROTO_TCP);
        assert_eq!(only(&r).result, ClientResult::Connected);
        assert!(only(&r).summary.contains("assumed empty"));
        let w = server_drop(rc(RecentCmd::Set), "-m recent --set --name r");
        assert!(dropped(&w, 80, IPPROTO_TCP));
    }

    #[test]
    fn owner_needs_uid_and_connmark_save_restore() {
        let mut b = pair();
        b.ns("client").ipt(
            "filter",
            "OUTPUT",
            R::new()
                .m("-m owner --uid-owner 1000", Match::Owner(Box::new(OwnerMatch { uid: Some(Neg::pos(OwnerId::Range(1000, 1000))), ..Default::default() })))
                .j("DROP"),
        );
        let w = b.build().expect("world");
        assert_eq!(result(&w, "client", "10.0.0.2", 80, IPPROTO_TCP), ClientResult::Indeterminate);
        let spec = FlowSpec { uid: Some(1000), ..FlowSpec::client("t", "client", ip("10.0.0.2"), 80, IPPROTO_TCP) };
        assert_eq!(only(&w.run_flow(&spec, &RunOptions::default())).result, ClientResult::Timeout);
        let spec = FlowSpec { uid: Some(0), ..spec };
        assert_eq!(only(&w.run_flow(&spec, &RunOptions::default())).result, ClientResult::Connected);
        // CONNMARK --save-mark on the SYN, and a reply dropped only if the restored mark is set.
        let mut b = pair();
        {
            let c = b.ns("client");
            c.ipt("mangle", "OUTPUT", R::new().set_xmark(0x5, 0xffffffff));
            c.ipt("mangle", "OUTPUT", R::new().m("-j CONNMARK --save-mark", Match::Comment(String::new())));
        }
        let mut ns = b.ns("client").build();
        // Replace the placeholder target with CONNMARK --save-mark.
        let t = ns.ruleset.table_mut(TableName::Mangle).expect("mangle");
        t.chain_mut("OUTPUT").expect("OUTPUT").rules[1].target = Target::Connmark(ConnmarkOp::SaveMark { nfmask: 0xffffffff, ctmask: 0xffffffff });
        let mut b2 = pair();
        b2.ns("client").ipt(
            "mangle",
            "PREROUTING",
            R::new().m("-m connmark --mark 0x5", Match::Connmark(MarkMatch { neg: false, value: 5, mask: 0xffffffff })).j("DROP"),
        );
        let pre = b2.ns("client").build().ruleset.table(TableName::Mangle).expect("mangle").chain("PREROUTING").expect("chain").clone();
        ns.ruleset.table_mut(TableName::Mangle).expect("mangle").add_chain(pre.clone());
        // add_chain keeps an existing PREROUTING: set its rules directly.
        ns.ruleset.table_mut(TableName::Mangle).expect("mangle").chain_mut("PREROUTING").expect("pre").rules = pre.rules;
        let server = b.ns("server").build();
        let w = World::new(vec![ns, server], &b.links).expect("world");
        assert_eq!(result(&w, "client", "10.0.0.2", 80, IPPROTO_TCP), ClientResult::Timeout);
    }
}

#[test]
fn lost_final_ack_is_connected_but_never_accepted() {
    // r1 lets only SYNs and ESTABLISHED through; it never sees the SYN/ACK, so the client's ACK
    // is INVALID there (kernel-checked in kernel_engine_ctstate_invalid_on_asymmetric_return).
    let mut b = asymmetric();
    b.ns("r1").ipt("filter", "FORWARD", R::new().ctstate(&["ESTABLISHED"]).j("ACCEPT")).ipt("filter", "FORWARD", R::new().p("tcp").syn().j("ACCEPT")).policy(
        "filter",
        "FORWARD",
        Policy::Drop,
    );
    let w = b.build().expect("world");
    let r = run(&w, "client", "10.0.2.2", 80, IPPROTO_TCP);
    let o = only(&r);
    assert_eq!(o.result, ClientResult::Connected);
    assert!(o.summary.contains("never accepts") && o.summary.contains("r1"), "{}", o.summary);
}

#[test]
fn indexed_walk_agrees_with_plain_walk() {
    // Pseudo-random KUBE-SERVICES-like chains: runs of `-d x/32` rules with random ports and
    // targets, interrupted by rules without -d; every destination in the pool is tried.
    let mut seed: u64 = 0x5eed;
    let mut rnd = |n: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    for round in 0..6 {
        let mut b = routed();
        let pool: Vec<String> = (0..12).map(|i| format!("10.0.2.{}", 2 + i)).collect();
        b.ns("server").listen(IPPROTO_TCP, 81).listen(IPPROTO_TCP, 82);
        for p in &pool {
            b.ns("server").addr("lo", &format!("{p}/32"));
            b.ns("router").route(&format!("{p}/32"), Some("10.0.2.2"), None);
        }
        {
            let r = b.ns("router");
            r.ipt("filter", "FORWARD", R::new().j("SVC"));
            r.ipt("filter", "MARKER", R::new().or_mark(0x1));
            for _ in 0..60 {
                let d = &pool[rnd(pool.len() as u64) as usize];
                let port = 80 + rnd(3) as u16;
                let rule = if rnd(10) == 0 { R::new().p("tcp").dport(port) } else { R::new().d(d).p("tcp").dport(port) };
                let rule = match rnd(5) {
                    0 => rule.j("DROP"),
                    1 => rule.reject(RejectWith::TcpReset),
                    2 => rule.j("RETURN"),
                    3 => rule.j("MARKER"),
                    _ => rule.j("ACCEPT"),
                };
                r.ipt("filter", "SVC", rule);
            }
            r.ipt("filter", "FORWARD", R::new().mark(0x1, 0x1).j("DROP"));
        }
        let w = b.build().expect("world");
        for d in &pool {
            for port in 80..83 {
                let spec = FlowSpec::client("t", "client", ip(d), port, IPPROTO_TCP);
                let a = w.run_flow(&spec, &RunOptions { plain_walk: true, ..Default::default() });
                let b = w.run_flow(&spec, &RunOptions::default());
                assert_eq!(a, b, "round {round} dst {d}:{port}");
            }
        }
    }
}

#[test]
fn conntrack_options_on_a_dnat_connection() {
    use crate::model::ruleset::*;
    use crate::model::types::{AddrMask, Neg, PortRange};
    let opts = |o: Vec<CtOption>| Match::Conntrack(ConntrackMatch { options: o });
    let vip = AddrMask::from_prefix(ip("10.0.1.1"), 32);
    let cases: Vec<(Match, bool)> = vec![
        (opts(vec![CtOption::State(Neg::pos(ctstate::DNAT))]), true),
        (opts(vec![CtOption::State(Neg::pos(ctstate::SNAT))]), false),
        (opts(vec![CtOption::OrigDst(Neg::pos(vip))]), true),
        (opts(vec![CtOption::ReplSrc(Neg::pos(AddrMask::from_prefix(ip("10.0.2.2"), 32)))]), true),
        (opts(vec![CtOption::OrigDstPort(Neg::pos(PortRange::single(80)))]), true),
        (opts(vec![CtOption::ReplSrcPort(Neg::pos(PortRange::single(80)))]), false),
        (opts(vec![CtOption::Dir(CtDir::Original)]), true),
        (opts(vec![CtOption::Status(Neg::pos(ctstatus::SEEN_REPLY))]), false),
        (opts(vec![CtOption::Proto(Neg::new(true, 6))]), false),
    ];
    for (m, drops) in cases {
        let mut b = routed();
        b.ns("router").ipt("nat", "PREROUTING", R::new().p("tcp").d("10.0.1.1").dport(80).dnat("10.0.2.2:8080"));
        b.ns("router").ipt("filter", "FORWARD", R::new().p("tcp").syn().m("-m conntrack ...", m.clone()).j("DROP"));
        let w = b.build().expect("world");
        let got = result(&w, "client", "10.0.1.1", 80, IPPROTO_TCP);
        assert_eq!(got == ClientResult::Timeout, drops, "{m:?}: {got:?}");
    }
}

#[test]
fn ipset_match_in_a_flow() {
    use crate::model::ipset::{IpSet, SetDim, SetElem, SetMember};
    use crate::model::ruleset::{Match, SetDir, SetMatch};
    let mk = |nomatch: bool| {
        let mut b = pair();
        b.ns("server").ns.ipsets.push(IpSet {
            name: "blocked".into(),
            set_type: "hash:net".into(),
            dims: vec![SetDim::Net],
            family: "inet".into(),
            options: vec![],
            members: vec![
                SetMember { elems: vec![SetElem::Net("10.0.0.0/24".parse().expect("net"))], nomatch: false, options: vec![], line: 2 },
                SetMember { elems: vec![SetElem::Net("10.0.0.0/30".parse().expect("net"))], nomatch, options: vec![], line: 3 },
            ],
            line: 1,
            incomplete: false,
        });
        let m = Match::Set(Box::new(SetMatch {
            neg: false,
            name: "blocked".into(),
            dirs: vec![SetDir::Src],
            return_nomatch: false,
            no_update_counters: false,
            no_update_subcounters: false,
            counter_tests: vec![],
        }));
        b.ns("server").ipt("filter", "INPUT", R::new().m("-m set --match-set blocked src", m).j("DROP"));
        b.build().expect("world")
    };
    assert_eq!(result(&mk(false), "client", "10.0.0.2", 80, IPPROTO_TCP), ClientResult::Timeout);
    // The more specific /30 is `nomatch`: the client (10.0.0.1) is not in the set.
    assert_eq!(result(&mk(true), "client", "10.0.0.2", 80, IPPROTO_TCP), ClientResult::Connected);
}

#[test]
fn routing_loop_expires_ttl() {
    let mut b = routed();
    b.veth("router", "l0", Some("10.0.7.1/24"), "r2", "l0", Some("10.0.7.2/24"));
    b.ns("router").route("10.9.0.0/24", Some("10.0.7.2"), None);
    b.ns("r2").route("default", Some("10.0.7.1"), None).sysctl("net.ipv4.ip_forward", "1");
    let w = b.build().expect("world");
    // `tcp_v4_err`: ICMP time exceeded in SYN_SENT is EHOSTUNREACH; UDP ignores it (not fatal).
    let r = run(&w, "client", "10.9.0.1", 80, IPPROTO_TCP);
    assert_eq!(only(&r).result, ClientResult::Error("EHOSTUNREACH".into()), "{}", only(&r).summary);
    assert_eq!(only(&r).reason, Some(DropReason::TtlExpired));
    assert_eq!(result(&w, "client", "10.9.0.1", 80, IPPROTO_UDP), ClientResult::Timeout);
}

#[test]
fn icmp_error_after_dnat_is_translated_back() {
    // Kernel-checked (kernel_engine_reject_after_dnat): the error carries the conntrack of the
    // packet it answers (`icmp_glue_bits` -> `nf_ct_attach`), so the client sees port 81 again.
    for with in [RejectWith::IcmpPortUnreachable, RejectWith::TcpReset] {
        let mut b = routed();
        b.ns("server").ipt("nat", "PREROUTING", R::new().p("tcp").dport(81).dnat(":8080"));
        b.ns("server").ipt("filter", "INPUT", R::new().p("tcp").dport(8080).reject(with));
        let w = b.build().expect("world");
        assert_eq!(result(&w, "client", "10.0.2.2", 81, IPPROTO_TCP), ClientResult::Refused, "{with:?}");
    }
}

#[test]
fn summary_and_full_trace_levels_agree() {
    let mut b = routed();
    b.ns("router").ipt("nat", "PREROUTING", R::new().p("tcp").d("10.0.1.1").dport(80).j("SVC"));
    b.ns("router").ipt("nat", "SVC", R::new().probability(0.3).dnat("10.0.2.2:8080"));
    b.ns("router").ipt("nat", "SVC", R::new().p("tcp").dnat("10.0.2.2:81"));
    b.ns("router").ipt("nat", "POSTROUTING", R::new().o("s0").masquerade(true));
    b.ns("router").ipt("filter", "FORWARD", R::new().p("udp").dport(54).reject(RejectWith::IcmpAdminProhibited));
    let w = b.build().expect("world");
    for (dst, port, proto) in [
        ("10.0.1.1", 80, IPPROTO_TCP),
        ("10.0.2.2", 53, IPPROTO_UDP),
        ("10.0.2.2", 54, IPPROTO_UDP),
        ("10.0.9.9", 1, IPPROTO_TCP),
        ("10.0.2.2", 0, IPPROTO_ICMP),
    ] {
        let spec = FlowSpec::client("t", "client", ip(dst), port, proto);
        let full = w.run_flow(&spec, &RunOptions::default());
        let summary = w.run_flow(&spec, &RunOptions { trace: crate::engine::TraceLevel::Summary, ..Default::default() });
        assert_eq!(full.outcomes.len(), summary.outcomes.len(), "{dst}:{port}");
        for (a, b) in full.outcomes.iter().zip(summary.outcomes.iter()) {
            assert_eq!(
                (&a.result, &a.at, &a.seen, a.disposition, a.reason, &a.indeterminate, &a.summary),
                (&b.result, &b.at, &b.seen, b.disposition, b.reason, &b.indeterminate, &b.summary),
                "{dst}:{port}"
            );
            assert!((a.probability - b.probability).abs() < 1e-12);
        }
    }
}

#[test]
fn a_final_ack_lost_on_one_statistic_branch_stays_its_own_outcome() {
    // Each TCP packet into the server is dropped with p = 0.5: the SYN (timeout), or the SYN
    // passes and the client's final ACK is dropped (connect() succeeds, nobody accepts), or both
    // pass (accepted). The last two must not merge: only one of them reaches the listener.
    let mut b = pair();
    b.ns("server").ipt("raw", "PREROUTING", R::new().p("tcp").probability(0.5).j("DROP"));
    let w = b.build().expect("world");
    let r = run(&w, "client", "10.0.0.2", 80, IPPROTO_TCP);
    let connected: Vec<&crate::trace::Outcome> = r.outcomes.iter().filter(|o| o.result == ClientResult::Connected).collect();
    assert_eq!(connected.len(), 2, "{:#?}", r.outcomes.iter().map(|o| (&o.result, o.probability, &o.summary)).collect::<Vec<_>>());
    assert_eq!(connected.iter().filter(|o| o.summary.contains("never accepts")).count(), 1);
    for o in connected {
        assert!((o.probability - 0.25).abs() < 1e-9);
    }
}
