use super::*;
use crate::diag::Severity;
use crate::engine::build::{WorldB, R};
use crate::model::route::RouteType;
use crate::model::ruleset::{Policy, TableName};

fn node() -> Namespace {
    let mut w = WorldB::new();
    w.veth("node", "eth0", Some("192.168.0.10/24"), "gw", "eth0", Some("192.168.0.1/24"));
    let b = w.ns("node");
    b.route("0.0.0.0/0", Some("192.168.0.1"), Some("eth0"));
    b.chain("filter", "KUBE-FORWARD");
    b.ipt("filter", "FORWARD", R::new().j("KUBE-FORWARD"));
    b.ipt("filter", "KUBE-FORWARD", R::new().p("tcp").dport(22).j("ACCEPT"));
    b.build()
}

fn errors(p: &Parsed<Vec<Applied>>) -> Vec<String> {
    p.diagnostics.iter().filter(|d| d.severity == Severity::Error).map(|d| d.to_string()).collect()
}

fn chain_texts(ns: &Namespace, t: TableName, c: &str) -> Vec<String> {
    let t = ns.ruleset.table(t).expect("table");
    t.chain(c).expect("chain").rules.iter().map(|r| crate::parse::iptables_save::save_rule(c, r)).collect()
}

#[test]
fn iptables_commands_edit_the_ruleset_and_keep_their_text() {
    let mut ns = node();
    let text = "# block ssh\niptables -I KUBE-FORWARD 1 -p tcp --dport 22 -j DROP\niptables -t nat -N X\niptables -t nat -A X -j RETURN\n";
    let p = apply(&mut ns, "change.txt", text);
    assert!(errors(&p).is_empty(), "{:?}", p.diagnostics);
    assert_eq!(p.value.len(), 3);
    let c = ns.ruleset.table(TableName::Filter).and_then(|t| t.chain("KUBE-FORWARD")).expect("chain");
    assert_eq!(c.rules.len(), 2);
    let r = &c.rules[0];
    assert_eq!(r.line, 2);
    assert_eq!(ns.ruleset.rule_file(r), "change.txt");
    assert_eq!(ns.ruleset.rule_text(r), "iptables -I KUBE-FORWARD 1 -p tcp --dport 22 -j DROP");
    assert_eq!(chain_texts(&ns, TableName::Nat, "X"), vec!["-A X -j RETURN"]);
}

#[test]
fn refused_commands_point_at_their_place() {
    for (text, col, code) in [
        ("iptables -A NOPE -j ACCEPT", 13, "no-such-chain"),
        ("iptables -I KUBE-FORWARD 3 -j ACCEPT", 13, "bad-rule-number"),
        ("iptables -D KUBE-FORWARD -p udp -j ACCEPT", 26, "no-such-rule"),
        ("iptables -X KUBE-FORWARD", 13, "chain-not-empty"),
        ("iptables -P KUBE-FORWARD DROP", 13, "not-builtin"),
        ("iptables -A FORWARD -j NOPE", 24, "jump-to-missing-chain"),
        ("iptables -A FORWARD -p tcp --dprot 1 -j ACCEPT", 28, "unknown-option"),
        ("  ip route add 10.1.0.1/24 dev eth0", 16, "bad-prefix"),
        ("ip route add 10.1.0.0/24 via 10.9.9.9", 30, "bad-nexthop"),
        ("ip route del 10.1.0.0/24", 10, "no-such-route"),
        ("ip route add 10.1.0.0/24 dev eth0 bogus", 35, "syntax"),
        ("ip rule del from 10.99.0.0/24", 9, "no-such-rule"),
        ("-A FORWARD -j ACCEPT", 1, "outside-table"),
        ("*filter\n-A FORWARD -j ACCEPT\n", 1, "missing-commit"),
    ] {
        let mut ns = node();
        let p = apply(&mut ns, "c.txt", text);
        let d = p.diagnostics.iter().find(|d| d.severity == Severity::Error).unwrap_or_else(|| panic!("{text}: no error"));
        assert_eq!((d.code.as_str(), d.span.line, d.span.col), (code, 1, col), "{text}: {d}");
    }
}

#[test]
fn noflush_block_sets_policies_flushes_declared_chains_and_appends() {
    let mut ns = node();
    let text = "*filter\n:FORWARD DROP [0:0]\n:KUBE-FORWARD - [0:0]\n:NEW - [0:0]\n-A NEW -j RETURN\n-A KUBE-FORWARD -j NEW\nCOMMIT\n";
    let p = apply(&mut ns, "c.txt", text);
    assert!(errors(&p).is_empty(), "{:?}", p.diagnostics);
    let t = ns.ruleset.table(TableName::Filter).expect("filter");
    assert_eq!(t.chain("FORWARD").and_then(|c| c.policy), Some(Policy::Drop));
    assert_eq!(chain_texts(&ns, TableName::Filter, "KUBE-FORWARD"), vec!["-A KUBE-FORWARD -j NEW"]);
    assert_eq!(chain_texts(&ns, TableName::Filter, "FORWARD"), vec!["-A FORWARD -j KUBE-FORWARD"]);
}

#[test]
fn routes_and_rules_follow_iproute2_defaults() {
    let mut ns = node();
    let text = "ip route add 10.1.0.0/24 via 192.168.0.7\nip route add blackhole 10.2.0.0/16\nip route add 10.3.0.0/16 dev eth0 table 100\nip rule add fwmark 0x10 lookup 100\nip rule add from 10.1.0.0/24 pref 50 blackhole\nip route replace 10.1.0.0/24 via 192.168.0.8\n";
    let p = apply(&mut ns, "c.txt", text);
    assert!(errors(&p).is_empty(), "{:?}", p.diagnostics);
    let r = ns.routes.iter().find(|r| r.dst.to_string() == "10.1.0.0/24").expect("route");
    assert_eq!((r.gateway().map(|g| g.to_string()), r.dev(), r.scope), (Some("192.168.0.8".into()), Some("eth0"), Scope::Universe));
    let r3 = ns.routes.iter().find(|r| r.dst.to_string() == "10.3.0.0/16").expect("route");
    assert_eq!((r3.table, r3.scope, r3.protocol.as_deref()), (100, Scope::Link, Some("boot")));
    assert!(ns.routes.iter().any(|r| r.rtype == RouteType::Blackhole));
    let prios: Vec<u32> = ns.rules.iter().map(|r| r.priority).collect();
    assert_eq!(prios, vec![0, 50, 32765, 32766, 32767]);
    let p = apply(&mut ns, "c.txt", "ip route add 10.1.0.0/24 via 192.168.0.9\n");
    assert_eq!(p.diagnostics[0].code, "route-exists");
}
use crate::model::types::Scope;

#[test]
fn drop_in_the_nat_table_is_refused_as_iptables_refuses_it() {
    let mut ns = node();
    let p = apply(&mut ns, "c.txt", "iptables -t nat -A PREROUTING -j DROP\n");
    assert_eq!(p.diagnostics.iter().find(|d| d.severity == Severity::Error).map(|d| d.code.as_str()), Some("nat-drop"));
}
