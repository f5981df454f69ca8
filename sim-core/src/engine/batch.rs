//! Many flows at once: [`World::run_batch`] runs a list of flows in parallel (rayon) and returns
//! their results in input order, and [`World::run_matrix`] runs every client to every Service
//! port of a [`Matrix`] and folds the answers into a [`MatrixReport`] without keeping 10M traces.
//!
//! Determinism: a flow's answer depends only on the world, the flow and the options. Random
//! choices are either enumerated (`seed: None`) or drawn from the options' seed, restarted for
//! every flow (`flow::Run::new`), so neither the thread a flow runs on nor the order in which
//! flows run can change it; collecting keeps input order and the fold sums integers, so the
//! output is byte-for-byte the same for any number of threads.
//!
//! [`kube_node`] builds the world the "every pod to every Service port" figure is
//! measured on: one kube-proxy node with P calico-style pods and S generated Service ports.

use crate::engine::{FlowSpec, RunOptions, World};
use crate::model::Namespace;
use crate::scenario::files::Destination;
use crate::scenario::generate;
use crate::trace::{ClientResult, FlowResult, Outcome};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

impl World {
    /// Runs every flow (in parallel on the current rayon pool); results in input order.
    pub fn run_batch(&self, flows: &[FlowSpec], opts: &RunOptions) -> Vec<FlowResult> {
        flows.par_iter().map(|f| self.run_flow(f, opts)).collect()
    }

    /// Runs every client of `m` to every Service port of `m` and folds the answers.
    pub fn run_matrix(&self, m: &Matrix, opts: &RunOptions) -> MatrixReport {
        // One task per Service port: each runs every client to it, so failures group by
        // Service port as they are found, and the per-port partials come back in port order.
        let per_port: Vec<(BTreeMap<String, u64>, Option<PortFailures>)> = m.ports.par_iter().map(|p| self.matrix_port(m, p, opts)).collect();
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut failing = Vec::new();
        for (c, f) in per_port {
            for (k, v) in c {
                *counts.entry(k).or_default() += v;
            }
            failing.extend(f);
        }
        let flows = (m.clients.len() * m.ports.len()) as u64;
        let connected = counts.get(CONNECTED).copied().unwrap_or(0);
        MatrixReport { clients: m.clients.len(), ports: m.ports.len(), flows, connected, counts, failing }
    }

    fn matrix_port(&self, m: &Matrix, p: &MatrixPort, opts: &RunOptions) -> (BTreeMap<String, u64>, Option<PortFailures>) {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut groups: Vec<FailGroup> = Vec::new();
        for c in &m.clients {
            let spec = m.flow(c, p);
            let r = self.run_flow(&spec, opts);
            let class = class_of(&r.outcomes);
            if class != CONNECTED {
                match groups.iter_mut().find(|g| g.class == class) {
                    Some(g) => g.clients.push(c.clone()),
                    None => groups.push(FailGroup {
                        summary: r.outcomes.iter().find(|o| o.result != ClientResult::Connected).map(|o| o.summary.clone()).unwrap_or_default(),
                        class: class.clone(),
                        clients: vec![c.clone()],
                    }),
                }
            }
            *counts.entry(class).or_default() += 1;
        }
        let f = (!groups.is_empty()).then(|| PortFailures { port: p.dst.to_string(), name: p.name.clone(), groups });
        (counts, f)
    }
}

/// The class a flow's answer is counted under.
pub const CONNECTED: &str = "connected";

/// One word (or a few) for a flow's outcomes: `connected`, `timeout (no-route)`, or, when random
/// choices end differently, each result with its summed probability (`connected p=0.9000 |
/// timeout (rule) p=0.1000`). Outcomes that differ only in where they were delivered (which
/// endpoint a Service chose) count as one.
pub fn class_of(outcomes: &[Outcome]) -> String {
    let mut by: Vec<(String, f64)> = Vec::new();
    for o in outcomes {
        let k = match o.reason {
            Some(r) => format!("{} ({})", o.result.as_string(), r.as_str()),
            None => o.result.as_string(),
        };
        match by.iter_mut().find(|(x, _)| *x == k) {
            Some(e) => e.1 += o.probability,
            None => by.push((k, o.probability)),
        }
    }
    match by.len() {
        0 => "no outcome".into(),
        1 => by.swap_remove(0).0,
        _ => {
            by.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal).then_with(|| a.0.cmp(&b.0)));
            by.iter().map(|(k, p)| format!("{k} p={p:.4}")).collect::<Vec<_>>().join(" | ")
        }
    }
}

/// A Service port of a matrix.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct MatrixPort {
    pub dst: Destination,
    /// kube-proxy's comment (`ns/name:port cluster IP`), when the rule has one.
    pub name: Option<String>,
}

/// Every client namespace to every Service port.
#[derive(Clone, Debug, Default)]
pub struct Matrix {
    pub clients: Vec<String>,
    pub ports: Vec<MatrixPort>,
}

impl Matrix {
    /// Every namespace that is not a node (`scenario::generate::is_node`) to every Service port
    /// of every node's kube-proxy rules (nat KUBE-SERVICES), both in name order.
    pub fn every_pod_to_every_service(w: &World) -> Matrix {
        let nss: Vec<&Namespace> = w.namespace_names().filter_map(|n| w.namespace(n)).collect();
        let mut ports = std::collections::BTreeSet::new();
        let mut clients = Vec::new();
        for ns in nss {
            if generate::is_node(ns) {
                for s in generate::services(ns).0 {
                    ports.insert(MatrixPort { dst: s.dst, name: s.name });
                }
            } else {
                clients.push(ns.name.clone());
            }
        }
        Matrix { clients, ports: ports.into_iter().collect() }
    }

    /// The flow from `client` to `port`, named as `nfpath diff` names it.
    pub fn flow(&self, client: &str, port: &MatrixPort) -> FlowSpec {
        FlowSpec::client(&format!("{client} -> {}", port.dst), client, port.dst.addr, port.dst.port.unwrap_or(0), port.dst.proto.number())
    }

    /// Every flow, client-major (the order `run_batch` results come in for [`Matrix::flows`]).
    pub fn flows(&self) -> Vec<FlowSpec> {
        self.clients.iter().flat_map(|c| self.ports.iter().map(move |p| self.flow(c, p))).collect()
    }
}

/// Clients that did not connect to one Service port, grouped by what happened to them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PortFailures {
    pub port: String,
    pub name: Option<String>,
    pub groups: Vec<FailGroup>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailGroup {
    /// See [`class_of`].
    pub class: String,
    /// The first client's summary of its first outcome that is not `connected`.
    pub summary: String,
    /// In client order.
    pub clients: Vec<String>,
}

/// What a matrix run found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatrixReport {
    pub clients: usize,
    pub ports: usize,
    pub flows: u64,
    /// Flows whose every outcome is `connected`.
    pub connected: u64,
    /// Flows per class ([`class_of`]).
    pub counts: BTreeMap<String, u64>,
    /// Service ports some client did not connect to, in port order.
    pub failing: Vec<PortFailures>,
}

// The benchmark world lives with the generators (it parses the rules it generates).
pub use crate::gen::node_world::{kube_node, KubeNode};
