//! Runs many random cases in parallel, shrinks each disagreement to a small case, and saves it as
//! a regression fixture.
//!
//! Case `i` of a run with seed `s` is drawn from its own generator seeded with `(s, i)`, so a
//! case is reproducible on its own (`NFPATH_CONFORMANCE_SEED=s NFPATH_CONFORMANCE_FIRST=i
//! NFPATH_CONFORMANCE_CASES=1`) whatever the number of workers.

use super::case::{Case, Fixture};
use super::gen::{genome, render, Genome};
use super::run::{run_case, CaseReport, RunConfig};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct DriverConfig {
    pub cases: usize,
    /// The first case number (to replay one case of a run).
    pub first: usize,
    /// Cases run at once. Most of a case's time is spent waiting on the kernel and on short
    /// timeouts, so more workers than cores pays.
    pub jobs: usize,
    pub seed: u64,
    pub run: RunConfig,
    /// Where shrunk disagreements are saved; `None` saves nothing.
    pub save_dir: Option<PathBuf>,
    /// Time allowed to shrink one disagreement.
    pub shrink_budget: Duration,
    /// Print every case and its verdicts, agreeing or not.
    pub verbose: bool,
}

fn env_num<T: std::str::FromStr>(name: &str) -> Option<T> {
    let v = std::env::var(name).ok()?;
    Some(v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")))
}

impl DriverConfig {
    /// From the environment: `NFPATH_CONFORMANCE_CASES` (default `default_cases`),
    /// `NFPATH_CONFORMANCE_JOBS` (default 4), `NFPATH_CONFORMANCE_SEED` (default 1),
    /// `NFPATH_CONFORMANCE_FIRST` (default 0), `NFPATH_CONFORMANCE_SHRINK_SECS` (default 240),
    /// `NFPATH_CONFORMANCE_SAVE` (a folder; default `tests/conformance`, `-` for none),
    /// `NFPATH_CONFORMANCE_VERBOSE=1` (print every case).
    pub fn from_env(default_cases: usize) -> DriverConfig {
        let save_dir = match std::env::var("NFPATH_CONFORMANCE_SAVE") {
            Ok(v) if v == "-" => None,
            Ok(v) => Some(PathBuf::from(v)),
            Err(_) => Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")),
        };
        DriverConfig {
            cases: env_num("NFPATH_CONFORMANCE_CASES").unwrap_or(default_cases),
            first: env_num("NFPATH_CONFORMANCE_FIRST").unwrap_or(0),
            jobs: env_num::<usize>("NFPATH_CONFORMANCE_JOBS").unwrap_or(4).max(1),
            seed: env_num("NFPATH_CONFORMANCE_SEED").unwrap_or(1),
            run: RunConfig { background_teardown: true, ..RunConfig::default() },
            save_dir,
            shrink_budget: Duration::from_secs(env_num("NFPATH_CONFORMANCE_SHRINK_SECS").unwrap_or(240)),
            verbose: std::env::var("NFPATH_CONFORMANCE_VERBOSE").is_ok_and(|v| v == "1"),
        }
    }
}

/// A case that went wrong: nfpath disagreed with the kernel, or the case could not be built.
#[derive(Debug)]
pub struct Failure {
    pub index: usize,
    pub case: Case,
    /// The report of the (shrunk) case, or why it could not be built.
    pub report: String,
    pub saved: Option<PathBuf>,
}

#[derive(Debug, Default)]
pub struct Summary {
    pub cases: usize,
    pub agreed: usize,
    pub flows: usize,
    pub flows_agreed: usize,
    pub failures: Vec<Failure>,
    pub elapsed: Duration,
    /// Outcome counts over all flows, by the kernel's result (`connected`, `timeout`...).
    pub results: std::collections::BTreeMap<String, usize>,
    /// What the flows went through, from nfpath's traces: rule verdicts by table, policies,
    /// policy-routing rules, NAT seen by a receiver, drop reasons (see [`coverage`]).
    pub coverage: std::collections::BTreeMap<String, usize>,
    /// Total time per phase of a case, over all cases (they overlap across workers).
    pub phases: std::collections::BTreeMap<&'static str, Duration>,
}

/// Counts what one flow's predicted walk exercised, so that a run can show that its agreement
/// is not vacuous (rules that fire, NAT that the receiver sees, policy routing that selects).
pub fn coverage(v: &super::run::FlowVerdict, into: &mut std::collections::BTreeMap<String, usize>) {
    use sim_core::trace::StepKind;
    let mut keys = std::collections::BTreeSet::new();
    for o in &v.predicted.outcomes {
        for s in &o.steps {
            match &s.kind {
                StepKind::Netfilter { table, rule, verdict, .. } if *rule > 0 => {
                    let verdict = verdict.split_whitespace().next().unwrap_or("");
                    keys.insert(format!("rule {table} {verdict}"));
                }
                StepKind::Netfilter { table, chain, rule: 0, verdict, .. } if verdict.ends_with("DROP") => {
                    keys.insert(format!("policy {table} {chain} DROP"));
                }
                StepKind::FibRule { priority, .. } if !matches!(priority, 0 | 32766 | 32767) => {
                    keys.insert("ip rule (custom) selected".to_string());
                }
                _ => {}
            }
        }
        if let Some(r) = o.reason {
            keys.insert(format!("reason {}", r.as_str()));
        }
    }
    match &v.observed.received {
        Some(r) if !v.flow.to.ends_with("/icmp") => {
            let to = v.flow.to.rsplit_once('/').map_or(v.flow.to.as_str(), |x| x.0);
            if r.local != to {
                keys.insert("received with a rewritten destination".into());
            }
            if !r.peer.ends_with(&format!(":{}", v.flow.sport)) {
                keys.insert("received with a rewritten source port".into());
            }
        }
        Some(_) => {
            keys.insert("ICMP echo received".into());
        }
        None => {}
    }
    if v.predicted.outcomes.len() > 1 {
        keys.insert("several predicted outcomes (statistic, multipath)".into());
    }
    for o in &v.predicted.outcomes {
        for s in &o.steps {
            if let StepKind::Device { action, .. } = &s.kind {
                if action.contains("bridge") {
                    keys.insert("crossed a bridge".into());
                }
            }
        }
    }
    for k in keys {
        *into.entry(k).or_default() += 1;
    }
}

impl Summary {
    pub fn line(&self) -> String {
        let pct = |a: usize, b: usize| if b == 0 { 100.0 } else { 100.0 * a as f64 / b as f64 };
        format!(
            "{} cases, {} agreed ({:.2}%); {} flows, {} agreed ({:.2}%); {:.1} s",
            self.cases,
            self.agreed,
            pct(self.agreed, self.cases),
            self.flows,
            self.flows_agreed,
            pct(self.flows_agreed, self.flows),
            self.elapsed.as_secs_f64()
        )
    }
}

fn rng_for(seed: u64, index: usize) -> TestRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&(index as u64).to_le_bytes());
    bytes[16..24].copy_from_slice(b"nfpconf1");
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// The genome of case `index` of run `seed`, as a shrinkable value tree.
pub fn case_tree(seed: u64, index: usize) -> Box<dyn ValueTree<Value = Genome>> {
    let mut runner = TestRunner::new_with_rng(Config::default(), rng_for(seed, index));
    Box::new(genome().new_tree(&mut runner).unwrap_or_else(|e| panic!("cannot draw a case: {e}")))
}

fn disagrees(case: &Case, cfg: &RunConfig) -> Option<CaseReport> {
    match run_case(case, cfg) {
        Ok(r) if !r.agrees() => Some(r),
        _ => None,
    }
}

/// Shrinks a disagreeing case: first proptest's shrinking of the genome (for at most a third of
/// the budget), then, on the concrete case, removal of whatever is not needed for a disagreement:
/// the agreeing flows, whole rulesets, namespaces no flow starts from, then single rules,
/// commands, listeners and sysctls, until nothing more can go or the budget is spent. Every step
/// is a fresh run on the kernel.
pub fn shrink(tree: &mut dyn ValueTree<Value = Genome>, case: Case, report: CaseReport, cfg: &DriverConfig) -> (Case, CaseReport, usize) {
    let start = Instant::now();
    let deadline = start + cfg.shrink_budget;
    let genome_deadline = start + cfg.shrink_budget / 3;
    let mut best = (case, report);
    let mut steps = 0;
    if tree.simplify() {
        while Instant::now() < genome_deadline {
            steps += 1;
            let c = render(&tree.current());
            if let Some(r) = disagrees(&c, &cfg.run) {
                best = (c, r);
                if !tree.simplify() {
                    break;
                }
            } else if !tree.complicate() {
                break;
            }
        }
    }
    let attempt = |c: Case, best: &mut (Case, CaseReport), steps: &mut usize| -> bool {
        if Instant::now() >= deadline || c == best.0 {
            return false;
        }
        *steps += 1;
        match disagrees(&c, &cfg.run) {
            Some(r) => {
                *best = (c, r);
                true
            }
            None => false,
        }
    };
    // Only the flows that disagree.
    let bad: Vec<_> = best.1.flows.iter().filter(|f| f.disagreement.is_some()).map(|f| f.flow.clone()).collect();
    let mut c = best.0.clone();
    c.flows = bad;
    attempt(c, &mut best, &mut steps);
    loop {
        let before = best.0.clone();
        // Whole rulesets.
        for ni in 0..best.0.namespaces.len() {
            let mut c = best.0.clone();
            if !c.namespaces[ni].iptables.is_empty() {
                c.namespaces[ni].iptables.clear();
                attempt(c, &mut best, &mut steps);
            }
        }
        // Namespaces no flow starts from, with their links.
        let mut ni = 0;
        while ni < best.0.namespaces.len() {
            let name = best.0.namespaces[ni].name.clone();
            if best.0.flows.iter().any(|f| f.from == name) {
                ni += 1;
                continue;
            }
            let mut c = best.0.clone();
            c.namespaces.remove(ni);
            c.links.retain(|l| l.a != name && l.b != name);
            if !attempt(c, &mut best, &mut steps) {
                ni += 1;
            }
        }
        // Single rules, commands, listeners and sysctls, last first.
        let mut candidates: Vec<(usize, u8, usize)> = Vec::new();
        for (ni, n) in best.0.namespaces.iter().enumerate() {
            for (li, l) in n.iptables.lines().enumerate() {
                if l.starts_with("-A ") {
                    candidates.push((ni, 0, li));
                }
            }
            for ci in 0..n.commands.len() {
                candidates.push((ni, 1, ci));
            }
            for li in 0..n.listen.len() {
                candidates.push((ni, 2, li));
            }
            for pi in 0..n.pre.len() {
                candidates.push((ni, 3, pi));
            }
        }
        candidates.reverse();
        for (ni, what, idx) in candidates {
            // Indices refer to `before`; skip those a successful removal has shifted.
            if best.0.namespaces.len() != before.namespaces.len() || best.0.namespaces[ni].name != before.namespaces[ni].name {
                break;
            }
            let mut c = best.0.clone();
            let n = &mut c.namespaces[ni];
            let bn = &before.namespaces[ni];
            match what {
                0 => {
                    let Some(line) = bn.iptables.lines().nth(idx) else { continue };
                    let mut removed = false;
                    n.iptables = n
                        .iptables
                        .lines()
                        .filter(|l| {
                            if !removed && *l == line {
                                removed = true;
                                return false;
                            }
                            true
                        })
                        .map(|l| format!("{l}\n"))
                        .collect();
                }
                1 => {
                    let Some(cmd) = bn.commands.get(idx) else { continue };
                    let Some(k) = n.commands.iter().position(|x| x == cmd) else { continue };
                    n.commands.remove(k);
                }
                2 => {
                    let Some(l) = bn.listen.get(idx) else { continue };
                    let Some(k) = n.listen.iter().position(|x| x == l) else { continue };
                    n.listen.remove(k);
                }
                _ => {
                    let Some(pv) = bn.pre.get(idx) else { continue };
                    let Some(k) = n.pre.iter().position(|x| x == pv) else { continue };
                    n.pre.remove(k);
                }
            }
            attempt(c, &mut best, &mut steps);
        }
        if best.0 == before || Instant::now() >= deadline {
            break;
        }
    }
    (best.0, best.1, steps)
}

fn save(dir: &PathBuf, name: &str, fixture: &Fixture) -> Option<PathBuf> {
    std::fs::create_dir_all(dir).ok()?;
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(fixture).ok()?;
    std::fs::write(&path, text + "\n").ok()?;
    Some(path)
}

/// Runs `cfg.cases` random cases on `cfg.jobs` workers and returns the tally. Progress and every
/// failure are printed as they happen.
pub fn run_random(cfg: &DriverConfig) -> Summary {
    let start = Instant::now();
    let next = AtomicUsize::new(cfg.first);
    let end = cfg.first + cfg.cases;
    let summary = Mutex::new(Summary::default());
    std::thread::scope(|s| {
        for _ in 0..cfg.jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= end {
                    break;
                }
                let mut tree = case_tree(cfg.seed, i);
                let case = render(&tree.current());
                let outcome = run_case(&case, &cfg.run);
                let mut failure = None;
                {
                    let mut sm = summary.lock().unwrap_or_else(|p| p.into_inner());
                    sm.cases += 1;
                    if let Ok(r) = &outcome {
                        sm.flows += r.flows.len();
                        sm.flows_agreed += r.flows.iter().filter(|f| f.disagreement.is_none()).count();
                        for (p, d) in &r.phases {
                            *sm.phases.entry(p).or_default() += *d;
                        }
                        for f in &r.flows {
                            *sm.results.entry(f.observed.result.clone()).or_default() += 1;
                            coverage(f, &mut sm.coverage);
                        }
                        if r.agrees() {
                            sm.agreed += 1;
                        }
                    }
                    if sm.cases % 25 == 0 {
                        eprintln!("conformance: {} ({} running)", sm.line_at(start), cfg.jobs);
                    }
                }
                match outcome {
                    Ok(r) if r.agrees() => {
                        if cfg.verbose {
                            eprintln!("conformance: case {i} agrees\n{}{}", case.describe(), r.describe());
                        }
                    }
                    Ok(r) => {
                        eprintln!("conformance: case {i} (seed {}) disagrees; shrinking\n{}{}", cfg.seed, case.describe(), r.describe());
                        let (small, rep, steps) = shrink(tree.as_mut(), case, r, cfg);
                        let mut report = String::new();
                        let _ = writeln!(report, "shrunk in {steps} runs to:\n{}{}", small.describe(), rep.describe());
                        let fixture = Fixture {
                            title: format!("random case {i} of seed {}, shrunk", cfg.seed),
                            found_by: format!("NFPATH_CONFORMANCE_SEED={} case {i}", cfg.seed),
                            known_disagreement: None,
                            note: rep.describe(),
                            case: small.clone(),
                        };
                        let saved = cfg.save_dir.as_ref().and_then(|d| save(d, &format!("seed{}-case{i}", cfg.seed), &fixture));
                        eprintln!("conformance: case {i}: {report}saved: {saved:?}");
                        failure = Some(Failure { index: i, case: small, report, saved });
                    }
                    Err(e) => {
                        eprintln!("conformance: case {i} (seed {}) could not be built (a generator problem): {e}\n{}", cfg.seed, case.describe());
                        failure = Some(Failure { index: i, case, report: format!("could not be built: {e}"), saved: None });
                    }
                }
                if let Some(f) = failure {
                    summary.lock().unwrap_or_else(|p| p.into_inner()).failures.push(f);
                }
            });
        }
    });
    super::run::wait_for_teardowns();
    let mut sm = summary.into_inner().unwrap_or_else(|p| p.into_inner());
    sm.failures.sort_by_key(|f| f.index);
    sm.elapsed = start.elapsed();
    sm
}

impl Summary {
    fn line_at(&self, start: Instant) -> String {
        let mut s = Summary { elapsed: start.elapsed(), ..Default::default() };
        s.cases = self.cases;
        s.agreed = self.agreed;
        s.flows = self.flows;
        s.flows_agreed = self.flows_agreed;
        s.line()
    }
}
