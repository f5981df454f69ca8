//! Calico felix (iptables dataplane) dump generator.
//!
//! The chain layout follows `netfilter-model.md` §6.4 and the felix dump in the corpus
//! (`calico-felix-fv-cali-iptables-dump-projectcalico.rules`): hooks from the built-in chains
//! into `cali-*` chains in raw, mangle, nat and filter, workload dispatch with `-g cali-fw-<if>`
//! / `-g cali-tw-<if>`, per-workload chains calling namespace profiles and policies, marks
//! allocated from the felix mark mask (default 0xffff0000), `cali-nat-outgoing` with ipsets, and
//! the tunnel MASQUERADE. Each rule carries a `cali:<hash>` comment computed felix's way (a
//! sha224 chain over the chain name and each rule's text, base64url, 16 characters); the rule
//! text hashed is ours, so the hashes have felix's shape but not felix's values.
//!
//! Checked against real felix output (unit tests below): with no workloads and no nat-outgoing
//! pool, all four tables equal the corpus felix dump modulo rule hashes and counters, except
//! for the two "Allow IPv4 VXLAN packets ..." ACCEPT rules, which felix's `static.go` writes
//! but that dump lacks; a workload's `cali-fw-`/`cali-tw-` chains and dispatch entries equal
//! those of an AKS node in the corpus modulo hashes and names.
//!
//! Simplifications, stated so nobody mistakes them for felix's behaviour: the workload dispatch
//! chains are flat (felix can split large ones into sub-chains by interface-name prefix), no
//! host endpoints, no endpoint-mark chains, no failsafe ports, IPv4 only.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use data_encoding::BASE64URL_NOPAD;
use ipnet::Ipv4Net;
use sha2::{Digest, Sha224, Sha256};

use super::prng::SplitMix64;
use super::save::{comment, hex, SaveHeader, Table};

/// iptables chain names hold at most 28 characters (`XT_EXTENSION_MAXNAMELEN` 29 with NUL).
pub const MAX_CHAIN_NAME: usize = 28;

/// Which overlays felix has enabled (both may be, with mixed pools).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encapsulation {
    pub vxlan: bool,
    pub ipip: bool,
}

impl Encapsulation {
    pub const VXLAN: Encapsulation = Encapsulation { vxlan: true, ipip: false };
    pub const IPIP: Encapsulation = Encapsulation { vxlan: false, ipip: true };
    pub const BOTH: Encapsulation = Encapsulation { vxlan: true, ipip: true };
    pub const NONE: Encapsulation = Encapsulation { vxlan: false, ipip: false };
}

/// One pod on this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    pub namespace: String,
    pub name: String,
    pub ip: Ipv4Addr,
}

impl Workload {
    /// Host-side veth name: `cali` + 11 hex characters of a hash of `<ns>.<name>` (the CNI
    /// plugin uses sha1; sha256 here, same shape).
    pub fn iface(&self) -> String {
        let digest = Sha256::digest(format!("{}.{}", self.namespace, self.name).as_bytes());
        let mut s = String::from("cali");
        for b in digest.iter().take(6) {
            let _ = write!(s, "{b:02x}");
        }
        s.truncate(15);
        s
    }
}

/// A namespace-wide policy: ingress allowed only from pods of the same namespace on
/// `tcp_port`; with `egress`, also an egress section allowing everything (policyTypes
/// [Ingress, Egress]). Felix only adds a policy section for the directions a policy has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespacePolicy {
    pub namespace: String,
    pub name: String,
    pub tcp_port: u16,
    pub egress: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalicoConfig {
    pub node_ip: Ipv4Addr,
    /// The IPAM pools (all of them: `cali40all-ipam-pools`).
    pub ip_pools: Vec<Ipv4Net>,
    /// Pools with natOutgoing (`cali40masq-ipam-pools`); empty means no nat-outgoing rule.
    pub masq_pools: Vec<Ipv4Net>,
    pub encapsulation: Encapsulation,
    /// Other Calico hosts (members of `cali40all-vxlan-net` / `cali40all-hosts-net`).
    pub other_hosts: Vec<Ipv4Addr>,
    pub vxlan_port: u16,
    /// `IptablesMarkMask` (default 0xffff0000).
    pub mark_mask: u32,
    pub workloads: Vec<Workload>,
    pub policies: Vec<NamespacePolicy>,
    pub header: Option<SaveHeader>,
}

impl Default for CalicoConfig {
    fn default() -> Self {
        CalicoConfig {
            node_ip: Ipv4Addr::new(10, 128, 0, 10),
            ip_pools: vec![Ipv4Net::new(Ipv4Addr::new(192, 168, 0, 0), 16).unwrap_or_default()],
            masq_pools: vec![Ipv4Net::new(Ipv4Addr::new(192, 168, 0, 0), 16).unwrap_or_default()],
            encapsulation: Encapsulation::VXLAN,
            other_hosts: vec![Ipv4Addr::new(10, 128, 0, 11), Ipv4Addr::new(10, 128, 0, 12)],
            vxlan_port: 4789,
            mark_mask: 0xffff_0000,
            workloads: Vec::new(),
            policies: Vec::new(),
            header: Some(SaveHeader::default()),
        }
    }
}

/// Felix's mark bits, allocated from the mask's set bits lowest first (`felix/dataplane/
/// driver.go`, layout since the flow-log change: accept, pass, drop, scratch0, scratch1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marks {
    pub accept: u32,
    pub pass: u32,
    pub drop: u32,
    pub scratch0: u32,
    pub scratch1: u32,
}

impl Marks {
    pub fn from_mask(mask: u32) -> Marks {
        let mut bits = (0..32).map(|i| 1u32 << i).filter(|b| mask & b != 0);
        let mut next = || bits.next().unwrap_or(0);
        Marks { accept: next(), pass: next(), drop: next(), scratch0: next(), scratch1: next() }
    }
}

/// A generated felix ruleset: the `iptables-save` text and the `ipset restore` input that
/// creates the sets it references (the sets must exist before `iptables-restore` accepts it).
#[derive(Clone, Debug)]
pub struct CalicoDump {
    pub iptables: String,
    pub ipset: String,
}

/// Name of a per-name chain, hashed when `prefix + name` would exceed the kernel limit.
pub fn chain_name(prefix: &str, name: &str) -> String {
    if prefix.len() + name.len() <= MAX_CHAIN_NAME {
        return format!("{prefix}{name}");
    }
    let h = BASE64URL_NOPAD.encode(&Sha224::digest(name.as_bytes()));
    let keep = MAX_CHAIN_NAME - prefix.len() - 1;
    format!("{prefix}_{}", &h[..keep.min(h.len())])
}

/// Felix-style ipset name for a selector: `cali40s:` + 22 base64url characters (30 < 31).
pub fn selector_set_name(selector: &str) -> String {
    let h = BASE64URL_NOPAD.encode(&Sha224::digest(selector.as_bytes()));
    format!("cali40s:{}", &h[..22])
}

/// A rule before its hash comment is known: `head` holds the options iptables-save prints
/// before matches (`-s/-d/-i/-o/-p`), `tail` the matches and the target.
struct CaliRule {
    head: String,
    tail: String,
}

fn r(head: &str, tail: impl Into<String>) -> CaliRule {
    CaliRule { head: head.to_string(), tail: tail.into() }
}

/// The rules of one table, chain by chain, before hashing.
struct CaliTable {
    table: Table,
    chains: BTreeMap<String, Vec<CaliRule>>,
    order: Vec<String>,
}

impl CaliTable {
    fn new(name: &'static str) -> Self {
        CaliTable { table: Table::new(name), chains: BTreeMap::new(), order: Vec::new() }
    }
    fn chain(&mut self, name: &str) {
        self.table.chain(name);
        if !self.chains.contains_key(name) {
            self.chains.insert(name.to_string(), Vec::new());
            self.order.push(name.to_string());
        }
    }
    fn add(&mut self, chain: &str, rule: CaliRule) {
        self.chain(chain);
        if let Some(v) = self.chains.get_mut(chain) {
            v.push(rule);
        }
    }
    /// Hashes each chain's rules (felix `Chain.RuleHashes`: sha224 seeded with the chain name,
    /// each rule hashing the previous hash and its own text) and fills the table.
    fn finish(mut self) -> Table {
        for name in &self.order {
            let rules = self.chains.get(name).map(Vec::as_slice).unwrap_or(&[]);
            let mut prev = Sha224::digest(name.as_bytes()).to_vec();
            for rule in rules {
                let mut h = Sha224::new();
                h.update(&prev);
                h.update(rule.head.as_bytes());
                h.update(b" ");
                h.update(rule.tail.as_bytes());
                prev = h.finalize().to_vec();
                let tag = BASE64URL_NOPAD.encode(&prev);
                let c = comment(&format!("cali:{}", &tag[..16]));
                let body = if rule.head.is_empty() { format!("{c} {}", rule.tail) } else { format!("{} {c} {}", rule.head, rule.tail) };
                self.table.rule(name, body);
            }
        }
        self.table
    }
}

fn described(text: &str) -> String {
    comment(text)
}

/// Renders the felix ruleset of one node.
pub fn render(cfg: &CalicoConfig) -> CalicoDump {
    let m = Marks::from_mask(cfg.mark_mask);
    let acc = format!("{}/{}", hex(m.accept), hex(m.accept));
    let clear_all = format!("0x0/{}", hex(m.accept | m.pass | m.scratch0 | m.scratch1));
    let clear_fwd = format!("0x0/{}", hex(m.pass | m.scratch0 | m.scratch1));
    let hep_accepted = described("Host endpoint policy accepted packet.");
    let vxlan = cfg.encapsulation.vxlan;
    let ipip = cfg.encapsulation.ipip;
    let vport = cfg.vxlan_port;

    // raw: untracked VXLAN, the workload reverse-path check.
    let mut raw = CaliTable::new("raw");
    raw.add("PREROUTING", r("", "-j cali-PREROUTING"));
    raw.add("OUTPUT", r("", "-j cali-OUTPUT"));
    raw.add("cali-OUTPUT", r("", format!("-j MARK --set-xmark {clear_all}")));
    raw.add("cali-OUTPUT", r("", "-j cali-to-host-endpoint"));
    if vxlan {
        raw.add("cali-OUTPUT", r("-p udp", format!("-m udp --dport {vport} -j NOTRACK")));
    }
    raw.add("cali-OUTPUT", r("", format!("-m mark --mark {acc} -j ACCEPT")));
    raw.add("cali-PREROUTING", r("", format!("-j MARK --set-xmark {clear_all}")));
    if vxlan {
        raw.add("cali-PREROUTING", r("-p udp", format!("-m udp --dport {vport} -j NOTRACK")));
    }
    let s0 = format!("{}/{}", hex(m.scratch0), hex(m.scratch0));
    raw.add("cali-PREROUTING", r("-i cali+", format!("-j MARK --set-xmark {s0}")));
    raw.add("cali-PREROUTING", r("", format!("-m mark --mark {s0} -j cali-rpf-skip")));
    raw.add("cali-PREROUTING", r("", format!("-m mark --mark {s0} -m rpfilter --validmark --invert -j DROP")));
    raw.add("cali-PREROUTING", r("", format!("-m mark --mark 0x0/{} -j cali-from-host-endpoint", hex(m.scratch0))));
    raw.add("cali-PREROUTING", r("", format!("-m mark --mark {acc} -j ACCEPT")));
    for c in ["cali-from-host-endpoint", "cali-rpf-skip", "cali-to-host-endpoint"] {
        raw.chain(c);
    }

    // mangle: host-endpoint hooks only.
    let mut mangle = CaliTable::new("mangle");
    mangle.add("PREROUTING", r("", "-j cali-PREROUTING"));
    mangle.add("POSTROUTING", r("", "-j cali-POSTROUTING"));
    mangle.add("cali-POSTROUTING", r("", format!("-m mark --mark {acc} -j RETURN")));
    mangle.add("cali-POSTROUTING", r("", format!("-j MARK --set-xmark {clear_all}")));
    mangle.add("cali-POSTROUTING", r("", "-m conntrack --ctstate DNAT -j cali-to-host-endpoint"));
    mangle.add("cali-POSTROUTING", r("", format!("{hep_accepted} -m mark --mark {acc} -j RETURN")));
    mangle.add("cali-PREROUTING", r("", "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"));
    mangle.add("cali-PREROUTING", r("", format!("-m mark --mark {acc} -j ACCEPT")));
    mangle.add("cali-PREROUTING", r("", "-j cali-from-host-endpoint"));
    mangle.add("cali-PREROUTING", r("", format!("{hep_accepted} -m mark --mark {acc} -j ACCEPT")));
    for c in ["cali-from-host-endpoint", "cali-to-host-endpoint"] {
        mangle.chain(c);
    }

    // nat: floating IPs (none), nat-outgoing, tunnel masquerade. POSTROUTING's jump is appended
    // by felix, so on a kube-proxy node it follows KUBE-POSTROUTING.
    let mut nat = CaliTable::new("nat");
    nat.add("PREROUTING", r("", "-j cali-PREROUTING"));
    nat.add("OUTPUT", r("", "-j cali-OUTPUT"));
    nat.add("POSTROUTING", r("", "-j cali-POSTROUTING"));
    nat.add("cali-OUTPUT", r("", "-j cali-fip-dnat"));
    nat.add("cali-PREROUTING", r("", "-j cali-fip-dnat"));
    nat.add("cali-POSTROUTING", r("", "-j cali-fip-snat"));
    nat.add("cali-POSTROUTING", r("", "-j cali-nat-outgoing"));
    let tunnels = [(ipip, "tunl0"), (vxlan, "vxlan.calico")];
    for dev in tunnels.iter().filter(|(on, _)| *on).map(|(_, dev)| dev) {
        nat.add(
            "cali-POSTROUTING",
            r(&format!("-o {dev}"), "-m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL -j MASQUERADE --random-fully"),
        );
    }
    nat.chain("cali-fip-dnat");
    nat.chain("cali-fip-snat");
    nat.chain("cali-nat-outgoing");
    if !cfg.masq_pools.is_empty() {
        nat.add(
            "cali-nat-outgoing",
            r("", "-m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE --random-fully"),
        );
    }

    // filter.
    let mut filter = CaliTable::new("filter");
    filter.add("INPUT", r("", "-j cali-INPUT"));
    filter.add("FORWARD", r("", "-j cali-FORWARD"));
    filter.add("FORWARD", r("", format!("{} -m mark --mark {acc} -j ACCEPT", described("Policy explicitly accepted packet."))));
    filter.add("FORWARD", r("", format!("-j MARK --set-xmark {acc}")));
    filter.add("OUTPUT", r("", "-j cali-OUTPUT"));

    filter.add("cali-FORWARD", r("", format!("-j MARK --set-xmark {clear_fwd}")));
    filter.add("cali-FORWARD", r("", format!("-m mark --mark 0x0/{} -j cali-from-hep-forward", hex(m.accept))));
    filter.add("cali-FORWARD", r("-i cali+", "-j cali-from-wl-dispatch"));
    filter.add("cali-FORWARD", r("-o cali+", "-j cali-to-wl-dispatch"));
    filter.add("cali-FORWARD", r("", "-j cali-to-hep-forward"));
    filter.add("cali-FORWARD", r("", "-j cali-cidr-block"));

    if vxlan {
        filter.add(
            "cali-INPUT",
            r(
                "-p udp",
                format!(
                    "{} -m multiport --dports {vport} -m set --match-set cali40all-vxlan-net src -m addrtype --dst-type LOCAL -j ACCEPT",
                    described("Allow IPv4 VXLAN packets from allowed hosts")
                ),
            ),
        );
        filter.add(
            "cali-INPUT",
            r(
                "-p udp",
                format!("{} -m multiport --dports {vport} -m addrtype --dst-type LOCAL -j DROP", described("Drop IPv4 VXLAN packets from non-allowed hosts")),
            ),
        );
    }
    if ipip {
        filter.add(
            "cali-INPUT",
            r(
                "-p ipencap",
                format!(
                    "{} -m set --match-set cali40all-hosts-net src -m addrtype --dst-type LOCAL -j ACCEPT",
                    described("Allow IPIP packets from Calico hosts")
                ),
            ),
        );
        filter.add("cali-INPUT", r("-p ipencap", format!("{} -j DROP", described("Drop IPIP packets from non-Calico hosts"))));
    }
    filter.add("cali-INPUT", r("-i cali+", "-g cali-wl-to-host"));
    filter.add("cali-INPUT", r("", format!("-m mark --mark {acc} -j ACCEPT")));
    filter.add("cali-INPUT", r("", format!("-j MARK --set-xmark {clear_all}")));
    filter.add("cali-INPUT", r("", "-j cali-from-host-endpoint"));
    filter.add("cali-INPUT", r("", format!("{hep_accepted} -m mark --mark {acc} -j ACCEPT")));

    filter.add("cali-OUTPUT", r("", format!("-m mark --mark {acc} -j ACCEPT")));
    filter.add("cali-OUTPUT", r("-o cali+", "-j RETURN"));
    if vxlan {
        filter.add(
            "cali-OUTPUT",
            r(
                "-p udp",
                format!(
                    "{} -m multiport --dports {vport} -m addrtype --src-type LOCAL -m set --match-set cali40all-vxlan-net dst -j ACCEPT",
                    described("Allow IPv4 VXLAN packets to other allowed hosts")
                ),
            ),
        );
    }
    if ipip {
        filter.add(
            "cali-OUTPUT",
            r(
                "-p ipencap",
                format!(
                    "{} -m set --match-set cali40all-hosts-net dst -m addrtype --src-type LOCAL -j ACCEPT",
                    described("Allow IPIP packets to other Calico hosts")
                ),
            ),
        );
    }
    filter.add("cali-OUTPUT", r("", format!("-j MARK --set-xmark {clear_all}")));
    filter.add("cali-OUTPUT", r("", "-m conntrack ! --ctstate DNAT -j cali-to-host-endpoint"));
    filter.add("cali-OUTPUT", r("", format!("{hep_accepted} -m mark --mark {acc} -j ACCEPT")));
    for c in ["cali-cidr-block", "cali-from-hep-forward", "cali-from-host-endpoint", "cali-to-hep-forward", "cali-to-host-endpoint"] {
        filter.chain(c);
    }

    // Workload dispatch: one goto per interface, then drop unknown interfaces.
    let mut ifaces: Vec<(String, &Workload)> = cfg.workloads.iter().map(|w| (w.iface(), w)).collect();
    ifaces.sort_by(|a, b| a.0.cmp(&b.0));
    for (iface, _) in &ifaces {
        filter.add("cali-from-wl-dispatch", r(&format!("-i {iface}"), format!("-g cali-fw-{iface}")));
        filter.add("cali-to-wl-dispatch", r(&format!("-o {iface}"), format!("-g cali-tw-{iface}")));
    }
    let unknown = described("Unknown interface");
    filter.add("cali-from-wl-dispatch", r("", format!("{unknown} -j DROP")));
    filter.add("cali-to-wl-dispatch", r("", format!("{unknown} -j DROP")));
    filter.add("cali-wl-to-host", r("", "-j cali-from-wl-dispatch"));
    filter.add("cali-wl-to-host", r("", format!("{} -j ACCEPT", described("Configured DefaultEndpointToHostAction"))));

    // Namespace profiles (allow all, as Kubernetes namespaces are by default), service-account
    // profiles (empty), and per-namespace policies.
    let mut namespaces: BTreeMap<&str, Vec<&Workload>> = BTreeMap::new();
    for w in &cfg.workloads {
        namespaces.entry(w.namespace.as_str()).or_default().push(w);
    }
    let policy_of: BTreeMap<&str, &NamespacePolicy> = cfg.policies.iter().map(|p| (p.namespace.as_str(), p)).collect();
    let mut sets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ns in namespaces.keys() {
        for prefix in ["cali-pri-", "cali-pro-"] {
            let kns = chain_name(prefix, &format!("kns.{ns}"));
            filter.add(&kns, r("", format!("-j MARK --set-xmark {acc}")));
            filter.add(&kns, r("", format!("-m mark --mark {acc} -j RETURN")));
            filter.chain(&chain_name(prefix, &format!("ksa.{ns}.default")));
        }
        if let Some(p) = policy_of.get(ns) {
            let set = selector_set_name(&format!("projectcalico.org/namespace == '{ns}'"));
            let members = namespaces.get(ns).map(Vec::as_slice).unwrap_or(&[]);
            sets.insert(set.clone(), members.iter().map(|w| w.ip.to_string()).collect());
            let pname = format!("{ns}/knp.default.{}", p.name);
            let pi = chain_name("cali-pi-", &pname);
            let po = chain_name("cali-po-", &pname);
            filter.add(
                &pi,
                r(
                    "-p tcp",
                    format!(
                        "{} -m set --match-set {set} src -m multiport --dports {} -j MARK --set-xmark {acc}",
                        described(&format!("Policy {pname} ingress")),
                        p.tcp_port
                    ),
                ),
            );
            filter.add(&pi, r("", format!("-m mark --mark {acc} -j RETURN")));
            if !p.egress {
                continue;
            }
            filter.add(&po, r("", format!("{} -j MARK --set-xmark {acc}", described(&format!("Policy {pname} egress")))));
            filter.add(&po, r("", format!("-m mark --mark {acc} -j RETURN")));
        }
    }

    let pass = hex(m.pass);
    for (iface, w) in &ifaces {
        for (dir, chain) in [("from", format!("cali-fw-{iface}")), ("to", format!("cali-tw-{iface}"))] {
            let (pol_prefix, prof_prefix) = if dir == "from" { ("cali-po-", "cali-pro-") } else { ("cali-pi-", "cali-pri-") };
            filter.add(&chain, r("", "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"));
            filter.add(&chain, r("", "-m conntrack --ctstate INVALID -j DROP"));
            filter.add(&chain, r("", format!("-j MARK --set-xmark 0x0/{}", hex(m.accept))));
            if dir == "from" && vxlan {
                filter.add(
                    &chain,
                    r("-p udp", format!("{} -m multiport --dports {vport} -j DROP", described("Drop VXLAN encapped packets originating in workloads"))),
                );
            }
            if dir == "from" && ipip {
                filter.add(&chain, r("-p ipencap", format!("{} -j DROP", described("Drop IPinIP encapped packets originating in workloads"))));
            }
            let policy = policy_of.get(w.namespace.as_str()).filter(|p| dir == "to" || p.egress);
            if let Some(p) = policy {
                let pname = format!("{}/knp.default.{}", w.namespace, p.name);
                filter.add(&chain, r("", format!("{} -j MARK --set-xmark 0x0/{pass}", described("Start of policies"))));
                filter.add(&chain, r("", format!("-m mark --mark 0x0/{pass} -j {}", chain_name(pol_prefix, &pname))));
                filter.add(&chain, r("", format!("{} -m mark --mark {acc} -j RETURN", described("Return if policy accepted"))));
                filter.add(&chain, r("", format!("{} -m mark --mark 0x0/{pass} -j DROP", described("Drop if no policies passed packet"))));
            }
            for profile in [format!("kns.{}", w.namespace), format!("ksa.{}.default", w.namespace)] {
                filter.add(&chain, r("", format!("-j {}", chain_name(prof_prefix, &profile))));
                filter.add(&chain, r("", format!("{} -m mark --mark {acc} -j RETURN", described("Return if profile accepted"))));
            }
            filter.add(&chain, r("", format!("{} -j DROP", described("Drop if no profiles matched"))));
        }
    }

    let tables = [raw.finish(), nat.finish(), filter.finish(), mangle.finish()];
    let mut iptables = String::with_capacity(tables.iter().map(|t| t.text_len() + 256).sum());
    for t in tables {
        t.write(&mut iptables, cfg.header.as_ref());
    }

    // The sets felix keeps (`ipset restore` input; hash:net, as felix creates them).
    let nets = |v: &[Ipv4Net]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
    sets.insert("cali40all-ipam-pools".to_string(), nets(&cfg.ip_pools));
    sets.insert("cali40masq-ipam-pools".to_string(), nets(&cfg.masq_pools));
    let hosts: Vec<String> = cfg.other_hosts.iter().map(ToString::to_string).collect();
    if vxlan {
        sets.insert("cali40all-vxlan-net".to_string(), hosts.clone());
    }
    if ipip {
        sets.insert("cali40all-hosts-net".to_string(), hosts);
    }
    let mut ipset = String::new();
    for (name, members) in &sets {
        let _ = writeln!(ipset, "create {name} hash:net family inet hashsize 1024 maxelem 1048576");
        for m in members {
            let _ = writeln!(ipset, "add {name} {m}");
        }
    }
    CalicoDump { iptables, ipset }
}

/// A generated node: the description and its rendered dump.
#[derive(Clone, Debug)]
pub struct CalicoSynthetic {
    pub config: CalicoConfig,
    pub dump: CalicoDump,
}

/// `n_workloads` pods on one VXLAN node, spread over namespaces of about ten pods, a third of
/// the namespaces with an "allow same namespace" policy. Pod IPs come from 192.168.0.0/16 in
/// order, from 192.168.10.1.
pub fn synthetic(n_workloads: usize, seed: u64) -> CalicoSynthetic {
    let mut rng = SplitMix64::new(seed);
    let n_ns = n_workloads.div_ceil(10).max(1);
    let apps = ["web", "api", "worker", "db", "cache", "proxy"];
    let base = u32::from(Ipv4Addr::new(192, 168, 10, 1));
    let mut cfg = CalicoConfig::default();
    for i in 0..n_workloads {
        let ns = format!("ns-{:03}", rng.below(n_ns as u64));
        let app = apps[rng.below(apps.len() as u64) as usize];
        cfg.workloads.push(Workload { namespace: ns, name: format!("{app}-{i}-{:05x}", rng.below(1 << 20)), ip: Ipv4Addr::from(base + i as u32) });
    }
    let mut used: Vec<&str> = cfg.workloads.iter().map(|w| w.namespace.as_str()).collect();
    used.sort_unstable();
    used.dedup();
    let policies = used
        .iter()
        .enumerate()
        .filter(|(k, _)| k % 3 == 0)
        .map(|(k, ns)| NamespacePolicy {
            namespace: ns.to_string(),
            name: "allow-same-namespace".to_string(),
            tcp_port: [80u16, 8080, 443][rng.below(3) as usize],
            egress: k % 2 == 0,
        })
        .collect();
    cfg.policies = policies;
    let dump = render(&cfg);
    CalicoSynthetic { config: cfg, dump }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_marks_match_the_corpus_dump() {
        // The corpus felix dump clears 0x1b0000 in raw and 0x1a0000 in cali-FORWARD and uses
        // 0x80000 for the workload rpf mark.
        let m = Marks::from_mask(0xffff_0000);
        assert_eq!((m.accept, m.pass, m.drop, m.scratch0, m.scratch1), (0x10000, 0x20000, 0x40000, 0x80000, 0x100000));
        let d = render(&CalicoConfig::default()).iptables;
        assert!(d.contains("-A cali-PREROUTING -m comment --comment \"cali:"));
        assert!(d.contains("-j MARK --set-xmark 0x0/0x1b0000"));
        assert!(d.contains("-j MARK --set-xmark 0x0/0x1a0000"));
        assert!(d.contains("-i cali+ -m comment"));
    }

    /// Replaces what legitimately differs from felix (rule hashes, the policy chain's hash, the
    /// interface name) by placeholders.
    fn shape(line: &str, iface: &str) -> String {
        let mut out = line.replace(iface, "IFACE");
        for (marker, len) in [("cali:", Some(16)), ("cali-pi-_", None)] {
            let mut from = 0;
            while let Some(i) = out[from..].find(marker).map(|i| i + from) {
                let start = i + marker.len();
                let end = match len {
                    Some(n) => (start + n).min(out.len()),
                    None => out[start..].find(' ').map_or(out.len(), |j| start + j),
                };
                out.replace_range(start..end, "X");
                from = start + 1;
            }
        }
        out
    }

    #[test]
    fn workload_chains_have_the_shape_of_a_real_felix_node() {
        let fixture = include_str!("testdata/aks-calico-per-pod-chains.rules");
        let expected: Vec<String> = fixture.lines().filter(|l| !l.starts_with('#')).map(|l| shape(l, "azve0cf0fbcf9f")).collect();
        let w = Workload { namespace: "demo".into(), name: "nginx".into(), ip: Ipv4Addr::new(10, 224, 0, 5) };
        let iface = w.iface();
        let cfg = CalicoConfig {
            encapsulation: Encapsulation::BOTH,
            workloads: vec![w],
            policies: vec![NamespacePolicy { namespace: "demo".into(), name: "allow-nginx".into(), tcp_port: 80, egress: false }],
            ..CalicoConfig::default()
        };
        let got: Vec<String> = render(&cfg).iptables.lines().filter(|l| l.contains(iface.as_str())).map(|l| shape(l, &iface)).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn static_chains_match_the_corpus_felix_dump() {
        let normal = |text: &str, iface: &str| -> Vec<String> {
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| match (l.starts_with(':'), l.rfind(" [")) {
                    (true, Some(i)) => format!("{} [0:0]", &l[..i]),
                    _ => shape(l, iface),
                })
                .collect()
        };
        let expected = normal(include_str!("testdata/calico-felix-fv-no-workloads.rules"), "\u{1}");
        let cfg = CalicoConfig { masq_pools: Vec::new(), ..CalicoConfig::default() };
        let generated = render(&cfg).iptables;
        let got: Vec<String> = normal(&generated, "\u{1}").into_iter().filter(|l| !l.contains("Allow IPv4 VXLAN packets")).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn long_names_are_hashed_to_fit() {
        assert_eq!(chain_name("cali-pro-", "kns.default"), "cali-pro-kns.default");
        let long = chain_name("cali-pro-", "ksa.a-rather-long-namespace.default");
        assert!(long.len() == MAX_CHAIN_NAME && long.starts_with("cali-pro-_"), "{long}");
        assert!(selector_set_name("x").len() <= 31);
    }

    #[test]
    fn workloads_get_dispatch_and_chains() {
        let s = synthetic(12, 4);
        let d = &s.dump.iptables;
        for w in &s.config.workloads {
            let i = w.iface();
            assert_eq!(i.len(), 15);
            assert!(d.contains(&format!("-A cali-from-wl-dispatch -i {i} -m comment")), "{i}");
            assert!(d.contains(&format!(" -g cali-fw-{i}\n")));
            assert!(d.contains(&format!(":cali-tw-{i} - [0:0]")));
        }
        assert_eq!(synthetic(12, 4).dump.iptables, *d);
    }
}
