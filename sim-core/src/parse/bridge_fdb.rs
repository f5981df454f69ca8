//! `bridge -j fdb show` (and the text form `bridge fdb show`, and `brctl showmacs BR`) ->
//! forwarding database entries.
//!
//! The text form has two real-world oddities: `bridge fdb show dev X` omits the `dev` column
//! (the caller may pass the device), and some iproute2 versions print `dev dev eth0`.

use crate::diag::{Diagnostic, Parsed, Span};
use crate::model::fdb::FdbEntry;
use crate::model::types::Mac;
use crate::parse::ip_json::{top_array, Counted, Ctx};
use crate::parse::ip_text::lex;

const FDB_KEYS: &[&str] = &[
    "mac",
    "ifname",
    "master",
    "dst",
    "vlan",
    "vni",
    "port",
    "flags",
    "state",
    "viaIf",
    "nhid",
    "src_vni",
    "used",
    "updated",
    "activity_notify",
    "inactive",
    "flags_ext",
];

/// Reads JSON or text, whichever the file holds.
pub fn parse(file: &str, text: &str) -> Parsed<Vec<FdbEntry>> {
    parse_counted(file, text, None).parsed
}

/// `dev` is the device of a `bridge fdb show dev X` listing (or the bridge of `brctl showmacs
/// BR`), which the output itself does not name.
pub fn parse_counted(file: &str, text: &str, dev: Option<&str>) -> Counted<Vec<FdbEntry>> {
    let t = text.trim_start();
    if t.starts_with('[') {
        json(file, text)
    } else if t.starts_with("port no") {
        brctl(file, text, dev)
    } else {
        text_form(file, text, dev)
    }
}

fn blank(mac: Mac) -> FdbEntry {
    FdbEntry {
        mac,
        dev: String::new(),
        master: None,
        dst: None,
        vlan: None,
        vni: None,
        port: None,
        is_self: false,
        permanent: false,
        is_static: false,
        extern_learn: false,
        raw_flags: Vec::new(),
    }
}

fn json(file: &str, text: &str) -> Counted<Vec<FdbEntry>> {
    let mut ctx = Ctx::new(file);
    let mut out = Vec::new();
    if let Some(items) = top_array(&mut ctx, text) {
        for o in &items {
            ctx.unknown_keys(o, "fdb", FDB_KEYS);
            let Some(mac) = ctx.mac_of(o, "mac") else {
                ctx.error(o, "missing-field", "fdb entry without a valid `mac`: skipped");
                continue;
            };
            let mut e = blank(mac);
            match ctx.str_of(o, "ifname") {
                Some(d) => e.dev = d.to_string(),
                None => ctx.warn(o, "missing-dev", format!("fdb entry {mac} without `ifname`: the device is unknown")),
            }
            e.master = ctx.str_of(o, "master").map(str::to_string);
            if let Some(d) = o.get("dst") {
                match d.str().and_then(lex::ipv4) {
                    Some(a) => e.dst = Some(a),
                    None if d.str().map(lex::looks_ipv6) == Some(true) => {
                        ctx.v6 += 1;
                        e.raw_flags.push(format!("dst {}", d.str().unwrap_or("")));
                    }
                    None => ctx.bad(d, "dst", "an IPv4 address"),
                }
            }
            e.vlan = ctx.u64_of(o, "vlan").map(|v| v as u16);
            e.vni = ctx.u64_of(o, "vni").map(|v| v as u32);
            e.port = ctx.u64_of(o, "port").map(|v| v as u16);
            if let Some(v) = ctx.str_of(o, "viaIf") {
                e.raw_flags.push(format!("via {v}"));
            }
            if let Some(f) = o.get("flags").and_then(|f| f.arr()) {
                for x in f {
                    match x.str() {
                        Some("self") => e.is_self = true,
                        Some("master") => {}
                        Some("extern_learn") => e.extern_learn = true,
                        Some(other) => e.raw_flags.push(other.to_string()),
                        None => ctx.bad(x, "flags", "strings"),
                    }
                }
            }
            match o.get("state").and_then(|s| s.str()) {
                Some("permanent") => e.permanent = true,
                Some("static") => e.is_static = true,
                Some("") | None => {}
                Some(other) => e.raw_flags.push(other.to_string()),
            }
            out.push(e);
        }
    }
    if ctx.v6 > 0 {
        let n = ctx.v6;
        ctx.diags.push(Diagnostic::info(Span::new(file, 1, 0), "ipv6-ignored", format!("{n} fdb entries with an IPv6 remote kept without a modelled `dst`")));
    }
    ctx.finish(out)
}

fn text_form(file: &str, text: &str, dev: Option<&str>) -> Counted<Vec<FdbEntry>> {
    let mut diags = Vec::new();
    let mut out = Vec::new();
    let mut v6 = 0;
    let mut warned_dev = false;
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
        let Some(mac) = Mac::parse(ws[0].text) else {
            diags.push(
                Diagnostic::error(
                    Span::new(file, ln, ws[0].col),
                    "bad-value",
                    format!("expected a MAC address at the start of an fdb line, found `{}`: line skipped", ws[0].text),
                )
                .with_expected("a MAC address", ws[0].text),
            );
            continue;
        };
        let mut e = blank(mac);
        let mut i = 1;
        let next = |i: &mut usize| -> Option<lex::Word<'_>> {
            *i += 1;
            ws.get(*i - 1).copied()
        };
        while i < ws.len() {
            let w = ws[i];
            i += 1;
            match w.text {
                "dev" => {
                    let mut v = next(&mut i);
                    if v.map(|x| x.text) == Some("dev") {
                        diags.push(Diagnostic::info(
                            Span::new(file, ln, w.col),
                            "dev-dev",
                            "`dev dev NAME`: the word `dev` is printed twice by some iproute2 versions; read as `dev NAME`",
                        ));
                        v = next(&mut i);
                    }
                    e.dev = v.map(|x| x.text.to_string()).unwrap_or_default();
                }
                "master" => e.master = next(&mut i).map(|x| x.text.to_string()),
                "dst" => match next(&mut i) {
                    Some(x) => match lex::ipv4(x.text) {
                        Some(a) => e.dst = Some(a),
                        None if lex::looks_ipv6(x.text) => {
                            v6 += 1;
                            e.raw_flags.push(format!("dst {}", x.text));
                        }
                        None => diags.push(Diagnostic::error(Span::new(file, ln, x.col), "bad-value", format!("expected an IPv4 `dst`, found `{}`", x.text))),
                    },
                    None => diags.push(Diagnostic::error(Span::new(file, ln, w.col), "bad-value", "`dst` without an address")),
                },
                "vlan" => e.vlan = next(&mut i).and_then(|x| x.text.parse().ok()),
                "vni" => e.vni = next(&mut i).and_then(|x| x.text.parse().ok()),
                "port" => e.port = next(&mut i).and_then(|x| x.text.parse().ok()),
                "via" | "nhid" | "src_vni" => {
                    if let Some(x) = next(&mut i) {
                        e.raw_flags.push(format!("{} {}", w.text, x.text));
                    }
                }
                "used" => {
                    let _ = next(&mut i);
                }
                "self" => e.is_self = true,
                "permanent" => e.permanent = true,
                "static" => e.is_static = true,
                "extern_learn" => e.extern_learn = true,
                "offload" | "sticky" | "router" | "dynamic" | "locked" | "blackhole" | "activity_notify" | "inactive" => e.raw_flags.push(w.text.to_string()),
                k if lex::starts_annotation(k) => {
                    let rest = lex::rest_of_line(l, &ws, i - 1);
                    diags.push(lex::annotation(file, ln, w.col, rest));
                    break;
                }
                k => diags.push(Diagnostic::warning(
                    Span::new(file, ln, w.col),
                    "unknown-keyword",
                    format!("`{k}` is not a known `bridge fdb` keyword: ignored"),
                )),
            }
        }
        if e.dev.is_empty() {
            match dev {
                Some(d) => e.dev = d.to_string(),
                None if !warned_dev => {
                    warned_dev = true;
                    diags.push(Diagnostic::warning(
                        Span::new(file, ln, 0),
                        "missing-dev",
                        "fdb entry without `dev` (the output of `bridge fdb show dev X` omits it): the device is unknown; pass it to the importer",
                    ));
                }
                None => {}
            }
        }
        out.push(e);
    }
    if v6 > 0 {
        diags.push(Diagnostic::info(Span::new(file, 1, 0), "ipv6-ignored", format!("{v6} fdb entries with an IPv6 remote kept without a modelled `dst`")));
    }
    Counted { parsed: Parsed { value: out, diagnostics: diags }, ipv6_ignored: v6 }
}

/// `brctl showmacs BR`: `port no  mac addr  is local?  ageing timer`. Ports are bridge port
/// numbers, not device names, so entries keep the number in `raw_flags` and no device.
fn brctl(file: &str, text: &str, bridge: Option<&str>) -> Counted<Vec<FdbEntry>> {
    let mut diags = vec![Diagnostic::warning(
        Span::new(file, 1, 0),
        "brctl-ports",
        "`brctl showmacs` names bridge ports by number, not by device: the device of each entry is unknown (collect `bridge -j fdb show` instead)",
    )];
    let mut out = Vec::new();
    for (ln, l) in lex::lines(text).skip(1) {
        let ws = lex::words(l);
        if ws.is_empty() {
            continue;
        }
        let (Some(port), Some(mac), Some(local)) = (ws.first(), ws.get(1).and_then(|w| Mac::parse(w.text)), ws.get(2)) else {
            diags.push(Diagnostic::error(Span::new(file, ln, ws[0].col), "syntax", "expected `PORT MAC yes|no AGEING`: line skipped"));
            continue;
        };
        let mut e = blank(mac);
        e.master = bridge.map(str::to_string);
        e.permanent = local.text == "yes";
        e.raw_flags.push(format!("brctl-port {}", port.text));
        if let Some(a) = ws.get(3) {
            e.raw_flags.push(format!("ageing {}", a.text));
        }
        out.push(e);
    }
    Counted { parsed: Parsed { value: out, diagnostics: diags }, ipv6_ignored: 0 }
}
