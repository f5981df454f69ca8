//! The routing questions the netfilter engine asks, as a trait (`Router`), implemented by the
//! routing part's `Fib` (`engine/routing.rs`, the default) and by `BasicRouter`, the interim
//! router the engine was first written against, kept as a second opinion (`RouterKind::Basic`).
//!
//! `BasicRouter` follows `fib_rules.c:fib_rules_lookup` (rule scan), `fib_trie.c:fib_table_lookup`
//! (longest prefix, then metric), `route.c:ip_route_input_slow` (martians, forwarding check,
//! rp_filter through `fib_validate_source`) and `devinet.c:inet_select_addr`. It does not model
//! multipath hashing (it takes the first live nexthop and says so), TOS-keyed routes, or
//! suppress_prefixlength; `Fib` does multipath (as enumerated branches) and much more.

use crate::model::addr::Addr;
use crate::model::route::{Route, RouteType, RT_TABLE_LOCAL, RT_TABLE_MAIN};
use crate::model::rule::{FibRule, RuleAction};
use crate::model::types::Scope;
use crate::model::Namespace;
use crate::trace::{DropReason, Step, StepKind};
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// What a lookup is asked (the engine's own copy of routing's `FlowKey`; `impl Router for Fib`
/// converts).
#[derive(Clone, Debug)]
pub struct FlowKey {
    pub dst: Ipv4Addr,
    pub src: Option<Ipv4Addr>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub mark: u32,
    pub tos: u8,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    /// Build `RouteResult::steps` (the fast path leaves them empty).
    pub trace: bool,
    /// The sending socket's uid (for `uidrange` rules); `None` when unknown.
    pub uid: Option<u32>,
    /// `FLOWI_FLAG_ANYSRC`: keep a source that is not local (`ip_route_me_harder`, kernel answers).
    pub anysrc: bool,
}

impl Default for FlowKey {
    fn default() -> Self {
        FlowKey {
            dst: Ipv4Addr::UNSPECIFIED,
            src: None,
            iif: None,
            oif: None,
            mark: 0,
            tos: 0,
            proto: 0,
            sport: 0,
            dport: 0,
            trace: true,
            uid: Some(0),
            anysrc: false,
        }
    }
}

/// A routing decision (as sketched in `engine/routing.rs`).
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Local {
        src: Ipv4Addr,
    },
    Unicast {
        dev: String,
        nexthop: Ipv4Addr,
        gateway: Option<Ipv4Addr>,
        src: Ipv4Addr,
    },
    Broadcast,
    Fail {
        reason: DropReason,
        errno: &'static str,
        icmp: Option<(u8, u8)>,
    },
    /// Something on the path is outside the routing model.
    Indeterminate {
        what: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct RouteResult {
    pub decision: Decision,
    pub steps: Vec<Step>,
    pub rtype: Option<RouteType>,
    /// Multipath: every live nexthop's decision with its probability (empty for one path).
    pub branches: Vec<(f64, Decision, bool)>,
    /// `IPSKB_DOREDIRECT`, when the router computes it (`None`: the engine decides).
    pub redirect: Option<bool>,
}

/// What the netfilter engine needs from routing.
pub trait Router: Send + Sync {
    /// `ip_route_output_key`: a locally generated packet (iif = lo).
    fn output(&self, key: &FlowKey) -> RouteResult;
    /// `ip_route_input_noref`: a received packet, including the martian, forwarding and
    /// rp_filter checks.
    fn input(&self, key: &FlowKey) -> RouteResult;
    /// `inet_dev_addr_type` as `xt_addrtype` asks it; `limit_dev` for `--limit-iface-*`.
    fn addr_type(&self, ip: Ipv4Addr, limit_dev: Option<&str>) -> RouteType;
    /// `inet_select_addr(dev, nexthop, RT_SCOPE_UNIVERSE)` for MASQUERADE.
    fn inet_select_addr(&self, dev: &str, nexthop: Ipv4Addr) -> Option<Ipv4Addr>;
    /// `ipt_rpfilter.c:rpfilter_mt` (before `invert`): `None` when the router cannot say.
    fn rpfilter(&self, src: Ipv4Addr, dst: Ipv4Addr, iif: &str, mark: u32, loose: bool, accept_local: bool) -> Option<bool>;
}

/// Interim routing built from one namespace's routes, rules, addresses and sysctls.
pub struct BasicRouter {
    ns_name: String,
    routes_by_table: HashMap<u32, Vec<Route>>,
    rules: Vec<FibRule>,
    addrs: Vec<Addr>,
    link_order: Vec<String>,
    link_up: HashMap<String, bool>,
    /// Per-device values read once: (forwarding, route_localnet, accept_local, rp_filter).
    conf: HashMap<String, DevConf>,
    conf_default: DevConf,
    /// No custom rules: local and main are one trie (`fib_frontend.c:fib_unmerge` never ran).
    merged: bool,
}

fn prefix_contains(net: &ipnet::Ipv4Net, ip: Ipv4Addr) -> bool {
    net.contains(&ip)
}

impl BasicRouter {
    pub fn new(ns: &Namespace) -> BasicRouter {
        let mut routes_by_table: HashMap<u32, Vec<Route>> = HashMap::new();
        for r in &ns.routes {
            routes_by_table.entry(r.table).or_default().push(r.clone());
        }
        // Longest prefix first, then lower metric (`fib_find_alias` order within a prefix).
        for v in routes_by_table.values_mut() {
            v.sort_by(|a, b| b.dst.prefix_len().cmp(&a.dst.prefix_len()).then(a.metric.cmp(&b.metric)));
        }
        let mut rules = if ns.rules.is_empty() { FibRule::defaults() } else { ns.rules.clone() };
        rules.sort_by_key(|r| r.priority);
        let defaults = FibRule::defaults();
        let merged = rules == defaults;
        BasicRouter {
            ns_name: ns.name.clone(),
            routes_by_table,
            rules,
            addrs: ns.addrs.clone(),
            link_order: ns.links.iter().map(|l| l.name.clone()).collect(),
            link_up: ns.links.iter().map(|l| (l.name.clone(), l.up)).collect(),
            conf: ns.links.iter().map(|l| (l.name.clone(), DevConf::read(&ns.sysctls, &l.name))).collect(),
            conf_default: DevConf::read(&ns.sysctls, "default"),
            merged,
        }
    }

    fn step(&self, kind: StepKind) -> Step {
        Step { ns: self.ns_name.clone(), kind, packet_after: None }
    }

    fn is_local(&self, ip: Ipv4Addr) -> bool {
        self.addrs.iter().any(|a| a.local == ip)
            || self.routes_by_table.get(&RT_TABLE_LOCAL).is_some_and(|v| v.iter().any(|r| r.rtype == RouteType::Local && prefix_contains(&r.dst, ip)))
    }

    /// `fib_table_lookup` in one table: the first usable alias of the longest matching prefix.
    fn table_lookup(&self, table: u32, dst: Ipv4Addr, oif: Option<&str>) -> Option<&Route> {
        let v = self.routes_by_table.get(&table)?;
        v.iter().find(|r| {
            if !prefix_contains(&r.dst, dst) {
                return false;
            }
            if r.nexthops.is_empty() {
                return oif.is_none() || r.rtype != RouteType::Unicast;
            }
            r.nexthops.iter().any(|nh| {
                !nh.dead
                    && nh.dev.as_deref().is_none_or(|d| self.link_up.get(d).copied().unwrap_or(true) || r.rtype == RouteType::Local)
                    && oif.is_none_or(|o| nh.dev.as_deref() == Some(o))
            })
        })
    }

    /// `fib_rules_lookup`: scans rules in priority order. `Err` carries the rule action's error.
    fn lookup(&self, key: &FlowKey, iif: &str, steps: &mut Vec<Step>) -> Result<Option<(u32, &Route)>, (DropReason, &'static str)> {
        let mut i = 0;
        let mut hops = 0;
        while i < self.rules.len() {
            hops += 1;
            if hops > 1000 {
                break;
            }
            let r = &self.rules[i];
            i += 1;
            let mut m = true;
            if let Some(f) = &r.from {
                m &= prefix_contains(f, key.src.unwrap_or(Ipv4Addr::UNSPECIFIED));
            }
            if let Some(t) = &r.to {
                m &= prefix_contains(t, key.dst);
            }
            if let Some(d) = &r.iif {
                m &= d == iif;
            }
            if let Some(d) = &r.oif {
                m &= key.oif.as_deref() == Some(d.as_str());
            }
            if let Some((mark, mask)) = r.fwmark {
                m &= (mark ^ key.mark) & mask == 0;
            }
            if let Some(p) = r.ipproto {
                m &= p == key.proto;
            }
            if let Some((lo, hi)) = r.sport {
                m &= lo <= key.sport && key.sport <= hi;
            }
            if let Some((lo, hi)) = r.dport {
                m &= lo <= key.dport && key.dport <= hi;
            }
            if r.not {
                m = !m;
            }
            if !m {
                continue;
            }
            match &r.action {
                RuleAction::Nop => continue,
                RuleAction::Goto(p) => {
                    if let Some(j) = self.rules.iter().position(|x| x.priority >= *p) {
                        i = j;
                    }
                    continue;
                }
                RuleAction::Blackhole => return Err((DropReason::Blackhole, "EINVAL")),
                RuleAction::Unreachable => return Err((DropReason::UnreachableRoute, "EHOSTUNREACH")),
                RuleAction::Prohibit => return Err((DropReason::Prohibit, "EACCES")),
                RuleAction::Table(t) => {
                    if let Some(route) = self.table_lookup(*t, key.dst, key.oif.as_deref()) {
                        if route.rtype == RouteType::Throw {
                            continue;
                        }
                        if key.trace && (r.priority != 0 || *t != RT_TABLE_LOCAL) {
                            steps.push(self.step(StepKind::FibRule { priority: r.priority, text: format!("lookup {}", table_name(*t)) }));
                        }
                        return Ok(Some((*t, route)));
                    }
                }
            }
        }
        Ok(None)
    }

    fn route_text(r: &Route) -> String {
        let mut s = format!("{} {}", r.rtype.as_str(), r.dst);
        if let Some(g) = r.gateway() {
            s.push_str(&format!(" via {g}"));
        }
        if let Some(d) = r.dev() {
            s.push_str(&format!(" dev {d}"));
        }
        if let Some(p) = r.prefsrc {
            s.push_str(&format!(" src {p}"));
        }
        if let Some(o) = &r.origin {
            s.push_str(&format!(" ({o})"));
        }
        s
    }

    /// Source selection for an output route (`fib_result_prefsrc`, then `inet_select_addr`).
    fn select_src(&self, r: &Route, nexthop: Ipv4Addr) -> Option<Ipv4Addr> {
        if let Some(p) = r.prefsrc {
            return Some(p);
        }
        let dev = r.dev()?;
        let scope = r.scope.value();
        let cands: Vec<&Addr> = self.addrs.iter().filter(|a| a.ifname == dev && !a.secondary && a.scope.value() <= scope.max(Scope::Link.value())).collect();
        let on_subnet = cands.iter().find(|a| ipnet::Ipv4Net::new(a.local, a.prefix_len).map(|n| n.contains(&nexthop)).unwrap_or(false));
        if let Some(a) = on_subnet.or(cands.first()) {
            if a.scope.value() <= scope {
                return Some(a.local);
            }
        }
        for l in &self.link_order {
            if let Some(a) = self.addrs.iter().find(|a| &a.ifname == l && !a.secondary && a.scope.value() < Scope::Link.value()) {
                return Some(a.local);
            }
        }
        None
    }

    fn dev_conf(&self, dev: &str) -> DevConf {
        self.conf.get(dev).copied().unwrap_or(self.conf_default)
    }

    fn forwarding(&self, dev: &str) -> bool {
        self.dev_conf(dev).forwarding
    }

    fn fail(&self, reason: DropReason, errno: &'static str, icmp: Option<(u8, u8)>, rtype: Option<RouteType>, steps: Vec<Step>) -> RouteResult {
        RouteResult { decision: Decision::Fail { reason, errno, icmp }, steps, rtype, branches: Vec::new(), redirect: None }
    }
}

/// The `net.ipv4.conf.*` values the input path reads, with `all` folded in the kernel's way.
#[derive(Clone, Copy, Debug)]
struct DevConf {
    forwarding: bool,
    route_localnet: bool,
    accept_local: bool,
    /// `max(all, dev)` (`IN_DEV_RPFILTER`).
    rp_filter: i64,
}

impl DevConf {
    fn read(s: &crate::model::sysctl::Sysctls, dev: &str) -> DevConf {
        let key = format!("net.ipv4.conf.{}.forwarding", dev.replace('.', "/"));
        let forwarding = if let Some((v, _)) = s.int(&key) {
            v != 0
        } else if let Some(v) = s.values.get("net.ipv4.ip_forward") {
            v.trim() != "0"
        } else {
            s.conf(dev, "forwarding").0 != 0
        };
        DevConf {
            forwarding,
            route_localnet: s.conf_all("route_localnet").0 != 0 || s.conf(dev, "route_localnet").0 != 0,
            accept_local: s.conf(dev, "accept_local").0 != 0 || s.conf_all("accept_local").0 != 0,
            rp_filter: s.conf_all("rp_filter").0.max(s.conf(dev, "rp_filter").0),
        }
    }
}

fn table_name(t: u32) -> String {
    match t {
        RT_TABLE_LOCAL => "local".into(),
        RT_TABLE_MAIN => "main".into(),
        253 => "default".into(),
        n => n.to_string(),
    }
}

fn is_martian_src(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_multicast() || ip.is_broadcast() || o[0] == 0
}

impl Router for BasicRouter {
    fn output(&self, key: &FlowKey) -> RouteResult {
        let mut steps = Vec::new();
        let mut stripped;
        let key = if key.anysrc && key.src.is_some_and(|s| !self.is_local(s)) {
            // ANYSRC: the source is kept by the caller but is not a lookup selector here.
            stripped = key.clone();
            stripped.src = None;
            &stripped
        } else {
            key
        };
        if let Some(src) = key.src {
            // A bound source must be local (`ip_route_output_key_hash_rcu`: `__ip_dev_find`).
            if !src.is_unspecified() && !self.is_local(src) {
                return self.fail(DropReason::NoRoute, "EADDRNOTAVAIL", None, None, steps);
            }
        }
        let r = match self.lookup(key, "lo", &mut steps) {
            Err((reason, errno)) => return self.fail(reason, errno, None, None, steps),
            Ok(None) => return self.fail(DropReason::NoRoute, "ENETUNREACH", None, None, steps),
            Ok(Some((t, r))) => {
                if key.trace {
                    steps.push(self.step(StepKind::Route { table: table_name(t), route: Self::route_text(r), result: r.rtype.as_str().into() }));
                }
                r
            }
        };
        let rtype = Some(r.rtype);
        match r.rtype {
            RouteType::Local => {
                let src = key.src.or(r.prefsrc).unwrap_or(key.dst);
                RouteResult { decision: Decision::Local { src }, steps, rtype, branches: Vec::new(), redirect: None }
            }
            RouteType::Unicast => {
                let gw = r.gateway();
                let nexthop = gw.unwrap_or(key.dst);
                let Some(dev) = r.dev().map(str::to_string) else {
                    return self.fail(DropReason::NoRoute, "ENETUNREACH", None, rtype, steps);
                };
                if r.nexthops.len() > 1 && key.trace {
                    steps.push(self.step(StepKind::Note { text: "multipath route: the first live nexthop was taken (interim router, no hash)".into() }));
                }
                let Some(src) = key.src.or_else(|| self.select_src(r, nexthop)) else {
                    return self.fail(DropReason::NoRoute, "EADDRNOTAVAIL", None, rtype, steps);
                };
                RouteResult { decision: Decision::Unicast { dev, nexthop, gateway: gw, src }, steps, rtype, branches: Vec::new(), redirect: None }
            }
            RouteType::Broadcast | RouteType::Multicast => RouteResult { decision: Decision::Broadcast, steps, rtype, branches: Vec::new(), redirect: None },
            RouteType::Blackhole => self.fail(DropReason::Blackhole, "EINVAL", None, rtype, steps),
            RouteType::Unreachable => self.fail(DropReason::UnreachableRoute, "EHOSTUNREACH", None, rtype, steps),
            RouteType::Prohibit => self.fail(DropReason::Prohibit, "EACCES", None, rtype, steps),
            _ => self.fail(DropReason::Martian, "EINVAL", None, rtype, steps),
        }
    }

    fn input(&self, key: &FlowKey) -> RouteResult {
        let mut steps = Vec::new();
        let iif = key.iif.as_deref().unwrap_or("lo");
        let src = key.src.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let dc = self.dev_conf(iif);
        let localnet = dc.route_localnet;
        // `ip_route_input_slow`: martian source and destination checks.
        if iif != "lo" && (is_martian_src(src) || (src.is_loopback() && !localnet) || key.dst.octets()[0] == 0 || (key.dst.is_loopback() && !localnet)) {
            return self.fail(DropReason::Martian, "EINVAL", None, None, steps);
        }
        let r = match self.lookup(key, iif, &mut steps) {
            Err((reason, errno)) => {
                let icmp = match reason {
                    DropReason::UnreachableRoute => Some((3, 1)),
                    DropReason::Prohibit => Some((3, 13)),
                    _ => None,
                };
                return self.fail(reason, errno, icmp, None, steps);
            }
            Ok(None) => {
                let icmp = self.forwarding(iif).then_some((3, 0));
                return self.fail(DropReason::NoRoute, "ENETUNREACH", icmp, None, steps);
            }
            Ok(Some((t, r))) => {
                if key.trace {
                    steps.push(self.step(StepKind::Route { table: table_name(t), route: Self::route_text(r), result: r.rtype.as_str().into() }));
                }
                r
            }
        };
        let rtype = Some(r.rtype);
        let accept_local = dc.accept_local;
        if iif != "lo" && self.is_local(src) && !accept_local {
            // `fib_validate_source`: a source that is one of our own addresses is a martian.
            return self.fail(DropReason::Martian, "EINVAL", None, rtype, steps);
        }
        let rp = dc.rp_filter;
        match r.rtype {
            RouteType::Local => {
                if iif != "lo" && rp != 0 {
                    if let Some(false) = self.rpfilter(src, key.dst, iif, key.mark, rp == 2, accept_local) {
                        steps.push(self.step(StepKind::Note { text: format!("rp_filter={rp} on {iif}: the reverse route to {src} does not leave via {iif}") }));
                        return self.fail(DropReason::RpFilter, "EXDEV", None, rtype, steps);
                    }
                }
                RouteResult { decision: Decision::Local { src: key.dst }, steps, rtype, branches: Vec::new(), redirect: None }
            }
            RouteType::Unicast => {
                if !self.forwarding(iif) {
                    steps.push(self.step(StepKind::Note { text: format!("forwarding is off on {iif}") }));
                    return self.fail(DropReason::ForwardingDisabled, "EHOSTUNREACH", None, rtype, steps);
                }
                if rp != 0 {
                    if let Some(false) = self.rpfilter(src, key.dst, iif, key.mark, rp == 2, accept_local) {
                        steps.push(self.step(StepKind::Note { text: format!("rp_filter={rp} on {iif}: the reverse route to {src} does not leave via {iif}") }));
                        return self.fail(DropReason::RpFilter, "EXDEV", None, rtype, steps);
                    }
                }
                let gw = r.gateway();
                let nexthop = gw.unwrap_or(key.dst);
                let Some(dev) = r.dev().map(str::to_string) else {
                    return self.fail(DropReason::NoRoute, "ENETUNREACH", None, rtype, steps);
                };
                let src = self.select_src(r, nexthop).unwrap_or(Ipv4Addr::UNSPECIFIED);
                RouteResult { decision: Decision::Unicast { dev, nexthop, gateway: gw, src }, steps, rtype, branches: Vec::new(), redirect: None }
            }
            RouteType::Broadcast | RouteType::Multicast => RouteResult { decision: Decision::Broadcast, steps, rtype, branches: Vec::new(), redirect: None },
            RouteType::Blackhole => self.fail(DropReason::Blackhole, "EINVAL", None, rtype, steps),
            RouteType::Unreachable => self.fail(DropReason::UnreachableRoute, "EHOSTUNREACH", Some((3, 1)), rtype, steps),
            RouteType::Prohibit => self.fail(DropReason::Prohibit, "EACCES", Some((3, 13)), rtype, steps),
            _ => self.fail(DropReason::Martian, "EINVAL", None, rtype, steps),
        }
    }

    fn addr_type(&self, ip: Ipv4Addr, limit_dev: Option<&str>) -> RouteType {
        if ip.is_unspecified() || ip.is_broadcast() {
            return RouteType::Broadcast;
        }
        if ip.is_multicast() {
            return RouteType::Multicast;
        }
        // `__inet_dev_addr_type`: the local table, which with merged tables also holds main.
        let mut best: Option<&Route> = None;
        let tables: &[u32] = if self.merged { &[RT_TABLE_LOCAL, RT_TABLE_MAIN] } else { &[RT_TABLE_LOCAL] };
        for t in tables {
            if let Some(v) = self.routes_by_table.get(t) {
                if let Some(r) = v.iter().find(|r| prefix_contains(&r.dst, ip)) {
                    let better = match best {
                        None => true,
                        Some(b) => r.dst.prefix_len() > b.dst.prefix_len(),
                    };
                    if better {
                        best = Some(r);
                    }
                }
            }
        }
        match best {
            None => RouteType::Unicast,
            Some(r) => {
                if let Some(d) = limit_dev {
                    if r.dev() != Some(d) {
                        return RouteType::Unicast;
                    }
                }
                r.rtype
            }
        }
    }

    fn inet_select_addr(&self, dev: &str, nexthop: Ipv4Addr) -> Option<Ipv4Addr> {
        let on_dev: Vec<&Addr> = self.addrs.iter().filter(|a| a.ifname == dev && !a.secondary && a.scope == Scope::Universe).collect();
        if let Some(a) = on_dev.iter().find(|a| ipnet::Ipv4Net::new(a.local, a.prefix_len).map(|n| n.contains(&nexthop)).unwrap_or(false)) {
            return Some(a.local);
        }
        if let Some(a) = on_dev.first() {
            return Some(a.local);
        }
        for l in &self.link_order {
            if let Some(a) = self.addrs.iter().find(|a| &a.ifname == l && !a.secondary && a.scope == Scope::Universe) {
                return Some(a.local);
            }
        }
        None
    }

    fn rpfilter(&self, src: Ipv4Addr, dst: Ipv4Addr, iif: &str, mark: u32, loose: bool, accept_local: bool) -> Option<bool> {
        let key = FlowKey { dst: src, src: Some(dst), iif: None, oif: None, mark, trace: false, ..Default::default() };
        let mut steps = Vec::new();
        match self.lookup(&key, "lo", &mut steps) {
            Err(_) | Ok(None) => Some(false),
            Ok(Some((_, r))) => match r.rtype {
                RouteType::Unicast => Some(loose || r.nexthops.iter().any(|n| n.dev.as_deref() == Some(iif))),
                RouteType::Local => Some(accept_local),
                _ => Some(false),
            },
        }
    }
}

/// The routing part's `Fib` behind the engine's trait.
impl Router for crate::engine::routing::Fib {
    fn output(&self, key: &FlowKey) -> RouteResult {
        from_fib(self.route_output(&to_fib(key)))
    }
    fn input(&self, key: &FlowKey) -> RouteResult {
        from_fib(self.route_input(&to_fib(key)))
    }
    fn addr_type(&self, ip: Ipv4Addr, limit_dev: Option<&str>) -> RouteType {
        crate::engine::routing::Fib::addr_type(self, ip, limit_dev)
    }
    fn inet_select_addr(&self, dev: &str, nexthop: Ipv4Addr) -> Option<Ipv4Addr> {
        crate::engine::routing::Fib::inet_select_addr(self, dev, nexthop, Scope::Universe)
    }
    fn rpfilter(&self, src: Ipv4Addr, dst: Ipv4Addr, iif: &str, mark: u32, loose: bool, accept_local: bool) -> Option<bool> {
        crate::engine::routing::Fib::rpfilter(self, src, dst, iif, mark, loose, accept_local)
    }
}

fn to_fib(k: &FlowKey) -> crate::engine::routing::FlowKey {
    crate::engine::routing::FlowKey {
        dst: k.dst,
        src: k.src,
        iif: k.iif.clone(),
        oif: k.oif.clone(),
        mark: k.mark,
        tos: k.tos,
        proto: k.proto,
        sport: k.sport,
        dport: k.dport,
        uid: if k.iif.is_some() { Some(0) } else { k.uid },
        anysrc: k.anysrc,
        quiet: !k.trace,
    }
}

fn from_decision(d: crate::engine::routing::Decision) -> Decision {
    use crate::engine::routing::Decision as F;
    match d {
        F::Local { src } => Decision::Local { src },
        F::Unicast { dev, nexthop, gateway, src } => Decision::Unicast { dev, nexthop, gateway, src },
        F::Broadcast => Decision::Broadcast,
        F::Fail { reason, errno, icmp } => Decision::Fail { reason, errno, icmp },
        F::Indeterminate { what } => Decision::Indeterminate { what },
    }
}

fn from_fib(r: crate::engine::routing::RouteResult) -> RouteResult {
    RouteResult {
        decision: from_decision(r.decision),
        steps: r.steps,
        rtype: r.rtype,
        branches: r.branches.into_iter().map(|b| (b.probability, from_decision(b.decision), b.redirect)).collect(),
        redirect: Some(r.redirect),
    }
}
