//! From loaded inputs to a runnable world: namespaces from snapshot folders (already read into
//! name -> text maps by the caller), veth links from the cluster file, and flows converted to the
//! engine's flow specs.

use crate::diag::{Diagnostic, Parsed, Severity, Span};
use crate::engine::{FlowFrom, FlowSpec, VethLink, World};
use crate::scenario::files::{ClusterFile, Flow, Source};
use std::collections::BTreeMap;

/// One namespace's snapshot files (file name -> text), as read by the caller.
pub type SnapshotFiles = BTreeMap<String, String>;

/// Builds the world for a cluster file (or, with `cluster = None`, for lone snapshots). The
/// value is `None` when the inputs cannot be used; diagnostics say why and what was assumed.
pub fn build_world(cluster_file: &str, cluster: Option<&ClusterFile>, snapshots: &BTreeMap<String, SnapshotFiles>) -> Parsed<Option<World>> {
    build_world_in(cluster_file, cluster, snapshots, &BTreeMap::new())
}

/// [`build_world`], with the folder each namespace's snapshot was read from (namespace -> path as
/// the user wrote it): diagnostics about a snapshot file then name `folder/file`, so two nodes'
/// `conntrack.txt` can be told apart.
pub fn build_world_in(
    cluster_file: &str,
    cluster: Option<&ClusterFile>,
    snapshots: &BTreeMap<String, SnapshotFiles>,
    folders: &BTreeMap<String, String>,
) -> Parsed<Option<World>> {
    let mut diags = Vec::new();
    let mut namespaces = Vec::new();
    for (name, files) in snapshots {
        let mut p = crate::parse::snapshot::load(name, files);
        if let Some(dir) = folders.get(name) {
            for d in &mut p.diagnostics {
                if files.contains_key(&d.span.file) {
                    d.span.file = format!("{}/{}", dir.trim_end_matches('/'), d.span.file);
                }
            }
        }
        diags.extend(p.diagnostics);
        namespaces.push(p.value);
    }
    let mut ends = cluster.map(|c| c.links.clone()).unwrap_or_default();
    if let Some(c) = cluster {
        // Pods without a snapshot are made as their CNI would have made them (scenario/cluster.rs).
        crate::scenario::cluster::synthesize_pods(cluster_file, c, &mut namespaces, &mut ends, &mut diags);
    }
    let links: Vec<VethLink> = ends.iter().map(|[a, b]| VethLink::new(&a.ns, &a.dev, &b.ns, &b.dev)).collect();
    if diags.iter().any(|d| d.severity == Severity::Error) {
        return Parsed { value: None, diagnostics: diags };
    }
    match World::new(namespaces, &links) {
        Ok(mut w) => {
            if let Some(c) = cluster {
                // The underlay between uplinks and the names of pods (engine/underlay.rs).
                let meta = crate::scenario::cluster::cluster_meta(cluster_file, c, &w, &mut diags);
                w.set_cluster(meta);
            }
            if diags.iter().any(|d| d.severity == Severity::Error) {
                return Parsed { value: None, diagnostics: diags };
            }
            Parsed { value: Some(w), diagnostics: diags }
        }
        Err(e) => {
            diags.push(Diagnostic::error(Span::new(cluster_file, 0, 0), "bad-world", e));
            Parsed { value: None, diagnostics: diags }
        }
    }
}

/// The engine's flow for a flows-file flow. Errors name what is missing.
pub fn flow_spec(flow: &Flow) -> Result<FlowSpec, String> {
    let (from, sport, mark) = match &flow.from {
        Source::Ns(ns) => (FlowFrom::Client { ns: ns.clone(), src: None }, None, 0),
        Source::Inject(i) => {
            let from = match (&i.iif, i.src) {
                (Some(iif), Some(src)) => FlowFrom::Inject { ns: i.ns.clone(), src, iif: iif.clone() },
                (Some(_), None) => return Err(format!("flow {}: a packet injected on an interface needs a source (src:)", flow.name)),
                (None, src) => FlowFrom::Client { ns: i.ns.clone(), src },
            };
            (from, i.sport, i.mark.unwrap_or(0))
        }
    };
    Ok(FlowSpec {
        name: flow.name.clone(),
        from,
        dst: flow.to.addr,
        dport: flow.to.port.unwrap_or(0),
        proto: flow.to.proto.number(),
        sport,
        mark,
        uid: None,
        gid: None,
    })
}
