//! Checking an engine answer against a flow's expectations. Every expectation is read over all
//! outcomes (all branches of `-m statistic`, ECMP, ...): `result`, `seen_src` and `seen_dst` must
//! hold for every outcome they apply to, and `at` is the exact set of receiving namespaces.

use crate::scenario::files::{AddrPort, Expect};
use crate::trace::{FlowResult, Outcome};
use std::collections::BTreeSet;

/// One expectation that did not hold, with what was expected and what the engine predicted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub what: &'static str,
    pub expected: String,
    pub found: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: expected {}, found {}", self.what, self.expected, self.found)
    }
}

fn addr_matches(want: &AddrPort, seen: &str) -> bool {
    // `seen` is "a.b.c.d:port" (or "a.b.c.d" for ICMP).
    let (a, p) = match seen.rsplit_once(':') {
        Some((a, p)) => (a, p.parse::<u16>().ok()),
        None => (seen, None),
    };
    a == want.addr.to_string() && want.port.is_none_or(|w| p == Some(w))
}

fn list(outcomes: &[&Outcome], f: impl Fn(&Outcome) -> String) -> String {
    let s: BTreeSet<String> = outcomes.iter().map(|o| f(o)).collect();
    s.into_iter().collect::<Vec<_>>().join(", ")
}

/// Returns the expectations that failed (empty: all held, or there were none).
pub fn check_flow(expect: Option<&Expect>, result: &FlowResult) -> Vec<Failure> {
    let mut out = Vec::new();
    let Some(e) = expect else { return out };
    let all: Vec<&Outcome> = result.outcomes.iter().collect();
    if all.is_empty() {
        out.push(Failure { what: "outcomes", expected: "at least one outcome".into(), found: "none".into() });
        return out;
    }
    if let Some(want) = &e.result {
        if all.iter().any(|o| o.result != want.0) {
            out.push(Failure {
                what: "result",
                expected: want.0.as_string(),
                found: list(&all, |o| format!("{} (p={:.4})", o.result.as_string(), o.probability)),
            });
        }
    }
    if let Some(at) = &e.at {
        let want: BTreeSet<String> = at.to_vec().into_iter().collect();
        let got: BTreeSet<String> = all.iter().filter_map(|o| o.at.clone()).collect();
        if want != got {
            out.push(Failure {
                what: "at",
                expected: format!("[{}]", want.into_iter().collect::<Vec<_>>().join(", ")),
                found: format!("[{}]", got.into_iter().collect::<Vec<_>>().join(", ")),
            });
        }
    }
    let delivered: Vec<&Outcome> = all.iter().copied().filter(|o| o.seen.is_some()).collect();
    for (what, want, pick) in [
        ("seen_src", e.seen_src.as_ref(), (|o: &Outcome| o.seen.as_ref().map(|s| s.src.clone())) as fn(&Outcome) -> Option<String>),
        ("seen_dst", e.seen_dst.as_ref(), |o: &Outcome| o.seen.as_ref().map(|s| s.dst.clone())),
    ] {
        let Some(want) = want else { continue };
        let bad = delivered.is_empty() || delivered.iter().any(|o| !pick(o).is_some_and(|s| addr_matches(want, &s)));
        if bad {
            out.push(Failure {
                what,
                expected: want.to_string(),
                found: if delivered.is_empty() { "nothing was delivered".into() } else { list(&delivered, |o| pick(o).unwrap_or_default()) },
            });
        }
    }
    if let Some(reason) = &e.reason {
        let dropped: Vec<&Outcome> = all.iter().copied().filter(|o| o.reason.is_some()).collect();
        if dropped.is_empty() || dropped.iter().any(|o| o.reason.map(|r| r.as_str()) != Some(reason.as_str())) {
            out.push(Failure {
                what: "reason",
                expected: reason.clone(),
                found: if dropped.is_empty() {
                    "no outcome was dropped".into()
                } else {
                    list(&dropped, |o| o.reason.map(|r| r.as_str().to_string()).unwrap_or_default())
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::files::{ExpectedResult, OneOrMany};
    use crate::trace::{ClientResult, Disposition, Seen};

    fn outcome(p: f64, r: ClientResult, at: Option<&str>, dst: &str) -> Outcome {
        Outcome {
            probability: p,
            result: r,
            at: at.map(str::to_string),
            seen: at.map(|_| Seen { src: "10.244.0.2:40000".into(), dst: dst.into(), proto: "tcp".into() }),
            disposition: if at.is_some() { Disposition::Delivered } else { Disposition::Dropped },
            reason: None,
            indeterminate: None,
            summary: String::new(),
            steps: vec![],
        }
    }

    #[test]
    fn every_branch_must_hold() {
        let r = FlowResult {
            flow: "f".into(),
            outcomes: vec![
                outcome(0.5, ClientResult::Connected, Some("pod-b1"), "10.244.1.2:8080"),
                outcome(0.5, ClientResult::Connected, Some("pod-b2"), "10.244.2.2:8080"),
            ],
        };
        let mut e = Expect {
            result: Some(ExpectedResult(ClientResult::Connected)),
            at: Some(OneOrMany::Many(vec!["pod-b1".into(), "pod-b2".into()])),
            ..Default::default()
        };
        assert!(check_flow(Some(&e), &r).is_empty());
        e.at = Some(OneOrMany::One("pod-b1".into()));
        assert_eq!(check_flow(Some(&e), &r)[0].what, "at");
        e.at = None;
        e.seen_dst = Some("10.244.1.2:8080".parse().unwrap_or_else(|_| panic!("addr")));
        let f = check_flow(Some(&e), &r);
        assert_eq!(f.len(), 1);
        assert!(f[0].found.contains("10.244.2.2:8080"));
        let r2 = FlowResult { flow: "f".into(), outcomes: vec![outcome(1.0, ClientResult::Timeout, None, "")] };
        let f = check_flow(Some(&e), &r2);
        assert_eq!(f.iter().map(|f| f.what).collect::<Vec<_>>(), vec!["result", "seen_dst"]);
    }
}
