//! Colour, only on a terminal and never when `NO_COLOR` is set (https://no-color.org: any
//! non-empty value disables it). Commands ask once and pass the answer down, so output written to
//! a file or pipe is always plain.

use std::io::IsTerminal;

// Shared with the commands to come (trace, test, diff); not all are used yet.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    Red,
    Green,
    Yellow,
    Blue,
    Bold,
    Dim,
}

fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Whether stdout should be coloured.
pub fn stdout_colour() -> bool {
    !no_color_env() && std::io::stdout().is_terminal()
}

/// Whether stderr should be coloured.
pub fn stderr_colour() -> bool {
    !no_color_env() && std::io::stderr().is_terminal()
}

/// Wraps `text` in the ANSI sequence for `c` when `on`, else returns it unchanged.
pub fn paint(text: &str, c: Colour, on: bool) -> String {
    if !on {
        return text.to_string();
    }
    let code = match c {
        Colour::Red => "1;31",
        Colour::Green => "32",
        Colour::Yellow => "33",
        Colour::Blue => "34",
        Colour::Bold => "1",
        Colour::Dim => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_when_off() {
        assert_eq!(paint("x", Colour::Red, false), "x");
        assert_eq!(paint("x", Colour::Red, true), "\x1b[1;31mx\x1b[0m");
    }
}
