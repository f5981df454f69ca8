//! Guards the invariants ARCHITECTURE.md states, by reading the sources: a layer must not know
//! what it must not know. A failure here means a change crossed a boundary; move the code, or
//! change ARCHITECTURE.md first and say why.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap_or_else(|e| panic!("reading {}: {e}", d.display())).flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Lines of code (comments stripped) that contain `needle`.
fn offenders(dir: &str, needles: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut bad = Vec::new();
    for f in rust_files(&root) {
        let text = fs::read_to_string(&f).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for n in needles {
                if code.contains(n) {
                    bad.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                }
            }
        }
    }
    bad
}

#[test]
fn sim_core_reads_no_files_argv_environment_or_clock() {
    let bad = offenders("sim-core/src", &["std::fs", "std::env", "std::process", "SystemTime", "Instant::now", "thread_rng", "std::io::stdin"]);
    assert!(bad.is_empty(), "sim-core must get its inputs from callers:\n{}", bad.join("\n"));
}

#[test]
fn engine_knows_nothing_of_input_text() {
    let bad = offenders("sim-core/src/engine", &["crate::parse", "nom::", "serde_json::from", "serde_yaml"]);
    assert!(bad.is_empty(), "the engine works on the model, never on text:\n{}", bad.join("\n"));
}

#[test]
fn model_is_plain_data() {
    let bad = offenders("sim-core/src/model", &["crate::parse", "crate::engine", "nom::", "crate::trace"]);
    assert!(bad.is_empty(), "the model depends on nothing above it:\n{}", bad.join("\n"));
}

#[test]
fn nom_stays_inside_parse() {
    let bad: Vec<String> = offenders("sim-core/src", &["nom::"]).into_iter().filter(|l| !l.contains("sim-core/src/parse/")).collect();
    assert!(bad.is_empty(), "nom is an implementation detail of parse/:\n{}", bad.join("\n"));
}
