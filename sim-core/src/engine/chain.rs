//! The rule walk of one table at one hook (`ip_tables.c:ipt_do_table`): rules in order, `-j`
//! pushes the jump stack, `-g` does not, RETURN pops (or takes the built-in chain's policy when
//! the stack is empty), the end of a user chain is a RETURN, the end of a built-in chain its
//! policy. This plain walk is the reference implementation; an indexed dispatch for large
//! KUBE-SERVICES-like chains must agree with it.

use crate::engine::flow::{Run, Skb};
use crate::engine::hooks::Hook;
use crate::engine::xt::{Env, Tri};
use crate::model::ruleset::{Policy, RejectWith, Rule, TableName, Target};
use crate::trace::{DropReason, StepKind};

/// How a table's traversal ended.
#[derive(Debug)]
pub(crate) enum Verdict<'w> {
    Accept,
    Drop(DropReason),
    Reject(RejectWith),
    /// A NAT target bound (nat table only): the rule that did it, its chain and number.
    Nat(&'w Rule, &'w str, u32),
    Indet(String),
}

/// An upper bound on rules visited in one traversal; the kernel rejects loops at load time, so
/// reaching it means the model holds a loop the kernel would not have accepted.
const WALK_BUDGET: u32 = 2_000_000;

impl<'w> Run<'w> {
    /// "file:line: text" for a rule, as indeterminate outcomes name it.
    pub(crate) fn rule_place(&self, ns: usize, rule: &Rule) -> String {
        let rs = &self.w.nss[ns].ns.ruleset;
        let file = rs.rule_file(rule);
        let text = rs.rule_text(rule);
        let file = if file.is_empty() { "iptables-save" } else { file };
        format!("{}: {file}:{}: {text}", self.name(ns), rule.line)
    }

    #[allow(clippy::too_many_arguments)]
    fn nf_step(&mut self, ns: usize, table: TableName, hook: Hook, chain: &'w str, n: u32, rule: Option<&'w Rule>, verdict: String) {
        if !self.full {
            return;
        }
        let rs = &self.w.nss[ns].ns.ruleset;
        let (line, file, text) = match rule {
            Some(r) => (r.line, rs.rule_file(r).to_string(), rs.rule_text(r).to_string()),
            None => (0, String::new(), String::new()),
        };
        self.step(ns, || StepKind::Netfilter {
            hook: hook.chain().into(),
            table: table.as_str().into(),
            chain: chain.into(),
            rule: n,
            line,
            file,
            text,
            verdict,
        });
    }

    /// Walks `table`'s chain for `hook`.
    pub(crate) fn walk(&mut self, ns: usize, table: TableName, hook: Hook, skb: &mut Skb, in_dev: Option<&str>, out_dev: Option<&str>) -> Verdict<'w> {
        let w = self.w;
        let nsp = &w.nss[ns];
        let Some(pt) = nsp.table(table) else { return Verdict::Accept };
        let mt = &nsp.ns.ruleset.tables[pt.tidx];
        // A table without this built-in chain behaves as an empty chain with policy ACCEPT.
        let Some(&start) = pt.by_name.get(hook.chain()) else { return Verdict::Accept };
        // What-if bookkeeping (engine/deps.rs): which chains a flow entered, and with what
        // destination; one flag test when nothing is recorded.
        super::deps::chain_entered(ns, table, start, skb.pkt.dst);
        let env = Env { ns, hook, table, in_dev, out_dev };
        let mut stack: Vec<(u32, usize)> = Vec::new();
        let (mut chain, mut i) = (start, 0usize);
        let mut budget = WALK_BUDGET;
        loop {
            budget -= 1;
            if budget == 0 {
                return Verdict::Indet(format!("{}: the {} {} walk did not end (a chain loop?)", self.name(ns), table.as_str(), hook.chain()));
            }
            let pc = &pt.chains[chain as usize];
            let c = &mt.chains[pc.cidx];
            if i >= c.rules.len() {
                // The end of a user chain is an implicit RETURN; of a built-in chain, its policy.
                if chain != start || !stack.is_empty() {
                    if let Some((ch, ni)) = stack.pop() {
                        chain = ch;
                        i = ni;
                        continue;
                    }
                }
                return self.policy(ns, table, hook, start);
            }
            // Indexed skip-ahead inside a run of keyed rules (`-d x/32`, `--dport N`): go to the
            // next rule of the run whose key the packet has, or past the run.
            if !self.plain_walk {
                if let Some(run) = pc.run_of[i] {
                    let to = pc.runs[run as usize].next(i, &skb.pkt);
                    if to != i {
                        i = to;
                        continue;
                    }
                }
            }
            let rule = &c.rules[i];
            let n = (i + 1) as u32;
            if let Some(why) = &rule.unreadable {
                return Verdict::Indet(format!("{}: the rule could not be read ({why})", self.rule_place(ns, rule)));
            }
            match self.rule_matches(&env, skb, rule, pc.cidx as u32, n) {
                Tri::T => {}
                Tri::F => {
                    i += 1;
                    continue;
                }
                Tri::Indet(why) => return Verdict::Indet(format!("{}: {why}", self.rule_place(ns, rule))),
                Tri::Hotdrop(why) => {
                    self.nf_step(ns, table, hook, &c.name, n, Some(rule), format!("hotdrop: {why}"));
                    return Verdict::Drop(DropReason::Rule);
                }
            }
            match &rule.target {
                Target::None => {
                    self.nf_step(ns, table, hook, &c.name, n, Some(rule), "continue (no target)".into());
                }
                Target::Accept => {
                    self.nf_step(ns, table, hook, &c.name, n, Some(rule), "ACCEPT".into());
                    return Verdict::Accept;
                }
                Target::Drop => {
                    self.nf_step(ns, table, hook, &c.name, n, Some(rule), "DROP".into());
                    return Verdict::Drop(DropReason::Rule);
                }
                Target::Reject(with) => {
                    self.nf_step(ns, table, hook, &c.name, n, Some(rule), format!("REJECT {}", with.as_str()));
                    return Verdict::Reject(*with);
                }
                Target::Return => {
                    self.nf_step(ns, table, hook, &c.name, n, Some(rule), "RETURN".into());
                    match stack.pop() {
                        Some((ch, ni)) => {
                            chain = ch;
                            i = ni;
                            continue;
                        }
                        None => return self.policy(ns, table, hook, start),
                    }
                }
                Target::Jump(name) | Target::Goto(name) => {
                    let goto = matches!(rule.target, Target::Goto(_));
                    let Some(to) = pc.jumps[i] else {
                        return Verdict::Indet(format!("{}: the target chain {name} does not exist", self.rule_place(ns, rule)));
                    };
                    self.nf_step(ns, table, hook, &c.name, n, Some(rule), format!("{} {name}", if goto { "goto" } else { "jump" }));
                    if !goto {
                        stack.push((chain, i + 1));
                    }
                    super::deps::chain_entered(ns, table, to, skb.pkt.dst);
                    chain = to;
                    i = 0;
                    continue;
                }
                Target::Dnat(_) | Target::Snat(_) | Target::Masquerade(_) | Target::Redirect(_) | Target::Netmap(_) => {
                    return Verdict::Nat(rule, &c.name, n);
                }
                _ => match self.apply_target(&env, skb, rule) {
                    Ok(v) => self.nf_step(ns, table, hook, &c.name, n, Some(rule), v),
                    Err(why) => return Verdict::Indet(format!("{}: {why}", self.rule_place(ns, rule))),
                },
            }
            i += 1;
        }
    }

    fn policy(&mut self, ns: usize, table: TableName, hook: Hook, start: u32) -> Verdict<'w> {
        let nsp = &self.w.nss[ns];
        let pt = nsp.table(table).expect("walked table exists");
        let c = &nsp.ns.ruleset.tables[pt.tidx].chains[pt.chains[start as usize].cidx];
        match c.policy {
            Some(Policy::Drop) => {
                self.nf_step(ns, table, hook, &c.name, 0, None, "policy DROP".into());
                Verdict::Drop(DropReason::Policy)
            }
            _ => {
                if !c.rules.is_empty() {
                    self.nf_step(ns, table, hook, &c.name, 0, None, "policy ACCEPT".into());
                }
                Verdict::Accept
            }
        }
    }
}

/// One random branch of a single table walk ([`World::walk_table`]).
#[derive(Clone, Debug, PartialEq)]
pub struct WalkBranch {
    pub probability: f64,
    /// `ACCEPT`, `DROP (rule)`, `DROP (policy)`, `REJECT <with>`, `NAT <chain>:<rule>` or
    /// `INDETERMINATE: <why>`.
    pub verdict: String,
    /// The packet mark after the walk (`-j MARK` changes it).
    pub mark: u32,
    /// The rendered steps (empty at `TraceLevel::Summary`).
    pub steps: Vec<crate::trace::Step>,
    /// Assumptions the walk made.
    pub notes: Vec<String>,
}

/// Where a single-table walk runs and on what.
#[derive(Clone, Debug)]
pub struct WalkInput<'a> {
    pub ns: &'a str,
    pub table: TableName,
    pub hook: Hook,
    pub pkt: crate::model::packet::Packet,
    pub mark: u32,
    pub in_dev: Option<&'a str>,
    pub out_dev: Option<&'a str>,
}

impl crate::engine::World {
    /// Walks one table's chain for one packet, with no conntrack entry and no socket (as a
    /// packet received from outside), every `-m statistic` branch enumerated. This is the rule
    /// walk alone, without routing or the other stages of a hook: the index is tested on it
    /// against the plain walk with packets a flow never makes (fragments, any flags).
    pub fn walk_table(&self, input: &WalkInput, opts: &crate::engine::RunOptions) -> Result<Vec<WalkBranch>, String> {
        use crate::engine::conntrack::SkbCt;
        use crate::engine::flow::Owner;
        let ns = *self.index.get(input.ns).ok_or_else(|| format!("no namespace {:?}", input.ns))?;
        let spec = crate::engine::FlowSpec::client("walk", input.ns, input.pkt.dst, input.pkt.dport, input.pkt.proto);
        let mut out: Vec<WalkBranch> = Vec::new();
        let mut pending: Vec<Vec<usize>> = vec![Vec::new()];
        while let Some(script) = pending.pop() {
            if out.len() >= opts.max_branches.max(1) {
                return Err(format!("more than {} random branches", opts.max_branches));
            }
            let base = script.len();
            let mut r = Run::new(self, &spec, opts, script);
            let mut skb = Skb {
                pkt: input.pkt.clone(),
                mark: input.mark,
                iif: input.in_dev.map(str::to_string),
                ct: SkbCt::None,
                inner: None,
                owner: Owner::Foreign,
                l2: Default::default(),
            };
            let verdict = match r.walk(ns, input.table, input.hook, &mut skb, input.in_dev, input.out_dev) {
                Verdict::Accept => "ACCEPT".to_string(),
                Verdict::Drop(DropReason::Policy) => "DROP (policy)".to_string(),
                Verdict::Drop(_) => "DROP (rule)".to_string(),
                Verdict::Reject(with) => format!("REJECT {}", with.as_str()),
                Verdict::Nat(_, chain, n) => format!("NAT {chain}:{n}"),
                Verdict::Indet(why) => format!("INDETERMINATE: {why}"),
            };
            if opts.seed.is_none() {
                for i in (base..r.made.len()).rev() {
                    let (taken, probs) = &r.made[i];
                    for (a, p) in probs.iter().enumerate() {
                        if a != *taken && *p > 0.0 {
                            let mut s: Vec<usize> = r.made[..i].iter().map(|(c, _)| *c).collect();
                            s.push(a);
                            pending.push(s);
                        }
                    }
                }
            }
            out.push(WalkBranch { probability: r.prob, verdict, mark: skb.mark, steps: std::mem::take(&mut r.steps), notes: std::mem::take(&mut r.notes) });
        }
        Ok(out)
    }
}
