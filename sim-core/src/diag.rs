//! Diagnostics: every importer returns a value plus a list of these; nothing the user gave is
//! dropped without one.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A place in an input file. Lines and columns count from 1; column 0 means "the whole line".
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Span {
    pub file: String,
    pub line: u32,
    pub col: u32,
}

impl Span {
    pub fn new(file: impl Into<String>, line: u32, col: u32) -> Self {
        Span { file: file.into(), line, col }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.col > 0 {
            write!(f, "{}:{}:{}", self.file, self.line, self.col)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The input cannot be used as it is (exit code 2 when nothing usable remains).
    Error,
    /// Kept, but something the engine depends on is unknown or assumed.
    Warning,
    /// A default was applied or something harmless was noted.
    Info,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

/// One finding about the input. `code` is a short stable identifier (for example
/// `unsupported-match`, `missing-commit`, `assumed-default`); `expected`/`found` are filled for
/// syntax errors so the message can say what was expected and what was there instead.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Diagnostic {
    pub span: Span,
    pub severity: Severity,
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub found: Option<String>,
}

impl Diagnostic {
    pub fn new(span: Span, severity: Severity, code: &str, message: impl Into<String>) -> Self {
        Diagnostic { span, severity, code: code.to_string(), message: message.into(), expected: None, found: None }
    }
    pub fn error(span: Span, code: &str, message: impl Into<String>) -> Self {
        Self::new(span, Severity::Error, code, message)
    }
    pub fn warning(span: Span, code: &str, message: impl Into<String>) -> Self {
        Self::new(span, Severity::Warning, code, message)
    }
    pub fn info(span: Span, code: &str, message: impl Into<String>) -> Self {
        Self::new(span, Severity::Info, code, message)
    }
    pub fn with_expected(mut self, expected: impl Into<String>, found: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self.found = Some(found.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}[{}]: {}", self.span, self.severity, self.code, self.message)?;
        if let (Some(e), Some(found)) = (&self.expected, &self.found) {
            write!(f, " (expected {e}, found {found})")?;
        }
        Ok(())
    }
}

/// A parse result: the value is always present (possibly partial), the diagnostics say what was
/// wrong or assumed.
#[derive(Clone, Debug)]
pub struct Parsed<T> {
    pub value: T,
    pub diagnostics: Vec<Diagnostic>,
}

impl<T> Parsed<T> {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }
}
