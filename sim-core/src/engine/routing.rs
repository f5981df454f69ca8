//! Policy routing and route lookup (`net/ipv4/fib_rules.c`, `fib_trie.c`, `route.c`).
//!
//! A [`Fib`] is built once per namespace from the model and answers the questions the kernel's
//! routing code answers: input routing of a received packet (`ip_route_input_slow`), output
//! routing of a locally generated one (`ip_route_output_key_hash_rcu`), the address type
//! `xt_addrtype` sees, the source MASQUERADE picks (`inet_select_addr`) and whether a gateway
//! would be accepted when a route is added (`fib_check_nh_v4_gw`).
//!
//! Choices that the kernel does not make for us, and what this module does instead:
//! - Multipath: the kernel picks one nexthop by a flow hash. We enumerate every live nexthop with
//!   the share of the hash space the kernel gives it (`fib_rebalance` upper bounds), so the engine
//!   can branch with probabilities; `RouteResult::branches` holds them and the trace says so.
//! - `uidrange` selectors: input lookups use uid 0 as the kernel does (`sock_net_uid(net, NULL)`);
//!   an output lookup whose `FlowKey::uid` is `None` that reaches a uidrange rule is
//!   indeterminate, never guessed.
//! - "Custom rules" and "custom local routes" are sticky flags in the kernel
//!   (`fib_has_custom_rules`, `fib_has_custom_local_routes`); a snapshot shows only the current
//!   state, so a rule set equal to the three defaults counts as "no custom rules".
//! - Multicast (input group membership, output), VRF (`l3mdev` rules when VRF devices exist),
//!   directed-broadcast forwarding (`bc_forwarding`) and `fib_select_default` among equal-metric
//!   default routes are indeterminate, never guessed. Route realms (tclassid) are not in the
//!   model, so the rp_filter fast path assumes there are none.
//!
//! Facts checked against the running kernel (Linux 6.18, `tests/kernel_routing.rs`) where
//! netfilter-model.md says otherwise or says nothing:
//! - Only 0.0.0.0 itself is a "zeronet" martian; the rest of 0.0.0.0/8 is unicast (Linux 5.3+).
//! - A reject route (blackhole, unreachable, prohibit, throw) makes a table lookup fail, so
//!   `__inet_dev_addr_type` reads the address as UNICAST: `xt_addrtype` never sees BLACKHOLE from a
//!   route, and an onlink gateway under a blackhole is accepted. Only a LOCAL (or broadcast...)
//!   result refuses the gateway ("Nexthop has invalid gateway").
//! - In `fib_validate_source` a reverse lookup that hits a reject route is a *failed* lookup:
//!   accepted with rp_filter 0, EXDEV otherwise. Only a successful non-unicast result (local
//!   without accept_local, broadcast) is a martian source regardless of rp_filter.
//! - Without custom rules a reject route in main is final; table default is consulted only when
//!   main has no match at all.
//! - Since 6.16 `fib_select_multipath` scores nexthops: a bound source equal to a nexthop's source
//!   pins the flow to it.
//! - Anything routed out `lo` (e.g. `oif lo`) is local delivery (`RTCF_LOCAL`), whatever the type.

use crate::model::link::LinkKind;
use crate::model::route::{RouteType, RT_TABLE_DEFAULT, RT_TABLE_LOCAL, RT_TABLE_MAIN};
use crate::model::rule::{FibRule, RuleAction};
use crate::model::sysctl::Sysctls;
use crate::model::types::{proto_name, Scope};
use crate::model::Namespace;
use crate::trace::{DropReason, Step, StepKind};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

const SCOPE_UNIVERSE: u8 = 0;
const SCOPE_LINK: u8 = 253;
const SCOPE_HOST: u8 = 254;
/// `IPTOS_RT_MASK`: the TOS bits routing looks at.
const IPTOS_RT_MASK: u8 = 0x1c;

/// Steps being collected; with `on == false` (a quiet lookup) nothing is built.
struct Steps {
    on: bool,
    v: Vec<Step>,
}

impl Steps {
    fn new(on: bool) -> Steps {
        Steps { on, v: if on { Vec::with_capacity(8) } else { Vec::new() } }
    }
}

/// A prepared routing view of one namespace (built once, queried many times).
pub struct Fib {
    ns: String,
    devs: Vec<Dev>,
    dev_idx: HashMap<String, usize, std::hash::BuildHasherDefault<PrefixHasher>>,
    lo: Option<usize>,
    addrs: Vec<IfAddr>,
    /// Every configured address (`inet_lookup_ifaddr_rcu`), first holder wins.
    ifaddr: HashMap<u32, usize, std::hash::BuildHasherDefault<PrefixHasher>>,
    /// Inconsistencies in the snapshot (an address or route on a device `ip link` did not list).
    issues: Vec<String>,
    rules: Vec<RuleC>,
    custom_rules: bool,
    /// Local and main share one trie while there are no custom rules (`fib_new_table`).
    merged: bool,
    custom_local_routes: bool,
    routes: Vec<RouteC>,
    tables: Vec<Table>,
    table_idx: BTreeMap<u32, usize>,
    has_vrf: bool,
    bc_forwarding_all: bool,
}

/// What a lookup is asked.
#[derive(Clone, Debug)]
pub struct FlowKey {
    pub dst: Ipv4Addr,
    /// The packet's source (input), or a caller-bound source (output; `None` = choose one).
    pub src: Option<Ipv4Addr>,
    /// Input device; `None` for locally generated packets (the kernel then uses `lo` for `iif`
    /// selectors).
    pub iif: Option<String>,
    /// Output device for sockets bound to a device.
    pub oif: Option<String>,
    pub mark: u32,
    pub tos: u8,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    /// The sending socket's uid for `uidrange` rules (output only; input always uses 0).
    pub uid: Option<u32>,
    /// `FLOWI_FLAG_ANYSRC`: keep a bound source even if it is not local (`ip_route_me_harder`
    /// sets it for sources of type LOCAL or UNICAST).
    pub anysrc: bool,
    /// Build no trace steps (the decision is the same): for callers that only need the answer,
    /// e.g. to enumerate outcomes before tracing the ones they report.
    pub quiet: bool,
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
            uid: None,
            anysrc: false,
            quiet: false,
        }
    }
}

impl FlowKey {
    /// A received packet on `iif`.
    pub fn input(src: Ipv4Addr, dst: Ipv4Addr, iif: &str) -> FlowKey {
        FlowKey { dst, src: Some(src), iif: Some(iif.to_string()), uid: Some(0), ..FlowKey::default() }
    }
    /// A locally generated packet; the source is chosen by routing.
    pub fn output(dst: Ipv4Addr) -> FlowKey {
        FlowKey { dst, uid: Some(0), ..FlowKey::default() }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Deliver locally (input: `src` is the packet's source), or send via `lo` (output: `src`
    /// is the chosen source).
    Local { src: Ipv4Addr },
    /// Send out `dev` to `nexthop` (the gateway, or the destination when on-link). For a
    /// forwarded packet `src` is the packet's source.
    Unicast { dev: String, nexthop: Ipv4Addr, gateway: Option<Ipv4Addr>, src: Ipv4Addr },
    /// Input: delivered locally as a broadcast. Output: sent as a broadcast out
    /// `RouteResult::dev` (a socket needs `SO_BROADCAST`, else EACCES).
    Broadcast,
    /// The packet cannot go on. `errno` is what a local socket sees (ENETUNREACH, EHOSTUNREACH,
    /// EACCES, EINVAL...), `icmp` the error an input route sends back (type, code), if any.
    Fail { reason: DropReason, errno: &'static str, icmp: Option<(u8, u8)> },
    /// Something on the path is outside the model (multicast routing, VRF, an unknown uid...):
    /// the outcome must be reported as indeterminate, with this explanation.
    Indeterminate { what: String },
}

/// One way a multipath route can go, with the share of flows the kernel's hash sends there.
#[derive(Clone, Debug, PartialEq)]
pub struct Branch {
    pub probability: f64,
    pub weight: u32,
    pub decision: Decision,
    /// As `RouteResult::redirect`, for this branch.
    pub redirect: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RouteResult {
    pub decision: Decision,
    /// Rules consulted and route chosen, for the trace.
    pub steps: Vec<Step>,
    /// The route type found, if a route matched.
    pub rtype: Option<RouteType>,
    /// The output device of the dst (`lo` for local output), when there is one.
    pub dev: Option<String>,
    /// The table the route came from.
    pub table: Option<u32>,
    /// The route as `ip route` prints it.
    pub route: Option<String>,
    /// Multipath: every live nexthop with its probability (the first equals `decision`). Empty
    /// for single-path results.
    pub branches: Vec<Branch>,
    /// Forwarded back out its input device towards an on-link source: `__mkroute_input` sets
    /// IPSKB_DOREDIRECT and `ip_forward` will send an ICMP redirect (rate-limited).
    pub redirect: bool,
}

/// Why `fib_check_nh_v4_gw` refuses a gateway: the errno and the extack message iproute2 prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GwError {
    pub errno: &'static str,
    pub message: &'static str,
}

// ---------------------------------------------------------------------------------------------
// Prepared state

struct Dev {
    name: String,
    up: bool,
    lower_up: bool,
    loopback: bool,
    group: u32,
    /// Indices into `Fib::addrs`, in the device's `ifa_list` order (as dumped).
    addrs: Vec<usize>,
    forwarding: Conf,
    rp_filter: Conf,
    route_localnet: Conf,
    accept_local: Conf,
    src_valid_mark: Conf,
    send_redirects: Conf,
    shared_media: Conf,
    ignore_linkdown: Conf,
    bc_forwarding: Conf,
}

/// An effective per-device sysctl value and, when any part of it was not in the snapshot,
/// a sentence saying what was assumed.
#[derive(Clone, Debug)]
struct Conf {
    val: i64,
    assumed: Option<String>,
}

struct IfAddr {
    local: u32,
    /// `ifa_address`: the peer for point-to-point addresses, else the local address.
    address: u32,
    mask: u32,
    scope: u8,
    secondary: bool,
}

struct RuleC {
    rule: FibRule,
    text: String,
    /// `Some(None)`: the rule names a device that does not exist (never matches).
    iif: Option<Option<usize>>,
    oif: Option<Option<usize>>,
    goto: Option<usize>,
    suppress_ifgroup: Option<u32>,
}

struct NhC {
    gw: Option<u32>,
    dev: Option<usize>,
    weight: u32,
    dead: bool,
    linkdown: bool,
    /// `nh_saddr`: `inet_select_addr(dev, gw, route scope)`, as the kernel caches it.
    saddr: u32,
    /// The trace sentence for a source chosen this way (built once).
    src_note: String,
    /// The route names a device the snapshot does not list.
    unknown_dev: bool,
}

struct RouteC {
    table: u32,
    rtype: RouteType,
    dst: u32,
    plen: u8,
    tos: u8,
    metric: u32,
    scope: u8,
    prefsrc: Option<u32>,
    nhs: Vec<NhC>,
    text: String,
    src_note: String,
}

/// Prefix maps are keyed by masked IPv4 addresses: a multiplicative hash is enough (and several
/// times cheaper than SipHash); the keys come from the snapshot, not from an adversary.
#[derive(Default, Clone, Copy)]
struct PrefixHasher(u64);

impl std::hash::Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(5) ^ *b as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.0 = (v as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type PrefixMap = HashMap<u32, Vec<usize>, std::hash::BuildHasherDefault<PrefixHasher>>;

struct Table {
    /// Prefix lengths present, longest first; per length the routes keyed by masked prefix, in
    /// `fib_find_alias` order (table id desc, TOS desc, metric asc, dump order).
    by_len: Vec<(u32, PrefixMap)>,
}

/// The internal flow (`struct flowi4`).
#[derive(Clone)]
struct Fl {
    dst: u32,
    src: u32,
    /// `flowi4_iif`: a device index (lo for output lookups).
    iif: Option<usize>,
    oif: Option<usize>,
    mark: u32,
    tos: u8,
    proto: u8,
    sport: u16,
    dport: u16,
    uid: Option<u32>,
    scope: u8,
}

#[derive(Clone, Copy)]
struct Res {
    route: usize,
    nh: usize,
}

enum TLookup {
    Found(Res),
    /// A reject-type route (`fib_props[type].error`): the errno, and the route.
    Reject(&'static str, usize),
    /// The route chosen uses a device the snapshot does not list.
    Unknown(usize),
    NoMatch,
}

#[derive(Debug)]
enum LookErr {
    /// The errno and the drop reason it stands for.
    Errno(&'static str, DropReason),
    Indeterminate(String),
}

fn u(ip: Ipv4Addr) -> u32 {
    u32::from(ip)
}
fn ip(v: u32) -> Ipv4Addr {
    Ipv4Addr::from(v)
}
fn mask_of(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    }
}
fn is_multicast(a: u32) -> bool {
    a >> 28 == 0xe
}
fn is_lbcast(a: u32) -> bool {
    a == u32::MAX
}
/// `ipv4_is_zeronet`: only 0.0.0.0 since Linux 5.3 ("Allow 0.0.0.0/8 as a valid address
/// range"); the rest of 0.0.0.0/8 is an ordinary unicast range (checked on 6.18).
fn is_zeronet(a: u32) -> bool {
    a == 0
}
fn is_loopback(a: u32) -> bool {
    a >> 24 == 127
}
/// 224.0.0.0/24 (`ipv4_is_local_multicast`).
fn is_local_multicast(a: u32) -> bool {
    a >> 8 == 0xe00000
}

pub fn table_name(id: u32) -> String {
    match id {
        RT_TABLE_LOCAL => "local".into(),
        RT_TABLE_MAIN => "main".into(),
        RT_TABLE_DEFAULT => "default".into(),
        0 => "unspec".into(),
        n => n.to_string(),
    }
}

fn scope_name(s: u8) -> String {
    match s {
        0 => "global".into(),
        200 => "site".into(),
        253 => "link".into(),
        254 => "host".into(),
        255 => "nowhere".into(),
        n => n.to_string(),
    }
}

fn errno_reason(errno: &str) -> DropReason {
    match errno {
        "EINVAL" => DropReason::Blackhole,
        "EHOSTUNREACH" => DropReason::UnreachableRoute,
        "EACCES" => DropReason::Prohibit,
        _ => DropReason::NoRoute,
    }
}

/// `ip_error`: the ICMP destination-unreachable code for a route error.
fn errno_icmp(errno: &str) -> Option<(u8, u8)> {
    match errno {
        "EHOSTUNREACH" => Some((3, 1)),
        "ENETUNREACH" => Some((3, 0)),
        "EACCES" => Some((3, 13)),
        _ => None,
    }
}

fn group_number(g: &str) -> Option<u32> {
    if g == "default" {
        Some(0)
    } else {
        g.parse().ok()
    }
}

/// `ip rule` text for one rule.
pub fn rule_text(r: &FibRule) -> String {
    let mut s = String::new();
    if r.not {
        s.push_str("not ");
    }
    match r.from {
        Some(n) if n.prefix_len() > 0 => {
            let _ = write!(s, "from {}", if n.prefix_len() == 32 { n.addr().to_string() } else { n.to_string() });
        }
        _ => s.push_str("from all"),
    }
    if let Some(n) = r.to {
        if n.prefix_len() > 0 {
            let _ = write!(s, " to {}", if n.prefix_len() == 32 { n.addr().to_string() } else { n.to_string() });
        }
    }
    if let Some(t) = r.tos {
        let _ = write!(s, " tos {t:#04x}");
    }
    if let Some((m, mask)) = r.fwmark {
        if mask == u32::MAX {
            let _ = write!(s, " fwmark {m:#x}");
        } else {
            let _ = write!(s, " fwmark {m:#x}/{mask:#x}");
        }
    }
    if let Some(d) = &r.iif {
        let _ = write!(s, " iif {d}");
    }
    if let Some(d) = &r.oif {
        let _ = write!(s, " oif {d}");
    }
    if r.l3mdev {
        s.push_str(" lookup [l3mdev-table]");
    }
    if let Some(p) = r.ipproto {
        match proto_name(p) {
            Some(n) => {
                let _ = write!(s, " ipproto {n}");
            }
            None => {
                let _ = write!(s, " ipproto {p}");
            }
        }
    }
    for (name, range) in [("sport", r.sport), ("dport", r.dport)] {
        if let Some((a, b)) = range {
            if a == b {
                let _ = write!(s, " {name} {a}");
            } else {
                let _ = write!(s, " {name} {a}-{b}");
            }
        }
    }
    if let Some((a, b)) = r.uidrange {
        let _ = write!(s, " uidrange {a}-{b}");
    }
    match &r.action {
        RuleAction::Table(t) => {
            if !r.l3mdev {
                let _ = write!(s, " lookup {}", table_name(*t));
            }
        }
        RuleAction::Goto(t) => {
            let _ = write!(s, " goto {t}");
        }
        RuleAction::Nop => s.push_str(" nop"),
        RuleAction::Blackhole => s.push_str(" blackhole"),
        RuleAction::Unreachable => s.push_str(" unreachable"),
        RuleAction::Prohibit => s.push_str(" prohibit"),
    }
    if let Some(p) = r.suppress_prefixlength {
        let _ = write!(s, " suppress_prefixlength {p}");
    }
    if let Some(g) = &r.suppress_ifgroup {
        let _ = write!(s, " suppress_ifgroup {g}");
    }
    s
}

/// `ip route show table all` text for one route.
pub fn route_text(r: &crate::model::route::Route) -> String {
    let mut s = String::new();
    if r.rtype != RouteType::Unicast {
        s.push_str(r.rtype.as_str());
        s.push(' ');
    }
    if r.dst.prefix_len() == 0 {
        s.push_str("default");
    } else if r.dst.prefix_len() == 32 {
        let _ = write!(s, "{}", r.dst.addr());
    } else {
        let _ = write!(s, "{}", r.dst.trunc());
    }
    if r.tos != 0 {
        let _ = write!(s, " tos {:#04x}", r.tos);
    }
    let multipath = r.nexthops.len() > 1;
    if !multipath {
        if let Some(nh) = r.nexthops.first() {
            if let Some(g) = nh.gateway {
                let _ = write!(s, " via {g}");
            }
            if let Some(d) = &nh.dev {
                let _ = write!(s, " dev {d}");
            }
        }
    }
    if r.table != RT_TABLE_MAIN {
        let _ = write!(s, " table {}", table_name(r.table));
    }
    if let Some(p) = &r.protocol {
        if p != "boot" {
            let _ = write!(s, " proto {p}");
        }
    }
    if r.scope != Scope::Universe {
        let _ = write!(s, " scope {}", scope_name(r.scope.value()));
    }
    if let Some(p) = r.prefsrc {
        let _ = write!(s, " src {p}");
    }
    if r.metric != 0 {
        let _ = write!(s, " metric {}", r.metric);
    }
    if !multipath {
        if let Some(nh) = r.nexthops.first() {
            if nh.dead {
                s.push_str(" dead");
            }
            if nh.onlink {
                s.push_str(" onlink");
            }
            if nh.linkdown {
                s.push_str(" linkdown");
            }
        }
    } else {
        for nh in &r.nexthops {
            s.push_str(" nexthop");
            if let Some(g) = nh.gateway {
                let _ = write!(s, " via {g}");
            }
            if let Some(d) = &nh.dev {
                let _ = write!(s, " dev {d}");
            }
            let _ = write!(s, " weight {}", nh.weight.max(1));
            if nh.dead {
                s.push_str(" dead");
            }
            if nh.onlink {
                s.push_str(" onlink");
            }
            if nh.linkdown {
                s.push_str(" linkdown");
            }
        }
    }
    s
}

/// Reads the sysctls the routing code consults for one device.
struct ConfReader<'a> {
    s: &'a Sysctls,
}

impl ConfReader<'_> {
    fn raw(&self, key: &str) -> Option<i64> {
        self.s.values.get(key).and_then(|v| v.split_whitespace().next()?.parse().ok())
    }
    fn default_of(&self, key: &str) -> i64 {
        // Kernel defaults the model's table does not list (`devinet.c:ipv4_devconf`).
        let builtin = if key.ends_with(".send_redirects") || key.ends_with(".shared_media") { 1 } else { 0 };
        self.s.int(key).map(|(v, _)| v).unwrap_or(builtin)
    }
    /// The device's own value: as given, else what a new device inherits from `default`, else
    /// the kernel default.
    fn dev_value(&self, dev: &str, key: &str) -> (i64, Option<String>) {
        let dk = format!("net.ipv4.conf.{}.{}", dev.replace('.', "/"), key);
        if let Some(v) = self.raw(&dk) {
            return (v, None);
        }
        if key == "forwarding" {
            // `devinet.c:inet_forward_change`: writing ip_forward or all.forwarding sets every
            // device and `default`, so without a per-device value the global one is the best
            // reading of the snapshot.
            let d = self.raw("net.ipv4.conf.default.forwarding");
            let a = self.raw("net.ipv4.conf.all.forwarding").or_else(|| self.raw("net.ipv4.ip_forward"));
            let (v, from) = match (d, a) {
                (Some(v), _) => (v, "conf.default.forwarding"),
                (None, Some(v)) => (v, "ip_forward"),
                (None, None) => (0, "the kernel default"),
            };
            return (v, Some(format!("{dk} not in snapshot: assumed {v} from {from}")));
        }
        let d = format!("net.ipv4.conf.default.{key}");
        if let Some(v) = self.raw(&d) {
            return (v, Some(format!("{dk} not in snapshot: assumed {v}, inherited from {d}")));
        }
        let v = self.default_of(&d);
        (v, Some(format!("{dk} not in snapshot: assumed the kernel default {v}")))
    }
    fn all_value(&self, key: &str) -> (i64, Option<String>) {
        let k = format!("net.ipv4.conf.all.{key}");
        match self.raw(&k) {
            Some(v) => (v, None),
            None => {
                let v = self.default_of(&k);
                (v, Some(format!("{k} not in snapshot: assumed the kernel default {v}")))
            }
        }
    }
    fn join(a: Option<String>, b: Option<String>) -> Option<String> {
        match (a, b) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        }
    }
    /// `IN_DEV_CONF_GET`: the device's value only.
    fn own(&self, dev: &str, key: &str) -> Conf {
        let (v, a) = self.dev_value(dev, key);
        Conf { val: v, assumed: a }
    }
    /// `IN_DEV_ORCONF`: all || dev.
    fn or(&self, dev: &str, key: &str) -> Conf {
        let (d, da) = self.dev_value(dev, key);
        let (a, aa) = self.all_value(key);
        Conf { val: ((d != 0) || (a != 0)) as i64, assumed: Self::join(aa, da) }
    }
    /// `IN_DEV_ANDCONF`: all && dev.
    fn and(&self, dev: &str, key: &str) -> Conf {
        let (d, da) = self.dev_value(dev, key);
        let (a, aa) = self.all_value(key);
        Conf { val: ((d != 0) && (a != 0)) as i64, assumed: Self::join(aa, da) }
    }
    /// `IN_DEV_MAXCONF`: max(all, dev).
    fn max(&self, dev: &str, key: &str) -> Conf {
        let (d, da) = self.dev_value(dev, key);
        let (a, aa) = self.all_value(key);
        Conf { val: d.max(a), assumed: Self::join(aa, da) }
    }
}

impl Fib {
    pub fn new(ns: &Namespace) -> Fib {
        let cr = ConfReader { s: &ns.sysctls };
        let mut devs = Vec::with_capacity(ns.links.len());
        let mut dev_idx: HashMap<String, usize, std::hash::BuildHasherDefault<PrefixHasher>> = HashMap::default();
        let mut lo = None;
        let mut has_vrf = false;
        for l in &ns.links {
            let loopback = matches!(l.kind, LinkKind::Loopback) || l.name == "lo";
            if loopback && lo.is_none() {
                lo = Some(devs.len());
            }
            if matches!(&l.kind, LinkKind::Other { name } if name == "vrf") {
                has_vrf = true;
            }
            dev_idx.insert(l.name.clone(), devs.len());
            devs.push(Dev {
                name: l.name.clone(),
                up: l.up,
                lower_up: l.lower_up || loopback,
                loopback,
                group: l.group.as_deref().and_then(group_number).unwrap_or(0),
                addrs: Vec::new(),
                forwarding: cr.own(&l.name, "forwarding"),
                rp_filter: cr.max(&l.name, "rp_filter"),
                route_localnet: cr.or(&l.name, "route_localnet"),
                accept_local: cr.or(&l.name, "accept_local"),
                src_valid_mark: cr.or(&l.name, "src_valid_mark"),
                send_redirects: cr.or(&l.name, "send_redirects"),
                shared_media: cr.or(&l.name, "shared_media"),
                ignore_linkdown: cr.or(&l.name, "ignore_routes_with_linkdown"),
                bc_forwarding: cr.and(&l.name, "bc_forwarding"),
            });
        }
        let bc_forwarding_all = cr.all_value("bc_forwarding").0 != 0;
        let mut addrs = Vec::new();
        let mut ifaddr: HashMap<u32, usize, std::hash::BuildHasherDefault<PrefixHasher>> = HashMap::default();
        let mut issues = Vec::new();
        for a in &ns.addrs {
            let Some(&d) = dev_idx.get(&a.ifname) else {
                issues.push(format!("address {}/{} is on device {}, which is not in the link list: ignored", a.local, a.prefix_len, a.ifname));
                continue;
            };
            let m = mask_of(a.prefix_len);
            let local = u(a.local);
            let address = a.peer.map(u).unwrap_or(local);
            devs[d].addrs.push(addrs.len());
            ifaddr.entry(local).or_insert(d);
            addrs.push(IfAddr { local, address, mask: m, scope: a.scope.value(), secondary: a.secondary });
        }

        // Rules, sorted by priority (stable: equal priorities keep dump order, as the kernel's
        // list does).
        let mut rules_m: Vec<FibRule> = if ns.rules.is_empty() { FibRule::defaults() } else { ns.rules.clone() };
        rules_m.sort_by_key(|r| r.priority);
        // `protocol` is bookkeeping (`kernel` on the default rules in some dumps), not a selector.
        let unprotocol = |v: &[FibRule]| v.iter().map(|r| FibRule { protocol: None, ..r.clone() }).collect::<Vec<_>>();
        let custom_rules = unprotocol(&rules_m) != unprotocol(&FibRule::defaults());
        let find_dev = |n: &Option<String>| n.as_ref().map(|n| dev_idx.get(n).copied());
        let mut rules: Vec<RuleC> = rules_m
            .iter()
            .map(|r| RuleC {
                rule: r.clone(),
                text: rule_text(r),
                iif: find_dev(&r.iif),
                oif: find_dev(&r.oif),
                goto: None,
                suppress_ifgroup: r.suppress_ifgroup.as_deref().and_then(group_number),
            })
            .collect();
        for i in 0..rules.len() {
            if let RuleAction::Goto(t) = rules[i].rule.action {
                // `fib_nl_newrule`: the target is the first rule with exactly that priority.
                rules[i].goto = rules.iter().position(|r| r.rule.priority == t);
            }
        }

        let mut fib = Fib {
            ns: ns.name.clone(),
            devs,
            dev_idx,
            lo,
            addrs,
            ifaddr,
            issues,
            rules,
            custom_rules,
            merged: !custom_rules,
            custom_local_routes: false,
            routes: Vec::new(),
            tables: Vec::new(),
            table_idx: BTreeMap::new(),
            has_vrf,
            bc_forwarding_all,
        };

        for r in &ns.routes {
            let scope = r.scope.value();
            let nhs = r
                .nexthops
                .iter()
                .map(|nh| {
                    let dev = nh.dev.as_ref().and_then(|d| fib.dev_idx.get(d).copied());
                    let gw = nh.gateway.map(u);
                    // `fib_sync_down_dev`: nexthops on a down device die, except those of
                    // host-scope routes (the local routes of its addresses).
                    let down = dev.is_some_and(|d| !fib.devs[d].up) && scope < SCOPE_HOST;
                    let carrier = dev.is_some_and(|d| fib.devs[d].up && !fib.devs[d].lower_up);
                    let saddr = dev.map(|d| fib.select_addr(d, gw.unwrap_or(0), scope)).unwrap_or(0);
                    let src_note = match dev {
                        Some(d) => format!("source {} chosen by inet_select_addr for {} (no src on the route)", ip(saddr), fib.devs[d].name),
                        None => String::new(),
                    };
                    NhC {
                        gw,
                        dev,
                        weight: nh.weight.max(1),
                        dead: nh.dead || down,
                        unknown_dev: nh.dev.is_some() && dev.is_none(),
                        linkdown: nh.linkdown || carrier,
                        saddr,
                        src_note,
                    }
                })
                .collect();
            // `fib_has_custom_local_routes`: a local route the kernel did not add itself (an
            // unknown protocol, as from `route -n`, is taken as the kernel's).
            if r.rtype == RouteType::Local && r.protocol.as_deref().is_some_and(|p| p != "kernel") {
                fib.custom_local_routes = true;
            }
            for nh in &r.nexthops {
                if let Some(d) = &nh.dev {
                    if !fib.dev_idx.contains_key(d) {
                        fib.issues.push(format!("route `{}` uses device {d}, which is not in the link list", route_text(r)));
                    }
                }
            }
            fib.routes.push(RouteC {
                table: r.table,
                rtype: r.rtype,
                dst: u(r.dst.network()),
                plen: r.dst.prefix_len(),
                tos: r.tos,
                metric: r.metric,
                scope,
                prefsrc: r.prefsrc.map(u),
                nhs,
                text: route_text(r),
                src_note: r.prefsrc.map(|p| format!("source {p} from the route's src")).unwrap_or_default(),
            });
        }

        // Tables: with no custom rules, local is an alias of main's trie.
        let mut ids: Vec<u32> = fib.routes.iter().map(|r| r.table).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for id in ids {
            let key = if fib.merged && (id == RT_TABLE_LOCAL || id == RT_TABLE_MAIN) { RT_TABLE_MAIN } else { id };
            let ti = match fib.table_idx.get(&key) {
                Some(&t) => t,
                None => {
                    fib.tables.push(Table { by_len: Vec::new() });
                    fib.table_idx.insert(key, fib.tables.len() - 1);
                    fib.tables.len() - 1
                }
            };
            fib.table_idx.insert(id, ti);
            members.entry(ti).or_default();
        }
        for (i, r) in fib.routes.iter().enumerate() {
            let ti = fib.table_idx[&r.table];
            members.entry(ti).or_default().push(i);
        }
        for (ti, list) in members {
            let mut by_len: BTreeMap<u8, PrefixMap> = BTreeMap::new();
            for i in list {
                let r = &fib.routes[i];
                by_len.entry(r.plen).or_default().entry(r.dst & mask_of(r.plen)).or_default().push(i);
            }
            let mut v: Vec<(u32, PrefixMap)> = Vec::new();
            for (len, mut map) in by_len.into_iter().rev() {
                for list in map.values_mut() {
                    // `fib_find_alias` order; the sort is stable so dump order breaks ties.
                    let routes = &fib.routes;
                    list.sort_by(|&a, &b| {
                        let (a, b) = (&routes[a], &routes[b]);
                        b.table.cmp(&a.table).then(b.tos.cmp(&a.tos)).then(a.metric.cmp(&b.metric))
                    });
                }
                v.push((mask_of(len), map));
            }
            fib.tables[ti].by_len = v;
        }
        fib
    }

    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// Whether the namespace has rules other than the three defaults (tables then unmerged).
    pub fn has_custom_rules(&self) -> bool {
        self.custom_rules
    }

    fn dev(&self, name: &str) -> Option<usize> {
        self.dev_idx.get(name).copied()
    }

    /// Steps leave `ns` empty: the engine fills it (it knows the namespace), which saves an
    /// allocation per step on the hot path.
    fn step(&self, kind: StepKind) -> Step {
        Step { ns: String::new(), kind, packet_after: None }
    }
    fn note(&self, steps: &mut Steps, text: String) {
        if steps.on {
            steps.v.push(self.step(StepKind::Note { text }));
        }
    }
    fn conf_note(&self, steps: &mut Steps, c: &Conf) {
        if let Some(a) = &c.assumed {
            if steps.on {
                self.note(steps, a.clone());
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Addresses

    /// `devinet.c:inet_addr_onlink`: `a` (and `b` unless 0) in the subnet of one of the device's
    /// addresses.
    fn addr_onlink(&self, dev: usize, a: u32, b: u32) -> bool {
        self.devs[dev].addrs.iter().map(|&i| &self.addrs[i]).any(|f| (a ^ f.address) & f.mask == 0 && (b == 0 || (b ^ f.address) & f.mask == 0))
    }

    /// `devinet.c:inet_select_addr` on a device index.
    fn select_addr(&self, d: usize, dst: u32, scope: u8) -> u32 {
        let dev = &self.devs[d];
        let localnet_scope = if dev.route_localnet.val != 0 { SCOPE_LINK } else { SCOPE_HOST };
        let mut addr = 0;
        for &ai in &dev.addrs {
            let a = &self.addrs[ai];
            if a.secondary || a.scope.min(localnet_scope) > scope {
                continue;
            }
            if dst == 0 || (dst ^ a.address) & a.mask == 0 {
                return a.local;
            }
            if addr == 0 {
                addr = a.local;
            }
        }
        if addr != 0 {
            return addr;
        }
        // No fit on the device: the first primary non-link address of any device, in device
        // order (lo first) (`in_dev_select_addr`).
        for dev in &self.devs {
            for &ai in &dev.addrs {
                let a = &self.addrs[ai];
                if !a.secondary && a.scope != SCOPE_LINK && a.scope <= scope {
                    return a.local;
                }
            }
        }
        0
    }

    /// `inet_select_addr(dev, nexthop, scope)`: the source the kernel picks for packets out `dev`
    /// towards `nexthop` (MASQUERADE uses scope universe, netfilter-model.md §3.5(4)). `None`
    /// when no device has a suitable address (MASQUERADE then drops) or the device is unknown.
    pub fn inet_select_addr(&self, dev: &str, nexthop: Ipv4Addr, scope: Scope) -> Option<Ipv4Addr> {
        let d = self.dev(dev)?;
        let a = self.select_addr(d, u(nexthop), scope.value());
        (a != 0).then(|| ip(a))
    }

    /// `__ip_dev_find`: an address configured on some device, or of type LOCAL in table local.
    /// This is what a bound source must be, and what `bind()` accepts.
    pub fn is_local(&self, addr: Ipv4Addr) -> bool {
        self.ifaddr.contains_key(&u(addr)) || self.addr_type(addr, None) == RouteType::Local
    }

    /// The device holding `addr` (`__ip_dev_find`).
    pub fn dev_of_local(&self, addr: Ipv4Addr) -> Option<&str> {
        if let Some(&d) = self.ifaddr.get(&u(addr)) {
            return Some(&self.devs[d].name);
        }
        let t = *self.table_idx.get(&RT_TABLE_LOCAL)?;
        match self.table_lookup(t, &self.bare_flow(u(addr), SCOPE_UNIVERSE), false) {
            TLookup::Found(res) if self.routes[res.route].rtype == RouteType::Local => {
                self.routes[res.route].nhs[res.nh].dev.map(|d| self.devs[d].name.as_str())
            }
            _ => None,
        }
    }

    fn bare_flow(&self, dst: u32, scope: u8) -> Fl {
        Fl { dst, src: 0, iif: None, oif: None, mark: 0, tos: 0, proto: 0, sport: 0, dport: 0, uid: Some(0), scope }
    }

    /// The address type `xt_addrtype` sees (`fib_frontend.c:__inet_dev_addr_type` on table
    /// local, which while tables are merged also holds main's routes). `limit_dev` is the
    /// `--limit-iface-in/out` device: a matched route on another device reads as UNICAST.
    /// A reject route (blackhole, unreachable, prohibit, throw) makes the lookup fail, so it reads
    /// as UNICAST too.
    pub fn addr_type(&self, addr: Ipv4Addr, limit_dev: Option<&str>) -> RouteType {
        let a = u(addr);
        if is_zeronet(a) || is_lbcast(a) {
            return RouteType::Broadcast;
        }
        if is_multicast(a) {
            return RouteType::Multicast;
        }
        // The local table exists once anything was put in it (`fib_get_table`).
        if !self.routes.iter().any(|r| r.table == RT_TABLE_LOCAL) {
            return RouteType::Broadcast;
        }
        let t = self.table_idx[&RT_TABLE_LOCAL];
        match self.table_lookup(t, &self.bare_flow(a, SCOPE_UNIVERSE), false) {
            TLookup::Found(res) => {
                let r = &self.routes[res.route];
                match limit_dev {
                    None => r.rtype,
                    Some(l) => {
                        let d0 = r.nhs.first().and_then(|n| n.dev);
                        if d0.is_some() && d0 == self.dev(l) {
                            r.rtype
                        } else {
                            RouteType::Unicast
                        }
                    }
                }
            }
            TLookup::Unknown(ri) if limit_dev.is_none() => self.routes[ri].rtype,
            _ => RouteType::Unicast,
        }
    }

    /// The effective `conf.<dev>.forwarding` (`IN_DEV_FORWARD`) and whether it was assumed.
    pub fn forwarding(&self, dev: &str) -> Option<(bool, bool)> {
        let d = &self.devs[self.dev(dev)?];
        Some((d.forwarding.val != 0, d.forwarding.assumed.is_some()))
    }

    /// The effective `rp_filter` of a device: max(all, dev) (`IN_DEV_RPFILTER`).
    pub fn rp_filter(&self, dev: &str) -> Option<u8> {
        Some(self.devs[self.dev(dev)?].rp_filter.val.clamp(0, 2) as u8)
    }

    // -----------------------------------------------------------------------------------------
    // Table lookup: `fib_trie.c:fib_table_lookup`

    fn table_lookup(&self, t: usize, fl: &Fl, ignore_linkstate: bool) -> TLookup {
        let table = &self.tables[t];
        for (mask, map) in &table.by_len {
            let Some(list) = map.get(&(fl.dst & mask)) else { continue };
            for &ri in list {
                let r = &self.routes[ri];
                if r.tos != 0 && r.tos != fl.tos & IPTOS_RT_MASK {
                    continue;
                }
                if r.scope < fl.scope {
                    continue;
                }
                // `fib_props[type].error` ends the lookup at once.
                match r.rtype {
                    RouteType::Blackhole | RouteType::Nat => return TLookup::Reject("EINVAL", ri),
                    RouteType::Unreachable => return TLookup::Reject("EHOSTUNREACH", ri),
                    RouteType::Prohibit => return TLookup::Reject("EACCES", ri),
                    RouteType::Throw => return TLookup::Reject("EAGAIN", ri),
                    _ => {}
                }
                for (ni, nh) in r.nhs.iter().enumerate() {
                    // `fib_lookup_good_nhc`
                    if nh.dead {
                        continue;
                    }
                    if nh.unknown_dev {
                        return TLookup::Unknown(ri);
                    }
                    if nh.linkdown && !ignore_linkstate && self.ignore_linkdown(nh) {
                        continue;
                    }
                    if fl.oif.is_some() && nh.dev != fl.oif {
                        continue;
                    }
                    return TLookup::Found(Res { route: ri, nh: ni });
                }
            }
        }
        TLookup::NoMatch
    }

    fn ignore_linkdown(&self, nh: &NhC) -> bool {
        nh.dev.is_some_and(|d| self.devs[d].ignore_linkdown.val != 0)
    }

    fn route_step(&self, steps: &mut Steps, table: u32, route: &str, result: &str) {
        if steps.on {
            steps.v.push(self.step(StepKind::Route { table: table_name(table), route: route.to_string(), result: result.to_string() }));
        }
    }

    /// One table consulted by a rule (or by the merged fast path).
    /// `quiet_miss`: say nothing when the table has no match (the local table under custom
    /// rules misses for almost every packet; saying so on every trace is noise).
    fn consult(&self, table: u32, fl: &Fl, ignore_linkstate: bool, steps: &mut Steps, quiet_miss: bool) -> Result<Res, &'static str> {
        let Some(&t) = self.table_idx.get(&table) else {
            if !quiet_miss {
                self.route_step(steps, table, "", "table does not exist: continue");
            }
            return Err("EAGAIN");
        };
        match self.table_lookup(t, fl, ignore_linkstate) {
            TLookup::Found(res) => {
                let r = &self.routes[res.route];
                let what = match r.rtype {
                    RouteType::Unicast => "matched (unicast)",
                    RouteType::Local => "matched (local)",
                    RouteType::Broadcast => "matched (broadcast)",
                    _ => "matched",
                };
                self.route_step(steps, r.table, &r.text, what);
                Ok(res)
            }
            TLookup::Reject(e, ri) => {
                let r = &self.routes[ri];
                let what = if e == "EAGAIN" { "throw: continue with the next rule".to_string() } else { format!("{}: {e}", r.rtype.as_str()) };
                self.route_step(steps, r.table, &r.text, &what);
                Err(e)
            }
            TLookup::Unknown(ri) => {
                self.route_step(steps, self.routes[ri].table, &self.routes[ri].text, "its device is not in the snapshot");
                Err("EUNKNOWN")
            }
            TLookup::NoMatch => {
                if !quiet_miss && steps.on {
                    self.route_step(steps, table, "", &format!("no route to {} in this table", ip(fl.dst)));
                }
                Err("EAGAIN")
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Policy rules: `fib_rules.c:fib_rules_lookup`, or `ip_fib.h:fib_lookup` without custom rules

    fn fib_lookup(&self, fl: &Fl, ignore_linkstate: bool, steps: &mut Steps) -> Result<Res, LookErr> {
        if !self.custom_rules {
            // `include/net/ip_fib.h:fib_lookup`: main (which holds local), then default when
            // main has no match; a reject route in main is final (checked on 6.18: a blackhole
            // in main with a default route in table default gives EINVAL).
            let mut r = self.consult(RT_TABLE_MAIN, fl, ignore_linkstate, steps, false);
            if matches!(r, Err("EAGAIN")) && self.table_idx.contains_key(&RT_TABLE_DEFAULT) {
                r = self.consult(RT_TABLE_DEFAULT, fl, ignore_linkstate, steps, false);
            }
            return match r {
                Ok(res) => Ok(res),
                Err("EAGAIN") => Err(LookErr::Errno("ENETUNREACH", DropReason::NoRoute)),
                Err("EUNKNOWN") => Err(self.unknown_dev_route(fl)),
                Err(e) => Err(LookErr::Errno(e, errno_reason(e))),
            };
        }
        let mut i = 0;
        let mut hops = 0;
        while i < self.rules.len() {
            hops += 1;
            if hops > 4 * self.rules.len() + 4 {
                // Gotos only jump forward in the kernel; this guards a hand-built model.
                return Err(LookErr::Indeterminate("policy rules loop through goto".into()));
            }
            let rc = &self.rules[i];
            match self.rule_match(rc, fl) {
                Ok(false) => {
                    i += 1;
                    continue;
                }
                Ok(true) => {}
                Err(e) => return Err(e),
            }
            // The rule's step goes before whatever its action says; a local-table miss says
            // nothing at all.
            let mark = steps.v.len();
            let quiet = rc.rule.action == RuleAction::Table(RT_TABLE_LOCAL);
            if !quiet && steps.on {
                steps.v.push(self.step(StepKind::FibRule { priority: rc.rule.priority, text: rc.text.clone() }));
            }
            let mut reason = None;
            let err = match rc.rule.action {
                RuleAction::Goto(_) => {
                    match rc.goto {
                        Some(j) => i = j,
                        None => {
                            self.note(steps, "goto target does not exist: rule ignored".into());
                            i += 1;
                        }
                    }
                    continue;
                }
                RuleAction::Nop => {
                    i += 1;
                    continue;
                }
                RuleAction::Blackhole => {
                    reason = Some(DropReason::Blackhole);
                    Err("EINVAL")
                }
                RuleAction::Unreachable => {
                    reason = Some(DropReason::UnreachableRoute);
                    Err("ENETUNREACH")
                }
                RuleAction::Prohibit => {
                    reason = Some(DropReason::Prohibit);
                    Err("EACCES")
                }
                RuleAction::Table(t) => self.consult(t, fl, ignore_linkstate, steps, quiet),
            };
            if quiet && steps.v.len() > mark {
                steps.v.insert(mark, self.step(StepKind::FibRule { priority: rc.rule.priority, text: rc.text.clone() }));
            }
            match err {
                Ok(res) => {
                    if let Some(why) = self.suppressed(rc, res) {
                        self.note(steps, why);
                        i += 1;
                        continue;
                    }
                    return Ok(res);
                }
                Err("EAGAIN") => {
                    i += 1;
                }
                Err("EUNKNOWN") => return Err(self.unknown_dev_route(fl)),
                Err(e) => return Err(LookErr::Errno(e, reason.unwrap_or_else(|| errno_reason(e)))),
            }
        }
        self.note(steps, "no policy rule produced a route (ESRCH -> ENETUNREACH)".into());
        Err(LookErr::Errno("ENETUNREACH", DropReason::NoRoute))
    }

    fn unknown_dev_route(&self, fl: &Fl) -> LookErr {
        LookErr::Indeterminate(format!("the route to {} uses a device that is not in the snapshot's link list", ip(fl.dst)))
    }

    /// Inconsistencies found while building: things the snapshot mentions that it does not
    /// define (to be reported as diagnostics by the caller).
    pub fn issues(&self) -> &[String] {
        &self.issues
    }

    /// `fib4_rule_suppress`.
    fn suppressed(&self, rc: &RuleC, res: Res) -> Option<String> {
        let r = &self.routes[res.route];
        if let Some(p) = rc.rule.suppress_prefixlength {
            if (r.plen as i32) <= p {
                return Some(format!("route prefix length {} <= suppress_prefixlength {p}: result suppressed, next rule", r.plen));
            }
        }
        if let Some(g) = rc.suppress_ifgroup {
            if let Some(d) = r.nhs.first().and_then(|n| n.dev) {
                if self.devs[d].group == g {
                    return Some(format!("route device {} is in suppress_ifgroup {g}: result suppressed, next rule", self.devs[d].name));
                }
            }
        }
        None
    }

    /// `fib_rule_match` + `fib4_rule_match`.
    fn rule_match(&self, rc: &RuleC, fl: &Fl) -> Result<bool, LookErr> {
        let r = &rc.rule;
        let m = (|| {
            if let Some(want) = rc.iif {
                if want.is_none() || want != fl.iif {
                    return Ok(false);
                }
            }
            if let Some(want) = rc.oif {
                if want.is_none() || want != fl.oif {
                    return Ok(false);
                }
            }
            if let Some((mark, mask)) = r.fwmark {
                if (mark ^ fl.mark) & mask != 0 {
                    return Ok(false);
                }
            }
            if r.l3mdev {
                if self.has_vrf {
                    return Err(LookErr::Indeterminate(format!("rule {} selects on l3mdev (VRF), which is not modelled", r.priority)));
                }
                return Ok(false);
            }
            if let Some((lo, hi)) = r.uidrange {
                match fl.uid {
                    Some(uid) => {
                        if uid < lo || uid > hi {
                            return Ok(false);
                        }
                    }
                    None => return Err(LookErr::Indeterminate(format!("rule {} selects on uidrange {lo}-{hi} and the sending uid is unknown", r.priority))),
                }
            }
            if let Some(n) = r.from {
                let m = mask_of(n.prefix_len());
                if (fl.src ^ u(n.network())) & m != 0 {
                    return Ok(false);
                }
            }
            if let Some(n) = r.to {
                let m = mask_of(n.prefix_len());
                if (fl.dst ^ u(n.network())) & m != 0 {
                    return Ok(false);
                }
            }
            if let Some(t) = r.tos {
                if t != 0 && t != fl.tos & IPTOS_RT_MASK {
                    return Ok(false);
                }
            }
            if let Some(p) = r.ipproto {
                if p != 0 && p != fl.proto {
                    return Ok(false);
                }
            }
            if let Some((lo, hi)) = r.sport {
                if fl.sport < lo || fl.sport > hi {
                    return Ok(false);
                }
            }
            if let Some((lo, hi)) = r.dport {
                if fl.dport < lo || fl.dport > hi {
                    return Ok(false);
                }
            }
            Ok(true)
        })();
        m.map(|b| b != r.not)
    }

    // -----------------------------------------------------------------------------------------
    // Multipath: `fib_rebalance` + `fib_select_multipath`

    /// Which nexthop the hash sends a flow to, as fractions of the 31-bit hash space
    /// (`fib_rebalance` upper bounds), given the flow's bound source `saddr` (0 for input and for
    /// unbound sockets). Since 6.16 `fib_select_multipath` scores nexthops: +2 when `nh_saddr`
    /// equals the bound source, +1 when the hash is under the upper bound; the best first one
    /// wins. So a bound source that some nexthop uses pins the flow to those nexthops.
    fn multipath_shares(&self, route: usize, saddr: u32) -> Vec<(usize, f64)> {
        let r = &self.routes[route];
        let alive = |nh: &NhC| !(nh.dead || nh.linkdown && self.ignore_linkdown(nh));
        let total: u64 = r.nhs.iter().filter(|n| alive(n)).map(|n| n.weight as u64).sum();
        if total == 0 {
            return Vec::new();
        }
        let live: Vec<usize> = (0..r.nhs.len()).filter(|&i| alive(&r.nhs[i])).collect();
        let mut share = vec![0f64; r.nhs.len()];
        let mut w = 0u64;
        let mut prev: i64 = -1;
        for (k, &j) in live.iter().enumerate() {
            w += r.nhs[j].weight as u64;
            // DIV_ROUND_CLOSEST_ULL(w << 31, total) - 1
            let ub = (((w << 31) + total / 2) / total) as i64 - 1;
            let p = (ub - prev) as f64 / (1u64 << 31) as f64;
            prev = ub;
            // A hash in (prev, ub] is under the bound of live nexthops k.. only.
            let matches = |i: usize| saddr != 0 && r.nhs[i].saddr == saddr;
            let chosen = live[k..].iter().copied().find(|&i| matches(i)).or_else(|| live.iter().copied().find(|&i| matches(i))).unwrap_or(j);
            share[chosen] += p;
        }
        share.into_iter().enumerate().filter(|(_, p)| *p > 0.0).collect()
    }

    // -----------------------------------------------------------------------------------------
    // Source validation: `fib_frontend.c:fib_validate_source`

    /// `Ok(true)` when the source is on-link through `dev` (nexthop scope host).
    #[allow(clippy::too_many_arguments)]
    fn validate_source(
        &self,
        src: u32,
        dst: u32,
        fl: &Fl,
        oif: Option<usize>,
        dev: usize,
        steps: &mut Steps,
    ) -> Result<bool, (&'static str, DropReason, String)> {
        let d = &self.devs[dev];
        let r = d.rp_filter.val.clamp(0, 2);
        self.conf_note(steps, &d.rp_filter);
        if r == 0 && (Some(dev) != oif || d.send_redirects.val == 0) {
            self.conf_note(steps, &d.accept_local);
            if d.accept_local.val != 0 {
                return Ok(false);
            }
            if !(self.custom_local_routes || self.custom_rules) {
                if self.ifaddr.contains_key(&src) {
                    return Err((
                        "EINVAL",
                        DropReason::Martian,
                        format!("martian source {}: it is one of this namespace's addresses (accept_local=0)", ip(src)),
                    ));
                }
                return Ok(false);
            }
        }
        // The reverse lookup's steps only matter when it refuses the packet.
        let mut rsteps = Steps::new(steps.on);
        let v = self.reverse_path(src, dst, fl, oif, dev, r, &mut rsteps);
        if v.is_err() {
            self.note(steps, format!("rp_filter={r} on {}: reverse lookup of {} (fib_validate_source)", d.name, ip(src)));
            steps.v.append(&mut rsteps.v);
        }
        v
    }

    /// `__fib_validate_source`: a reverse lookup from the destination back to the source.
    #[allow(clippy::too_many_arguments)]
    fn reverse_path(
        &self,
        src: u32,
        dst: u32,
        fl: &Fl,
        oif: Option<usize>,
        dev: usize,
        r: i64,
        steps: &mut Steps,
    ) -> Result<bool, (&'static str, DropReason, String)> {
        let d = &self.devs[dev];
        let mut rfl = Fl {
            dst: src,
            src: dst,
            iif: oif.or(self.lo),
            oif: None,
            mark: if d.src_valid_mark.val != 0 { fl.mark } else { 0 },
            tos: fl.tos,
            proto: fl.proto,
            sport: fl.dport,
            dport: fl.sport,
            uid: Some(0),
            scope: SCOPE_UNIVERSE,
        };
        if fl.mark != 0 {
            self.conf_note(steps, &d.src_valid_mark);
        }
        let no_addr = d.addrs.is_empty();
        let last_resort = |why: String| -> Result<bool, (&'static str, DropReason, String)> {
            if r != 0 {
                Err(("EXDEV", DropReason::RpFilter, why))
            } else {
                Ok(false)
            }
        };
        let res = match self.fib_lookup(&rfl, false, steps) {
            Ok(res) => res,
            Err(LookErr::Indeterminate(w)) => return Err(("EUNKNOWN", DropReason::NoRoute, format!("reverse-path check: {w}"))),
            Err(_) => return last_resort(format!("rp_filter: no route back to {}", ip(src))),
        };
        let rt = &self.routes[res.route];
        if rt.rtype != RouteType::Unicast && !(rt.rtype == RouteType::Local && d.accept_local.val != 0) {
            return Err(("EINVAL", DropReason::Martian, format!("martian source {}: the route back is {}, not unicast", ip(src), rt.rtype.as_str())));
        }
        let dev_match = rt.nhs.iter().any(|n| n.dev == Some(dev)) || (rt.rtype == RouteType::Local && d.loopback);
        if dev_match {
            return Ok(rt.nhs[res.nh].gw.is_none());
        }
        if no_addr {
            return last_resort(format!("rp_filter: {} has no IPv4 address and the route back leaves another device", d.name));
        }
        if r == 1 {
            return Err(("EXDEV", DropReason::RpFilter, format!("rp_filter=1 (strict): the route back to {} does not leave {}", ip(src), d.name)));
        }
        rfl.oif = Some(dev);
        let mut scratch = Steps::new(false);
        Ok(match self.fib_lookup(&rfl, true, &mut scratch) {
            Ok(res2) => {
                let r2 = &self.routes[res2.route];
                r2.rtype == RouteType::Unicast && r2.nhs[res2.nh].gw.is_none()
            }
            Err(_) => false,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Input routing: `route.c:ip_route_input_slow`

    fn result(&self, decision: Decision, steps: Steps) -> RouteResult {
        RouteResult { decision, steps: steps.v, rtype: None, dev: None, table: None, route: None, branches: Vec::new(), redirect: false }
    }

    /// A refusal by `fib_validate_source`, or indeterminate when its lookup left the model.
    fn refused(reason: DropReason, errno: &'static str, why: &str) -> Decision {
        if errno == "EUNKNOWN" {
            Decision::Indeterminate { what: why.to_string() }
        } else {
            Self::fail(reason, errno, None)
        }
    }

    fn fail(reason: DropReason, errno: &'static str, icmp: Option<(u8, u8)>) -> Decision {
        Decision::Fail { reason, errno, icmp }
    }

    /// Routes a packet received on `key.iif` (which must be set) with source `key.src`
    /// (`ip_route_input_noref`). Packets a local socket sent to a local address come back
    /// through `lo` with their output route attached and are *not* routed again: do not call
    /// this for them (the kernel would not, and the martian-source check would refuse them).
    pub fn route_input(&self, key: &FlowKey) -> RouteResult {
        let mut steps = Steps::new(!key.quiet);
        let Some(iif) = key.iif.as_deref() else {
            return self.result(Decision::Indeterminate { what: "input routing without an input device".into() }, steps);
        };
        let Some(dev) = self.dev(iif) else {
            return self.result(Decision::Indeterminate { what: format!("input device {iif} is not in the snapshot") }, steps);
        };
        let d = &self.devs[dev];
        let saddr = key.src.map(u).unwrap_or(0);
        let daddr = u(key.dst);
        let fl = Fl {
            dst: daddr,
            src: saddr,
            iif: Some(dev),
            oif: None,
            mark: key.mark,
            tos: key.tos,
            proto: key.proto,
            sport: key.sport,
            dport: key.dport,
            uid: Some(0),
            scope: SCOPE_UNIVERSE,
        };
        let martian = |steps: Steps, what: String| -> RouteResult {
            let mut steps = steps;
            self.note(&mut steps, what);
            self.result(Self::fail(DropReason::Martian, "EINVAL", None), steps)
        };

        // `ip_route_input_rcu`: multicast destinations never reach the unicast lookup; whether
        // the packet is taken depends on group membership (`ip_check_mc_rcu`), not modelled.
        if is_multicast(daddr) {
            return self.result(Decision::Indeterminate { what: format!("multicast destination {}: group membership is not modelled", ip(daddr)) }, steps);
        }
        // The martians `fib_lookup` cannot catch.
        if is_multicast(saddr) || is_lbcast(saddr) {
            return martian(steps, format!("martian source {}: multicast or broadcast", ip(saddr)));
        }
        let broadcast_input = is_lbcast(daddr) || (saddr == 0 && daddr == 0);
        if !broadcast_input {
            if is_zeronet(saddr) {
                return martian(steps, "martian source 0.0.0.0".into());
            }
            if is_zeronet(daddr) {
                return martian(steps, "martian destination 0.0.0.0".into());
            }
            if is_loopback(daddr) || is_loopback(saddr) {
                self.conf_note(&mut steps, &d.route_localnet);
                if d.route_localnet.val == 0 {
                    let what = if is_loopback(daddr) { "destination" } else { "source" };
                    let a = if is_loopback(daddr) { daddr } else { saddr };
                    return martian(steps, format!("martian {what} {}: 127.0.0.0/8 with route_localnet=0 on {iif}", ip(a)));
                }
            }
        }

        let mut out = self.result(Decision::Broadcast, Steps::new(false));
        let res = if broadcast_input {
            None
        } else {
            match self.fib_lookup(&fl, false, &mut steps) {
                Ok(res) => Some(res),
                Err(LookErr::Indeterminate(w)) => return self.result(Decision::Indeterminate { what: w }, steps),
                Err(LookErr::Errno(e, reason)) => {
                    // `no_route` then `ip_error`: ICMP only when forwarding is on for the device.
                    self.conf_note(&mut steps, &d.forwarding);
                    let fwd = d.forwarding.val != 0;
                    let (errno, icmp) = if fwd { (e, errno_icmp(e)) } else { ("EHOSTUNREACH", None) };
                    if !fwd {
                        self.note(&mut steps, format!("forwarding=0 on {iif}: dropped silently (ip_error sends no ICMP)"));
                    }
                    out.decision = Self::fail(reason, errno, icmp);
                    out.steps = steps.v;
                    return out;
                }
            }
        };
        if let Some(res) = res {
            let r = &self.routes[res.route];
            out.rtype = Some(r.rtype);
            out.table = Some(r.table);
            out.route = Some(r.text.clone());
        }
        let rtype = res.map(|r| self.routes[r.route].rtype);

        if broadcast_input || rtype == Some(RouteType::Broadcast) {
            if !broadcast_input && d.bc_forwarding.val != 0 && self.bc_forwarding_all {
                out.decision = Decision::Indeterminate { what: "bc_forwarding of directed broadcasts is not modelled".into() };
                out.steps = steps.v;
                return out;
            }
            if saddr != 0 {
                if let Err((errno, reason, why)) = self.validate_source(saddr, 0, &fl, None, dev, &mut steps) {
                    out.decision = Self::refused(reason, errno, &why);
                    self.note(&mut steps, why);
                    out.steps = steps.v;
                    return out;
                }
            }
            out.rtype = Some(RouteType::Broadcast);
            out.decision = Decision::Broadcast;
            out.steps = steps.v;
            return out;
        }
        let Some(res) = res else {
            out.decision = Decision::Indeterminate { what: "input lookup produced no result".into() };
            out.steps = steps.v;
            return out;
        };
        let r = &self.routes[res.route];
        if r.rtype == RouteType::Local {
            if let Err((errno, reason, why)) = self.validate_source(saddr, daddr, &fl, None, dev, &mut steps) {
                out.decision = Self::refused(reason, errno, &why);
                self.note(&mut steps, why);
                out.steps = steps.v;
                return out;
            }
            out.decision = Decision::Local { src: ip(saddr) };
            out.steps = steps.v;
            return out;
        }
        self.conf_note(&mut steps, &d.forwarding);
        if d.forwarding.val == 0 {
            self.note(&mut steps, format!("net.ipv4.conf.{iif}.forwarding=0: not forwarded, dropped without ICMP"));
            out.decision = Self::fail(DropReason::ForwardingDisabled, "EHOSTUNREACH", None);
            out.steps = steps.v;
            return out;
        }
        if r.rtype != RouteType::Unicast {
            self.note(&mut steps, format!("martian destination {}: route type {} cannot be forwarded", ip(daddr), r.rtype.as_str()));
            out.decision = Self::fail(DropReason::Martian, "EINVAL", None);
            out.steps = steps.v;
            return out;
        }

        // `ip_mkroute_input` + `__mkroute_input`, once per nexthop the hash can pick.
        let choices: Vec<(usize, f64)> = if r.nhs.len() > 1 { self.multipath_shares(res.route, 0) } else { vec![(res.nh, 1.0)] };
        if r.nhs.len() > 1 {
            self.note(&mut steps, multipath_note(choices.len()));
        }
        let mut first = true;
        for (ni, p) in &choices {
            let nh = &r.nhs[*ni];
            let Some(odev) = nh.dev else { continue };
            let mut bsteps = Steps::new(steps.on);
            let mut redirect = false;
            let dec = match self.validate_source(saddr, daddr, &fl, Some(odev), dev, &mut bsteps) {
                Err((errno, reason, why)) => {
                    let d = Self::refused(reason, errno, &why);
                    self.note(&mut bsteps, why);
                    d
                }
                Ok(onlink) => {
                    // `__mkroute_input`: IPSKB_DOREDIRECT.
                    if odev == dev && onlink && d.send_redirects.val != 0 && (d.shared_media.val != 0 || self.addr_onlink(dev, saddr, nh.gw.unwrap_or(0))) {
                        redirect = true;
                        self.note(&mut bsteps, format!("packet leaves {iif} where it came in: ICMP redirect flagged (send_redirects)"));
                    }
                    Decision::Unicast { dev: self.devs[odev].name.clone(), nexthop: ip(nh.gw.unwrap_or(daddr)), gateway: nh.gw.map(ip), src: ip(saddr) }
                }
            };
            if first {
                steps.v.extend(bsteps.v);
                out.decision = dec.clone();
                out.dev = Some(self.devs[odev].name.clone());
                out.redirect = redirect;
                first = false;
            }
            if r.nhs.len() > 1 {
                out.branches.push(Branch { probability: *p, weight: nh.weight, decision: dec, redirect });
            }
        }
        if first {
            out.decision = Self::fail(DropReason::NoRoute, "ENETUNREACH", None);
        }
        out.steps = steps.v;
        out
    }

    // -----------------------------------------------------------------------------------------
    // Output routing: `route.c:ip_route_output_key_hash_rcu`

    /// Routes a locally generated packet (`key.iif` is ignored: the kernel uses `lo`).
    pub fn route_output(&self, key: &FlowKey) -> RouteResult {
        let mut steps = Steps::new(!key.quiet);
        let mut saddr = key.src.map(u).unwrap_or(0);
        let daddr = u(key.dst);
        let mut out = self.result(Decision::Broadcast, Steps::new(false));
        let fail = |mut out: RouteResult, steps: Steps, reason: DropReason, errno: &'static str| {
            out.decision = Self::fail(reason, errno, None);
            out.steps = steps.v;
            out
        };
        let indet = |mut out: RouteResult, steps: Steps, what: String| {
            out.decision = Decision::Indeterminate { what };
            out.steps = steps.v;
            out
        };
        let oif = match key.oif.as_deref() {
            None => None,
            Some(n) => match self.dev(n) {
                Some(d) => Some(d),
                None => {
                    self.note(&mut steps, format!("bound device {n} does not exist"));
                    return fail(out, steps, DropReason::NoRoute, "ENODEV");
                }
            },
        };
        if saddr != 0 {
            if is_multicast(saddr) || is_lbcast(saddr) || is_zeronet(saddr) {
                self.note(&mut steps, format!("source {} cannot be bound", ip(saddr)));
                return fail(out, steps, DropReason::Martian, "EINVAL");
            }
            if oif.is_none() && (is_multicast(daddr) || is_lbcast(daddr)) {
                if is_multicast(daddr) {
                    return indet(out, steps, "multicast output is not modelled".into());
                }
                let Some(d) = self.dev_of_local(ip(saddr)) else {
                    self.note(&mut steps, format!("bound source {} is not a local address", ip(saddr)));
                    return fail(out, steps, DropReason::NoRoute, "ENETUNREACH");
                };
                out.dev = Some(d.to_string());
                out.rtype = Some(RouteType::Broadcast);
                out.decision = Decision::Broadcast;
                out.steps = steps.v;
                return out;
            }
            if !key.anysrc && !self.is_local(ip(saddr)) {
                self.note(&mut steps, format!("bound source {} is not a local address (__ip_dev_find)", ip(saddr)));
                return fail(out, steps, DropReason::NoRoute, "ENETUNREACH");
            }
        }
        if let Some(o) = oif {
            let od = &self.devs[o];
            if !od.up {
                self.note(&mut steps, format!("bound device {} is down", od.name));
                return fail(out, steps, DropReason::NoRoute, "ENETUNREACH");
            }
            if is_local_multicast(daddr) || is_lbcast(daddr) || key.proto == 2 {
                if is_multicast(daddr) || key.proto == 2 {
                    return indet(out, steps, "multicast output is not modelled".into());
                }
                if saddr == 0 {
                    saddr = self.select_addr(o, 0, SCOPE_LINK);
                }
                out.dev = Some(od.name.clone());
                out.rtype = Some(RouteType::Broadcast);
                out.decision = Decision::Broadcast;
                out.steps = steps.v;
                let _ = saddr;
                return out;
            }
            if saddr == 0 {
                if is_multicast(daddr) {
                    return indet(out, steps, "multicast output is not modelled".into());
                } else if daddr == 0 {
                    saddr = self.select_addr(o, 0, SCOPE_HOST);
                }
            }
        }
        if daddr == 0 {
            let s = if saddr != 0 { saddr } else { u(Ipv4Addr::LOCALHOST) };
            self.note(&mut steps, "destination 0.0.0.0: sent to the source over lo".into());
            out.dev = Some(self.lo.map(|l| self.devs[l].name.clone()).unwrap_or_else(|| "lo".into()));
            out.rtype = Some(RouteType::Local);
            out.decision = Decision::Local { src: ip(s) };
            out.steps = steps.v;
            return out;
        }
        let fl = Fl {
            dst: daddr,
            src: saddr,
            iif: self.lo,
            oif,
            mark: key.mark,
            tos: key.tos,
            proto: key.proto,
            sport: key.sport,
            dport: key.dport,
            uid: key.uid,
            scope: SCOPE_UNIVERSE,
        };
        let res = match self.fib_lookup(&fl, false, &mut steps) {
            Ok(r) => r,
            Err(LookErr::Indeterminate(w)) => return indet(out, steps, w),
            Err(LookErr::Errno(e, reason)) => {
                if let Some(o) = oif {
                    // "Apparently, routing tables are wrong. Assume, that the destination is on
                    // link." (route.c)
                    let s = if saddr != 0 { saddr } else { self.select_addr(o, 0, SCOPE_LINK) };
                    self.note(&mut steps, format!("no route ({e}); the socket is bound to {}: destination assumed on-link", self.devs[o].name));
                    out.dev = Some(self.devs[o].name.clone());
                    out.rtype = Some(RouteType::Unicast);
                    out.decision = if self.devs[o].loopback {
                        // `__mkroute_output`: anything sent out lo is RTCF_LOCAL, delivered here.
                        Decision::Local { src: ip(s) }
                    } else {
                        Decision::Unicast { dev: self.devs[o].name.clone(), nexthop: key.dst, gateway: None, src: ip(s) }
                    };
                    out.steps = steps.v;
                    return out;
                }
                return fail(out, steps, reason, e);
            }
        };
        let r = &self.routes[res.route];
        out.rtype = Some(r.rtype);
        out.table = Some(r.table);
        out.route = Some(r.text.clone());
        if r.rtype == RouteType::Local {
            let s = if saddr != 0 { saddr } else { r.prefsrc.unwrap_or(daddr) };
            out.dev = Some(self.lo.map(|l| self.devs[l].name.clone()).unwrap_or_else(|| "lo".into()));
            out.decision = Decision::Local { src: ip(s) };
            out.steps = steps.v;
            return out;
        }
        if matches!(r.rtype, RouteType::Multicast | RouteType::Anycast) || is_multicast(daddr) {
            return indet(out, steps, format!("output to a {} route is not modelled", r.rtype.as_str()));
        }
        // `fib_select_path`
        let mut choices: Vec<(usize, f64)> = vec![(res.nh, 1.0)];
        if oif.is_none() && r.nhs.len() > 1 {
            choices = self.multipath_shares(res.route, saddr);
            self.note(&mut steps, multipath_note(choices.len()));
        } else if oif.is_none() && r.plen == 0 && r.rtype == RouteType::Unicast && self.equal_defaults(res.route) {
            return indet(out, steps, "several default routes with equal metric: the kernel picks by neighbour state (fib_select_default)".into());
        }
        let mut first = true;
        for (ni, p) in &choices {
            let nh = &r.nhs[*ni];
            let Some(odev) = nh.dev else { continue };
            let s = if saddr != 0 {
                saddr
            } else if let Some(p) = r.prefsrc {
                p
            } else {
                nh.saddr
            };
            let dec = if is_loopback(s) && !self.devs[odev].loopback {
                Self::fail(DropReason::Martian, "EINVAL", None)
            } else if is_lbcast(daddr) || r.rtype == RouteType::Broadcast {
                Decision::Broadcast
            } else if is_zeronet(daddr) {
                Self::fail(DropReason::Martian, "EINVAL", None)
            } else {
                if self.devs[odev].loopback {
                    // `__mkroute_output`: a route out lo is RTCF_LOCAL: delivered here.
                    Decision::Local { src: ip(s) }
                } else {
                    Decision::Unicast { dev: self.devs[odev].name.clone(), nexthop: ip(nh.gw.unwrap_or(daddr)), gateway: nh.gw.map(ip), src: ip(s) }
                }
            };
            if first {
                if s == 0 {
                    self.note(&mut steps, "no address to use as source on any device: 0.0.0.0".into());
                } else if saddr == 0 && steps.on {
                    let text = if r.prefsrc.is_some() { r.src_note.clone() } else { nh.src_note.clone() };
                    self.note(&mut steps, text);
                }
                if is_loopback(s) && !self.devs[odev].loopback {
                    self.note(&mut steps, format!("source {} is loopback and the route leaves {}", ip(s), self.devs[odev].name));
                }
                out.decision = dec.clone();
                out.dev = Some(self.devs[odev].name.clone());
                first = false;
            }
            if choices.len() > 1 || r.nhs.len() > 1 && oif.is_none() {
                out.branches.push(Branch { probability: *p, weight: nh.weight, decision: dec, redirect: false });
            }
        }
        if first {
            out.decision = Self::fail(DropReason::NoRoute, "ENETUNREACH", None);
        }
        out.steps = steps.v;
        out
    }

    /// Whether `fib_select_default` could replace the chosen default route by another alias
    /// with the same metric and TOS.
    fn equal_defaults(&self, route: usize) -> bool {
        let r = &self.routes[route];
        let Some(&t) = self.table_idx.get(&r.table) else { return false };
        let Some((_, map)) = self.tables[t].by_len.iter().find(|(m, _)| *m == 0) else { return false };
        map.get(&0).is_some_and(|list| {
            list.iter().any(|&o| {
                let x = &self.routes[o];
                o != route
                    && x.table == r.table
                    && x.metric == r.metric
                    && x.tos == r.tos
                    && x.rtype == RouteType::Unicast
                    && x.nhs.first().is_some_and(|n| n.gw.is_some() && !n.dead)
            })
        })
    }

    /// `ipt_rpfilter.c:rpfilter_mt` before its `--invert`: whether `-m rpfilter` matches a packet
    /// from `src` to `dst` that came in on `iif`. `mark` is the skb mark when `--validmark` is
    /// given, else 0. `None` when the reverse lookup is outside the model.
    pub fn rpfilter(&self, src: Ipv4Addr, dst: Ipv4Addr, iif: &str, mark: u32, loose: bool, accept_local: bool) -> Option<bool> {
        let d = self.dev(iif)?;
        // `rpfilter_is_loopback`
        if self.devs[d].loopback {
            return Some(true);
        }
        let (s, t) = (u(src), u(dst));
        if is_zeronet(s) && (is_lbcast(t) || is_local_multicast(t)) {
            return Some(true);
        }
        // `rpfilter_get_saddr`
        let saddr = if is_multicast(t) || is_lbcast(t) || is_zeronet(t) { 0 } else { t };
        let fl = Fl { dst: s, src: saddr, iif: self.lo, oif: None, mark, tos: 0, proto: 0, sport: 0, dport: 0, uid: Some(0), scope: SCOPE_UNIVERSE };
        let mut scratch = Steps::new(false);
        // `rpfilter_lookup_reverse`
        let res = match self.fib_lookup(&fl, true, &mut scratch) {
            Ok(res) => res,
            Err(LookErr::Errno(..)) => return Some(false),
            Err(LookErr::Indeterminate(_)) => return None,
        };
        let r = &self.routes[res.route];
        if r.rtype != RouteType::Unicast && !(r.rtype == RouteType::Local && accept_local) {
            return Some(false);
        }
        Some(loose || r.nhs.iter().any(|n| n.dev == Some(d)))
    }

    // -----------------------------------------------------------------------------------------
    // Route insertion checks: `fib_semantics.c:fib_check_nh_v4_gw`

    /// Whether the kernel would accept a nexthop `via gw [dev dev] [onlink]` for a route of
    /// `scope` added to `table`. `Err` carries the errno and the extack text.
    pub fn check_nh_v4_gw(&self, table: u32, gw: Ipv4Addr, dev: Option<&str>, onlink: bool, scope: Scope) -> Result<(), GwError> {
        let invalid_gw = GwError { errno: "EINVAL", message: "Nexthop has invalid gateway" };
        let d = match dev {
            Some(n) => Some(self.dev(n).ok_or(GwError { errno: "ENODEV", message: "Nexthop device not found" })?),
            None => None,
        };
        if onlink {
            if scope.value() >= SCOPE_LINK {
                return Err(GwError { errno: "EINVAL", message: "Nexthop has invalid scope" });
            }
            let d = d.ok_or(GwError { errno: "ENODEV", message: "Nexthop device required for onlink" })?;
            if !self.devs[d].up {
                return Err(GwError { errno: "ENETDOWN", message: "Nexthop device is not up" });
            }
            // `inet_addr_type_dev_table` looks in table local (l3mdev aside).
            if self.addr_type(gw, None) != RouteType::Unicast {
                return Err(invalid_gw);
            }
            return Ok(());
        }
        let fl = Fl {
            dst: u(gw),
            src: 0,
            iif: self.lo,
            oif: d,
            mark: 0,
            tos: 0,
            proto: 0,
            sport: 0,
            dport: 0,
            uid: Some(0),
            scope: (scope.value().saturating_add(1)).max(SCOPE_LINK),
        };
        let mut scratch = Steps::new(false);
        let mut res = None;
        if table != 0 && table != RT_TABLE_MAIN {
            if let Some(&t) = self.table_idx.get(&table) {
                if let TLookup::Found(r) = self.table_lookup(t, &fl, true) {
                    res = Some(r);
                }
            }
        }
        if res.is_none() {
            match self.fib_lookup(&fl, true, &mut scratch) {
                Ok(r) => res = Some(r),
                Err(LookErr::Errno(e, _)) => return Err(GwError { errno: e, message: invalid_gw.message }),
                Err(LookErr::Indeterminate(_)) => return Err(GwError { errno: "EINVAL", message: invalid_gw.message }),
            }
        }
        let Some(res) = res else { return Err(invalid_gw) };
        let r = &self.routes[res.route];
        if r.rtype != RouteType::Unicast && r.rtype != RouteType::Local {
            return Err(invalid_gw);
        }
        match r.nhs[res.nh].dev {
            Some(nd) if self.devs[nd].up => Ok(()),
            _ => Err(GwError { errno: "ENETDOWN", message: "Nexthop device is not up" }),
        }
    }

    /// Convenience: the routes in the model that match a destination, as `ip route` prints them,
    /// longest prefix first, for diagnostics ("which route swallowed this address").
    pub fn covering_routes(&self, dst: Ipv4Addr) -> Vec<(u32, String)> {
        let mut v: Vec<(u8, u32, String)> =
            self.routes.iter().filter(|r| (u(dst) ^ r.dst) & mask_of(r.plen) == 0).map(|r| (r.plen, r.table, r.text.clone())).collect();
        v.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        v.into_iter().map(|(_, t, s)| (t, s)).collect()
    }
}

fn multipath_note(n: usize) -> String {
    if n == 1 {
        return "multipath route: the bound source is some nexthop's source, which pins the flow to it \
                (fib_select_multipath)"
            .to_string();
    }
    format!(
        "multipath route: the kernel picks one of {n} live nexthops by flow hash (fib_select_multipath); \
         every nexthop is a branch weighted by its share"
    )
}

#[cfg(test)]
#[path = "fib/tests.rs"]
mod tests;
