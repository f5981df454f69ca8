//! The real dumps in /work/shared/corpus/iptables and iptables-t/shell-test-dumps (SOURCES.md
//! says where each came from): complete IPv4 dumps import with zero errors and survive
//! save -> parse unchanged; the damaged ones get the precise diagnostics asserted here.

use sim_core::diag::{Diagnostic, Parsed, Severity};
use sim_core::model::ruleset::{Match, Policy, Ruleset, TableName, Target};
use sim_core::parse::iptables_save;

const DIR: &str = "/work/shared/corpus/iptables";
const SHELL: &str = "/work/shared/corpus/iptables-t/shell-test-dumps";

fn load(dir: &str, f: &str) -> (String, Parsed<Ruleset>) {
    let text = std::fs::read_to_string(format!("{dir}/{f}")).expect("corpus file");
    let p = iptables_save::parse(f, &text);
    (text, p)
}

fn errors(p: &Parsed<Ruleset>) -> Vec<&Diagnostic> {
    p.diagnostics.iter().filter(|d| d.severity == Severity::Error).collect()
}

fn files(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).expect("dir").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// The model without source positions (and without the icmp type names a user may write but
/// iptables-save prints as numbers), for comparing a dump with its re-read canonical form.
fn normalized(rs: &Ruleset) -> Ruleset {
    let mut r = rs.clone();
    r.sources.clear();
    r.source_names.clear();
    for t in &mut r.tables {
        t.line = 0;
        for c in &mut t.chains {
            c.line = 0;
            for rule in &mut c.rules {
                rule.line = 0;
                rule.text = Default::default();
                for m in &mut rule.matches {
                    if let Match::Icmp(i) = m {
                        i.name = None;
                    }
                }
            }
        }
    }
    r
}

/// save(parse(text)) reads back to the same model with no diagnostics, and printing is stable.
fn assert_round_trip(f: &str, p: &Parsed<Ruleset>) {
    let s1 = iptables_save::save(&p.value);
    let p2 = iptables_save::parse("saved", &s1);
    assert!(errors(&p2).is_empty(), "{f}: canonical text does not re-read cleanly: {:?}\n{s1}", errors(&p2));
    assert_eq!(normalized(&p.value), normalized(&p2.value), "{f}: model changed through save -> parse");
    assert_eq!(s1, iptables_save::save(&p2.value), "{f}: printing is not stable");
}

fn lines_with(text: &str, needle: &str) -> Vec<u32> {
    text.lines().enumerate().filter(|(_, l)| l.contains(needle)).map(|(i, _)| i as u32 + 1).collect()
}

#[test]
fn complete_ipv4_dumps_import_without_errors_and_round_trip() {
    let special = ["FRAGMENT-", "ANNOTATED", "garbled-dnat", ".ip6tables.", "tum-router", "parser-test-edgecases"];
    let mut n = 0;
    for f in files(DIR) {
        if special.iter().any(|s| f.contains(s)) {
            continue;
        }
        let (_, p) = load(DIR, &f);
        assert!(errors(&p).is_empty(), "{f}: {:#?}", errors(&p));
        assert!(p.value.rule_count() > 0, "{f}: no rules");
        assert_round_trip(&f, &p);
        n += 1;
    }
    assert_eq!(n, 14, "number of complete IPv4 dumps checked");
}

#[test]
fn best_full_dump_counts_and_backend() {
    let (_, p) = load(DIR, "k3s-v1.30.6-flannel-kuberouter-netpol-netbird-ddanielgal-ytdl.rules");
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let rs = &p.value;
    assert_eq!(rs.rule_count(), 315);
    let shape: Vec<(TableName, usize, usize)> = rs.tables.iter().map(|t| (t.name, t.chains.len(), t.rule_count())).collect();
    assert_eq!(shape, vec![(TableName::Mangle, 8, 0), (TableName::Filter, 27, 210), (TableName::Nat, 47, 105)]);
    assert_eq!(rs.backend.version.as_deref(), Some("1.8.10"));
    assert_eq!(rs.backend.nft, Some(true));
    let nat = rs.table(TableName::Nat).expect("nat");
    let sep_rules = nat.chains.iter().filter(|c| c.name.starts_with("KUBE-SVC-") || c.name.starts_with("KUBE-SEP-")).map(|c| c.rules.len()).sum::<usize>();
    assert_eq!(sep_rules, 56, "rules in KUBE-SVC-*/KUBE-SEP-* chains");
    let mentioning = rs.tables.iter().flat_map(|t| &t.chains).flat_map(|c| &c.rules).filter(|r| {
        let t = rs.rule_text(r);
        t.contains("KUBE-SVC-") || t.contains("KUBE-SEP-")
    });
    assert_eq!(mentioning.count(), 75, "rules naming KUBE-SVC/SEP chains (103 lines with their 28 declarations)");
    // Every rule points back at its own text.
    for t in &rs.tables {
        for c in &t.chains {
            for r in &c.rules {
                assert!(rs.rule_text(r).starts_with(&format!("-A {} ", c.name)) || rs.rule_text(r) == format!("-A {}", c.name), "{}", rs.rule_text(r));
            }
        }
    }
}

#[test]
fn other_counts() {
    let (_, p) = load(DIR, "nonk8s-medium-company-diekmann-Iptables_Semantics.rules");
    let names: Vec<TableName> = p.value.tables.iter().map(|t| t.name).collect();
    assert_eq!(names, vec![TableName::Security, TableName::Raw, TableName::Mangle, TableName::Nat, TableName::Filter]);
    assert_eq!(p.value.rule_count(), 598);
    let (_, p) = load(DIR, "nonk8s-ugent-server-diekmann-Iptables_Semantics.rules");
    assert_eq!(p.value.rule_count(), 232);
    let input = p.value.table(TableName::Filter).and_then(|t| t.chain("INPUT")).expect("INPUT");
    assert_eq!(input.policy, Some(Policy::Drop));
}

#[test]
fn counters_from_iptables_save_c() {
    let (_, p) = load(DIR, "k3s-docker-iptables-save-c-counters-unknownrepo.rules");
    assert!(errors(&p).is_empty());
    let raw = p.value.table(TableName::Raw).expect("raw");
    let pre = raw.chain("PREROUTING").expect("chain");
    assert_eq!(pre.counters.map(|c| (c.packets, c.bytes)), Some((8488585, 2225268588)));
    let nat = p.value.table(TableName::Nat).expect("nat");
    let r = &nat.chain("PREROUTING").expect("chain").rules[0];
    assert_eq!(r.line, 34);
    assert_eq!(r.counters.as_ref().map(|c| (c.packets, c.bytes)), Some((402612, 15051273)));
    assert_eq!(r.target, Target::Jump("KUBE-SERVICES".into()));
    // The text reference skips the counter prefix.
    assert!(p.value.rule_text(r).starts_with("-A PREROUTING -m comment"));
    let every_rule_counted = p.value.tables.iter().flat_map(|t| &t.chains).flat_map(|c| &c.rules).all(|r| r.counters.is_some());
    assert!(every_rule_counted);
}

#[test]
fn fragments_get_one_clear_diagnostic() {
    let mut n = 0;
    for f in files(DIR).into_iter().filter(|f| f.starts_with("FRAGMENT-")) {
        let (text, p) = load(DIR, &f);
        assert_eq!(p.diagnostics.len(), 1, "{f}: {:?}", p.diagnostics);
        let d = &p.diagnostics[0];
        assert_eq!((d.severity, d.code.as_str(), d.span.line, d.span.col), (Severity::Error, "rule-outside-table", 1, 1), "{f}");
        assert!(d.message.contains("iptables-save | grep"), "{}", d.message);
        let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
        assert!(d.message.contains(&format!("The {lines} line(s)")), "{f}: {}", d.message);
        assert!(p.value.tables.is_empty());
        n += 1;
    }
    assert_eq!(n, 5);
}

#[test]
fn annotated_dump_without_commit() {
    let (_, p) = load(DIR, "cilium-kubeproxy-ipvs-tproxy-ANNOTATED-nocommit-tanjunchen-blog.rules");
    let e: Vec<(&str, u32)> = errors(&p).iter().map(|d| (d.code.as_str(), d.span.line)).collect();
    assert_eq!(e, vec![("missing-commit", 30), ("missing-commit", 49), ("missing-commit", 101), ("missing-commit", 179)]);
    assert!(errors(&p)[3].message.contains("truncated dump: table nat"));
    assert_eq!(p.diagnostics.len(), 4, "the author's `#` lines are comments: {:?}", p.diagnostics);
    // The rules are real and kept.
    assert_eq!(p.value.rule_count(), 70);
    let mangle = p.value.table(TableName::Mangle).expect("mangle");
    let tproxy = mangle.chain("CILIUM_PRE_mangle").expect("chain").rules.iter().filter(|r| matches!(r.target, Target::Tproxy(_))).count();
    assert_eq!(tproxy, 4);
}

#[test]
fn garbled_dnat_is_diagnosed_and_unreadable() {
    let (text, p) = load(DIR, "rke-ipvs-cilium-nodelocaldns-garbled-dnat-unknownrepo.rules");
    let want = lines_with(&text, "-j DNAT --to-destination  --random");
    let mut want: Vec<u32> = want.into_iter().chain(lines_with(&text, "--to-destination :0")).collect();
    want.sort();
    assert_eq!(want, vec![122, 124, 126, 128, 130, 132, 134]);
    let got: Vec<u32> = errors(&p).iter().map(|d| d.span.line).collect();
    assert_eq!(got, want);
    for d in errors(&p) {
        assert_eq!(d.code, "garbled-nat-target");
        assert!(d.message.contains("DNAT target printed by an iptables that does not understand the kernel's target revision"), "{}", d.message);
    }
    let nat = p.value.table(TableName::Nat).expect("nat");
    let unreadable: Vec<u32> = nat.chains.iter().flat_map(|c| &c.rules).filter(|r| r.unreadable.is_some()).map(|r| r.line).collect();
    assert_eq!(unreadable, want);
    for r in nat.chains.iter().flat_map(|c| &c.rules).filter(|r| r.unreadable.is_some()) {
        assert!(matches!(&r.target, Target::Unsupported { name, .. } if name == "DNAT"), "{:?}", r.target);
    }
    assert_eq!(p.value.rule_count(), 93);
}

#[test]
fn edge_cases_file() {
    let (_, p) = load(DIR, "nonk8s-parser-test-edgecases-diekmann-Iptables_Semantics.rules");
    let d: Vec<(Severity, &str, u32, u32)> = p.diagnostics.iter().map(|d| (d.severity, d.code.as_str(), d.span.line, d.span.col)).collect();
    assert_eq!(
        d,
        vec![(Severity::Error, "unknown-option", 12, 55), (Severity::Warning, "unsupported-match", 40, 31), (Severity::Warning, "unsupported-match", 41, 34)]
    );
    assert!(p.diagnostics[1].message.contains("-m icmp6"));
    let fw = p.value.table(TableName::Filter).expect("filter");
    let rules = &fw.chain("FORWARD").expect("FORWARD").rules;
    // `--log-prefix "!#*~%&/()=?"` and `-g Terminal`.
    assert!(matches!(&rules[0].target, Target::Log(l) if l.prefix.as_deref() == Some("!#*~%&/()=?")));
    assert!(rules.iter().any(|r| r.target == Target::Goto("Terminal".into())));
    let dos = &fw.chain("DOS~Pro-t_ect").expect("chain").rules;
    let comments: Vec<&str> = dos.iter().flat_map(|r| &r.matches).filter_map(|m| if let Match::Comment(c) = m { Some(c.as_str()) } else { None }).collect();
    assert_eq!(comments, vec!["!", "has space", "this module only works for ip6tables but -p icmpv6 is fine", "\""]);
    // `--icmp-type 3/4`.
    assert!(dos.iter().flat_map(|r| &r.matches).any(|m| matches!(m, Match::Icmp(i) if i.icmp_type == 3 && i.code_min == 4)));
    assert!(rules[2].unreadable.is_some(), "the rule with the bogus option is kept as unreadable");
}

#[test]
fn escaped_quote_comment_reads_like_iptables_restore() {
    let text = std::fs::read_to_string(format!("{DIR}/FRAGMENT-aks-azure-ip-masq-agent-grep-masq-escaped-quote-comment-vijayrod-demo.rules")).expect("file");
    let p = iptables_save::parse("x", &format!("*nat\n:POSTROUTING ACCEPT [0:0]\n:IP-MASQ-AGENT - [0:0]\n{text}COMMIT\n"));
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let r = &p.value.tables[0].chain("POSTROUTING").expect("chain").rules[0];
    assert_eq!(
        r.matches[0],
        Match::Comment("\"ip-masq-agent: ensure nat POSTROUTING directs all non-LOCAL destination traffic to our custom IP-MASQ-AGENT chain\"".into())
    );
    let saved = iptables_save::save_rule("POSTROUTING", r);
    assert!(saved.contains(r#"--comment "\"ip-masq-agent: ensure"#), "{saved}");
    assert_eq!(saved, p.value.rule_text(r));
}

#[test]
fn ipv6_dumps_are_named_as_such() {
    for f in files(DIR).into_iter().filter(|f| f.contains(".ip6tables.")) {
        let (_, p) = load(DIR, &f);
        assert!(!errors(&p).is_empty());
        for d in errors(&p) {
            assert_eq!(d.code, "ipv6-rule", "{f}: {d}");
        }
    }
}

#[test]
fn redacted_macs_in_the_large_dump() {
    let (text, p) = load(DIR, "nonk8s-large-tum-router-2015-diekmann-Iptables_Semantics.rules");
    assert_eq!(p.value.rule_count(), 4973);
    assert_eq!(p.value.tables.iter().map(|t| t.chains.len()).sum::<usize>(), 98);
    let want = lines_with(&text, "--mac-source XX:XX:XX:XX:XX:XX");
    assert_eq!(want.len(), 1653);
    let got: Vec<u32> = errors(&p).iter().map(|d| d.span.line).collect();
    assert_eq!(got, want);
    assert!(errors(&p).iter().all(|d| d.code == "redacted-value"));
    assert!(p.diagnostics.iter().all(|d| d.severity == Severity::Error));
}

#[test]
fn shell_test_dumps() {
    for f in files(SHELL) {
        let (_, p) = load(SHELL, &f);
        if f.contains("ip6tables") {
            assert!(errors(&p).iter().all(|d| d.code == "ipv6-rule"), "{f}: {:?}", errors(&p));
            continue;
        }
        assert!(errors(&p).is_empty(), "{f}: {:#?}", errors(&p));
        assert_round_trip(&f, &p);
        if f.starts_with("nft-only") {
            let w: Vec<(u32, &str)> = p.diagnostics.iter().map(|d| (d.span.line, d.code.as_str())).collect();
            assert_eq!(w, vec![(12, "unsupported-match"), (13, "unsupported-match"), (14, "unsupported-match"), (15, "unsupported-match")]);
        } else {
            assert!(p.diagnostics.is_empty(), "{f}: {:?}", p.diagnostics);
        }
    }
}
