//! A small JSON reader that remembers where every value starts, so that a diagnostic about an
//! `ip -j` field can point at its line and column (serde_json's `Value` forgets positions).

use crate::diag::{Diagnostic, Span};

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Jv {
    Null,
    Bool(bool),
    /// The number as written, so `0x`-free integers and floats both survive.
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

/// A JSON value and the position (1-based line and character column) where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct J {
    pub v: Jv,
    pub line: u32,
    pub col: u32,
}

impl J {
    pub fn get(&self, key: &str) -> Option<&J> {
        match &self.v {
            Jv::Obj(kv) => kv.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    pub fn str(&self) -> Option<&str> {
        match &self.v {
            Jv::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn u64(&self) -> Option<u64> {
        match &self.v {
            Jv::Num(n) => n.parse().ok(),
            // iproute2 prints some numbers as strings (`"table": "100"`, `"tos": "0x10"`).
            Jv::Str(s) => crate::parse::ip_text::lex::num_u32(s).map(u64::from),
            _ => None,
        }
    }
    pub fn i64(&self) -> Option<i64> {
        match &self.v {
            Jv::Num(n) => n.parse().ok(),
            _ => None,
        }
    }
    /// `true`/`false`, and the 0/1 integers the bridge options use.
    pub fn truthy(&self) -> Option<bool> {
        match &self.v {
            Jv::Bool(b) => Some(*b),
            Jv::Num(n) => n.parse::<i64>().ok().map(|v| v != 0),
            Jv::Null => Some(true),
            _ => None,
        }
    }
    pub fn arr(&self) -> Option<&[J]> {
        match &self.v {
            Jv::Arr(a) => Some(a),
            _ => None,
        }
    }
    pub fn keys(&self) -> impl Iterator<Item = (&str, &J)> {
        let kv: &[(String, J)] = match &self.v {
            Jv::Obj(kv) => kv,
            _ => &[],
        };
        kv.iter().map(|(k, v)| (k.as_str(), v))
    }
    pub fn span(&self, file: &str) -> Span {
        Span::new(file, self.line, self.col)
    }
    /// A short rendering of the value for `found` in diagnostics.
    pub fn show(&self) -> String {
        match &self.v {
            Jv::Null => "null".into(),
            Jv::Bool(b) => b.to_string(),
            Jv::Num(n) => n.clone(),
            Jv::Str(s) => format!("\"{s}\""),
            Jv::Arr(_) => "[...]".into(),
            Jv::Obj(_) => "{...}".into(),
        }
    }
}

/// Deep enough for any `ip -j` output; deeper input is refused instead of exhausting the stack.
const MAX_DEPTH: u32 = 64;

struct P<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    line: u32,
    line_start: usize,
    /// The last column computed and the offset it was for: `ip -j` prints everything on one
    /// line, so columns are counted forward from there instead of from the line start (which
    /// would make a large document quadratic).
    col_cache: (usize, u32),
}

type PResult<T> = Result<T, (u32, u32, String, String)>;

impl<'a> P<'a> {
    fn col(&mut self) -> u32 {
        let (from, col0) = if self.col_cache.0 >= self.line_start && self.col_cache.0 <= self.i { self.col_cache } else { (self.line_start, 1) };
        let col = col0 + self.text.get(from..self.i).map(|t| t.chars().count() as u32).unwrap_or(0);
        self.col_cache = (self.i, col);
        col
    }
    fn err<T>(&mut self, expected: &str) -> PResult<T> {
        let found = match self.text.get(self.i..).and_then(|r| r.chars().next()) {
            None => "end of input".to_string(),
            Some(c) => format!("`{c}`"),
        };
        Err((self.line, self.col(), expected.to_string(), found))
    }
    fn ws(&mut self) {
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'\n' => {
                    self.i += 1;
                    self.line += 1;
                    self.line_start = self.i;
                }
                b' ' | b'\t' | b'\r' => self.i += 1,
                _ => break,
            }
        }
    }
    fn value(&mut self, depth: u32) -> PResult<J> {
        self.ws();
        if depth > MAX_DEPTH {
            return self.err("at most 64 levels of nesting");
        }
        let (line, col) = (self.line, self.col());
        let v = match self.s.get(self.i) {
            None => return self.err("a JSON value"),
            Some(b'{') => {
                self.i += 1;
                let mut kv = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        if self.s.get(self.i) != Some(&b'"') {
                            return self.err("a string key");
                        }
                        let k = self.string()?;
                        self.ws();
                        if self.s.get(self.i) != Some(&b':') {
                            return self.err("`:`");
                        }
                        self.i += 1;
                        let v = self.value(depth + 1)?;
                        kv.push((k, v));
                        self.ws();
                        match self.s.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                break;
                            }
                            _ => return self.err("`,` or `}`"),
                        }
                    }
                }
                Jv::Obj(kv)
            }
            Some(b'[') => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                } else {
                    loop {
                        a.push(self.value(depth + 1)?);
                        self.ws();
                        match self.s.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                break;
                            }
                            _ => return self.err("`,` or `]`"),
                        }
                    }
                }
                Jv::Arr(a)
            }
            Some(b'"') => Jv::Str(self.string()?),
            Some(b't') if self.s[self.i..].starts_with(b"true") => {
                self.i += 4;
                Jv::Bool(true)
            }
            Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                self.i += 5;
                Jv::Bool(false)
            }
            Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Jv::Null
            }
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let st = self.i;
                self.i += 1;
                while self.i < self.s.len() && matches!(self.s[self.i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                    self.i += 1;
                }
                Jv::Num(self.text[st..self.i].to_string())
            }
            _ => return self.err("a JSON value"),
        };
        Ok(J { v, line, col })
    }
    fn string(&mut self) -> PResult<String> {
        // At the opening quote.
        self.i += 1;
        let mut out = String::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return self.err("a closing `\"`");
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.i += 1;
                    let Some(&e) = self.s.get(self.i) else {
                        return self.err("an escape character");
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let h = self.text.get(self.i..self.i + 4).and_then(|h| u32::from_str_radix(h, 16).ok());
                            match h {
                                Some(h) => {
                                    self.i += 4;
                                    out.push(char::from_u32(h).unwrap_or('\u{fffd}'));
                                }
                                None => return self.err("four hex digits after `\\u`"),
                            }
                        }
                        _ => {
                            self.i -= 1;
                            return self.err("a JSON escape (`\\\"`, `\\\\`, `\\n`, `\\u0041`, ...)");
                        }
                    }
                }
                b'\n' => return self.err("a closing `\"` before the end of the line"),
                _ => {
                    // Copy one UTF-8 character.
                    let ch = self.text[self.i..].chars().next().unwrap_or('\u{fffd}');
                    out.push(ch);
                    self.i += ch.len_utf8().max(1);
                }
            }
        }
    }
}

/// Parses a whole JSON document. On a syntax error returns one error diagnostic at the spot.
pub(crate) fn parse(file: &str, text: &str) -> Result<J, Box<Diagnostic>> {
    let mut p = P { s: text.as_bytes(), text, i: 0, line: 1, line_start: 0, col_cache: (0, 1) };
    let r = p.value(0).and_then(|v| {
        p.ws();
        if p.i < p.s.len() {
            p.err("end of input after the JSON value")
        } else {
            Ok(v)
        }
    });
    r.map_err(|(line, col, expected, found)| {
        Box::new(
            Diagnostic::error(Span::new(file, line, col), "json-syntax", format!("not valid JSON: expected {expected}, found {found}"))
                .with_expected(expected, found),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_nested_values() {
        let j = parse("f", "[{\"a\": 1,\n  \"b\": \"x\"}]").unwrap();
        let o = &j.arr().unwrap()[0];
        let b = o.get("b").unwrap();
        assert_eq!((b.line, b.col), (2, 8));
        assert_eq!(b.str(), Some("x"));
    }

    #[test]
    fn errors_point_at_the_spot() {
        let e = parse("f.json", "[{\"a\": 1,,}]").unwrap_err();
        assert_eq!(e.span.to_string(), "f.json:1:10");
        let e = parse("f.json", "[1, 2").unwrap_err();
        assert_eq!(e.found.as_deref(), Some("end of input"));
        assert!(parse("f", &"[".repeat(100_000)).is_err());
        // Columns count characters, across cached positions on one long line.
        let e = parse("f", "[{\"a\": \"éé\"}, {\"b\": x}]").unwrap_err();
        assert_eq!(e.span.to_string(), "f:1:21");
        let j = parse("f", "[1,\n \"é\", 3]").unwrap();
        assert_eq!((j.arr().unwrap()[2].line, j.arr().unwrap()[2].col), (2, 7));
        assert!(parse("f", "\"\\u12").is_err());
    }
}
