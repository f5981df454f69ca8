//! `iptables ...` command lines and `iptables-restore --noflush` blocks, applied to a ruleset.
//!
//! Semantics follow iptables 1.8 (`iptables/iptables.c:do_command4`, `libiptc`, and for the
//! restore blocks `iptables-restore.c`/`xtables-restore.c`), and were checked against both
//! backends on the kernel (`tests/change_kernel.rs`):
//! - with `--noflush`, a `*table` block edits the table in place; `:CHAIN POLICY` sets a
//!   built-in chain's policy (`-` keeps it), creates a user chain that does not exist and
//!   *flushes* one that does; nothing of a block applies without its `COMMIT`;
//! - `-I n` accepts 1..=len+1, `-R n` and `-D n` accept 1..=len; `-D` with a rule deletes the
//!   first rule equal to it; `-X` refuses a built-in, non-empty or referenced chain, and `-X`
//!   without a chain deletes every user chain or none; `-P` takes a built-in chain and ACCEPT
//!   or DROP.

use super::Cx;
use crate::model::ruleset::{Chain, Name, Policy, Rule, Table, TableName, Target, TextRef};
use crate::model::Namespace;
use crate::parse::iptables_save::parse_rule_args;
use crate::parse::iptables_save::words::{split_words, Word};
use std::sync::Arc;

/// An open `*table` block. Its lines edit the namespace's table in place: a block that is not
/// committed is an error that makes the whole change unusable (`apply`'s contract), so nothing
/// can observe the difference with iptables-restore's all-or-nothing commit.
pub(crate) struct Block {
    pub table: TableName,
    pub line: u32,
}

/// The table as it is in the namespace, or a new one with its built-in chains (the kernel
/// registers a table with ACCEPT policies the first time it is used).
fn current_table(ns: &Namespace, name: TableName, line: u32) -> Table {
    if let Some(t) = ns.ruleset.table(name) {
        return t.clone();
    }
    let mut t = Table::new(name, line);
    for b in name.builtin_chains() {
        t.add_chain(Chain { name: (*b).into(), policy: Some(Policy::Accept), counters: None, line: 0, rules: Vec::new() });
    }
    t
}

fn store_table(ns: &mut Namespace, t: Table) {
    match ns.ruleset.table_mut(t.name) {
        Some(slot) => *slot = t,
        None => {
            // iptables-save prints tables in kernel registration order; keep the model's usual
            // order (raw, mangle, nat, filter, security) for new ones.
            let pos = ns.ruleset.tables.iter().position(|x| x.name > t.name).unwrap_or(ns.ruleset.tables.len());
            ns.ruleset.tables.insert(pos, t);
        }
    }
}

fn source_id(cx: &mut Cx<'_>, ns: &mut Namespace) -> u32 {
    if let Some(s) = cx.source {
        return s;
    }
    cx.journal.save_sources(ns);
    let s = ns.ruleset.add_source(cx.file, Arc::from(cx.text));
    cx.source = Some(s);
    s
}

/// `*table`: opens a block on the table (created, as the kernel registers it, if absent).
pub(crate) fn begin(cx: &mut Cx<'_>, ns: &mut Namespace, ln: u32, col0: u32, line: &str) -> Option<Block> {
    let name = line[1..].trim();
    match TableName::parse(name) {
        Some(t) => {
            if ns.ruleset.table(t).is_none() {
                store_table(ns, current_table(ns, t, ln));
                cx.journal.created_table(t);
            }
            Some(Block { table: t, line: ln })
        }
        None => {
            cx.error_expected(ln, col0 + 1, "unknown-table", format!("unknown table `{name}`"), "raw, mangle, nat, filter or security", name);
            None
        }
    }
}

/// `COMMIT`: the block's edits stand.
pub(crate) fn commit(cx: &mut Cx<'_>, b: Block, ln: u32) {
    cx.done(ln, format!("{}: committed", b.table));
}

/// One line inside a block: a chain declaration or a rule command.
pub(crate) fn block_line(cx: &mut Cx<'_>, ns: &mut Namespace, b: &mut Block, ln: u32, off: usize, col0: u32, line: &str) {
    if let Some(decl) = line.strip_prefix(':') {
        if let Some(t) = ns.ruleset.table_mut(b.table) {
            declare(cx, t, ln, col0, decl);
        }
        return;
    }
    let mut words = Vec::new();
    if let Err(e) = split_words(line, col0, &mut words) {
        cx.error(ln, e.col, e.code, e.message);
        return;
    }
    let src = source_id(cx, ns);
    if let Some(cmd) = read_command(cx, ln, line, col0, &words, 0, true) {
        if let Some(t) = ns.ruleset.table_mut(b.table) {
            exec(cx, t, src, ln, off, line, col0, cmd);
        }
    }
}

/// `:NAME POLICY [p:b]` with `--noflush` semantics (`iptables-restore.c`: an existing user chain
/// is flushed, a new one created; a built-in chain's policy is set unless it is `-`).
fn declare(cx: &mut Cx<'_>, t: &mut Table, ln: u32, col0: u32, decl: &str) {
    let mut it = decl.split_whitespace();
    let name = it.next().unwrap_or("");
    let policy = it.next();
    let tname = t.name;
    if name.is_empty() {
        cx.error_expected(ln, col0 + 1, "bad-chain-name", "a chain declaration without a name", "`:CHAIN POLICY [packets:bytes]`", "`:`");
        return;
    }
    let Some(policy) = policy else {
        cx.error_expected(ln, col0, "bad-policy", format!("chain `{name}` is declared without a policy"), "ACCEPT, DROP or `-`", "end of line");
        return;
    };
    let builtin = tname.builtin_chains().contains(&name);
    if builtin {
        let p = match policy {
            "ACCEPT" => Some(Policy::Accept),
            "DROP" => Some(Policy::Drop),
            "-" => None,
            other => {
                cx.error_expected(ln, col0, "bad-policy", format!("bad policy `{other}` for built-in chain {name}"), "ACCEPT, DROP or `-`", other);
                return;
            }
        };
        if p.is_some() {
            cx.journal.touch(t, name);
        }
        if let (Some(p), Some(c)) = (p, t.chain_mut(name)) {
            c.policy = Some(p);
            cx.done(ln, format!("{tname} {name}: policy {}", if p == Policy::Accept { "ACCEPT" } else { "DROP" }));
        }
        return;
    }
    if policy != "-" {
        cx.error_expected(ln, col0, "bad-policy", format!("user-defined chain `{name}` cannot have a policy"), "`-`", policy);
        return;
    }
    if !valid_chain_name(cx, ln, col0 + 1, name) {
        return;
    }
    if t.chain(name).is_some() {
        cx.journal.touch(t, name);
    } else {
        cx.journal.reorder(t);
    }
    match t.chain_mut(name) {
        Some(c) => {
            let n = c.rules.len();
            c.rules.clear();
            cx.done(ln, format!("{tname} {name}: declared again, so flushed ({n} rule(s) removed, as iptables-restore --noflush does)"));
        }
        None => {
            let i = t.add_chain(Chain { name: name.into(), policy: None, counters: None, line: ln, rules: Vec::new() });
            cx.journal.created_chain(tname, &t.chains[i].name);
            cx.done(ln, format!("{tname} {name}: chain created"));
        }
    }
}

/// `iptables [-t T] [-w [S]] COMMAND ...` outside a block.
pub(crate) fn command_line(cx: &mut Cx<'_>, ns: &mut Namespace, ln: u32, off: usize, col0: u32, line: &str) {
    let mut words = Vec::new();
    if let Err(e) = split_words(line, col0, &mut words) {
        cx.error(ln, e.col, e.code, e.message);
        return;
    }
    let Some(cmd) = read_command(cx, ln, line, col0, &words, 1, false) else { return };
    let tname = cmd.table.unwrap_or(TableName::Filter);
    let src = source_id(cx, ns);
    // `exec` changes nothing when it refuses a command, so an existing table is edited in place;
    // a new one is kept only if the command was accepted.
    match ns.ruleset.table_mut(tname) {
        Some(t) => {
            exec(cx, t, src, ln, off, line, col0, cmd);
        }
        None => {
            let mut t = current_table(ns, tname, 0);
            if exec(cx, &mut t, src, ln, off, line, col0, cmd) {
                store_table(ns, t);
                cx.journal.created_table(tname);
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    Append,
    Insert(usize),
    DeleteNum(usize),
    DeleteSpec,
    Replace(usize),
    NewChain,
    DeleteChain,
    Flush,
    Policy(Policy),
    /// Commands that read or zero counters: no effect on any packet's path.
    NoEffect(&'static str),
}

struct Command {
    table: Option<TableName>,
    op: Op,
    chain: Option<String>,
    chain_col: u32,
    /// The rule's arguments: byte range in the line (with global options blanked out), and
    /// its column.
    rule: Option<(String, u32)>,
}

fn is_number(w: &Word<'_>) -> bool {
    !w.quoted && !w.as_str().is_empty() && w.as_str().bytes().all(|b| b.is_ascii_digit())
}

/// Reads the command, its chain and numbers, and the rule arguments. `skip` words are the
/// program name. Global options (`-t`, `-w`, `-W`) may stand anywhere, as getopt allows; they
/// are blanked out of the rule text so that columns stay right.
fn read_command(cx: &mut Cx<'_>, ln: u32, line: &str, col0: u32, words: &[Word<'_>], skip: usize, in_block: bool) -> Option<Command> {
    let mut blank = vec![false; words.len()];
    let mut table = None;
    let mut i = skip;
    while i < words.len() {
        let w = &words[i];
        if w.quoted {
            i += 1;
            continue;
        }
        match w.as_str() {
            "-t" | "--table" => {
                if in_block {
                    cx.error(ln, w.col, "table-in-restore", "`-t` cannot be used inside an iptables-restore block: the `*table` line names the table");
                    return None;
                }
                let Some(v) = words.get(i + 1) else {
                    cx.error_expected(ln, w.col, "syntax", "`-t` needs a table", "a table name", "end of line");
                    return None;
                };
                match TableName::parse(v.as_str()) {
                    Some(t) => table = Some(t),
                    None => {
                        cx.error_expected(
                            ln,
                            v.col,
                            "unknown-table",
                            format!("unknown table `{}`", v.as_str()),
                            "raw, mangle, nat, filter or security",
                            v.as_str(),
                        );
                        return None;
                    }
                }
                blank[i] = true;
                blank[i + 1] = true;
                i += 2;
            }
            "-w" | "--wait" => {
                blank[i] = true;
                if words.get(i + 1).is_some_and(is_number) {
                    blank[i + 1] = true;
                    i += 1;
                }
                i += 1;
            }
            "-W" | "--wait-interval" => {
                blank[i] = true;
                if let Some(b) = blank.get_mut(i + 1) {
                    *b = true;
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    let rest: Vec<usize> = (skip..words.len()).filter(|&k| !blank[k]).collect();
    let Some(&ci) = rest.first() else {
        cx.error_expected(ln, col0, "syntax", "no command", "-A, -I, -D, -R, -N, -X, -F or -P", "end of line");
        return None;
    };
    let cw = &words[ci];
    let name = if cw.quoted { "" } else { cw.as_str() };
    let (op_kind, needs_chain) = match name {
        "-A" | "--append" => ("A", true),
        "-I" | "--insert" => ("I", true),
        "-D" | "--delete" => ("D", true),
        "-R" | "--replace" => ("R", true),
        "-N" | "--new-chain" | "--new" => ("N", true),
        "-X" | "--delete-chain" => ("X", false),
        "-F" | "--flush" => ("F", false),
        "-P" | "--policy" => ("P", true),
        "-Z" | "--zero" => ("Z", false),
        "-C" | "--check" => ("C", true),
        "-L" | "--list" | "-S" | "--list-rules" => ("L", false),
        "-E" | "--rename-chain" => {
            cx.error(
                ln,
                cw.col,
                "unsupported-command",
                "`-E` (rename a chain) is not supported in change files: create the new chain, move the rules and delete the old one",
            );
            return None;
        }
        other => {
            cx.error_expected(ln, cw.col, "syntax", format!("`{other}` is not an iptables command"), "-A, -I, -D, -R, -N, -X, -F, -P, -Z, -C, -L or -S", other);
            return None;
        }
    };
    let mut k = 1;
    let chain_w = rest.get(k).map(|&x| &words[x]).filter(|w| !w.is_option());
    if needs_chain && chain_w.is_none() {
        cx.error_expected(
            ln,
            rest.get(k).map_or(cw.col, |&x| words[x].col),
            "syntax",
            format!("`{name}` needs a chain"),
            "a chain name",
            rest.get(k).map_or("end of line", |&x| words[x].as_str()),
        );
        return None;
    }
    let (chain, chain_col) = match chain_w {
        Some(w) => {
            k += 1;
            (Some(w.as_str().to_string()), w.col)
        }
        None => (None, cw.col),
    };
    let next = rest.get(k).map(|&x| &words[x]);
    let mut number = None;
    match op_kind {
        "I" | "D" if next.is_some_and(is_number) => {
            number = next.and_then(|w| w.as_str().parse::<usize>().ok());
            k += 1;
        }
        "R" => match next.filter(|w| is_number(w)) {
            Some(w) => {
                number = w.as_str().parse::<usize>().ok();
                k += 1;
            }
            None => {
                cx.error_expected(
                    ln,
                    next.map_or(cw.col, |w| w.col),
                    "syntax",
                    "`-R` needs a rule number",
                    "a rule number",
                    next.map_or("end of line", |w| w.as_str()),
                );
                return None;
            }
        },
        _ => {}
    }
    if let (Some(0), Some(w)) = (number, next) {
        cx.error(ln, w.col, "bad-rule-number", "rule numbers start at 1 (iptables: \"Invalid rule number `0'\")");
        return None;
    }
    let op = match op_kind {
        "A" => Op::Append,
        "I" => Op::Insert(number.unwrap_or(1)),
        "D" => number.map_or(Op::DeleteSpec, Op::DeleteNum),
        "R" => Op::Replace(number.unwrap_or(1)),
        "N" => Op::NewChain,
        "X" => Op::DeleteChain,
        "F" => Op::Flush,
        "P" => {
            let Some(pw) = next else {
                cx.error_expected(ln, chain_col, "syntax", "`-P` needs a policy", "ACCEPT or DROP", "end of line");
                return None;
            };
            k += 1;
            match pw.as_str() {
                "ACCEPT" => Op::Policy(Policy::Accept),
                "DROP" => Op::Policy(Policy::Drop),
                other => {
                    cx.error_expected(ln, pw.col, "bad-policy", "Bad policy name", "ACCEPT or DROP", other);
                    return None;
                }
            }
        }
        "Z" => Op::NoEffect("zeroes counters"),
        "C" => Op::NoEffect("only checks that a rule exists"),
        _ => Op::NoEffect("only lists rules"),
    };
    let takes_rule = matches!(op, Op::Append | Op::Insert(_) | Op::DeleteSpec | Op::Replace(_)) || op_kind == "C";
    let rule_words: Vec<usize> = rest[k.min(rest.len())..].to_vec();
    let rule = if takes_rule {
        if rule_words.is_empty() && op != Op::DeleteSpec {
            // `iptables -A CHAIN` with nothing else is a valid rule that matches everything and
            // has no target (it only counts).
        }
        // The rule text runs from its first word to the end of the line, with any global option
        // words inside it replaced by spaces.
        let start_col = rule_words.first().map_or(col0 + line.len() as u32, |&x| words[x].col);
        let start = (start_col - col0) as usize;
        let mut text: Vec<u8> = line.as_bytes()[start.min(line.len())..].to_vec();
        for (idx, w) in words.iter().enumerate() {
            if blank[idx] && w.col >= start_col {
                let s = (w.col - start_col) as usize;
                let len = if w.quoted { w.as_str().len() + 2 } else { w.as_str().len() };
                for b in text.iter_mut().skip(s).take(len) {
                    *b = b' ';
                }
            }
        }
        Some((String::from_utf8_lossy(&text).into_owned(), start_col))
    } else {
        if let Some(&x) = rule_words.first() {
            let w = &words[x];
            cx.error_expected(ln, w.col, "syntax", format!("`{name}` takes no rule"), "end of line", w.as_str());
            return None;
        }
        None
    };
    Some(Command { table, op, chain, chain_col, rule })
}

fn valid_chain_name(cx: &mut Cx<'_>, ln: u32, col: u32, name: &str) -> bool {
    // `xshared.c`/`libiptc`: at most XT_EXTENSION_MAXNAMELEN - 1 = 28 characters, no leading
    // `-` or `!`, and not a standard target's name.
    let bad = if name.len() > 28 {
        Some("is longer than 28 characters")
    } else if name.starts_with('-') || name.starts_with('!') {
        Some("may not start with `-` or `!`")
    } else if ["ACCEPT", "DROP", "QUEUE", "RETURN"].contains(&name) {
        Some("is a standard target's name")
    } else {
        None
    };
    match bad {
        Some(why) => {
            cx.error(ln, col, "bad-chain-name", format!("chain name `{name}` {why}"));
            false
        }
        None => true,
    }
}

fn references(t: &Table, name: &str) -> usize {
    t.chains.iter().flat_map(|c| c.rules.iter()).filter(|r| matches!(&r.target, Target::Jump(n) | Target::Goto(n) if n == name)).count()
}

/// A rule's meaning, for `-D CHAIN RULE`: what iptables compares (`libiptc`'s
/// `is_same`: the entry, matches and target), not its text, line or counters.
fn same_rule(a: &Rule, b: &Rule) -> bool {
    a.base == b.base && a.matches == b.matches && a.target == b.target
}

/// Reads the rule arguments against the table's chains, with diagnostics moved onto the change
/// line.
#[allow(clippy::too_many_arguments)]
fn read_rule(cx: &mut Cx<'_>, t: &Table, chain: &str, src: u32, ln: u32, off: usize, line: &str, args: &str, args_col: u32) -> Option<Rule> {
    // The parser needs the chains a rule may jump to declared; declaring every chain of a
    // kube-proxy table (100k) for every command made a change cost seconds, so only the chains
    // the rule's `-j`/`-g` words name are declared (a rule names no chain anywhere else).
    let mut others: Vec<&str> = Vec::new();
    let ws: Vec<&str> = args.split_whitespace().collect();
    for (k, w) in ws.iter().enumerate() {
        let named = match w.split_once('=') {
            Some(("--jump" | "--goto", v)) => Some(v),
            _ if matches!(*w, "-j" | "--jump" | "-g" | "--goto") => ws.get(k + 1).copied(),
            _ => None,
        };
        if let Some(c) = named.and_then(|n| t.chain(n.trim_matches(|c| c == '"' || c == '\''))) {
            if c.name != chain && !others.contains(&c.name.as_str()) {
                others.push(c.name.as_str());
            }
        }
    }
    let p = parse_rule_args(cx.file, t.name, chain, &others, args);
    let builtins = t.name.builtin_chains();
    let declared = others.iter().filter(|n| !builtins.contains(n)).count() + usize::from(!builtins.contains(&chain));
    let rule_line = (2 + builtins.len() + declared) as u32;
    let prefix = 4 + chain.len() as u32;
    for mut d in p.diagnostics {
        d.span.file = cx.file.to_string();
        d.span.col = if d.span.line == rule_line && d.span.col > prefix { d.span.col - prefix - 1 + args_col } else { 0 };
        d.span.line = ln;
        cx.diags.push(d);
    }
    let mut rule = p.value.table(t.name).and_then(|x| x.chain(chain)).and_then(|c| c.rules.first()).cloned()?;
    rule.line = ln;
    rule.counters = None;
    // The rule's text is the whole command line as the change file has it.
    rule.text = TextRef { source: src, start: off as u32, end: (off + line.len()) as u32 };
    Some(rule)
}

/// Runs one command on `t`. Returns false when the command was refused (the table is then to
/// be left as it was, as the kernel leaves it).
#[allow(clippy::too_many_arguments)]
fn exec(cx: &mut Cx<'_>, t: &mut Table, src: u32, ln: u32, off: usize, line: &str, col0: u32, cmd: Command) -> bool {
    let tn = t.name;
    let ccol = cmd.chain_col;
    let chain = cmd.chain.clone().unwrap_or_default();
    let no_chain = |cx: &mut Cx<'_>, c: &str| {
        cx.error(ln, ccol, "no-such-chain", format!("table {tn} has no chain `{c}` (iptables: \"No chain/target/match by that name\")"));
        false
    };
    match cmd.op {
        Op::Append | Op::Insert(_) | Op::DeleteSpec | Op::Replace(_) => {
            if t.chain(&chain).is_none() {
                return no_chain(cx, &chain);
            }
            let (args, args_col) = cmd.rule.clone().unwrap_or_default();
            let Some(rule) = read_rule(cx, t, &chain, src, ln, off, line, &args, args_col) else {
                cx.error(ln, args_col, "unreadable-rule", "the rule could not be read");
                return false;
            };
            if rule.unreadable.is_some() {
                // The parse diagnostics already say why; iptables would refuse the command.
                return false;
            }
            if tn == TableName::Nat && rule.target == Target::Drop && cmd.op != Op::DeleteSpec {
                // iptables' command parser refuses it for both backends (`xshared.c:do_parse`).
                cx.error(
                    ln,
                    args_col,
                    "nat-drop",
                    "DROP in the nat table: iptables refuses it (\"The nat table is not intended for filtering, the use of DROP is therefore inhibited\")",
                );
                return false;
            }
            let len = t.chain(&chain).map_or(0, |c| c.rules.len());
            let refused = match cmd.op {
                Op::Insert(n) => n > len + 1,
                Op::Replace(n) => n > len,
                Op::DeleteSpec => !t.chain(&chain).is_some_and(|c| c.rules.iter().any(|r| same_rule(r, &rule))),
                _ => false,
            };
            if !refused {
                cx.journal.touch(t, &chain);
            }
            let Some(c) = t.chain_mut(&chain) else { return false };
            match cmd.op {
                Op::Append => {
                    c.rules.push(rule);
                    cx.done(ln, format!("{tn} {chain}: rule {} appended", len + 1));
                }
                Op::Insert(n) => {
                    if n > len + 1 {
                        cx.error(
                            ln,
                            ccol,
                            "bad-rule-number",
                            format!("chain {chain} has {len} rule(s): a rule can be inserted at 1 to {} (iptables: \"Index of insertion too big\")", len + 1),
                        );
                        return false;
                    }
                    c.rules.insert(n - 1, rule);
                    cx.done(ln, format!("{tn} {chain}: rule inserted at {n}"));
                }
                Op::Replace(n) => {
                    if n > len {
                        cx.error(ln, ccol, "bad-rule-number", format!("chain {chain} has {len} rule(s) (iptables: \"Index of replacement too big\")"));
                        return false;
                    }
                    c.rules[n - 1] = rule;
                    cx.done(ln, format!("{tn} {chain}: rule {n} replaced"));
                }
                _ => match c.rules.iter().position(|r| same_rule(r, &rule)) {
                    Some(i) => {
                        c.rules.remove(i);
                        cx.done(ln, format!("{tn} {chain}: rule {} deleted", i + 1));
                    }
                    None => {
                        cx.error(ln, args_col, "no-such-rule", format!("chain {chain} of table {tn} has no rule equal to this one (iptables: \"Bad rule (does a matching rule exist in that chain?)\")"));
                        return false;
                    }
                },
            }
            true
        }
        Op::DeleteNum(n) => {
            if t.chain(&chain).is_some_and(|c| n <= c.rules.len()) {
                cx.journal.touch(t, &chain);
            }
            let Some(c) = t.chain_mut(&chain) else { return no_chain(cx, &chain) };
            if n > c.rules.len() {
                cx.error(ln, ccol, "bad-rule-number", format!("chain {chain} has {} rule(s) (iptables: \"Index of deletion too big\")", c.rules.len()));
                return false;
            }
            c.rules.remove(n - 1);
            cx.done(ln, format!("{tn} {chain}: rule {n} deleted"));
            true
        }
        Op::NewChain => {
            if !valid_chain_name(cx, ln, ccol, &chain) {
                return false;
            }
            if t.chain(&chain).is_some() {
                cx.error(ln, ccol, "chain-exists", format!("table {tn} already has a chain `{chain}` (iptables: \"Chain already exists\")"));
                return false;
            }
            cx.journal.reorder(t);
            let i = t.add_chain(Chain { name: chain.as_str().into(), policy: None, counters: None, line: ln, rules: Vec::new() });
            cx.journal.created_chain(tn, &t.chains[i].name);
            cx.done(ln, format!("{tn} {chain}: chain created"));
            true
        }
        Op::DeleteChain => {
            let targets: Vec<String> = match &cmd.chain {
                Some(c) => {
                    let Some(ch) = t.chain(c) else { return no_chain(cx, c) };
                    if ch.is_builtin() {
                        cx.error(ln, ccol, "builtin-chain", format!("{c} is a built-in chain and cannot be deleted"));
                        return false;
                    }
                    vec![c.clone()]
                }
                None => t.chains.iter().filter(|c| !c.is_builtin()).map(|c| c.name.to_string()).collect(),
            };
            // All or nothing: both backends commit `-X` as one transaction.
            for c in &targets {
                let n = t.chain(c).map_or(0, |x| x.rules.len());
                if n > 0 {
                    cx.error(ln, ccol, "chain-not-empty", format!("chain {c} still has {n} rule(s) (iptables: \"Directory not empty\"); flush it first"));
                    return false;
                }
                let refs = references(t, c);
                if refs > 0 {
                    cx.error(ln, ccol, "chain-in-use", format!("chain {c} is the target of {refs} rule(s) (iptables: \"Too many links\")"));
                    return false;
                }
            }
            if !targets.is_empty() {
                cx.journal.deleting(t);
                for c in &targets {
                    cx.journal.touch(t, c);
                }
            }
            t.chains.retain(|c| !targets.iter().any(|x| **x == *c.name));
            t.reindex();
            cx.done(ln, format!("{tn}: chain(s) deleted: {}", if targets.is_empty() { "none".to_string() } else { targets.join(", ") }));
            true
        }
        Op::Flush => {
            match &cmd.chain {
                Some(c) => {
                    cx.journal.touch(t, c);
                    let Some(ch) = t.chain_mut(c) else { return no_chain(cx, c) };
                    let n = ch.rules.len();
                    ch.rules.clear();
                    cx.done(ln, format!("{tn} {c}: flushed ({n} rule(s) removed)"));
                }
                None => {
                    let n: usize = t.chains.iter().map(|c| c.rules.len()).sum();
                    let names: Vec<Name> = t.chains.iter().filter(|c| !c.rules.is_empty()).map(|c| c.name.clone()).collect();
                    for c in &names {
                        cx.journal.touch(t, c);
                    }
                    for c in &mut t.chains {
                        c.rules.clear();
                    }
                    cx.done(ln, format!("{tn}: every chain flushed ({n} rule(s) removed)"));
                }
            }
            true
        }
        Op::Policy(p) => {
            if tn == TableName::Nat && p == Policy::Drop {
                cx.error(
                    ln,
                    ccol,
                    "nat-drop",
                    "DROP in the nat table: iptables refuses it (\"The nat table is not intended for filtering, the use of DROP is therefore inhibited\")",
                );
                return false;
            }
            if t.chain(&chain).is_some_and(|c| c.is_builtin()) {
                cx.journal.touch(t, &chain);
            }
            let Some(c) = t.chain_mut(&chain) else { return no_chain(cx, &chain) };
            if !c.is_builtin() {
                cx.error(
                    ln,
                    ccol,
                    "not-builtin",
                    format!("{chain} is a user-defined chain: only built-in chains have a policy (iptables: \"Bad built-in chain name\")"),
                );
                return false;
            }
            c.policy = Some(p);
            cx.done(ln, format!("{tn} {chain}: policy {}", if p == Policy::Accept { "ACCEPT" } else { "DROP" }));
            true
        }
        Op::NoEffect(why) => {
            if let Some(c) = &cmd.chain {
                if t.chain(c).is_none() {
                    return no_chain(cx, c);
                }
            }
            cx.info(ln, col0, "no-effect", format!("this command {why}: it changes no packet's path"));
            true
        }
    }
}
