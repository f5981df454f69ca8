//! `iptables-save` text -> `Ruleset`, and back (`save`).
//!
//! Layout: `framing.rs` reads lines (`*table`, `:chain`, `-A`, `COMMIT`, `#` headers),
//! `words.rs` splits a rule into words as iptables-restore does, `rule.rs` reads the built-in
//! options and hands `-m`/`-j` blocks to `registry.rs`, which lists the typed extensions in
//! `matches/` and `targets/` (each with its parser and printer, as iptables keeps
//! `libxt_foo.c`). `save.rs` prints the model back in canonical iptables-save form.
//!
//! Nothing is dropped: an extension nfpath does not type is kept as `Unsupported` with its
//! words and a warning; a rule that cannot be read in full is kept with `Rule::unreadable` and
//! an error; framing problems (no `*table`, no `COMMIT`, undeclared chains) are errors that
//! say what was expected and what was found.
//!
//! Severity policy. An **error** means iptables-restore would refuse the input as given, or a
//! rule's meaning is lost; what could be read is still returned:
//! `rule-outside-table` (grep output: those lines are not imported, their table is unknown),
//! `missing-commit` (rules kept), `unknown-table` (its lines skipped), `undeclared-chain`
//! (chain created, rule kept), `jump-to-missing-chain`, `bad-chain-name`, `bad-policy`,
//! `duplicate-chain`, `unsupported-command`, and per rule (kept with `Rule::unreadable`):
//! `syntax`, `bad-address`, `unknown-option`, `garbled-nat-target`, `ipv6-rule`,
//! `redacted-value`, `match-needs-protocol`, `target-needs-protocol`, `bad-table`, `bad-hook`.
//! A **warning** means the input is usable but something the engine depends on is unknown:
//! `unsupported-match`, `unsupported-target`, `unsupported-option`, `unresolved-name`,
//! `legacy-tables-present`, `mixed-backends`, `builtin-undeclared`, `duplicate-table`.

pub(crate) mod framing;
pub(crate) mod matches;
pub mod registry;
pub(crate) mod rule;
pub mod save;
pub(crate) mod scan;
pub(crate) mod targets;
pub(crate) mod values;
pub(crate) mod words;

pub use registry::{is_supported_match, is_supported_target};
pub use save::{save, save_chain_header, save_rule, save_rule_body, save_table};

use crate::diag::Parsed;
use crate::model::ruleset::{Ruleset, TableName};

/// Parses one iptables-save dump (`iptables-save` or `iptables-save -c`, legacy or nft). `file`
/// names it in diagnostics and traces. Never panics; the value holds everything that could be
/// read.
pub fn parse(file: &str, text: &str) -> Parsed<Ruleset> {
    framing::parse(file, text)
}

/// Parses a single rule written as iptables arguments (`-p tcp -m tcp --dport 22 -j ACCEPT`),
/// as if it were `-A CHAIN <args>` in `table`, with the user chains `chains` declared. Used for
/// what-if edits and by the `.t` conformance test. The result has one table, the chain, and
/// (if it could be read) the rule.
pub fn parse_rule_args(file: &str, table: TableName, chain: &str, chains: &[&str], args: &str) -> Parsed<Ruleset> {
    let mut text = format!("*{}\n", table.as_str());
    for b in table.builtin_chains() {
        text.push_str(&format!(":{b} ACCEPT [0:0]\n"));
    }
    for c in chains.iter().chain(std::iter::once(&chain)) {
        if !table.builtin_chains().contains(c) {
            text.push_str(&format!(":{c} - [0:0]\n"));
        }
    }
    text.push_str(&format!("-A {chain} {args}\nCOMMIT\n"));
    let mut p = parse(file, &text);
    // The user chains were declared only so the rule could name them; keep them (a jump needs
    // them) but the caller only cares about the rule.
    p.diagnostics.retain(|d| d.code != "builtin-undeclared");
    p
}
