//! What-if changes: a text file of commands applied to one namespace's model, as the real tools
//! would apply them to the kernel (`nfpath diff --change node=change.txt`).
//!
//! One command per line; blank lines and `#` lines are comments. A file may mix:
//! - `iptables [-t TABLE] -A|-I|-D|-R|-N|-X|-F|-P|-Z ...` command lines (`iptables-nft`,
//!   `iptables-legacy` too: both backends give the same answers, checked in
//!   `tests/change_kernel.rs`);
//! - `iptables-restore --noflush` blocks: `*table`, `:CHAIN POLICY [p:b]`, rule commands,
//!   `COMMIT`;
//! - `ip [-4] route add|append|replace|change|del ...` and `ip [-4] rule add|del ...`.
//!
//! Every command is checked the way the kernel checks it (a missing chain, a rule to delete that
//! does not exist, a gateway that cannot be reached, a duplicate route...); a command the kernel
//! would refuse is an error at its file:line:column and the change is unusable. Rules a change
//! creates keep the change's text, file and line, so traces show where they came from.

pub mod incremental;
mod ip;
mod iptables;
pub mod journal;

use crate::diag::{Diagnostic, Parsed, Span};
use crate::model::Namespace;

/// What one line of a change did, for reports (`change.txt:3: nat KUBE-SERVICES: rule 1 inserted`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub span: Span,
    pub what: String,
}

impl std::fmt::Display for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.span, self.what)
    }
}

/// Shared state of one application: the file, its text and where diagnostics go.
pub(crate) struct Cx<'t> {
    pub file: &'t str,
    pub text: &'t str,
    pub diags: Vec<Diagnostic>,
    pub applied: Vec<Applied>,
    /// The id of the change text in the namespace's ruleset, once a rule needed it.
    pub source: Option<u32>,
    /// The originals of what the change edited.
    pub journal: journal::Journal,
}

impl Cx<'_> {
    pub fn span(&self, line: u32, col: u32) -> Span {
        Span::new(self.file, line, col)
    }
    pub fn error(&mut self, line: u32, col: u32, code: &str, msg: impl Into<String>) {
        let s = self.span(line, col);
        self.diags.push(Diagnostic::error(s, code, msg));
    }
    pub fn error_expected(&mut self, line: u32, col: u32, code: &str, msg: impl Into<String>, expected: &str, found: &str) {
        let s = self.span(line, col);
        self.diags.push(Diagnostic::error(s, code, msg).with_expected(expected, found));
    }
    pub fn info(&mut self, line: u32, col: u32, code: &str, msg: impl Into<String>) {
        let s = self.span(line, col);
        self.diags.push(Diagnostic::info(s, code, msg));
    }
    pub fn done(&mut self, line: u32, what: impl Into<String>) {
        let s = self.span(line, 0);
        self.applied.push(Applied { span: s, what: what.into() });
    }
}

/// Lines numbered from 1 with their byte offset in the text, without line terminators.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = (u32, usize, &str)> {
    let mut off = 0usize;
    text.split('\n').enumerate().map(move |(i, l)| {
        let start = off;
        off += l.len() + 1;
        ((i + 1) as u32, start, l.strip_suffix('\r').unwrap_or(l))
    })
}

/// Applies the change file `text` (named `file` in diagnostics and traces) to `ns`, line by
/// line. The value lists what each command did. When the diagnostics hold an error, a command
/// was refused (as the kernel or the tool would refuse it) or could not be read: the namespace
/// is then only partly changed and must not be used.
pub fn apply(ns: &mut Namespace, file: &str, text: &str) -> Parsed<Vec<Applied>> {
    apply_journaled(ns, file, text).0
}

/// [`apply`], and the originals of everything the change edited (to measure it or undo it).
pub fn apply_journaled(ns: &mut Namespace, file: &str, text: &str) -> (Parsed<Vec<Applied>>, journal::Journal) {
    let mut cx = Cx { file, text, diags: Vec::new(), applied: Vec::new(), source: None, journal: journal::Journal::default() };
    let mut block: Option<iptables::Block> = None;
    for (ln, off, raw) in lines(text) {
        let lead = raw.len() - raw.trim_start().len();
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let col0 = lead as u32 + 1;
        let off = off + lead;
        if let Some(b) = block.as_mut() {
            if line == "COMMIT" {
                if let Some(b) = block.take() {
                    iptables::commit(&mut cx, b, ln);
                }
            } else if line.starts_with('*') {
                cx.error_expected(
                    ln,
                    col0,
                    "missing-commit",
                    format!("a new table starts before the `*{}` block of line {} was committed: iptables-restore refuses the input", b.table, b.line),
                    "COMMIT",
                    line,
                );
                block = iptables::begin(&mut cx, ns, ln, col0, line);
            } else {
                iptables::block_line(&mut cx, ns, b, ln, off, col0, line);
            }
            continue;
        }
        let first = line.split_whitespace().next().unwrap_or("");
        match first {
            _ if line.starts_with('*') => block = iptables::begin(&mut cx, ns, ln, col0, line),
            "COMMIT" => cx.error(ln, col0, "commit-outside-table", "COMMIT without a `*table` line before it"),
            "iptables" | "iptables-nft" | "iptables-legacy" | "/sbin/iptables" | "/usr/sbin/iptables" => {
                iptables::command_line(&mut cx, ns, ln, off, col0, line)
            }
            "ip" | "/sbin/ip" | "/usr/sbin/ip" | "/bin/ip" => ip::command_line(&mut cx, ns, ln, col0, line),
            _ if line.starts_with(':') || line.starts_with('-') => cx.error_expected(
                ln,
                col0,
                "outside-table",
                "an iptables-restore line outside a `*table` block: start the block with `*filter` (or the table it belongs to) and end it with COMMIT, or write the command as `iptables -t TABLE ...`",
                "`*TABLE`, an `iptables` or `ip` command, or a `#` comment",
                first,
            ),
            _ => cx.error_expected(
                ln,
                col0,
                "unknown-command",
                format!("`{first}` is not a command a change file can hold"),
                "an `iptables ...`, `ip route ...` or `ip rule ...` command, an iptables-restore block, or a `#` comment",
                first,
            ),
        }
    }
    if let Some(b) = block {
        let last = lines(text).count() as u32;
        cx.error_expected(
            b.line,
            1,
            "missing-commit",
            format!(
                "the `*{}` block is not committed before the end of the file: iptables-restore applies nothing of it (\"COMMIT expected at line {}\")",
                b.table, last
            ),
            "COMMIT",
            "end of file",
        );
    }
    (Parsed { value: cx.applied, diagnostics: cx.diags }, cx.journal)
}

#[cfg(test)]
mod tests;
