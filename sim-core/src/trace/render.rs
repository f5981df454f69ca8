//! Renderers: a text walk through the kernel (the teaching view), JSON (the contract's answer),
//! and the netfilter hook diagram in DOT or mermaid with the path lit up. They read traces only.

use crate::model::packet::Packet;
use crate::trace::{FlowResult, Outcome, Step, StepKind};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Text rendering options.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextOptions {
    /// ANSI colours (the CLI turns them on only for a terminal without `NO_COLOR`).
    pub color: bool,
    /// Print every step (false: only the headline and summary of each outcome).
    pub steps: bool,
}

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    fn verdict(&self, v: &str) -> String {
        let code = match v {
            "DROP" | "REJECT" | "drop" => "1;31",
            "ACCEPT" | "accept" => "32",
            "DNAT" | "SNAT" | "MASQUERADE" | "REDIRECT" | "NETMAP" => "1;33",
            _ => "36",
        };
        self.wrap(code, v)
    }
}

/// `10.0.0.1:40000 -> 10.96.0.10:80/tcp`, or the ICMP form.
pub fn packet_brief(p: &Packet) -> String {
    match p.proto {
        6 | 17 | 132 => format!("{}:{} -> {}:{}/{}", p.src, p.sport, p.dst, p.dport, crate::model::types::proto_name(p.proto).unwrap_or("?")),
        1 => format!("{} -> {} icmp type {} code {}", p.src, p.dst, p.icmp_type, p.icmp_code),
        n => format!("{} -> {} proto {}", p.src, p.dst, n),
    }
}

fn step_line(s: &Step, paint: &Paint) -> String {
    let ns = paint.dim(&format!("[{}]", s.ns));
    match &s.kind {
        StepKind::Netfilter { hook, table, chain, rule, line, file, text, verdict } => {
            let place = if *rule == 0 { format!("{chain} policy") } else { format!("{chain} #{rule}") };
            let verdict = if *rule == 0 { verdict.strip_prefix("policy ").unwrap_or(verdict) } else { verdict };
            let loc = if *line > 0 { format!(" ({file}:{line})") } else { String::new() };
            let mut o = format!("{ns} {:<11} {:<8} {}{} {}", hook, table, place, paint.dim(&loc), paint.verdict(verdict));
            if !text.is_empty() {
                let _ = write!(o, "\n      {}", paint.dim(text));
            }
            o
        }
        StepKind::Route { table, route, result } => format!("{ns} routing     table {table}: {route} => {result}"),
        StepKind::FibRule { priority, text } => format!("{ns} ip rule     {priority}: {text}"),
        StepKind::Device { dev, action } => format!("{ns} device      {dev}: {action}"),
        StepKind::Conntrack { state, orig, reply } => {
            format!("{ns} conntrack   {state}: original {orig}, reply {reply}")
        }
        StepKind::Note { text } => format!("{ns} note        {text}"),
    }
}

fn reversed(p: &Packet) -> Packet {
    Packet { src: p.dst, dst: p.src, sport: p.dport, dport: p.sport, ..p.clone() }
}

/// What a packet looked like just before a step rewrote it into `new`: a NAT rewrite changes
/// one endpoint, so `new` differs from the previous packet in one endpoint (same direction), or
/// from its reverse (the reply's way back). `None` when neither holds (a new packet).
fn rewrite_base(prev: &Packet, new: &Packet) -> Option<Packet> {
    let ends = |p: &Packet| ((p.src, p.sport), (p.dst, p.dport));
    for cand in [prev.clone(), reversed(prev)] {
        let (a, b) = (ends(&cand), ends(new));
        if cand.proto == new.proto && (a.0 == b.0 || a.1 == b.1) {
            return Some(cand);
        }
    }
    None
}

/// One outcome's headline: probability, result, where it ended.
pub fn outcome_headline(o: &Outcome) -> String {
    let mut h = format!("p={:.4} {}", o.probability, o.result.as_string());
    match (&o.at, &o.seen) {
        (Some(at), Some(seen)) => {
            let _ = write!(h, ", delivered at {at} as {} -> {}/{}", seen.src, seen.dst, seen.proto);
        }
        (Some(at), None) => {
            let _ = write!(h, ", at {at}");
        }
        _ => {}
    }
    if let Some(r) = o.reason {
        let _ = write!(h, ", {} ({})", serde_plain(&o.disposition), r.as_str());
    }
    h
}

fn serde_plain<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// The teaching view: every step, every rewrite as before => after, and a closing sentence.
pub fn text(results: &[FlowResult], opts: TextOptions) -> String {
    let paint = Paint(opts.color);
    let mut out = String::new();
    for r in results {
        let _ = writeln!(out, "{}", paint.bold(&format!("flow {}", r.flow)));
        let n = r.outcomes.len();
        for (i, o) in r.outcomes.iter().enumerate() {
            let _ = writeln!(out, "  outcome {}/{}: {}", i + 1, n, outcome_headline(o));
            if opts.steps {
                let mut last: Option<Packet> = None;
                for s in &o.steps {
                    for l in step_line(s, &paint).lines() {
                        let _ = writeln!(out, "    {l}");
                    }
                    if let Some(p) = &s.packet_after {
                        match last.as_ref().map(|prev| rewrite_base(prev, p)) {
                            Some(Some(before)) if before != *p => {
                                let _ = writeln!(out, "      {} {} => {}", paint.wrap("1;33", "rewrite"), packet_brief(&before), packet_brief(p));
                            }
                            Some(Some(_)) => {}
                            _ => {
                                let _ = writeln!(out, "      packet {}", packet_brief(p));
                            }
                        }
                        last = Some(p.clone());
                    }
                }
            }
            if let Some(ind) = &o.indeterminate {
                let _ = writeln!(out, "    {} {}", paint.wrap("1;35", "indeterminate:"), ind);
            }
            let _ = writeln!(out, "    => {}", paint.bold(&o.summary));
        }
    }
    out
}

/// The contract's answer (interface.md §4), pretty-printed; keys in a fixed order.
pub fn json(results: &[FlowResult]) -> String {
    let v = if results.len() == 1 { serde_json::to_value(&results[0]) } else { serde_json::to_value(results) };
    v.and_then(|v| serde_json::to_string_pretty(&v)).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// The boxes of the IPv4 netfilter diagram, in the order a packet can cross them.
const HOOK_BOXES: &[(&str, &str)] = &[
    ("PREROUTING", "raw"),
    ("PREROUTING", "mangle"),
    ("PREROUTING", "nat"),
    ("ROUTING", "input"),
    ("INPUT", "mangle"),
    ("INPUT", "filter"),
    ("INPUT", "security"),
    ("INPUT", "nat"),
    ("LOCAL", "process"),
    ("ROUTING", "output"),
    ("OUTPUT", "raw"),
    ("OUTPUT", "mangle"),
    ("OUTPUT", "nat"),
    ("OUTPUT", "filter"),
    ("OUTPUT", "security"),
    ("FORWARD", "mangle"),
    ("FORWARD", "filter"),
    ("FORWARD", "security"),
    ("POSTROUTING", "mangle"),
    ("POSTROUTING", "nat"),
];

/// Edges of the diagram (the kernel's fixed order between boxes).
const HOOK_EDGES: &[(usize, usize)] = &[
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 4),
    (4, 5),
    (5, 6),
    (6, 7),
    (7, 8),
    (8, 9),
    (9, 10),
    (10, 11),
    (11, 12),
    (12, 13),
    (13, 14),
    (14, 18),
    (3, 15),
    (15, 16),
    (16, 17),
    (17, 18),
    (18, 19),
];

#[derive(Default)]
struct Lit {
    crossed: BTreeSet<usize>,
    rules: BTreeMap<usize, Vec<String>>,
    dropped_at: Option<usize>,
}

fn box_index(hook: &str, table: &str) -> Option<usize> {
    let h = hook.to_ascii_uppercase();
    HOOK_BOXES.iter().position(|(bh, bt)| *bh == h && *bt == table)
}

/// Which boxes each namespace's part of an outcome crossed, and the rules that matched there.
fn light(o: &Outcome) -> BTreeMap<String, Lit> {
    let mut per_ns: BTreeMap<String, Lit> = BTreeMap::new();
    let mut last_box: BTreeMap<String, usize> = BTreeMap::new();
    for s in &o.steps {
        let lit = per_ns.entry(s.ns.clone()).or_default();
        match &s.kind {
            StepKind::Netfilter { hook, table, chain, rule, verdict, .. } => {
                if let Some(i) = box_index(hook, table) {
                    lit.crossed.insert(i);
                    let what = if *rule == 0 { format!("{chain} policy {verdict}") } else { format!("{chain} #{rule} {verdict}") };
                    lit.rules.entry(i).or_default().push(what);
                    last_box.insert(s.ns.clone(), i);
                    if verdict == "DROP" || verdict == "REJECT" {
                        lit.dropped_at = Some(i);
                    }
                }
            }
            StepKind::Route { .. } => {
                // Input routing follows PREROUTING; output routing precedes OUTPUT.
                let i = match last_box.get(&s.ns) {
                    Some(&b) if b <= 2 => 3,
                    Some(&b) if (3..=8).contains(&b) => 9,
                    None => 9,
                    Some(_) => 3,
                };
                lit.crossed.insert(i);
                last_box.insert(s.ns.clone(), i);
            }
            _ => {}
        }
    }
    if o.reason.is_some() {
        if let Some(step) = o.steps.last() {
            if let (Some(lit), Some(&b)) = (per_ns.get_mut(&step.ns), last_box.get(&step.ns)) {
                lit.dropped_at.get_or_insert(b);
            }
        }
    }
    per_ns
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The netfilter diagram per outcome and namespace, in Graphviz DOT: boxes crossed are filled,
/// matched rules are listed in them, the drop point is red.
pub fn dot(results: &[FlowResult]) -> String {
    let mut out = String::new();
    for r in results {
        for (oi, o) in r.outcomes.iter().enumerate() {
            let _ = writeln!(out, "digraph \"{}\" {{", dot_escape(&format!("{} outcome {}", r.flow, oi + 1)));
            let _ = writeln!(out, "  rankdir=LR; node [shape=box, fontname=\"monospace\", fontsize=10];");
            let _ = writeln!(out, "  label=\"{}\"; labelloc=t;", dot_escape(&format!("{}: {}\\n{}", r.flow, outcome_headline(o), o.summary)));
            for (ci, (ns, lit)) in light(o).iter().enumerate() {
                let _ = writeln!(out, "  subgraph cluster_{ci} {{ label=\"{}\";", dot_escape(ns));
                for (i, (hook, table)) in HOOK_BOXES.iter().enumerate() {
                    let mut label = format!("{hook}\\n{table}");
                    for rl in lit.rules.get(&i).into_iter().flatten() {
                        label.push_str("\\n");
                        label.push_str(&dot_escape(rl));
                    }
                    let style = if lit.dropped_at == Some(i) {
                        ", style=filled, fillcolor=\"#f4a6a6\", penwidth=2"
                    } else if lit.crossed.contains(&i) {
                        ", style=filled, fillcolor=\"#a6d8f4\", penwidth=2"
                    } else {
                        ", color=gray, fontcolor=gray"
                    };
                    let _ = writeln!(out, "    n{ci}_{i} [label=\"{label}\"{style}];");
                }
                for (a, b) in HOOK_EDGES {
                    let hot = lit.crossed.contains(a) && lit.crossed.contains(b);
                    let _ = writeln!(out, "    n{ci}_{a} -> n{ci}_{b}{};", if hot { " [penwidth=2.5]" } else { " [color=gray]" });
                }
                let _ = writeln!(out, "  }}");
            }
            let _ = writeln!(out, "}}");
        }
    }
    out
}

/// The same diagram as a mermaid flowchart (for Markdown pages).
pub fn mermaid(results: &[FlowResult]) -> String {
    let mut out = String::new();
    for r in results {
        for (oi, o) in r.outcomes.iter().enumerate() {
            let _ = writeln!(out, "%% {} outcome {}: {}", r.flow, oi + 1, outcome_headline(o));
            let _ = writeln!(out, "flowchart LR");
            for (ci, (ns, lit)) in light(o).iter().enumerate() {
                let _ = writeln!(out, "  subgraph s{ci}[\"{}\"]", ns.replace('"', "'"));
                for (i, (hook, table)) in HOOK_BOXES.iter().enumerate() {
                    let mut label = format!("{hook} {table}");
                    for rl in lit.rules.get(&i).into_iter().flatten() {
                        label.push_str("<br/>");
                        label.push_str(&rl.replace('"', "'"));
                    }
                    let _ = writeln!(out, "    n{ci}_{i}[\"{label}\"]");
                }
                for (a, b) in HOOK_EDGES {
                    let _ = writeln!(out, "    n{ci}_{a} --> n{ci}_{b}");
                }
                let _ = writeln!(out, "  end");
                for i in &lit.crossed {
                    let class = if lit.dropped_at == Some(*i) { "dropped" } else { "crossed" };
                    let _ = writeln!(out, "  class n{ci}_{i} {class}");
                }
            }
            let _ = writeln!(out, "  classDef crossed fill:#a6d8f4,stroke:#333,stroke-width:2px");
            let _ = writeln!(out, "  classDef dropped fill:#f4a6a6,stroke:#900,stroke-width:2px");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{ClientResult, Disposition, DropReason, Seen};

    fn pkt(dst: [u8; 4], dport: u16) -> Packet {
        Packet {
            src: [10, 244, 0, 2].into(),
            dst: dst.into(),
            proto: 6,
            sport: 40000,
            dport,
            icmp_type: 0,
            icmp_code: 0,
            tcp_flags: 2,
            ttl: 64,
            tos: 0,
            len: 60,
            frag_off: 0,
            eth_src: None,
            eth_dst: None,
        }
    }

    fn sample() -> FlowResult {
        let nf = |chain: &str, rule, verdict: &str, after: Option<Packet>| Step {
            ns: "node-a".into(),
            kind: StepKind::Netfilter {
                hook: "PREROUTING".into(),
                table: "nat".into(),
                chain: chain.into(),
                rule,
                line: 57,
                file: "iptables-save.txt".into(),
                text: format!("-A {chain} -j {verdict}"),
                verdict: verdict.into(),
            },
            packet_after: after,
        };
        FlowResult {
            flow: "pod-to-clusterip".into(),
            outcomes: vec![
                Outcome {
                    probability: 1.0,
                    result: ClientResult::Connected,
                    at: Some("pod-b1".into()),
                    seen: Some(Seen { src: "10.244.0.2:40000".into(), dst: "10.244.1.2:8080".into(), proto: "tcp".into() }),
                    disposition: Disposition::Delivered,
                    reason: None,
                    indeterminate: None,
                    summary: "Connected: DNAT to 10.244.1.2:8080 by KUBE-SEP-ABC.".into(),
                    steps: vec![
                        Step { ns: "pod-a1".into(), kind: StepKind::Note { text: "sends".into() }, packet_after: Some(pkt([10, 96, 0, 10], 80)) },
                        nf("KUBE-SEP-ABC", 2, "DNAT", Some(pkt([10, 244, 1, 2], 8080))),
                    ],
                },
                Outcome {
                    probability: 0.0,
                    result: ClientResult::Timeout,
                    at: None,
                    seen: None,
                    disposition: Disposition::Dropped,
                    reason: Some(DropReason::Rule),
                    indeterminate: None,
                    summary: "Dropped.".into(),
                    steps: vec![nf("KUBE-FW", 1, "DROP", None)],
                },
            ],
        }
    }

    #[test]
    fn text_shows_rewrites_and_rules() {
        let t = text(&[sample()], TextOptions { color: false, steps: true });
        assert!(t.contains("KUBE-SEP-ABC #2 (iptables-save.txt:57) DNAT"), "{t}");
        assert!(t.contains("rewrite 10.244.0.2:40000 -> 10.96.0.10:80/tcp => 10.244.0.2:40000 -> 10.244.1.2:8080/tcp"), "{t}");
        assert!(!t.contains('\x1b'));
        assert!(text(&[sample()], TextOptions { color: true, steps: true }).contains("\x1b[1;33mDNAT"));
    }

    #[test]
    fn json_follows_the_contract() {
        let v: serde_json::Value = serde_json::from_str(&json(&[sample()])).unwrap_or_default();
        assert_eq!(v["flow"], "pod-to-clusterip");
        assert_eq!(v["outcomes"][0]["result"], "connected");
        assert_eq!(v["outcomes"][1]["reason"], "rule");
        assert_eq!(v["outcomes"][0]["steps"][1]["kind"], "netfilter");
        assert_eq!(v["outcomes"][0]["steps"][1]["chain"], "KUBE-SEP-ABC");
        assert_eq!(v["outcomes"][0]["steps"][1]["line"], 57);
    }

    #[test]
    fn diagrams_light_the_path_and_the_drop() {
        let d = dot(&[sample()]);
        assert_eq!(d.matches("digraph").count(), 2);
        assert!(d.contains("KUBE-SEP-ABC #2 DNAT\", style=filled, fillcolor=\"#a6d8f4\""), "{d}");
        assert!(d.contains("KUBE-FW #1 DROP\", style=filled, fillcolor=\"#f4a6a6\""), "{d}");
        let m = mermaid(&[sample()]);
        assert!(m.contains("class n0_2 dropped") || m.contains("class n0_2 crossed"), "{m}");
    }
}
