//! `iptables -S` text -> `Ruleset`.
//!
//! TEMPORARY PLACEHOLDER (importers branch): the real parser is another developer's work and
//! replaces this file at merge. It exists only so that the snapshot loader can be written
//! against the final signature; it imports nothing and says so with an error diagnostic.

use crate::diag::{Diagnostic, Parsed, Span};
use crate::model::ruleset::Ruleset;

/// Parses one `iptables -S` listing. Placeholder: returns an empty ruleset and an error.
pub fn parse(file: &str, text: &str) -> Parsed<Ruleset> {
    let _ = text;
    Parsed {
        value: Ruleset::default(),
        diagnostics: vec![Diagnostic::error(Span::new(file, 1, 0), "unsupported-format", "iptables -S import not available in this build")],
    }
}
