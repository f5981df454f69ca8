//! `route -n` (net-tools) -> routes of the main table.
//!
//! `route -n` prints `/proc/net/route`, which `fib_route_seq_show` fills from the main table
//! only, skipping broadcast and multicast routes. Its columns follow the header line, so `-e`
//! and `-ee` layouts read too. Two kernel facts give the odd rows their meaning:
//! * Iface `*` is a route without a device: in IPv4 only blackhole and throw routes have none.
//!   Blackhole (calico's IPAM blocks) is what such rows almost always are; they are imported as
//!   blackholes with a warning that names the other possibility.
//! * Local and anycast routes put in the main table print like device routes (`U`, a device);
//!   multicast routes are not printed at all. Checked against the kernel on this machine.
//! * Flag `!` (`RTF_REJECT`) is set for both unreachable and prohibit routes, so the two cannot be
//!   told apart here; such rows are imported as unreachable, with a warning.
//!
//! Pasted output whose line breaks were lost (rows run together on one line, as in the
//! troubleshooting posts users copy from) reads too: rows are taken column-count words at a time
//! after the header, and words that cannot start a row are reported as annotations.

use crate::diag::{Diagnostic, Parsed, Span};
use crate::model::route::{NextHop, Route, RouteType, RT_TABLE_MAIN};
use crate::model::types::Scope;
use crate::parse::ip_json::Counted;
use crate::parse::ip_text::lex;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

const HEADER: &[&str] = &["Destination", "Gateway", "Genmask", "Flags"];

#[derive(Clone, Copy)]
struct Tok<'a> {
    text: &'a str,
    line: u32,
    col: u32,
}

pub fn parse(file: &str, text: &str) -> Parsed<Vec<Route>> {
    parse_counted(file, text).parsed
}

fn mask_len(m: Ipv4Addr) -> Option<u8> {
    let v = u32::from(m);
    let l = v.leading_ones();
    (v.checked_shl(l).unwrap_or(0) == 0).then_some(l as u8)
}

fn is_row_start(t: &[Tok<'_>]) -> bool {
    t.len() >= 4
        && (lex::ipv4(t[0].text).is_some() || t[0].text == "default")
        && (lex::ipv4(t[1].text).is_some() || t[1].text == "*" || t[1].text == "-")
        && lex::ipv4(t[2].text).is_some()
        && t[3].text.chars().all(|c| "UGHRDMACI!".contains(c))
}

pub fn parse_counted(file: &str, text: &str) -> Counted<Vec<Route>> {
    let mut diags = Vec::new();
    let toks: Vec<Tok<'_>> = lex::lines(text).flat_map(|(ln, l)| lex::words(l).into_iter().map(move |w| Tok { text: w.text, line: ln, col: w.col })).collect();
    let mut out = Vec::new();
    let mut cols: Vec<&str> = Vec::new();
    let mut tables = 0;
    let mut i = 0;
    // Words that are neither header nor rows, gathered until the next row so each run is
    // reported once with its position.
    let mut stray: Vec<Tok<'_>> = Vec::new();
    let flush = |stray: &mut Vec<Tok<'_>>, diags: &mut Vec<Diagnostic>, in_table: bool| {
        if stray.is_empty() {
            return;
        }
        let first = stray[0];
        let txt: Vec<&str> = stray.iter().map(|t| t.text).collect();
        let txt = txt.join(" ");
        let short: String = txt.chars().take(80).collect();
        if in_table {
            diags.push(lex::annotation(file, first.line, first.col, &short));
        } else if txt != "Kernel IP routing table" {
            diags.push(Diagnostic::info(Span::new(file, first.line, first.col), "prose", format!("text before the `route -n` header ignored: `{short}`")));
        }
        stray.clear();
    };
    while i < toks.len() {
        if toks[i..].len() >= HEADER.len() && toks[i..i + HEADER.len()].iter().map(|t| t.text).eq(HEADER.iter().copied()) {
            flush(&mut stray, &mut diags, false);
            if tables == 1 {
                diags.push(Diagnostic::warning(
                    Span::new(file, toks[i].line, toks[i].col),
                    "second-table",
                    "a second `route -n` table starts here: the file holds more than one command's output, and all rows are imported",
                ));
            }
            tables += 1;
            cols.clear();
            const KNOWN: &[&str] = &["Destination", "Gateway", "Genmask", "Flags", "Metric", "Ref", "Use", "Iface", "MSS", "Window", "irtt"];
            while i < toks.len() && KNOWN.contains(&toks[i].text) && !cols.contains(&toks[i].text) {
                cols.push(toks[i].text);
                i += 1;
            }
            continue;
        }
        if cols.is_empty() {
            if is_row_start(&toks[i..]) {
                // Rows without a header: assume the plain `route -n` columns and say so.
                cols = vec!["Destination", "Gateway", "Genmask", "Flags", "Metric", "Ref", "Use", "Iface"];
                tables += 1;
                flush(&mut stray, &mut diags, false);
                diags.push(Diagnostic::info(
                    Span::new(file, toks[i].line, toks[i].col),
                    "no-header",
                    "no `route -n` header: the default columns (Destination Gateway Genmask Flags Metric Ref Use Iface) assumed",
                ));
                continue;
            }
            stray.push(toks[i]);
            i += 1;
            continue;
        }
        let n = cols.len();
        if i + n <= toks.len() && is_row_start(&toks[i..]) {
            flush(&mut stray, &mut diags, true);
            let row = &toks[i..i + n];
            if let Some(r) = row_route(file, &cols, row, &mut diags) {
                out.push(r);
            }
            i += n;
            continue;
        }
        stray.push(toks[i]);
        i += 1;
    }
    flush(&mut stray, &mut diags, tables > 0);
    if tables == 0 && !text.trim().is_empty() {
        diags.push(Diagnostic::error(
            Span::new(file, 1, 0),
            "no-table",
            "no `route -n` table found (expected the header `Destination Gateway Genmask Flags ...`)",
        ));
    } else if !out.is_empty() {
        diags.push(Diagnostic::info(
            Span::new(file, 1, 0),
            "route-n-limits",
            "`route -n` shows the main table only, without route types (a local or anycast route looks like a device route, multicast routes are absent), protocol, scope or preferred source: the local table and any policy-routing tables are not in this file",
        ));
    }
    Counted { parsed: Parsed { value: out, diagnostics: diags }, ipv6_ignored: 0 }
}

fn row_route(file: &str, cols: &[&str], row: &[Tok<'_>], diags: &mut Vec<Diagnostic>) -> Option<Route> {
    let get = |name: &str| cols.iter().position(|c| *c == name).map(|i| row[i]);
    let span = |t: Tok<'_>| Span::new(file, t.line, t.col);
    let dst_t = get("Destination")?;
    let mask_t = get("Genmask")?;
    let flags_t = get("Flags")?;
    let dst = if dst_t.text == "default" { Ipv4Addr::UNSPECIFIED } else { lex::ipv4(dst_t.text)? };
    let mask = lex::ipv4(mask_t.text)?;
    let Some(len) = mask_len(mask) else {
        diags.push(
            Diagnostic::error(span(mask_t), "bad-value", format!("netmask {mask} is not contiguous: row skipped"))
                .with_expected("a contiguous netmask", mask_t.text),
        );
        return None;
    };
    let flags = flags_t.text;
    let iface = get("Iface").map(|t| t.text).unwrap_or("-");
    let gw_t = get("Gateway");
    let gw = gw_t.and_then(|t| lex::ipv4(t.text)).filter(|g| !g.is_unspecified());
    let metric = get("Metric").and_then(|t| t.text.parse().ok()).unwrap_or(0);
    let net = Ipv4Net::new(dst, len).unwrap_or_default();
    if u32::from(dst) & !u32::from(mask) != 0 {
        diags.push(Diagnostic::warning(span(dst_t), "host-bits", format!("destination {dst} has bits outside netmask {mask}: read as {}", net.trunc())));
    }
    let net = net.trunc();
    let mut r = Route {
        table: RT_TABLE_MAIN,
        rtype: RouteType::Unicast,
        dst: net,
        tos: 0,
        metric,
        protocol: None,
        scope: Scope::Universe,
        prefsrc: None,
        nexthops: Vec::new(),
        mtu: None,
        origin: Some(format!("{file}:{}", dst_t.line)),
    };
    if flags.contains('!') {
        r.rtype = RouteType::Unreachable;
        diags.push(Diagnostic::warning(
            span(flags_t),
            "reject-route",
            format!("route to {net} has flag `!` (RTF_REJECT), which the kernel sets for both unreachable and prohibit routes: imported as unreachable (EHOSTUNREACH); if it is prohibit, senders see EACCES instead"),
        ));
        return Some(r);
    }
    if iface == "*" {
        r.rtype = RouteType::Blackhole;
        let t = get("Iface").unwrap_or(dst_t);
        diags.push(Diagnostic::warning(
            span(t),
            "no-device-route",
            format!("route to {net} has no interface (`*`): in IPv4 only blackhole and throw routes have no device (fib_route_seq_show); imported as a blackhole (packets dropped), but if it is a throw route the lookup continues with the next policy rule instead"),
        ));
        return Some(r);
    }
    if flags.contains('G') && gw.is_none() {
        if let Some(t) = gw_t {
            diags.push(Diagnostic::warning(span(t), "bad-value", format!("route to {net} has flag G but no gateway address")));
        }
    }
    if !flags.contains('G') {
        // A device route: the kernel gives it link scope (`fib_check_nh` for gateway-less routes).
        r.scope = Scope::Link;
    }
    r.nexthops.push(NextHop { gateway: gw, dev: Some(iface.to_string()), onlink: false, weight: 1, dead: false, linkdown: false });
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapsed_rows_and_annotations() {
        let p = parse("s", "Kernel IP routing table Destination Gateway Genmask Flags Metric Ref Use Iface 0.0.0.0 192.168.86.1 0.0.0.0 UG 0 0 0 ens160 10.244.1.0 10.244.1.0 255.255.255.0 UG 0 0 0 flannel.1 ###note 10.244.57.0 0.0.0.0 255.255.255.192 U 0 0 0 *");
        assert_eq!(p.value.len(), 3);
        assert_eq!(p.value[2].rtype, RouteType::Blackhole);
        assert!(p.diagnostics.iter().any(|d| d.code == "annotation" && d.message.contains("###note")));
    }

    #[test]
    fn garbage() {
        for t in ["", "Destination Gateway Genmask Flags", "Destination Gateway Genmask Flags Metric 1.2.3.4 1.2.3.4 255.0.255.0 U 0", "x y z"] {
            let _ = parse("g", t);
        }
    }
}
