//! Reading a state from disk: a cluster file (`cluster.yaml`), a folder holding one, or a single
//! snapshot folder. sim-core gets text; this is where files are read.

use crate::error::{CliError, CliResult};
use sim_core::diag::{Diagnostic, Severity};
use sim_core::engine::World;
use sim_core::scenario::world::{build_world_in, SnapshotFiles};
use sim_core::scenario::{parse_cluster, ClusterFile};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[allow(dead_code)] // `cluster` and `diagnostics` are read by commands that report on the whole state.
pub struct State {
    pub world: World,
    pub cluster: Option<ClusterFile>,
    pub diagnostics: Vec<Diagnostic>,
}

/// The regular files of a snapshot folder, by name.
pub fn read_snapshot(dir: &Path) -> CliResult<SnapshotFiles> {
    let mut files = BTreeMap::new();
    let rd = std::fs::read_dir(dir).map_err(|e| CliError::io(dir, "read the snapshot folder", &e))?;
    for e in rd.flatten() {
        let p = e.path();
        if !p.is_file() {
            continue;
        }
        let name = e.file_name().to_string_lossy().to_string();
        let bytes = std::fs::read(&p).map_err(|e| CliError::io(&p, "read", &e))?;
        // Tool output is text; invalid UTF-8 is kept with replacement characters, and the
        // importer reports whatever it cannot read.
        files.insert(name, String::from_utf8_lossy(&bytes).into_owned());
    }
    Ok(files)
}

/// The cluster file a path designates, if any: the file itself, or `cluster.yaml` inside it.
pub fn cluster_path(path: &Path) -> Option<PathBuf> {
    if path.is_file() {
        return Some(path.to_path_buf());
    }
    let c = path.join("cluster.yaml");
    c.is_file().then_some(c)
}

/// Loads a state and prints its warnings and errors on stderr (info diagnostics only with
/// `verbose`). Unusable input is an error with exit code 2.
pub fn load(path: &Path, verbose: bool) -> CliResult<State> {
    // Namespace -> the snapshot folder it was read from, for diagnostics.
    let mut folders = BTreeMap::new();
    let (cluster, cluster_name, snapshots) = match cluster_path(path) {
        Some(cf) => {
            let text = std::fs::read_to_string(&cf).map_err(|e| CliError::io(&cf, "read the cluster file", &e))?;
            let name = cf.display().to_string();
            let mut p = parse_cluster(&name, &text);
            if let Some(d) = p.diagnostics.iter().find(|d| d.severity == Severity::Error) {
                return Err(diag_error(d));
            }
            let base = cf.parent().unwrap_or(Path::new("."));
            // Pods named by `kubectl get pods -A -o json`, when the cluster file gives one.
            if let Some(rel) = p.value.kubectl_pods.clone() {
                let kp = base.join(&rel);
                let text = std::fs::read_to_string(&kp).map_err(|e| CliError::io(&kp, "read the kubectl pods file", &e))?;
                let d = sim_core::scenario::cluster::add_kubectl_pods(&mut p.value, &kp.display().to_string(), &text);
                if let Some(e) = d.iter().find(|d| d.severity == Severity::Error) {
                    return Err(diag_error(e));
                }
            }
            let mut snaps = BTreeMap::new();
            for (ns, rel) in &p.value.namespaces {
                let dir = base.join(rel);
                snaps.insert(ns.clone(), read_snapshot(&dir)?);
                folders.insert(ns.clone(), dir.display().to_string());
            }
            (Some(p.value), name, snaps)
        }
        None if path.is_dir() => {
            let name = path.canonicalize().ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string())).unwrap_or_else(|| "ns".into());
            let mut snaps = BTreeMap::new();
            snaps.insert(name.clone(), read_snapshot(path)?);
            folders.insert(name, path.display().to_string());
            (None, path.display().to_string(), snaps)
        }
        None => return Err(CliError::at(path.display().to_string(), "no such cluster file or snapshot folder")),
    };
    let built = build_world_in(&cluster_name, cluster.as_ref(), &snapshots, &folders);
    for d in &built.diagnostics {
        if d.severity != Severity::Info || verbose {
            eprintln!("nfpath: {d}");
        }
    }
    match built.value {
        Some(world) => Ok(State { world, cluster, diagnostics: built.diagnostics }),
        None => {
            let d = built.diagnostics.iter().find(|d| d.severity == Severity::Error);
            Err(d.map(diag_error).unwrap_or_else(|| CliError::unusable(format!("{}: cannot be used", path.display()))))
        }
    }
}

pub fn diag_error(d: &Diagnostic) -> CliError {
    let mut msg = d.message.clone();
    if let (Some(e), Some(f)) = (&d.expected, &d.found) {
        msg.push_str(&format!(" (expected {e}, found {f})"));
    }
    CliError::at(d.span.to_string(), msg)
}
