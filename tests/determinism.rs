//! Same input, same output, byte for byte, whatever the thread count: `nfpath test --json` and
//! `nfpath trace` over the bundled scenarios with 1 and 4 worker threads, twice each.

use std::process::Command;

fn run(args: &[&str], threads: &str) -> Vec<u8> {
    let out = Command::new(harness::nfpath_bin())
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RAYON_NUM_THREADS", threads)
        .env("NO_COLOR", "1")
        .output()
        .expect("run nfpath");
    assert!(out.status.code().is_some_and(|c| c <= 1), "nfpath {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn outputs_do_not_depend_on_threads_or_runs() {
    for args in [
        vec!["test", "scenarios/", "--json"],
        vec!["test", "scenarios/"],
        vec!["trace", "scenarios/kube-proxy-routed/flows.yaml"],
        vec!["trace", "scenarios/kube-proxy-routed/flows.yaml", "--format", "dot"],
    ] {
        let first = run(&args, "1");
        assert!(!first.is_empty(), "nfpath {args:?} printed nothing");
        for threads in ["4", "1", "4"] {
            assert!(run(&args, threads) == first, "nfpath {args:?} differs with {threads} threads");
        }
    }
}

/// `nfpath test` runs flows without building their steps unless `--json` prints them; the
/// outcomes (result, receiver, seen addresses, disposition, reason, summary, probability) must
/// be the same either way, on every bundled scenario.
#[test]
fn summary_traces_give_the_same_outcomes_as_full_traces() {
    use sim_core::engine::{RunOptions, TraceLevel};
    use sim_core::scenario::world::{build_world, flow_spec};
    use sim_core::scenario::{parse_cluster, parse_flows};
    use std::collections::BTreeMap;
    use std::path::Path;

    fn flows_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read_dir").flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                flows_files(&p, out);
            } else if p.file_name().is_some_and(|n| n == "flows.yaml") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    flows_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"), &mut files);
    assert!(files.len() >= 10, "found only {} flows files", files.len());
    let mut compared = 0;
    for file in &files {
        let flows = parse_flows("flows.yaml", &std::fs::read_to_string(file).expect("read flows")).value;
        let base = file.parent().expect("parent");
        let cpath = base.join(flows.state.as_deref().unwrap_or("cluster.yaml"));
        let cluster = parse_cluster("cluster.yaml", &std::fs::read_to_string(&cpath).expect("read cluster")).value;
        let cbase = cpath.parent().expect("parent");
        let mut snaps = BTreeMap::new();
        for (ns, rel) in &cluster.namespaces {
            let mut files = BTreeMap::new();
            for e in std::fs::read_dir(cbase.join(rel)).expect("snapshot").flatten() {
                if e.path().is_file() {
                    files.insert(e.file_name().to_string_lossy().to_string(), std::fs::read_to_string(e.path()).unwrap_or_default());
                }
            }
            snaps.insert(ns.clone(), files);
        }
        let Some(world) = build_world("cluster.yaml", Some(&cluster), &snaps).value else {
            // Scenarios that need a kubectl pods file are loaded by the CLI; the CLI test covers them.
            continue;
        };
        for f in &flows.flows {
            let spec = flow_spec(f).expect("flow");
            let full = world.run_flow(&spec, &RunOptions { seed: f.seed, trace: TraceLevel::Full, ..RunOptions::default() });
            let sum = world.run_flow(&spec, &RunOptions { seed: f.seed, trace: TraceLevel::Summary, ..RunOptions::default() });
            let strip = |r: &sim_core::trace::FlowResult| {
                let mut v = serde_json::to_value(r).expect("json");
                for o in v["outcomes"].as_array_mut().expect("outcomes") {
                    o.as_object_mut().expect("object").remove("steps");
                }
                v
            };
            assert_eq!(strip(&full), strip(&sum), "{}: flow {}", file.display(), f.name);
            compared += 1;
        }
    }
    assert!(compared >= 70, "compared only {compared} flows");
}
