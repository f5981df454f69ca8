//! Reporting for `nfpath test`: one line per flow, the `N passed, N failed` summary, JUnit. The
//! engine call is the caller's (so this layer can be driven in parallel and stays testable).

use crate::scenario::check::{check_flow, Failure};
use crate::scenario::files::Flow;
use crate::scenario::junit::{CaseReport, SuiteReport};
use crate::trace::render::outcome_headline;
use crate::trace::FlowResult;

#[derive(Clone, Debug)]
pub struct FlowReport {
    pub flow: Flow,
    pub result: FlowResult,
    pub failures: Vec<Failure>,
}

impl FlowReport {
    pub fn new(flow: Flow, result: FlowResult) -> Self {
        let failures = check_flow(flow.expect.as_ref(), &result);
        FlowReport { flow, result, failures }
    }
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// One flows file's results, or the reason it could not be run.
#[derive(Clone, Debug)]
pub struct FileReport {
    pub file: String,
    pub flows: Vec<FlowReport>,
    /// Diagnostics that made the file unusable (exit code 2).
    pub errors: Vec<crate::diag::Diagnostic>,
}

/// `PASS name: ...` / `FAIL name: what: expected X, found Y`.
pub fn flow_line(r: &FlowReport) -> String {
    let outcomes: Vec<String> = r.result.outcomes.iter().map(outcome_headline).collect();
    let what = format!("{} -> {}", r.flow.from.ns(), r.flow.to);
    if r.passed() {
        let tag = if r.flow.expect.is_some() { "PASS" } else { "RAN " };
        format!("{tag} {} ({what}): {}", r.flow.name, outcomes.join("; "))
    } else {
        let f: Vec<String> = r.failures.iter().map(|f| f.to_string()).collect();
        format!("FAIL {} ({what}): {}", r.flow.name, f.join("; "))
    }
}

/// Counts over all files: (passed, failed). A flow without expectations counts as passed.
pub fn totals(files: &[FileReport]) -> (usize, usize) {
    let mut p = 0;
    let mut f = 0;
    for file in files {
        for r in &file.flows {
            if r.passed() {
                p += 1;
            } else {
                f += 1;
            }
        }
    }
    (p, f)
}

/// The closing line CI systems read.
pub fn summary_line(files: &[FileReport]) -> String {
    let (p, f) = totals(files);
    format!("{p} passed, {f} failed")
}

/// Exit code per interface.md: 2 if any file was unusable, else 1 if any expectation failed.
pub fn exit_code(files: &[FileReport]) -> i32 {
    if files.iter().any(|f| !f.errors.is_empty()) {
        2
    } else if totals(files).1 > 0 {
        1
    } else {
        0
    }
}

pub fn junit(files: &[FileReport]) -> String {
    let suites: Vec<SuiteReport> = files
        .iter()
        .map(|file| {
            let mut cases: Vec<CaseReport> = file
                .flows
                .iter()
                .map(|r| CaseReport {
                    name: r.flow.name.clone(),
                    failure: (!r.passed()).then(|| r.failures.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n")),
                    output: r.result.outcomes.iter().map(|o| format!("{}: {}", outcome_headline(o), o.summary)).collect::<Vec<_>>().join("\n"),
                })
                .collect();
            for e in &file.errors {
                cases.push(CaseReport { name: "load".into(), failure: Some(e.to_string()), output: String::new() });
            }
            SuiteReport { name: file.file.clone(), cases }
        })
        .collect();
    crate::scenario::junit::render(&suites)
}
