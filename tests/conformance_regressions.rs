//! Replays every conformance fixture under `tests/conformance/` against the kernel and nfpath:
//! the cases where the random conformance test once found a disagreement (shrunk), and
//! hand-written ones. A fixture without `known_disagreement` must agree on every flow; one with
//! it must still disagree (when nfpath learns the behaviour, the fixture is flipped to a plain
//! regression by removing the mark).
//!
//! Must run as root: where namespaces cannot be made, the test fails loudly.

use harness::conformance::case::Fixture;
use harness::conformance::run::{run_case, RunConfig};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

fn fixtures() -> Vec<(PathBuf, Fixture)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let f: Fixture = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            f.case.validate().unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, f)
        })
        .collect()
}

#[test]
fn fixtures_parse_and_are_self_consistent() {
    let all = fixtures();
    assert!(!all.is_empty(), "no fixtures under tests/conformance/");
    for (p, f) in &all {
        assert!(!f.title.trim().is_empty(), "{}: no title", p.display());
        if let Some(why) = &f.known_disagreement {
            assert!(why.len() > 20, "{}: a known disagreement needs an explanation", p.display());
        }
    }
}

#[test]
fn every_fixture_replays_as_recorded() {
    harness::require_root();
    let all = fixtures();
    let problems = Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let cfg = RunConfig { prefix: "confreg".into(), ..RunConfig::default() };
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((path, f)) = all.get(i) else { break };
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let problem = match run_case(&f.case, &cfg) {
                    Err(e) => Some(format!("{name}: the case could not be built: {e}")),
                    Ok(r) => match (&f.known_disagreement, r.agrees()) {
                        (None, true) => None,
                        (Some(_), false) => {
                            eprintln!("{name}: known disagreement persists\n{}", r.describe());
                            None
                        }
                        (None, false) => Some(format!("{name}: nfpath disagrees with the kernel ({})\n{}{}", f.title, f.case.describe(), r.describe())),
                        (Some(why), true) => Some(format!(
                            "{name}: nfpath now agrees with the kernel on a known disagreement ({why}); remove `known_disagreement` from the fixture to keep it as a regression\n{}",
                            r.describe()
                        )),
                    },
                };
                eprintln!("{name}: {}", if problem.is_none() { "as recorded" } else { "PROBLEM" });
                if let Some(p) = problem {
                    problems.lock().unwrap_or_else(|p| p.into_inner()).push(p);
                }
            });
        }
    });
    let problems = problems.into_inner().unwrap_or_else(|p| p.into_inner());
    println!("conformance fixtures: {} replayed, {} as recorded", all.len(), all.len() - problems.len());
    assert!(problems.is_empty(), "{} of {} fixtures did not replay as recorded:\n{}", problems.len(), all.len(), problems.join("\n\n"));
}
