//! Incremental what-if: apply a change to a world in place, recompile only what it touched, and
//! rerun only the flows whose baseline run could see the difference.
//!
//! Every flow's run is recorded (`engine/deps.rs`): the chains its walks entered, with the
//! packet's destination there, and the namespaces whose router it asked. A change's journal
//! (`change/journal.rs`) says what the change edited. A flow is rerun when:
//! - it entered a chain whose rules or policy changed, unless the edit only added, removed or
//!   replaced rules that each require `-d X/32` for addresses X the flow's packet never had
//!   in that chain. `xt/mod.rs:rule_matches` tests the destination before anything else, so
//!   such rules never match that packet and have no side effect (no random branch, no `recent`
//!   list): the walk is the same, only the numbers of the rules after the edit move, and
//!   those are renumbered in the kept trace. (A chain that becomes empty or stops being
//!   empty counts as any edit: the ACCEPT policy step is shown only for a chain with rules.)
//! - it entered a chain that was created or deleted, or a chain with a `-j`/`-g` naming one
//!   (the jump now resolves, or no longer does). A chain the flow never entered cannot change
//!   its walk: a new jump to it would itself be an edit of a chain it entered.
//! - it asked the router of a namespace whose routes or policy rules changed.
//! - the change did something that is not recorded per flow: a table created (its hooks now
//!   run), a built-in chain created or deleted, conntrack switched on or off in the namespace
//!   (`World::new`'s `ct_enabled`): then every flow is rerun.
//!
//! A change file edits nothing else (no sysctl, device, address, neighbour, ipset or conntrack
//! entry), so nothing else can differ. Flows run alone (a fresh conntrack table per flow), so
//! one flow's rerun never depends on another's.

use crate::change::journal::Journal;
use crate::change::Applied;
use crate::diag::{Parsed, Severity};
use crate::engine::deps::{FlowDeps, Refresh};
use crate::engine::{FlowSpec, RunOptions, World};
use crate::model::ruleset::{Chain, Name, Rule, Table, TableName, Target};
use crate::model::Namespace;
use crate::trace::{FlowResult, StepKind};
use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::Ipv4Addr;

/// How a chain changed, for a flow that entered it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ChainChange {
    /// The flow may see anything: rerun it.
    Any,
    /// Rules `old[start..old_end]` became other rules (`delta` more of them), each requiring
    /// `-d X/32` with X in `dsts`; rules after the edit are renumbered by `delta`.
    Region { dsts: HashSet<Ipv4Addr>, old_end: u32, delta: i64 },
}

/// What one change altered, in the terms flows are recorded in.
#[derive(Clone, Debug, Default)]
struct ChangeSet {
    everything: bool,
    routers: BTreeSet<u32>,
    chains: HashMap<(u32, TableName, Name), ChainChange>,
}

/// The destination a rule requires, if it is exactly one address (`-d X/32`, not negated):
/// the same test the engine's destination index uses.
fn dst32(r: &Rule) -> Option<Ipv4Addr> {
    let d = r.base.dst.as_ref()?;
    (!d.neg && u32::from(d.val.mask) == u32::MAX && r.unreadable.is_none()).then_some(d.val.addr)
}

fn names_one(r: &Rule, names: &HashSet<Name>) -> bool {
    // Called for every rule of a table: a change names few chains, so compare with each (length
    // first) rather than hash every jump target.
    matches!(&r.target, Target::Jump(x) | Target::Goto(x) if if names.len() <= 16 {
        names.iter().any(|n| n.len() == x.len() && n == x)
    } else {
        names.contains(x)
    })
}

/// How `old` became `new`. `moved`: chains that appear or vanish; a kept rule naming one
/// resolves differently now.
fn chain_change(old: &Chain, new: &Chain, moved: &HashSet<Name>) -> Option<ChainChange> {
    // A walk that ends in a built-in chain shows the ACCEPT policy only when the chain has rules
    // (`chain.rs:policy`): emptiness is part of what the walk shows.
    if old.policy != new.policy || old.rules.is_empty() != new.rules.is_empty() {
        return Some(ChainChange::Any);
    }
    let (o, n) = (&old.rules, &new.rules);
    let a = o.iter().zip(n).take_while(|(x, y)| x == y).count();
    if a == o.len() && a == n.len() {
        return None;
    }
    let b = o[a..].iter().rev().zip(n[a..].iter().rev()).take_while(|(x, y)| x == y).count();
    let (oe, ne) = (o.len() - b, n.len() - b);
    if !moved.is_empty() && o[..a].iter().chain(&o[oe..]).any(|r| names_one(r, moved)) {
        return Some(ChainChange::Any);
    }
    let mut dsts = HashSet::new();
    for r in o[a..oe].iter().chain(&n[a..ne]) {
        match dst32(r) {
            Some(d) => dsts.insert(d),
            None => return Some(ChainChange::Any),
        };
    }
    Some(ChainChange::Region { dsts, old_end: oe as u32, delta: ne as i64 - oe as i64 })
}

/// Chains of `t` but those in `skip` with a rule whose `-j`/`-g` names one of `names`.
fn referrers(t: &Table, names: &HashSet<Name>, skip: &HashSet<Name>) -> Vec<Name> {
    // Every rule of the table is looked at (320k in a 10k-Service nat table): in parallel, the
    // result in table order as before.
    t.chains.par_iter().filter(|c| !skip.contains(&c.name) && c.rules.iter().any(|r| names_one(r, names))).map(|c| c.name.clone()).collect()
}

/// What `j` altered in `ns` (namespace index `i`), going from the originals to the current
/// state (`forward`), or back (`!forward`, for an undo about to happen); and what to recompile.
fn measure(i: u32, ns: &Namespace, j: &Journal, forward: bool) -> (ChangeSet, Refresh) {
    let mut cs = ChangeSet::default();
    let mut rf = Refresh::default();
    let routes_changed = j.routes.as_ref().is_some_and(|r| *r != ns.routes) || j.rules.as_ref().is_some_and(|r| *r != ns.rules);
    if routes_changed {
        cs.routers.insert(i);
        rf.routes = true;
    }
    for tj in &j.tables {
        if tj.created {
            // A new table's hooks run for every packet of the namespace.
            cs.everything = true;
            rf.whole.push(tj.name);
            continue;
        }
        let Some(t) = ns.ruleset.table(tj.name) else {
            cs.everything = true;
            continue;
        };
        if tj.deleted || (!forward && tj.order.is_some()) {
            rf.whole.push(tj.name);
        }
        let mut names = Vec::new();
        let pairs: Vec<(&Name, Option<&Chain>, Option<&Chain>)> = tj
            .chains
            .iter()
            .map(|(name, orig)| {
                let cur = t.chain(name);
                if forward {
                    (name, orig.as_ref(), cur)
                } else {
                    (name, cur, orig.as_ref())
                }
            })
            .collect();
        let moved: HashSet<Name> = pairs.iter().filter(|(_, o, n)| o.is_some() != n.is_some()).map(|(name, ..)| (*name).clone()).collect();
        let touched: HashSet<Name> = pairs.iter().map(|(name, ..)| (*name).clone()).collect();
        for (name, old, new) in pairs {
            let ch = match (old, new) {
                (None, None) => continue,
                (Some(o), Some(n)) => match chain_change(o, n, &moved) {
                    Some(c) => c,
                    None => continue,
                },
                _ => {
                    if tj.name.builtin_chains().contains(&name.as_str()) {
                        cs.everything = true;
                    }
                    ChainChange::Any
                }
            };
            names.push(name.clone());
            cs.chains.insert((i, tj.name, name.clone()), ch);
        }
        if !moved.is_empty() {
            // A kept jump to a chain that appears or vanishes now resolves, or no longer does
            // (edited chains were checked above: a rule in their edit is judged as the edit).
            for r in referrers(t, &moved, &touched) {
                cs.chains.insert((i, tj.name, r.clone()), ChainChange::Any);
                names.push(r);
            }
        }
        rf.chains.push((tj.name, names));
    }
    (cs, rf)
}

/// Rule numbers after `.3` in chain `.2` of table `.1` in namespace `.0` move by `.4`.
type Move = (u32, TableName, Name, u32, i64);

/// What a change means for one flow.
enum Effect {
    Keep,
    /// Kept, with rule numbers moved.
    Renumber(Vec<Move>),
    Rerun,
}

fn effect(d: &FlowDeps, cs: &ChangeSet) -> Effect {
    if cs.everything || d.routers.iter().any(|n| cs.routers.contains(n)) {
        return Effect::Rerun;
    }
    if cs.chains.is_empty() {
        return Effect::Keep;
    }
    let mut moves = Vec::new();
    for v in &d.chains {
        // A change edits few chains: compare with each rather than hash every visit's name.
        let found = if cs.chains.len() <= 16 {
            cs.chains.iter().find(|((n, t, c), _)| *n == v.ns && *t == v.table && c.len() == v.chain.len() && *c == v.chain).map(|(_, ch)| ch)
        } else {
            cs.chains.get(&(v.ns, v.table, v.chain.clone()))
        };
        match found {
            None => {}
            Some(ChainChange::Any) => return Effect::Rerun,
            Some(ChainChange::Region { dsts, old_end, delta }) => {
                if dsts.contains(&v.dst) {
                    return Effect::Rerun;
                }
                if *delta != 0 {
                    moves.push((v.ns, v.table, v.chain.clone(), *old_end, *delta));
                }
            }
        }
    }
    moves.sort();
    moves.dedup();
    if moves.is_empty() {
        Effect::Keep
    } else {
        Effect::Renumber(moves)
    }
}

/// Moves the numbers of the rules after an edit in a kept trace (steps name rules by number).
fn renumber(r: &mut FlowResult, names: &[&str], moves: &[Move]) {
    for o in &mut r.outcomes {
        for s in &mut o.steps {
            if let StepKind::Netfilter { table, chain, rule, .. } = &mut s.kind {
                for (ns, t, c, after, by) in moves {
                    if *rule > *after && chain.len() == c.len() && chain == c.as_str() && table == t.as_str() && s.ns == names[*ns as usize] {
                        *rule = (*rule as i64 + by) as u32;
                    }
                }
            }
        }
    }
}

/// What an incremental re-check did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rechecked {
    /// Indices of the flows run again, ascending.
    pub rerun: Vec<usize>,
    /// Flows kept with their rule numbers moved.
    pub renumbered: usize,
    /// The change was of a kind flows are not recorded against: every flow was rerun.
    pub everything: bool,
}

/// A world and a set of flows with their results, kept up to date as changes are applied.
pub struct Recheck {
    world: World,
    flows: Vec<(FlowSpec, RunOptions)>,
    results: Vec<FlowResult>,
    deps: Vec<FlowDeps>,
    /// Per flow: rule-number moves not yet made in its kept result, oldest first. They are made
    /// when the result is read (a what-if only reads the results of the flows it reran).
    pending: Vec<Vec<Move>>,
    /// Changes applied so far (namespace index, journal), for `revert_all`.
    journals: Vec<(usize, Journal)>,
}

impl Recheck {
    /// Runs every flow on `world` (in parallel), recording what each consulted.
    pub fn new(world: World, flows: Vec<(FlowSpec, RunOptions)>) -> Recheck {
        Recheck::with_progress(world, flows, &|| {})
    }

    /// [`Recheck::new`], calling `tick` after each flow (for a progress bar).
    pub fn with_progress(mut world: World, flows: Vec<(FlowSpec, RunOptions)>, tick: &(dyn Fn() + Sync)) -> Recheck {
        world.record_routers();
        let w = &world;
        let out: Vec<(FlowResult, FlowDeps)> = flows
            .par_iter()
            .map(|(s, o)| {
                let r = w.run_flow_recorded(s, o);
                tick();
                r
            })
            .collect();
        let (results, deps): (Vec<FlowResult>, Vec<FlowDeps>) = out.into_iter().unzip();
        let pending = vec![Vec::new(); results.len()];
        Recheck { world, flows, results, deps, pending, journals: Vec::new() }
    }

    pub fn world(&self) -> &World {
        &self.world
    }
    /// Every flow's result, up to date (kept results get their rule numbers moved first).
    pub fn results(&mut self) -> &[FlowResult] {
        let names: Vec<&str> = self.world.namespace_names_by_index();
        for (r, p) in self.results.iter_mut().zip(&mut self.pending) {
            if !p.is_empty() {
                renumber(r, &names, p);
                p.clear();
            }
        }
        &self.results
    }

    /// Flow `k`'s result, up to date.
    pub fn result(&mut self, k: usize) -> &FlowResult {
        if !self.pending[k].is_empty() {
            let names: Vec<&str> = self.world.namespace_names_by_index();
            renumber(&mut self.results[k], &names, &self.pending[k]);
            self.pending[k].clear();
        }
        &self.results[k]
    }
    pub fn flows(&self) -> &[(FlowSpec, RunOptions)] {
        &self.flows
    }
    pub fn into_world(self) -> World {
        self.world
    }

    /// Forgets the flows from index `n` on.
    pub fn truncate_flows(&mut self, n: usize) {
        self.flows.truncate(n);
        self.results.truncate(n);
        self.deps.truncate(n);
        self.pending.truncate(n);
    }

    /// Adds flows and runs them on the current world; their indices follow the others'.
    pub fn add_flows(&mut self, flows: Vec<(FlowSpec, RunOptions)>) {
        let w = &self.world;
        let out: Vec<(FlowResult, FlowDeps)> = flows.par_iter().map(|(s, o)| w.run_flow_recorded(s, o)).collect();
        for (r, d) in out {
            self.results.push(r);
            self.deps.push(d);
            self.pending.push(Vec::new());
        }
        self.flows.extend(flows);
    }

    /// Applies the change file `text` to namespace `ns` and brings every flow's result up to
    /// date. When the diagnostics hold an error the change is unusable (`change::apply`): the
    /// results are then left as they were and must not be used either.
    pub fn apply(&mut self, ns: &str, file: &str, text: &str) -> Result<(Parsed<Vec<Applied>>, Rechecked), String> {
        let i = self.world.namespace_index(ns).ok_or_else(|| format!("no namespace {ns:?}"))?;
        let (p, j) = crate::change::apply_journaled(self.world.namespace_mut_unprepared(i), file, text);
        let (cs, rf) = measure(i as u32, self.world.namespace(ns).expect("indexed namespace"), &j, true);
        let toggled = self.world.refresh(i, &rf);
        self.journals.push((i, j));
        if p.diagnostics.iter().any(|d| d.severity == Severity::Error) {
            return Ok((p, Rechecked::default()));
        }
        Ok((p, self.update(cs, toggled)))
    }

    /// Undoes every change applied so far, last first, and brings the results up to date.
    pub fn revert_all(&mut self) -> Rechecked {
        let mut all = Rechecked::default();
        let mut rerun: BTreeSet<usize> = BTreeSet::new();
        while let Some((i, j)) = self.journals.pop() {
            let name = self.world.namespace_names_by_index()[i].to_string();
            let (cs, mut rf) = measure(i as u32, self.world.namespace(&name).expect("indexed namespace"), &j, false);
            j.revert(self.world.namespace_mut_unprepared(i));
            // Restored originals may sit anywhere in the table: compile the touched tables whole.
            for (t, _) in std::mem::take(&mut rf.chains) {
                if !rf.whole.contains(&t) {
                    rf.whole.push(t);
                }
            }
            let toggled = self.world.refresh(i, &rf);
            let r = self.update(cs, toggled);
            rerun.extend(r.rerun);
            all.renumbered += r.renumbered;
            all.everything |= r.everything;
        }
        all.rerun = rerun.into_iter().collect();
        all
    }

    fn update(&mut self, cs: ChangeSet, conntrack_toggled: bool) -> Rechecked {
        let mut cs = cs;
        cs.everything |= conntrack_toggled;
        let mut rerun = Vec::new();
        let mut renumbered = 0;
        // Deciding is pure and per flow: in parallel, then applied in flow order.
        let effects: Vec<Effect> = self.deps.par_iter().map(|d| effect(d, &cs)).collect();
        for (k, e) in effects.into_iter().enumerate() {
            match e {
                Effect::Keep => {}
                Effect::Rerun => rerun.push(k),
                Effect::Renumber(m) => {
                    self.pending[k].extend(m);
                    renumbered += 1;
                }
            }
        }
        let w = &self.world;
        let flows = &self.flows;
        let out: Vec<(FlowResult, FlowDeps)> = rerun.par_iter().map(|&k| w.run_flow_recorded(&flows[k].0, &flows[k].1)).collect();
        for (&k, (r, d)) in rerun.iter().zip(out) {
            self.results[k] = r;
            self.deps[k] = d;
            self.pending[k].clear();
        }
        Rechecked { rerun, renumbered, everything: cs.everything }
    }
}
