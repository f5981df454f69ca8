//! One network namespace's complete state, as imported from a snapshot folder.

use crate::model::{
    addr::Addr, conntrack::CtEntry, fdb::FdbEntry, ipset::IpSet, link::Link, neigh::Neigh, route::Route, rule::FibRule, ruleset::Ruleset, socket::Socket,
    sysctl::Sysctls,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct Namespace {
    pub name: String,
    pub links: Vec<Link>,
    pub addrs: Vec<Addr>,
    pub routes: Vec<Route>,
    /// Policy rules; the three default rules when `ip-rule.json` was absent.
    pub rules: Vec<FibRule>,
    pub neighs: Vec<Neigh>,
    pub fdb: Vec<FdbEntry>,
    pub sysctls: Sysctls,
    pub conntrack: Vec<CtEntry>,
    /// `None` when no socket list was imported: every port is assumed to listen.
    pub sockets: Option<Vec<Socket>>,
    pub ipsets: Vec<IpSet>,
    pub ruleset: Ruleset,
    /// For each input the contract names: which file provided it, or "default: ..." when absent.
    pub provenance: BTreeMap<String, String>,
    /// Counts of IPv6 items seen and not modelled (addresses, routes, rules, neighbours).
    pub ipv6_ignored: BTreeMap<String, usize>,
}

impl Namespace {
    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }
    pub fn link_by_index(&self, ifindex: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.ifindex == ifindex)
    }
    pub fn addrs_of<'a>(&'a self, dev: &'a str) -> impl Iterator<Item = &'a Addr> + 'a {
        self.addrs.iter().filter(move |a| a.ifname == dev)
    }
    pub fn ipset(&self, name: &str) -> Option<&IpSet> {
        self.ipsets.iter().find(|s| s.name == name)
    }
}
