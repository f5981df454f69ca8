//! `nfpath lint`: problems visible in a state without sending a packet (`sim_core::lint`).

use crate::cmd::state;
use crate::error::{print_stdout, CliResult, EXIT_FAILED, EXIT_OK};
use crate::style;
use sim_core::diag::{Diagnostic, Severity};
use std::path::PathBuf;

/// Lint a state: per namespace (forwarding off on a node with pods, rp_filter against
/// asymmetric routes, masquerade gaps, ...) and across nodes (pod subnets without routes,
/// addresses in another node's subnet, fdb entries to unknown hosts).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  nfpath lint scenarios/kube-proxy-routed
  nfpath lint snap/node-a --json

Findings print as FILE: SEVERITY[CODE]: MESSAGE, FILE being NAMESPACE/the snapshot file the
finding is about, then a summary line. Exit codes: 0 no error-level finding (warnings and notes
do not fail), 1 at least one error-level finding, 2 the state could not be used. A finding is a
fact about a usable state, so it never exits 2.")]
pub struct Args {
    /// A cluster file, a folder holding cluster.yaml, or a snapshot folder
    pub path: PathBuf,
    /// Print the findings as a JSON array of diagnostics
    #[arg(long)]
    pub json: bool,
    /// Also print informational findings and import notes
    #[arg(long, short)]
    pub verbose: bool,
}

/// Every finding, namespaces in name order then the cluster checks over the nodes and the fdb
/// destinations against the underlay (`sim_core::lint_devices::lint_world`).
pub fn findings(world: &sim_core::engine::World) -> Vec<Diagnostic> {
    sim_core::lint_devices::lint_world(world)
}

pub fn run(a: Args) -> CliResult<u8> {
    let st = state::load(&a.path, a.verbose)?;
    let all = findings(&st.world);
    let shown: Vec<&Diagnostic> = all.iter().filter(|d| a.verbose || d.severity != Severity::Info).collect();
    let count = |s: Severity| all.iter().filter(|d| d.severity == s).count();
    let (errors, warnings, notes) = (count(Severity::Error), count(Severity::Warning), count(Severity::Info));
    let summary = format!("{errors} errors, {warnings} warnings, {notes} notes");
    let mut out = String::new();
    if a.json {
        out.push_str(&serde_json::to_string_pretty(&shown).unwrap_or_default());
        out.push('\n');
        eprintln!("{summary}");
    } else {
        let colour = style::stdout_colour();
        for d in &shown {
            let c = match d.severity {
                Severity::Error => style::Colour::Red,
                Severity::Warning => style::Colour::Yellow,
                Severity::Info => style::Colour::Dim,
            };
            out.push_str(&style::paint(&d.to_string(), c, colour));
            out.push('\n');
        }
        out.push_str(&summary);
        out.push('\n');
    }
    print_stdout(&out)?;
    Ok(if errors > 0 { EXIT_FAILED } else { EXIT_OK })
}
