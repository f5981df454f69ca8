//! `sysctl -a` (or any subset) -> sysctls. Reads `key = value`, `key=value` and slash-form keys
//! (`net/ipv4/ip_forward = 1`, as `sysctl -N`/`/proc/sys` paths give them). In slash form a dot
//! belongs to a name (`eth0.100`), so it becomes `/` in the dotted key, as `sysctl` prints it.

use crate::diag::{Diagnostic, Parsed, Span};
use crate::model::sysctl::Sysctls;
use crate::parse::ip_text::lex;
use std::collections::BTreeMap;

pub fn parse(file: &str, text: &str) -> Parsed<Sysctls> {
    let mut diags = Vec::new();
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    let mut first_line: BTreeMap<String, u32> = BTreeMap::new();
    for (ln, l) in lex::lines(text) {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if t.starts_with("sysctl:") {
            diags.push(Diagnostic::info(Span::new(file, ln, 1), "sysctl-message", format!("message from sysctl, not a setting: `{t}`")));
            continue;
        }
        let Some(eq) = l.find('=') else {
            diags.push(
                Diagnostic::error(Span::new(file, ln, 1), "syntax", format!("expected `key = value`, found `{t}`: line skipped")).with_expected("key = value", t),
            );
            continue;
        };
        let key = l[..eq].trim();
        let value = l[eq + 1..].trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            diags.push(Diagnostic::error(Span::new(file, ln, 1), "syntax", format!("`{key}` is not a sysctl key: line skipped")));
            continue;
        }
        let dotted = if key.contains('/') {
            key.trim_start_matches("/proc/sys/").trim_matches('/').split('/').map(|c| c.replace('.', "/")).collect::<Vec<_>>().join(".")
        } else {
            key.to_string()
        };
        if let Some(prev) = first_line.get(&dotted) {
            if values.get(&dotted).map(String::as_str) != Some(value) {
                diags.push(Diagnostic::warning(
                    Span::new(file, ln, 1),
                    "duplicate",
                    format!("`{dotted}` is set again (first at line {prev}) with a different value: the later one, `{value}`, is used"),
                ));
            }
        } else {
            first_line.insert(dotted.clone(), ln);
        }
        values.insert(dotted, value.to_string());
    }
    Parsed { value: Sysctls { values, imported: true }, diagnostics: diags }
}
