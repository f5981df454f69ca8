//! iptables' own extension test tables (`extensions/*.t` from iptables 1.8.11, copied into
//! /work/shared/corpus/iptables-t; format described at the end of SOURCES.md) run against the
//! importer and the canonical printer: every OK line of an extension nfpath types must parse
//! without errors and print back as iptables-save prints it, every FAIL line must be refused.
//! Lines of extensions nfpath does not type are skipped and counted.

use sim_core::diag::Severity;
use sim_core::model::ruleset::TableName;
use sim_core::parse::iptables_save::{self, is_supported_match, is_supported_target};

const DIR: &str = "/work/shared/corpus/iptables-t/extensions";

/// FAIL lines whose refusal needs kernel state a dump does not carry, so a text importer must
/// accept them: (file, rule).
const KERNEL_STATE_FAILS: &[(&str, &str, &str)] = &[
    ("libxt_set.t", "-m set --match-set foo src,dst", "fails only because set `foo` does not exist in the kernel"),
    ("libxt_nfacct.t", "-m nfacct --nfacct-name wrong", "fails only because nfacct object `wrong` does not exist"),
];

/// The extension a `.t` file tests, if it is an IPv4 iptables one.
fn extension(file: &str) -> Option<String> {
    if file == "iptables.t" {
        return Some("standard".into());
    }
    let stem = file.strip_suffix(".t")?;
    stem.strip_prefix("libxt_").or_else(|| stem.strip_prefix("libipt_")).map(str::to_string)
}

fn supported(ext: &str) -> bool {
    ext == "standard" || is_supported_match(ext) || is_supported_target(ext)
}

/// The extensions a rule names that nfpath does not type.
fn unsupported_in(rule: &str) -> Vec<String> {
    let w: Vec<&str> = rule.split_whitespace().collect();
    let mut out = Vec::new();
    for i in 0..w.len() {
        let next = w.get(i + 1).copied().unwrap_or("");
        if (w[i] == "-m" || w[i] == "--match") && !is_supported_match(next) {
            out.push(format!("-m {next}"));
        }
        if (w[i] == "-j" || w[i] == "--jump") && !is_supported_target(next) {
            out.push(format!("-j {next}"));
        }
    }
    out
}

#[derive(Default)]
struct Tally {
    /// Distinct `.t` lines checked (each runs once per chain the file names).
    lines_checked: usize,
    ok: usize,
    fail_refused: usize,
    skipped: usize,
    known_kernel_state: usize,
    problems: Vec<String>,
}

#[test]
fn extension_tables_parse_and_print_like_iptables() {
    let mut files: Vec<String> = std::fs::read_dir(DIR).expect("corpus dir").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    let mut t = Tally::default();
    let (mut sup_ext, mut unsup_ext) = (Vec::new(), Vec::new());
    for f in &files {
        let Some(ext) = extension(f) else { continue };
        let text = std::fs::read_to_string(format!("{DIR}/{f}")).expect("read");
        let lines = text.lines().filter(|l| l.contains(';')).count();
        if !supported(&ext) {
            unsup_ext.push(ext.clone());
            t.skipped += lines;
            continue;
        }
        sup_ext.push(ext.clone());
        let mut table = TableName::Filter;
        let mut chains: Vec<String> = Vec::new();
        for (ln, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
                continue;
            }
            if let Some(c) = line.strip_prefix(':') {
                chains = c.split(',').map(str::to_string).collect();
                continue;
            }
            if let Some(tb) = line.strip_prefix('*') {
                table = TableName::parse(tb).expect("table name");
                continue;
            }
            let fields: Vec<&str> = line.split(';').collect();
            let (rule, expect, verdict) = (fields[0], fields.get(1).copied().unwrap_or(""), fields.get(2).copied().unwrap_or(""));
            if !unsupported_in(rule).is_empty() {
                t.skipped += 1;
                continue;
            }
            t.lines_checked += 1;
            for chain in &chains {
                let p = iptables_save::parse_rule_args(f, table, chain, &[], rule);
                let errors: Vec<String> = p.diagnostics.iter().filter(|d| d.severity == Severity::Error).map(|d| d.to_string()).collect();
                let where_ = format!("{f}:{} [{chain}] `{rule}`", ln + 1);
                match verdict {
                    "OK" => {
                        if !errors.is_empty() {
                            t.problems.push(format!("{where_}: OK line refused: {}", errors.join("; ")));
                            continue;
                        }
                        let tb = p.value.table(table).expect("table");
                        let c = tb.chain(chain).expect("chain");
                        let Some(r) = c.rules.first() else {
                            t.problems.push(format!("{where_}: no rule"));
                            continue;
                        };
                        let got = iptables_save::save_rule(chain, r);
                        let want = if expect == "=" { format!("-A {chain} {rule}") } else { format!("-A {chain} {}", expect.trim()) };
                        if got.trim_end() != want.trim_end() {
                            t.problems.push(format!("{where_}: printed\n    {got}\n  iptables-save prints\n    {want}"));
                        } else {
                            t.ok += 1;
                        }
                    }
                    "FAIL" => {
                        if errors.is_empty() {
                            if KERNEL_STATE_FAILS.iter().any(|(kf, kr, _)| *kf == f && *kr == rule) {
                                t.known_kernel_state += 1;
                            } else {
                                t.problems.push(format!("{where_}: FAIL line accepted"));
                            }
                        } else {
                            t.fail_refused += 1;
                        }
                    }
                    other => t.problems.push(format!("{where_}: unknown verdict `{other}`")),
                }
            }
        }
    }
    let uniq = |v: &[String]| {
        let mut u = v.to_vec();
        u.sort();
        u.dedup();
        u
    };
    let (su, uu) = (uniq(&sup_ext), uniq(&unsup_ext));
    println!("{} .t files of typed extensions ({} distinct): {}", sup_ext.len(), su.len(), su.join(" "));
    println!("{} .t files of untyped extensions ({} distinct): {}", unsup_ext.len(), uu.len(), uu.join(" "));
    println!(
        "{} lines checked; per chain: {} OK rules printed as iptables-save does, {} FAIL rules refused, {} FAIL rules needing kernel state accepted; {} lines skipped (untyped extensions)",
        t.lines_checked, t.ok, t.fail_refused, t.known_kernel_state, t.skipped
    );
    for p in &t.problems {
        println!("PROBLEM {p}");
    }
    assert!(t.problems.is_empty(), "{} problems with typed extensions (see output)", t.problems.len());
    assert!(t.ok > 300, "too few lines checked: {}", t.ok);
}
