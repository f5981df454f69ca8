//! `conntrack -L` (and `/proc/net/nf_conntrack`, which adds `ipv4 2` in front) -> entries.
//!
//! The first `src= dst= sport= dport=` group is the original tuple, the second the reply tuple
//! (`ctnetlink` prints them in that order). `[UNREPLIED]` sits between them, `[ASSURED]` after.
//! The conntrack-tools summary line ("N flow entries have been shown.") goes to stderr and may be
//! interleaved anywhere; it is noted, never taken for an entry. IPv6 entries are counted.

use crate::diag::{Diagnostic, Parsed, Span};
use crate::model::conntrack::{CtEntry, CtTuple};
use crate::model::types::proto_number;
use crate::parse::ip_json::Counted;
use crate::parse::ip_text::lex;
use std::net::Ipv4Addr;

pub fn parse(file: &str, text: &str) -> Parsed<Vec<CtEntry>> {
    parse_counted(file, text).parsed
}

const TCP_STATES: &[&str] = &["NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2", "LISTEN"];

#[derive(Default)]
struct Half {
    src: Option<Ipv4Addr>,
    dst: Option<Ipv4Addr>,
    sport: Option<u16>,
    dport: Option<u16>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    icmp_id: Option<u16>,
}

impl Half {
    fn tuple(&self, proto: u8) -> Option<CtTuple> {
        let (src, dst) = (self.src?, self.dst?);
        Some(if proto == 1 {
            CtTuple { src, dst, sport: self.icmp_id.unwrap_or(0), dport: ((self.icmp_type.unwrap_or(0) as u16) << 8) | self.icmp_code.unwrap_or(0) as u16 }
        } else {
            CtTuple { src, dst, sport: self.sport.unwrap_or(0), dport: self.dport.unwrap_or(0) }
        })
    }
}

/// Whether an entry starts at word `i`: `[ipv4 2] PROTO NUM TIMEOUT ...` with NUM the
/// protocol's number.
fn entry_start(ws: &[lex::Word<'_>], i: usize) -> bool {
    let j =
        if matches!(ws.get(i).map(|w| w.text), Some("ipv4" | "ipv6")) && ws.get(i + 1).map(|w| w.text.parse::<u8>().is_ok()) == Some(true) { i + 2 } else { i };
    match (ws.get(j), ws.get(j + 1), ws.get(j + 2)) {
        (Some(p), Some(n), Some(t)) => {
            let num = n.text.parse::<u8>().ok();
            num.is_some() && (proto_number(p.text) == num || p.text == "unknown") && t.text.parse::<u32>().is_ok()
        }
        _ => false,
    }
}

/// `conntrack vX (conntrack-tools): N flow entries have been shown.` starting at word `i`:
/// returns N and the index after the sentence.
fn summary_at(ws: &[lex::Word<'_>], i: usize) -> Option<(usize, usize)> {
    if ws.get(i)?.text != "conntrack" || !ws.get(i + 1)?.text.starts_with('v') {
        return None;
    }
    let k = (i..ws.len()).find(|&k| ws[k].text == "(conntrack-tools):")?;
    let n = ws.get(k + 1)?.text.parse().ok()?;
    let end = (k..ws.len()).find(|&e| ws[e].text.ends_with("shown.")).map(|e| e + 1).unwrap_or(ws.len());
    Some((n, end))
}

pub fn parse_counted(file: &str, text: &str) -> Counted<Vec<CtEntry>> {
    let mut diags = Vec::new();
    let mut out = Vec::new();
    let mut v6 = 0usize;
    let mut summary: Option<(usize, u32)> = None;
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
        let mut i = 0;
        while i < ws.len() {
            if let Some((n, end)) = summary_at(&ws, i) {
                summary = Some((n, ln));
                i = end;
                continue;
            }
            if entry_start(&ws, i) {
                i = entry(file, ln, l, &ws, i, &mut out, &mut v6, &mut diags);
                continue;
            }
            // Words that start no entry: text pasted around the output (a prompt, the
            // command, prose). Reported once per run, up to the next entry or summary.
            let from = i;
            while i < ws.len() && !entry_start(&ws, i) && summary_at(&ws, i).is_none() {
                i += 1;
            }
            let run = ws[from..i].iter().map(|w| w.text).collect::<Vec<_>>().join(" ");
            let short: String = run.chars().take(80).collect();
            if from == 0 && i == ws.len() {
                diags.push(
                    Diagnostic::error(
                        Span::new(file, ln, ws[0].col),
                        "syntax",
                        format!("expected a conntrack entry `PROTO NUM TIMEOUT ...`, found `{short}`: line skipped"),
                    )
                    .with_expected("PROTO NUM TIMEOUT src=...", short),
                );
            } else {
                diags.push(lex::annotation(file, ln, ws[from].col, &short));
            }
        }
    }
    if let Some((n, ln)) = summary {
        let msg = if n > out.len() + v6 {
            format!("conntrack reported {n} entries; this file holds {} (filtered, e.g. with grep, or cut): entries not listed are unknown", out.len() + v6)
        } else {
            format!("conntrack reported {n} entries (summary line from stderr)")
        };
        diags.push(Diagnostic::info(Span::new(file, ln, 1), "summary", msg));
    }
    if v6 > 0 {
        diags.push(Diagnostic::info(Span::new(file, 1, 0), "ipv6-ignored", format!("{v6} IPv6 conntrack entries seen and not modelled")));
    }
    Counted { parsed: Parsed { value: out, diagnostics: diags }, ipv6_ignored: v6 }
}

/// Reads one entry starting at word `i`; returns the index after it (after `use=N`, or where
/// the next entry or the summary starts).
#[allow(clippy::too_many_arguments)]
fn entry(file: &str, ln: u32, l: &str, ws: &[lex::Word<'_>], i: usize, out: &mut Vec<CtEntry>, v6: &mut usize, diags: &mut Vec<Diagnostic>) -> usize {
    let first = ws[i];
    let mut i = i;
    // `/proc/net/nf_conntrack`: `ipv4 2 tcp 6 ...`.
    let mut is_v6 = false;
    if matches!(ws[i].text, "ipv4" | "ipv6") {
        is_v6 = ws[i].text == "ipv6";
        i += 2;
    }
    let (pw, nw, tw) = (ws[i], ws[i + 1], ws[i + 2]);
    let proto = nw.text.parse::<u8>().unwrap_or(0);
    let timeout = tw.text.parse::<u32>().ok();
    i += 3;
    let mut tcp_state = None;
    if let Some(w) = ws.get(i) {
        if !w.text.contains('=') && !w.text.starts_with('[') && !entry_start(ws, i) {
            if proto == 6 && !TCP_STATES.contains(&w.text) {
                diags.push(Diagnostic::warning(Span::new(file, ln, w.col), "unknown-state", format!("TCP state `{}` is not known", w.text)));
            }
            tcp_state = Some(w.text.to_string());
            i += 1;
        }
    }
    let mut halves = [Half::default(), Half::default()];
    let mut h = 0usize;
    let mut seen_src = 0;
    let (mut unreplied, mut assured, mut mark, mut zone) = (false, false, 0u32, 0u16);
    let mut bad = false;
    while i < ws.len() {
        let w = ws[i];
        if (entry_start(ws, i) && seen_src >= 2) || summary_at(ws, i).is_some() {
            break;
        }
        i += 1;
        if let Some((k, v)) = w.text.split_once('=') {
            let num = || v.parse::<u32>().ok();
            match k {
                "src" => {
                    seen_src += 1;
                    h = if seen_src >= 2 { 1 } else { 0 };
                    if lex::looks_ipv6(v) {
                        is_v6 = true;
                    }
                    halves[h].src = lex::ipv4(v);
                }
                "dst" => halves[h].dst = lex::ipv4(v),
                "sport" => halves[h].sport = num().map(|x| x as u16),
                "dport" => halves[h].dport = num().map(|x| x as u16),
                "type" => halves[h].icmp_type = num().map(|x| x as u8),
                "code" => halves[h].icmp_code = num().map(|x| x as u8),
                "id" => halves[h].icmp_id = num().map(|x| x as u16),
                "mark" => match lex::num_u32(v) {
                    Some(m) => mark = m,
                    None => {
                        bad = true;
                        diags.push(Diagnostic::error(Span::new(file, ln, w.col), "bad-value", format!("`mark={v}` is not a number")));
                    }
                },
                "zone" => zone = num().map(|x| x as u16).unwrap_or(0),
                // `use=` is the last field conntrack prints for an entry.
                "use" => break,
                _ => {}
            }
        } else {
            match w.text {
                "[UNREPLIED]" => unreplied = true,
                "[ASSURED]" => assured = true,
                "[OFFLOAD]" | "[HW_OFFLOAD]" => {}
                x if lex::starts_annotation(x) => {
                    let rest = lex::rest_of_line(l, ws, i - 1);
                    diags.push(lex::annotation(file, ln, w.col, rest));
                    i = ws.len();
                    break;
                }
                x => diags.push(Diagnostic::warning(Span::new(file, ln, w.col), "unknown-keyword", format!("`{x}` is not a known conntrack field: ignored"))),
            }
        }
    }
    if is_v6 {
        *v6 += 1;
        return i;
    }
    if bad {
        return i;
    }
    if !matches!(proto, 1 | 6 | 17 | 132 | 136 | 33) {
        diags.push(Diagnostic::warning(
            Span::new(file, ln, pw.col),
            "unsupported",
            format!("conntrack entry for protocol `{}` is kept with addresses only (its keys are not modelled)", pw.text),
        ));
    }
    match (halves[0].tuple(proto), halves[1].tuple(proto)) {
        (Some(orig), Some(reply)) => out.push(CtEntry { proto, timeout, tcp_state, orig, reply, unreplied, assured, mark, zone, line: ln }),
        _ => diags.push(Diagnostic::error(
            Span::new(file, ln, first.col),
            "syntax",
            "conntrack entry without both tuples (`src= dst= ...` twice): entry skipped (cut off?)",
        )),
    }
    i
}
