//! `ifconfig -a` (net-tools) -> links and IPv4 addresses. Both the current layout
//! (`eth0: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500`, `inet A  netmask M`) and the
//! old one (`eth0      Link encap:Ethernet  HWaddr ...`, `inet addr:A  Bcast:B  Mask:M`) read.
//!
//! What the format cannot say is reported once per file instead of guessed silently: there are
//! no interface indexes (devices are numbered in the order listed), no device kinds beyond the
//! hardware type (a veth, a bridge and a NIC are all `Ethernet`), no scopes, and only one IPv4
//! address per device (secondary addresses added with `ip addr add` do not appear; `eth0:1`
//! aliases do, and are imported as labelled addresses of `eth0`).

use crate::diag::{Diagnostic, Parsed, Span};
use crate::model::addr::Addr;
use crate::model::link::{Link, LinkKind, TunnelInfo};
use crate::model::types::{Mac, Scope};
use crate::parse::ip_json::Counted;
use crate::parse::ip_text::lex;
use std::net::Ipv4Addr;

pub fn parse(file: &str, text: &str) -> Parsed<(Vec<Link>, Vec<Addr>)> {
    parse_counted(file, text).parsed
}

fn mask_len(m: Ipv4Addr) -> Option<u8> {
    let v = u32::from(m);
    let l = v.leading_ones();
    (v.checked_shl(l).unwrap_or(0) == 0).then_some(l as u8)
}

fn new_link(ifindex: u32, name: &str) -> Link {
    Link {
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
    }
}

fn set_flag(l: &mut Link, f: &str) {
    match f {
        "UP" => l.up = true,
        // IFF_RUNNING mirrors the operational state, which follows the carrier.
        "RUNNING" => l.lower_up = true,
        "NOARP" => l.noarp = true,
        "PROMISC" => l.promisc = true,
        _ => {}
    }
}

fn kind_of(encap: &str) -> LinkKind {
    match encap {
        "Ethernet" => LinkKind::Ether,
        "Local Loopback" | "Loopback" => LinkKind::Loopback,
        "IPIP Tunnel" => LinkKind::Ipip(TunnelInfo::default()),
        other => LinkKind::Other { name: other.to_ascii_lowercase() },
    }
}

pub fn parse_counted(file: &str, text: &str) -> Counted<(Vec<Link>, Vec<Addr>)> {
    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut v6 = 0usize;
    let mut links: Vec<Link> = Vec::new();
    let mut addrs: Vec<Addr> = Vec::new();
    // The line of each device's first block, for diagnostics about the device as a whole.
    let mut header_line: Vec<u32> = Vec::new();
    // The device the indented lines belong to, and the alias label when the block is `eth0:1`.
    let mut cur: Option<(usize, Option<String>)> = None;
    for (ln, l) in lex::lines(text) {
        if l.trim().is_empty() {
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
        let indented = l.starts_with(' ') || l.starts_with('\t');
        if !indented {
            let first = ws[0];
            let name = first.text.strip_suffix(':').unwrap_or(first.text);
            let (base, alias) = match name.split_once(':') {
                Some((b, _)) => (b, Some(name.to_string())),
                None => (name, None),
            };
            let idx = match links.iter().position(|x| x.name == base) {
                Some(i) if alias.is_some() => i,
                Some(i) => {
                    diags.push(Diagnostic::warning(
                        Span::new(file, ln, first.col),
                        "duplicate",
                        format!("device `{base}` listed twice: the later block is merged into the first"),
                    ));
                    i
                }
                None => {
                    links.push(new_link(links.len() as u32 + 1, base));
                    header_line.push(ln);
                    links.len() - 1
                }
            };
            cur = Some((idx, alias));
            let link = &mut links[idx];
            let rest = &ws[1..];
            let mut i = 0;
            while i < rest.len() {
                let w = rest[i].text;
                if let Some(f) = w.strip_prefix("flags=") {
                    if let Some((_, list)) = f.split_once('<') {
                        for fl in list.trim_end_matches('>').split(',') {
                            set_flag(link, fl);
                        }
                    }
                } else if w == "mtu" {
                    if let Some(m) = rest.get(i + 1).and_then(|x| x.text.parse().ok()) {
                        link.mtu = m;
                        i += 1;
                    }
                } else if let Some(enc) = w.strip_prefix("encap:") {
                    // Old layout: `Link encap:Local Loopback` has a two-word type.
                    let mut e = enc.to_string();
                    if enc == "Local" || enc == "IPIP" {
                        if let Some(n) = rest.get(i + 1) {
                            if n.text != "HWaddr" {
                                e = format!("{enc} {}", n.text);
                                i += 1;
                            }
                        }
                    }
                    link.kind = kind_of(&e);
                } else if w == "HWaddr" {
                    link.mac = rest.get(i + 1).and_then(|x| Mac::parse(x.text));
                    i += 1;
                }
                i += 1;
            }
            continue;
        }
        let Some((idx, alias)) = cur.clone() else {
            diags.push(Diagnostic::error(Span::new(file, ln, ws[0].col), "syntax", "indented line before any device line: skipped"));
            continue;
        };
        let link = &mut links[idx];
        let k = ws[0].text;
        let val = |key: &str| -> Option<&str> {
            // `netmask 255.0.0.0` (new) or `Mask:255.0.0.0` (old).
            if let Some(p) = ws.iter().position(|w| w.text == key) {
                return ws.get(p + 1).map(|w| w.text);
            }
            let old = format!("{}:", key);
            ws.iter().find_map(|w| w.text.strip_prefix(old.as_str()))
        };
        match k {
            "inet" => {
                let a = ws.get(1).map(|w| w.text.strip_prefix("addr:").unwrap_or(w.text)).unwrap_or("");
                let mask = val("netmask").or_else(|| val("Mask"));
                let Some(local) = lex::ipv4(a) else {
                    diags.push(Diagnostic::error(
                        Span::new(file, ln, ws.get(1).map(|w| w.col).unwrap_or(0)),
                        "bad-value",
                        format!("expected an IPv4 address after `inet`, found `{a}`"),
                    ));
                    continue;
                };
                let plen = match mask.map(|m| (m, lex::ipv4(m).and_then(mask_len))) {
                    Some((_, Some(p))) => p,
                    Some((m, None)) => {
                        diags.push(Diagnostic::error(
                            Span::new(file, ln, 0),
                            "bad-value",
                            format!("netmask `{m}` is not a contiguous IPv4 mask: address skipped"),
                        ));
                        continue;
                    }
                    None => {
                        diags.push(Diagnostic::warning(Span::new(file, ln, 0), "missing-field", format!("address {local} without a netmask: /32 assumed")));
                        32
                    }
                };
                let peer = val("destination").or_else(|| val("P-t-P")).and_then(lex::ipv4);
                addrs.push(Addr {
                    ifname: link.name.clone(),
                    ifindex: link.ifindex,
                    local,
                    prefix_len: plen,
                    peer,
                    broadcast: val("broadcast").or_else(|| val("Bcast")).and_then(lex::ipv4).filter(|b| !b.is_unspecified()),
                    scope: if local.is_loopback() { Scope::Host } else { Scope::Universe },
                    secondary: alias.is_some(),
                    noprefixroute: false,
                    label: alias.clone(),
                });
            }
            "inet6" => v6 += 1,
            "ether" => link.mac = ws.get(1).and_then(|w| Mac::parse(w.text)),
            "loop" => link.kind = LinkKind::Loopback,
            "tunnel" | "unspec" | "infiniband" | "ppp" | "sit" | "ipip" => {
                // The hardware type in parentheses at the end names the kind.
                let tail = l.rsplit_once('(').map(|(_, t)| t.trim_end().trim_end_matches(')')).unwrap_or(k);
                link.kind = kind_of(tail);
            }
            _ if k.starts_with("RX") || k.starts_with("TX") || k == "collisions:" || k == "device" || k.starts_with("Interrupt") => {}
            _ if ws.iter().any(|w| w.text.starts_with("MTU:")) => {
                // Old layout flags line: `UP BROADCAST RUNNING MULTICAST  MTU:1500  Metric:1`.
                for w in &ws {
                    if let Some(m) = w.text.strip_prefix("MTU:") {
                        link.mtu = m.parse().unwrap_or(link.mtu);
                    } else {
                        set_flag(link, w.text);
                    }
                }
            }
            _ => diags.push(Diagnostic::warning(Span::new(file, ln, ws[0].col), "unknown-line", format!("line not understood and ignored: `{}`", l.trim()))),
        }
    }
    for (k, ln) in links.iter().zip(&header_line) {
        if let LinkKind::Other { name } = &k.kind {
            diags.push(Diagnostic::warning(
                Span::new(file, *ln, 1),
                "unknown-kind",
                format!("`{}` has hardware type `{name}` (a tun, wireguard or other non-ethernet device): kept as an unmodelled device", k.name),
            ));
        }
    }
    if !links.is_empty() {
        diags.push(Diagnostic::info(
            Span::new(file, 1, 0),
            "ifconfig-limits",
            "`ifconfig` shows no interface indexes (devices numbered in the order listed), no device kinds beyond the hardware type (veth, bridge and NIC are all Ethernet), no scopes (host for 127/8, else global assumed) only one IPv4 address per device (secondaries added with `ip addr add` are not listed), and no `peer` address unless the device is point-to-point",
        ));
    } else if !text.trim().is_empty() {
        diags.push(Diagnostic::error(
            Span::new(file, 1, 0),
            "no-devices",
            "no `ifconfig` device block found (expected `name: flags=...` or `name Link encap:...`)",
        ));
    }
    if v6 > 0 {
        diags.push(Diagnostic::info(Span::new(file, 1, 0), "ipv6-ignored", format!("{v6} IPv6 addresses seen and not modelled (nfpath models IPv4 only)")));
    }
    Counted { parsed: Parsed { value: (links, addrs), diagnostics: diags }, ipv6_ignored: v6 }
}
