//! `ip route add|append|replace|change|del` and `ip rule add|del`, applied to a namespace's
//! routes and policy rules with the kernel's checks.
//!
//! Defaults are iproute2's (`ip/iproute.c:iproute_modify`, `ip/iprule.c:iprule_modify`): a new
//! route is `proto boot`, type unicast, scope link when it has neither gateway nor nexthops
//! (host for local routes), table local for local/broadcast/anycast/nat routes and main
//! otherwise; a new rule without an action looks up main. The kernel decides the rest
//! (`net/ipv4/fib_trie.c:fib_table_insert`/`fib_table_delete`, `fib_semantics.c`,
//! `net/core/fib_rules.c:fib_nl_newrule`/`fib_nl_delrule`): a route is identified by table,
//! destination, TOS and metric; a rule added without `pref` gets the second rule's priority
//! minus one (`fib_default_rule_pref`) and goes after the rules of lower or equal priority.

use super::Cx;
use crate::engine::routing::Fib;
use crate::model::route::{NextHop, Route, RouteType, RT_TABLE_LOCAL, RT_TABLE_MAIN};
use crate::model::rule::{FibRule, RuleAction};
use crate::model::types::Scope;
use crate::model::Namespace;
use crate::parse::ip_text::lex::{self, Word};
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// `ip [-4] route|rule VERB ...`.
pub(crate) fn command_line(cx: &mut Cx<'_>, ns: &mut Namespace, ln: u32, col0: u32, line: &str) {
    cx.journal.save_routing(ns);
    let mut ws: Vec<Word<'_>> = lex::words(line);
    for w in &mut ws {
        w.col += col0 - 1;
    }
    let mut i = 1;
    while let Some(w) = ws.get(i) {
        match w.text {
            "-4" => i += 1,
            "-6" | "-f" | "-family" | "-n" | "-netns" | "-b" | "-batch" => {
                cx.error(
                    ln,
                    w.col,
                    "unsupported-option",
                    format!("`ip {}` is not supported in change files (IPv4 routes and rules of the namespace named on the command line only)", w.text),
                );
                return;
            }
            _ => break,
        }
    }
    let obj = ws.get(i).copied();
    let verb = ws.get(i + 1).copied();
    let rest = ws.get(i + 2..).unwrap_or(&[]).to_vec();
    let Some(obj) = obj else {
        cx.error_expected(ln, col0, "syntax", "`ip` without an object", "`route` or `rule`", "end of line");
        return;
    };
    let object = match obj.text {
        "route" | "r" | "ro" | "rou" | "rout" => "route",
        "rule" | "ru" | "rul" => "rule",
        other => {
            cx.error_expected(ln, obj.col, "unsupported-command", format!("`ip {other}` changes are not supported"), "`route` or `rule`", other);
            return;
        }
    };
    let Some(verb) = verb else {
        cx.error_expected(ln, obj.col, "syntax", format!("`ip {object}` without a command"), "add, del, ...", "end of line");
        return;
    };
    let end_col = col0 + line.chars().count() as u32;
    match (object, verb.text) {
        ("route", "add" | "a") => route_new(cx, ns, ln, verb, &rest, end_col, Mode::Add),
        ("route", "append" | "app") => route_new(cx, ns, ln, verb, &rest, end_col, Mode::Append),
        ("route", "replace" | "repl") => route_new(cx, ns, ln, verb, &rest, end_col, Mode::Replace),
        ("route", "change" | "chg") => route_new(cx, ns, ln, verb, &rest, end_col, Mode::Change),
        ("route", "delete" | "del" | "d") => route_del(cx, ns, ln, verb, &rest, end_col),
        ("rule", "add" | "a") => rule_add(cx, ns, ln, verb, &rest, end_col),
        ("rule", "delete" | "del" | "d") => rule_del(cx, ns, ln, verb, &rest, end_col),
        ("route" | "rule", v @ ("show" | "list" | "ls" | "get" | "lst" | "sh")) => {
            cx.info(ln, verb.col, "no-effect", format!("`ip {object} {v}` only reads: it changes no packet's path"))
        }
        (_, v) => cx.error_expected(
            ln,
            verb.col,
            "unsupported-command",
            format!("`ip {object} {v}` is not a change nfpath can apply"),
            if object == "route" { "add, append, replace, change or del" } else { "add or del" },
            v,
        ),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Add,
    Append,
    Replace,
    Change,
}

/// What the words of an `ip route` command said; `None` is "not given".
#[derive(Default, Debug)]
struct RouteArgs {
    rtype: Option<RouteType>,
    dst: Option<Ipv4Net>,
    tos: Option<u8>,
    table: Option<u32>,
    protocol: Option<String>,
    scope: Option<Scope>,
    metric: Option<u32>,
    prefsrc: Option<Ipv4Addr>,
    nexthops: Vec<NextHop>,
    /// Whether the nexthops came from `nexthop` keywords (multipath).
    multipath: bool,
    mtu: Option<u32>,
    /// Per nexthop: the columns of its gateway and device words, for diagnostics.
    cols: Vec<(u32, u32)>,
}

/// iproute2's names for route protocols (`/usr/share/iproute2/rt_protos`).
fn proto_name(s: &str) -> String {
    let names = [
        (0, "unspec"),
        (1, "redirect"),
        (2, "kernel"),
        (3, "boot"),
        (4, "static"),
        (8, "gated"),
        (9, "ra"),
        (10, "mrt"),
        (11, "zebra"),
        (12, "bird"),
        (13, "dnrouted"),
        (14, "xorp"),
        (15, "ntk"),
        (16, "dhcp"),
        (17, "mrouted"),
        (18, "keepalived"),
        (42, "babel"),
        (99, "openr"),
        (186, "bgp"),
        (187, "isis"),
        (188, "ospf"),
        (189, "rip"),
        (192, "eigrp"),
    ];
    match s.parse::<u32>() {
        Ok(n) => names.iter().find(|(k, _)| *k == n).map_or_else(|| n.to_string(), |(_, v)| v.to_string()),
        Err(_) => s.to_string(),
    }
}

const ROUTE_METRICS_IGNORED: &[&str] = &[
    "advmss",
    "rtt",
    "rttvar",
    "reordering",
    "window",
    "cwnd",
    "initcwnd",
    "initrwnd",
    "ssthresh",
    "realms",
    "realm",
    "rto_min",
    "hoplimit",
    "features",
    "quickack",
    "congctl",
    "fastopen_no_cookie",
    "expires",
    "pref",
];

struct Words<'a, 'w> {
    ws: &'w [Word<'a>],
    i: usize,
    end_col: u32,
}

impl<'a> Words<'a, '_> {
    fn next(&mut self) -> Option<Word<'a>> {
        let w = self.ws.get(self.i).copied();
        self.i += 1;
        w
    }
    /// The value after keyword `k`, or an error pointing at the end of the line.
    fn value(&mut self, cx: &mut Cx<'_>, ln: u32, k: &str, expected: &str) -> Option<Word<'a>> {
        let v = self.next();
        if v.is_none() {
            cx.error_expected(ln, self.end_col, "syntax", format!("`{k}` needs a value"), expected, "end of line");
        }
        v
    }
}

fn bad(cx: &mut Cx<'_>, ln: u32, w: Word<'_>, after: &str, expected: &str) {
    cx.error_expected(ln, w.col, "bad-value", format!("after `{after}`: expected {expected}, found `{}`", w.text), expected, w.text);
}

/// `A.B.C.D/N`, `A.B.C.D`, `default`: IPv4 only, host bits refused as the kernel refuses them.
fn prefix(cx: &mut Cx<'_>, ln: u32, w: Word<'_>, what: &str) -> Option<Ipv4Net> {
    match lex::prefix(w.text) {
        Some(lex::Prefix::V4(n)) if n == n.trunc() => Some(n),
        Some(lex::Prefix::V4(n)) => {
            cx.error_expected(
                ln,
                w.col,
                "bad-prefix",
                format!("{what} {n} has host bits set (kernel: \"Invalid prefix for given prefix length\")"),
                &n.trunc().to_string(),
                w.text,
            );
            None
        }
        Some(lex::Prefix::V6) => {
            cx.error(ln, w.col, "ipv6", "IPv6 routes and rules are not modelled");
            None
        }
        None => {
            bad(cx, ln, w, what, "`default`, A.B.C.D or A.B.C.D/N");
            None
        }
    }
}

fn parse_route_args(cx: &mut Cx<'_>, ln: u32, verb: Word<'_>, rest: &[Word<'_>], end_col: u32) -> Option<RouteArgs> {
    let mut a = RouteArgs::default();
    let mut c = Words { ws: rest, i: 0, end_col };
    let mut cur: Option<usize> = None;
    let errors_before = cx.diags.len();
    fn nh(a: &mut RouteArgs, cur: &mut Option<usize>) -> usize {
        if cur.is_none() {
            a.nexthops.push(NextHop { gateway: None, dev: None, onlink: false, weight: 1, dead: false, linkdown: false });
            a.cols.push((0, 0));
            *cur = Some(a.nexthops.len() - 1);
        }
        cur.unwrap_or(0)
    }
    while let Some(w) = c.next() {
        let k = w.text;
        match k {
            "to" => {
                let v = c.value(cx, ln, k, "a destination prefix")?;
                a.dst = Some(prefix(cx, ln, v, "destination")?);
            }
            "tos" | "dsfield" => {
                let v = c.value(cx, ln, k, "a TOS value")?;
                match lex::num_u32(v.text).filter(|x| *x <= 255) {
                    Some(x) => a.tos = Some(x as u8),
                    None => bad(cx, ln, v, k, "a TOS value such as 0x10"),
                }
            }
            "table" => {
                let v = c.value(cx, ln, k, "a table name or number")?;
                a.table = Some(lex::table_word(cx.file, ln, v, &mut cx.diags));
            }
            "proto" | "protocol" => {
                let v = c.value(cx, ln, k, "a protocol")?;
                a.protocol = Some(proto_name(v.text));
            }
            "scope" => {
                let v = c.value(cx, ln, k, "a scope")?;
                match Scope::parse(v.text) {
                    Some(s) => a.scope = Some(s),
                    None => bad(cx, ln, v, k, "global, site, link, host or a number"),
                }
            }
            "metric" | "preference" | "priority" => {
                let v = c.value(cx, ln, k, "a number")?;
                match v.text.parse::<u32>() {
                    Ok(m) => a.metric = Some(m),
                    Err(_) => bad(cx, ln, v, k, "a number"),
                }
            }
            "src" => {
                let v = c.value(cx, ln, k, "an IPv4 address")?;
                match lex::ipv4(v.text) {
                    Some(x) => a.prefsrc = Some(x),
                    None => bad(cx, ln, v, k, "an IPv4 address"),
                }
            }
            "via" => {
                let mut v = c.value(cx, ln, k, "a gateway address")?;
                if v.text == "inet" {
                    v = c.value(cx, ln, k, "a gateway address")?;
                }
                match lex::ipv4(v.text) {
                    Some(g) => {
                        let i = nh(&mut a, &mut cur);
                        a.nexthops[i].gateway = Some(g);
                        a.cols[i].0 = v.col;
                    }
                    None => bad(cx, ln, v, k, "an IPv4 gateway address"),
                }
            }
            "dev" | "oif" => {
                let v = c.value(cx, ln, k, "a device name")?;
                let i = nh(&mut a, &mut cur);
                a.nexthops[i].dev = Some(v.text.to_string());
                a.cols[i].1 = v.col;
            }
            "onlink" => {
                let i = nh(&mut a, &mut cur);
                a.nexthops[i].onlink = true;
            }
            "weight" => {
                let v = c.value(cx, ln, k, "a weight 1-256")?;
                match (v.text.parse::<u32>(), a.multipath) {
                    (Ok(x), true) if (1..=256).contains(&x) => {
                        let i = nh(&mut a, &mut cur);
                        a.nexthops[i].weight = x;
                    }
                    (_, false) => cx.error(ln, w.col, "syntax", "`weight` belongs to a `nexthop`"),
                    _ => bad(cx, ln, v, k, "a weight 1-256"),
                }
            }
            "nexthop" => {
                if !a.multipath && !a.nexthops.is_empty() {
                    cx.error(ln, w.col, "syntax", "`via`/`dev` before `nexthop`: give every nexthop after its own `nexthop` keyword");
                }
                a.multipath = true;
                a.nexthops.push(NextHop { gateway: None, dev: None, onlink: false, weight: 1, dead: false, linkdown: false });
                a.cols.push((w.col, w.col));
                cur = Some(a.nexthops.len() - 1);
            }
            "mtu" => {
                let mut v = c.value(cx, ln, k, "a number")?;
                if v.text == "lock" {
                    v = c.value(cx, ln, k, "a number")?;
                }
                match v.text.parse::<u32>() {
                    Ok(m) => a.mtu = Some(m),
                    Err(_) => bad(cx, ln, v, k, "a number"),
                }
            }
            "encap" | "nhid" | "nat" => {
                cx.error(ln, w.col, "unsupported", format!("routes with `{k}` are not modelled"));
                return None;
            }
            _ if ROUTE_METRICS_IGNORED.contains(&k) => {
                let _ = c.value(cx, ln, k, "a value")?;
                cx.info(ln, w.col, "not-modelled", format!("`{k}` does not change which way a packet goes: not modelled"));
            }
            _ => {
                if let Some(t) = RouteType::parse(k).filter(|_| a.dst.is_none() && a.rtype.is_none()) {
                    a.rtype = Some(t);
                    continue;
                }
                if a.dst.is_some() {
                    cx.error_expected(
                        ln,
                        w.col,
                        "syntax",
                        format!("`{k}` is not an `ip route` keyword (iproute2: \"either \\\"to\\\" is duplicate, or \\\"{k}\\\" is a garbage\")"),
                        "an `ip route` keyword",
                        k,
                    );
                    return None;
                }
                a.dst = Some(prefix(cx, ln, w, "destination")?);
            }
        }
    }
    if a.dst.is_none() {
        cx.error_expected(ln, end_col, "syntax", format!("`ip route {}` needs a destination", verb.text), "a prefix or `default`", "end of line");
        return None;
    }
    if cx.diags[errors_before..].iter().any(|d| d.severity == crate::diag::Severity::Error) {
        return None;
    }
    Some(a)
}

fn route_desc(r: &Route) -> String {
    crate::engine::routing::route_text(r)
}

/// The route the kernel would build for an add/append/replace/change, or why it refuses it.
fn build_route(cx: &mut Cx<'_>, ns: &Namespace, ln: u32, verb: Word<'_>, a: RouteArgs) -> Option<Route> {
    let rtype = a.rtype.unwrap_or(RouteType::Unicast);
    let dst = a.dst.unwrap_or_default();
    let table = a.table.unwrap_or(match rtype {
        RouteType::Local | RouteType::Broadcast | RouteType::Anycast | RouteType::Nat => RT_TABLE_LOCAL,
        _ => RT_TABLE_MAIN,
    });
    let has_gw = a.nexthops.iter().any(|n| n.gateway.is_some());
    let scope = a.scope.unwrap_or(match rtype {
        RouteType::Local | RouteType::Nat => Scope::Host,
        RouteType::Broadcast | RouteType::Multicast | RouteType::Anycast => Scope::Link,
        RouteType::Unicast if !has_gw && !a.multipath => Scope::Link,
        _ => Scope::Universe,
    });
    let vc = verb.col;
    let fail = |cx: &mut Cx<'_>, code: &str, msg: String| {
        cx.error(ln, vc, code, msg);
        None
    };
    let errors = matches!(rtype, RouteType::Blackhole | RouteType::Unreachable | RouteType::Prohibit | RouteType::Throw);
    if errors && !a.nexthops.is_empty() {
        return fail(
            cx,
            "bad-route",
            format!(
                "a {} route takes no gateway or device (kernel: \"Gateway, device and multipath can not be specified for this route type\")",
                rtype.as_str()
            ),
        );
    }
    if !errors && a.nexthops.is_empty() {
        return fail(cx, "bad-route", format!("a {} route needs a gateway (`via`) or a device (`dev`)", rtype.as_str()));
    }
    let fib = Fib::new(ns);
    let mut nexthops = Vec::new();
    let at = |cx: &mut Cx<'_>, col: u32, code: &str, msg: String| {
        cx.error(ln, if col > 0 { col } else { vc }, code, msg);
        None
    };
    for (n, &(gcol, dcol)) in a.nexthops.iter().zip(&a.cols) {
        let mut n = n.clone();
        if let Some(d) = &n.dev {
            let Some(l) = ns.link(d) else {
                return at(cx, dcol, "no-device", format!("no device `{d}` in {} (iproute2: \"Cannot find device\")", ns.name));
            };
            n.linkdown = !l.lower_up;
        }
        match n.gateway {
            Some(gw) => {
                // `fib_semantics.c:fib_check_nh_v4_gw`
                if let Err(e) = fib.check_nh_v4_gw(table, gw, n.dev.as_deref(), n.onlink, scope) {
                    return at(cx, gcol, "bad-nexthop", format!("nexthop via {gw}: kernel: \"{}\" ({})", e.message, e.errno));
                }
                if n.dev.is_none() {
                    n.dev = resolve_dev(ns, table, gw);
                    if n.dev.is_none() {
                        return at(
                            cx,
                            gcol,
                            "bad-nexthop",
                            format!("nexthop via {gw}: no directly connected route reaches it (kernel: \"Nexthop has invalid gateway\")"),
                        );
                    }
                    n.linkdown = n.dev.as_deref().and_then(|d| ns.link(d)).is_some_and(|l| !l.lower_up);
                }
            }
            None => {
                // `fib_semantics.c:fib_check_nh_nongw`
                if scope.value() > Scope::Link.value() && rtype == RouteType::Unicast {
                    return fail(cx, "bad-nexthop", "kernel: \"Invalid scope\" for a device route".to_string());
                }
                let Some(d) = n.dev.as_deref() else {
                    return fail(cx, "bad-nexthop", "a nexthop needs a gateway or a device".to_string());
                };
                if ns.link(d).is_some_and(|l| !l.up) {
                    return at(cx, dcol, "device-down", format!("device {d} is down (kernel: \"Device for nexthop is not up\")"));
                }
            }
        }
        nexthops.push(n);
    }
    if let Some(p) = a.prefsrc {
        // `fib_semantics.c:fib_valid_prefsrc`
        let ok = fib.is_local(p) || (rtype == RouteType::Local && dst.addr() == p && dst.prefix_len() == 32);
        if !ok {
            return fail(cx, "bad-prefsrc", format!("src {p} is not an address of {} (kernel: \"Invalid prefsrc address\")", ns.name));
        }
    }
    Some(Route {
        table,
        rtype,
        dst,
        tos: a.tos.unwrap_or(0),
        metric: a.metric.unwrap_or(0),
        protocol: Some(a.protocol.unwrap_or_else(|| "boot".into())),
        scope,
        prefsrc: a.prefsrc,
        nexthops,
        mtu: a.mtu,
        origin: Some(format!("{}:{ln}", cx.file)),
    })
}

/// The device the kernel picks for a gateway given without `dev`: the one of the most specific
/// link- or host-scope unicast/local route covering it, in the route's table first, then in
/// the tables the default rules consult.
fn resolve_dev(ns: &Namespace, table: u32, gw: Ipv4Addr) -> Option<String> {
    let tables: Vec<u32> = if table != RT_TABLE_MAIN { vec![table, RT_TABLE_LOCAL, RT_TABLE_MAIN] } else { vec![RT_TABLE_LOCAL, RT_TABLE_MAIN] };
    for t in tables {
        let best = ns
            .routes
            .iter()
            .filter(|r| r.table == t && r.dst.contains(&gw) && r.scope.value() > 0)
            .filter(|r| matches!(r.rtype, RouteType::Unicast | RouteType::Local))
            .max_by_key(|r| (r.dst.prefix_len(), std::cmp::Reverse(r.metric)));
        if let Some(d) = best.and_then(|r| r.dev()) {
            return Some(d.to_string());
        }
    }
    None
}

fn same_key(a: &Route, b: &Route) -> bool {
    a.table == b.table && a.dst == b.dst && a.tos == b.tos && a.metric == b.metric
}

fn same_route(a: &Route, b: &Route) -> bool {
    let strip = |r: &Route| Route { origin: None, ..r.clone() };
    strip(a) == strip(b)
}

/// Where a new route goes: after the routes of the same table and destination that sort before
/// or with it (higher TOS first, then lower metric, as the kernel's alias list), else at the end.
fn insert_at(routes: &[Route], r: &Route) -> usize {
    let mut at = None;
    for (i, x) in routes.iter().enumerate() {
        if x.table == r.table && x.dst == r.dst && (x.tos > r.tos || (x.tos == r.tos && x.metric <= r.metric)) {
            at = Some(i + 1);
        }
    }
    at.unwrap_or(routes.len())
}

fn route_new(cx: &mut Cx<'_>, ns: &mut Namespace, ln: u32, verb: Word<'_>, rest: &[Word<'_>], end_col: u32, mode: Mode) {
    let Some(a) = parse_route_args(cx, ln, verb, rest, end_col) else { return };
    let Some(r) = build_route(cx, ns, ln, verb, a) else { return };
    let existing = ns.routes.iter().position(|x| same_key(x, &r));
    let text = route_desc(&r);
    match (mode, existing) {
        (Mode::Add, Some(_)) => cx.error(
            ln,
            verb.col,
            "route-exists",
            format!("a route to {} with this table, TOS and metric exists (kernel: \"File exists\"); use `replace`", r.dst),
        ),
        (Mode::Append, _) if ns.routes.iter().any(|x| same_route(x, &r)) => {
            cx.error(ln, verb.col, "route-exists", format!("this very route exists (kernel: \"File exists\"): {text}"))
        }
        (Mode::Change, None) => cx.error(
            ln,
            verb.col,
            "no-such-route",
            format!("no route to {} with this table, TOS and metric to change (kernel: \"No such file or directory\")", r.dst),
        ),
        (Mode::Replace | Mode::Change, Some(i)) => {
            let old = route_desc(&ns.routes[i]);
            ns.routes[i] = r;
            cx.done(ln, format!("route replaced: {old} -> {text}"));
        }
        _ => {
            let at = insert_at(&ns.routes, &r);
            ns.routes.insert(at, r);
            cx.done(ln, format!("route added: {text}"));
        }
    }
}

fn route_del(cx: &mut Cx<'_>, ns: &mut Namespace, ln: u32, verb: Word<'_>, rest: &[Word<'_>], end_col: u32) {
    let Some(a) = parse_route_args(cx, ln, verb, rest, end_col) else { return };
    let dst = a.dst.unwrap_or_default();
    let table = a.table.unwrap_or(RT_TABLE_MAIN);
    let tos = a.tos.unwrap_or(0);
    // `fib_trie.c:fib_table_delete` with `fib_semantics.c:fib_nh_match`: what was given must
    // match; what was not given matches anything.
    let found = ns.routes.iter().position(|r| {
        r.table == table
            && r.dst == dst
            && r.tos == tos
            && a.rtype.is_none_or(|t| t == r.rtype)
            && a.scope.is_none_or(|s| s == r.scope)
            && a.prefsrc.is_none_or(|p| Some(p) == r.prefsrc)
            && a.protocol.as_ref().is_none_or(|p| Some(p) == r.protocol.as_ref())
            && a.metric.is_none_or(|m| m == r.metric)
            && nexthops_match(&a, r)
    });
    match found {
        Some(i) => {
            let old = ns.routes.remove(i);
            cx.done(ln, format!("route deleted: {}", route_desc(&old)));
        }
        None => cx.error(
            ln,
            verb.col,
            "no-such-route",
            format!("no route to {dst} in table {} matches (kernel: \"No such process\")", crate::engine::routing::table_name(table)),
        ),
    }
}

fn nexthops_match(a: &RouteArgs, r: &Route) -> bool {
    if a.multipath {
        return a.nexthops.len() == r.nexthops.len()
            && a.nexthops
                .iter()
                .zip(&r.nexthops)
                .all(|(x, y)| x.gateway.is_none_or(|g| Some(g) == y.gateway) && x.dev.as_ref().is_none_or(|d| Some(d) == y.dev.as_ref()));
    }
    let Some(n) = a.nexthops.first() else { return true };
    // A single nexthop given matches a route whose (first) nexthop has that device/gateway.
    r.nexthops.iter().any(|y| n.gateway.is_none_or(|g| Some(g) == y.gateway) && n.dev.as_ref().is_none_or(|d| Some(d) == y.dev.as_ref()))
}

// ---------------------------------------------------------------------------------------------
// rules

#[derive(Default, Debug)]
struct RuleArgs {
    not: bool,
    from: Option<Option<Ipv4Net>>,
    to: Option<Option<Ipv4Net>>,
    tos: Option<u8>,
    fwmark: Option<(u32, u32)>,
    iif: Option<String>,
    oif: Option<String>,
    pref: Option<u32>,
    action: Option<RuleAction>,
    table: Option<u32>,
    ipproto: Option<u8>,
    sport: Option<(u16, u16)>,
    dport: Option<(u16, u16)>,
    uidrange: Option<(u32, u32)>,
    l3mdev: bool,
    suppress_prefixlength: Option<i32>,
    suppress_ifgroup: Option<String>,
    protocol: Option<String>,
}

fn port_pair(s: &str) -> Option<(u16, u16)> {
    match s.split_once('-') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => s.parse().ok().map(|p| (p, p)),
    }
}

fn parse_rule_args(cx: &mut Cx<'_>, ln: u32, rest: &[Word<'_>], end_col: u32) -> Option<RuleArgs> {
    let mut a = RuleArgs::default();
    let mut c = Words { ws: rest, i: 0, end_col };
    let errors_before = cx.diags.len();
    while let Some(w) = c.next() {
        let k = w.text;
        match k {
            "not" => a.not = true,
            "from" | "to" => {
                let v = c.value(cx, ln, k, "`all` or a prefix")?;
                let p = if v.text == "all" { None } else { Some(prefix(cx, ln, v, k)?).filter(|n| n.prefix_len() > 0) };
                if k == "from" {
                    a.from = Some(p)
                } else {
                    a.to = Some(p)
                }
            }
            "tos" | "dsfield" => {
                let v = c.value(cx, ln, k, "a TOS value")?;
                match lex::num_u32(v.text).filter(|x| *x <= 255) {
                    Some(x) => a.tos = Some(x as u8),
                    None => bad(cx, ln, v, k, "a TOS value"),
                }
            }
            "fwmark" => {
                let v = c.value(cx, ln, k, "MARK or MARK/MASK")?;
                let p = match v.text.split_once('/') {
                    Some((m, mask)) => lex::num_u32(m).zip(lex::num_u32(mask)),
                    None => lex::num_u32(v.text).map(|m| (m, u32::MAX)),
                };
                match p {
                    Some(p) => a.fwmark = Some(p),
                    None => bad(cx, ln, v, k, "MARK or MARK/MASK"),
                }
            }
            "iif" | "dev" | "oif" => {
                let v = c.value(cx, ln, k, "a device name")?;
                if k == "oif" {
                    a.oif = Some(v.text.to_string())
                } else {
                    a.iif = Some(v.text.to_string())
                }
            }
            "pref" | "preference" | "priority" | "order" => {
                let v = c.value(cx, ln, k, "a number")?;
                match v.text.parse::<u32>() {
                    Ok(p) => a.pref = Some(p),
                    Err(_) => bad(cx, ln, v, k, "a number"),
                }
            }
            "table" | "lookup" => {
                let v = c.value(cx, ln, k, "a table name or number")?;
                let t = lex::table_word(cx.file, ln, v, &mut cx.diags);
                a.table = Some(t);
                a.action = Some(RuleAction::Table(t));
            }
            "goto" => {
                let v = c.value(cx, ln, k, "a rule priority")?;
                match v.text.parse::<u32>() {
                    Ok(p) => a.action = Some(RuleAction::Goto(p)),
                    Err(_) => bad(cx, ln, v, k, "a rule priority"),
                }
            }
            "nop" => a.action = Some(RuleAction::Nop),
            "blackhole" => a.action = Some(RuleAction::Blackhole),
            "unreachable" => a.action = Some(RuleAction::Unreachable),
            "prohibit" => a.action = Some(RuleAction::Prohibit),
            "type" => {
                let v = c.value(cx, ln, k, "blackhole, unreachable or prohibit")?;
                match v.text {
                    "blackhole" => a.action = Some(RuleAction::Blackhole),
                    "unreachable" => a.action = Some(RuleAction::Unreachable),
                    "prohibit" => a.action = Some(RuleAction::Prohibit),
                    "unicast" => {}
                    _ => bad(cx, ln, v, k, "blackhole, unreachable or prohibit"),
                }
            }
            "ipproto" => {
                let v = c.value(cx, ln, k, "a protocol")?;
                match crate::model::types::proto_number(v.text) {
                    Some(p) => a.ipproto = Some(p),
                    None => bad(cx, ln, v, k, "a protocol name or number"),
                }
            }
            "sport" | "dport" => {
                let v = c.value(cx, ln, k, "PORT or PORT-PORT")?;
                match port_pair(v.text) {
                    Some(p) if k == "sport" => a.sport = Some(p),
                    Some(p) => a.dport = Some(p),
                    None => bad(cx, ln, v, k, "PORT or PORT-PORT"),
                }
            }
            "uidrange" => {
                let v = c.value(cx, ln, k, "UID-UID")?;
                match v.text.split_once('-').and_then(|(x, y)| Some((x.parse().ok()?, y.parse().ok()?))) {
                    Some(p) => a.uidrange = Some(p),
                    None => bad(cx, ln, v, k, "UID-UID"),
                }
            }
            "l3mdev" => a.l3mdev = true,
            "suppress_prefixlength" | "sup_pl" => {
                let v = c.value(cx, ln, k, "a number")?;
                match v.text.parse::<i32>() {
                    Ok(n) => a.suppress_prefixlength = Some(n),
                    Err(_) => bad(cx, ln, v, k, "a number"),
                }
            }
            "suppress_ifgroup" | "sup_group" => a.suppress_ifgroup = Some(c.value(cx, ln, k, "a group")?.text.to_string()),
            "protocol" | "proto" => a.protocol = Some(proto_name(c.value(cx, ln, k, "a protocol")?.text)),
            "realms" | "realm" | "nat" | "map-to" | "tun_id" | "flowlabel" => {
                cx.error(ln, w.col, "unsupported", format!("rules with `{k}` are not modelled"));
                return None;
            }
            _ => {
                cx.error_expected(ln, w.col, "syntax", format!("`{k}` is not an `ip rule` keyword"), "an `ip rule` keyword", k);
                return None;
            }
        }
    }
    if cx.diags[errors_before..].iter().any(|d| d.severity == crate::diag::Severity::Error) {
        return None;
    }
    Some(a)
}

fn rule_add(cx: &mut Cx<'_>, ns: &mut Namespace, ln: u32, verb: Word<'_>, rest: &[Word<'_>], end_col: u32) {
    let Some(a) = parse_rule_args(cx, ln, rest, end_col) else { return };
    // `fib_rules.c:fib_default_rule_pref`: the priority of the rule after the first, minus one.
    let pref = a.pref.unwrap_or_else(|| ns.rules.get(1).map_or(0, |r| r.priority.saturating_sub(1)));
    let action = a.action.clone().unwrap_or(RuleAction::Table(RT_TABLE_MAIN));
    if let RuleAction::Goto(t) = action {
        if t <= pref {
            cx.error(
                ln,
                verb.col,
                "bad-goto",
                format!("goto {t} from priority {pref}: kernel: \"Backward goto not supported\" (the target must come after the rule)"),
            );
            return;
        }
    }
    let r = FibRule {
        priority: pref,
        not: a.not,
        from: a.from.flatten(),
        to: a.to.flatten(),
        iif: a.iif,
        oif: a.oif,
        fwmark: a.fwmark,
        tos: a.tos,
        ipproto: a.ipproto,
        sport: a.sport,
        dport: a.dport,
        uidrange: a.uidrange,
        l3mdev: a.l3mdev,
        suppress_prefixlength: a.suppress_prefixlength,
        suppress_ifgroup: a.suppress_ifgroup,
        action,
        protocol: a.protocol,
    };
    let text = crate::engine::routing::rule_text(&r);
    // `fib_rules.c:rule_exists` (iproute2 adds with NLM_F_EXCL).
    if ns.rules.contains(&r) {
        cx.error(ln, verb.col, "rule-exists", format!("this rule exists at priority {pref} (kernel: \"File exists\")"));
        return;
    }
    let at = ns.rules.iter().rposition(|x| x.priority <= pref).map_or(0, |i| i + 1);
    ns.rules.insert(at, r);
    cx.done(ln, format!("rule added: {pref}: {text}"));
}

fn rule_del(cx: &mut Cx<'_>, ns: &mut Namespace, ln: u32, verb: Word<'_>, rest: &[Word<'_>], end_col: u32) {
    let Some(a) = parse_rule_args(cx, ln, rest, end_col) else { return };
    // `fib_rules.c:rule_find`: every attribute given must match.
    let found = ns.rules.iter().position(|r| {
        a.pref.is_none_or(|p| p == r.priority)
            && (!a.not || r.not)
            && a.from.is_none_or(|f| f == r.from)
            && a.to.is_none_or(|t| t == r.to)
            && a.tos.is_none_or(|t| Some(t) == r.tos)
            && a.fwmark.is_none_or(|m| Some(m) == r.fwmark)
            && a.iif.as_ref().is_none_or(|d| Some(d) == r.iif.as_ref())
            && a.oif.as_ref().is_none_or(|d| Some(d) == r.oif.as_ref())
            && a.action.as_ref().is_none_or(|x| *x == r.action)
            && a.ipproto.is_none_or(|p| Some(p) == r.ipproto)
            && a.sport.is_none_or(|p| Some(p) == r.sport)
            && a.dport.is_none_or(|p| Some(p) == r.dport)
            && a.uidrange.is_none_or(|p| Some(p) == r.uidrange)
            && (!a.l3mdev || r.l3mdev)
            && a.suppress_prefixlength.is_none_or(|p| Some(p) == r.suppress_prefixlength)
            && a.protocol.as_ref().is_none_or(|p| Some(p) == r.protocol.as_ref())
    });
    match found {
        Some(i) => {
            let old = ns.rules.remove(i);
            cx.done(ln, format!("rule deleted: {}: {}", old.priority, crate::engine::routing::rule_text(&old)));
        }
        None => cx.error(ln, verb.col, "no-such-rule", "no policy rule matches (kernel: \"No such file or directory\")"),
    }
}
