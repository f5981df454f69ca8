//! `nfpath`: a thin binary over sim-core. Argument parsing, file IO, live-namespace collection
//! and exit codes live here; every decision about packets lives in the library.

mod cmd;
mod error;
mod style;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cmd::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help and version on stdout with exit 0, and usage errors on stderr.
            // Usage errors are "input unusable" in our contract, so they exit 2 (clap's default too).
            let code = if e.use_stderr() { error::EXIT_UNUSABLE } else { error::EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cmd::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            e.report();
            ExitCode::from(e.code)
        }
    }
}
