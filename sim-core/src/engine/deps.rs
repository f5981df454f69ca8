//! What a flow's run consulted, for incremental what-if (`change::incremental`), and the World
//! methods that recompile only the parts of a namespace a change touched.
//!
//! Recording is per thread: [`World::run_flow_recorded`] switches a thread-local recorder on,
//! runs the flow (one flow runs on one thread), and collects what the two hooks noted:
//! - `chain.rs`'s walk calls [`chain_entered`] when it starts a table at a hook and at every
//!   `-j`/`-g`, with the packet's destination at that moment (a walk never changes the
//!   destination: NAT targets end it, `nat.rs` rewrites after);
//! - a [`Recording`] router wraps each namespace's router and notes every question asked of it
//!   (route lookups, `addrtype`, `rpfilter`, MASQUERADE's source choice).
//!
//! When no flow is being recorded each hook costs one thread-local flag test.

use super::route_api::{FlowKey, RouteResult, Router};
use super::{prepare_table, routing, uses_conntrack, NsPrep, PChain, PTable, World};
use crate::model::route::RouteType;
use crate::model::ruleset::{Name, Table, TableName, Target};
use crate::trace::FlowResult;
use rayon::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

/// One chain a flow's walk entered: namespace index, table, chain name, and the packet's
/// destination while it walked the chain.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChainVisit {
    pub ns: u32,
    pub table: TableName,
    pub chain: Name,
    pub dst: Ipv4Addr,
}

/// Everything a flow's run (every branch of it) consulted that a what-if change can alter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowDeps {
    /// Sorted, without duplicates.
    pub chains: Vec<ChainVisit>,
    /// Namespaces (indices) whose router was asked anything; sorted, without duplicates.
    pub routers: Vec<u32>,
}

#[derive(Default)]
struct Recorder {
    chains: Vec<(u32, TableName, u32, Ipv4Addr)>,
    routers: Vec<u32>,
}

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static REC: RefCell<Recorder> = RefCell::new(Recorder::default());
}

/// Hook for `chain.rs`: the walk of `table` in namespace `ns` entered the chain with id `chain`
/// (its index in `PTable::chains`) while the packet's destination was `dst`.
#[inline]
pub(crate) fn chain_entered(ns: usize, table: TableName, chain: u32, dst: Ipv4Addr) {
    if ON.with(Cell::get) {
        REC.with(|r| r.borrow_mut().chains.push((ns as u32, table, chain, dst)));
    }
}

#[inline]
fn router_used(ns: u32) {
    if ON.with(Cell::get) {
        REC.with(|r| r.borrow_mut().routers.push(ns));
    }
}

/// A namespace's router that notes every question asked of it while a flow is recorded.
/// Every `Router` method must be forwarded here, including any added later with a default body:
/// a method left to its default would answer differently from the wrapped router and go unrecorded.
pub struct Recording {
    pub inner: Box<dyn Router>,
    pub ns: u32,
}

impl Router for Recording {
    fn output(&self, key: &FlowKey) -> RouteResult {
        router_used(self.ns);
        self.inner.output(key)
    }
    fn input(&self, key: &FlowKey) -> RouteResult {
        router_used(self.ns);
        self.inner.input(key)
    }
    fn addr_type(&self, ip: Ipv4Addr, limit_dev: Option<&str>) -> RouteType {
        router_used(self.ns);
        self.inner.addr_type(ip, limit_dev)
    }
    fn inet_select_addr(&self, dev: &str, nexthop: Ipv4Addr) -> Option<Ipv4Addr> {
        router_used(self.ns);
        self.inner.inet_select_addr(dev, nexthop)
    }
    fn rpfilter(&self, src: Ipv4Addr, dst: Ipv4Addr, iif: &str, mark: u32, loose: bool, accept_local: bool) -> Option<bool> {
        router_used(self.ns);
        self.inner.rpfilter(src, dst, iif, mark, loose, accept_local)
    }
}

/// What to recompile in one namespace after its model was edited in place.
#[derive(Clone, Debug, Default)]
pub struct Refresh {
    /// Routes or policy rules changed: rebuild the router.
    pub routes: bool,
    /// Per table: the chains whose rules or policy changed, or that were created. Chains
    /// only ever appended (never removed) keep their indices, so the rest of the compiled table
    /// stays valid.
    pub chains: Vec<(TableName, Vec<Name>)>,
    /// Tables to compile whole (created, or chains removed from them).
    pub whole: Vec<TableName>,
}

/// One chain compiled as `prepare_table` compiles it.
fn compile_chain(t: &Table, by_name: &HashMap<String, u32>, cidx: usize) -> PChain {
    let c = &t.chains[cidx];
    let (run_of, runs) = super::key_runs(&c.rules);
    PChain {
        cidx,
        run_of,
        runs,
        jumps: c
            .rules
            .iter()
            .map(|r| match &r.target {
                Target::Jump(n) | Target::Goto(n) => by_name.get(n.as_str()).copied(),
                _ => None,
            })
            .collect(),
    }
}

impl World {
    /// Wraps every namespace's router so that [`World::run_flow_recorded`] learns which
    /// namespaces a flow asked for routes. Answers are unchanged.
    pub fn record_routers(&mut self) {
        let nss = std::mem::take(&mut self.nss);
        self.nss = nss
            .into_iter()
            .enumerate()
            .map(|(i, mut p)| {
                let inner = p.router;
                p.router = Box::new(Recording { inner, ns: i as u32 });
                p
            })
            .collect();
    }

    /// Runs one flow as [`World::run_flow`] does and returns what it consulted. Route lookups
    /// are only seen after [`World::record_routers`].
    pub fn run_flow_recorded(&self, spec: &super::FlowSpec, opts: &super::RunOptions) -> (FlowResult, FlowDeps) {
        REC.with(|r| {
            let mut r = r.borrow_mut();
            r.chains.clear();
            r.routers.clear();
        });
        ON.with(|on| on.set(true));
        let res = self.run_flow(spec, opts);
        ON.with(|on| on.set(false));
        let (mut raw, mut routers) = REC.with(|r| {
            let mut r = r.borrow_mut();
            (std::mem::take(&mut r.chains), std::mem::take(&mut r.routers))
        });
        raw.sort_unstable();
        raw.dedup();
        routers.sort_unstable();
        routers.dedup();
        let chains: BTreeSet<ChainVisit> = raw
            .iter()
            .filter_map(|&(ns, table, id, dst)| {
                let p = &self.nss[ns as usize];
                let pt = p.table(table)?;
                let c = &p.ns.ruleset.tables[pt.tidx].chains[pt.chains[id as usize].cidx];
                Some(ChainVisit { ns, table, chain: c.name.clone(), dst })
            })
            .collect();
        (res, FlowDeps { chains: chains.into_iter().collect(), routers })
    }

    /// The index of a namespace (as [`ChainVisit::ns`] and [`FlowDeps::routers`] count).
    pub fn namespace_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The namespace at `i`, for editing in place. The world is inconsistent until
    /// [`World::refresh`] is called with what the edit changed; the caller must run no flow
    /// before that.
    pub fn namespace_mut_unprepared(&mut self, i: usize) -> &mut crate::model::Namespace {
        &mut self.nss[i].ns
    }

    /// Recompiles what `r` names in namespace `i` after an in-place edit; everything else
    /// (other tables, other chains, other namespaces, veth peers, the cluster's underlay) is kept.
    /// Routes are rebuilt with the default router (`routing::Fib`), as `World::new` builds them.
    /// Returns whether conntrack was switched on or off in the namespace (every packet through
    /// it is then handled differently).
    pub fn refresh(&mut self, i: usize, r: &Refresh) -> bool {
        let p: &mut NsPrep = &mut self.nss[i];
        if r.routes {
            p.router = Box::new(Recording { inner: Box::new(routing::Fib::new(&p.ns)), ns: i as u32 });
        }
        // Tables may have been created (never removed by a change file); their positions in the
        // ruleset may have moved, which `PTable::tidx` records.
        let rs = &p.ns.ruleset;
        let mut tables: [Option<PTable>; 5] = Default::default();
        for (tidx, t) in rs.tables.iter().enumerate() {
            let old = p.tables[t.name as usize].take();
            let whole = r.whole.contains(&t.name);
            let pt = match old {
                Some(mut pt) if !whole && pt.chains.len() <= t.chains.len() => {
                    pt.tidx = tidx;
                    if let Some((_, names)) = r.chains.iter().find(|(n, _)| *n == t.name) {
                        let fresh = pt.chains.len();
                        for (cidx, c) in t.chains.iter().enumerate().skip(fresh) {
                            pt.by_name.insert(c.name.to_string(), cidx as u32);
                        }
                        for cidx in fresh..t.chains.len() {
                            pt.chains.push(compile_chain(t, &pt.by_name, cidx));
                        }
                        for n in names {
                            if let Some(&id) = pt.by_name.get(n.as_str()) {
                                if (id as usize) < fresh {
                                    pt.chains[id as usize] = compile_chain(t, &pt.by_name, id as usize);
                                }
                            }
                        }
                        if fresh < t.chains.len() {
                            // A rule of an untouched chain may name a chain that only now exists
                            // (it was unresolved, so the walk said "does not exist").
                            // Every rule of the table (320k in a 10k-Service nat table): in parallel.
                            let by_name = &pt.by_name;
                            pt.chains.par_iter_mut().take(fresh).for_each(|pc| {
                                let rules = &t.chains[pc.cidx].rules;
                                for (k, j) in pc.jumps.iter_mut().enumerate() {
                                    if j.is_none() {
                                        if let Target::Jump(n) | Target::Goto(n) = &rules[k].target {
                                            *j = by_name.get(n.as_str()).copied();
                                        }
                                    }
                                }
                            });
                        }
                    }
                    pt
                }
                _ => prepare_table(rs, tidx),
            };
            tables[t.name as usize] = Some(pt);
        }
        p.tables = tables;
        let ct = !p.ns.conntrack.is_empty() || uses_conntrack(&p.ns.ruleset);
        std::mem::replace(&mut p.ct_enabled, ct) != ct
    }

    /// Namespace names by index.
    pub fn namespace_names_by_index(&self) -> Vec<&str> {
        let mut v = vec![""; self.nss.len()];
        for (n, &i) in &self.index {
            v[i] = n.as_str();
        }
        v
    }

    /// A world built from scratch from this one's namespaces (cloned), `links` and this world's
    /// cluster data: what incremental updates are checked against.
    pub fn rebuilt(&self, links: &[super::VethLink]) -> Result<World, String> {
        let mut names: Vec<(&String, &usize)> = self.index.iter().collect();
        names.sort_by_key(|(_, &i)| i);
        let nss = names.iter().map(|(_, &i)| self.nss[i].ns.clone()).collect();
        let mut w = World::new(nss, links)?;
        w.cluster = self.cluster.clone();
        Ok(w)
    }
}
