//! The packet-path engine: namespaces joined by veth pairs, the IPv4 netfilter hooks, conntrack
//! and NAT, and connection-level flows that produce traces.
//!
//! Callers build a [`World`] once from imported namespaces and the veth links between them, then
//! run any number of [`FlowSpec`]s against it with [`World::run_flow`]. Everything a flow needs
//! per namespace (routing view, chain index, conntrack index, veth peers, ipset index) is
//! prepared in `World::new`, so a flow allocates little and clones no rule text unless the
//! trace level asks for rendered steps.
//!
//! ```
//! use sim_core::engine::build::{WorldB, R};
//! use sim_core::engine::{FlowSpec, RunOptions, World, VethLink};
//! use sim_core::trace::ClientResult;
//!
//! // Namespaces usually come from snapshots; `build` makes them by hand.
//! let mut b = WorldB::new();
//! b.veth("client", "eth0", Some("10.0.0.1/24"), "server", "eth0", Some("10.0.0.2/24"));
//! b.ns("server").listen(6, 80).ipt("filter", "INPUT", R::new().p("tcp").dport(22).j("DROP"));
//! let namespaces = b.nss.iter().map(|n| n.build()).collect();
//! let links = vec![VethLink::new("client", "eth0", "server", "eth0")];
//! let world = World::new(namespaces, &links).unwrap();
//!
//! let flow = FlowSpec::client("web", "client", "10.0.0.2".parse().unwrap(), 80, 6);
//! let result = world.run_flow(&flow, &RunOptions::default());
//! assert_eq!(result.outcomes[0].result, ClientResult::Connected);
//! assert_eq!(result.outcomes[0].at.as_deref(), Some("server"));
//! ```

pub mod batch;
pub mod build;
pub mod chain;
pub mod conntrack;
pub mod deps;
pub mod device;
pub mod flow;
pub mod hooks;
pub mod nat;
pub mod route_api;
pub mod routing;
pub mod underlay;
pub mod xt;

#[cfg(test)]
mod tests;

use crate::model::conntrack::CtTuple;
use crate::model::link::LinkKind;
use crate::model::ruleset::TableName;
use crate::model::Namespace;
use crate::trace::FlowResult;
use route_api::{BasicRouter, Router};

/// Which routing implementation a world uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RouterKind {
    /// The routing part's `Fib` (the default).
    #[default]
    Fib,
    /// The engine's interim `BasicRouter` (kept as a second opinion for differential tests).
    Basic,
}
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

/// A veth pair whose ends may live in different namespaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VethLink {
    pub a_ns: String,
    pub a_dev: String,
    pub b_ns: String,
    pub b_dev: String,
}

impl VethLink {
    pub fn new(a_ns: &str, a_dev: &str, b_ns: &str, b_dev: &str) -> Self {
        VethLink { a_ns: a_ns.into(), a_dev: a_dev.into(), b_ns: b_ns.into(), b_dev: b_dev.into() }
    }
}

/// How much of each step to render.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TraceLevel {
    /// Outcomes only (result, receiver, seen addresses, reason, summary); no steps are built.
    Summary,
    /// Every step with its rule text.
    #[default]
    Full,
}

#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Follow one branch of every random choice, drawn from this seed, instead of enumerating.
    pub seed: Option<u64>,
    pub trace: TraceLevel,
    /// At most this many branch combinations are walked; the rest is reported as indeterminate.
    pub max_branches: usize,
    /// Walk every rule, without the destination index (the reference the index is tested against).
    pub plain_walk: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { seed: None, trace: TraceLevel::Full, max_branches: 256, plain_walk: false }
    }
}

/// Where a flow starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowFrom {
    /// A client socket in a namespace; its source address is chosen by the namespace's routing
    /// unless `src` binds one.
    Client { ns: String, src: Option<Ipv4Addr> },
    /// A packet injected as if received on `iif` of `ns` with source `src`.
    Inject { ns: String, src: Ipv4Addr, iif: String },
}

/// One connection attempt (interface.md §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowSpec {
    pub name: String,
    pub from: FlowFrom,
    pub dst: Ipv4Addr,
    /// Destination port; ignored for ICMP.
    pub dport: u16,
    /// 6, 17 or 1.
    pub proto: u8,
    /// Client source port (ICMP: echo id); `None` = the low end of `ip_local_port_range`.
    pub sport: Option<u16>,
    /// `SO_MARK` of the client socket.
    pub mark: u32,
    /// The client's uid/gid for `-m owner`; `None` leaves owner rules indeterminate.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl FlowSpec {
    pub fn client(name: &str, ns: &str, dst: Ipv4Addr, dport: u16, proto: u8) -> FlowSpec {
        FlowSpec { name: name.into(), from: FlowFrom::Client { ns: ns.into(), src: None }, dst, dport, proto, sport: None, mark: 0, uid: None, gid: None }
    }
}

/// A table's chains resolved to integer ids.
#[derive(Debug)]
pub(crate) struct PTable {
    /// Index in `Ruleset::tables`.
    pub tidx: usize,
    pub chains: Vec<PChain>,
    pub by_name: HashMap<String, u32>,
}

#[derive(Debug)]
pub(crate) struct PChain {
    /// Index in `Table::chains`.
    pub cidx: usize,
    /// Per rule: the chain id a `-j`/`-g` user-chain target resolves to.
    pub jumps: Vec<Option<u32>>,
    /// Per rule: the index of the keyed run it belongs to (see `KeyRun`).
    pub run_of: Vec<Option<u32>>,
    pub runs: Vec<KeyRun>,
}

/// A run of consecutive rules that each require one exact key a packet either has or lacks
/// before anything else about the rule is looked at: `-d a.b.c.d/32` (KUBE-SERVICES' shape), or
/// `-m tcp/udp --dport N` preceded only by tests without side effects or indeterminate answers
/// (KUBE-NODEPORTS, KUBE-EXTERNAL-SERVICES). A packet can only match the run's rules whose key
/// it has, so the walk skips straight to them; everything else about the walk is unchanged.
#[derive(Debug)]
pub(crate) struct KeyRun {
    /// One past the run's last rule.
    pub end: u32,
    /// Destination -> the run's `-d x/32` rules for it, ascending.
    pub by_dst: HashMap<Ipv4Addr, Vec<u32>>,
    /// (protocol, destination port) -> the run's port-keyed rules for it, ascending. A
    /// fragment skips none of them: `tcp_mt` looks at fragments before ports.
    pub by_port: HashMap<(u8, u16), Vec<u32>>,
}

impl KeyRun {
    /// The first rule at or after `i` in the run that `pkt` could match, or the run's end.
    pub(crate) fn next(&self, i: usize, pkt: &crate::model::packet::Packet) -> usize {
        let after = |v: &Vec<u32>| {
            let k = v.partition_point(|&x| (x as usize) < i);
            v.get(k).map(|&x| x as usize)
        };
        if pkt.frag_off != 0 && !self.by_port.is_empty() {
            return i;
        }
        let d = self.by_dst.get(&pkt.dst).and_then(after);
        let p = if self.by_port.is_empty() { None } else { self.by_port.get(&(pkt.proto, pkt.dport)).and_then(after) };
        match (d, p) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => self.end as usize,
        }
    }
}

/// Runs shorter than this are walked plainly.
const MIN_KEY_RUN: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum RuleKey {
    Dst(Ipv4Addr),
    Port(u8, u16),
}

/// The key a rule can be dispatched on, if any. The walk may skip a rule only when its
/// evaluation would surely end in false with nothing else happening, so the key must be tested
/// before anything that can answer indeterminate, hotdrop, or leave a trace (`recent --set`,
/// `statistic`, `limit`'s assumption): `ip_packet_match` tests the base fields first and the
/// `-m` matches then run in the order written (`ipt_do_table`), stopping at the first false.
fn rule_key(r: &crate::model::ruleset::Rule) -> Option<RuleKey> {
    use crate::model::ruleset::Match;
    if r.unreadable.is_some() {
        return None;
    }
    // Base fields have no side effects and never answer indeterminate.
    if let Some(d) = r.base.dst.as_ref().filter(|d| !d.neg && u32::from(d.val.mask) == u32::MAX) {
        return Some(RuleKey::Dst(d.val.addr));
    }
    let single = |p: &Option<crate::model::types::Neg<crate::model::types::PortRange>>| p.as_ref().filter(|p| !p.neg && p.val.lo == p.val.hi).map(|p| p.val.lo);
    for m in &r.matches {
        match m {
            // `tcp_mt` tests the fragment offset (a hotdrop at offset 1), then the ports, and only
            // then the flags and options: a wrong port is false before anything else; the walk
            // does not skip port-keyed rules for fragments (`KeyRun::next`).
            Match::Tcp(t) => match single(&t.dport) {
                Some(port) => return Some(RuleKey::Port(crate::model::packet::IPPROTO_TCP, port)),
                // A tcp match before the keyed one: false or true, unless it tests options.
                None if t.option.is_none() => {}
                None => return None,
            },
            Match::Udp(u) => {
                if let Some(port) = single(&u.dport) {
                    return Some(RuleKey::Port(crate::model::packet::IPPROTO_UDP, port));
                }
            }
            // Tests that answer true or false with no side effect, whatever the packet.
            Match::Comment(_) | Match::Nfacct(_) | Match::Mark(_) | Match::Connmark(_) | Match::State(_) | Match::Multiport(_) | Match::Icmp(_) => {}
            Match::Addrtype(a) if !a.limit_iface_in && !a.limit_iface_out => {}
            // Anything else may be indeterminate or have an effect: the rule is walked plainly.
            _ => return None,
        }
    }
    None
}

fn key_runs(rules: &[crate::model::ruleset::Rule]) -> (Vec<Option<u32>>, Vec<KeyRun>) {
    let mut run_of = vec![None; rules.len()];
    let mut runs = Vec::new();
    let keys: Vec<Option<RuleKey>> = rules.iter().map(rule_key).collect();
    let mut i = 0;
    while i < rules.len() {
        let start = i;
        while i < rules.len() && keys[i].is_some() {
            i += 1;
        }
        if i - start >= MIN_KEY_RUN {
            let mut by_dst: HashMap<Ipv4Addr, Vec<u32>> = HashMap::new();
            let mut by_port: HashMap<(u8, u16), Vec<u32>> = HashMap::new();
            for k in start..i {
                match keys[k] {
                    Some(RuleKey::Dst(d)) => by_dst.entry(d).or_default().push(k as u32),
                    Some(RuleKey::Port(p, n)) => by_port.entry((p, n)).or_default().push(k as u32),
                    None => {}
                }
                run_of[k] = Some(runs.len() as u32);
            }
            runs.push(KeyRun { end: i as u32, by_dst, by_port });
        }
        if i == start {
            i += 1;
        }
    }
    (run_of, runs)
}

/// One namespace, prepared.
pub struct NsPrep {
    pub ns: Namespace,
    pub router: Box<dyn Router>,
    pub(crate) tables: [Option<PTable>; 5],
    /// Imported conntrack entries by (proto, zone, tuple): (entry index, direction).
    pub(crate) ct_index: HashMap<(u8, u16, CtTuple), (usize, usize)>,
    /// veth device -> (peer namespace index, peer device).
    pub(crate) veth_peer: HashMap<String, (usize, String)>,
    pub(crate) sets: HashMap<String, usize>,
    /// Per device: (proxy_arp, send_redirects), with `all` folded in (`IN_DEV_PROXY_ARP`,
    /// `IN_DEV_TX_REDIRECTS`).
    pub(crate) dev_flags: HashMap<String, (bool, bool)>,
    pub(crate) default_ttl: u8,
    pub(crate) tcp_loose: bool,
    /// The low end of `ip_local_port_range`.
    pub(crate) port_lo: u16,
    /// Conntrack hooks are registered in this namespace (`nf_ct_netns_get`): something uses
    /// them (the nat table, a conntrack-based match or target) or entries were imported.
    pub(crate) ct_enabled: bool,
}

/// Whether a ruleset makes the kernel track connections in its namespace: the nat table, or
/// any rule whose match or target calls `nf_ct_netns_get` in its checkentry.
fn uses_conntrack(rs: &crate::model::ruleset::Ruleset) -> bool {
    use crate::model::ruleset::{Match, TableName, Target};
    if rs.table(TableName::Nat).is_some() {
        return true;
    }
    rs.tables.iter().flat_map(|t| t.chains.iter()).flat_map(|c| c.rules.iter()).any(|r| {
        r.matches.iter().any(|m| matches!(m, Match::Conntrack(_) | Match::State(_) | Match::Connmark(_)))
            || matches!(
                r.target,
                Target::Connmark(_)
                    | Target::Ct(_)
                    | Target::Notrack
                    | Target::Dnat(_)
                    | Target::Snat(_)
                    | Target::Masquerade(_)
                    | Target::Redirect(_)
                    | Target::Netmap(_)
            )
            || r.unreadable.is_some()
            || matches!(&r.target, Target::Unsupported { .. })
            || r.matches.iter().any(|m| matches!(m, Match::Unsupported { .. }))
    })
}

impl NsPrep {
    pub(crate) fn table(&self, t: TableName) -> Option<&PTable> {
        self.tables[t as usize].as_ref()
    }
}

/// Namespaces joined by veth links, prepared for flows.
pub struct World {
    pub(crate) nss: Vec<NsPrep>,
    pub(crate) index: BTreeMap<String, usize>,
    /// What a cluster file adds: the underlay between node uplinks, and names for addresses.
    pub(crate) cluster: underlay::ClusterMeta,
}

fn prepare_table(rs: &crate::model::ruleset::Ruleset, tidx: usize) -> PTable {
    let t = &rs.tables[tidx];
    let by_name: HashMap<String, u32> = t.chains.iter().enumerate().map(|(i, c)| (c.name.to_string(), i as u32)).collect();
    let chains = t
        .chains
        .iter()
        .enumerate()
        .map(|(cidx, c)| {
            let (run_of, runs) = key_runs(&c.rules);
            PChain {
                cidx,
                run_of,
                runs,
                jumps: c
                    .rules
                    .iter()
                    .map(|r| match &r.target {
                        crate::model::ruleset::Target::Jump(n) | crate::model::ruleset::Target::Goto(n) => by_name.get(n.as_str()).copied(),
                        _ => None,
                    })
                    .collect(),
            }
        })
        .collect();
    PTable { tidx, chains, by_name }
}

impl World {
    /// Builds a world. Errors name a link end that does not exist.
    pub fn new(namespaces: Vec<Namespace>, links: &[VethLink]) -> Result<World, String> {
        let mut index = BTreeMap::new();
        for (i, ns) in namespaces.iter().enumerate() {
            if index.insert(ns.name.clone(), i).is_some() {
                return Err(format!("namespace {:?} is given twice", ns.name));
            }
        }
        let mut nss: Vec<NsPrep> = namespaces
            .into_iter()
            .map(|ns| {
                let router: Box<dyn Router> = Box::new(routing::Fib::new(&ns));
                let mut tables: [Option<PTable>; 5] = Default::default();
                for (tidx, t) in ns.ruleset.tables.iter().enumerate() {
                    tables[t.name as usize] = Some(prepare_table(&ns.ruleset, tidx));
                }
                let mut ct_index = HashMap::new();
                for (i, e) in ns.conntrack.iter().enumerate() {
                    ct_index.entry((e.proto, e.zone, e.orig)).or_insert((i, 0));
                    ct_index.entry((e.proto, e.zone, e.reply)).or_insert((i, 1));
                }
                let sets = ns.ipsets.iter().enumerate().map(|(i, s)| (s.name.clone(), i)).collect();
                let sy = &ns.sysctls;
                let dev_flags = ns
                    .links
                    .iter()
                    .map(|l| {
                        let proxy = sy.conf(&l.name, "proxy_arp").0 != 0 || sy.conf_all("proxy_arp").0 != 0;
                        let redir = sy.conf_all("send_redirects").0 != 0 || sy.conf(&l.name, "send_redirects").0 != 0;
                        (l.name.clone(), (proxy, redir))
                    })
                    .collect();
                let default_ttl = sy.int("net.ipv4.ip_default_ttl").map_or(64, |(v, _)| v.clamp(1, 255) as u8);
                let tcp_loose = sy.int("net.netfilter.nf_conntrack_tcp_loose").is_none_or(|(v, _)| v != 0);
                let port_lo =
                    sy.get("net.ipv4.ip_local_port_range").and_then(|(v, _)| v.split_whitespace().next().and_then(|x| x.parse::<u16>().ok())).unwrap_or(32768);
                let ct_enabled = !ns.conntrack.is_empty() || uses_conntrack(&ns.ruleset);
                NsPrep { ns, router, tables, ct_index, veth_peer: HashMap::new(), sets, dev_flags, default_ttl, tcp_loose, port_lo, ct_enabled }
            })
            .collect();
        // veth pairs inside one namespace: `link_ifindex` names the peer and no netns id is set.
        for prep in nss.iter_mut() {
            let mut pairs = Vec::new();
            for l in &prep.ns.links {
                if l.kind == LinkKind::Veth && l.link_netnsid.is_none() {
                    if let Some(peer) = l.link_ifindex.and_then(|ix| prep.ns.link_by_index(ix)) {
                        if peer.kind == LinkKind::Veth {
                            pairs.push((l.name.clone(), peer.name.clone()));
                        }
                    }
                }
            }
            let me = index[&prep.ns.name];
            for (a, b) in pairs {
                prep.veth_peer.insert(a, (me, b));
            }
        }
        for l in links {
            let a = *index.get(&l.a_ns).ok_or_else(|| format!("link {}:{}: no namespace {:?}", l.a_ns, l.a_dev, l.a_ns))?;
            let b = *index.get(&l.b_ns).ok_or_else(|| format!("link {}:{}: no namespace {:?}", l.b_ns, l.b_dev, l.b_ns))?;
            if nss[a].ns.link(&l.a_dev).is_none() {
                return Err(format!("link {}:{}: namespace {} has no device {}", l.a_ns, l.a_dev, l.a_ns, l.a_dev));
            }
            if nss[b].ns.link(&l.b_dev).is_none() {
                return Err(format!("link {}:{}: namespace {} has no device {}", l.b_ns, l.b_dev, l.b_ns, l.b_dev));
            }
            nss[a].veth_peer.insert(l.a_dev.clone(), (b, l.b_dev.clone()));
            nss[b].veth_peer.insert(l.b_dev.clone(), (a, l.a_dev.clone()));
        }
        Ok(World { nss, index, cluster: Default::default() })
    }

    /// Sets the underlay and the address names a cluster file gives (`engine/underlay.rs`).
    pub fn set_cluster(&mut self, c: underlay::ClusterMeta) {
        self.cluster = c;
    }

    /// Switches every namespace to `kind`'s router.
    pub fn use_router(&mut self, kind: RouterKind) {
        for p in &mut self.nss {
            p.router = match kind {
                RouterKind::Fib => Box::new(routing::Fib::new(&p.ns)),
                RouterKind::Basic => Box::new(BasicRouter::new(&p.ns)),
            };
        }
    }

    /// Replaces a namespace's router.
    pub fn set_router(&mut self, ns: &str, router: Box<dyn Router>) -> Result<(), String> {
        let i = *self.index.get(ns).ok_or_else(|| format!("no namespace {ns:?}"))?;
        self.nss[i].router = router;
        Ok(())
    }

    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.index.get(name).map(|&i| &self.nss[i].ns)
    }

    pub fn namespace_names(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }

    /// How many rules of `chain` (in `table` of namespace `ns`) the chain index covers, that is,
    /// belong to a run the walk dispatches on destination or port; `None` if there is no such
    /// chain. Tests use it to show the index is in use where they compare it with the plain walk.
    pub fn indexed_rules(&self, ns: &str, table: TableName, chain: &str) -> Option<usize> {
        let p = &self.nss[*self.index.get(ns)?];
        let pt = p.table(table)?;
        let pc = &pt.chains[*pt.by_name.get(chain)? as usize];
        Some(pc.run_of.iter().filter(|r| r.is_some()).count())
    }

    /// Runs one flow: every distinct outcome with its probability.
    pub fn run_flow(&self, spec: &FlowSpec, opts: &RunOptions) -> FlowResult {
        flow::run(self, spec, opts)
    }
}
