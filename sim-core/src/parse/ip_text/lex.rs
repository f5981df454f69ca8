//! Small lexing helpers shared by the text importers: lines, whitespace-separated words with
//! their 1-based character columns, and the address and number forms iproute2 prints.

use crate::diag::{Diagnostic, Span};
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// One whitespace-separated word and the column (in characters, from 1) where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Word<'a> {
    pub text: &'a str,
    pub col: u32,
}

/// Splits a line into words, remembering where each starts. Columns count characters so that
/// lines carrying non-ASCII annotations still point at the right place.
pub(crate) fn words(line: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut start: Option<(usize, u32)> = None;
    let mut col: u32 = 0;
    for (i, ch) in line.char_indices() {
        col += 1;
        if ch.is_whitespace() {
            if let Some((s, c)) = start.take() {
                out.push(Word { text: &line[s..i], col: c });
            }
        } else if start.is_none() {
            start = Some((i, col));
        }
    }
    if let Some((s, c)) = start {
        out.push(Word { text: &line[s..], col: c });
    }
    out
}

/// Lines numbered from 1, without their line terminators (`\n` or `\r\n`).
pub(crate) fn lines(text: &str) -> impl Iterator<Item = (u32, &str)> {
    text.split('\n').enumerate().map(|(i, l)| ((i + 1) as u32, l.strip_suffix('\r').unwrap_or(l)))
}

/// The character column of byte offset `off` in `line` (1-based).
pub(crate) fn col_of(line: &str, off: usize) -> u32 {
    let off = off.min(line.len());
    let mut n = 0u32;
    for (i, _) in line.char_indices() {
        if i >= off {
            break;
        }
        n += 1;
    }
    n + 1
}

pub(crate) fn ipv4(s: &str) -> Option<Ipv4Addr> {
    s.parse::<Ipv4Addr>().ok()
}

/// True for something that looks like an IPv6 address or prefix (it has a colon and only hex
/// digits, colons, dots, a slash and a zone).
pub(crate) fn looks_ipv6(s: &str) -> bool {
    let core = s.split('%').next().unwrap_or(s);
    core.contains(':') && core.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.' || c == '/')
}

/// What a destination word means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Prefix {
    V4(Ipv4Net),
    V6,
}

/// `default`, `A.B.C.D`, `A.B.C.D/N`, or an IPv6 form. A host bits set prefix is kept as the
/// kernel would have refused it, so it is reported by the caller, never silently truncated.
pub(crate) fn prefix(s: &str) -> Option<Prefix> {
    if s == "default" || s == "all" || s == "any" {
        return Some(Prefix::V4(Ipv4Net::default()));
    }
    if looks_ipv6(s) {
        return Some(Prefix::V6);
    }
    let (a, l) = match s.split_once('/') {
        Some((a, l)) => (a, l.parse::<u8>().ok()?),
        None => (s, 32),
    };
    let addr = ipv4(a)?;
    Ipv4Net::new(addr, l).ok().map(Prefix::V4)
}

/// An unsigned number in decimal or `0x` hexadecimal, as iproute2 prints marks and masks.
pub(crate) fn num_u32(s: &str) -> Option<u32> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

/// Table ids as `rt_tables` names them by default (`/etc/iproute2/rt_tables`).
pub(crate) fn table_id(s: &str) -> Option<u32> {
    match s {
        "main" => Some(crate::model::route::RT_TABLE_MAIN),
        "local" => Some(crate::model::route::RT_TABLE_LOCAL),
        "default" => Some(crate::model::route::RT_TABLE_DEFAULT),
        "unspec" => Some(0),
        n => num_u32(n),
    }
}

/// A table name that is not in the default `rt_tables` (`netbird`, `kube-router`): the snapshot
/// does not carry `/etc/iproute2/rt_tables`, so the name is mapped to a stable id above 2^31
/// (FNV-1a of the name) that routes and rules naming it share. The caller reports the mapping.
pub(crate) fn named_table_id(name: &str) -> u32 {
    let mut h: u32 = 0x811c9dc5;
    for b in name.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x01000193);
    }
    h | 0x8000_0000
}

/// Resolves a table word, pushing a warning when a name had to be mapped.
pub(crate) fn table_word(file: &str, line: u32, w: Word<'_>, diags: &mut Vec<Diagnostic>) -> u32 {
    if let Some(t) = table_id(w.text) {
        return t;
    }
    let id = named_table_id(w.text);
    diags.push(Diagnostic::warning(
        Span::new(file, line, w.col),
        "named-table",
        format!(
            "table `{}` is a name from /etc/iproute2/rt_tables, which the snapshot does not carry; it is given id {} (shared by every file that names it)",
            w.text, id
        ),
    ));
    id
}

/// A line an author put where they cut the output short (`...`, `…`, `[...]`).
pub(crate) fn is_cut_marker(line: &str) -> bool {
    matches!(line.trim(), "..." | "…" | "[...]" | "(...)" | "......")
}

/// Reports a cut marker: what followed it in the real output is unknown.
pub(crate) fn cut(file: &str, line: u32, l: &str) -> Diagnostic {
    let col = col_of(l, l.len() - l.trim_start().len());
    Diagnostic::warning(
        Span::new(file, line, col),
        "cut",
        format!("the listing was cut short here (`{}`): entries that stood here in the real output are unknown", l.trim()),
    )
}

/// A line is an author's annotation rather than tool output when it is a `#` comment.
pub(crate) fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// A word that starts an annotation an author appended to tool output (`<---- ...`, `# ...`,
/// `###...`, or any word with non-ASCII letters such as a Chinese comment).
pub(crate) fn starts_annotation(w: &str) -> bool {
    w.starts_with('#') || w.starts_with("<-") || w.starts_with("--") || w.starts_with("<=") || !w.is_ascii()
}

/// The rest of the line from word `i` on, as written.
pub(crate) fn rest_of_line<'a>(line: &'a str, ws: &[Word<'a>], i: usize) -> &'a str {
    match ws.get(i) {
        Some(w) => {
            let mut byte = 0usize;
            let mut col = 0u32;
            for (b, _) in line.char_indices() {
                col += 1;
                if col == w.col {
                    byte = b;
                    break;
                }
            }
            line[byte..].trim_end()
        }
        None => "",
    }
}

/// Reports an annotation appended to a line of tool output.
pub(crate) fn annotation(file: &str, line: u32, col: u32, text: &str) -> Diagnostic {
    Diagnostic::warning(Span::new(file, line, col), "annotation", format!("text after the command output is not part of it and was ignored: `{text}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_character_columns() {
        let ws = words("a  bc\té x");
        assert_eq!(ws.iter().map(|w| (w.text, w.col)).collect::<Vec<_>>(), vec![("a", 1), ("bc", 4), ("é", 7), ("x", 9)]);
    }

    #[test]
    fn prefixes() {
        assert_eq!(prefix("default"), Some(Prefix::V4(Ipv4Net::default())));
        assert_eq!(prefix("10.0.0.1"), Some(Prefix::V4("10.0.0.1/32".parse().unwrap())));
        assert_eq!(prefix("fe80::/64"), Some(Prefix::V6));
        assert_eq!(prefix("10.0.0.0/33"), None);
        assert_eq!(prefix("bogus"), None);
    }

    #[test]
    fn named_tables_are_stable_and_high() {
        assert_eq!(named_table_id("netbird"), named_table_id("netbird"));
        assert!(named_table_id("netbird") >= 0x8000_0000);
        assert_eq!(table_id("main"), Some(254));
        assert_eq!(table_id("0x10"), Some(16));
    }
}
