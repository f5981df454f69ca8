//! `iptables -S` (list-rules) text -> `Ruleset`. The output of one `iptables [-t T] -S` is a
//! block of `-P CHAIN POLICY` lines (built-in chains), `-N CHAIN` lines (user chains) and
//! `-A CHAIN ...` rules; it never names its table. Rules are read exactly as iptables-save
//! rules are (same words, options and extensions); `-v` adds `-c packets bytes`.
//!
//! `parse` accepts several outputs concatenated (a `-P` line after rules starts the next one)
//! and names each block's table from its built-in chains; `parse_table` takes the table from
//! the caller (use it when the file name says the table, e.g. `iptables-S.nat.txt`).

use crate::diag::{Diagnostic, Parsed, Span};
use crate::model::ruleset::{Ruleset, TableName};
use crate::parse::iptables_save::framing::{command, lines, Builder};

struct Line<'t> {
    n: u32,
    off: usize,
    col: u32,
    text: &'t str,
}

fn content(text: &str) -> Vec<Line<'_>> {
    lines(text)
        .filter_map(|(n, off, raw)| {
            let lead = raw.len() - raw.trim_start().len();
            let t = raw[lead..].trim_end();
            (!t.is_empty() && !t.starts_with('#')).then_some(Line { n, off: off + lead, col: lead as u32 + 1, text: t })
        })
        .collect()
}

/// The table whose built-in chains are exactly these (`iptable_*.c` valid_hooks).
fn table_of(policies: &[&str]) -> Option<(TableName, bool)> {
    let mut p: Vec<&str> = policies.to_vec();
    p.sort_unstable();
    p.dedup();
    let is = |want: &[&str]| {
        let mut w = want.to_vec();
        w.sort_unstable();
        w == p
    };
    if is(&["PREROUTING", "OUTPUT"]) {
        Some((TableName::Raw, false))
    } else if is(&["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]) {
        Some((TableName::Mangle, false))
    } else if is(&["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]) || is(&["PREROUTING", "OUTPUT", "POSTROUTING"]) {
        Some((TableName::Nat, false))
    } else if is(&["INPUT", "FORWARD", "OUTPUT"]) {
        // The security table has the same built-in chains; filter is what `iptables -S` lists
        // without `-t`.
        Some((TableName::Filter, true))
    } else {
        None
    }
}

fn read_block<'t>(b: &mut Builder<'t>, block: &[Line<'t>], table: TableName) {
    b.begin_table(table, block.first().map(|l| l.n).unwrap_or(0));
    for l in block {
        if l.text.starts_with('-') {
            command(b, l.n, l.off, l.col, l.text, None);
        } else {
            let d = Diagnostic::error(b.span(l.n, l.col), "syntax", "unexpected line in `iptables -S` output")
                .with_expected("`-P`, `-N` or `-A` lines", format!("`{}`", l.text.chars().take(60).collect::<String>()));
            b.diags.push(d);
        }
    }
    b.end_table();
}

/// Parses one or more `iptables -S` outputs, naming each one's table from its `-P` lines.
pub fn parse(file: &str, text: &str) -> Parsed<Ruleset> {
    let mut b = Builder::new(file, text);
    let all = content(text);
    // Split where a `-P` line follows a non-`-P` line.
    let mut blocks: Vec<&[Line]> = Vec::new();
    let mut start = 0;
    for i in 1..all.len() {
        if all[i].text.starts_with("-P ") && !all[i - 1].text.starts_with("-P ") {
            blocks.push(&all[start..i]);
            start = i;
        }
    }
    if start < all.len() {
        blocks.push(&all[start..]);
    }
    for block in blocks {
        let policies: Vec<&str> = block.iter().filter_map(|l| l.text.strip_prefix("-P ")).filter_map(|r| r.split_whitespace().next()).collect();
        match table_of(&policies) {
            Some((t, ambiguous)) => {
                if ambiguous {
                    let l = &block[0];
                    b.diags.push(Diagnostic::info(Span::new(file, l.n, 0), "assumed-default", "built-in chains INPUT, FORWARD, OUTPUT: table filter assumed (security has the same chains; name the table if this is `iptables -t security -S`)"));
                }
                read_block(&mut b, block, t);
            }
            None => {
                let l = &block[0];
                let found = if policies.is_empty() { "no `-P` lines".to_string() } else { format!("`-P` for {}", policies.join(", ")) };
                b.diags.push(
                    Diagnostic::error(
                        Span::new(file, l.n, 0),
                        "unknown-table",
                        format!(
                            "cannot tell which table this `iptables -S` output (lines {}-{}) lists; its lines were not imported",
                            l.n,
                            block.last().map(|x| x.n).unwrap_or(l.n)
                        ),
                    )
                    .with_expected("`-P` lines for exactly the built-in chains of one table", found),
                );
            }
        }
    }
    b.finish()
}

/// Parses one `iptables -t TABLE -S` output whose table the caller knows.
pub fn parse_table(file: &str, text: &str, table: TableName) -> Parsed<Ruleset> {
    let mut b = Builder::new(file, text);
    let all = content(text);
    read_block(&mut b, &all, table);
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ruleset::{Policy, Target};

    #[test]
    fn names_tables_from_policies_and_reads_rules() {
        let t = "-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n-N DOCKER\n-A FORWARD -j DOCKER\n-A DOCKER -d 192.0.2.2/32 -p tcp -m tcp --dport 80 -j ACCEPT\n\
                 -P PREROUTING ACCEPT\n-P INPUT ACCEPT\n-P OUTPUT ACCEPT\n-P POSTROUTING ACCEPT -c 5 300\n-A POSTROUTING -s 192.0.2.0/24 -j MASQUERADE\n";
        let p = parse("s.txt", t);
        assert!(!p.has_errors(), "{:?}", p.diagnostics);
        assert_eq!(p.value.tables.iter().map(|t| t.name).collect::<Vec<_>>(), vec![TableName::Filter, TableName::Nat]);
        let f = p.value.table(TableName::Filter).expect("filter");
        assert_eq!(f.chain("FORWARD").expect("fwd").policy, Some(Policy::Drop));
        assert_eq!(f.chain("FORWARD").expect("fwd").rules[0].target, Target::Jump("DOCKER".into()));
        let n = p.value.table(TableName::Nat).expect("nat");
        let post = n.chain("POSTROUTING").expect("post");
        assert_eq!(post.counters.map(|c| c.bytes), Some(300));
        assert_eq!(p.value.rule_text(&post.rules[0]), "-A POSTROUTING -s 192.0.2.0/24 -j MASQUERADE");
        assert_eq!(post.rules[0].line, 11);
    }

    #[test]
    fn unknown_table_and_explicit_table() {
        let t = "-N X\n-A X -j ACCEPT\n";
        let p = parse("s", t);
        assert!(p.has_errors());
        assert_eq!(p.diagnostics[0].code, "unknown-table");
        let p = parse_table("s", t, TableName::Mangle);
        assert!(!p.has_errors(), "{:?}", p.diagnostics);
        assert_eq!(p.value.tables[0].name, TableName::Mangle);
        assert_eq!(p.value.rule_count(), 1);
    }
}
