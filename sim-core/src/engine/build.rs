//! Hand-built worlds: namespaces, veth pairs, addresses, routes, sysctls and iptables rules from
//! one description, yielding both the model (`Namespace`s, `VethLink`s) and the commands that
//! create the same thing in real network namespaces (`ip`, `sysctl`, `iptables-restore` input).
//! Kernel conformance tests use it so that the model and the kernel cannot drift apart; what-if
//! callers can use it to add state by hand.
//!
//! It mirrors what the kernel itself adds when an address is configured
//! (`fib_frontend.c:fib_add_ifaddr`: the local /32 in table local, the prefix route in main).

use crate::engine::VethLink;
use crate::model::addr::Addr;
use crate::model::link::{Link, LinkKind};
use crate::model::route::{NextHop, Route, RouteType, RT_TABLE_LOCAL, RT_TABLE_MAIN};
use crate::model::rule::{FibRule, RuleAction};
use crate::model::ruleset::*;
use crate::model::socket::Socket;
use crate::model::types::{AddrMask, IfName, Mac, Neg, PortRange, Scope};
use crate::model::Namespace;
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

fn net(s: &str) -> Ipv4Net {
    if s == "default" {
        return Ipv4Net::default();
    }
    if s.contains('/') {
        s.parse().unwrap_or_else(|_| panic!("bad prefix {s}"))
    } else {
        Ipv4Net::new(s.parse().unwrap_or_else(|_| panic!("bad address {s}")), 32).expect("32 is a valid prefix")
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap_or_else(|_| panic!("bad address {s}"))
}

fn addrmask(s: &str) -> AddrMask {
    let n = net(s);
    AddrMask::from_prefix(n.addr(), n.prefix_len())
}

/// One iptables rule, built as typed fields and as the text `iptables-save` would print.
#[derive(Clone, Debug)]
pub struct R {
    words: Vec<String>,
    rule: Rule,
}

impl Default for R {
    fn default() -> Self {
        R::new()
    }
}

impl R {
    pub fn new() -> R {
        R {
            words: Vec::new(),
            rule: Rule {
                line: 0,
                text: TextRef::default(),
                counters: None,
                base: BaseMatch::default(),
                matches: Vec::new(),
                target: Target::None,
                unreadable: None,
            },
        }
    }
    fn w(mut self, s: &str) -> R {
        self.words.push(s.to_string());
        self
    }
    pub fn s(mut self, cidr: &str) -> R {
        self.rule.base.src = Some(Neg::pos(addrmask(cidr)));
        self.w(&format!("-s {}", addrmask(cidr)))
    }
    pub fn not_s(mut self, cidr: &str) -> R {
        self.rule.base.src = Some(Neg::new(true, addrmask(cidr)));
        self.w(&format!("! -s {}", addrmask(cidr)))
    }
    pub fn d(mut self, cidr: &str) -> R {
        self.rule.base.dst = Some(Neg::pos(addrmask(cidr)));
        self.w(&format!("-d {}", addrmask(cidr)))
    }
    pub fn not_d(mut self, cidr: &str) -> R {
        self.rule.base.dst = Some(Neg::new(true, addrmask(cidr)));
        self.w(&format!("! -d {}", addrmask(cidr)))
    }
    pub fn i(mut self, dev: &str) -> R {
        self.rule.base.in_iface = Some(Box::new(Neg::pos(IfName::parse(dev))));
        self.w(&format!("-i {dev}"))
    }
    pub fn o(mut self, dev: &str) -> R {
        self.rule.base.out_iface = Some(Box::new(Neg::pos(IfName::parse(dev))));
        self.w(&format!("-o {dev}"))
    }
    pub fn not_o(mut self, dev: &str) -> R {
        self.rule.base.out_iface = Some(Box::new(Neg::new(true, IfName::parse(dev))));
        self.w(&format!("! -o {dev}"))
    }
    pub fn p(mut self, proto: &str) -> R {
        let n = crate::model::types::proto_number(proto).unwrap_or_else(|| panic!("bad protocol {proto}"));
        self.rule.base.proto = Some(Neg::pos(n));
        self.w(&format!("-p {proto}"))
    }
    fn proto(&self) -> u8 {
        self.rule.base.proto.as_ref().map(|p| p.val).expect("-p before a port match")
    }
    /// `-m tcp --dport N` or `-m udp --dport N`, after `p`.
    pub fn dport(mut self, port: u16) -> R {
        let pr = PortRange::single(port);
        match self.proto() {
            6 => self.rule.matches.push(Match::Tcp(TcpMatch { dport: Some(Neg::pos(pr)), ..Default::default() })),
            17 => self.rule.matches.push(Match::Udp(UdpMatch { dport: Some(Neg::pos(pr)), ..Default::default() })),
            p => panic!("--dport with protocol {p}"),
        }
        let name = crate::model::types::proto_name(self.proto()).unwrap_or("tcp");
        self.w(&format!("-m {name} --dport {port}"))
    }
    pub fn syn(mut self) -> R {
        use crate::model::ruleset::tcp_flags as f;
        self.rule.matches.push(Match::Tcp(TcpMatch { flags: Some(Neg::pos((f::FIN | f::SYN | f::RST | f::ACK, f::SYN))), ..Default::default() }));
        self.w("-m tcp --tcp-flags FIN,SYN,RST,ACK SYN")
    }
    pub fn ctstate(mut self, states: &[&str]) -> R {
        let mut bits = 0;
        for s in states {
            bits |= ctstate::NAMES.iter().find(|(n, _)| n == s).unwrap_or_else(|| panic!("bad state {s}")).1;
        }
        self.rule.matches.push(Match::Conntrack(ConntrackMatch { options: vec![CtOption::State(Neg::pos(bits))] }));
        self.w(&format!("-m conntrack --ctstate {}", states.join(",")))
    }
    pub fn mark(mut self, value: u32, mask: u32) -> R {
        self.rule.matches.push(Match::Mark(MarkMatch { neg: false, value, mask }));
        self.w(&format!("-m mark --mark 0x{value:x}/0x{mask:x}"))
    }
    pub fn comment(mut self, c: &str) -> R {
        self.rule.matches.push(Match::Comment(c.to_string()));
        self.w(&format!("-m comment --comment \"{c}\""))
    }
    /// `-m statistic --mode random --probability p`, stored as the kernel does.
    pub fn probability(mut self, p: f64) -> R {
        let threshold = (p * 2_147_483_648.0).round() as u32;
        self.rule.matches.push(Match::Statistic(StatisticMatch { neg: false, mode: StatisticMode::Random { threshold } }));
        self.w(&format!("-m statistic --mode random --probability {p:.11}"))
    }
    pub fn dst_type(mut self, t: &str) -> R {
        let bit = addrtype::NAMES.iter().find(|(n, _)| *n == t).unwrap_or_else(|| panic!("bad type {t}")).1;
        self.rule.matches.push(Match::Addrtype(AddrtypeMatch { dst_type: Some(Neg::pos(bit)), ..Default::default() }));
        self.w(&format!("-m addrtype --dst-type {t}"))
    }
    /// Any match, with its text as iptables-save prints it.
    pub fn m(mut self, text: &str, m: Match) -> R {
        self.rule.matches.push(m);
        self.w(text)
    }
    pub fn j(mut self, target: &str) -> R {
        self.rule.target = match target {
            "ACCEPT" => Target::Accept,
            "DROP" => Target::Drop,
            "RETURN" => Target::Return,
            c => Target::Jump(c.into()),
        };
        self.w(&format!("-j {target}"))
    }
    pub fn goto(mut self, chain: &str) -> R {
        self.rule.target = Target::Goto(chain.into());
        self.w(&format!("-g {chain}"))
    }
    pub fn reject(mut self, with: RejectWith) -> R {
        self.rule.target = Target::Reject(with);
        self.w(&format!("-j REJECT --reject-with {}", with.as_str()))
    }
    fn nat_range(to: &str) -> NatRange {
        let (ipp, ports) = match to.rsplit_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (to, None),
        };
        let ports = ports.map(|p| match p.split_once('-') {
            Some((a, b)) => PortRange { lo: a.parse().expect("port"), hi: b.parse().expect("port") },
            None => PortRange::single(p.parse().expect("port")),
        });
        let (min_ip, max_ip) = if ipp.is_empty() {
            (None, None)
        } else {
            match ipp.split_once('-') {
                Some((a, b)) => (Some(ip(a)), Some(ip(b))),
                None => (Some(ip(ipp)), Some(ip(ipp))),
            }
        };
        NatRange { min_ip, max_ip, ports, base_port: None }
    }
    pub fn dnat(mut self, to: &str) -> R {
        self.rule.target = Target::Dnat(Box::new(NatTarget { ranges: vec![Self::nat_range(to)], ..Default::default() }));
        self.w(&format!("-j DNAT --to-destination {to}"))
    }
    pub fn snat(mut self, to: &str) -> R {
        self.rule.target = Target::Snat(Box::new(NatTarget { ranges: vec![Self::nat_range(to)], ..Default::default() }));
        self.w(&format!("-j SNAT --to-source {to}"))
    }
    pub fn masquerade(mut self, random_fully: bool) -> R {
        self.rule.target = Target::Masquerade(MasqTarget { random_fully, ..Default::default() });
        self.w(if random_fully { "-j MASQUERADE --random-fully" } else { "-j MASQUERADE" })
    }
    pub fn redirect(mut self, port: u16) -> R {
        self.rule.target = Target::Redirect(MasqTarget { ports: Some(PortRange::single(port)), ..Default::default() });
        self.w(&format!("-j REDIRECT --to-ports {port}"))
    }
    pub fn set_xmark(mut self, value: u32, mask: u32) -> R {
        self.rule.target = Target::Mark(MarkOp::SetXmark { value, mask });
        self.w(&format!("-j MARK --set-xmark 0x{value:x}/0x{mask:x}"))
    }
    pub fn or_mark(mut self, bits: u32) -> R {
        self.rule.target = Target::Mark(MarkOp::OrMark(bits));
        self.w(&format!("-j MARK --set-xmark 0x{bits:x}/0x{bits:x}"))
    }
    pub fn xor_mark(mut self, bits: u32) -> R {
        self.rule.target = Target::Mark(MarkOp::XorMark(bits));
        self.w(&format!("-j MARK --set-xmark 0x{bits:x}/0x0"))
    }
    pub fn notrack(mut self) -> R {
        self.rule.target = Target::Ct(Box::new(CtTarget { notrack: true, ..Default::default() }));
        self.w("-j CT --notrack")
    }
    pub fn log(mut self) -> R {
        self.rule.target = Target::Log(Box::default());
        self.w("-j LOG")
    }
}

/// A table's chains as given: name, policy (built-in chains), rules.
type ChainSpecs = Vec<(String, Option<Policy>, Vec<R>)>;

/// One namespace under construction.
#[derive(Clone, Debug)]
pub struct NsB {
    pub ns: Namespace,
    /// table -> chain -> (policy, rules)
    tables: BTreeMap<TableName, ChainSpecs>,
    /// (table, chain) -> position in `tables[table]`.
    chain_pos: std::collections::HashMap<(TableName, String), usize>,
    /// Kernel commands (arguments after `ip -n NS` are written with `{ns}` for the netns name).
    pub cmds: Vec<String>,
    next_ifindex: u32,
}

impl NsB {
    pub fn new(name: &str) -> NsB {
        // Nothing listens unless `listen` says so (kernel tests start exactly those listeners).
        let mut ns = Namespace { name: name.to_string(), rules: FibRule::defaults(), sockets: Some(Vec::new()), ..Default::default() };
        ns.links.push(Link {
            ifindex: 1,
            name: "lo".into(),
            kind: LinkKind::Loopback,
            mtu: 65536,
            mac: Some(Mac::default()),
            up: true,
            lower_up: true,
            noarp: true,
            promisc: false,
            master: None,
            link_ifindex: None,
            link_name: None,
            link_netnsid: None,
            brport: None,
            group: None,
        });
        let mut b = NsB { ns, tables: BTreeMap::new(), chain_pos: Default::default(), cmds: vec!["ip -n {ns} link set lo up".into()], next_ifindex: 2 };
        b.add_addr_model("lo", "127.0.0.1/8", Scope::Host);
        b
    }

    fn add_addr_model(&mut self, dev: &str, cidr: &str, scope: Scope) {
        let n = net(cidr);
        let ifindex = self.ns.link(dev).map_or(0, |l| l.ifindex);
        self.ns.addrs.push(Addr {
            ifname: dev.into(),
            ifindex,
            local: n.addr(),
            prefix_len: n.prefix_len(),
            peer: None,
            broadcast: None,
            scope,
            secondary: self.ns.addrs.iter().any(|a| a.ifname == dev && Ipv4Net::new(a.local, a.prefix_len).map(|x| x.contains(&n.addr())).unwrap_or(false)),
            noprefixroute: false,
            label: None,
        });
        // `fib_add_ifaddr`: the local route, and the prefix route unless /32 (host scope for lo).
        let local_dst = if dev == "lo" { n.trunc() } else { Ipv4Net::new(n.addr(), 32).expect("32") };
        self.ns.routes.push(Route {
            table: RT_TABLE_LOCAL,
            rtype: RouteType::Local,
            dst: local_dst,
            tos: 0,
            metric: 0,
            protocol: Some("kernel".into()),
            scope: Scope::Host,
            prefsrc: Some(n.addr()),
            nexthops: vec![NextHop { gateway: None, dev: Some(dev.into()), onlink: false, weight: 1, dead: false, linkdown: false }],
            mtu: None,
            origin: None,
        });
        if dev != "lo" && n.prefix_len() < 32 {
            self.ns.routes.push(Route {
                table: RT_TABLE_MAIN,
                rtype: RouteType::Unicast,
                dst: n.trunc(),
                tos: 0,
                metric: 0,
                protocol: Some("kernel".into()),
                scope: Scope::Link,
                prefsrc: Some(n.addr()),
                nexthops: vec![NextHop { gateway: None, dev: Some(dev.into()), onlink: false, weight: 1, dead: false, linkdown: false }],
                mtu: None,
                origin: None,
            });
        }
    }

    fn add_link(&mut self, dev: &str) {
        let ifindex = self.next_ifindex;
        self.next_ifindex += 1;
        let n = ifindex as u8;
        let h = self.ns.name.bytes().fold(0u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
        self.ns.links.push(Link {
            ifindex,
            name: dev.into(),
            kind: LinkKind::Veth,
            mtu: 1500,
            mac: Some(Mac([0x02, 0, 0, h, n, 1])),
            up: true,
            lower_up: true,
            noarp: false,
            promisc: false,
            master: None,
            link_ifindex: None,
            link_name: None,
            link_netnsid: Some(0),
            brport: None,
            group: None,
        });
    }

    /// Adds an address (the kernel's local and prefix routes come with it).
    pub fn addr(&mut self, dev: &str, cidr: &str) -> &mut Self {
        self.add_addr_model(dev, cidr, Scope::Universe);
        self.cmds.push(format!("ip -n {{ns}} addr add {cidr} dev {dev}"));
        self
    }

    fn route_model(&mut self, table: u32, rtype: RouteType, dst: &str, via: Option<&str>, dev: Option<&str>) {
        let scope = match (rtype, via) {
            (RouteType::Unicast, None) => Scope::Link,
            _ => Scope::Universe,
        };
        let nexthops = if rtype == RouteType::Unicast {
            let dev = dev.map(str::to_string).or_else(|| {
                let g = ip(via.expect("a route needs via or dev"));
                self.ns
                    .routes
                    .iter()
                    .filter(|r| r.table == RT_TABLE_MAIN && r.dst.contains(&g))
                    .max_by_key(|r| r.dst.prefix_len())
                    .and_then(|r| r.dev().map(str::to_string))
            });
            vec![NextHop { gateway: via.map(ip), dev, onlink: false, weight: 1, dead: false, linkdown: false }]
        } else {
            vec![]
        };
        self.ns.routes.push(Route {
            table,
            rtype,
            dst: net(dst),
            tos: 0,
            metric: 0,
            protocol: Some("boot".into()),
            scope,
            prefsrc: None,
            nexthops,
            mtu: None,
            origin: None,
        });
    }

    /// `ip route add DST [via GW] [dev DEV] [table T]`.
    pub fn route(&mut self, dst: &str, via: Option<&str>, dev: Option<&str>) -> &mut Self {
        self.route_in(RT_TABLE_MAIN, dst, via, dev)
    }

    pub fn route_in(&mut self, table: u32, dst: &str, via: Option<&str>, dev: Option<&str>) -> &mut Self {
        self.route_model(table, RouteType::Unicast, dst, via, dev);
        let mut c = format!("ip -n {{ns}} route add {dst}");
        if let Some(v) = via {
            c.push_str(&format!(" via {v}"));
        }
        if let Some(d) = dev {
            c.push_str(&format!(" dev {d}"));
        }
        if table != RT_TABLE_MAIN {
            c.push_str(&format!(" table {table}"));
        }
        self.cmds.push(c);
        self
    }

    /// `ip route add {blackhole|unreachable|prohibit} DST`.
    pub fn route_type(&mut self, rtype: RouteType, dst: &str) -> &mut Self {
        self.route_model(RT_TABLE_MAIN, rtype, dst, None, None);
        self.cmds.push(format!("ip -n {{ns}} route add {} {dst}", rtype.as_str()));
        self
    }

    /// `ip rule add fwmark MARK/MASK lookup TABLE pref PRIO`.
    pub fn rule_fwmark(&mut self, prio: u32, mark: u32, mask: u32, table: u32) -> &mut Self {
        let base = FibRule::defaults().remove(0);
        self.ns.rules.push(FibRule { priority: prio, fwmark: Some((mark, mask)), action: RuleAction::Table(table), ..base });
        self.ns.rules.sort_by_key(|r| r.priority);
        self.cmds.push(format!("ip -n {{ns}} rule add fwmark 0x{mark:x}/0x{mask:x} lookup {table} pref {prio}"));
        self
    }

    /// `sysctl -w KEY=VALUE` (the model also records it as imported).
    pub fn sysctl(&mut self, key: &str, value: &str) -> &mut Self {
        self.ns.sysctls.values.insert(key.into(), value.into());
        self.ns.sysctls.imported = true;
        // `ip_forward` writes every device's forwarding value (`devinet.c:inet_forward_change`).
        if key == "net.ipv4.ip_forward" {
            let devs: Vec<String> = self.ns.links.iter().map(|l| l.name.clone()).collect();
            for d in devs.iter().map(String::as_str).chain(["all", "default"]) {
                self.ns.sysctls.values.insert(format!("net.ipv4.conf.{d}.forwarding"), value.into());
            }
        }
        self.cmds.push(format!("ip netns exec {{ns}} sysctl -qw {key}={value}"));
        self
    }

    /// Listening sockets (the model's `sockets.txt`); the kernel test starts real listeners.
    pub fn listen(&mut self, proto: u8, port: u16) -> &mut Self {
        self.ns.sockets.get_or_insert_with(Vec::new).push(Socket { proto, local: None, port, dev: None, process: None, line: 0 });
        self
    }

    fn chain_slot(&mut self, t: TableName, chain: &str, policy: Option<Policy>) -> usize {
        if let Some(&i) = self.chain_pos.get(&(t, chain.to_string())) {
            return i;
        }
        let chains = self.tables.entry(t).or_default();
        chains.push((chain.into(), policy, vec![]));
        self.chain_pos.insert((t, chain.to_string()), chains.len() - 1);
        chains.len() - 1
    }

    pub fn policy(&mut self, table: &str, chain: &str, p: Policy) -> &mut Self {
        let t = TableName::parse(table).expect("table");
        let i = self.chain_slot(t, chain, Some(p));
        self.tables.get_mut(&t).expect("table")[i].1 = Some(p);
        self
    }

    /// `-N chain` for a user chain.
    pub fn chain(&mut self, table: &str, chain: &str) -> &mut Self {
        let t = TableName::parse(table).expect("table");
        self.chain_slot(t, chain, None);
        self
    }

    /// `-A chain rule`.
    pub fn ipt(&mut self, table: &str, chain: &str, r: R) -> &mut Self {
        let t = TableName::parse(table).expect("table");
        let policy = t.builtin_chains().contains(&chain).then_some(Policy::Accept);
        let i = self.chain_slot(t, chain, policy);
        self.tables.get_mut(&t).expect("table")[i].2.push(r);
        self
    }

    /// The `iptables-restore` input and the ruleset it describes.
    fn render(&self) -> (String, Ruleset) {
        let mut text = String::new();
        let mut pending: Vec<(TableName, Vec<Chain>)> = Vec::new();
        let mut line = 0u32;
        let mut spans: Vec<(TableName, usize, usize, u32, usize, usize)> = Vec::new();
        for (t, chains) in &self.tables {
            let mut push = |s: String, text: &mut String| {
                line += 1;
                let start = text.len();
                text.push_str(&s);
                let end = text.len();
                text.push('\n');
                (line, start, end)
            };
            push(format!("*{}", t.as_str()), &mut text);
            let mut out: Vec<Chain> = Vec::new();
            // Built-in chains first, with their policies.
            let mut names: Vec<(String, Option<Policy>)> = t.builtin_chains().iter().map(|c| (c.to_string(), Some(Policy::Accept))).collect();
            for (name, pol, _) in chains {
                let nb = t.builtin_chains().len();
                if let Some(x) = names[..nb].iter_mut().find(|x| &x.0 == name) {
                    if pol.is_some() {
                        x.1 = *pol;
                    }
                } else {
                    names.push((name.clone(), None));
                }
            }
            for (name, pol) in &names {
                let p = match pol {
                    Some(Policy::Drop) => "DROP",
                    Some(Policy::Accept) => "ACCEPT",
                    None => "-",
                };
                let (l, _, _) = push(format!(":{name} {p} [0:0]"), &mut text);
                out.push(Chain { name: name.into(), policy: *pol, counters: None, line: l, rules: vec![] });
            }
            let pos: std::collections::HashMap<&str, usize> = out.iter().enumerate().map(|(i, c)| (c.name.as_str(), i)).collect();
            let pos: std::collections::HashMap<String, usize> = pos.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            for (name, _, rules) in chains {
                let ci = pos[name];
                for r in rules {
                    let (l, s, e) = push(format!("-A {name} {}", r.words.join(" ")), &mut text);
                    let mut rule = r.rule.clone();
                    rule.line = l;
                    out[ci].rules.push(rule);
                    spans.push((*t, ci, out[ci].rules.len() - 1, l, s, e));
                }
            }
            push("COMMIT".into(), &mut text);
            pending.push((*t, out));
        }
        let mut rs = Ruleset::default();
        let src = rs.add_source("iptables-save.txt", Arc::from(text.as_str()));
        for (t, chains) in pending {
            let mut table = Table::new(t, 0);
            // Pushed directly and indexed once: `add_chain` reindexes on every call.
            table.chains = chains;
            table.reindex();
            rs.tables.push(table);
        }
        for (t, ci, ri, _, s, e) in spans {
            let table = rs.table_mut(t).expect("table");
            table.chains[ci].rules[ri].text = TextRef { source: src, start: s as u32, end: e as u32 };
        }
        (text, rs)
    }

    /// The `iptables-restore` input for this namespace.
    pub fn restore_text(&self) -> String {
        self.render().0
    }

    pub fn build(&self) -> Namespace {
        let mut ns = self.ns.clone();
        ns.ruleset = self.render().1;
        ns
    }
}

/// Several namespaces and the veth pairs between them.
#[derive(Clone, Debug, Default)]
pub struct WorldB {
    pub nss: Vec<NsB>,
    pub links: Vec<VethLink>,
    /// Kernel commands that need both namespaces (veth creation), run before each namespace's.
    pub link_cmds: Vec<String>,
}

impl WorldB {
    pub fn new() -> WorldB {
        WorldB::default()
    }
    pub fn ns(&mut self, name: &str) -> &mut NsB {
        if let Some(i) = self.nss.iter().position(|n| n.ns.name == name) {
            return &mut self.nss[i];
        }
        self.nss.push(NsB::new(name));
        self.nss.last_mut().expect("just pushed")
    }
    /// A veth pair `a:dev_a <-> b:dev_b`, both up, with optional addresses.
    pub fn veth(&mut self, a: &str, dev_a: &str, addr_a: Option<&str>, b: &str, dev_b: &str, addr_b: Option<&str>) -> &mut Self {
        for (n, d, ad) in [(a, dev_a, addr_a), (b, dev_b, addr_b)] {
            let nb = self.ns(n);
            nb.add_link(d);
            nb.cmds.push(format!("ip -n {{ns}} link set {d} up"));
            if let Some(ad) = ad {
                nb.addr(d, ad);
            }
        }
        self.link_cmds.push(format!("ip link add {dev_a} netns {{{a}}} type veth peer name {dev_b} netns {{{b}}}"));
        self.links.push(VethLink::new(a, dev_a, b, dev_b));
        self
    }
    pub fn build(&self) -> Result<crate::engine::World, String> {
        crate::engine::World::new(self.nss.iter().map(NsB::build).collect(), &self.links)
    }
}
