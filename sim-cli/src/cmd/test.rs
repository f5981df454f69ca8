//! `nfpath test`: run flows files, check their expectations, report for people and for CI.

use crate::cmd::state;
use crate::error::{print_stdout, CliError, CliResult};
use crate::style;
use rayon::prelude::*;
use sim_core::diag::{Diagnostic, Span};
use sim_core::engine::{RunOptions, TraceLevel};
use sim_core::scenario::parse_flows;
use sim_core::scenario::runner::{self, FileReport, FlowReport};
use sim_core::scenario::world::flow_spec;
use std::path::{Path, PathBuf};

/// Run every flow of flows files (or of every flows.yaml under a folder), check expectations,
/// print one line per flow and a summary, and exit 0 (all held), 1 (one failed) or 2 (unusable).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  nfpath test scenarios/                         # every scenarios/**/flows.yaml
  nfpath test scenarios/kube-proxy-routed/flows.yaml --junit report.xml
  nfpath test my-cluster/flows.yaml --json > outcomes.json

A flows file names its state (`state: cluster.yaml` or a snapshot folder, relative to the file;
default cluster.yaml beside it). A flow without `expect:` is traced, reported and counts as passed.")]
pub struct Args {
    /// Flows files, or folders searched for flows.yaml
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Print every flow's outcomes as JSON (the contract's answer) instead of text
    #[arg(long)]
    pub json: bool,
    /// Also write a JUnit XML report here
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Only failing flows and the summary
    #[arg(long, short)]
    pub quiet: bool,
    /// Also print informational diagnostics
    #[arg(long, short)]
    pub verbose: bool,
}

fn find_flows(path: &Path, out: &mut Vec<PathBuf>) -> CliResult<()> {
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let rd = std::fs::read_dir(path).map_err(|e| CliError::io(path, "read", &e))?;
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            find_flows(&p, out)?;
        } else if p.file_name().is_some_and(|n| n == "flows.yaml") {
            out.push(p);
        }
    }
    Ok(())
}

fn run_file(path: &Path, verbose: bool, full: bool) -> FileReport {
    let name = path.display().to_string();
    let unusable = |d: Diagnostic| FileReport { file: name.clone(), flows: vec![], errors: vec![d] };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return unusable(Diagnostic::error(Span::new(&name, 0, 0), "io", format!("cannot read: {e}"))),
    };
    let p = parse_flows(&name, &text);
    if !p.diagnostics.is_empty() {
        return FileReport { file: name, flows: vec![], errors: p.diagnostics };
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let st_path = base.join(p.value.state.as_deref().unwrap_or("cluster.yaml"));
    let st = match state::load(&st_path, verbose) {
        Ok(s) => s,
        Err(e) => {
            let loc = e.location.clone().unwrap_or_else(|| st_path.display().to_string());
            return unusable(Diagnostic::error(Span::new(loc, 0, 0), "state", e.message));
        }
    };
    // Expectations and the text and JUnit reports read outcomes only; the steps are built when
    // they are printed (`--json`). Outcomes are the same at both levels (tests/determinism.rs).
    let opts = RunOptions { trace: if full { TraceLevel::Full } else { TraceLevel::Summary }, ..RunOptions::default() };
    // Flows run in parallel; collecting keeps the file's order, so the output is the same for
    // any number of threads.
    let results: Vec<Result<FlowReport, Diagnostic>> = p
        .value
        .flows
        .par_iter()
        .map(|f| {
            let spec = flow_spec(f).map_err(|e| Diagnostic::error(Span::new(&name, 0, 0), "flow", e))?;
            if st.world.namespace(f.from.ns()).is_none() {
                return Err(Diagnostic::error(
                    Span::new(&name, 0, 0),
                    "flow",
                    format!("flow {}: no namespace {:?} in {}", f.name, f.from.ns(), st_path.display()),
                ));
            }
            let o = RunOptions { seed: f.seed, ..opts.clone() };
            Ok(FlowReport::new(f.clone(), st.world.run_flow(&spec, &o)))
        })
        .collect();
    let mut flows = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(f) => flows.push(f),
            Err(d) => errors.push(d),
        }
    }
    FileReport { file: name, flows, errors }
}

pub fn run(a: Args) -> CliResult<u8> {
    let mut files = Vec::new();
    for p in &a.paths {
        find_flows(p, &mut files)?;
    }
    if files.is_empty() {
        return Err(CliError::unusable("no flows files found (looked for flows.yaml)"));
    }
    let reports: Vec<FileReport> = files.iter().map(|f| run_file(f, a.verbose, a.json)).collect();
    let colour = style::stdout_colour();
    let mut out = String::new();
    if a.json {
        let all: Vec<serde_json::Value> = reports
            .iter()
            .flat_map(|r| r.flows.iter().map(move |f| (r, f)))
            .map(|(r, f)| {
                let mut v = serde_json::to_value(&f.result).unwrap_or_default();
                v["file"] = serde_json::Value::String(r.file.clone());
                v["failures"] = serde_json::Value::Array(f.failures.iter().map(|x| serde_json::Value::String(x.to_string())).collect());
                v
            })
            .collect();
        out.push_str(&serde_json::to_string_pretty(&all).unwrap_or_default());
        out.push('\n');
    } else {
        for r in &reports {
            if !a.quiet {
                out.push_str(&style::paint(&r.file, style::Colour::Bold, colour));
                out.push('\n');
            }
            for e in &r.errors {
                out.push_str(&format!("  {} {e}\n", style::paint("ERROR", style::Colour::Red, colour)));
            }
            for f in &r.flows {
                if a.quiet && f.passed() {
                    continue;
                }
                let line = runner::flow_line(f);
                let line = if f.passed() { line } else { style::paint(&line, style::Colour::Red, colour) };
                out.push_str(&format!("  {line}\n"));
            }
        }
    }
    if let Some(j) = &a.junit {
        std::fs::write(j, runner::junit(&reports)).map_err(|e| CliError::io(j, "write the JUnit report", &e))?;
    }
    // The summary goes to stderr with --json so that stdout stays one JSON document.
    let summary = runner::summary_line(&reports);
    if a.json {
        eprintln!("{summary}");
    } else {
        out.push_str(&summary);
        out.push('\n');
    }
    print_stdout(&out)?;
    Ok(runner::exit_code(&reports) as u8)
}
