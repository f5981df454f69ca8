//! `ipset save` (`create`/`add` lines) and `ipset list` (`Name:`/`Type:`/`Header:`/`Members:`
//! blocks) -> sets with typed members.
//!
//! Members are split by the set type's dimensions (`hash:ip,port,net` has three). A port is
//! `proto:port` (`tcp:80`; a bare number is tcp, as ipset reads it; `bitmap:port` members carry
//! protocol 0: the kernel matches them against the port of a TCP or UDP packet). ICMP "ports" are `type << 8 | code`, which is
//! what ipset stores. Ranges (`192.0.2.0-192.0.2.3`, `30000-30002`) expand to what the kernel
//! stores. IPv6 sets and elements are kept as `SetElem::Other` and counted.
//! A listing whose member count falls short of its `Number of entries:` is flagged `incomplete`.

use crate::diag::{Diagnostic, Parsed, Span};
use crate::model::ipset::{IpSet, SetDim, SetElem, SetMember};
use crate::model::types::{proto_number, Mac};
use crate::parse::ip_json::Counted;
use crate::parse::ip_text::lex;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// Larger expansions are refused rather than allocated (a /0 range in a hash:ip set).
const MAX_EXPANSION: usize = 1 << 16;

pub fn parse(file: &str, text: &str) -> Parsed<Vec<IpSet>> {
    parse_counted(file, text).parsed
}

struct Ix<'f> {
    file: &'f str,
    diags: Vec<Diagnostic>,
    v6: usize,
}

impl Ix<'_> {
    fn err(&mut self, line: u32, col: u32, code: &str, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(Span::new(self.file, line, col), code, msg));
    }
    fn warn(&mut self, line: u32, col: u32, code: &str, msg: impl Into<String>) {
        self.diags.push(Diagnostic::warning(Span::new(self.file, line, col), code, msg));
    }
}

pub fn parse_counted(file: &str, text: &str) -> Counted<Vec<IpSet>> {
    let mut ix = Ix { file, diags: Vec::new(), v6: 0 };
    let first = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or("");
    let sets = if first.starts_with("Name:") { list_form(&mut ix, text) } else { save_form(&mut ix, text) };
    if ix.v6 > 0 {
        let n = ix.v6;
        ix.diags.push(Diagnostic::info(
            Span::new(file, 1, 0),
            "ipv6-ignored",
            format!("{n} IPv6 set members seen and kept unmodelled (nfpath models IPv4 only)"),
        ));
    }
    Counted { parsed: Parsed { value: sets, diagnostics: ix.diags }, ipv6_ignored: ix.v6 }
}

/// Splits on whitespace, keeping `"quoted words"` (ipset comments) together with their quotes.
fn tokens(l: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0u32;
    let mut inq = false;
    for (col, ch) in l.chars().enumerate() {
        let col = col as u32 + 1;
        if ch == '"' {
            inq = !inq;
        }
        if ch.is_whitespace() && !inq {
            if !cur.is_empty() {
                out.push((start, std::mem::take(&mut cur)));
            }
        } else {
            if cur.is_empty() {
                start = col;
            }
            cur.push(ch);
        }
    }
    if !cur.is_empty() {
        out.push((start, cur));
    }
    out
}

fn dims_of(ix: &mut Ix<'_>, line: u32, col: u32, set_type: &str) -> Vec<SetDim> {
    let Some((method, parts)) = set_type.split_once(':') else {
        ix.err(line, col, "bad-value", format!("set type `{set_type}` is not METHOD:DIMS (hash:ip, bitmap:port, list:set)"));
        return Vec::new();
    };
    if !matches!(method, "hash" | "bitmap" | "list") {
        ix.warn(line, col, "unknown-set-type", format!("set method `{method}` is not known"));
    }
    if set_type == "list:set" {
        return Vec::new();
    }
    let mut dims = Vec::new();
    for p in parts.split(',') {
        dims.push(match p {
            "ip" => SetDim::Ip,
            "net" => SetDim::Net,
            "port" => SetDim::Port,
            "mac" => SetDim::Mac,
            "iface" => SetDim::Iface,
            "mark" => SetDim::Mark,
            other => {
                ix.warn(line, col, "unknown-set-type", format!("set dimension `{other}` in `{set_type}` is not modelled: members are kept as text"));
                return Vec::new();
            }
        });
    }
    dims
}

fn new_set(name: &str, set_type: &str, dims: Vec<SetDim>, line: u32) -> IpSet {
    IpSet {
        name: name.to_string(),
        set_type: set_type.to_string(),
        dims,
        family: "inet".into(),
        options: Vec::new(),
        members: Vec::new(),
        line,
        incomplete: false,
    }
}

/// Create options are `key value` pairs or lone flags; they are kept as written.
fn set_options(set: &mut IpSet, toks: &[(u32, String)]) {
    let with_value = ["family", "hashsize", "maxelem", "timeout", "range", "netmask", "size", "bucketsize", "initval", "markmask"];
    let mut i = 0;
    while i < toks.len() {
        let k = toks[i].1.as_str();
        if with_value.contains(&k) && i + 1 < toks.len() {
            let v = &toks[i + 1].1;
            if k == "family" {
                set.family = v.clone();
            }
            set.options.push(format!("{k} {v}"));
            i += 2;
        } else {
            set.options.push(k.to_string());
            i += 1;
        }
    }
}

/// An IPv4 range `A-B` as the CIDR blocks that cover it exactly.
fn range_nets(a: Ipv4Addr, b: Ipv4Addr) -> Vec<Ipv4Net> {
    let (mut lo, hi) = (u32::from(a) as u64, u32::from(b) as u64);
    let mut out = Vec::new();
    while lo <= hi {
        let mut len = 32u8;
        // Widen while aligned and still inside the range.
        while len > 0 {
            let size = 1u64 << (33 - len);
            if lo % size != 0 || lo + size - 1 > hi {
                break;
            }
            len -= 1;
        }
        out.push(Ipv4Net::new(Ipv4Addr::from(lo as u32), len).unwrap_or_default());
        lo += 1u64 << (32 - len);
    }
    out
}

fn icmp_code(name: &str) -> Option<u16> {
    const T: &[(&str, u8, u8)] = &[
        ("echo-reply", 0, 0),
        ("pong", 0, 0),
        ("network-unreachable", 3, 0),
        ("host-unreachable", 3, 1),
        ("protocol-unreachable", 3, 2),
        ("port-unreachable", 3, 3),
        ("fragmentation-needed", 3, 4),
        ("source-route-failed", 3, 5),
        ("network-unknown", 3, 6),
        ("host-unknown", 3, 7),
        ("network-prohibited", 3, 9),
        ("host-prohibited", 3, 10),
        ("TOS-network-unreachable", 3, 11),
        ("TOS-host-unreachable", 3, 12),
        ("communication-prohibited", 3, 13),
        ("host-precedence-violation", 3, 14),
        ("precedence-cutoff", 3, 15),
        ("source-quench", 4, 0),
        ("network-redirect", 5, 0),
        ("host-redirect", 5, 1),
        ("TOS-network-redirect", 5, 2),
        ("TOS-host-redirect", 5, 3),
        ("echo-request", 8, 0),
        ("ping", 8, 0),
        ("router-advertisement", 9, 0),
        ("router-solicitation", 10, 0),
        ("ttl-zero-during-transit", 11, 0),
        ("ttl-zero-during-reassembly", 11, 1),
        ("ip-header-bad", 12, 0),
        ("required-option-missing", 12, 1),
        ("timestamp-request", 13, 0),
        ("timestamp-reply", 14, 0),
        ("address-mask-request", 17, 0),
        ("address-mask-reply", 18, 0),
    ];
    if let Some((t, c)) = name.split_once('/') {
        return Some(((t.parse::<u8>().ok()? as u16) << 8) | c.parse::<u8>().ok()? as u16);
    }
    T.iter().find(|(n, _, _)| *n == name).map(|(_, t, c)| ((*t as u16) << 8) | *c as u16)
}

/// One dimension of a member; a range gives several values.
fn elem(ix: &mut Ix<'_>, ln: u32, col: u32, dim: SetDim, s: &str, bitmap: bool) -> Result<Vec<SetElem>, String> {
    match dim {
        SetDim::Ip | SetDim::Net => {
            if lex::looks_ipv6(s) {
                ix.v6 += 1;
                return Ok(vec![SetElem::Other(s.to_string())]);
            }
            if let Some((a, b)) = s.split_once('-') {
                let (Some(a), Some(b)) = (lex::ipv4(a), lex::ipv4(b)) else {
                    return Err(format!("`{s}` is not an IPv4 range A-B"));
                };
                if a > b {
                    return Err(format!("range `{s}` runs backwards"));
                }
                let nets = range_nets(a, b);
                if dim == SetDim::Ip && (u32::from(b) - u32::from(a)) as usize >= MAX_EXPANSION {
                    return Err(format!("range `{s}` is too large to expand"));
                }
                return Ok(nets.into_iter().map(SetElem::Net).collect());
            }
            match lex::prefix(s) {
                Some(lex::Prefix::V4(n)) if s != "default" => Ok(vec![SetElem::Net(n)]),
                _ => Err(format!("`{s}` is not an IPv4 address or prefix")),
            }
        }
        SetDim::Port => {
            let (proto, p) = match s.split_once(':') {
                Some((pr, p)) => match proto_number(pr) {
                    Some(n) => (n, p),
                    None => return Err(format!("protocol `{pr}` in `{s}` is not known")),
                },
                // A bare port is TCP (ipset's default), except in a bitmap:port set, which
                // stores ports without a protocol.
                None => (if bitmap { 0 } else { 6 }, s),
            };
            if proto == 1 {
                return match icmp_code(p) {
                    Some(v) => Ok(vec![SetElem::Port { proto, port: v }]),
                    None => {
                        ix.warn(ln, col, "unknown-icmp", format!("ICMP type `{p}` is not known: member kept as text"));
                        Ok(vec![SetElem::Other(s.to_string())])
                    }
                };
            }
            let range = match p.split_once('-') {
                Some((a, b)) => (a.parse::<u16>(), b.parse::<u16>()),
                None => (p.parse::<u16>(), p.parse::<u16>()),
            };
            match range {
                (Ok(a), Ok(b)) if a <= b => Ok((a..=b).map(|port| SetElem::Port { proto, port }).collect()),
                _ => Err(format!("`{p}` is not a port number or range (service names are not resolved)")),
            }
        }
        SetDim::Mac => Mac::parse(s).map(|m| vec![SetElem::Mac(m)]).ok_or_else(|| format!("`{s}` is not a MAC address")),
        SetDim::Iface => Ok(vec![SetElem::Iface(s.strip_prefix("physdev:").unwrap_or(s).to_string())]),
        SetDim::Mark => lex::num_u32(s).map(|m| vec![SetElem::Mark(m)]).ok_or_else(|| format!("`{s}` is not a mark")),
    }
}

/// Parses one member (`10.0.0.1,tcp:80 timeout 30 nomatch`) into `set`.
fn member(ix: &mut Ix<'_>, set: &mut IpSet, ln: u32, toks: &[(u32, String)]) {
    let Some((col, value)) = toks.first() else {
        return;
    };
    let mut m = SetMember { elems: Vec::new(), nomatch: false, options: Vec::new(), line: ln };
    let mut i = 1;
    while i < toks.len() {
        let k = toks[i].1.as_str();
        match k {
            "nomatch" => m.nomatch = true,
            "timeout" | "packets" | "bytes" | "comment" | "skbmark" | "skbprio" | "skbqueue" | "before" | "after" => {
                match toks.get(i + 1) {
                    Some((_, v)) => m.options.push(format!("{k} {v}")),
                    None => m.options.push(k.to_string()),
                }
                i += 1;
            }
            _ => m.options.push(k.to_string()),
        }
        i += 1;
    }
    if set.set_type == "list:set" {
        m.elems.push(SetElem::Set(value.clone()));
        set.members.push(m);
        return;
    }
    if set.family == "inet6" {
        ix.v6 += 1;
        m.elems.push(SetElem::Other(value.clone()));
        set.members.push(m);
        return;
    }
    if set.dims.is_empty() {
        m.elems.push(SetElem::Other(value.clone()));
        set.members.push(m);
        return;
    }
    let parts: Vec<&str> = value.split(',').collect();
    // `hash:net,iface` members may carry `physdev:`; `hash:ip,port` members may omit nothing.
    if parts.len() != set.dims.len() {
        ix.diags.push(
            Diagnostic::error(
                Span::new(ix.file, ln, *col),
                "bad-member",
                format!("member `{value}` of `{}` has {} parts, the type `{}` has {}: member skipped", set.name, parts.len(), set.set_type, set.dims.len()),
            )
            .with_expected(format!("{} comma-separated parts", set.dims.len()), value.clone()),
        );
        return;
    }
    let bitmap = set.set_type.starts_with("bitmap:");
    // `hash:ip netmask N` stores and matches whole /N blocks (`ipset test` of any address in
    // the block succeeds; checked against the kernel).
    let netmask: Option<u8> = set.options.iter().find_map(|o| o.strip_prefix("netmask ")).and_then(|n| n.parse().ok()).filter(|n| *n <= 32);
    let mut expanded: Vec<Vec<SetElem>> = vec![Vec::new()];
    for (dim, part) in set.dims.clone().into_iter().zip(parts) {
        if dim == SetDim::Iface && part.starts_with("physdev:") {
            m.options.push("physdev".into());
        }
        match elem(ix, ln, *col, dim, part, bitmap) {
            Ok(mut vals) => {
                if let (SetDim::Ip, Some(n)) = (dim, netmask) {
                    for v in &mut vals {
                        if let SetElem::Net(net) = v {
                            if net.prefix_len() > n {
                                *net = Ipv4Net::new(net.addr(), n).map(|x| x.trunc()).unwrap_or(*net);
                            }
                        }
                    }
                    vals.dedup();
                }
                if expanded.len() * vals.len() > MAX_EXPANSION {
                    ix.err(ln, *col, "bad-member", format!("member `{value}` expands to too many entries: member skipped"));
                    return;
                }
                expanded = expanded
                    .into_iter()
                    .flat_map(|pre| {
                        vals.iter().map(move |v| {
                            let mut p = pre.clone();
                            p.push(v.clone());
                            p
                        })
                    })
                    .collect();
            }
            Err(msg) => {
                ix.err(ln, *col, "bad-member", format!("member of `{}`: {msg}: member skipped", set.name));
                return;
            }
        }
    }
    for elems in expanded {
        set.members.push(SetMember { elems, nomatch: m.nomatch, options: m.options.clone(), line: ln });
    }
}

fn save_form(ix: &mut Ix<'_>, text: &str) -> Vec<IpSet> {
    let mut sets: Vec<IpSet> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (ln, l) in lex::lines(text) {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if lex::is_cut_marker(l) {
            ix.diags.push(lex::cut(ix.file, ln, l));
            // The cut may have removed members of any set defined so far.
            for s in &mut sets {
                s.incomplete = true;
            }
            continue;
        }
        let toks = tokens(l);
        let (col, cmd) = (toks[0].0, toks[0].1.as_str());
        match cmd {
            "create" | "-N" | "-exist" => {
                let (Some(name), Some(ty)) = (toks.get(1), toks.get(2)) else {
                    ix.err(ln, col, "syntax", "`create` needs a set name and a type");
                    continue;
                };
                if index.contains_key(&name.1) {
                    ix.err(ln, name.0, "duplicate-set", format!("set `{}` is created twice: the second definition is ignored", name.1));
                    continue;
                }
                let dims = dims_of(ix, ln, ty.0, &ty.1);
                let mut s = new_set(&name.1, &ty.1, dims, ln);
                set_options(&mut s, &toks[3..]);
                index.insert(s.name.clone(), sets.len());
                sets.push(s);
            }
            "add" | "-A" => {
                let Some(name) = toks.get(1) else {
                    ix.err(ln, col, "syntax", "`add` needs a set name and a member");
                    continue;
                };
                let Some(set) = index.get(&name.1).and_then(|i| sets.get_mut(*i)) else {
                    ix.err(ln, name.0, "unknown-set", format!("`add` to set `{}`, which no earlier `create` line defines: member skipped", name.1));
                    continue;
                };
                if toks.len() < 3 {
                    ix.err(ln, col, "syntax", "`add` without a member");
                    continue;
                }
                member(ix, set, ln, &toks[2..]);
            }
            "COMMIT" => {}
            _ => ix.err(ln, col, "syntax", format!("expected `create` or `add` (ipset save format), found `{cmd}`: line skipped")),
        }
    }
    sets
}

fn list_form(ix: &mut Ix<'_>, text: &str) -> Vec<IpSet> {
    let mut sets: Vec<IpSet> = Vec::new();
    let mut in_members = false;
    let mut expected: Vec<Option<(usize, u32)>> = Vec::new();
    for (ln, l) in lex::lines(text) {
        let t = l.trim();
        if t.is_empty() {
            in_members = false;
            continue;
        }
        if let Some(name) = t.strip_prefix("Name:") {
            sets.push(new_set(name.trim(), "", Vec::new(), ln));
            expected.push(None);
            in_members = false;
            continue;
        }
        let Some(set) = sets.last_mut() else {
            ix.err(ln, 1, "syntax", format!("expected `Name:` to start an `ipset list` block, found `{t}`: line skipped"));
            continue;
        };
        if lex::is_cut_marker(l) {
            ix.diags.push(lex::cut(ix.file, ln, l));
            set.incomplete = true;
            continue;
        }
        if in_members {
            let toks = tokens(l);
            member(ix, set, ln, &toks);
            continue;
        }
        let (k, v) = t.split_once(':').map(|(k, v)| (k, v.trim())).unwrap_or((t, ""));
        match k {
            "Type" => {
                set.set_type = v.to_string();
                let col = lex::col_of(l, l.find(v).unwrap_or(0));
                set.dims = dims_of(ix, ln, col, v);
            }
            "Header" => {
                let toks = tokens(v);
                set_options(set, &toks);
            }
            "Number of entries" => {
                if let Ok(n) = v.parse::<usize>() {
                    if let Some(e) = expected.last_mut() {
                        *e = Some((n, ln));
                    }
                }
            }
            "Members" => in_members = true,
            "Revision" | "Size in memory" | "References" => {}
            _ => ix.warn(ln, 1, "unknown-line", format!("`ipset list` line not understood and ignored: `{t}`")),
        }
    }
    for (s, e) in sets.iter_mut().zip(expected) {
        if s.set_type.is_empty() {
            ix.err(s.line, 1, "missing-field", format!("set `{}` has no `Type:` line: its members cannot be typed", s.name));
        }
        if let Some((n, ln)) = e {
            // Ranges expand to several members, so compare distinct source lines.
            let mut lines: Vec<u32> = s.members.iter().map(|m| m.line).collect();
            lines.dedup();
            if lines.len() < n && s.members.len() < n {
                s.incomplete = true;
                ix.warn(
                    ln,
                    1,
                    "incomplete",
                    format!(
                        "set `{}` lists {} of its {} entries (the listing was cut short): membership of anything not listed is unknown",
                        s.name,
                        s.members.len(),
                        n
                    ),
                );
            }
        }
    }
    sets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_exactly() {
        let n = range_nets("192.0.2.1".parse().unwrap(), "192.0.2.6".parse().unwrap());
        let s: Vec<String> = n.iter().map(|n| n.to_string()).collect();
        assert_eq!(s, ["192.0.2.1/32", "192.0.2.2/31", "192.0.2.4/31", "192.0.2.6/32"]);
        assert_eq!(range_nets("0.0.0.0".parse().unwrap(), "255.255.255.255".parse().unwrap()), vec![Ipv4Net::default()]);
    }

    #[test]
    fn garbage() {
        for t in [
            "add",
            "create",
            "create x",
            "add x 1",
            "Name:",
            "Name: a\nMembers:\n1,2,3",
            "create x hash:ip,port\nadd x 1.2.3.4,tcp:99999",
            "create a hash:ip\nadd a 0.0.0.0-255.255.255.255",
        ] {
            let _ = parse("g", t);
        }
    }
}
