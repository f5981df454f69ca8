//! What one application of a change file altered, with the originals of everything it altered,
//! so that the change can be measured (which chains, routes, rules) and undone.
//!
//! A change is applied to the namespace in place (cloning a kube-proxy node's nat table for
//! every command cost more than the rest of a what-if); before a command first edits a chain,
//! the chain as it was is kept here.

use crate::model::route::Route;
use crate::model::rule::FibRule;
use crate::model::ruleset::{Chain, Name, Table, TableName};
use crate::model::Namespace;
use std::collections::HashMap;

/// The originals of one table's edited chains.
#[derive(Clone, Debug)]
pub struct TableJournal {
    pub name: TableName,
    /// The change created the table (it did not exist before).
    pub created: bool,
    /// The table's chain names in their order before the first chain was created or deleted;
    /// `None` while no chain was created or deleted.
    pub order: Option<Vec<Name>>,
    /// The change deleted chains (`-X`): the positions of the others moved.
    pub deleted: bool,
    /// Each edited chain as it was before the change (`None`: the change created it), in the
    /// order they were first edited.
    pub chains: Vec<(Name, Option<Chain>)>,
    at: HashMap<Name, usize>,
}

impl TableJournal {
    pub fn original(&self, name: &str) -> Option<Option<&Chain>> {
        self.at.get(name).map(|&i| self.chains[i].1.as_ref())
    }
}

/// Everything one change altered in one namespace, with the originals.
#[derive(Clone, Debug, Default)]
pub struct Journal {
    pub tables: Vec<TableJournal>,
    /// The routes before the first `ip route` command.
    pub routes: Option<Vec<Route>>,
    /// The policy rules before the first `ip rule` command.
    pub rules: Option<Vec<FibRule>>,
    /// How many rule texts the ruleset held before (the change adds its own).
    pub sources: Option<usize>,
}

impl Journal {
    fn table(&mut self, name: TableName) -> &mut TableJournal {
        let i = match self.tables.iter().position(|t| t.name == name) {
            Some(i) => i,
            None => {
                self.tables.push(TableJournal { name, created: false, order: None, deleted: false, chains: Vec::new(), at: HashMap::new() });
                self.tables.len() - 1
            }
        };
        &mut self.tables[i]
    }

    /// Called before `chain` of `t` is edited (rules, policy, or deletion).
    pub(crate) fn touch(&mut self, t: &Table, chain: &str) {
        let j = self.table(t.name);
        if j.at.contains_key(chain) {
            return;
        }
        let Some(c) = t.chain(chain) else { return };
        j.at.insert(c.name.clone(), j.chains.len());
        j.chains.push((c.name.clone(), Some(c.clone())));
    }

    /// Called before chains of `t` are created or deleted: keeps the order they are in.
    pub(crate) fn reorder(&mut self, t: &Table) {
        let j = self.table(t.name);
        if j.order.is_none() {
            j.order = Some(t.chains.iter().map(|c| c.name.clone()).collect());
        }
    }

    /// Called before chains of `t` are deleted.
    pub(crate) fn deleting(&mut self, t: &Table) {
        self.reorder(t);
        self.table(t.name).deleted = true;
    }

    /// Called after chain `name` was created in `t`.
    pub(crate) fn created_chain(&mut self, t: TableName, name: &Name) {
        let j = self.table(t);
        if !j.at.contains_key(name.as_str()) {
            j.at.insert(name.clone(), j.chains.len());
            j.chains.push((name.clone(), None));
        }
    }

    /// Called after table `t` was created.
    pub(crate) fn created_table(&mut self, t: TableName) {
        self.table(t).created = true;
    }

    pub(crate) fn save_routing(&mut self, ns: &Namespace) {
        if self.routes.is_none() {
            self.routes = Some(ns.routes.clone());
        }
        if self.rules.is_none() {
            self.rules = Some(ns.rules.clone());
        }
    }

    pub(crate) fn save_sources(&mut self, ns: &Namespace) {
        if self.sources.is_none() {
            self.sources = Some(ns.ruleset.sources.len());
        }
    }

    /// Whether the change altered nothing at all.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty() && self.routes.is_none() && self.rules.is_none()
    }

    /// Puts back everything the change altered: `ns` is then equal to what it was before.
    pub fn revert(&self, ns: &mut Namespace) {
        if let Some(r) = &self.routes {
            ns.routes = r.clone();
        }
        if let Some(r) = &self.rules {
            ns.rules = r.clone();
        }
        for j in self.tables.iter().rev() {
            if j.created {
                ns.ruleset.tables.retain(|t| t.name != j.name);
                continue;
            }
            let Some(t) = ns.ruleset.table_mut(j.name) else { continue };
            match &j.order {
                Some(order) => {
                    let mut now: HashMap<Name, Chain> = t.chains.drain(..).map(|c| (c.name.clone(), c)).collect();
                    t.chains = order
                        .iter()
                        .filter_map(|n| match j.original(n) {
                            Some(orig) => orig.cloned(),
                            None => now.remove(n.as_str()),
                        })
                        .collect();
                    t.reindex();
                }
                None => {
                    for (n, orig) in &j.chains {
                        if let (Some(orig), Some(c)) = (orig, t.chain_mut(n)) {
                            *c = orig.clone();
                        }
                    }
                }
            }
        }
        if let Some(n) = self.sources {
            ns.ruleset.sources.truncate(n);
            ns.ruleset.source_names.truncate(n);
        }
    }
}
