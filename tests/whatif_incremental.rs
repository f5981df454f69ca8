//! Incremental what-if (`change::incremental::Recheck`) against the reference: after every random
//! change to a generated kube-proxy node, the results the incremental re-check keeps (some flows
//! rerun, some renumbered, the rest kept) must equal, byte for byte as JSON, the results of every
//! flow run again on a world rebuilt from scratch. Undoing the changes must give back the
//! baseline results and namespaces.
//!
//! Seeds: `NFPATH_WHATIF_SEEDS` (default 40) worlds and change sequences, from seed 1.

#[path = "../benches/support/mod.rs"]
mod support;

use sim_core::change::incremental::Recheck;
use sim_core::diag::Severity;
use sim_core::engine::{FlowSpec, RunOptions, TraceLevel, VethLink, World};
use sim_core::gen::prng::SplitMix64;
use sim_core::model::ruleset::TableName;
use sim_core::model::Namespace;
use sim_core::scenario::generate::cluster_flows;
use sim_core::scenario::world::flow_spec;
use std::net::Ipv4Addr;

fn links() -> Vec<VethLink> {
    let text = std::fs::read_to_string(support::scenario_dir().join("cluster.yaml")).expect("cluster.yaml");
    let c = sim_core::scenario::parse_cluster("cluster.yaml", &text);
    c.value.links.iter().map(|[a, b]| VethLink::new(&a.ns, &a.dev, &b.ns, &b.dev)).collect()
}

fn flows(w: &World, links: &[VethLink]) -> Vec<(FlowSpec, RunOptions)> {
    let nss: Vec<&Namespace> = w.namespace_names().filter_map(|n| w.namespace(n)).collect();
    cluster_flows(&nss, links, None)
        .iter()
        .map(|f| (flow_spec(f).expect("flow"), RunOptions { seed: f.seed, trace: TraceLevel::Full, ..RunOptions::default() }))
        .collect()
}

fn json(r: &sim_core::trace::FlowResult) -> String {
    serde_json::to_string(r).expect("json")
}

/// Every flow run again on a world rebuilt from scratch, compared with what `rc` keeps.
fn assert_same_as_full_rerun(rc: &mut Recheck, links: &[VethLink], what: &str) {
    let fresh = rc.world().rebuilt(links).expect("rebuild");
    let flows = rc.flows().to_vec();
    for (k, (spec, opts)) in flows.iter().enumerate() {
        let want = json(&fresh.run_flow(spec, opts));
        let got = json(rc.result(k));
        if want != got {
            // Show where they part, not only their (long) beginnings.
            let at = want.bytes().zip(got.bytes()).take_while(|(a, b)| a == b).count();
            let from = at.saturating_sub(300);
            let near = |s: &str| s.get(from..(at + 300).min(s.len())).unwrap_or("").to_string();
            panic!("{what}\nflow {} differs at byte {at}:\nincremental: ...{}\nfull rerun:  ...{}", spec.name, near(&got), near(&want));
        }
    }
}

fn pick<'a, T>(r: &mut SplitMix64, v: &'a [T]) -> &'a T {
    &v[r.below(v.len() as u64) as usize]
}

/// Addresses a random rule may name: Service addresses of the node, an endpoint, a stranger.
fn addresses(node: &Namespace) -> Vec<Ipv4Addr> {
    let mut v: Vec<Ipv4Addr> = node
        .ruleset
        .table(TableName::Nat)
        .and_then(|t| t.chain("KUBE-SERVICES"))
        .map(|c| c.rules.iter().filter_map(|r| r.base.dst.as_ref().map(|d| d.val.addr)).collect())
        .unwrap_or_default();
    v.extend([support::WEB_VIP, Ipv4Addr::new(10, 244, 1, 2), Ipv4Addr::new(10, 244, 1, 3), Ipv4Addr::new(10, 96, 200, 9)]);
    v
}

fn random_rule(r: &mut SplitMix64, t: TableName, addrs: &[Ipv4Addr]) -> String {
    let a = pick(r, addrs);
    let nat = ["-j RETURN", "-j KUBE-MARK-MASQ", "-j ACCEPT"];
    let filter = ["-j DROP", "-j ACCEPT", "-j RETURN", "-j REJECT --reject-with icmp-port-unreachable"];
    let target = if t == TableName::Nat { *pick(r, &nat) } else { *pick(r, &filter) };
    match r.below(6) {
        0..=2 => format!("-d {a}/32 -p tcp -m tcp --dport {} {target}", pick(r, &[80u16, 443, 8080])),
        3 => format!("-d {a}/32 {target}"),
        4 => format!("-s 10.244.1.{}/32 {target}", 2 + r.below(2)),
        _ => format!("-p tcp -m tcp --dport {} {target}", pick(r, &[80u16, 8080])),
    }
}

/// One random change to the world's namespaces: (namespace, change text, new flows it brings).
fn random_change(r: &mut SplitMix64, w: &World, k: u32) -> (String, String, Vec<(FlowSpec, RunOptions)>) {
    let node = w.namespace("node").expect("node");
    let addrs = addresses(node);
    let table = if r.chance(1, 2) { TableName::Nat } else { TableName::Filter };
    let t = node.ruleset.table(table).expect("table");
    let chains: Vec<(&str, usize)> = t.chains.iter().map(|c| (c.name.as_str(), c.rules.len())).collect();
    // Half the time a chain most flows walk, so that edits meet flows often.
    let busy: Vec<(&str, usize)> = chains
        .iter()
        .copied()
        .filter(|(n, _)| ["PREROUTING", "OUTPUT", "POSTROUTING", "FORWARD", "INPUT", "KUBE-SERVICES", "KUBE-FORWARD", "KUBE-POSTROUTING"].contains(n))
        .collect();
    let (chain, len) = if r.chance(1, 2) && !busy.is_empty() { *pick(r, &busy) } else { *pick(r, &chains) };
    let ipt = format!("iptables -t {}", table.as_str());
    let none = Vec::new();
    match r.below(12) {
        0..=2 => {
            let pos = 1 + r.below(len as u64 + 1);
            ("node".into(), format!("{ipt} -I {chain} {pos} {}\n", random_rule(r, table, &addrs)), none)
        }
        3 if len > 0 => ("node".into(), format!("{ipt} -D {chain} {}\n", 1 + r.below(len as u64)), none),
        4 if len > 0 => ("node".into(), format!("{ipt} -R {chain} {} {}\n", 1 + r.below(len as u64), random_rule(r, table, &addrs)), none),
        5 => {
            // A new Service, as kube-proxy writes one, placed anywhere in KUBE-SERVICES.
            let vip = Ipv4Addr::new(10, 100, 77, k as u8);
            let n = node.ruleset.table(TableName::Nat).and_then(|t| t.chain("KUBE-SERVICES")).map_or(0, |c| c.rules.len());
            let pos = 1 + r.below(n as u64 + 1);
            let mut s = String::new();
            for ch in [format!("KUBE-SVC-T{k}"), format!("KUBE-SEP-T{k}A"), format!("KUBE-SEP-T{k}B")] {
                s.push_str(&format!("iptables -t nat -N {ch}\n"));
            }
            for (x, ip) in [("A", "10.244.1.2"), ("B", "10.244.1.3")] {
                s.push_str(&format!("iptables -t nat -A KUBE-SEP-T{k}{x} -s {ip}/32 -j KUBE-MARK-MASQ\n"));
                s.push_str(&format!("iptables -t nat -A KUBE-SEP-T{k}{x} -p tcp -m tcp -j DNAT --to-destination {ip}:8080\n"));
            }
            s.push_str(&format!("iptables -t nat -A KUBE-SVC-T{k} -m statistic --mode random --probability 0.5 -j KUBE-SEP-T{k}A\n"));
            s.push_str(&format!("iptables -t nat -A KUBE-SVC-T{k} -j KUBE-SEP-T{k}B\n"));
            s.push_str(&format!("iptables -t nat -I KUBE-SERVICES {pos} -d {vip}/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-T{k}\n"));
            let opts = RunOptions { trace: TraceLevel::Full, ..RunOptions::default() };
            let new = vec![
                (FlowSpec::client(&format!("pod-a to new {k}"), "pod-a", vip, 80, 6), opts.clone()),
                (FlowSpec::client(&format!("node to new {k}"), "node", vip, 80, 6), opts),
            ];
            ("node".into(), s, new)
        }
        6 => {
            // A jump to a new chain, and a chain created and deleted again.
            let pos = 1 + r.below(len as u64 + 1);
            let a = pick(r, &addrs);
            let s = format!("{ipt} -N NEW{k}\n{ipt} -A NEW{k} -j RETURN\n{ipt} -I {chain} {pos} -d {a}/32 -j NEW{k}\n{ipt} -N GONE{k}\n{ipt} -X GONE{k}\n");
            ("node".into(), s, none)
        }
        7 => {
            let s = match r.below(4) {
                0 => "ip route del 10.244.1.2 dev cali-a\n".to_string(),
                1 => format!("ip route add 10.77.{k}.0/24 via 192.168.0.53\n"),
                2 => "ip route replace blackhole 10.244.1.3\n".to_string(),
                _ => format!("ip rule add from 10.244.1.2 lookup {} pref 100\nip route add blackhole default table {}\n", 100 + k, 100 + k),
            };
            ("node".into(), s, none)
        }
        8 => {
            let s = match r.below(2) {
                0 => format!("ip route add unreachable {} \n", pick(r, &addrs)),
                _ => "ip route add blackhole 10.244.1.3\n".to_string(),
            };
            ((if r.chance(1, 2) { "pod-a" } else { "pod-b" }).into(), s, none)
        }
        9 => {
            let s = match r.below(3) {
                0 => "iptables -P FORWARD DROP\n".to_string(),
                1 => format!("{ipt} -F {chain}\n"),
                _ => "iptables -t mangle -A PREROUTING -d 10.244.1.3/32 -j MARK --set-mark 0x1\n".to_string(),
            };
            ("node".into(), s, none)
        }
        _ => {
            // A harmless change: a rule for an address no flow has, at the end of a chain.
            ("node".into(), format!("{ipt} -A {chain} -d 198.51.100.{k}/32 -j RETURN\n"), none)
        }
    }
}

#[test]
fn incremental_recheck_equals_full_rebuild_and_rerun() {
    let seeds: u64 = std::env::var("NFPATH_WHATIF_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(40);
    let links = links();
    let (mut total, mut rerun, mut renumbered) = (0usize, 0usize, 0usize);
    for seed in 1..=seeds {
        let mut r = SplitMix64::new(seed);
        let services = [3usize, 12, 25][(seed % 3) as usize];
        let world = support::world(services);
        let fl = flows(&world, &links);
        let mut rc = Recheck::new(world, fl);
        let baseline: Vec<String> = rc.results().iter().map(json).collect();
        let originals: Vec<Namespace> = ["node", "pod-a", "pod-b"].iter().map(|n| rc.world().namespace(n).cloned().expect("ns")).collect();
        let steps = 1 + r.below(3) as u32;
        let mut log = String::new();
        for k in 1..=steps {
            let (ns, text, new) = random_change(&mut r, rc.world(), k);
            log.push_str(&format!("[{ns}]\n{text}"));
            let (p, done) = rc.apply(&ns, "change.txt", &text).expect("apply");
            let errors: Vec<String> = p.diagnostics.iter().filter(|d| d.severity == Severity::Error).map(|d| d.to_string()).collect();
            assert!(errors.is_empty(), "seed {seed}: the generated change was refused: {errors:?}\n{log}");
            total += rc.flows().len();
            rerun += done.rerun.len();
            renumbered += done.renumbered;
            rc.add_flows(new);
            assert_same_as_full_rerun(&mut rc, &links, &format!("seed {seed}, {services} services, after:\n{log}"));
        }
        rc.revert_all();
        for (n, orig) in ["node", "pod-a", "pod-b"].iter().zip(&originals) {
            assert!(rc.world().namespace(n) == Some(orig), "seed {seed}: undoing did not give back namespace {n}\n{log}");
        }
        assert_same_as_full_rerun(&mut rc, &links, &format!("seed {seed}, after undoing:\n{log}"));
        for (k, b) in baseline.iter().enumerate() {
            assert!(*b == json(rc.result(k)), "seed {seed}: flow {} differs from its baseline after undoing\n{log}", rc.flows()[k].0.name);
        }
    }
    eprintln!("{seeds} seeds: {rerun} of {total} flow checks rerun, {renumbered} kept with rule numbers moved");
    // The check must be incremental, not a full rerun in disguise.
    assert!(rerun * 2 < total, "{rerun} of {total} flows rerun");
}
