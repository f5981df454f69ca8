//! `nfpath diff`: what-if. The same flows on two states (or on one state and the same state with
//! a change applied), and only the flows whose outcome changed, with the rule or route where
//! the walks part.

use crate::cmd::state::{self, State};
use crate::error::{print_stdout, CliError, CliResult, EXIT_FAILED, EXIT_OK};
use crate::style;
use rayon::prelude::*;
use sim_core::change::incremental::Recheck;
use sim_core::change::Applied;
use sim_core::diag::Severity;
use sim_core::engine::{FlowSpec, RunOptions, TraceLevel, VethLink, World};
use sim_core::scenario::diff::{self as whatif, FlowChange};
use sim_core::scenario::generate::{cluster_flows, is_node};
use sim_core::scenario::world::flow_spec;
use sim_core::scenario::{parse_flows, ClusterFile, Flow};
use sim_core::trace::FlowResult;
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// What-if: run the same flows on two states, or on a state and the same state with a change
/// applied, and print only the flows whose outcome changed. Exit 1 if any changed, 0 if none.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  nfpath diff scenarios/kube-proxy-routed --change node=drop-web.txt
  nfpath diff before/cluster.yaml after/cluster.yaml --flows flows.yaml
  nfpath diff snap/node-a --change fix.txt --json > changes.json

A change file holds one command per line (`#` starts a comment line):
  iptables -t nat -I KUBE-SERVICES 1 -d 10.96.12.34/32 -j DROP
  iptables -D KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
  ip route del 10.244.1.3 dev cali-b
  ip rule add fwmark 0x10/0x10 lookup 100 pref 90
and iptables-restore --noflush blocks (`*nat` ... `COMMIT`). A command the kernel would refuse
is an error at its file:line:column (exit 2).

Without --flows, flows are generated from the state: every pod and node to every Service port
found in kube-proxy's rules, every NodePort from outside (--outside-src, injected on each node's
uplink), and pod to pod across nodes (to the ports the pods listen on).

Exit codes: 0 no flow changed, 1 some flow changed, 2 the input could not be used.")]
pub struct Args {
    /// The state before: a cluster file, a folder holding cluster.yaml, or a snapshot folder
    pub before: PathBuf,
    /// The state after (same forms); or give --change instead
    pub after: Option<PathBuf>,
    /// A change file applied to a copy of BEFORE: NAMESPACE=FILE, or FILE for the only
    /// namespace (or the only node). May be repeated; applied in order.
    #[arg(long, value_name = "[NS=]FILE")]
    pub change: Vec<String>,
    /// Flows to run (a flows.yaml; its expectations and state are not used)
    #[arg(long, value_name = "FILE")]
    pub flows: Option<PathBuf>,
    /// Source address of generated NodePort flows from outside (default: each node's default
    /// gateway, else 203.0.113.7)
    #[arg(long, value_name = "ADDR")]
    pub outside_src: Option<Ipv4Addr>,
    /// Print the changes as JSON ({flows, changed, applied, changes: [{flow, before, after, causes}]})
    #[arg(long)]
    pub json: bool,
    /// Only the changed flows and the summary (not what the change did)
    #[arg(long, short)]
    pub quiet: bool,
    /// Also print informational diagnostics
    #[arg(long, short)]
    pub verbose: bool,
}

fn links_of(c: Option<&ClusterFile>) -> Vec<VethLink> {
    c.map(|c| c.links.iter().map(|[a, b]| VethLink::new(&a.ns, &a.dev, &b.ns, &b.dev)).collect()).unwrap_or_default()
}

/// `NS=FILE` or `FILE`: the namespace the change applies to.
fn change_target(spec: &str, world: &World) -> CliResult<(String, PathBuf)> {
    if let Some((ns, file)) = spec.split_once('=') {
        if world.namespace(ns).is_some() {
            return Ok((ns.to_string(), PathBuf::from(file)));
        }
        if !Path::new(spec).exists() {
            let names: Vec<&str> = world.namespace_names().collect();
            return Err(CliError::unusable(format!("--change {spec}: no namespace {ns:?} in the state (it has {})", names.join(", "))));
        }
    }
    let names: Vec<&str> = world.namespace_names().collect();
    let nodes: Vec<&str> = names.iter().copied().filter(|n| world.namespace(n).is_some_and(is_node)).collect();
    let only = match (names.as_slice(), nodes.as_slice()) {
        ([one], _) => one.to_string(),
        (_, [node]) => node.to_string(),
        _ => {
            return Err(CliError::unusable(format!(
                "--change {spec}: the state has several namespaces ({}); say which one: --change NAMESPACE={spec}",
                names.join(", ")
            )))
        }
    };
    Ok((only, PathBuf::from(spec)))
}

/// Applies every --change in place to the re-check's world (incrementally: see
/// `sim_core::change::incremental`). Errors in a change file make the input unusable (exit 2)
/// and are reported at their file:line:column. Returns what each line did and the indices of
/// the flows run again.
/// What each line of the changes did (with its namespace).
type AppliedLines = Vec<(String, Applied)>;

fn apply_changes(rc: &mut Recheck, specs: &[String], verbose: bool) -> CliResult<(AppliedLines, BTreeSet<usize>)> {
    let mut applied = Vec::new();
    let mut rerun = BTreeSet::new();
    for spec in specs {
        let (ns, file) = change_target(spec, rc.world())?;
        let text = std::fs::read_to_string(&file).map_err(|e| CliError::io(&file, "read the change file", &e))?;
        let name = file.display().to_string();
        let (p, done) = rc.apply(&ns, &name, &text).map_err(|e| CliError::unusable(format!("--change {spec}: {e}")))?;
        for d in &p.diagnostics {
            if d.severity == Severity::Warning || (d.severity == Severity::Info && verbose) {
                eprintln!("nfpath: {d}");
            }
        }
        if let Some(d) = p.diagnostics.iter().find(|d| d.severity == Severity::Error) {
            for other in p.diagnostics.iter().filter(|x| x.severity == Severity::Error).skip(1) {
                eprintln!("nfpath: {other}");
            }
            return Err(state::diag_error(d));
        }
        applied.extend(p.value.into_iter().map(|a| (ns.clone(), a)));
        rerun.extend(done.rerun);
    }
    Ok((applied, rerun))
}

fn read_flows(path: &Path) -> CliResult<Vec<Flow>> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path, "read the flows file", &e))?;
    let p = parse_flows(&path.display().to_string(), &text);
    if let Some(d) = p.diagnostics.iter().find(|d| d.severity == Severity::Error) {
        return Err(state::diag_error(d));
    }
    Ok(p.value.flows)
}

fn generated(world: &World, cluster: Option<&ClusterFile>, outside: Option<Ipv4Addr>) -> Vec<Flow> {
    let nss: Vec<&sim_core::model::Namespace> = world.namespace_names().filter_map(|n| world.namespace(n)).collect();
    cluster_flows(&nss, &links_of(cluster), outside)
}

/// A progress bar on stderr, only on a terminal and only for runs long enough to need one.
struct Progress {
    done: AtomicUsize,
    total: usize,
    on: bool,
    finished: AtomicBool,
}

impl Progress {
    fn new(total: usize) -> Progress {
        let on = total >= 200 && std::io::stderr().is_terminal();
        Progress { done: AtomicUsize::new(0), total, on, finished: AtomicBool::new(false) }
    }
    fn tick(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }
    fn draw(&self) {
        let d = self.done.load(Ordering::Relaxed).min(self.total);
        let width = 30;
        let filled = (d * width).checked_div(self.total).unwrap_or(width);
        eprint!("\r[{}{}] {d}/{} flows", "#".repeat(filled), " ".repeat(width - filled), self.total);
    }
    /// Runs `f` while a thread redraws the bar every 100 ms.
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        if !self.on {
            return f();
        }
        std::thread::scope(|s| {
            s.spawn(|| {
                while !self.finished.load(Ordering::Relaxed) {
                    self.draw();
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            });
            let v = f();
            self.finished.store(true, Ordering::Relaxed);
            v
        })
    }
    fn clear(&self) {
        if self.on {
            self.draw();
            eprintln!();
        }
    }
}

/// Runs every flow on both worlds in parallel; results come back in the flows' order.
fn run_both(before: &World, after: &World, flows: &[Flow]) -> CliResult<(Vec<FlowResult>, Vec<FlowResult>)> {
    let mut specs = Vec::with_capacity(flows.len());
    for f in flows {
        for (w, which) in [(before, "before"), (after, "after")] {
            if w.namespace(f.from.ns()).is_none() {
                return Err(CliError::unusable(format!("flow {}: no namespace {:?} in the state {which}", f.name, f.from.ns())));
            }
        }
        specs.push((flow_spec(f).map_err(CliError::unusable)?, f.seed));
    }
    let opts = RunOptions { trace: TraceLevel::Full, ..RunOptions::default() };
    let progress = Progress::new(flows.len() * 2);
    let pairs: Vec<(FlowResult, FlowResult)> = progress.run(|| {
        specs
            .par_iter()
            .map(|(spec, seed)| {
                let o = RunOptions { seed: *seed, ..opts.clone() };
                let b = before.run_flow(spec, &o);
                progress.tick();
                let a = after.run_flow(spec, &o);
                progress.tick();
                (b, a)
            })
            .collect()
    });
    progress.clear();
    Ok(pairs.into_iter().unzip())
}

/// How many flows, the results before and after of those that may differ (in the flows' order),
/// what the changes did, and how many flows ran again after them.
type Compared = (usize, Vec<FlowResult>, Vec<FlowResult>, AppliedLines, Option<usize>);

fn specs_of(flows: &[Flow], world: &World) -> CliResult<Vec<(FlowSpec, RunOptions)>> {
    let opts = RunOptions { trace: TraceLevel::Full, ..RunOptions::default() };
    flows
        .iter()
        .map(|f| {
            if world.namespace(f.from.ns()).is_none() {
                return Err(CliError::unusable(format!("flow {}: no namespace {:?} in the state", f.name, f.from.ns())));
            }
            Ok((flow_spec(f).map_err(CliError::unusable)?, RunOptions { seed: f.seed, ..opts.clone() }))
        })
        .collect()
}

/// One state and changes: every flow is run once on the state, the changes are applied in place,
/// and only the flows that could see them are run again (`change::incremental`). Flows the
/// changed state brings (a new Service's) are run after the change, then before it (the changes
/// undone). The answers are those of running every flow on both states.
fn incremental(a: &Args, before: State) -> CliResult<Compared> {
    let given = a.flows.as_ref().map(|p| read_flows(p)).transpose()?;
    let mut flows = match &given {
        Some(f) => f.clone(),
        None => generated(&before.world, before.cluster.as_ref(), a.outside_src),
    };
    let specs = specs_of(&flows, &before.world)?;
    let progress = Progress::new(flows.len());
    let mut rc = progress.run(|| Recheck::with_progress(before.world, specs, &|| progress.tick()));
    progress.clear();
    let rb: Vec<FlowResult> = rc.results().to_vec();
    let (applied, mut rerun) = apply_changes(&mut rc, &a.change, a.verbose)?;
    let n0 = flows.len();
    if given.is_none() {
        let known: BTreeSet<String> = flows.iter().map(|f| f.name.clone()).collect();
        let new: Vec<Flow> = generated(rc.world(), before.cluster.as_ref(), a.outside_src).into_iter().filter(|f| !known.contains(&f.name)).collect();
        rc.add_flows(specs_of(&new, rc.world())?);
        flows.extend(new);
    }
    let count = rerun.len() + (flows.len() - n0);
    rerun.extend(n0..flows.len());
    // Only flows run again can have changed; the others keep their outcomes.
    let ra: Vec<FlowResult> = rerun.iter().map(|&k| rc.result(k).clone()).collect();
    let mut rb: Vec<FlowResult> = rerun.iter().filter(|&&k| k < n0).map(|&k| rb[k].clone()).collect();
    if flows.len() > n0 {
        rc.revert_all();
        rb.extend((n0..flows.len()).map(|k| rc.result(k).clone()));
    }
    Ok((flows.len(), rb, ra, applied, Some(count)))
}

pub fn run(a: Args) -> CliResult<u8> {
    if a.after.is_some() != a.change.is_empty() {
        return Err(CliError::unusable(if a.after.is_some() {
            "give either a second state or --change, not both"
        } else {
            "nothing to compare: give a second state (nfpath diff BEFORE AFTER) or a change (--change NS=FILE)"
        }));
    }
    let before = state::load(&a.before, a.verbose)?;
    let (total, rb, ra, applied, rerun) = match &a.after {
        Some(p) => {
            let after = state::load(p, a.verbose)?;
            let flows = match &a.flows {
                Some(p) => read_flows(p)?,
                None => {
                    let mut flows = generated(&before.world, before.cluster.as_ref(), a.outside_src);
                    let known: BTreeSet<String> = flows.iter().map(|f| f.name.clone()).collect();
                    for f in generated(&after.world, after.cluster.as_ref(), a.outside_src) {
                        if !known.contains(&f.name) {
                            flows.push(f);
                        }
                    }
                    // A flow whose client exists on one side only cannot be compared.
                    flows.retain(|f| before.world.namespace(f.from.ns()).is_some() && after.world.namespace(f.from.ns()).is_some());
                    flows
                }
            };
            let (rb, ra) = run_both(&before.world, &after.world, &flows)?;
            (flows.len(), rb, ra, Vec::new(), None)
        }
        None => incremental(&a, before)?,
    };
    let changes: Vec<FlowChange> = whatif::diff(&rb, &ra);
    let summary = whatif::summary_line(changes.len(), total);
    if let (Some(n), true) = (rerun, a.verbose) {
        eprintln!("nfpath: {n} of {} flows were run again after the change; the others could not see it (see `nfpath diff --help`)", total);
    }
    let mut out = String::new();
    if a.json {
        let v = serde_json::json!({
            "flows": total,
            "changed": changes.len(),
            "applied": applied.iter().map(|(ns, x)| serde_json::json!({"ns": ns, "at": x.span.to_string(), "what": x.what})).collect::<Vec<_>>(),
            "changes": changes,
        });
        out.push_str(&serde_json::to_string_pretty(&v).unwrap_or_default());
        out.push('\n');
        eprintln!("{summary}");
    } else {
        let colour = style::stdout_colour();
        if !a.quiet && !applied.is_empty() {
            out.push_str(&style::paint("change applied", style::Colour::Bold, colour));
            out.push('\n');
            for (ns, x) in &applied {
                out.push_str(&format!("  [{ns}] {x}\n"));
            }
        }
        for line in whatif::render(&changes).lines() {
            let painted = if line.starts_with("CHANGED") {
                style::paint(line, style::Colour::Bold, colour)
            } else if line.starts_with("  now:") {
                style::paint(line, style::Colour::Yellow, colour)
            } else {
                line.to_string()
            };
            out.push_str(&painted);
            out.push('\n');
        }
        out.push_str(&summary);
        out.push('\n');
    }
    print_stdout(&out)?;
    Ok(if changes.is_empty() { EXIT_OK } else { EXIT_FAILED })
}
