//! Splitting a rule line into words the way iptables-restore does (`xshared.c:add_param_to_argv`),
//! the argument cursor the option parsers read from, and the inverse: quoting a value the way
//! iptables-save prints it (`xtables.c:xtables_save_string`).

use std::borrow::Cow;

/// One argument of a rule line. `text` borrows the line unless quoting forced a copy.
#[derive(Clone, Debug)]
pub(crate) struct Word<'a> {
    pub text: Cow<'a, str>,
    /// 1-based byte column of the word's first character in its line.
    pub col: u32,
    /// The word was written in double quotes: it is a value, never an option.
    pub quoted: bool,
}

impl<'a> Word<'a> {
    pub fn as_str(&self) -> &str {
        &self.text
    }
    /// True for an unquoted word that starts like an option (`-x` or `--xyz`).
    pub fn is_option(&self) -> bool {
        !self.quoted && self.text.len() > 1 && self.text.starts_with('-')
    }
}

/// A syntax error with the place it points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PErr {
    pub col: u32,
    pub message: String,
    pub expected: Option<String>,
    pub found: Option<String>,
    /// Diagnostic code; `syntax` unless a more precise one applies.
    pub code: &'static str,
}

impl PErr {
    pub fn new(col: u32, message: impl Into<String>) -> Self {
        PErr { col, message: message.into(), expected: None, found: None, code: "syntax" }
    }
    pub fn expected(col: u32, message: impl Into<String>, expected: impl Into<String>, found: impl Into<String>) -> Self {
        PErr { col, message: message.into(), expected: Some(expected.into()), found: Some(found.into()), code: "syntax" }
    }
    pub fn code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }
}

/// Splits `line` (whose first byte is at column `base_col`) into words. Double quotes group,
/// a backslash inside quotes escapes the next character, outside quotes it is literal; an empty
/// pair of quotes is an (empty) word. Words are pushed to `out`, which the caller reuses across
/// lines so that a dump of plain words costs no allocation per word. Returns whether an
/// unquoted word holds an `=` (a `--opt=value` candidate).
pub(crate) fn split_words<'a>(line: &'a str, base_col: u32, out: &mut Vec<Word<'a>>) -> Result<bool, PErr> {
    let bytes = line.as_bytes();
    let mut i = 0;
    // An unquoted word holds an `=`, so `--opt=value` splitting must be tried.
    let mut equals = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b' ' || c == b'\t' {
            i += 1;
            continue;
        }
        let start = i;
        // Fast path: a word with no quote in it is a plain slice.
        let (j, eq) = super::scan::find_word_end(bytes, i);
        equals |= eq;
        if j == bytes.len() || bytes[j] != b'"' {
            out.push(Word { text: Cow::Borrowed(&line[start..j]), col: base_col + start as u32, quoted: false });
            i = j;
            continue;
        }
        // Common quoted case: the whole word is `"..."` with no escape inside; borrow it.
        if j == start {
            if let Some(q) = bytes[start + 1..].iter().position(|&c| c == b'"' || c == b'\\').map(|p| start + 1 + p) {
                let after = q + 1;
                if bytes[q] == b'"' && (after == bytes.len() || bytes[after] == b' ' || bytes[after] == b'\t') {
                    out.push(Word { text: Cow::Borrowed(&line[start + 1..q]), col: base_col + start as u32, quoted: true });
                    i = after;
                    continue;
                }
            }
        }
        // Slow path: the word contains quotes; build it, copying runs between the special
        // characters in one go.
        let mut buf = String::with_capacity(j - start + 8);
        buf.push_str(&line[start..j]);
        let mut k = j;
        let mut in_quote = false;
        loop {
            if in_quote {
                // Copy up to the next `"` or `\`.
                let run = bytes[k..].iter().position(|&c| c == b'"' || c == b'\\').map(|p| k + p).unwrap_or(bytes.len());
                buf.push_str(&line[k..run]);
                k = run;
                if k >= bytes.len() {
                    break;
                }
                if bytes[k] == b'\\' {
                    if k + 1 >= bytes.len() {
                        buf.push('\\');
                        k += 1;
                        break;
                    }
                    // Copy the escaped character whole (it may be a multi-byte one).
                    let n = utf8_len(bytes[k + 1]);
                    let end = (k + 1 + n).min(bytes.len());
                    buf.push_str(line.get(k + 1..end).unwrap_or(""));
                    k = end;
                } else {
                    in_quote = false;
                    k += 1;
                }
            } else {
                let run = bytes[k..].iter().position(|&c| c == b'"' || c == b' ' || c == b'\t').map(|p| k + p).unwrap_or(bytes.len());
                buf.push_str(&line[k..run]);
                k = run;
                if k >= bytes.len() || bytes[k] != b'"' {
                    break;
                }
                in_quote = true;
                k += 1;
            }
        }
        if in_quote {
            return Err(PErr::expected(base_col + j as u32, "unterminated quoted string", "a closing `\"`", "end of line"));
        }
        out.push(Word { text: Cow::Owned(buf), col: base_col + start as u32, quoted: true });
        i = k;
    }
    Ok(equals)
}

fn utf8_len(b: u8) -> usize {
    match b {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

/// Appends ` value`, quoted as `xtables_save_string` does: bare when it is made only of
/// `[A-Za-z0-9_-]` (and not empty), otherwise in double quotes with `"`, `\` and `'` escaped.
pub fn push_quoted(out: &mut String, value: &str) {
    out.push(' ');
    let plain = !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        out.push_str(value);
        return;
    }
    out.push('"');
    for ch in value.chars() {
        if ch == '"' || ch == '\\' || ch == '\'' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
}

/// Appends ` word` for a word kept verbatim (unsupported extensions): quoted only when
/// splitting would not give it back (empty, blanks, quotes, backslashes inside quotes).
pub fn push_verbatim(out: &mut String, value: &str) {
    out.push(' ');
    if !value.is_empty() && !value.bytes().any(|b| b == b' ' || b == b'\t' || b == b'"') {
        out.push_str(value);
        return;
    }
    out.push('"');
    for ch in value.chars() {
        if ch == '"' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
}

/// A cursor over a rule's words, as getopt walks argv.
pub(crate) struct Args<'w, 'a> {
    words: &'w [Word<'a>],
    pos: usize,
    /// Column just past the line, for "found end of line".
    pub end_col: u32,
}

impl<'w, 'a> Args<'w, 'a> {
    pub fn new(words: &'w [Word<'a>], end_col: u32) -> Self {
        Args { words, pos: 0, end_col }
    }
    pub fn peek(&self) -> Option<&'w Word<'a>> {
        self.words.get(self.pos)
    }
    pub fn peek_at(&self, n: usize) -> Option<&'w Word<'a>> {
        self.words.get(self.pos + n)
    }
    pub fn bump(&mut self) -> Option<&'w Word<'a>> {
        let w = self.words.get(self.pos);
        if w.is_some() {
            self.pos += 1;
        }
        w
    }
    pub fn pos(&self) -> usize {
        self.pos
    }
    /// Column of the next word, or of the end of the line.
    pub fn col(&self) -> u32 {
        self.peek().map(|w| w.col).unwrap_or(self.end_col)
    }

    /// If the next words are `[!] OPT` with OPT one of `opts`, consumes them and returns
    /// `(inverted, opt, column of OPT)`. Options are matched exactly (iptables-save never
    /// abbreviates).
    pub fn next_opt(&mut self, opts: &[&'static str]) -> Option<(bool, &'static str, u32)> {
        let w = self.peek()?;
        let (inv, ow) = if !w.quoted && w.as_str() == "!" { (true, self.peek_at(1)?) } else { (false, w) };
        if ow.quoted {
            return None;
        }
        let found = opts.iter().find(|o| **o == ow.as_str())?;
        self.pos += if inv { 2 } else { 1 };
        Some((inv, found, ow.col))
    }

    /// The value of option `opt`: the next word, whatever it is (getopt's required_argument).
    pub fn value(&mut self, opt: &str) -> Result<&'w Word<'a>, PErr> {
        match self.bump() {
            Some(w) => Ok(w),
            None => Err(PErr::expected(self.end_col, format!("option `{opt}` needs a value"), format!("a value for `{opt}`"), "end of line")),
        }
    }

    /// Like `value`, but also takes the old `--opt ! value` negation form.
    pub fn value_inv(&mut self, opt: &str, inv: &mut bool) -> Result<&'w Word<'a>, PErr> {
        if let Some(w) = self.peek() {
            if !w.quoted && w.as_str() == "!" && self.peek_at(1).is_some() {
                if *inv {
                    return Err(PErr::new(w.col, format!("`!` given twice for `{opt}`")));
                }
                *inv = true;
                self.pos += 1;
            }
        }
        self.value(opt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        let mut v = Vec::new();
        split_words(s, 1, &mut v).expect("split");
        v.into_iter().map(|w| w.text.into_owned()).collect()
    }

    #[test]
    fn splits_quotes_like_iptables_restore() {
        assert_eq!(words(r#"-m comment --comment "has space" -j X"#), ["-m", "comment", "--comment", "has space", "-j", "X"]);
        assert_eq!(words(r#"--comment "\"""#), ["--comment", "\""]);
        assert_eq!(words(r#"--comment "\"a b\"""#), ["--comment", "\"a b\""]);
        assert_eq!(words(r#"--log-prefix "!#*~%&/()=?""#), ["--log-prefix", "!#*~%&/()=?"]);
        assert_eq!(words(r#"a""b "" c"#), ["ab", "", "c"]);
        assert_eq!(words("a\\b  c"), ["a\\b", "c"]);
        assert_eq!(words(r#""x y"z "" "p\"q" "end""#), ["x yz", "", "p\"q", "end"]);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        let mut v = Vec::new();
        let e = split_words(r#"-m comment --comment "x"#, 1, &mut v).expect_err("must fail");
        assert_eq!(e.col, 22);
    }

    #[test]
    fn quotes_like_iptables_save() {
        let mut s = String::new();
        push_quoted(&mut s, "foo");
        push_quoted(&mut s, "has space");
        push_quoted(&mut s, "\"");
        push_quoted(&mut s, "it's");
        push_quoted(&mut s, "");
        assert_eq!(s, r#" foo "has space" "\"" "it\'s" """#);
    }
}
