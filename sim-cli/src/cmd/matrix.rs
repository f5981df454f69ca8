//! `nfpath matrix`: every client (pod) to every Service port of a state, folded into counts per
//! outcome and the Service ports some client cannot reach (`sim_core::engine::batch`).

use crate::cmd::state;
use crate::error::{print_stdout, CliError, CliResult, EXIT_FAILED, EXIT_OK};
use sim_core::engine::batch::{kube_node, Matrix, MatrixReport};
use sim_core::engine::{RunOptions, TraceLevel};
use std::path::PathBuf;
use std::time::Instant;

/// Run every pod to every Service port of a state and report what did not connect.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  nfpath matrix scenarios/kube-proxy-routed           # every pod to every Service port
  nfpath matrix my-cluster/ --from 'shop/*' --json     # only these clients, as JSON
  nfpath matrix --generate 1000x10000                  # the benchmark node of benches/batch.rs

Clients are every namespace that is not a node (a node forwards or holds kube-proxy's rules);
Service ports are the ClusterIP, external and load-balancer ports of every node's nat
KUBE-SERVICES chain. Every random choice (-m statistic) is followed, so a flow counts as
connected only if every endpoint answers. Exit code 0: every flow connected; 1: some did not;
2: the state could not be used. The time taken goes to stderr, so stdout is the same every run.")]
pub struct Args {
    /// A cluster file, a folder holding cluster.yaml, or a snapshot folder
    #[arg(required_unless_present = "generate", conflicts_with = "generate")]
    pub state: Option<PathBuf>,
    /// Instead of a state, the generated node of the benchmark: PODS x SERVICES (e.g. 1000x10000):
    /// kube-proxy rules of `nfpath gen kube-proxy --services SERVICES --seed SEED` and PODS
    /// calico-style pods, some of them endpoints
    #[arg(long, value_name = "PODSxSERVICES")]
    pub generate: Option<String>,
    #[arg(long, default_value_t = 1, requires = "generate")]
    pub seed: u64,
    /// Only these clients (a namespace name; a trailing * matches a prefix); repeatable
    #[arg(long, value_name = "NS")]
    pub from: Vec<String>,
    /// Print the report as JSON (every client of every failure listed)
    #[arg(long)]
    pub json: bool,
    /// In text, list at most this many clients per failure
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub list: usize,
    /// Also print informational diagnostics about the state
    #[arg(long, short)]
    pub verbose: bool,
}

fn parse_size(s: &str) -> CliResult<(usize, usize)> {
    let bad = || CliError::unusable(format!("--generate {s:?}: expected PODSxSERVICES, e.g. 1000x10000"));
    let (p, v) = s.split_once('x').ok_or_else(bad)?;
    let (p, v): (usize, usize) = (p.trim().parse().map_err(|_| bad())?, v.trim().parse().map_err(|_| bad())?);
    // The pods' block is at most a /12 and the generator's node ports and addresses run out
    // beyond a few hundred thousand Service ports.
    if p == 0 || v == 0 || p > 100_000 || v > 200_000 {
        return Err(CliError::unusable(format!("--generate {s}: expected 1 to 100000 pods and 1 to 200000 services")));
    }
    Ok((p, v))
}

fn selected(name: &str, pats: &[String]) -> bool {
    pats.is_empty()
        || pats.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == p,
        })
}

pub fn run(a: Args) -> CliResult<u8> {
    let t = Instant::now();
    let world = match (&a.generate, &a.state) {
        (Some(g), _) => {
            let (pods, services) = parse_size(g)?;
            kube_node(pods, services, a.seed).0
        }
        (None, Some(p)) => state::load(p, a.verbose)?.world,
        (None, None) => return Err(CliError::unusable("give a state or --generate PODSxSERVICES")),
    };
    let mut m = Matrix::every_pod_to_every_service(&world);
    m.clients.retain(|c| selected(c, &a.from));
    if m.clients.is_empty() {
        return Err(CliError::unusable(if a.from.is_empty() {
            "no clients: every namespace of the state is a node".to_string()
        } else {
            format!("no client namespace matches --from {}", a.from.join(" "))
        }));
    }
    if m.ports.is_empty() {
        return Err(CliError::unusable("no Service ports: no node has kube-proxy's nat KUBE-SERVICES chain with ClusterIP rules"));
    }
    let loaded = t.elapsed();
    let t = Instant::now();
    let report = world.run_matrix(&m, &RunOptions { trace: TraceLevel::Summary, ..RunOptions::default() });
    eprintln!("nfpath: state ready in {loaded:.2?}; {} flows in {:.2?} on {} threads", report.flows, t.elapsed(), rayon::current_num_threads());
    let out = if a.json { serde_json::to_string_pretty(&report).unwrap_or_default() + "\n" } else { text(&report, a.list) };
    print_stdout(&out)?;
    Ok(if report.connected == report.flows { EXIT_OK } else { EXIT_FAILED })
}

/// Counts per outcome, then each Service port some client did not connect to.
pub fn text(r: &MatrixReport, list: usize) -> String {
    let mut out = format!("{} clients x {} Service ports = {} flows\n", r.clients, r.ports, r.flows);
    let w = r.counts.values().max().map_or(1, |v| v.to_string().len());
    let mut counts: Vec<(&String, &u64)> = r.counts.iter().collect();
    counts.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    for (k, v) in counts {
        out.push_str(&format!("  {v:>w$} {k}\n"));
    }
    if r.failing.is_empty() {
        out.push_str("every client connects to every Service port\n");
        return out;
    }
    out.push_str(&format!("not connected ({} of {} Service ports):\n", r.failing.len(), r.ports));
    for f in &r.failing {
        let name = f.name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
        for g in &f.groups {
            let who = if g.clients.len() == r.clients { "every client".to_string() } else { format!("{} of {} clients", g.clients.len(), r.clients) };
            out.push_str(&format!("  {}{name}: {} from {who}: {}\n", f.port, g.class, g.summary));
            if g.clients.len() < r.clients {
                let shown: Vec<&str> = g.clients.iter().take(list).map(String::as_str).collect();
                let more = g.clients.len().saturating_sub(list);
                let more = if more > 0 { format!(" and {more} more") } else { String::new() };
                out.push_str(&format!("    {}{more}\n", shown.join(", ")));
            }
        }
    }
    out
}
