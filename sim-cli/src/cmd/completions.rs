//! `nfpath completions SHELL`: prints a completion script generated from the same clap definition.

use crate::error::{print_stdout, CliResult, EXIT_OK};
use clap::CommandFactory;
use clap_complete::Shell;

/// Print a shell completion script.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  nfpath completions bash > /etc/bash_completion.d/nfpath\n  nfpath completions zsh > ~/.zfunc/_nfpath\n  nfpath completions fish > ~/.config/fish/completions/nfpath.fish"
)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: Args) -> CliResult<u8> {
    let mut cmd = super::Cli::command();
    // Generated into memory first: clap_complete panics when its writer fails (a closed pipe).
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "nfpath", &mut buf);
    print_stdout(&String::from_utf8_lossy(&buf))?;
    Ok(EXIT_OK)
}
