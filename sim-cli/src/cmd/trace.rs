//! `nfpath trace`: one flow, walked through the kernel, rule by rule.

use crate::cmd::state;
use crate::error::{print_stdout, CliError, CliResult, EXIT_OK};
use crate::style;
use sim_core::engine::{RunOptions, TraceLevel};
use sim_core::scenario::world::flow_spec;
use sim_core::scenario::{parse_flows, Destination, Flow, InjectSource, Source};
use sim_core::trace::render;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Dot,
    Mermaid,
}

/// Trace one flow: every hook, table, chain and rule it crosses, every rewrite, the reply's way
/// back, and one sentence on what happened.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  nfpath trace scenarios/kube-proxy-routed --from pod-a --to 10.96.12.34:80/tcp
  nfpath trace snap/node-a --from node-a --src 203.0.113.7 --iif eth0 --to 192.168.0.10:30080/tcp
  nfpath trace scenarios/kube-proxy-routed/flows.yaml --flow nodeport-from-outside --format dot | dot -Tsvg > path.svg

PATH is a cluster file, a folder holding cluster.yaml, or one snapshot folder (with --from and
--to), or a flows file (with --flow, or every flow in it).")]
pub struct Args {
    /// Cluster file, scenario folder, snapshot folder, or flows file
    pub path: PathBuf,
    /// Namespace the client runs in
    #[arg(long)]
    pub from: Option<String>,
    /// Destination: ADDRESS:PORT/tcp, ADDRESS:PORT/udp or ADDRESS/icmp
    #[arg(long)]
    pub to: Option<String>,
    /// Source address (bound by the client, or of the injected packet with --iif)
    #[arg(long)]
    pub src: Option<std::net::Ipv4Addr>,
    /// Inject the packet as received on this interface of the --from namespace
    #[arg(long)]
    pub iif: Option<String>,
    /// Client source port
    #[arg(long)]
    pub sport: Option<u16>,
    /// skb mark of the client's packets (SO_MARK)
    #[arg(long)]
    pub mark: Option<u32>,
    /// With a flows file: the flow to trace (default: all)
    #[arg(long)]
    pub flow: Option<String>,
    /// Follow one branch of every random choice, drawn from this seed
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Same as --format json
    #[arg(long)]
    pub json: bool,
    /// Same as --format dot
    #[arg(long)]
    pub dot: bool,
    /// Only each outcome's headline and summary, no steps
    #[arg(long)]
    pub brief: bool,
    /// Also print informational diagnostics (defaults assumed, files ignored)
    #[arg(long, short)]
    pub verbose: bool,
}

fn flows_from_file(path: &Path, only: Option<&str>) -> CliResult<(PathBuf, Vec<Flow>)> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path, "read the flows file", &e))?;
    let p = parse_flows(&path.display().to_string(), &text);
    if let Some(d) = p.diagnostics.first() {
        return Err(state::diag_error(d));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let st = base.join(p.value.state.as_deref().unwrap_or("cluster.yaml"));
    let mut flows = p.value.flows;
    if let Some(name) = only {
        flows.retain(|f| f.name == name);
        if flows.is_empty() {
            return Err(CliError::at(path.display().to_string(), format!("no flow named {name:?}")));
        }
    }
    Ok((st, flows))
}

pub fn run(a: Args) -> CliResult<u8> {
    let is_flows_file = a.to.is_none() && a.path.is_file() && !a.path.ends_with("cluster.yaml");
    let (state_path, flows) = if is_flows_file {
        flows_from_file(&a.path, a.flow.as_deref())?
    } else {
        let (Some(from), Some(to)) = (&a.from, &a.to) else {
            return Err(CliError::unusable("give --from NAMESPACE and --to ADDRESS:PORT/PROTO (or a flows file)"));
        };
        let to: Destination = to.parse().map_err(|e: String| CliError::unusable(format!("--to: {e}")))?;
        let from_src = if a.src.is_some() || a.iif.is_some() || a.sport.is_some() || a.mark.is_some() {
            Source::Inject(InjectSource { ns: from.clone(), src: a.src, iif: a.iif.clone(), sport: a.sport, mark: a.mark })
        } else {
            Source::Ns(from.clone())
        };
        let name = format!("{from} -> {to}");
        (a.path.clone(), vec![Flow { name, from: from_src, to, expect: None, seed: a.seed }])
    };
    let st = state::load(&state_path, a.verbose)?;
    let opts = RunOptions { seed: a.seed, trace: if a.brief { TraceLevel::Summary } else { TraceLevel::Full }, ..RunOptions::default() };
    let mut results = Vec::new();
    for f in &flows {
        let spec = flow_spec(f).map_err(CliError::unusable)?;
        if st.world.namespace(f.from.ns()).is_none() {
            return Err(CliError::unusable(format!(
                "flow {}: no namespace {:?} (have: {})",
                f.name,
                f.from.ns(),
                st.world.namespace_names().collect::<Vec<_>>().join(", ")
            )));
        }
        let o = RunOptions { seed: f.seed.or(opts.seed), ..opts.clone() };
        results.push(st.world.run_flow(&spec, &o));
    }
    let format = if a.json {
        Format::Json
    } else if a.dot {
        Format::Dot
    } else {
        a.format
    };
    let out = match format {
        Format::Text => render::text(&results, render::TextOptions { color: style::stdout_colour(), steps: !a.brief }),
        Format::Json => render::json(&results) + "\n",
        Format::Dot => render::dot(&results),
        Format::Mermaid => render::mermaid(&results),
    };
    print_stdout(&out)?;
    Ok(EXIT_OK)
}
