//! `ip -j` (and `bridge -j`) JSON output -> links, addresses, routes, rules, neighbours.
//!
//! Every importer here reads the document with `spanned` so that a diagnostic names the line
//! and column of the value it is about. Unknown keys are kept out of the model but reported once
//! per key and file (`unknown-field`, info), unknown device kinds become `LinkKind::Other`, and
//! IPv6 items are counted, never modelled.

pub(crate) mod spanned;

use crate::diag::{Diagnostic, Parsed, Span};
use crate::model::addr::Addr;
use crate::model::link::{BridgeInfo, BridgePort, Link, LinkKind, TunnelInfo, VxlanInfo};
use crate::model::neigh::Neigh;
use crate::model::route::{NextHop, Route, RouteType, RT_TABLE_MAIN};
use crate::model::rule::{FibRule, RuleAction};
use crate::model::types::{Mac, Scope};
use crate::parse::ip_text::lex;
use ipnet::Ipv4Net;
use spanned::J;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// A parse result plus the number of IPv6 items seen and not modelled.
#[derive(Clone, Debug)]
pub struct Counted<T> {
    pub parsed: Parsed<T>,
    pub ipv6_ignored: usize,
}

/// Shared state of one JSON import: the file name, diagnostics and the unknown keys already
/// reported (each is reported once per file).
pub(crate) struct Ctx<'f> {
    pub file: &'f str,
    pub diags: Vec<Diagnostic>,
    reported: BTreeSet<String>,
    pub v6: usize,
}

impl<'f> Ctx<'f> {
    pub fn new(file: &'f str) -> Self {
        Ctx { file, diags: Vec::new(), reported: BTreeSet::new(), v6: 0 }
    }
    pub fn error(&mut self, j: &J, code: &str, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(j.span(self.file), code, msg));
    }
    pub fn warn(&mut self, j: &J, code: &str, msg: impl Into<String>) {
        self.diags.push(Diagnostic::warning(j.span(self.file), code, msg));
    }
    pub fn info(&mut self, j: &J, code: &str, msg: impl Into<String>) {
        self.diags.push(Diagnostic::info(j.span(self.file), code, msg));
    }
    /// A field of the wrong type or form: an error saying what was expected and what was there.
    pub fn bad(&mut self, j: &J, field: &str, expected: &str) {
        let found = j.show();
        self.diags
            .push(Diagnostic::error(j.span(self.file), "bad-value", format!("`{field}`: expected {expected}, found {found}")).with_expected(expected, found));
    }
    /// Reports keys outside `known`, once per key name and file.
    pub fn unknown_keys(&mut self, obj: &J, what: &str, known: &[&str]) {
        for (k, v) in obj.keys() {
            if !known.contains(&k) && self.reported.insert(format!("{what}.{k}")) {
                self.diags.push(Diagnostic::info(
                    v.span(self.file),
                    "unknown-field",
                    format!("{what} field `{k}` is not modelled and was ignored (reported once per file)"),
                ));
            }
        }
    }
    pub fn str_of<'j>(&mut self, o: &'j J, key: &str) -> Option<&'j str> {
        let v = o.get(key)?;
        match v.str() {
            Some(s) => Some(s),
            None => {
                self.bad(v, key, "a string");
                None
            }
        }
    }
    pub fn u64_of(&mut self, o: &J, key: &str) -> Option<u64> {
        let v = o.get(key)?;
        match v.u64() {
            Some(n) => Some(n),
            None => {
                self.bad(v, key, "a non-negative integer");
                None
            }
        }
    }
    pub fn bool_of(&mut self, o: &J, key: &str) -> Option<bool> {
        let v = o.get(key)?;
        match v.truthy() {
            Some(b) => Some(b),
            None => {
                self.bad(v, key, "true, false, 0 or 1");
                None
            }
        }
    }
    pub fn ipv4_of(&mut self, o: &J, key: &str) -> Option<Ipv4Addr> {
        let v = o.get(key)?;
        match v.str().and_then(lex::ipv4) {
            Some(a) => Some(a),
            None => {
                self.bad(v, key, "an IPv4 address");
                None
            }
        }
    }
    pub fn mac_of(&mut self, o: &J, key: &str) -> Option<Mac> {
        let v = o.get(key)?;
        match v.str().and_then(Mac::parse) {
            Some(m) => Some(m),
            None => {
                self.bad(v, key, "a MAC address");
                None
            }
        }
    }
    pub fn finish<T>(self, value: T) -> Counted<T> {
        Counted { parsed: Parsed { value, diagnostics: self.diags }, ipv6_ignored: self.v6 }
    }
}

/// Reads the top-level array every `ip -j ... show` prints.
pub(crate) fn top_array(ctx: &mut Ctx<'_>, text: &str) -> Option<Vec<J>> {
    if text.trim().is_empty() {
        ctx.diags.push(Diagnostic::info(Span::new(ctx.file, 1, 0), "empty-file", "the file is empty: nothing to import"));
        return Some(Vec::new());
    }
    match spanned::parse(ctx.file, text) {
        Ok(j) => match j.v {
            spanned::Jv::Arr(a) => Some(a),
            _ => {
                ctx.bad(&j, "document", "a JSON array (the output of `ip -j ... show`)");
                None
            }
        },
        Err(d) => {
            ctx.diags.push(*d);
            None
        }
    }
}

fn ipv6_note(ctx: &mut Ctx<'_>, what: &str) {
    if ctx.v6 > 0 {
        let n = ctx.v6;
        ctx.diags.push(Diagnostic::info(Span::new(ctx.file, 1, 0), "ipv6-ignored", format!("{n} IPv6 {what} seen and not modelled (nfpath models IPv4 only)")));
    }
}

// ---------------------------------------------------------------------------------------------
// links

const LINK_KEYS: &[&str] = &[
    "ifindex",
    "ifname",
    "flags",
    "mtu",
    "qdisc",
    "operstate",
    "linkmode",
    "group",
    "txqlen",
    "link_type",
    "address",
    "broadcast",
    "promiscuity",
    "allmulti",
    "min_mtu",
    "max_mtu",
    "linkinfo",
    "inet6_addr_gen_mode",
    "num_tx_queues",
    "num_rx_queues",
    "gso_max_size",
    "gso_max_segs",
    "tso_max_size",
    "tso_max_segs",
    "gro_max_size",
    "gso_ipv4_max_size",
    "gro_ipv4_max_size",
    "link",
    "link_index",
    "link_netnsid",
    "master",
    "altnames",
    "parentbus",
    "parentdev",
    "vfinfo_list",
    "proto_down",
    "perm_address",
    "stats64",
    "stats",
    "xdp",
    "addr_info",
    "event",
    "phys_port_name",
    "phys_port_id",
    "phys_switch_id",
    "netns",
    "link_pointtopoint",
    "ifalias",
    "new_netnsid",
    "new_ifindex",
    "parent_dev_name",
    "parent_dev_bus_name",
    "carrier_changes",
    "carrier_up_count",
    "carrier_down_count",
    "allmulti",
    "dpll_pin",
];

/// `ip -j -d link show` -> links.
pub fn parse_links(file: &str, text: &str) -> Parsed<Vec<Link>> {
    parse_links_counted(file, text).parsed
}

pub fn parse_links_counted(file: &str, text: &str) -> Counted<Vec<Link>> {
    let mut ctx = Ctx::new(file);
    let mut out = Vec::new();
    if let Some(items) = top_array(&mut ctx, text) {
        for o in &items {
            if let Some(l) = link(&mut ctx, o) {
                out.push(l);
            }
        }
        if !items.is_empty() && !items.iter().any(|o| o.has("linkinfo")) {
            ctx.diags.push(Diagnostic::info(
                Span::new(file, 1, 0),
                "no-details",
                "no device has `linkinfo`: the listing was taken without `-d`, so veth, bridge, vxlan and other kinds read as plain ethernet",
            ));
        }
    }
    resolve_link_names(&mut out);
    ctx.finish(out)
}

/// Fills `link_ifindex` from `link_name` (same namespace) and the other way round, so the
/// engine can follow a veth or VLAN parent by either.
pub(crate) fn resolve_link_names(links: &mut [Link]) {
    let by_name: std::collections::BTreeMap<String, u32> = links.iter().map(|l| (l.name.clone(), l.ifindex)).collect();
    let by_index: std::collections::BTreeMap<u32, String> = links.iter().map(|l| (l.ifindex, l.name.clone())).collect();
    for l in links.iter_mut() {
        if l.link_netnsid.is_some() {
            continue;
        }
        if l.link_ifindex.is_none() {
            if let Some(n) = &l.link_name {
                l.link_ifindex = by_name.get(n).copied();
            }
        } else if l.link_name.is_none() {
            l.link_name = l.link_ifindex.and_then(|i| by_index.get(&i).cloned());
        }
    }
}

fn link(ctx: &mut Ctx<'_>, o: &J) -> Option<Link> {
    ctx.unknown_keys(o, "link", LINK_KEYS);
    let Some(ifindex) = ctx.u64_of(o, "ifindex") else {
        ctx.error(o, "missing-field", "link without `ifindex`: skipped");
        return None;
    };
    let Some(name) = ctx.str_of(o, "ifname").map(str::to_string) else {
        ctx.error(o, "missing-field", "link without `ifname`: skipped");
        return None;
    };
    let flags: Vec<String> = match o.get("flags") {
        Some(f) => match f.arr() {
            Some(a) => a.iter().filter_map(|x| x.str().map(str::to_string)).collect(),
            None => {
                ctx.bad(f, "flags", "an array of strings");
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let has = |f: &str| flags.iter().any(|x| x == f);
    let link_type = o.get("link_type").and_then(J::str).unwrap_or("ether").to_string();
    let mac = if matches!(link_type.as_str(), "ether" | "loopback") { ctx.mac_of(o, "address") } else { None };
    let mut l = Link {
        ifindex: ifindex as u32,
        name: name.clone(),
        kind: LinkKind::Ether,
        mtu: ctx.u64_of(o, "mtu").unwrap_or(1500) as u32,
        mac,
        up: has("UP"),
        lower_up: has("LOWER_UP"),
        noarp: has("NOARP"),
        promisc: has("PROMISC"),
        master: ctx.str_of(o, "master").map(str::to_string),
        link_ifindex: ctx.u64_of(o, "link_index").map(|v| v as u32),
        link_name: ctx.str_of(o, "link").map(str::to_string),
        link_netnsid: o.get("link_netnsid").and_then(J::i64).map(|v| v as i32),
        brport: None,
        group: ctx.str_of(o, "group").map(str::to_string),
    };
    let info = o.get("linkinfo");
    let kind_name = info.and_then(|i| i.get("info_kind")).and_then(J::str);
    let data = info.and_then(|i| i.get("info_data"));
    l.kind = match (kind_name, link_type.as_str()) {
        (None, "loopback") => LinkKind::Loopback,
        (None, "ether") => LinkKind::Ether,
        (None, "ipip") => {
            ctx.warn(o, "no-details", format!("`{name}` is an IPIP device but the file has no `-d` details: its endpoints are unknown"));
            LinkKind::Ipip(TunnelInfo::default())
        }
        (None, other) => {
            ctx.warn(o, "unknown-kind", format!("`{name}` has link type `{other}` and no `-d` details: kept as an unmodelled device"));
            LinkKind::Other { name: other.to_string() }
        }
        (Some("veth"), _) => LinkKind::Veth,
        (Some("bridge"), _) => LinkKind::Bridge(bridge_info(ctx, data)),
        (Some("vxlan"), _) => LinkKind::Vxlan(vxlan_info(ctx, &name, data)),
        (Some("ipip"), _) => LinkKind::Ipip(tunnel_info(ctx, data)),
        (Some("dummy"), _) => LinkKind::Dummy,
        (Some("vlan"), _) => {
            let id = data.and_then(|d| ctx.u64_of(d, "id"));
            if id.is_none() {
                ctx.warn(o, "missing-field", format!("VLAN `{name}` without an `id` in its details: VLAN id 0 assumed"));
            }
            LinkKind::Vlan { id: id.unwrap_or(0) as u16 }
        }
        (Some(k), _) => {
            let at = info.unwrap_or(o);
            ctx.warn(at, "unknown-kind", format!("`{name}` is a `{k}` device, which nfpath does not model: packets reaching it are indeterminate"));
            LinkKind::Other { name: k.to_string() }
        }
    };
    if let Some(i) = info {
        if i.get("info_slave_kind").and_then(J::str) == Some("bridge") {
            let mut p = BridgePort::default();
            if let Some(sd) = i.get("info_slave_data") {
                if let Some(s) = ctx.str_of(sd, "state") {
                    p.state = s.to_string();
                }
                p.hairpin = ctx.bool_of(sd, "hairpin").unwrap_or(false);
                p.learning = ctx.bool_of(sd, "learning").unwrap_or(true);
                p.flood = ctx.bool_of(sd, "flood").unwrap_or(true);
                p.proxy_arp = ctx.bool_of(sd, "proxy_arp").unwrap_or(false);
            } else {
                ctx.warn(i, "no-details", format!("bridge port `{name}` without `info_slave_data`: default port flags assumed"));
            }
            l.brport = Some(p);
        } else if let Some(k) = i.get("info_slave_kind") {
            ctx.warn(k, "unknown-kind", format!("`{name}` is a port of a `{}` device, which nfpath does not model", k.show()));
        }
    } else if l.master.is_some() {
        ctx.warn(o, "no-details", format!("`{name}` has a master but the file has no `-d` details: default bridge port flags assumed"));
        l.brport = Some(BridgePort::default());
    }
    Some(l)
}

fn bridge_info(ctx: &mut Ctx<'_>, d: Option<&J>) -> BridgeInfo {
    let mut b = BridgeInfo::default();
    if let Some(d) = d {
        b.stp_state = ctx.u64_of(d, "stp_state").unwrap_or(0) as u32;
        b.vlan_filtering = ctx.bool_of(d, "vlan_filtering").unwrap_or(false);
        b.ageing_time = ctx.u64_of(d, "ageing_time").map(|v| v as u32);
        b.nf_call_iptables = ctx.bool_of(d, "nf_call_iptables").unwrap_or(false);
    }
    b
}

fn vxlan_info(ctx: &mut Ctx<'_>, name: &str, d: Option<&J>) -> VxlanInfo {
    let mut v = VxlanInfo { vni: 0, local: None, remote: None, dstport: 0, dev: None, learning: true, port_range: None };
    let Some(d) = d else {
        return v;
    };
    v.vni = ctx.u64_of(d, "id").unwrap_or(0) as u32;
    v.local = ctx.ipv4_of(d, "local");
    v.remote = ctx.ipv4_of(d, "remote").or_else(|| ctx.ipv4_of(d, "group"));
    // `ip -d link` prints 0 when the kernel default (8472 on Linux for a vxlan without
    // `dstport`) applies; iproute2 >= 4.x always passes 4789 explicitly unless told otherwise.
    v.dstport = ctx.u64_of(d, "port").unwrap_or(0) as u16;
    v.dev = ctx.str_of(d, "link").map(str::to_string);
    v.learning = ctx.bool_of(d, "learning").unwrap_or(true);
    if let Some(pr) = d.get("port_range") {
        let lo = ctx.u64_of(pr, "low").unwrap_or(0) as u16;
        let hi = ctx.u64_of(pr, "high").unwrap_or(0) as u16;
        v.port_range = Some((lo, hi));
    }
    for k in ["remote6", "group6", "local6"] {
        if let Some(x) = d.get(k) {
            ctx.warn(x, "ipv6-ignored", format!("VXLAN `{name}` has an IPv6 `{k}`, which nfpath does not model"));
        }
    }
    if d.get("external").and_then(J::truthy) == Some(true) || d.get("collect_metadata").and_then(J::truthy) == Some(true) {
        ctx.warn(
            d,
            "unsupported",
            format!("VXLAN `{name}` is in external (collect_metadata) mode: its remotes come from a BPF or OVS program nfpath cannot see"),
        );
    }
    v
}

fn tunnel_info(ctx: &mut Ctx<'_>, d: Option<&J>) -> TunnelInfo {
    let mut t = TunnelInfo::default();
    let Some(d) = d else {
        return t;
    };
    let ep = |ctx: &mut Ctx<'_>, key: &str| -> Option<Ipv4Addr> {
        let v = d.get(key)?;
        match v.str().map(|s| (s, lex::ipv4(s))) {
            Some(("any", _)) => None,
            Some((_, Some(a))) => (!a.is_unspecified()).then_some(a),
            _ => {
                ctx.bad(v, key, "an IPv4 address or `any`");
                None
            }
        }
    };
    t.remote = ep(ctx, "remote");
    t.local = ep(ctx, "local");
    t.dev = ctx.str_of(d, "link").map(str::to_string);
    t.ttl = ctx.u64_of(d, "ttl").and_then(|v| if v == 0 { None } else { Some(v as u8) });
    t
}

// ---------------------------------------------------------------------------------------------
// addresses

const ADDR_KEYS: &[&str] = &[
    "family",
    "local",
    "address",
    "prefixlen",
    "broadcast",
    "scope",
    "label",
    "valid_life_time",
    "preferred_life_time",
    "secondary",
    "noprefixroute",
    "dynamic",
    "permanent",
    "deprecated",
    "tentative",
    "dadfailed",
    "home",
    "nodad",
    "mngtmpaddr",
    "optimistic",
    "autojoin",
    "stable-privacy",
    "temporary",
    "protocol",
    "metric",
];

/// `ip -j addr show` -> IPv4 addresses (IPv6 ones counted).
pub fn parse_addrs(file: &str, text: &str) -> Parsed<Vec<Addr>> {
    parse_addrs_counted(file, text).parsed
}

pub fn parse_addrs_counted(file: &str, text: &str) -> Counted<Vec<Addr>> {
    let mut ctx = Ctx::new(file);
    let mut out = Vec::new();
    if let Some(items) = top_array(&mut ctx, text) {
        for o in &items {
            let Some(ifname) = ctx.str_of(o, "ifname").map(str::to_string) else {
                ctx.error(o, "missing-field", "entry without `ifname`: its addresses were skipped");
                continue;
            };
            let ifindex = ctx.u64_of(o, "ifindex").unwrap_or(0) as u32;
            let Some(infos) = o.get("addr_info") else {
                continue;
            };
            let Some(infos) = infos.arr() else {
                ctx.bad(infos, "addr_info", "an array");
                continue;
            };
            for a in infos {
                ctx.unknown_keys(a, "address", ADDR_KEYS);
                match a.get("family").and_then(J::str) {
                    Some("inet") => {}
                    Some("inet6") => {
                        ctx.v6 += 1;
                        continue;
                    }
                    other => {
                        let f = other.unwrap_or("(none)");
                        ctx.warn(a, "unknown-family", format!("address of family `{f}` on `{ifname}` is not modelled: skipped"));
                        continue;
                    }
                }
                let Some(local) = ctx.ipv4_of(a, "local") else {
                    ctx.error(a, "missing-field", format!("IPv4 address on `{ifname}` without `local`: skipped"));
                    continue;
                };
                let plen = ctx.u64_of(a, "prefixlen").unwrap_or(32);
                if plen > 32 {
                    if let Some(p) = a.get("prefixlen") {
                        ctx.bad(p, "prefixlen", "0..=32");
                    }
                    continue;
                }
                let scope = match a.get("scope") {
                    Some(s) => match s.str().and_then(Scope::parse).or_else(|| s.u64().and_then(|n| Scope::parse(&n.to_string()))) {
                        Some(sc) => sc,
                        None => {
                            ctx.bad(s, "scope", "global, site, link, host, nowhere or a number");
                            Scope::Universe
                        }
                    },
                    None => Scope::Universe,
                };
                let peer = ctx.ipv4_of(a, "address").filter(|p| *p != local);
                out.push(Addr {
                    ifname: ifname.clone(),
                    ifindex,
                    local,
                    prefix_len: plen as u8,
                    peer,
                    broadcast: ctx.ipv4_of(a, "broadcast"),
                    scope,
                    secondary: a.get("secondary").and_then(J::truthy).unwrap_or(false),
                    noprefixroute: a.get("noprefixroute").and_then(J::truthy).unwrap_or(false),
                    label: ctx.str_of(a, "label").map(str::to_string),
                });
            }
        }
    }
    ipv6_note(&mut ctx, "addresses");
    ctx.finish(out)
}

// ---------------------------------------------------------------------------------------------
// routes

const ROUTE_KEYS: &[&str] = &[
    "type",
    "dst",
    "gateway",
    "via",
    "dev",
    "table",
    "protocol",
    "scope",
    "prefsrc",
    "metric",
    "flags",
    "nexthops",
    "metrics",
    "tos",
    "dsfield",
    "pref",
    "expires",
    "cache",
    "src",
    "from",
    "nhid",
    "encap",
    "realms",
    "rt_offload",
    "rt_trap",
    "rt_offload_failed",
    "iif",
    "error",
    "oif",
    "uid",
    "ttl-propagate",
];

/// `ip -j -d route show table all` -> routes (IPv6 ones counted).
pub fn parse_routes(file: &str, text: &str) -> Parsed<Vec<Route>> {
    parse_routes_counted(file, text).parsed
}

pub fn parse_routes_counted(file: &str, text: &str) -> Counted<Vec<Route>> {
    let mut ctx = Ctx::new(file);
    let mut out = Vec::new();
    if let Some(items) = top_array(&mut ctx, text) {
        for o in &items {
            if let Some(r) = route(&mut ctx, o) {
                out.push(r);
            }
        }
    }
    ipv6_note(&mut ctx, "routes");
    ctx.finish(out)
}

fn gateway(ctx: &mut Ctx<'_>, o: &J) -> Result<Option<Ipv4Addr>, ()> {
    if let Some(g) = o.get("gateway") {
        let s = g.str().unwrap_or("");
        if lex::looks_ipv6(s) {
            return Err(());
        }
        return Ok(ctx.ipv4_of(o, "gateway"));
    }
    if let Some(v) = o.get("via") {
        // `via inet6 fe80::1` (RFC 5549) or `via inet 10.0.0.1`.
        let fam = v.get("family").and_then(J::str).unwrap_or("");
        if fam == "inet" {
            return Ok(ctx.ipv4_of(v, "host"));
        }
        ctx.warn(v, "unsupported", format!("gateway of family `{fam}`: not modelled, route skipped"));
        return Err(());
    }
    Ok(None)
}

fn nh_flags(ctx: &mut Ctx<'_>, o: &J, nh: &mut NextHop) {
    if let Some(f) = o.get("flags") {
        for x in f.arr().unwrap_or(&[]) {
            match x.str() {
                Some("onlink") => nh.onlink = true,
                Some("dead") => nh.dead = true,
                Some("linkdown") => nh.linkdown = true,
                Some("pervasive" | "offload" | "trap" | "notify" | "rt_offload" | "rt_trap") => {}
                _ => ctx.info(x, "unknown-flag", format!("route flag {} is not modelled", x.show())),
            }
        }
    }
}

fn route(ctx: &mut Ctx<'_>, o: &J) -> Option<Route> {
    ctx.unknown_keys(o, "route", ROUTE_KEYS);
    let Some(dst_j) = o.get("dst") else {
        ctx.error(o, "missing-field", "route without `dst`: skipped");
        return None;
    };
    let dst = match dst_j.str().and_then(lex::prefix) {
        Some(lex::Prefix::V4(n)) => n,
        Some(lex::Prefix::V6) => {
            ctx.v6 += 1;
            return None;
        }
        None => {
            ctx.bad(dst_j, "dst", "`default`, an IPv4 address or prefix");
            return None;
        }
    };
    let rtype = match o.get("type") {
        None => RouteType::Unicast,
        Some(t) => match t.str().and_then(RouteType::parse) {
            Some(rt) => rt,
            None => {
                ctx.error(t, "unknown-route-type", format!("route type {} is not known: route to {dst} skipped", t.show()));
                return None;
            }
        },
    };
    let table = match o.get("table") {
        None => RT_TABLE_MAIN,
        Some(t) => match t.str().map(|s| (s, lex::table_id(s))) {
            Some((_, Some(id))) => id,
            Some((name, None)) => {
                let w = lex::Word { text: name, col: t.col };
                lex::table_word(ctx.file, t.line, w, &mut ctx.diags)
            }
            None => t.u64().map(|v| v as u32).unwrap_or_else(|| {
                ctx.bad(t, "table", "a table name or number");
                RT_TABLE_MAIN
            }),
        },
    };
    let scope = match o.get("scope") {
        None => Scope::Universe,
        Some(s) => match s.str().and_then(Scope::parse) {
            Some(sc) => sc,
            None => {
                ctx.bad(s, "scope", "global, site, link, host, nowhere or a number");
                Scope::Universe
            }
        },
    };
    let tos = match o.get("tos").or_else(|| o.get("dsfield")) {
        None => 0,
        Some(t) => match t.u64() {
            Some(v) if v <= 255 => v as u8,
            _ => {
                ctx.bad(t, "tos", "a TOS value such as \"0x10\"");
                0
            }
        },
    };
    let mut nexthops = Vec::new();
    if let Some(nhs) = o.get("nexthops") {
        for nj in nhs.arr().unwrap_or(&[]) {
            let Ok(gw) = gateway(ctx, nj) else {
                ctx.v6 += 1;
                return None;
            };
            let mut nh = NextHop {
                gateway: gw,
                dev: ctx.str_of(nj, "dev").map(str::to_string),
                onlink: false,
                weight: ctx.u64_of(nj, "weight").unwrap_or(1) as u32,
                dead: false,
                linkdown: false,
            };
            nh_flags(ctx, nj, &mut nh);
            nexthops.push(nh);
        }
    } else if o.has("nhid") {
        ctx.warn(o, "unsupported", format!("route to {dst} uses a nexthop object (`nhid`), whose content `ip -j route` does not show: kept without a nexthop"));
    } else {
        let Ok(gw) = gateway(ctx, o) else {
            ctx.v6 += 1;
            return None;
        };
        let dev = ctx.str_of(o, "dev").map(str::to_string);
        if gw.is_some() || dev.is_some() {
            let mut nh = NextHop { gateway: gw, dev, onlink: false, weight: 1, dead: false, linkdown: false };
            nh_flags(ctx, o, &mut nh);
            nexthops.push(nh);
        }
    }
    let mut mtu = None;
    if let Some(m) = o.get("metrics") {
        for mj in m.arr().unwrap_or(&[]) {
            for (k, v) in mj.keys() {
                match k {
                    "mtu" => mtu = v.u64().map(|x| x as u32),
                    _ => ctx.info(v, "unknown-field", format!("route metric `{k}` is not modelled")),
                }
            }
        }
    }
    if rtype == RouteType::Unicast && nexthops.is_empty() && !o.has("nhid") {
        ctx.warn(o, "no-nexthop", format!("unicast route to {dst} has neither a device nor a gateway"));
    }
    Some(Route {
        table,
        rtype,
        dst,
        tos,
        metric: ctx.u64_of(o, "metric").unwrap_or(0) as u32,
        // Without `-d`, `ip -j route` leaves out `protocol` exactly when it is boot.
        protocol: Some(o.get("protocol").map(|p| p.str().map(str::to_string).unwrap_or_else(|| p.show())).unwrap_or_else(|| "boot".into())),
        scope,
        prefsrc: ctx.ipv4_of(o, "prefsrc"),
        nexthops,
        mtu,
        // One-line JSON puts every route on line 1: the column tells them apart.
        origin: Some(format!("{}:{}:{}", ctx.file, o.line, o.col)),
    })
}

// ---------------------------------------------------------------------------------------------
// rules

const RULE_KEYS: &[&str] = &[
    "priority",
    "not",
    "src",
    "srclen",
    "dst",
    "dstlen",
    "tos",
    "dsfield",
    "fwmark",
    "fwmask",
    "iif",
    "iif_detached",
    "oif",
    "oif_detached",
    "l3mdev",
    "uid_start",
    "uid_end",
    "ipproto",
    "sport",
    "sport_start",
    "sport_end",
    "dport",
    "dport_start",
    "dport_end",
    "table",
    "suppress_prefixlen",
    "suppress_ifgroup",
    "realms",
    "nat",
    "goto",
    "nop",
    "action",
    "protocol",
    "flowlabel",
    "flowlabel_mask",
    "tun_id",
];

/// `ip -j rule show` -> policy rules (IPv6 ones counted).
pub fn parse_rules(file: &str, text: &str) -> Parsed<Vec<FibRule>> {
    parse_rules_counted(file, text).parsed
}

pub fn parse_rules_counted(file: &str, text: &str) -> Counted<Vec<FibRule>> {
    let mut ctx = Ctx::new(file);
    let mut out = Vec::new();
    if let Some(items) = top_array(&mut ctx, text) {
        for o in &items {
            if let Some(r) = rule(&mut ctx, o) {
                out.push(r);
            }
        }
    }
    ipv6_note(&mut ctx, "rules");
    ctx.finish(out)
}

fn rule_prefix(ctx: &mut Ctx<'_>, o: &J, key: &str, lenkey: &str) -> Result<Option<Ipv4Net>, ()> {
    let Some(v) = o.get(key) else {
        return Ok(None);
    };
    let s = v.str().unwrap_or("");
    if s == "all" {
        return Ok(None);
    }
    if lex::looks_ipv6(s) {
        return Err(());
    }
    let len = ctx.u64_of(o, lenkey).unwrap_or(32);
    match (lex::ipv4(s), u8::try_from(len)) {
        (Some(a), Ok(l)) if l <= 32 => Ok(Some(Ipv4Net::new(a, l).unwrap_or_default())),
        _ => {
            ctx.bad(v, key, "`all` or an IPv4 address (with its length in `srclen`/`dstlen`)");
            Ok(None)
        }
    }
}

fn port_range(ctx: &mut Ctx<'_>, o: &J, key: &str) -> Option<(u16, u16)> {
    if o.has(key) {
        let v = ctx.u64_of(o, key)? as u16;
        return Some((v, v));
    }
    let s = ctx.u64_of(o, &format!("{key}_start"))? as u16;
    let e = ctx.u64_of(o, &format!("{key}_end")).map(|v| v as u16).unwrap_or(s);
    Some((s, e))
}

fn uidrange(ctx: &mut Ctx<'_>, o: &J) -> Option<(u32, u32)> {
    let s = ctx.u64_of(o, "uid_start")?;
    let e = ctx.u64_of(o, "uid_end").unwrap_or(s);
    Some((s as u32, e as u32))
}

fn rule(ctx: &mut Ctx<'_>, o: &J) -> Option<FibRule> {
    ctx.unknown_keys(o, "rule", RULE_KEYS);
    let Ok(from) = rule_prefix(ctx, o, "src", "srclen") else {
        ctx.v6 += 1;
        return None;
    };
    let Ok(to) = rule_prefix(ctx, o, "dst", "dstlen") else {
        ctx.v6 += 1;
        return None;
    };
    let fwmask = ctx.u64_of(o, "fwmask").map(|v| v as u32).unwrap_or(u32::MAX);
    let fwmark = ctx.u64_of(o, "fwmark").map(|m| (m as u32, fwmask));
    let ipproto = match o.get("ipproto") {
        None => None,
        Some(p) => {
            let s = p.str().unwrap_or("");
            let s = s.strip_prefix("ipproto-").unwrap_or(s);
            match crate::model::types::proto_number(s).or_else(|| p.u64().map(|v| v as u8)) {
                Some(n) => Some(n),
                None => {
                    ctx.bad(p, "ipproto", "a protocol name or number");
                    None
                }
            }
        }
    };
    let action = if let Some(g) = o.get("goto") {
        match g.u64() {
            Some(t) => RuleAction::Goto(t as u32),
            None => {
                ctx.bad(g, "goto", "a rule priority");
                RuleAction::Nop
            }
        }
    } else if o.has("nop") {
        RuleAction::Nop
    } else if let Some(a) = o.get("action") {
        match a.str() {
            Some("blackhole") => RuleAction::Blackhole,
            Some("unreachable") => RuleAction::Unreachable,
            Some("prohibit") => RuleAction::Prohibit,
            _ => {
                ctx.error(a, "unknown-rule-action", format!("rule action {} is not modelled: rule skipped", a.show()));
                return None;
            }
        }
    } else if let Some(t) = o.get("table") {
        let id = match t.str() {
            Some(s) => match lex::table_id(s) {
                Some(id) => id,
                None => lex::table_word(ctx.file, t.line, lex::Word { text: s, col: t.col }, &mut ctx.diags),
            },
            None => t.u64().map(|v| v as u32).unwrap_or(0),
        };
        RuleAction::Table(id)
    } else if o.has("l3mdev") {
        // `lookup [l3mdev-table]`: the table comes from the VRF device at lookup time.
        RuleAction::Table(0)
    } else {
        ctx.warn(o, "no-action", "rule without a table or action: `lookup unspec` (table 0) assumed");
        RuleAction::Table(0)
    };
    if o.has("realms") || o.has("nat") || o.has("tun_id") {
        ctx.warn(o, "unsupported", "rule uses realms, nat or tun_id selectors, which nfpath does not model");
    }
    Some(FibRule {
        priority: ctx.u64_of(o, "priority").unwrap_or(0) as u32,
        not: o.has("not"),
        from,
        to,
        iif: ctx.str_of(o, "iif").map(str::to_string),
        oif: ctx.str_of(o, "oif").map(str::to_string),
        fwmark,
        tos: ctx.u64_of(o, "tos").or_else(|| ctx.u64_of(o, "dsfield")).map(|v| v as u8),
        ipproto,
        sport: port_range(ctx, o, "sport"),
        dport: port_range(ctx, o, "dport"),
        uidrange: uidrange(ctx, o),
        l3mdev: o.has("l3mdev"),
        suppress_prefixlength: o.get("suppress_prefixlen").and_then(J::i64).map(|v| v as i32),
        suppress_ifgroup: o.get("suppress_ifgroup").map(|g| g.str().map(str::to_string).unwrap_or_else(|| g.show())),
        action,
        protocol: o.get("protocol").map(|p| p.str().map(str::to_string).unwrap_or_else(|| p.show())),
    })
}

// ---------------------------------------------------------------------------------------------
// neighbours

const NEIGH_KEYS: &[&str] = &[
    "dst",
    "dev",
    "lladdr",
    "state",
    "router",
    "proxy",
    "extern_learn",
    "offload",
    "protocol",
    "nud",
    "used",
    "probes",
    "refcnt",
    "ref",
    "managed",
    "confirmed",
    "updated",
    "deleted",
];

/// `ip -j neigh show` -> IPv4 neighbours (IPv6 ones counted).
pub fn parse_neighs(file: &str, text: &str) -> Parsed<Vec<Neigh>> {
    parse_neighs_counted(file, text).parsed
}

pub fn parse_neighs_counted(file: &str, text: &str) -> Counted<Vec<Neigh>> {
    let mut ctx = Ctx::new(file);
    let mut out = Vec::new();
    if let Some(items) = top_array(&mut ctx, text) {
        for o in &items {
            ctx.unknown_keys(o, "neighbour", NEIGH_KEYS);
            let Some(dj) = o.get("dst") else {
                ctx.error(o, "missing-field", "neighbour without `dst`: skipped");
                continue;
            };
            let ds = dj.str().unwrap_or("");
            if lex::looks_ipv6(ds) {
                ctx.v6 += 1;
                continue;
            }
            let Some(dst) = lex::ipv4(ds) else {
                ctx.bad(dj, "dst", "an IPv4 address");
                continue;
            };
            let Some(dev) = ctx.str_of(o, "dev").map(str::to_string) else {
                ctx.error(o, "missing-field", format!("neighbour {dst} without `dev`: skipped"));
                continue;
            };
            let state = o.get("state").and_then(J::arr).map(|a| a.iter().filter_map(|s| s.str().map(str::to_string)).collect()).unwrap_or_default();
            out.push(Neigh { dst, dev, lladdr: ctx.mac_of(o, "lladdr"), state, router: o.has("router"), proxy: o.has("proxy") });
        }
    }
    ipv6_note(&mut ctx, "neighbours");
    ctx.finish(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_value_points_at_the_value() {
        let p = parse_routes("r.json", "[{\"dst\": \"10.0.0.0/8\",\n \"dev\": \"eth0\", \"metric\": \"x\"}]");
        let d = p.diagnostics.iter().find(|d| d.code == "bad-value").unwrap();
        assert_eq!(d.span.to_string(), "r.json:2:27");
        assert_eq!(p.value.len(), 1);
    }

    #[test]
    fn garbage_never_panics() {
        for t in ["", "{", "[1,2]", "[{\"ifindex\": -1}]", "[{\"ifname\": 3}]", "null", "[[[[[]]]]]", "[{\"dst\":\"default\",\"nexthops\":7}]"] {
            let _ = parse_links("x", t);
            let _ = parse_addrs("x", t);
            let _ = parse_routes("x", t);
            let _ = parse_rules("x", t);
            let _ = parse_neighs("x", t);
        }
    }
}
