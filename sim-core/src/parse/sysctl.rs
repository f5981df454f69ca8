//! `sysctl -a` (or any subset) -> sysctls. Reads `key = value`, `key=value` and slash-form keys
//! (`net/ipv4/ip_forward = 1`, as `sysctl -N`/`/proc/sys` paths give them). In slash form a dot
//! belongs to a name (`eth0.100`), so it becomes `/` in the dotted key, as `sysctl` prints it.

use crate::diag::{Diagnostic, Parsed, Span};
use crate::model::sysctl::Sysctls;
use crate::parse::ip_text::lex;
use std::collections::BTreeMap;

pub fn parse(file: &str, text: &str) -> Parsed<Sysctls> {
    let mut diags = Vec::new();
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    let mut first_line: BTreeMap<String, u32> = BTreeMap::new();
    for (ln, l) in lex::lines(text) {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if lex::is_cut_marker(l) {
            diags.push(lex::cut(file, ln, l));
            continue;
        }
        if t.starts_with("sysctl:") {
            diags.push(Diagnostic::info(Span::new(file, ln, 1), "sysctl-message", format!("message from sysctl, not a setting: `{t}`")));
            continue;
        }
        let Some(eq) = l.find('=') else {
            diags.push(
                Diagnostic::error(Span::new(file, ln, 1), "syntax", format!("expected `key = value`, found `{t}`: line skipped"))
                    .with_expected("key = value", t),
            );
            continue;
        };
        let key = l[..eq].trim();
        let value = l[eq + 1..].trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            diags.push(Diagnostic::error(Span::new(file, ln, 1), "syntax", format!("`{key}` is not a sysctl key: line skipped")));
            continue;
        }
        let dotted = if key.contains('/') {
            key.trim_start_matches("/proc/sys/").trim_matches('/').split('/').map(|c| c.replace('.', "/")).collect::<Vec<_>>().join(".")
        } else {
            key.to_string()
        };
        if let Some(prev) = first_line.get(&dotted) {
            if values.get(&dotted).map(String::as_str) != Some(value) {
                diags.push(Diagnostic::warning(
                    Span::new(file, ln, 1),
                    "duplicate",
                    format!("`{dotted}` is set again (first at line {prev}) with a different value: the later one, `{value}`, is used"),
                ));
            }
        } else {
            first_line.insert(dotted.clone(), ln);
        }
        values.insert(dotted, value.to_string());
    }
    Parsed { value: Sysctls { values, imported: true }, diagnostics: diags }
}

/// `ip netconf` -> the per-device sysctls it shows (forwarding, rp_filter, proxy_neigh as
/// proxy_arp, ignore_routes_with_linkdown). Old iproute2 prints `ipv4 dev eth0 ...` and
/// `ipv4 all ...`, newer `inet eth0 ...`; IPv6 lines are skipped. `all`'s forwarding is also
/// `net.ipv4.ip_forward`, which the kernel keeps as the same value (devinet.c `ip_forward`).
pub fn parse_netconf(file: &str, text: &str) -> Parsed<Sysctls> {
    let mut diags = Vec::new();
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for (ln, l) in lex::lines(text) {
        let ws = lex::words(l);
        let Some(fam) = ws.first() else {
            continue;
        };
        match fam.text {
            "ipv4" | "inet" => {}
            // IPv6 settings are not modelled.
            "ipv6" | "inet6" => continue,
            other => {
                diags.push(Diagnostic::error(
                    Span::new(file, ln, fam.col),
                    "syntax",
                    format!("expected an `ip netconf` line starting with `inet` or `ipv4`, found `{other}`: skipped"),
                ));
                continue;
            }
        }
        let mut i = 1;
        if ws.get(i).map(|w| w.text) == Some("dev") {
            i += 1;
        }
        let Some(dev) = ws.get(i) else {
            continue;
        };
        let dev = dev.text.replace('.', "/");
        i += 1;
        while i + 1 < ws.len() {
            let (k, v) = (ws[i].text, ws[i + 1]);
            let val = match (k, v.text) {
                ("rp_filter", "strict") => Some("1"),
                ("rp_filter", "loose") => Some("2"),
                (_, "on") => Some("1"),
                (_, "off") => Some("0"),
                (_, n) if n.parse::<i64>().is_ok() => Some(n),
                _ => None,
            };
            let key = match k {
                "forwarding" => Some("forwarding"),
                "rp_filter" => Some("rp_filter"),
                "proxy_neigh" => Some("proxy_arp"),
                "ignore_routes_with_linkdown" => Some("ignore_routes_with_linkdown"),
                _ => None,
            };
            match (key, val) {
                (Some(key), Some(val)) => {
                    values.insert(format!("net.ipv4.conf.{dev}.{key}"), val.to_string());
                    if dev == "all" && key == "forwarding" {
                        values.insert("net.ipv4.ip_forward".into(), val.to_string());
                    }
                }
                (Some(_), None) => diags.push(Diagnostic::error(Span::new(file, ln, v.col), "bad-value", format!("`{k} {}`: value not understood", v.text))),
                _ => {}
            }
            i += 2;
        }
    }
    diags.push(Diagnostic::info(
        Span::new(file, 1, 0),
        "netconf-limits",
        "`ip netconf` gives per-device forwarding, rp_filter, proxy_arp and ignore_routes_with_linkdown only; every other sysctl takes its kernel default",
    ));
    Parsed { value: Sysctls { values, imported: true }, diagnostics: diags }
}
