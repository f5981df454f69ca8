//! What-if: compare the outcomes of the same flows on two states and explain each change by the
//! rule or route where the two walks part.

use crate::trace::render::outcome_headline;
use crate::trace::{FlowResult, Outcome, Step, StepKind};
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Clone, Debug, Serialize)]
pub struct FlowChange {
    pub flow: String,
    pub before: FlowResult,
    pub after: FlowResult,
    /// Where the walks part: per changed outcome, the first step taken only after the change
    /// (the rule or route responsible) and the step the walk took there before.
    pub causes: Vec<Cause>,
    /// Steps (rules, routes) taken only after the change, and only before it.
    pub now_taken: Vec<String>,
    pub no_longer_taken: Vec<String>,
}

/// The first place where an outcome's walk differs from the closest walk before the change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Cause {
    /// The step taken after the change (`None`: the walk ended where it used to go on).
    pub now: Option<String>,
    /// The step taken there before the change (`None`: the walk used to end there).
    pub was: Option<String>,
}

/// What decides whether an outcome changed: everything the contract reports but the steps.
fn key(o: &Outcome) -> String {
    format!("{:.6}|{}|{:?}|{:?}|{:?}|{:?}|{:?}", o.probability, o.result.as_string(), o.at, o.seen, o.disposition, o.reason, o.indeterminate)
}

/// A step's identity for "which rule or route made the difference": its place, rule number,
/// source line and text.
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

/// A step's identity for aligning two walks: like `step_key` but without rule numbers and
/// lines, so that a rule inserted earlier in a chain does not make every later rule of the
/// chain look different.
fn align_key(s: &Step) -> String {
    match &s.kind {
        StepKind::Netfilter { hook, table, chain, rule, text, verdict, .. } => {
            let place = if *rule == 0 { "policy" } else { "rule" };
            format!("[{}] {table} {hook} {chain} {place} {verdict}: {text}", s.ns)
        }
        StepKind::Conntrack { state, orig, .. } => format!("[{}] conntrack {state} {orig}", s.ns),
        StepKind::Note { text } => format!("[{}] note {text}", s.ns),
        _ => step_key(s).unwrap_or_default(),
    }
}

fn steps_of(r: &FlowResult) -> BTreeSet<String> {
    r.outcomes.iter().flat_map(|o| o.steps.iter().filter_map(step_key)).collect()
}

/// The first step with a key at or after `i`, for reporting.
fn keyed_from(steps: &[Step], i: usize) -> Option<String> {
    steps.iter().skip(i).find_map(step_key)
}

/// For each outcome after the change that did not exist before, the point where its walk
/// leaves the before-walk it shares the longest beginning with.
fn causes(before: &[Outcome], after: &[Outcome]) -> Vec<Cause> {
    let old: BTreeSet<String> = before.iter().map(key).collect();
    let new: BTreeSet<String> = after.iter().map(key).collect();
    let mut out = BTreeSet::new();
    let walks = |o: &Outcome| o.steps.iter().map(align_key).collect::<Vec<_>>();
    let before_walks: Vec<Vec<String>> = before.iter().map(walks).collect();
    let after_walks: Vec<Vec<String>> = after.iter().map(walks).collect();
    // Outcomes that appeared, compared with every outcome before; outcomes that disappeared,
    // compared with every outcome after (a branch that vanished has its cause too).
    let mut pairs: Vec<(usize, usize, bool)> = Vec::new();
    for (ai, a) in after.iter().enumerate() {
        if old.contains(&key(a)) {
            continue;
        }
        let best = (0..before.len()).max_by_key(|&bi| (common(&before_walks[bi], &after_walks[ai]), std::cmp::Reverse(bi)));
        if let Some(bi) = best {
            pairs.push((bi, ai, true));
        }
    }
    for (bi, b) in before.iter().enumerate() {
        if new.contains(&key(b)) {
            continue;
        }
        let best = (0..after.len()).max_by_key(|&ai| (common(&before_walks[bi], &after_walks[ai]), std::cmp::Reverse(ai)));
        if let Some(ai) = best {
            pairs.push((bi, ai, false));
        }
    }
    for (bi, ai, _) in pairs {
        let n = common(&before_walks[bi], &after_walks[ai]);
        let c = Cause { now: keyed_from(&after[ai].steps, n), was: keyed_from(&before[bi].steps, n) };
        if c.now.is_some() || c.was.is_some() {
            out.insert(c);
        }
    }
    out.into_iter().collect()
}

fn common(a: &[String], b: &[String]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The flows (matched by name) whose outcomes differ, in the order of `after`.
pub fn diff(before: &[FlowResult], after: &[FlowResult]) -> Vec<FlowChange> {
    let by_name: std::collections::HashMap<&str, &FlowResult> = before.iter().map(|b| (b.flow.as_str(), b)).collect();
    let mut out = Vec::new();
    for a in after {
        let Some(b) = by_name.get(a.flow.as_str()) else { continue };
        let kb: BTreeSet<String> = b.outcomes.iter().map(key).collect();
        let ka: BTreeSet<String> = a.outcomes.iter().map(key).collect();
        if kb == ka {
            continue;
        }
        let (sb, sa) = (steps_of(b), steps_of(a));
        out.push(FlowChange {
            flow: a.flow.clone(),
            before: (*b).clone(),
            after: a.clone(),
            causes: causes(&b.outcomes, &a.outcomes),
            now_taken: sa.difference(&sb).cloned().collect(),
            no_longer_taken: sb.difference(&sa).cloned().collect(),
        });
    }
    out
}

/// Text report: old and new outcomes one above the other, then the rule or route where the
/// walks part (`now:` taken after the change, `was:` what was taken there before).
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
        for cause in &c.causes {
            match &cause.now {
                Some(n) => s.push_str(&format!("  now:    {n}\n")),
                None => s.push_str("  now:    (the walk ends here)\n"),
            }
            match &cause.was {
                Some(w) => s.push_str(&format!("  was:    {w}\n")),
                None => s.push_str("  was:    (the walk ended here)\n"),
            }
        }
    }
    s
}

/// Rebuilds `world` with `edit` applied to its namespace `ns` (the other namespaces and the veth
/// `links` as they were). The edit's own value is handed back.
pub fn with_changed_namespace<T>(
    world: &crate::engine::World,
    links: &[crate::engine::VethLink],
    ns: &str,
    edit: impl FnOnce(&mut crate::model::Namespace) -> T,
) -> Result<(crate::engine::World, T), String> {
    let mut namespaces: Vec<crate::model::Namespace> = world.namespace_names().filter_map(|n| world.namespace(n)).cloned().collect();
    let target = namespaces.iter_mut().find(|n| n.name == ns).ok_or_else(|| format!("no namespace {ns:?}"))?;
    let value = edit(target);
    Ok((crate::engine::World::new(namespaces, links)?, value))
}

/// The closing line: how many flows changed.
pub fn summary_line(changed: usize, total: usize) -> String {
    format!("{changed} of {total} flows changed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{ClientResult, Disposition, DropReason};

    fn step(rule: u32, text: &str, verdict: &str) -> Step {
        Step {
            ns: "node".into(),
            kind: StepKind::Netfilter {
                hook: "FORWARD".into(),
                table: "filter".into(),
                chain: "FORWARD".into(),
                rule,
                line: 3,
                file: "f".into(),
                text: text.into(),
                verdict: verdict.into(),
            },
            packet_after: None,
        }
    }

    fn res(flow: &str, result: ClientResult, steps: Vec<Step>) -> FlowResult {
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
                steps,
            }],
        }
    }

    #[test]
    fn only_changed_flows_are_reported_with_the_step_where_walks_part() {
        let pre = step(1, "-A FORWARD -s 10.0.0.9/32 -j LOG", "LOG");
        let before = vec![
            res("a", ClientResult::Connected, vec![pre.clone(), step(2, "-A FORWARD -j ACCEPT", "ACCEPT")]),
            res("b", ClientResult::Connected, vec![pre.clone(), step(2, "-A FORWARD -j ACCEPT", "ACCEPT")]),
        ];
        // A DROP inserted at 2 renumbers the ACCEPT to 3: flow b still reaches it, unchanged.
        let after = vec![
            res("a", ClientResult::Timeout, vec![pre.clone(), step(2, "-A FORWARD -d 10.0.0.1/32 -j DROP", "DROP")]),
            res("b", ClientResult::Connected, vec![pre, step(3, "-A FORWARD -j ACCEPT", "ACCEPT")]),
        ];
        let c = diff(&before, &after);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].flow, "a");
        assert_eq!(c[0].causes.len(), 1, "{:?}", c[0].causes);
        assert!(c[0].causes[0].now.as_deref().is_some_and(|n| n.contains("FORWARD #2 (f:3) DROP")), "{:?}", c[0].causes);
        assert!(c[0].causes[0].was.as_deref().is_some_and(|n| n.contains("-j ACCEPT")));
        let text = render(&c);
        assert!(text.contains("after:  p=1.0000 timeout"), "{text}");
        assert!(text.contains("now:    [node] filter FORWARD FORWARD #2"), "{text}");
        assert!(diff(&before, &before).is_empty());
    }
}
