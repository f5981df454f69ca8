//! What-if: compare the outcomes of the same flows on two states and explain each change by the
//! rule or route that appears on one side only.

use crate::trace::render::outcome_headline;
use crate::trace::{FlowResult, Outcome, Step, StepKind};
use std::collections::BTreeSet;

#[derive(Clone, Debug)]
pub struct FlowChange {
    pub flow: String,
    pub before: FlowResult,
    pub after: FlowResult,
    /// Steps (rules, routes) taken only after the change, and only before it.
    pub now_taken: Vec<String>,
    pub no_longer_taken: Vec<String>,
}

/// What decides whether an outcome changed: everything the contract reports but the steps.
fn key(o: &Outcome) -> String {
    format!(
        "{:.6}|{}|{:?}|{:?}|{:?}|{:?}|{:?}",
        o.probability,
        o.result.as_string(),
        o.at,
        o.seen,
        o.disposition,
        o.reason,
        o.indeterminate
    )
}

/// A step's identity for "which rule or route made the difference".
pub fn step_key(s: &Step) -> Option<String> {
    Some(match &s.kind {
        StepKind::Netfilter { hook, table, chain, rule, line, file, text, verdict } => {
            let place = if *rule == 0 { format!("{chain} policy") } else { format!("{chain} #{rule}") };
            let src = if *line > 0 { format!(" ({file}:{line})") } else { String::new() };
            format!("[{}] {table} {hook} {place}{src} {verdict}: {text}", s.ns)
        }
        StepKind::Route { table, route, result } => format!("[{}] route table {table}: {route} => {result}", s.ns),
        StepKind::FibRule { priority, text } => format!("[{}] ip rule {priority}: {text}", s.ns),
        StepKind::Device { dev, action } => format!("[{}] {dev}: {action}", s.ns),
        _ => return None,
    })
}

fn steps_of(r: &FlowResult) -> BTreeSet<String> {
    r.outcomes.iter().flat_map(|o| o.steps.iter().filter_map(step_key)).collect()
}

/// The flows (matched by name) whose outcomes differ, in the order of `after`.
pub fn diff(before: &[FlowResult], after: &[FlowResult]) -> Vec<FlowChange> {
    let mut out = Vec::new();
    for a in after {
        let Some(b) = before.iter().find(|b| b.flow == a.flow) else { continue };
        let kb: BTreeSet<String> = b.outcomes.iter().map(key).collect();
        let ka: BTreeSet<String> = a.outcomes.iter().map(key).collect();
        if kb == ka {
            continue;
        }
        let (sb, sa) = (steps_of(b), steps_of(a));
        out.push(FlowChange {
            flow: a.flow.clone(),
            before: b.clone(),
            after: a.clone(),
            now_taken: sa.difference(&sb).cloned().collect(),
            no_longer_taken: sb.difference(&sa).cloned().collect(),
        });
    }
    out
}

/// Text report: old and new side by side, and the rules or routes responsible.
pub fn render(changes: &[FlowChange]) -> String {
    let mut s = String::new();
    for c in changes {
        s.push_str(&format!("CHANGED {}\n", c.flow));
        for o in &c.before.outcomes {
            s.push_str(&format!("  before: {}\n", outcome_headline(o)));
        }
        for o in &c.after.outcomes {
            s.push_str(&format!("  after:  {}\n", outcome_headline(o)));
        }
        for t in &c.now_taken {
            s.push_str(&format!("  now:    {t}\n"));
        }
        for t in &c.no_longer_taken {
            s.push_str(&format!("  was:    {t}\n"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{ClientResult, Disposition, DropReason};

    fn res(flow: &str, result: ClientResult, step: &str) -> FlowResult {
        FlowResult {
            flow: flow.into(),
            outcomes: vec![Outcome {
                probability: 1.0,
                disposition: if result == ClientResult::Connected { Disposition::Delivered } else { Disposition::Dropped },
                reason: (result != ClientResult::Connected).then_some(DropReason::Rule),
                result,
                at: None,
                seen: None,
                indeterminate: None,
                summary: String::new(),
                steps: vec![Step {
                    ns: "node".into(),
                    kind: StepKind::Netfilter {
                        hook: "FORWARD".into(),
                        table: "filter".into(),
                        chain: "FORWARD".into(),
                        rule: 1,
                        line: 3,
                        file: "f".into(),
                        text: step.into(),
                        verdict: "x".into(),
                    },
                    packet_after: None,
                }],
            }],
        }
    }

    #[test]
    fn only_changed_flows_are_reported_with_their_cause() {
        let before = vec![res("a", ClientResult::Connected, "-A FORWARD -j ACCEPT"), res("b", ClientResult::Connected, "-A FORWARD -j ACCEPT")];
        let after = vec![res("a", ClientResult::Timeout, "-A FORWARD -d 10.0.0.1/32 -j DROP"), res("b", ClientResult::Connected, "-A FORWARD -j ACCEPT")];
        let c = diff(&before, &after);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].flow, "a");
        assert!(c[0].now_taken[0].contains("-j DROP"));
        assert!(c[0].no_longer_taken[0].contains("-j ACCEPT"));
        assert!(render(&c).contains("after:  p=1.0000 timeout"));
        assert!(diff(&before, &before).is_empty());
    }
}
