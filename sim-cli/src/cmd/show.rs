//! `nfpath show`: (being written)
use crate::error::{CliError, CliResult};
use std::path::PathBuf;

/// Print what a snapshot folder imports to: tables, devices, routes, rules and diagnostics.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  nfpath show snap/node-a\n  nfpath show snap/node-a --json | jq .links")]
pub struct Args {
    /// Snapshot folder
    pub dir: PathBuf,
    /// Print the namespace model as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> CliResult<u8> {
    Err(CliError::unusable(format!("{}: show is being written", args.dir.display())))
}
