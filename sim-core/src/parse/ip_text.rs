//! Text forms of `ip` output that users paste: `ip route show table all`, `ip rule show`,
//! `ip -d link show`, `ip addr` (also `-d`, `-s` and `-br` variants) and `ip neigh show`.
//!
//! Old and new iproute2 spacing both read (`dev cni0  proto kernel  scope link`). Lines an author
//! added (`# comment`, a trailing `<---- note`) are reported and skipped; IPv6 lines are counted.

pub(crate) mod lex;

use crate::diag::{Diagnostic, Parsed, Span};
use crate::model::addr::Addr;
use crate::model::link::{BridgeInfo, BridgePort, Link, LinkKind, TunnelInfo, VxlanInfo};
use crate::model::neigh::Neigh;
use crate::model::route::{NextHop, Route, RouteType, RT_TABLE_MAIN};
use crate::model::rule::{FibRule, RuleAction};
use crate::model::types::{Mac, Scope};
use crate::parse::ip_json::Counted;
use ipnet::Ipv4Net;
use lex::Word;
use std::net::Ipv4Addr;

struct Tx<'f> {
    file: &'f str,
    diags: Vec<Diagnostic>,
    v6: usize,
}

impl<'f> Tx<'f> {
    fn new(file: &'f str) -> Self {
        Tx { file, diags: Vec::new(), v6: 0 }
    }
    fn span(&self, line: u32, col: u32) -> Span {
        Span::new(self.file, line, col)
    }
    fn error(&mut self, line: u32, col: u32, code: &str, msg: impl Into<String>) {
        let s = self.span(line, col);
        self.diags.push(Diagnostic::error(s, code, msg));
    }
    fn warn(&mut self, line: u32, col: u32, code: &str, msg: impl Into<String>) {
        let s = self.span(line, col);
        self.diags.push(Diagnostic::warning(s, code, msg));
    }
    fn info(&mut self, line: u32, col: u32, code: &str, msg: impl Into<String>) {
        let s = self.span(line, col);
        self.diags.push(Diagnostic::info(s, code, msg));
    }
    /// A value that did not read: error with what was expected and what was found.
    fn bad(&mut self, line: u32, w: Option<Word<'_>>, after: &str, expected: &str) {
        let (col, found) = match w {
            Some(w) => (w.col, format!("`{}`", w.text)),
            None => (0, "end of line".to_string()),
        };
        let s = self.span(line, col);
        self.diags.push(Diagnostic::error(s, "bad-value", format!("after `{after}`: expected {expected}, found {found}")).with_expected(expected, found));
    }
    fn comment_line(&mut self, line: u32, l: &str) {
        let col = lex::col_of(l, l.len() - l.trim_start().len());
        let text = l.trim();
        let short: String = text.chars().take(60).collect();
        self.info(line, col, "annotation", format!("comment line (not command output) skipped: `{short}`"));
    }
    fn finish<T>(self, value: T, what: &str) -> Counted<T> {
        let mut diags = self.diags;
        if self.v6 > 0 {
            diags.push(Diagnostic::info(
                Span::new(self.file, 1, 0),
                "ipv6-ignored",
                format!("{} IPv6 {what} seen and not modelled (nfpath models IPv4 only)", self.v6),
            ));
        }
        Counted { parsed: Parsed { value, diagnostics: diags }, ipv6_ignored: self.v6 }
    }
}

/// Iterates the words of a line, with a one-word lookahead for keyword values.
struct Cur<'a> {
    ws: Vec<Word<'a>>,
    i: usize,
}

impl<'a> Cur<'a> {
    fn new(l: &'a str) -> Self {
        Cur { ws: lex::words(l), i: 0 }
    }
    fn next(&mut self) -> Option<Word<'a>> {
        let w = self.ws.get(self.i).copied();
        self.i += 1;
        w
    }
    fn peek(&self) -> Option<Word<'a>> {
        self.ws.get(self.i).copied()
    }
}

fn on_off(s: &str) -> Option<bool> {
    match s {
        "on" | "1" => Some(true),
        "off" | "0" => Some(false),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// routes

const ROUTE_TYPES: &[&str] = &["unicast", "local", "broadcast", "anycast", "multicast", "blackhole", "unreachable", "prohibit", "throw", "nat"];

/// Keywords `ip route` prints followed by one value nfpath does not model.
const ROUTE_IGNORED_KV: &[&str] = &[
    "expires",
    "pref",
    "advmss",
    "rtt",
    "rttvar",
    "hoplimit",
    "initcwnd",
    "initrwnd",
    "features",
    "quickack",
    "congctl",
    "window",
    "ssthresh",
    "cwnd",
    "reordering",
    "fastopen_no_cookie",
    "realm",
    "realms",
    "error",
    "from",
    "users",
    "age",
    "ipid",
    "iif",
    "oif",
    "uid",
    "ttl-propagate",
];
const ROUTE_IGNORED_FLAGS: &[&str] = &["pervasive", "offload", "trap", "notify", "rt_offload", "rt_trap", "rt_offload_failed", "cache"];

/// `ip route show table all` (or any `ip route` listing) -> IPv4 routes.
pub fn parse_routes(file: &str, text: &str) -> Parsed<Vec<Route>> {
    parse_routes_counted(file, text).parsed
}

pub fn parse_routes_counted(file: &str, text: &str) -> Counted<Vec<Route>> {
    let mut t = Tx::new(file);
    let mut out: Vec<Route> = Vec::new();
    let mut lines_of: Vec<u32> = Vec::new();
    // Whether the last header line was kept (continuation `nexthop` lines belong to it).
    let mut last_kept = false;
    for (ln, l) in lex::lines(text) {
        if l.trim().is_empty() {
            continue;
        }
        if lex::is_cut_marker(l) {
            t.diags.push(lex::cut(t.file, ln, l));
            continue;
        }
        if lex::is_comment(l) {
            t.comment_line(ln, l);
            continue;
        }
        let indented = l.starts_with(' ') || l.starts_with('\t');
        let mut c = Cur::new(l);
        if indented && c.peek().map(|w| w.text) == Some("nexthop") {
            if !last_kept {
                continue;
            }
            let Some(r) = out.last_mut() else {
                continue;
            };
            route_words(&mut t, ln, l, &mut c, r);
            continue;
        }
        let mut r = Route {
            table: RT_TABLE_MAIN,
            rtype: RouteType::Unicast,
            dst: Ipv4Net::default(),
            tos: 0,
            metric: 0,
            protocol: None,
            scope: Scope::Universe,
            prefsrc: None,
            nexthops: Vec::new(),
            mtu: None,
            origin: Some(format!("{file}:{ln}")),
        };
        let Some(mut w) = c.next() else {
            continue;
        };
        if ROUTE_TYPES.contains(&w.text) {
            r.rtype = RouteType::parse(w.text).unwrap_or(RouteType::Unicast);
            match c.next() {
                Some(n) => w = n,
                None => {
                    t.bad(ln, None, w.text, "a destination prefix");
                    last_kept = false;
                    continue;
                }
            }
        }
        match lex::prefix(w.text) {
            Some(lex::Prefix::V4(n)) => r.dst = n,
            Some(lex::Prefix::V6) => {
                t.v6 += 1;
                last_kept = false;
                continue;
            }
            None => {
                t.error(ln, w.col, "bad-value", format!("expected a route destination (`default`, A.B.C.D or A.B.C.D/N), found `{}`: line skipped", w.text));
                last_kept = false;
                continue;
            }
        }
        // `ip route` prints `scope` whenever it is not universe (iproute.c print_route), so an
        // absent scope is universe whatever the type.
        let v6 = route_words(&mut t, ln, l, &mut c, &mut r);
        if v6 {
            t.v6 += 1;
            last_kept = false;
            continue;
        }
        // `ip route` leaves out `proto` exactly when it is boot (iproute.c print_route).
        if r.protocol.is_none() {
            r.protocol = Some("boot".into());
        }
        // A unicast header without nexthops is a multipath route whose `nexthop` lines follow.
        out.push(r);
        lines_of.push(ln);
        last_kept = true;
    }
    for (r, ln) in out.iter().zip(&lines_of) {
        if r.rtype == RouteType::Unicast && r.nexthops.is_empty() {
            t.warn(*ln, 0, "no-nexthop", format!("unicast route to {} has neither a device nor a gateway", r.dst));
        }
    }
    t.finish(out, "routes")
}

/// Reads route attributes from the cursor into `r`. Returns true when the route turned out to
/// be IPv6 (an IPv6 gateway on an IPv4-looking line).
fn route_words(t: &mut Tx<'_>, ln: u32, l: &str, c: &mut Cur<'_>, r: &mut Route) -> bool {
    // The nexthop being filled: the route's only one until a `nexthop` keyword starts another.
    let mut cur_nh: Option<usize> = if r.nexthops.is_empty() { None } else { Some(r.nexthops.len() - 1) };
    fn nh<'r>(r: &'r mut Route, cur: &mut Option<usize>) -> &'r mut NextHop {
        if cur.is_none() {
            r.nexthops.push(NextHop { gateway: None, dev: None, onlink: false, weight: 1, dead: false, linkdown: false });
            *cur = Some(r.nexthops.len() - 1);
        }
        let i = cur.unwrap_or(0);
        &mut r.nexthops[i]
    }
    while let Some(w) = c.next() {
        let k = w.text;
        if lex::starts_annotation(k) {
            let rest = lex::rest_of_line(l, &c.ws, c.i - 1);
            t.diags.push(lex::annotation(t.file, ln, w.col, rest));
            break;
        }
        match k {
            "nexthop" => {
                r.nexthops.push(NextHop { gateway: None, dev: None, onlink: false, weight: 1, dead: false, linkdown: false });
                cur_nh = Some(r.nexthops.len() - 1);
            }
            "via" => {
                let mut v = c.next();
                if matches!(v.map(|x| x.text), Some("inet")) {
                    v = c.next();
                } else if matches!(v.map(|x| x.text), Some("inet6")) {
                    t.warn(ln, w.col, "unsupported", "IPv4 route via an IPv6 gateway (RFC 5549) is not modelled: route skipped");
                    return true;
                }
                match v.map(|x| (x, lex::ipv4(x.text))) {
                    Some((_, Some(a))) => nh(r, &mut cur_nh).gateway = Some(a),
                    Some((x, None)) if lex::looks_ipv6(x.text) => return true,
                    _ => t.bad(ln, v, "via", "an IPv4 gateway address"),
                }
            }
            "dev" => match c.next() {
                Some(d) => nh(r, &mut cur_nh).dev = Some(d.text.to_string()),
                None => t.bad(ln, None, "dev", "a device name"),
            },
            "weight" => match c.next().map(|x| (x, x.text.parse::<u32>())) {
                Some((_, Ok(v))) => nh(r, &mut cur_nh).weight = v,
                other => t.bad(ln, other.map(|o| o.0), "weight", "a number"),
            },
            "onlink" => nh(r, &mut cur_nh).onlink = true,
            "linkdown" => {
                if let Some(i) = cur_nh {
                    r.nexthops[i].linkdown = true;
                } else {
                    t.warn(ln, w.col, "syntax", "`linkdown` before any device: ignored");
                }
            }
            "dead" => {
                if let Some(i) = cur_nh {
                    r.nexthops[i].dead = true;
                }
            }
            "table" => match c.next() {
                Some(v) => r.table = lex::table_word(t.file, ln, v, &mut t.diags),
                None => t.bad(ln, None, "table", "a table name or number"),
            },
            "proto" | "protocol" => match c.next() {
                Some(v) => r.protocol = Some(v.text.to_string()),
                None => t.bad(ln, None, k, "a protocol"),
            },
            "scope" => match c.next().map(|v| (v, Scope::parse(v.text))) {
                Some((_, Some(s))) => r.scope = s,
                other => t.bad(ln, other.map(|o| o.0), "scope", "global, site, link, host, nowhere or a number"),
            },
            "src" => match c.next().map(|v| (v, lex::ipv4(v.text))) {
                Some((_, Some(a))) => r.prefsrc = Some(a),
                Some((v, None)) if lex::looks_ipv6(v.text) => return true,
                other => t.bad(ln, other.map(|o| o.0), "src", "an IPv4 address"),
            },
            "metric" | "preference" | "priority" => match c.next().map(|v| (v, v.text.parse::<u32>())) {
                Some((_, Ok(m))) => r.metric = m,
                other => t.bad(ln, other.map(|o| o.0), k, "a number"),
            },
            "mtu" => {
                let mut v = c.next();
                if v.map(|x| x.text) == Some("lock") {
                    v = c.next();
                }
                match v.map(|x| (x, x.text.parse::<u32>())) {
                    Some((_, Ok(m))) => r.mtu = Some(m),
                    other => t.bad(ln, other.map(|o| o.0), "mtu", "a number"),
                }
            }
            "tos" | "dsfield" => match c.next().map(|v| (v, lex::num_u32(v.text))) {
                Some((_, Some(v))) if v <= 255 => r.tos = v as u8,
                other => {
                    let w2 = other.map(|o| o.0);
                    t.bad(ln, w2, k, "a TOS value (0x10); names from /etc/iproute2/rt_dsfield are not known here")
                }
            },
            "nhid" => {
                let _ = c.next();
                t.warn(ln, w.col, "unsupported", format!("route to {} uses a nexthop object (`nhid`), whose content is not in this file", r.dst));
            }
            "encap" => {
                t.warn(
                    ln,
                    w.col,
                    "unsupported",
                    format!("route to {} has a lightweight tunnel `encap`, which nfpath does not model: the rest of the line is ignored", r.dst),
                );
                break;
            }
            _ if ROUTE_IGNORED_KV.contains(&k) => {
                let _ = c.next();
            }
            _ if ROUTE_IGNORED_FLAGS.contains(&k) => {}
            _ => t.warn(ln, w.col, "unknown-keyword", format!("`{k}` is not a known `ip route` keyword: ignored")),
        }
    }
    false
}

// ---------------------------------------------------------------------------------------------
// rules

/// `ip rule show` -> IPv4 policy rules.
pub fn parse_rules(file: &str, text: &str) -> Parsed<Vec<FibRule>> {
    parse_rules_counted(file, text).parsed
}

fn port_pair(s: &str) -> Option<(u16, u16)> {
    match s.split_once('-') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => s.parse().ok().map(|p| (p, p)),
    }
}

fn rule_prefix(s: &str) -> Option<Result<Option<Ipv4Net>, ()>> {
    if s == "all" {
        return Some(Ok(None));
    }
    match lex::prefix(s)? {
        lex::Prefix::V4(n) => Some(Ok(Some(n))),
        lex::Prefix::V6 => Some(Err(())),
    }
}

pub fn parse_rules_counted(file: &str, text: &str) -> Counted<Vec<FibRule>> {
    let mut t = Tx::new(file);
    let mut out = Vec::new();
    'lines: for (ln, l) in lex::lines(text) {
        if l.trim().is_empty() {
            continue;
        }
        if lex::is_cut_marker(l) {
            t.diags.push(lex::cut(t.file, ln, l));
            continue;
        }
        if lex::is_comment(l) {
            t.comment_line(ln, l);
            continue;
        }
        let mut c = Cur::new(l);
        let Some(pw) = c.next() else {
            continue;
        };
        let Some(prio) = pw.text.strip_suffix(':').and_then(|p| p.parse::<u32>().ok()) else {
            t.error(ln, pw.col, "bad-value", format!("expected a rule priority such as `100:`, found `{}`: line skipped", pw.text));
            continue;
        };
        let mut r = FibRule {
            priority: prio,
            not: false,
            from: None,
            to: None,
            iif: None,
            oif: None,
            fwmark: None,
            tos: None,
            ipproto: None,
            sport: None,
            dport: None,
            uidrange: None,
            l3mdev: false,
            suppress_prefixlength: None,
            suppress_ifgroup: None,
            action: RuleAction::Table(0),
            protocol: None,
        };
        let mut has_action = false;
        while let Some(w) = c.next() {
            let k = w.text;
            if lex::starts_annotation(k) {
                let rest = lex::rest_of_line(l, &c.ws, c.i - 1);
                t.diags.push(lex::annotation(file, ln, w.col, rest));
                break;
            }
            match k {
                "not" => r.not = true,
                "from" | "to" => {
                    let v = c.next();
                    match v.and_then(|x| rule_prefix(x.text)) {
                        Some(Ok(p)) => {
                            if k == "from" {
                                r.from = p
                            } else {
                                r.to = p
                            }
                        }
                        Some(Err(())) => {
                            t.v6 += 1;
                            continue 'lines;
                        }
                        None => t.bad(ln, v, k, "`all` or an IPv4 prefix"),
                    }
                }
                "fwmark" => {
                    let v = c.next();
                    let parsed = v.and_then(|x| match x.text.split_once('/') {
                        Some((m, mask)) => Some((lex::num_u32(m)?, lex::num_u32(mask)?)),
                        None => Some((lex::num_u32(x.text)?, u32::MAX)),
                    });
                    match parsed {
                        Some(p) => r.fwmark = Some(p),
                        None => t.bad(ln, v, "fwmark", "MARK or MARK/MASK"),
                    }
                }
                "tos" | "dsfield" => {
                    let v = c.next();
                    match v.and_then(|x| lex::num_u32(x.text)).filter(|x| *x <= 255) {
                        Some(x) => r.tos = Some(x as u8),
                        None => t.bad(ln, v, k, "a TOS value"),
                    }
                }
                "iif" | "oif" => {
                    let v = c.next();
                    match v {
                        Some(d) => {
                            if k == "iif" {
                                r.iif = Some(d.text.to_string())
                            } else {
                                r.oif = Some(d.text.to_string())
                            }
                        }
                        None => t.bad(ln, None, k, "a device name"),
                    }
                    if c.peek().map(|x| x.text) == Some("[detached]") {
                        c.next();
                    }
                }
                "uidrange" => {
                    let v = c.next();
                    let p = v.and_then(|x| {
                        let (a, b) = x.text.split_once('-')?;
                        Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?))
                    });
                    match p {
                        Some(p) => r.uidrange = Some(p),
                        None => t.bad(ln, v, "uidrange", "UID-UID"),
                    }
                }
                "ipproto" => {
                    let v = c.next();
                    let p = v.and_then(|x| {
                        let s = x.text.strip_prefix("ipproto-").unwrap_or(x.text);
                        crate::model::types::proto_number(s)
                    });
                    match p {
                        Some(p) => r.ipproto = Some(p),
                        None => t.bad(ln, v, "ipproto", "a protocol name or number"),
                    }
                }
                "sport" | "dport" => {
                    let v = c.next();
                    match v.and_then(|x| port_pair(x.text)) {
                        Some(p) => {
                            if k == "sport" {
                                r.sport = Some(p)
                            } else {
                                r.dport = Some(p)
                            }
                        }
                        None => t.bad(ln, v, k, "PORT or PORT-PORT"),
                    }
                }
                "l3mdev" => r.l3mdev = true,
                "lookup" | "table" => {
                    has_action = true;
                    match c.next() {
                        Some(v) if v.text == "[l3mdev-table]" => {
                            r.l3mdev = true;
                            r.action = RuleAction::Table(0);
                        }
                        Some(v) => r.action = RuleAction::Table(lex::table_word(file, ln, v, &mut t.diags)),
                        None => t.bad(ln, None, k, "a table name or number"),
                    }
                }
                "suppress_prefixlength" => {
                    let v = c.next();
                    match v.and_then(|x| x.text.parse::<i32>().ok()) {
                        Some(n) => r.suppress_prefixlength = Some(n),
                        None => t.bad(ln, v, k, "a number"),
                    }
                }
                "suppress_ifgroup" => r.suppress_ifgroup = c.next().map(|x| x.text.to_string()),
                "goto" => {
                    has_action = true;
                    let v = c.next();
                    match v.and_then(|x| x.text.parse::<u32>().ok()) {
                        Some(n) => r.action = RuleAction::Goto(n),
                        None => t.bad(ln, v, "goto", "a rule priority"),
                    }
                }
                "[unresolved]" => {}
                "nop" => {
                    has_action = true;
                    r.action = RuleAction::Nop
                }
                "blackhole" => {
                    has_action = true;
                    r.action = RuleAction::Blackhole
                }
                "unreachable" => {
                    has_action = true;
                    r.action = RuleAction::Unreachable
                }
                "prohibit" => {
                    has_action = true;
                    r.action = RuleAction::Prohibit
                }
                "proto" | "protocol" => r.protocol = c.next().map(|x| x.text.to_string()),
                "realms" | "map-to" | "tun_id" | "flowlabel" => {
                    let _ = c.next();
                    t.warn(ln, w.col, "unsupported", format!("rule selector `{k}` is not modelled: this rule may match differently"));
                }
                _ => t.warn(ln, w.col, "unknown-keyword", format!("`{k}` is not a known `ip rule` keyword: ignored")),
            }
        }
        if !has_action {
            t.warn(ln, 0, "no-action", "rule without a table or action: `lookup unspec` (table 0) assumed");
        }
        out.push(r);
    }
    t.finish(out, "rules")
}

// ---------------------------------------------------------------------------------------------
// links and addresses

/// `ip -d link show` -> links (also reads `ip addr`, `-s` and `-br` forms).
pub fn parse_links(file: &str, text: &str) -> Parsed<Vec<Link>> {
    let (p, _) = parse_link_blocks(file, text);
    Parsed { value: p.parsed.value.0, diagnostics: p.parsed.diagnostics }
}

/// `ip addr` (or `ip -d address`, `ip -br addr`) -> IPv4 addresses.
pub fn parse_addrs(file: &str, text: &str) -> Parsed<Vec<Addr>> {
    parse_addrs_counted(file, text).parsed
}

pub fn parse_addrs_counted(file: &str, text: &str) -> Counted<Vec<Addr>> {
    let (p, _) = parse_link_blocks(file, text);
    Counted { parsed: Parsed { value: p.parsed.value.1, diagnostics: p.parsed.diagnostics }, ipv6_ignored: p.ipv6_ignored }
}

/// Devices and their IPv4 addresses, as one listing of `ip addr` gives both.
pub type LinksAndAddrs = (Vec<Link>, Vec<Addr>);

/// Whether the text is `ip -br` output (one line per device, no `N:` index).
fn is_brief(text: &str) -> bool {
    const STATES: &[&str] = &["UP", "DOWN", "UNKNOWN", "LOWERLAYERDOWN", "DORMANT", "NOTPRESENT", "TESTING"];
    let first = text.lines().find(|l| !l.trim().is_empty() && !lex::is_comment(l));
    match first {
        Some(l) => {
            let ws = lex::words(l);
            !l.starts_with(' ') && ws.len() >= 2 && !ws[0].text.ends_with(':') && STATES.contains(&ws[1].text)
        }
        None => false,
    }
}

/// Reads `ip link`/`ip addr` blocks. Returns the links and addresses, and whether any block had
/// `-d` details.
pub fn parse_link_blocks(file: &str, text: &str) -> (Counted<LinksAndAddrs>, bool) {
    let mut t = Tx::new(file);
    if is_brief(text) {
        let r = brief(&mut t, text);
        return (t.finish(r, "addresses"), false);
    }
    let mut links: Vec<Link> = Vec::new();
    let mut addrs: Vec<Addr> = Vec::new();
    let mut any_details = false;
    let mut skip_stats = false;
    for (ln, l) in lex::lines(text) {
        if l.trim().is_empty() {
            continue;
        }
        if lex::is_cut_marker(l) {
            t.diags.push(lex::cut(t.file, ln, l));
            continue;
        }
        if lex::is_comment(l) {
            t.comment_line(ln, l);
            continue;
        }
        let indented = l.starts_with(' ') || l.starts_with('\t');
        let mut c = Cur::new(l);
        if !indented {
            skip_stats = false;
            if let Some(link) = link_header(&mut t, ln, l, &mut c) {
                links.push(link);
            }
            continue;
        }
        let Some(first) = c.next() else {
            continue;
        };
        if skip_stats && first.text.chars().all(|ch| ch.is_ascii_digit()) {
            continue;
        }
        skip_stats = false;
        let Some(link) = links.last_mut() else {
            t.error(ln, first.col, "syntax", "indented line before any `N: name:` device line: skipped");
            continue;
        };
        let k = first.text;
        if k.starts_with("RX") || k.starts_with("TX") {
            skip_stats = true;
            continue;
        }
        if let Some(lt) = k.strip_prefix("link/") {
            // `-d` adds `promiscuity ... minmtu ... numtxqueues` to this line; with it, a device
            // without a kind line really has no `linkinfo` (a NIC or loopback).
            if c.ws.iter().any(|w| matches!(w.text, "promiscuity" | "minmtu" | "numtxqueues")) {
                any_details = true;
            }
            link_line(&mut t, ln, lt, &mut c, link);
            continue;
        }
        match k {
            "inet" => {
                if let Some(a) = addr_line(&mut t, ln, l, &mut c, link) {
                    addrs.push(a);
                }
            }
            "inet6" => t.v6 += 1,
            "valid_lft" | "altname" | "alias" | "vf" | "prop" => {}
            _ if lex::starts_annotation(k) => {
                let rest = lex::rest_of_line(l, &c.ws, 0);
                t.diags.push(lex::annotation(file, ln, first.col, rest));
            }
            _ => {
                any_details = true;
                detail_line(&mut t, ln, first, &mut c, link);
            }
        }
    }
    crate::parse::ip_json::resolve_link_names(&mut links);
    if !any_details && links.iter().any(|l| l.kind == LinkKind::Ether) {
        t.info(
            1,
            0,
            "no-details",
            "no `-d` details in this listing: device kinds (veth, bridge, vxlan, ...) are unknown and `link/ether` devices were imported as plain ethernet",
        );
    }
    (t.finish((links, addrs), "addresses"), any_details)
}

fn link_header(t: &mut Tx<'_>, ln: u32, l: &str, c: &mut Cur<'_>) -> Option<Link> {
    let iw = c.next()?;
    let Some(ifindex) = iw.text.strip_suffix(':').and_then(|x| x.parse::<u32>().ok()) else {
        let rest = lex::rest_of_line(l, &c.ws, 0);
        if lex::starts_annotation(iw.text) {
            t.diags.push(lex::annotation(t.file, ln, iw.col, rest));
        } else {
            t.error(ln, iw.col, "syntax", format!("expected a device line `N: name: <FLAGS> ...`, found `{}`: skipped", rest));
        }
        return None;
    };
    let Some(nw) = c.next() else {
        t.bad(ln, None, iw.text, "a device name");
        return None;
    };
    let full = nw.text.strip_suffix(':').unwrap_or(nw.text);
    let (name, peer) = match full.split_once('@') {
        Some((n, p)) => (n, Some(p)),
        None => (full, None),
    };
    let mut link = Link {
        ifindex,
        name: name.to_string(),
        kind: LinkKind::Ether,
        mtu: 1500,
        mac: None,
        up: false,
        lower_up: false,
        noarp: false,
        promisc: false,
        master: None,
        link_ifindex: None,
        link_name: None,
        link_netnsid: None,
        brport: None,
        group: None,
    };
    match peer {
        Some("NONE") | None => {}
        Some(p) => match p.strip_prefix("if").and_then(|x| x.parse::<u32>().ok()) {
            Some(i) => link.link_ifindex = Some(i),
            None => link.link_name = Some(p.to_string()),
        },
    }
    if let Some(fw) = c.next() {
        match fw.text.strip_prefix('<').and_then(|x| x.strip_suffix('>')) {
            Some(flags) => {
                for f in flags.split(',') {
                    match f {
                        "UP" => link.up = true,
                        "LOWER_UP" => link.lower_up = true,
                        "NOARP" => link.noarp = true,
                        "PROMISC" => link.promisc = true,
                        _ => {}
                    }
                }
            }
            None => t.bad(ln, Some(fw), name, "the flags `<UP,LOWER_UP,...>`"),
        }
    }
    while let Some(w) = c.next() {
        match w.text {
            "mtu" => match c.next().and_then(|v| v.text.parse().ok()) {
                Some(m) => link.mtu = m,
                None => t.bad(ln, None, "mtu", "a number"),
            },
            "master" => link.master = c.next().map(|v| v.text.to_string()),
            "group" => link.group = c.next().map(|v| v.text.to_string()),
            "qdisc" | "state" | "mode" | "qlen" | "link-netnsid" | "netns" => {
                let _ = c.next();
            }
            "\\" => {}
            k if lex::starts_annotation(k) => {
                let rest = lex::rest_of_line(l, &c.ws, c.i - 1);
                t.diags.push(lex::annotation(t.file, ln, w.col, rest));
                break;
            }
            _ => {}
        }
    }
    if link.master.is_some() {
        link.brport = Some(BridgePort::default());
    }
    Some(link)
}

fn link_line(t: &mut Tx<'_>, ln: u32, lt: &str, c: &mut Cur<'_>, link: &mut Link) {
    match lt {
        "loopback" => link.kind = LinkKind::Loopback,
        "ether" => {}
        "ipip" => link.kind = LinkKind::Ipip(TunnelInfo::default()),
        other => {
            link.kind = LinkKind::Other { name: format!("link/{other}") };
            t.warn(
                ln,
                0,
                "unknown-kind",
                format!("`{}` has link type `{other}` (no `-d` kind on the next line tells more): kept as an unmodelled device", link.name),
            );
        }
    }
    if matches!(lt, "ether" | "loopback") {
        if let Some(m) = c.peek() {
            if let Some(mac) = Mac::parse(m.text) {
                link.mac = Some(mac);
                c.next();
            }
        }
    }
    while let Some(w) = c.next() {
        match w.text {
            "link-netnsid" => match c.next().and_then(|v| v.text.parse::<i32>().ok()) {
                Some(n) => link.link_netnsid = Some(n),
                None => t.bad(ln, None, "link-netnsid", "a number"),
            },
            "link-netns" => {
                // A named peer namespace: the kernel reports no id to this listing, which
                // is the kernel's NETNSA_NSID_NOT_ASSIGNED (-1).
                let n = c.next();
                link.link_netnsid = Some(-1);
                if let Some(n) = n {
                    t.info(ln, n.col, "peer-netns", format!("`{}`'s peer lives in namespace `{}` (no netnsid in this listing)", link.name, n.text));
                }
            }
            "promiscuity" => {
                let _ = c.next();
            }
            "brd" | "peer" => {
                let _ = c.next();
            }
            _ => {}
        }
    }
}

fn detail_line(t: &mut Tx<'_>, ln: u32, first: Word<'_>, c: &mut Cur<'_>, link: &mut Link) {
    let name = link.name.clone();
    match first.text {
        "veth" => link.kind = LinkKind::Veth,
        "dummy" => link.kind = LinkKind::Dummy,
        "bridge" => {
            let mut b = BridgeInfo::default();
            while let Some(w) = c.next() {
                let v = c.peek();
                match w.text {
                    "stp_state" => b.stp_state = v.and_then(|x| x.text.parse().ok()).unwrap_or(0),
                    "vlan_filtering" => b.vlan_filtering = v.map(|x| x.text == "1").unwrap_or(false),
                    "ageing_time" => b.ageing_time = v.and_then(|x| x.text.parse().ok()),
                    "nf_call_iptables" => b.nf_call_iptables = v.map(|x| x.text == "1").unwrap_or(false),
                    _ => continue,
                }
                c.next();
            }
            link.kind = LinkKind::Bridge(b);
        }
        "bridge_slave" => {
            let mut p = BridgePort::default();
            while let Some(w) = c.next() {
                let v = c.peek().map(|x| x.text);
                match w.text {
                    "state" => p.state = v.unwrap_or("forwarding").to_string(),
                    "hairpin" => p.hairpin = v.and_then(on_off).unwrap_or(false),
                    "learning" => p.learning = v.and_then(on_off).unwrap_or(true),
                    "flood" => p.flood = v.and_then(on_off).unwrap_or(true),
                    "proxy_arp" => p.proxy_arp = v.and_then(on_off).unwrap_or(false),
                    _ => continue,
                }
                c.next();
            }
            link.brport = Some(p);
        }
        "vxlan" => {
            let mut v = VxlanInfo { vni: 0, local: None, remote: None, dstport: 0, dev: None, learning: true, port_range: None };
            while let Some(w) = c.next() {
                match w.text {
                    "id" => v.vni = c.next().and_then(|x| x.text.parse().ok()).unwrap_or(0),
                    "remote" | "group" => v.remote = c.next().and_then(|x| lex::ipv4(x.text)),
                    "local" => v.local = c.next().and_then(|x| lex::ipv4(x.text)),
                    "dev" => v.dev = c.next().map(|x| x.text.to_string()),
                    "dstport" => v.dstport = c.next().and_then(|x| x.text.parse().ok()).unwrap_or(0),
                    "srcport" => {
                        let lo = c.next().and_then(|x| x.text.parse().ok()).unwrap_or(0);
                        let hi = c.next().and_then(|x| x.text.parse().ok()).unwrap_or(0);
                        v.port_range = Some((lo, hi));
                    }
                    "nolearning" => v.learning = false,
                    "learning" => v.learning = true,
                    "external" => t.warn(ln, w.col, "unsupported", format!("VXLAN `{name}` is in external mode: its remotes are not in this file")),
                    _ => {}
                }
            }
            link.kind = LinkKind::Vxlan(v);
        }
        "ipip" => {
            let mut tu = TunnelInfo::default();
            while let Some(w) = c.next() {
                match w.text {
                    "remote" => tu.remote = c.next().and_then(|x| lex::ipv4(x.text)).filter(|a| !a.is_unspecified()),
                    "local" => tu.local = c.next().and_then(|x| lex::ipv4(x.text)).filter(|a| !a.is_unspecified()),
                    "dev" => tu.dev = c.next().map(|x| x.text.to_string()),
                    "ttl" => tu.ttl = c.next().and_then(|x| x.text.parse().ok()),
                    _ => {}
                }
            }
            link.kind = LinkKind::Ipip(tu);
        }
        "vlan" => {
            let mut id = None;
            while let Some(w) = c.next() {
                if w.text == "id" {
                    id = c.next().and_then(|x| x.text.parse().ok());
                }
            }
            if id.is_none() {
                t.warn(ln, first.col, "missing-field", format!("VLAN `{name}` without an id: 0 assumed"));
            }
            link.kind = LinkKind::Vlan { id: id.unwrap_or(0) };
        }
        k if k.ends_with("_slave") => {
            t.warn(ln, first.col, "unknown-kind", format!("`{name}` is a port of a `{}` device, which nfpath does not model", k.trim_end_matches("_slave")));
        }
        // The generic tail of the `-d` link line (`promiscuity 0 addrgenmode ...` printed on
        // a line of its own by some versions).
        "addrgenmode" | "numtxqueues" | "gso_max_size" | "minmtu" | "promiscuity" | "allmulti" => {}
        k => {
            t.warn(ln, first.col, "unknown-kind", format!("`{name}` is a `{k}` device, which nfpath does not model: packets reaching it are indeterminate"));
            link.kind = LinkKind::Other { name: k.to_string() };
        }
    }
}

fn addr_line(t: &mut Tx<'_>, ln: u32, l: &str, c: &mut Cur<'_>, link: &Link) -> Option<Addr> {
    let w = c.next();
    let (a, plen) = match w.map(|x| (x, x.text.split_once('/'))) {
        Some((x, Some((a, p)))) => (lex::ipv4(a).map(|a| (a, x)), p.parse::<u8>().ok().filter(|p| *p <= 32)),
        Some((x, None)) => (lex::ipv4(x.text).map(|a| (a, x)), Some(32)),
        None => (None, None),
    };
    let (Some((local, _)), Some(plen)) = (a, plen) else {
        t.bad(ln, w, "inet", "an IPv4 address with its prefix length (A.B.C.D/N)");
        return None;
    };
    let mut addr = Addr {
        ifname: link.name.clone(),
        ifindex: link.ifindex,
        local,
        prefix_len: plen,
        peer: None,
        broadcast: None,
        scope: Scope::Universe,
        secondary: false,
        noprefixroute: false,
        label: None,
    };
    while let Some(w) = c.next() {
        match w.text {
            "peer" => {
                let v = c.next();
                match v.and_then(|x| lex::prefix(x.text)) {
                    Some(lex::Prefix::V4(n)) => {
                        addr.peer = Some(n.addr());
                        addr.prefix_len = n.prefix_len();
                    }
                    _ => t.bad(ln, v, "peer", "an IPv4 peer address"),
                }
            }
            "brd" => addr.broadcast = c.next().and_then(|x| lex::ipv4(x.text)),
            "scope" => {
                let v = c.next();
                match v.and_then(|x| Scope::parse(x.text)) {
                    Some(s) => addr.scope = s,
                    None => t.bad(ln, v, "scope", "global, site, link, host or a number"),
                }
            }
            "secondary" => addr.secondary = true,
            "noprefixroute" => addr.noprefixroute = true,
            "metric" | "proto" => {
                let _ = c.next();
            }
            "dynamic" | "permanent" | "deprecated" | "tentative" | "dadfailed" | "home" | "nodad" | "mngtmpaddr" | "optimistic" | "autojoin" | "primary"
            | "temporary" | "stable-privacy" => {}
            k if lex::starts_annotation(k) => {
                let rest = lex::rest_of_line(l, &c.ws, c.i - 1);
                t.diags.push(lex::annotation(t.file, ln, w.col, rest));
                break;
            }
            // The last word is the label (`eth0`, `eth0:1`).
            k => addr.label = Some(k.to_string()),
        }
    }
    Some(addr)
}

/// `ip -br addr`: `name[@peer] STATE addr/len ...`. There is no ifindex, scope or flags; devices
/// are numbered in order and scopes follow the kernel's rule for the address (127/8 is host).
fn brief(t: &mut Tx<'_>, text: &str) -> (Vec<Link>, Vec<Addr>) {
    let mut links = Vec::new();
    let mut addrs = Vec::new();
    t.info(
        1,
        0,
        "brief-format",
        "`ip -br` listing: no ifindex, scope or device kind; devices are numbered in the order listed and scopes assumed (host for 127/8, else global)",
    );
    for (ln, l) in lex::lines(text) {
        if l.trim().is_empty() || lex::is_comment(l) {
            continue;
        }
        let mut c = Cur::new(l);
        let (Some(nw), Some(sw)) = (c.next(), c.next()) else {
            t.error(ln, 1, "syntax", "expected `name STATE addresses...`: skipped");
            continue;
        };
        let (name, peer) = match nw.text.split_once('@') {
            Some((n, p)) => (n, Some(p)),
            None => (nw.text, None),
        };
        let ifindex = links.len() as u32 + 1;
        let mut link = Link {
            ifindex,
            name: name.to_string(),
            kind: if name == "lo" { LinkKind::Loopback } else { LinkKind::Ether },
            mtu: 1500,
            mac: None,
            up: sw.text != "DOWN",
            lower_up: matches!(sw.text, "UP" | "UNKNOWN"),
            noarp: false,
            promisc: false,
            master: None,
            link_ifindex: None,
            link_name: None,
            link_netnsid: None,
            brport: None,
            group: None,
        };
        match peer.map(|p| (p, p.strip_prefix("if").and_then(|x| x.parse::<u32>().ok()))) {
            // `@ifN`: the peer's index in another namespace.
            Some((_, Some(i))) => {
                link.link_ifindex = Some(i);
                link.link_netnsid = Some(-1);
            }
            Some(("NONE", None)) | None => {}
            Some((p, None)) => link.link_name = Some(p.to_string()),
        }
        while let Some(w) = c.next() {
            if w.text == "metric" {
                c.next();
                continue;
            }
            // `ip -br link`: `name STATE MAC <FLAGS>`.
            if let Some(m) = Mac::parse(w.text) {
                link.mac = Some(m);
                continue;
            }
            if let Some(flags) = w.text.strip_prefix('<').and_then(|x| x.strip_suffix('>')) {
                // The flags say more than the state column: they decide.
                link.up = false;
                link.lower_up = false;
                for f in flags.split(',') {
                    match f {
                        "UP" => link.up = true,
                        "LOWER_UP" => link.lower_up = true,
                        "NOARP" => link.noarp = true,
                        "PROMISC" => link.promisc = true,
                        _ => {}
                    }
                }
                continue;
            }
            match lex::prefix(w.text) {
                Some(lex::Prefix::V6) => t.v6 += 1,
                Some(lex::Prefix::V4(n)) => {
                    let a: Ipv4Addr = w.text.split('/').next().and_then(lex::ipv4).unwrap_or(n.addr());
                    addrs.push(Addr {
                        ifname: name.to_string(),
                        ifindex,
                        local: a,
                        prefix_len: n.prefix_len(),
                        peer: None,
                        broadcast: None,
                        scope: if a.is_loopback() { Scope::Host } else { Scope::Universe },
                        secondary: false,
                        noprefixroute: false,
                        label: None,
                    })
                }
                None => t.warn(ln, w.col, "unknown-keyword", format!("`{}` is not an address: ignored", w.text)),
            }
        }
        links.push(link);
    }
    crate::parse::ip_json::resolve_link_names(&mut links);
    (links, addrs)
}

// ---------------------------------------------------------------------------------------------
// neighbours

const NUD_STATES: &[&str] = &["PERMANENT", "NOARP", "REACHABLE", "STALE", "DELAY", "PROBE", "FAILED", "INCOMPLETE", "NONE"];

/// `ip neigh show` -> IPv4 neighbours.
pub fn parse_neighs(file: &str, text: &str) -> Parsed<Vec<Neigh>> {
    parse_neighs_counted(file, text, None).parsed
}

/// `dev` is the device when the listing was `ip neigh show dev X`, which omits the column.
pub fn parse_neighs_counted(file: &str, text: &str, dev: Option<&str>) -> Counted<Vec<Neigh>> {
    let mut t = Tx::new(file);
    let mut out = Vec::new();
    let mut warned_dev = false;
    for (ln, l) in lex::lines(text) {
        if l.trim().is_empty() {
            continue;
        }
        if lex::is_cut_marker(l) {
            t.diags.push(lex::cut(t.file, ln, l));
            continue;
        }
        if lex::is_comment(l) {
            t.comment_line(ln, l);
            continue;
        }
        let mut c = Cur::new(l);
        let Some(dw) = c.next() else {
            continue;
        };
        if lex::looks_ipv6(dw.text) {
            t.v6 += 1;
            continue;
        }
        let Some(dst) = lex::ipv4(dw.text) else {
            t.error(ln, dw.col, "bad-value", format!("expected a neighbour address, found `{}`: line skipped", dw.text));
            continue;
        };
        let mut n = Neigh { dst, dev: String::new(), lladdr: None, state: Vec::new(), router: false, proxy: false };
        while let Some(w) = c.next() {
            match w.text {
                "dev" => n.dev = c.next().map(|x| x.text.to_string()).unwrap_or_default(),
                "lladdr" => {
                    let v = c.next();
                    match v.and_then(|x| Mac::parse(x.text)) {
                        Some(m) => n.lladdr = Some(m),
                        None => t.bad(ln, v, "lladdr", "a MAC address"),
                    }
                }
                "router" => n.router = true,
                "proxy" => n.proxy = true,
                "used" | "probes" | "ref" | "nud" | "protocol" => {
                    let _ = c.next();
                }
                "extern_learn" | "offload" | "managed" => {}
                s if NUD_STATES.contains(&s) => n.state.push(s.to_string()),
                k if lex::starts_annotation(k) => {
                    let rest = lex::rest_of_line(l, &c.ws, c.i - 1);
                    t.diags.push(lex::annotation(file, ln, w.col, rest));
                    break;
                }
                k => t.warn(ln, w.col, "unknown-keyword", format!("`{k}` is not a known `ip neigh` keyword: ignored")),
            }
        }
        if n.dev.is_empty() {
            match dev {
                Some(d) => n.dev = d.to_string(),
                None if !warned_dev => {
                    warned_dev = true;
                    t.warn(
                        ln,
                        0,
                        "missing-dev",
                        "neighbour without `dev` (the output of `ip neigh show dev X` omits it): the device is unknown; pass it to the importer",
                    );
                }
                None => {}
            }
        }
        out.push(n);
    }
    t.finish(out, "neighbours")
}

// ---------------------------------------------------------------------------------------------
// brctl show

/// `brctl show` -> bridge name -> its ports, in the order listed. A line starting with
/// whitespace continues the previous bridge's port list; `STP enabled` and the bridge id are
/// not modelled.
pub fn parse_brctl_show(file: &str, text: &str) -> Parsed<std::collections::BTreeMap<String, Vec<String>>> {
    let mut t = Tx::new(file);
    let mut out: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    let mut cur: Option<String> = None;
    for (ln, l) in lex::lines(text) {
        let ws = lex::words(l);
        if ws.is_empty() {
            continue;
        }
        if ln == 1 && ws[0].text == "bridge" {
            continue;
        }
        if l.starts_with(' ') || l.starts_with('\t') {
            match &cur {
                Some(b) => out.entry(b.clone()).or_default().push(ws[0].text.to_string()),
                None => t.error(ln, ws[0].col, "syntax", "port line before any bridge line: skipped"),
            }
            continue;
        }
        // `name  id  yes|no  [first port]`
        if ws.len() < 3 || !matches!(ws[2].text, "yes" | "no") {
            t.error(ln, ws[0].col, "syntax", format!("expected `BRIDGE ID yes|no [PORT]`, found `{}`: skipped", l.trim()));
            cur = None;
            continue;
        }
        let b = ws[0].text.to_string();
        let ports = out.entry(b.clone()).or_default();
        if let Some(p) = ws.get(3) {
            ports.push(p.text.to_string());
        }
        cur = Some(b);
    }
    Parsed { value: out, diagnostics: t.diags }
}
