//! `ss -Htulpn` -> listening TCP and UDP sockets.
//!
//! How `ss` prints a wildcard bind, checked against the kernel on this machine (iproute2 6.1):
//! * `0.0.0.0:80`: an IPv4 socket on any address.
//! * `*:80`: an IPv6 socket on `::` with `IPV6_V6ONLY` off: it accepts IPv4 too (v4-mapped),
//!   so it counts as an IPv4 wildcard listener.
//! * `[::]:80`: an IPv6 socket on `::` with `IPV6_V6ONLY` on: no IPv4 traffic reaches it, so it
//!   is counted as IPv6 and not modelled.
//! * `:::80` (old ss, before the `*` form): v6only is not shown; imported as an IPv4 wildcard
//!   listener on the assumption that `net.ipv6.bindv6only` is 0 (the kernel default), and said so.
//! * `127.0.0.1%lo:53`: bound to an address and a device (`SO_BINDTODEVICE`).

use crate::diag::{Diagnostic, Parsed, Span};
use crate::model::socket::Socket;
use crate::parse::ip_json::Counted;
use crate::parse::ip_text::lex;
use std::net::Ipv4Addr;

pub fn parse(file: &str, text: &str) -> Parsed<Vec<Socket>> {
    parse_counted(file, text).parsed
}

const STATES: &[&str] =
    &["LISTEN", "UNCONN", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT", "CLOSE-WAIT", "LAST-ACK", "CLOSING", "CLOSED", "UNKNOWN"];

/// What a local address column means for IPv4.
enum Local {
    V4 { addr: Option<Ipv4Addr>, dev: Option<String>, port: u16 },
    V6Only,
}

fn local_addr(s: &str) -> Result<(Local, bool), String> {
    let (host, port) = s.rsplit_once(':').ok_or_else(|| format!("`{s}` is not ADDRESS:PORT"))?;
    let port: u16 = port.parse().map_err(|_| format!("port `{port}` in `{s}` is not a number (service names appear when ss runs without -n)"))?;
    let (host, dev) = match host.split_once('%') {
        Some((h, d)) => (h, Some(d.to_string())),
        None => (host, None),
    };
    match host {
        "*" => Ok((Local::V4 { addr: None, dev, port }, false)),
        "::" => Ok((Local::V4 { addr: None, dev, port }, true)),
        _ => {
            if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
                if let Some(v4) = inner.strip_prefix("::ffff:").and_then(lex::ipv4) {
                    return Ok((Local::V4 { addr: Some(v4), dev, port }, false));
                }
                return Ok((Local::V6Only, false));
            }
            if lex::looks_ipv6(host) {
                if let Some(v4) = host.strip_prefix("::ffff:").and_then(lex::ipv4) {
                    return Ok((Local::V4 { addr: Some(v4), dev, port }, false));
                }
                return Ok((Local::V6Only, false));
            }
            let a = lex::ipv4(host).ok_or_else(|| format!("`{host}` is not an address (host names appear when ss runs without -n)"))?;
            Ok((Local::V4 { addr: (!a.is_unspecified()).then_some(a), dev, port }, false))
        }
    }
}

fn process(s: &str) -> Option<String> {
    let inner = s.strip_prefix("users:((")?;
    let names: Vec<&str> = inner.split("(\"").map(|p| p.trim_start_matches('"')).filter_map(|p| p.split('"').next()).filter(|n| !n.is_empty()).collect();
    (!names.is_empty()).then(|| names.join(","))
}

pub fn parse_counted(file: &str, text: &str) -> Counted<Vec<Socket>> {
    let mut diags = Vec::new();
    let mut out = Vec::new();
    let mut v6 = 0usize;
    let mut noted_netid = false;
    let mut skipped_other = 0usize;
    for (ln, l) in lex::lines(text) {
        let t = l.trim();
        if t.is_empty() {
            continue;
        }
        if lex::is_cut_marker(l) {
            diags.push(lex::cut(file, ln, l));
            continue;
        }
        if lex::is_comment(l) {
            diags.push(Diagnostic::info(Span::new(file, ln, 1), "annotation", "comment line (not command output) skipped"));
            continue;
        }
        let ws = lex::words(l);
        if ws[0].text == "Netid" || ws[0].text == "State" {
            continue;
        }
        let (netid, si) = if STATES.contains(&ws[0].text) {
            // `ss -Htlpn` (one socket type) prints no Netid column.
            let n = match ws[0].text {
                "LISTEN" => "tcp",
                _ => "udp",
            };
            if !noted_netid {
                noted_netid = true;
                diags.push(Diagnostic::info(
                    Span::new(file, ln, 1),
                    "no-netid",
                    "no Netid column (ss was given a single socket type): LISTEN rows read as tcp, UNCONN rows as udp",
                ));
            }
            (n, 0)
        } else {
            (ws[0].text, 1)
        };
        let proto = match netid {
            "tcp" => 6u8,
            "udp" => 17u8,
            _ => {
                skipped_other += 1;
                continue;
            }
        };
        let Some(state) = ws.get(si) else {
            diags.push(Diagnostic::error(Span::new(file, ln, 1), "syntax", "expected `Netid State Recv-Q Send-Q Local:Port Peer:Port`: line skipped"));
            continue;
        };
        if !matches!(state.text, "LISTEN" | "UNCONN") {
            skipped_other += 1;
            continue;
        }
        let Some(lw) = ws.get(si + 3) else {
            diags.push(Diagnostic::error(Span::new(file, ln, 1), "syntax", "line without a local address column: skipped"));
            continue;
        };
        match local_addr(lw.text) {
            Ok((Local::V6Only, _)) => v6 += 1,
            Ok((Local::V4 { addr, dev, port }, assumed)) => {
                if assumed {
                    diags.push(Diagnostic::warning(
                        Span::new(file, ln, lw.col),
                        "assumed-dual-stack",
                        format!("`{}` (old ss) does not say whether the socket is v6-only: assumed to accept IPv4 too (net.ipv6.bindv6only = 0, the kernel default)", lw.text),
                    ));
                }
                let process = ws.iter().skip(si + 5).find_map(|w| process(w.text));
                out.push(Socket { proto, local: addr, port, dev, process, line: ln });
            }
            Err(msg) => diags.push(Diagnostic::error(Span::new(file, ln, lw.col), "bad-value", format!("{msg}: line skipped"))),
        }
    }
    if skipped_other > 0 {
        diags.push(Diagnostic::info(
            Span::new(file, 1, 0),
            "not-listening",
            format!("{skipped_other} sockets that are not TCP/UDP listeners (established, raw, unix...) were not imported"),
        ));
    }
    if v6 > 0 {
        diags.push(Diagnostic::info(Span::new(file, 1, 0), "ipv6-ignored", format!("{v6} IPv6-only sockets seen and not modelled")));
    }
    Counted { parsed: Parsed { value: out, diagnostics: diags }, ipv6_ignored: v6 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let p = parse("s", "tcp LISTEN 0 5 *:80 *:*\ntcp LISTEN 0 5 [::]:81 [::]:*\nudp UNCONN 0 0 127.0.0.1%lo:53 0.0.0.0:* users:((\"dnsmasq\",pid=1,fd=4),(\"x\",pid=2,fd=5))\ntcp LISTEN 0 5 [::ffff:10.0.0.1]:8080 *:*\ntcp LISTEN 0 128 :::22 :::*\ntcp LISTEN 0 5 0.0.0.0:ssh 0.0.0.0:*");
        assert_eq!(p.value.len(), 4);
        assert_eq!(p.value[0].local, None);
        assert_eq!(p.value[1].dev.as_deref(), Some("lo"));
        assert_eq!(p.value[1].process.as_deref(), Some("dnsmasq,x"));
        assert_eq!(p.value[2].local, Some("10.0.0.1".parse().unwrap()));
        assert!(p.diagnostics.iter().any(|d| d.code == "assumed-dual-stack"));
        assert!(p.diagnostics.iter().any(|d| d.code == "bad-value" && d.span.line == 6));
    }
}
