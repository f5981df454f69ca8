//! Unit tests of `engine::routing`, one per rule of netfilter-model.md §4. Namespaces are built
//! the way the kernel builds them: every address brings its `local`, `broadcast` and prefix
//! routes (`fib_frontend.c:fib_add_ifaddr`), and routes and rules are written as `ip` prints them.

use super::*;
use crate::model::addr::Addr;
use crate::model::link::Link;
use crate::model::route::{NextHop, Route};
use ipnet::Ipv4Net;

pub(crate) struct B {
    pub ns: Namespace,
}

fn a(s: &str) -> Ipv4Addr {
    s.parse().expect("address")
}

impl B {
    pub fn new() -> B {
        let mut b = B { ns: Namespace { name: "t".into(), ..Namespace::default() } };
        b.ns.links.push(link(1, "lo", LinkKind::Loopback, true));
        b.addr("lo", "127.0.0.1/8");
        b
    }
    pub fn link(&mut self, name: &str) -> &mut Self {
        let idx = self.ns.links.len() as u32 + 1;
        self.ns.links.push(link(idx, name, LinkKind::Veth, true));
        self
    }
    pub fn down(&mut self, name: &str) -> &mut Self {
        let l = self.ns.links.iter_mut().find(|l| l.name == name).expect("link");
        l.up = false;
        l.lower_up = false;
        self
    }
    pub fn nocarrier(&mut self, name: &str) -> &mut Self {
        self.ns.links.iter_mut().find(|l| l.name == name).expect("link").lower_up = false;
        self
    }
    /// An address and the kernel routes it brings.
    pub fn addr(&mut self, dev: &str, cidr: &str) -> &mut Self {
        self.addr_flags(dev, cidr, false)
    }
    pub fn addr_flags(&mut self, dev: &str, cidr: &str, secondary: bool) -> &mut Self {
        let net: Ipv4Net = cidr.parse().expect("cidr");
        let l = self.ns.link(dev).expect("link").clone();
        let scope = if net.addr().octets()[0] == 127 { Scope::Host } else { Scope::Universe };
        self.ns.addrs.push(Addr {
            ifname: dev.into(),
            ifindex: l.ifindex,
            local: net.addr(),
            prefix_len: net.prefix_len(),
            peer: None,
            broadcast: (net.prefix_len() < 31).then(|| net.broadcast()),
            scope,
            secondary,
            noprefixroute: false,
            label: None,
        });
        let src = net.addr();
        let k = |t: &str| format!("{t} dev {dev} proto kernel src {src}");
        if net.addr().octets()[0] == 127 {
            self.route(&format!("local {} dev {dev} table local proto kernel scope host src {src}", net.trunc()));
        }
        self.route(&format!("local {src} dev {dev} table local proto kernel scope host src {src}"));
        if l.up && net.prefix_len() < 31 {
            self.route(&format!("broadcast {} {} table local scope link", net.broadcast(), k("").trim()));
        }
        if l.up && net.prefix_len() < 32 && net.addr().octets()[0] != 127 && !secondary {
            self.route(&format!("{} {} scope link", net.trunc(), k("").trim()));
        }
        self
    }
    /// A route in `ip route` syntax (type, dst, via, dev, table, proto, scope, src, metric, tos,
    /// onlink, and `nexthop via .. dev .. weight ..` groups).
    pub fn route(&mut self, text: &str) -> &mut Self {
        self.ns.routes.push(parse_route(text));
        self
    }
    pub fn rule(&mut self, text: &str) -> &mut Self {
        if self.ns.rules.is_empty() {
            self.ns.rules = FibRule::defaults();
        }
        self.ns.rules.push(parse_rule(text));
        self
    }
    pub fn sysctl(&mut self, k: &str, v: &str) -> &mut Self {
        self.ns.sysctls.values.insert(k.into(), v.into());
        self.ns.sysctls.imported = true;
        self
    }
    pub fn fib(&self) -> Fib {
        Fib::new(&self.ns)
    }
}

fn link(ifindex: u32, name: &str, kind: LinkKind, up: bool) -> Link {
    Link {
        ifindex,
        name: name.into(),
        kind,
        mtu: 1500,
        mac: None,
        up,
        lower_up: up,
        noarp: false,
        promisc: false,
        master: None,
        link_ifindex: None,
        link_name: None,
        link_netnsid: None,
        brport: None,
        group: None,
    }
}

fn table_id(s: &str) -> u32 {
    match s {
        "local" => RT_TABLE_LOCAL,
        "main" => RT_TABLE_MAIN,
        "default" => RT_TABLE_DEFAULT,
        n => n.parse().expect("table"),
    }
}

pub(crate) fn parse_route(text: &str) -> Route {
    let w: Vec<&str> = text.split_whitespace().collect();
    let mut i = 0;
    let rtype = match RouteType::parse(w[0]) {
        Some(t) => {
            i += 1;
            t
        }
        None => RouteType::Unicast,
    };
    let dst: Ipv4Net = if w[i] == "default" {
        "0.0.0.0/0".parse().expect("net")
    } else if w[i].contains('/') {
        w[i].parse().expect("net")
    } else {
        format!("{}/32", w[i]).parse().expect("net")
    };
    i += 1;
    let mut r = Route {
        table: if matches!(rtype, RouteType::Local | RouteType::Broadcast) { RT_TABLE_LOCAL } else { RT_TABLE_MAIN },
        rtype,
        dst,
        tos: 0,
        metric: 0,
        protocol: Some("boot".into()),
        scope: match rtype {
            RouteType::Local => Scope::Host,
            RouteType::Broadcast => Scope::Link,
            _ => Scope::Universe,
        },
        prefsrc: None,
        nexthops: Vec::new(),
        mtu: None,
        origin: None,
    };
    let mut scope_given = false;
    let mut cur: Option<NextHop> = None;
    let new_nh = || NextHop { gateway: None, dev: None, onlink: false, weight: 1, dead: false, linkdown: false };
    while i < w.len() {
        let v = w.get(i + 1).copied().unwrap_or("");
        match w[i] {
            "nexthop" => {
                if let Some(nh) = cur.take() {
                    r.nexthops.push(nh);
                }
                cur = Some(new_nh());
                i += 1;
                continue;
            }
            "via" => cur.get_or_insert_with(new_nh).gateway = Some(a(v)),
            "dev" => cur.get_or_insert_with(new_nh).dev = Some(v.into()),
            "weight" => cur.get_or_insert_with(new_nh).weight = v.parse().expect("weight"),
            "onlink" => {
                cur.get_or_insert_with(new_nh).onlink = true;
                i += 1;
                continue;
            }
            "table" => r.table = table_id(v),
            "proto" => r.protocol = Some(v.into()),
            "scope" => {
                r.scope = Scope::parse(v).expect("scope");
                scope_given = true;
            }
            "src" => r.prefsrc = Some(a(v)),
            "metric" => r.metric = v.parse().expect("metric"),
            "tos" => r.tos = u8::from_str_radix(v.trim_start_matches("0x"), 16).expect("tos"),
            o => panic!("route word {o}"),
        }
        i += 2;
    }
    if let Some(nh) = cur {
        r.nexthops.push(nh);
    }
    if !scope_given && rtype == RouteType::Unicast && r.nexthops.len() == 1 && r.nexthops[0].gateway.is_none() {
        r.scope = Scope::Link;
    }
    r
}

pub(crate) fn parse_rule(text: &str) -> FibRule {
    let (prio, rest) = text.split_once(':').expect("prio:");
    let mut r = FibRule::defaults().remove(0);
    r.priority = prio.trim().parse().expect("prio");
    let w: Vec<&str> = rest.split_whitespace().collect();
    let mut i = 0;
    let net = |s: &str| -> Option<Ipv4Net> {
        if s == "all" {
            None
        } else if s.contains('/') {
            Some(s.parse().expect("net"))
        } else {
            Some(format!("{s}/32").parse().expect("net"))
        }
    };
    let range = |s: &str| -> (u16, u16) {
        match s.split_once('-') {
            Some((x, y)) => (x.parse().expect("p"), y.parse().expect("p")),
            None => (s.parse().expect("p"), s.parse().expect("p")),
        }
    };
    while i < w.len() {
        let v = w.get(i + 1).copied().unwrap_or("");
        let mut step = 2;
        match w[i] {
            "not" => {
                r.not = true;
                step = 1;
            }
            "from" => r.from = net(v),
            "to" => r.to = net(v),
            "iif" => r.iif = Some(v.into()),
            "oif" => r.oif = Some(v.into()),
            "tos" => r.tos = Some(u8::from_str_radix(v.trim_start_matches("0x"), 16).expect("tos")),
            "fwmark" => {
                let (m, k) = match v.split_once('/') {
                    Some((m, k)) => (m, k),
                    None => (v, "0xffffffff"),
                };
                let h = |s: &str| u32::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex");
                r.fwmark = Some((h(m), h(k)));
            }
            "ipproto" => r.ipproto = crate::model::types::proto_number(v),
            "sport" => r.sport = Some(range(v)),
            "dport" => r.dport = Some(range(v)),
            "uidrange" => {
                let (x, y) = v.split_once('-').expect("uidrange");
                r.uidrange = Some((x.parse().expect("uid"), y.parse().expect("uid")));
            }
            "lookup" | "table" => r.action = RuleAction::Table(table_id(v)),
            "goto" => r.action = RuleAction::Goto(v.parse().expect("goto")),
            "nop" => {
                r.action = RuleAction::Nop;
                step = 1;
            }
            "blackhole" => {
                r.action = RuleAction::Blackhole;
                step = 1;
            }
            "unreachable" => {
                r.action = RuleAction::Unreachable;
                step = 1;
            }
            "prohibit" => {
                r.action = RuleAction::Prohibit;
                step = 1;
            }
            "suppress_prefixlength" => r.suppress_prefixlength = Some(v.parse().expect("len")),
            "suppress_ifgroup" => r.suppress_ifgroup = Some(v.into()),
            o => panic!("rule word {o}"),
        }
        i += step;
    }
    r
}

/// A router: lo, eth0 10.0.0.1/24 (gateway 10.0.0.254), eth1 10.1.0.1/24.
fn router() -> B {
    let mut b = B::new();
    b.link("eth0").link("eth1").addr("eth0", "10.0.0.1/24").addr("eth1", "10.1.0.1/24");
    b.route("default via 10.0.0.254 dev eth0");
    b
}

fn out(f: &Fib, dst: &str) -> RouteResult {
    f.route_output(&FlowKey::output(a(dst)))
}
fn inp(f: &Fib, src: &str, dst: &str, iif: &str) -> RouteResult {
    f.route_input(&FlowKey::input(a(src), a(dst), iif))
}
fn unicast(r: &RouteResult) -> (String, Ipv4Addr, Ipv4Addr) {
    match &r.decision {
        Decision::Unicast { dev, nexthop, src, .. } => (dev.clone(), *nexthop, *src),
        d => panic!("expected unicast, got {d:?}\n{:#?}", r.steps),
    }
}
fn errno(r: &RouteResult) -> (&'static str, DropReason) {
    match &r.decision {
        Decision::Fail { errno, reason, .. } => (errno, *reason),
        d => panic!("expected failure, got {d:?}\n{:#?}", r.steps),
    }
}

#[test]
fn longest_prefix_wins_and_backtracks() {
    let mut b = router();
    b.route("10.9.0.0/16 via 10.1.0.2 dev eth1");
    b.route("10.9.9.0/24 via 10.1.0.3 dev eth1");
    let f = b.fib();
    assert_eq!(unicast(&out(&f, "10.9.9.9")).1, a("10.1.0.3"));
    assert_eq!(unicast(&out(&f, "10.9.8.9")).1, a("10.1.0.2"));
    assert_eq!(unicast(&out(&f, "192.0.2.1")).1, a("10.0.0.254"));
    assert_eq!(unicast(&out(&f, "10.1.0.77")).1, a("10.1.0.77"));
    // A dead /24 sends the lookup back to the /16 (backtracking).
    b.down("eth1");
    b.link("eth2").addr("eth2", "10.2.0.1/24");
    b.route("10.9.0.0/16 via 10.2.0.2 dev eth2 metric 5");
    let f = b.fib();
    assert_eq!(unicast(&out(&f, "10.9.9.9")), ("eth2".into(), a("10.2.0.2"), a("10.2.0.1")));
}

#[test]
fn lower_metric_first_then_next_usable_alias() {
    let mut b = router();
    b.route("10.9.0.0/16 via 10.1.0.2 dev eth1 metric 200");
    b.route("10.9.0.0/16 via 10.0.0.2 dev eth0 metric 100");
    let f = b.fib();
    assert_eq!(unicast(&out(&f, "10.9.1.1")).0, "eth0");
    b.nocarrier("eth0");
    // Without carrier the route is LINKDOWN but still used unless ignore_routes_with_linkdown.
    assert_eq!(unicast(&out(&b.fib(), "10.9.1.1")).0, "eth0");
    b.sysctl("net.ipv4.conf.eth0.ignore_routes_with_linkdown", "1");
    assert_eq!(unicast(&out(&b.fib(), "10.9.1.1")).0, "eth1");
}

#[test]
fn tos_route_preferred_only_for_matching_tos() {
    let mut b = router();
    b.route("10.9.0.0/16 tos 0x10 via 10.1.0.2 dev eth1");
    b.route("10.9.0.0/16 via 10.0.0.2 dev eth0");
    let f = b.fib();
    assert_eq!(unicast(&out(&f, "10.9.1.1")).0, "eth0");
    let k = FlowKey { tos: 0x10, ..FlowKey::output(a("10.9.1.1")) };
    assert_eq!(unicast(&f.route_output(&k)).0, "eth1");
}

#[test]
fn fwmark_rule_steers_into_another_table() {
    let mut b = router();
    b.rule("100: from all fwmark 0x1/0x1 lookup 100");
    b.route("default via 10.1.0.254 dev eth1 table 100");
    let f = b.fib();
    assert_eq!(unicast(&out(&f, "192.0.2.1")).0, "eth0");
    let k = FlowKey { mark: 0x3, ..FlowKey::output(a("192.0.2.1")) };
    let r = f.route_output(&k);
    assert_eq!(unicast(&r), ("eth1".into(), a("10.1.0.254"), a("10.1.0.1")));
    assert!(r.steps.iter().any(|s| matches!(&s.kind, StepKind::FibRule { priority: 100, .. })));
    assert!(r.steps.iter().any(|s| matches!(&s.kind, StepKind::Route { table, .. } if table == "100")));
    // Input packets carry the mark too.
    let mut k = FlowKey::input(a("10.0.0.9"), a("192.0.2.1"), "eth0");
    k.mark = 1;
    b.sysctl("net.ipv4.conf.eth0.forwarding", "1");
    assert_eq!(unicast(&b.fib().route_input(&k)).0, "eth1");
}

#[test]
fn from_and_iif_rules() {
    let mut b = router();
    b.sysctl("net.ipv4.ip_forward", "1");
    b.rule("200: from 10.1.0.0/24 lookup 200");
    b.rule("300: iif eth1 lookup 300");
    b.rule("400: iif lo lookup 400");
    b.route("198.51.100.0/24 via 10.1.0.200 dev eth1 table 200");
    b.route("198.51.100.0/24 via 10.1.0.30 dev eth1 table 300");
    b.route("198.51.100.0/24 via 10.0.0.40 dev eth0 table 400");
    let f = b.fib();
    // from: a locally bound source selects the rule.
    let k = FlowKey { src: Some(a("10.1.0.1")), ..FlowKey::output(a("198.51.100.1")) };
    assert_eq!(unicast(&f.route_output(&k)).1, a("10.1.0.200"));
    // iif eth1 for a packet from elsewhere on eth1.
    assert_eq!(unicast(&inp(&f, "10.1.7.7", "198.51.100.1", "eth1")).1, a("10.1.0.30"));
    // Locally generated: iif is lo.
    assert_eq!(unicast(&out(&f, "198.51.100.1")).1, a("10.0.0.40"));
    // Input on eth0 matches neither and uses main.
    assert_eq!(unicast(&inp(&f, "10.0.0.9", "198.51.100.1", "eth0")).1, a("10.0.0.254"));
}

#[test]
fn rule_actions_and_not() {
    let mut b = router();
    b.rule("10: to 192.0.2.1 blackhole");
    b.rule("11: to 192.0.2.2 unreachable");
    b.rule("12: to 192.0.2.3 prohibit");
    b.rule("13: not to 192.0.2.0/24 lookup main");
    b.rule("14: to 192.0.2.4 goto 20");
    b.rule("15: to 192.0.2.4 prohibit");
    b.rule("20: to 192.0.2.4 nop");
    b.rule("21: to 192.0.2.4 lookup 21");
    b.route("192.0.2.4 via 10.1.0.4 dev eth1 table 21");
    let f = b.fib();
    assert_eq!(errno(&out(&f, "192.0.2.1")), ("EINVAL", DropReason::Blackhole));
    assert_eq!(errno(&out(&f, "192.0.2.2")).0, "ENETUNREACH");
    assert_eq!(errno(&out(&f, "192.0.2.3")), ("EACCES", DropReason::Prohibit));
    let r = out(&f, "198.51.100.1");
    assert_eq!(unicast(&r).0, "eth0");
    assert!(r.steps.iter().any(|s| matches!(&s.kind, StepKind::FibRule { priority: 13, .. })));
    // goto skips rule 15, nop continues, rule 21 answers.
    assert_eq!(unicast(&out(&f, "192.0.2.4")).1, a("10.1.0.4"));
    // Input with forwarding on: ICMP codes of ip_error.
    b.sysctl("net.ipv4.ip_forward", "1");
    let f = b.fib();
    let r = inp(&f, "10.0.0.9", "192.0.2.3", "eth0");
    assert_eq!(r.decision, Decision::Fail { reason: DropReason::Prohibit, errno: "EACCES", icmp: Some((3, 13)) });
    let r = inp(&f, "10.0.0.9", "192.0.2.2", "eth0");
    assert_eq!(r.decision, Decision::Fail { reason: DropReason::UnreachableRoute, errno: "ENETUNREACH", icmp: Some((3, 0)) });
    let r = inp(&f, "10.0.0.9", "192.0.2.1", "eth0");
    assert_eq!(r.decision, Decision::Fail { reason: DropReason::Blackhole, errno: "EINVAL", icmp: None });
}

#[test]
fn reject_routes() {
    let mut b = router();
    b.route("blackhole 192.0.2.0/26");
    b.route("unreachable 192.0.2.64/26");
    b.route("prohibit 192.0.2.128/26");
    let f = b.fib();
    assert_eq!(errno(&out(&f, "192.0.2.1")), ("EINVAL", DropReason::Blackhole));
    assert_eq!(errno(&out(&f, "192.0.2.65")), ("EHOSTUNREACH", DropReason::UnreachableRoute));
    assert_eq!(errno(&out(&f, "192.0.2.129")), ("EACCES", DropReason::Prohibit));
    assert_eq!(unicast(&out(&f, "192.0.2.193")).0, "eth0");
    // Forwarding off: no ICMP, and the errno the kernel reports is EHOSTUNREACH.
    let r = inp(&f, "10.0.0.9", "192.0.2.65", "eth0");
    assert_eq!(r.decision, Decision::Fail { reason: DropReason::UnreachableRoute, errno: "EHOSTUNREACH", icmp: None });
    b.sysctl("net.ipv4.ip_forward", "1");
    let r = inp(&b.fib(), "10.0.0.9", "192.0.2.65", "eth0");
    assert_eq!(r.decision, Decision::Fail { reason: DropReason::UnreachableRoute, errno: "EHOSTUNREACH", icmp: Some((3, 1)) });
}

#[test]
fn throw_continues_with_next_rule() {
    let mut b = router();
    b.rule("100: lookup 100");
    b.route("default via 10.1.0.254 dev eth1 table 100");
    b.route("throw 192.0.2.0/24 table 100");
    let f = b.fib();
    assert_eq!(unicast(&out(&f, "198.51.100.1")).0, "eth1");
    let r = out(&f, "192.0.2.1");
    assert_eq!(unicast(&r).0, "eth0");
    assert!(r.steps.iter().any(|s| matches!(&s.kind, StepKind::Route { result, .. } if result.starts_with("throw"))));
}

#[test]
fn suppress_prefixlength_skips_default_route() {
    let mut b = router();
    b.rule("100: lookup main suppress_prefixlength 0");
    b.rule("101: lookup 101");
    b.route("default via 10.1.0.254 dev eth1 table 101");
    let f = b.fib();
    // The default route of main is suppressed; more specific routes are not.
    assert_eq!(unicast(&out(&f, "198.51.100.1")).0, "eth1");
    assert_eq!(unicast(&out(&f, "10.0.0.7")).0, "eth0");
}

#[test]
fn no_rule_result_is_enetunreach() {
    let mut b = router();
    b.ns.rules = vec![parse_rule("0: lookup local"), parse_rule("100: from 10.7.0.0/16 lookup main")];
    let f = b.fib();
    assert_eq!(errno(&out(&f, "198.51.100.1")), ("ENETUNREACH", DropReason::NoRoute));
    let mut b = B::new();
    b.link("eth0").addr("eth0", "10.0.0.1/24");
    assert_eq!(errno(&out(&b.fib(), "198.51.100.1")), ("ENETUNREACH", DropReason::NoRoute));
}

#[test]
fn uidrange_unknown_uid_is_indeterminate() {
    let mut b = router();
    b.rule("100: uidrange 1000-2000 lookup 100");
    let f = b.fib();
    let k = FlowKey { uid: None, ..FlowKey::output(a("198.51.100.1")) };
    assert!(matches!(f.route_output(&k).decision, Decision::Indeterminate { .. }));
    assert_eq!(unicast(&out(&f, "198.51.100.1")).0, "eth0");
}

#[test]
fn source_selection() {
    let mut b = B::new();
    b.link("eth0").link("eth1").link("cali0");
    b.addr("eth0", "10.0.0.1/24").addr("eth0", "10.0.5.1/24");
    b.addr_flags("eth0", "10.0.0.2/24", true);
    b.addr("eth1", "198.51.100.1/24");
    b.route("default via 10.0.5.254 dev eth0");
    b.route("203.0.113.0/24 via 10.0.0.254 dev eth0 src 10.0.5.1");
    b.route("192.0.2.0/24 dev cali0 scope link");
    let f = b.fib();
    // Prefer the address whose subnet holds the gateway.
    assert_eq!(unicast(&out(&f, "8.8.8.8")).2, a("10.0.5.1"));
    // The route's src wins.
    assert_eq!(unicast(&out(&f, "203.0.113.9")).2, a("10.0.5.1"));
    // On-link destination: the address whose subnet contains it.
    assert_eq!(unicast(&out(&f, "10.0.0.9")).2, a("10.0.0.1"));
    // A device without addresses: the first global address in device order.
    assert_eq!(unicast(&out(&f, "192.0.2.7")).2, a("10.0.0.1"));
    assert_eq!(f.inet_select_addr("cali0", a("192.0.2.7"), Scope::Universe), Some(a("10.0.0.1")));
    assert_eq!(f.inet_select_addr("eth0", a("10.0.5.254"), Scope::Universe), Some(a("10.0.5.1")));
    // A bound source that is not local fails; a local one is kept.
    let k = FlowKey { src: Some(a("10.0.0.99")), ..FlowKey::output(a("8.8.8.8")) };
    assert_eq!(errno(&f.route_output(&k)).0, "ENETUNREACH");
    let k = FlowKey { src: Some(a("198.51.100.1")), ..FlowKey::output(a("8.8.8.8")) };
    assert_eq!(unicast(&f.route_output(&k)), ("eth0".into(), a("10.0.5.254"), a("198.51.100.1")));
    let k = FlowKey { src: Some(a("10.0.0.99")), anysrc: true, ..FlowKey::output(a("8.8.8.8")) };
    assert_eq!(unicast(&f.route_output(&k)).2, a("10.0.0.99"));
}

#[test]
fn local_destinations_go_via_lo() {
    let f = router().fib();
    let r = out(&f, "10.1.0.1");
    assert_eq!(r.decision, Decision::Local { src: a("10.1.0.1") });
    assert_eq!(r.dev.as_deref(), Some("lo"));
    assert_eq!(out(&f, "127.0.0.5").decision, Decision::Local { src: a("127.0.0.1") });
    // Weak host model: an address of eth1 is local on eth0.
    assert_eq!(inp(&f, "10.0.0.9", "10.1.0.1", "eth0").decision, Decision::Local { src: a("10.0.0.9") });
    assert_eq!(inp(&f, "10.0.0.9", "10.0.0.255", "eth0").decision, Decision::Broadcast);
    assert_eq!(inp(&f, "0.0.0.0", "255.255.255.255", "eth0").decision, Decision::Broadcast);
    assert!(matches!(inp(&f, "10.0.0.9", "224.0.0.251", "eth0").decision, Decision::Indeterminate { .. }));
}

#[test]
fn oif_without_route_assumes_on_link() {
    let mut b = B::new();
    b.link("eth0").addr("eth0", "10.0.0.1/24");
    let f = b.fib();
    let k = FlowKey { oif: Some("eth0".into()), ..FlowKey::output(a("198.51.100.1")) };
    assert_eq!(unicast(&f.route_output(&k)), ("eth0".into(), a("198.51.100.1"), a("10.0.0.1")));
    assert_eq!(errno(&out(&f, "198.51.100.1")).0, "ENETUNREACH");
}

#[test]
fn forwarding_per_device() {
    let mut b = router();
    let f = b.fib();
    let r = inp(&f, "10.0.0.9", "10.1.0.9", "eth0");
    assert_eq!(r.decision, Decision::Fail { reason: DropReason::ForwardingDisabled, errno: "EHOSTUNREACH", icmp: None });
    assert!(r.steps.iter().any(|s| matches!(&s.kind, StepKind::Note { text } if text.contains("not in snapshot"))));
    b.sysctl("net.ipv4.ip_forward", "1");
    assert_eq!(unicast(&inp(&b.fib(), "10.0.0.9", "10.1.0.9", "eth0")).0, "eth1");
    // A later per-device write wins over the global one; only the input device counts.
    b.sysctl("net.ipv4.conf.eth0.forwarding", "0").sysctl("net.ipv4.conf.eth1.forwarding", "1");
    let f = b.fib();
    assert_eq!(errno(&inp(&f, "10.0.0.9", "10.1.0.9", "eth0")).1, DropReason::ForwardingDisabled);
    assert_eq!(unicast(&inp(&f, "10.1.0.9", "10.0.0.9", "eth1")).0, "eth0");
}

#[test]
fn martians() {
    let mut b = router();
    b.sysctl("net.ipv4.ip_forward", "1");
    let f = b.fib();
    for (s, d) in [("224.0.0.5", "10.1.0.9"), ("255.255.255.255", "10.1.0.9"), ("10.0.0.9", "0.0.0.0")] {
        assert_eq!(errno(&inp(&f, s, d, "eth0")), ("EINVAL", DropReason::Martian), "{s} -> {d}");
    }
    // 0.0.0.0/8 other than 0.0.0.0 is ordinary unicast since Linux 5.3.
    assert_eq!(unicast(&inp(&f, "0.1.2.3", "10.1.0.9", "eth0")).0, "eth1");
    assert_eq!(unicast(&inp(&f, "10.0.0.9", "0.1.0.1", "eth0")).0, "eth0");
    assert_eq!(errno(&inp(&f, "10.0.0.9", "127.0.0.1", "eth0")).1, DropReason::Martian);
    assert_eq!(errno(&inp(&f, "127.0.0.1", "10.1.0.1", "eth0")).1, DropReason::Martian);
    b.sysctl("net.ipv4.conf.eth0.route_localnet", "1");
    let f = b.fib();
    assert_eq!(inp(&f, "10.0.0.9", "127.0.0.1", "eth0").decision, Decision::Local { src: a("10.0.0.9") });
    // A source that is one of our own addresses (fast path, rp_filter 0).
    assert_eq!(errno(&inp(&f, "10.1.0.1", "10.0.0.1", "eth0")), ("EINVAL", DropReason::Martian));
    b.sysctl("net.ipv4.conf.eth0.accept_local", "1");
    assert!(matches!(inp(&b.fib(), "10.1.0.1", "10.0.0.1", "eth0").decision, Decision::Local { .. }));
}

/// Router with an asymmetric path: 10.2.0.0/16 arrives on eth0 but routes back via eth1.
fn asym() -> B {
    let mut b = router();
    b.sysctl("net.ipv4.ip_forward", "1");
    b.route("10.2.0.0/16 via 10.1.0.254 dev eth1");
    b
}

#[test]
fn rp_filter_strict_loose_off() {
    let mut b = asym();
    b.sysctl("net.ipv4.conf.all.rp_filter", "1");
    let f = b.fib();
    assert_eq!(errno(&inp(&f, "10.2.0.5", "10.0.0.1", "eth0")), ("EXDEV", DropReason::RpFilter));
    assert_eq!(errno(&inp(&f, "10.2.0.5", "10.1.0.9", "eth0")).1, DropReason::RpFilter);
    assert!(matches!(inp(&f, "10.0.0.5", "10.0.0.1", "eth0").decision, Decision::Local { .. }));
    // max(all, dev): all=1 and dev=2 gives loose.
    b.sysctl("net.ipv4.conf.eth0.rp_filter", "2");
    let f = b.fib();
    assert!(matches!(inp(&f, "10.2.0.5", "10.0.0.1", "eth0").decision, Decision::Local { .. }));
    // Loose still drops when there is no route back at all.
    b.ns.routes.retain(|r| r.dst.prefix_len() != 0);
    assert_eq!(errno(&inp(&b.fib(), "198.51.100.5", "10.0.0.1", "eth0")).1, DropReason::RpFilter);
    // Off: accepted.
    let mut b = asym();
    b.sysctl("net.ipv4.conf.all.rp_filter", "0").sysctl("net.ipv4.conf.eth0.rp_filter", "0");
    assert!(matches!(inp(&b.fib(), "10.2.0.5", "10.0.0.1", "eth0").decision, Decision::Local { .. }));
}

#[test]
fn rp_filter_no_address_on_input_device() {
    let mut b = router();
    b.sysctl("net.ipv4.ip_forward", "1");
    b.link("cali1");
    b.route("10.5.0.0/16 via 10.1.0.254 dev eth1");
    for rp in ["1", "2"] {
        b.sysctl("net.ipv4.conf.cali1.rp_filter", rp);
        let r = inp(&b.fib(), "10.5.0.7", "198.51.100.1", "cali1");
        assert_eq!(errno(&r).1, DropReason::RpFilter, "rp_filter={rp}");
    }
    b.route("10.5.0.7 dev cali1 scope link");
    assert_eq!(unicast(&inp(&b.fib(), "10.5.0.7", "198.51.100.1", "cali1")).0, "eth0");
}

#[test]
fn rp_filter_zero_full_check_on_hairpin() {
    // rp_filter 0, but the packet goes back out its input device with send_redirects on: the
    // full check runs. A route back of type local or broadcast is a martian source even with
    // rp_filter 0; a failed reverse lookup (blackhole included) is accepted with rp_filter 0.
    let mut b = router();
    b.sysctl("net.ipv4.ip_forward", "1");
    b.route("blackhole 10.0.0.128/25");
    b.rule("100: iif eth0 lookup 100");
    b.route("10.0.0.0/24 via 10.1.0.254 dev eth1 table 100");
    let f = b.fib();
    // 10.0.0.1 is ours: the reverse lookup finds the local route (custom rules disable the fast
    // path, so this is the full check).
    assert_eq!(errno(&inp(&f, "10.0.0.1", "10.0.0.9", "eth0")), ("EINVAL", DropReason::Martian));
    // The reverse lookup runs with iif = the forward output device: here `iif eth0` steers it
    // out eth1, which is where the packet came from, so strict mode accepts.
    b.sysctl("net.ipv4.conf.eth1.rp_filter", "1");
    assert_eq!(unicast(&b.fib().route_input(&FlowKey::input(a("10.0.0.200"), a("10.0.0.9"), "eth1"))).0, "eth0");
    // Without the rule the route back is the blackhole: the lookup fails, so rp_filter 1 drops
    // (EXDEV) and rp_filter 0 accepts even on the full-check (hairpin) path.
    let mut b = router();
    b.sysctl("net.ipv4.ip_forward", "1");
    b.route("blackhole 10.0.0.128/25");
    assert_eq!(unicast(&inp(&b.fib(), "10.0.0.200", "10.0.0.9", "eth0")).0, "eth0");
    assert_eq!(errno(&inp(&b.fib(), "10.0.0.255", "10.0.0.9", "eth0")), ("EINVAL", DropReason::Martian));
    b.sysctl("net.ipv4.conf.eth0.rp_filter", "1");
    assert_eq!(errno(&inp(&b.fib(), "10.0.0.200", "10.0.0.9", "eth0")), ("EXDEV", DropReason::RpFilter));
}

#[test]
fn src_valid_mark_in_reverse_lookup() {
    let mut b = asym();
    b.sysctl("net.ipv4.conf.all.rp_filter", "1");
    b.rule("100: fwmark 0x7 lookup 100");
    b.route("10.2.0.0/16 via 10.0.0.254 dev eth0 table 100");
    let mut k = FlowKey::input(a("10.2.0.5"), a("10.0.0.1"), "eth0");
    k.mark = 7;
    assert_eq!(errno(&b.fib().route_input(&k)).1, DropReason::RpFilter);
    b.sysctl("net.ipv4.conf.all.src_valid_mark", "1");
    assert!(matches!(b.fib().route_input(&k).decision, Decision::Local { .. }));
}

#[test]
fn multipath_enumerates_weights() {
    let mut b = router();
    b.link("eth2").addr("eth2", "10.2.0.1/24");
    b.route("198.51.100.0/24 nexthop via 10.1.0.2 dev eth1 weight 1 nexthop via 10.2.0.2 dev eth2 weight 3");
    let f = b.fib();
    let r = out(&f, "198.51.100.1");
    assert_eq!(r.branches.len(), 2);
    assert!((r.branches[0].probability - 0.25).abs() < 1e-6);
    assert!((r.branches[1].probability - 0.75).abs() < 1e-6);
    assert_eq!(r.branches[1].decision, Decision::Unicast { dev: "eth2".into(), nexthop: a("10.2.0.2"), gateway: Some(a("10.2.0.2")), src: a("10.2.0.1") });
    assert!(r.steps.iter().any(|s| matches!(&s.kind, StepKind::Note { text } if text.contains("multipath"))));
    // A bound source that is one nexthop's source pins the flow there (6.16+ scoring).
    let r = f.route_output(&FlowKey { src: Some(a("10.1.0.1")), ..FlowKey::output(a("198.51.100.1")) });
    assert_eq!(r.branches.len(), 1);
    assert_eq!(unicast(&r).0, "eth1");
    // A dead nexthop gets no share.
    b.down("eth2");
    let r = out(&b.fib(), "198.51.100.1");
    assert_eq!(r.branches.len(), 1);
    assert!((r.branches[0].probability - 1.0).abs() < 1e-9);
}

#[test]
fn addr_type_sees_local_table_merged_with_main() {
    let mut b = router();
    b.route("blackhole 10.244.2.0/26 proto bird");
    b.route("local 10.5.0.0/16 dev lo table main");
    let f = b.fib();
    assert_eq!(f.addr_type(a("10.1.0.1"), None), RouteType::Local);
    assert_eq!(f.addr_type(a("10.1.0.1"), Some("eth1")), RouteType::Local);
    assert_eq!(f.addr_type(a("10.1.0.1"), Some("eth0")), RouteType::Unicast);
    assert_eq!(f.addr_type(a("10.0.0.255"), None), RouteType::Broadcast);
    assert_eq!(f.addr_type(a("0.0.0.0"), None), RouteType::Broadcast);
    assert_eq!(f.addr_type(a("224.0.0.1"), None), RouteType::Multicast);
    // A reject route makes the lookup fail: UNICAST (__inet_dev_addr_type).
    assert_eq!(f.addr_type(a("10.244.2.1"), None), RouteType::Unicast);
    // Merged: main's local route is seen; after a custom rule it is not.
    assert_eq!(f.addr_type(a("10.5.1.1"), None), RouteType::Local);
    b.rule("100: fwmark 0x9 lookup 100");
    assert_eq!(b.fib().addr_type(a("10.5.1.1"), None), RouteType::Unicast);
    assert!(f.is_local(a("10.0.0.1")) && f.is_local(a("127.0.0.9")) && !f.is_local(a("10.0.0.2")));
}

#[test]
fn onlink_gateway_check() {
    // Incident 3: tunl0 holds 10.244.2.0/32, so flannel's `via 10.244.2.0 onlink` is refused.
    let mut b = router();
    b.link("flannel.1").link("tunl0");
    b.addr("tunl0", "10.244.2.0/32");
    b.route("blackhole 10.244.1.0/26 proto bird");
    let f = b.fib();
    let e = f.check_nh_v4_gw(RT_TABLE_MAIN, a("10.244.2.0"), Some("flannel.1"), true, Scope::Universe);
    assert_eq!(e, Err(GwError { errno: "EINVAL", message: "Nexthop has invalid gateway" }));
    assert_eq!(f.check_nh_v4_gw(RT_TABLE_MAIN, a("10.244.1.0"), Some("flannel.1"), true, Scope::Universe), Ok(()));
    assert_eq!(f.check_nh_v4_gw(RT_TABLE_MAIN, a("10.244.3.0"), Some("flannel.1"), true, Scope::Universe), Ok(()));
    // Without onlink the gateway needs a link-scope route.
    assert!(f.check_nh_v4_gw(RT_TABLE_MAIN, a("10.244.3.0"), Some("flannel.1"), false, Scope::Universe).is_err());
    assert_eq!(f.check_nh_v4_gw(RT_TABLE_MAIN, a("10.1.0.9"), Some("eth1"), false, Scope::Universe), Ok(()));
    b.down("flannel.1");
    assert_eq!(b.fib().check_nh_v4_gw(RT_TABLE_MAIN, a("10.244.3.0"), Some("flannel.1"), true, Scope::Universe).map_err(|e| e.errno), Err("ENETDOWN"));
}

#[test]
fn trace_prints_routes_and_rules_like_ip() {
    let mut b = router();
    b.rule("100: from all fwmark 0x1/0x1 lookup 100");
    b.route("default via 10.1.0.254 dev eth1 table 100 metric 5");
    let r = b.fib().route_output(&FlowKey { mark: 1, ..FlowKey::output(a("192.0.2.1")) });
    let texts: Vec<String> = r.steps.iter().map(|s| format!("{:?}", s.kind)).collect();
    assert!(texts.iter().any(|t| t.contains("from all fwmark 0x1/0x1 lookup 100")), "{texts:?}");
    assert_eq!(r.route.as_deref(), Some("default via 10.1.0.254 dev eth1 table 100 metric 5"));
    assert_eq!(
        route_text(&parse_route("10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.1")),
        "10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.1"
    );
}

/// A Calico-like node: 100 workload veths with /32 routes, IPIP routes to 50 other nodes'
/// blocks, blackholes for the local blocks, kube-proxy style fwmark rules. One forward input
/// lookup plus one output lookup (a bidirectional trace does a few of these) must stay far under
/// the engine's 5 µs budget; the budget is asserted in release builds, where it means something.
#[test]
fn lookup_cost_on_a_large_node() {
    let mut b = B::new();
    b.link("eth0").addr("eth0", "192.168.86.188/24");
    b.route("default via 192.168.86.1 dev eth0 proto dhcp src 192.168.86.188 metric 100");
    b.link("tunl0").addr("tunl0", "10.244.0.1/32");
    for i in 0..100u32 {
        let dev = format!("cali{i:04}");
        b.link(&dev);
        b.route(&format!("10.244.0.{} dev {dev} scope link", i + 2));
    }
    for n in 1..=50u32 {
        b.route(&format!("10.244.{n}.0/24 via 192.168.86.{} dev tunl0 proto bird onlink", n + 1));
    }
    b.route("blackhole 10.244.0.0/24 proto bird");
    b.rule("100: fwmark 0x4000/0x4000 lookup main");
    b.rule("200: from 10.244.0.0/24 lookup main");
    b.sysctl("net.ipv4.ip_forward", "1").sysctl("net.ipv4.conf.all.rp_filter", "1");
    let f = b.fib();
    let fwd = FlowKey { proto: 6, sport: 40000, dport: 80, ..FlowKey::input(a("10.244.0.50"), a("10.244.7.9"), "cali0048") };
    let outk = FlowKey { proto: 6, dport: 9090, ..FlowKey::output(a("10.244.0.77")) };
    assert_eq!(unicast(&f.route_input(&fwd)).0, "tunl0");
    assert_eq!(unicast(&f.route_output(&outk)).0, "cali0075");
    // Speed is measured by the criterion bench (benches/), not here: a quiet lookup must give the
    // same decision without building trace steps.
    let (qf, qo) = (FlowKey { quiet: true, ..fwd.clone() }, FlowKey { quiet: true, ..outk.clone() });
    assert_eq!(f.route_input(&qf).decision, f.route_input(&fwd).decision);
    assert_eq!(f.route_output(&qo).decision, f.route_output(&outk).decision);
    assert!(f.route_input(&qf).steps.is_empty() && !f.route_input(&fwd).steps.is_empty());
}

#[test]
fn rpfilter_match() {
    let mut b = asym();
    b.route("blackhole 10.9.0.0/16");
    let f = b.fib();
    // Strict: the route back to 10.2.0.5 leaves eth1, not eth0.
    assert_eq!(f.rpfilter(a("10.2.0.5"), a("10.0.0.1"), "eth0", 0, false, false), Some(false));
    assert_eq!(f.rpfilter(a("10.2.0.5"), a("10.0.0.1"), "eth1", 0, false, false), Some(true));
    assert_eq!(f.rpfilter(a("10.2.0.5"), a("10.0.0.1"), "eth0", 0, true, false), Some(true));
    // Reject routes and local sources.
    assert_eq!(f.rpfilter(a("10.9.0.5"), a("10.0.0.1"), "eth0", 0, true, false), Some(false));
    assert_eq!(f.rpfilter(a("10.1.0.1"), a("10.0.0.1"), "eth0", 0, true, false), Some(false));
    assert_eq!(f.rpfilter(a("10.1.0.1"), a("10.0.0.1"), "eth0", 0, true, true), Some(true));
    // Loopback input and DHCP-style 0.0.0.0 -> broadcast always match.
    assert_eq!(f.rpfilter(a("10.2.0.5"), a("10.0.0.1"), "lo", 0, false, false), Some(true));
    assert_eq!(f.rpfilter(a("0.0.0.0"), a("255.255.255.255"), "eth0", 0, false, false), Some(true));
}

#[test]
fn fib_is_shareable_across_threads() {
    fn shareable<T: Send + Sync>(_: &T) {}
    let f = router().fib();
    shareable(&f);
    let r = std::thread::scope(|s| s.spawn(|| out(&f, "10.1.0.9")).join().expect("thread"));
    assert_eq!(unicast(&r).0, "eth1");
}

#[test]
fn unknown_devices_are_reported_not_guessed() {
    let mut b = router();
    b.route("10.9.0.0/16 via 10.1.0.2 dev ghost0");
    let f = b.fib();
    assert_eq!(f.issues().len(), 1, "{:?}", f.issues());
    assert!(matches!(out(&f, "10.9.1.1").decision, Decision::Indeterminate { .. }));
    assert_eq!(unicast(&out(&f, "10.8.1.1")).0, "eth0");
}

#[test]
fn redirect_flag_on_hairpin_forwarding() {
    let mut b = router();
    b.sysctl("net.ipv4.ip_forward", "1");
    b.route("10.7.0.0/16 via 10.0.0.254 dev eth0");
    let f = b.fib();
    // On-link source, out the input device: IPSKB_DOREDIRECT.
    let r = inp(&f, "10.0.0.9", "10.7.1.1", "eth0");
    assert_eq!(unicast(&r).0, "eth0");
    assert!(r.redirect);
    assert!(!inp(&f, "10.0.0.9", "10.1.0.9", "eth0").redirect);
    b.sysctl("net.ipv4.conf.all.send_redirects", "0").sysctl("net.ipv4.conf.eth0.send_redirects", "0");
    assert!(!inp(&b.fib(), "10.0.0.9", "10.7.1.1", "eth0").redirect);
}
