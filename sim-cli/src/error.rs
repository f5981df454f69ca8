//! The one error type commands return, and the exit codes of interface.md §4.

use crate::style;
use std::fmt;

/// Every expectation held, or nothing to report.
pub const EXIT_OK: u8 = 0;
/// An expectation failed (`test`) or changes were found (`diff`).
pub const EXIT_FAILED: u8 = 1;
/// The input could not be used.
pub const EXIT_UNUSABLE: u8 = 2;

/// An error that ends a command. `location` is `file[:line[:column]]` when known.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub location: Option<String>,
    pub message: String,
}

pub type CliResult<T> = Result<T, CliError>;

impl CliError {
    /// The input (a file, a folder, an argument) cannot be used: exit 2.
    pub fn unusable(message: impl Into<String>) -> Self {
        CliError { code: EXIT_UNUSABLE, location: None, message: message.into() }
    }
    /// An error tied to a place in an input file.
    pub fn at(location: impl Into<String>, message: impl Into<String>) -> Self {
        CliError { code: EXIT_UNUSABLE, location: Some(location.into()), message: message.into() }
    }
    /// An IO error on a path, phrased the same way everywhere.
    pub fn io(path: &std::path::Path, what: &str, e: &std::io::Error) -> Self {
        CliError::at(path.display().to_string(), format!("cannot {what}: {e}"))
    }
    /// Prints `nfpath: error: [location: ]message` on stderr.
    pub fn report(&self) {
        eprintln!("{}", self.render(style::stderr_colour()));
    }

    pub fn render(&self, colour: bool) -> String {
        let head = style::paint("error", style::Colour::Red, colour);
        match &self.location {
            Some(loc) => format!("nfpath: {head}: {loc}: {}", self.message),
            None => format!("nfpath: {head}: {}", self.message),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

/// Writes `text` to stdout. A closed pipe (`nfpath show DIR | head`) ends the output quietly, as
/// for any Unix filter; other write errors are reported.
pub fn print_stdout(text: &str) -> CliResult<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::unusable(format!("cannot write to stdout: {e}"))),
    }
}
