//! JUnit XML for `nfpath test --junit FILE`, the dialect CI systems (Jenkins, GitLab, GitHub
//! actions reporters) read: one testsuite per flows file, one testcase per flow.

use std::fmt::Write;

#[derive(Clone, Debug)]
pub struct CaseReport {
    pub name: String,
    /// `None`: passed; `Some(text)`: failed with this message.
    pub failure: Option<String>,
    /// Extra text (the outcomes), shown as system-out.
    pub output: String,
}

#[derive(Clone, Debug)]
pub struct SuiteReport {
    pub name: String,
    pub cases: Vec<CaseReport>,
}

pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // XML 1.0 forbids most control characters even escaped.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => o.push('?'),
            c => o.push(c),
        }
    }
    o
}

/// Renders suites as one `<testsuites>` document. No timestamps or durations: the output is
/// the same for the same input.
pub fn render(suites: &[SuiteReport]) -> String {
    let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failures: usize = suites.iter().map(|s| s.cases.iter().filter(|c| c.failure.is_some()).count()).sum();
    let mut x = String::new();
    let _ = writeln!(x, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(x, r#"<testsuites name="nfpath" tests="{tests}" failures="{failures}" errors="0">"#);
    for s in suites {
        let f = s.cases.iter().filter(|c| c.failure.is_some()).count();
        let _ = writeln!(x, r#"  <testsuite name="{}" tests="{}" failures="{}" errors="0" skipped="0">"#, escape(&s.name), s.cases.len(), f);
        for c in &s.cases {
            let _ = write!(x, r#"    <testcase classname="{}" name="{}""#, escape(&s.name), escape(&c.name));
            if c.failure.is_none() && c.output.is_empty() {
                let _ = writeln!(x, "/>");
                continue;
            }
            let _ = writeln!(x, ">");
            if let Some(msg) = &c.failure {
                let first = msg.lines().next().unwrap_or("");
                let _ = writeln!(x, r#"      <failure message="{}" type="expectation">{}</failure>"#, escape(first), escape(msg));
            }
            if !c.output.is_empty() {
                let _ = writeln!(x, "      <system-out>{}</system-out>", escape(&c.output));
            }
            let _ = writeln!(x, "    </testcase>");
        }
        let _ = writeln!(x, "  </testsuite>");
    }
    let _ = writeln!(x, "</testsuites>");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_escapes() {
        let x = render(&[SuiteReport {
            name: "scenarios/a & b".into(),
            cases: vec![
                CaseReport { name: "ok".into(), failure: None, output: String::new() },
                CaseReport { name: "bad<1>".into(), failure: Some("result: expected connected\nmore".into()), output: "x".into() },
            ],
        }]);
        assert!(x.contains(r#"tests="2" failures="1""#));
        assert!(x.contains("a &amp; b"));
        assert!(x.contains(r#"name="bad&lt;1&gt;""#));
        assert!(x.contains(r#"message="result: expected connected""#));
    }
}
