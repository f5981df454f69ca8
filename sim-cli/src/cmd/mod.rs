//! The command line. One module per subcommand; adding one means: a file `cmd/<name>.rs` with an
//! `Args` struct (clap derive, `after_help` example) and `pub fn run(args) -> CliResult<u8>`, one
//! `mod` line, one variant in `Command`, one arm in `run`.

use crate::error::CliResult;
use clap::{Parser, Subcommand};

pub mod collect;
pub mod completions;
pub mod diff;
pub mod gen;
pub mod lint;
pub mod matrix;
pub mod probe;
pub mod show;
pub mod state;
pub mod test;
pub mod trace;
pub mod verify;

#[derive(Debug, Parser)]
#[command(
    name = "nfpath",
    version,
    about = "Predicts what the Linux kernel does to a packet, from a node's collected state",
    after_help = "Examples:\n  nfpath collect --out snap/node-a          # snapshot this namespace\n  nfpath show snap/node-a                    # what was imported, and every diagnostic\n  nfpath trace scenarios/kube-proxy-routed --from pod-a --to 10.96.12.34:80/tcp\n  nfpath test scenarios/                     # check every scenario's expectations\n  nfpath diff scenarios/kube-proxy-routed --change node=change.txt   # what if\n  nfpath lint scenarios/kube-proxy-routed    # problems visible without sending a packet\n\nExit codes: 0 ok, 1 an expectation failed or changes were found, 2 the input could not be used."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Collect(collect::Args),
    Show(show::Args),
    Trace(trace::Args),
    Test(test::Args),
    Diff(diff::Args),
    Lint(lint::Args),
    Matrix(matrix::Args),
    #[command(subcommand)]
    Gen(gen::Command),
    Probe(probe::Args),
    Verify(verify::Args),
    Completions(completions::Args),
}

/// Runs one command and returns its exit code.
pub fn run(cli: Cli) -> CliResult<u8> {
    match cli.command {
        Command::Collect(a) => collect::run(a),
        Command::Show(a) => show::run(a),
        Command::Trace(a) => trace::run(a),
        Command::Test(a) => test::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Lint(a) => lint::run(a),
        Command::Matrix(a) => matrix::run(a),
        Command::Gen(a) => gen::run(a),
        Command::Probe(a) => probe::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Completions(a) => completions::run(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_an_example() {
        for sub in Cli::command().get_subcommands() {
            let help = sub.get_after_help().map(|s| s.to_string()).unwrap_or_default();
            assert!(help.contains("nfpath "), "command {} has no example in after_help", sub.get_name());
        }
    }
}
