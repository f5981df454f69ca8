//! `nfpath verify`: asks this machine's kernel whether nfpath's predictions hold. The scenario's
//! snapshots are replayed into fresh network namespaces (devices and veth links, addresses,
//! routes of every table, policy rules, static neighbours, the sysctls the packet path reads,
//! ipsets, `iptables-restore` of each `iptables-save.txt`, and a listener on every socket of
//! `sockets.txt`); then every flow is sent for real with `nfpath probe connect` and compared with
//! nfpath's prediction from the same snapshots: the client's result, the namespace whose listener
//! received the request, and the source and destination it saw.
//!
//! Needs root. Nothing is attached to the root namespace; the namespaces are removed at the end
//! (unless `--keep`). Exit 0: every verifiable flow agrees; 1: a flow disagrees; 2: the scenario
//! cannot be used or replayed.

use crate::cmd::state;
use crate::error::{print_stdout, CliError, CliResult, EXIT_FAILED, EXIT_OK};
use sim_core::engine::{FlowFrom, FlowSpec, RunOptions, World};
use sim_core::model::link::LinkKind;
use sim_core::model::route::{RouteType, RT_TABLE_LOCAL};
use sim_core::model::rule::RuleAction;
use sim_core::model::types::Scope;
use sim_core::model::Namespace;
use sim_core::scenario::{parse_flows, Flow, Proto, Source};
use sim_core::trace::{render, ClientResult, FlowResult, Outcome};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Replay a scenario's snapshots into network namespaces, send its flows for real, and report
/// per flow whether the kernel did what nfpath predicts.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples (as root):
  nfpath verify scenarios/kube-proxy-routed            # the folder's flows.yaml
  nfpath verify my-cluster/flows.yaml --timeout-ms 2000 --json

SCENARIO is a flows file (its `state:` names the cluster file or snapshot folder) or a folder
holding flows.yaml. Flows that inject a packet on an interface cannot be sent from a socket and are
reported as not verifiable. Exit codes: 0 every verifiable flow agrees, 1 one disagrees, 2 the
scenario cannot be used or replayed here.")]
pub struct Args {
    /// A flows file, or a folder holding flows.yaml
    pub scenario: PathBuf,
    /// How long a client waits for the handshake or the UDP answer
    #[arg(long, value_name = "T", default_value_t = 1000)]
    pub timeout_ms: u64,
    /// Times a flow with several predicted outcomes (-m statistic, multipath) is sent
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub tries: u32,
    /// Leave the namespaces up afterwards (their names are printed)
    #[arg(long)]
    pub keep: bool,
    /// Print the verdicts as JSON
    #[arg(long)]
    pub json: bool,
}

/// The sysctls the packet path reads (engine and routing), replayed when the snapshot has them.
/// `ip_forward` goes first: writing it resets every device's `forwarding`.
const SYSCTL_KEYS: &[&str] = &[
    "net.ipv4.ip_forward",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_default_ttl",
    "net.ipv4.icmp_ratelimit",
    "net.ipv4.icmp_ratemask",
    "net.ipv4.icmp_echo_ignore_all",
    "net.ipv4.icmp_echo_ignore_broadcasts",
    "net.ipv4.fib_multipath_hash_policy",
    "net.netfilter.nf_conntrack_tcp_loose",
    "net.bridge.bridge-nf-call-iptables",
];
const CONF_KEYS: &[&str] = &[
    "forwarding",
    "rp_filter",
    "proxy_arp",
    "accept_local",
    "route_localnet",
    "send_redirects",
    "accept_redirects",
    "secure_redirects",
    "shared_media",
    "arp_ignore",
    "arp_announce",
    "arp_filter",
    "bc_forwarding",
];

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().nth(1)) == Some("0")
}

fn scope_word(s: Scope) -> String {
    match s {
        Scope::Universe => "global".into(),
        Scope::Site => "site".into(),
        Scope::Link => "link".into(),
        Scope::Host => "host".into(),
        Scope::Nowhere => "nowhere".into(),
        Scope::Other(v) => v.to_string(),
    }
}

/// The namespaces of one replay; removed (with everything running in them) when dropped.
struct Replay {
    /// Scenario name -> real namespace name.
    real: BTreeMap<String, String>,
    /// Namespaces holding the far ends of veths whose peer is not in the scenario.
    stubs: Vec<String>,
    listeners: Vec<Listener>,
    keep: bool,
}

impl Drop for Replay {
    fn drop(&mut self) {
        for l in &mut self.listeners {
            let _ = l.child.kill();
            let _ = l.child.wait();
        }
        if self.keep {
            return;
        }
        for n in self.real.values().chain(self.stubs.iter()) {
            if let Ok(o) = Command::new("ip").args(["netns", "pids", n]).output() {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

struct Listener {
    ns: String,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

fn run_in(ns: &str, script: &str) -> Result<(), String> {
    let out = Command::new("ip").args(["netns", "exec", ns, "sh", "-c", script]).output().map_err(|e| format!("cannot run ip netns exec: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("in {ns}: `{script}` failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn run_in_with_input(ns: &str, script: &str, input: &str) -> Result<(), String> {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "sh", "-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run ip netns exec: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let data = input.as_bytes().to_vec();
        std::thread::spawn(move || stdin.write_all(&data));
    }
    let out = child.wait_with_output().map_err(|e| format!("waiting for {script}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("in {ns}: `{script}` failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Device commands for one namespace, in order; veths are made by the caller.
fn device_commands(ns: &Namespace, errors: &mut Vec<String>) -> (Vec<String>, Vec<String>) {
    let mut create = Vec::new();
    let mut after = Vec::new();
    for l in &ns.links {
        match &l.kind {
            LinkKind::Loopback | LinkKind::Veth | LinkKind::Ether => {}
            LinkKind::Bridge(b) => {
                // The bridge's own nf_call_iptables option exists only while br_netfilter is
                // loaded, and vlan_filtering only with CONFIG_BRIDGE_VLAN_FILTERING; a kernel
                // without them refuses the option even to set 0 (EOPNOTSUPP), so pass each only
                // when set.
                create.push(format!(
                    "ip link add {} type bridge stp_state {}{}{}{}",
                    l.name,
                    b.stp_state,
                    if b.vlan_filtering { " vlan_filtering 1" } else { "" },
                    if b.nf_call_iptables { " nf_call_iptables 1" } else { "" },
                    b.ageing_time.map(|a| format!(" ageing_time {a}")).unwrap_or_default()
                ));
            }
            LinkKind::Vxlan(v) => {
                let mut c = format!("ip link add {} type vxlan id {} dstport {}", l.name, v.vni, v.dstport);
                if let Some(a) = v.local {
                    c.push_str(&format!(" local {a}"));
                }
                if let Some(a) = v.remote {
                    c.push_str(&format!(" {} {a}", if a.is_multicast() { "group" } else { "remote" }));
                }
                if let Some(d) = &v.dev {
                    c.push_str(&format!(" dev {d}"));
                }
                if !v.learning {
                    c.push_str(" nolearning");
                }
                // After the addresses: `local` must be one of the namespace's addresses.
                after.push(c);
            }
            other => errors.push(format!("{}: device {} of kind {other:?} cannot be replayed", ns.name, l.name)),
        }
    }
    (create, after)
}

fn addr_commands(ns: &Namespace) -> Vec<String> {
    ns.addrs
        .iter()
        .filter(|a| !(a.ifname == "lo" && a.local == std::net::Ipv4Addr::LOCALHOST))
        .map(|a| {
            let mut c = format!("ip addr add {}/{}", a.local, a.prefix_len);
            if let Some(p) = a.peer {
                c = format!("ip addr add {} peer {p}/{}", a.local, a.prefix_len);
            }
            if let Some(b) = a.broadcast {
                c.push_str(&format!(" broadcast {b}"));
            }
            c.push_str(&format!(" dev {} scope {}", a.ifname, scope_word(a.scope)));
            if a.noprefixroute {
                c.push_str(" noprefixroute");
            }
            if let Some(l) = &a.label {
                if l != &a.ifname {
                    c.push_str(&format!(" label {l}"));
                }
            }
            c
        })
        .collect()
}

fn route_commands(ns: &Namespace) -> Vec<String> {
    let mut out = Vec::new();
    for r in &ns.routes {
        // Routes the kernel made for an address come back with the address.
        if r.protocol.as_deref() == Some("kernel") || (r.table == RT_TABLE_LOCAL && r.protocol.is_none()) {
            continue;
        }
        let dst = if r.dst.prefix_len() == 0 { "default".to_string() } else { r.dst.to_string() };
        let mut c = format!("ip route replace {} {dst}", r.rtype.as_str());
        if r.tos != 0 {
            c.push_str(&format!(" tos {:#x}", r.tos));
        }
        let mut multi = String::new();
        if r.rtype == RouteType::Unicast || r.rtype == RouteType::Local || r.rtype == RouteType::Broadcast {
            if r.nexthops.len() > 1 {
                for nh in &r.nexthops {
                    multi.push_str(" nexthop");
                    if let Some(g) = nh.gateway {
                        multi.push_str(&format!(" via {g}"));
                    }
                    if let Some(d) = &nh.dev {
                        multi.push_str(&format!(" dev {d}"));
                    }
                    multi.push_str(&format!(" weight {}", nh.weight.max(1)));
                    if nh.onlink {
                        multi.push_str(" onlink");
                    }
                }
            } else if let Some(nh) = r.nexthops.first() {
                if let Some(g) = nh.gateway {
                    c.push_str(&format!(" via {g}"));
                }
                if let Some(d) = &nh.dev {
                    c.push_str(&format!(" dev {d}"));
                }
                if nh.onlink {
                    c.push_str(" onlink");
                }
            }
        }
        c.push_str(&format!(" table {}", r.table));
        if r.metric != 0 {
            c.push_str(&format!(" metric {}", r.metric));
        }
        if r.rtype == RouteType::Unicast && r.nexthops.len() <= 1 {
            c.push_str(&format!(" scope {}", scope_word(r.scope)));
        }
        if let Some(s) = r.prefsrc {
            c.push_str(&format!(" src {s}"));
        }
        if let Some(m) = r.mtu {
            c.push_str(&format!(" mtu {m}"));
        }
        // ip(8) takes the route's own options before the first `nexthop`.
        c.push_str(&multi);
        out.push(c);
    }
    out
}

fn rule_commands(ns: &Namespace) -> Vec<String> {
    let mut out = vec!["ip rule flush".to_string()];
    let has_local0 = ns.rules.iter().any(|r| r.priority == 0 && r.action == RuleAction::Table(RT_TABLE_LOCAL) && r.from.is_none() && r.to.is_none());
    if !has_local0 {
        out.push("ip rule del pref 0".into());
    }
    for r in &ns.rules {
        if r.priority == 0 && r.action == RuleAction::Table(RT_TABLE_LOCAL) && r.from.is_none() && r.to.is_none() {
            continue;
        }
        let mut c = format!("ip rule add pref {}", r.priority);
        if r.not {
            c.push_str(" not");
        }
        c.push_str(&format!(" from {}", r.from.map_or("all".into(), |n| n.to_string())));
        if let Some(t) = r.to {
            c.push_str(&format!(" to {t}"));
        }
        if let Some((v, m)) = r.fwmark {
            c.push_str(&format!(" fwmark {v:#x}/{m:#x}"));
        }
        if let Some(i) = &r.iif {
            c.push_str(&format!(" iif {i}"));
        }
        if let Some(o) = &r.oif {
            c.push_str(&format!(" oif {o}"));
        }
        if let Some(t) = r.tos {
            c.push_str(&format!(" tos {t:#x}"));
        }
        if let Some(p) = r.ipproto {
            c.push_str(&format!(" ipproto {p}"));
        }
        if let Some((a, b)) = r.sport {
            c.push_str(&format!(" sport {a}-{b}"));
        }
        if let Some((a, b)) = r.dport {
            c.push_str(&format!(" dport {a}-{b}"));
        }
        if let Some((a, b)) = r.uidrange {
            c.push_str(&format!(" uidrange {a}-{b}"));
        }
        if let Some(s) = r.suppress_prefixlength {
            c.push_str(&format!(" suppress_prefixlength {s}"));
        }
        c.push_str(&match &r.action {
            RuleAction::Table(t) => format!(" lookup {t}"),
            RuleAction::Goto(p) => format!(" goto {p}"),
            RuleAction::Nop => " nop".into(),
            RuleAction::Blackhole => " blackhole".into(),
            RuleAction::Unreachable => " unreachable".into(),
            RuleAction::Prohibit => " prohibit".into(),
        });
        out.push(c);
    }
    out
}

fn sysctl_commands(ns: &Namespace) -> Vec<String> {
    let sy = &ns.sysctls;
    let mut out = Vec::new();
    for k in SYSCTL_KEYS {
        if let Some((v, _)) = sy.get(k) {
            out.push(format!("sysctl -qw '{k}={v}'"));
        }
    }
    let mut devs: Vec<&str> = vec!["all", "default"];
    devs.extend(ns.links.iter().map(|l| l.name.as_str()));
    for d in devs {
        for k in CONF_KEYS {
            let key = format!("net.ipv4.conf.{d}.{k}");
            if let Some((v, _)) = sy.get(&key) {
                out.push(format!("sysctl -qw '{key}={v}'"));
            }
        }
        let key = format!("net.ipv4.neigh.{d}.proxy_delay");
        if let Some((v, _)) = sy.get(&key) {
            out.push(format!("sysctl -qw '{key}={v}'"));
        }
    }
    out
}

fn real_name(prefix: &str, name: &str) -> String {
    let clean: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    format!("{prefix}-{clean}")
}

/// Replays every namespace of `world` (snapshot folders in `dirs`) and starts the listeners.
fn replay(
    world: &World,
    dirs: &BTreeMap<String, PathBuf>,
    links: &[(String, String, String, String)],
    extra_ports: &BTreeMap<String, BTreeSet<(Proto, u16)>>,
    keep: bool,
) -> Result<Replay, String> {
    let prefix = format!("nfv-{}", std::process::id());
    let mut rp = Replay { real: BTreeMap::new(), stubs: Vec::new(), listeners: Vec::new(), keep };
    let names: Vec<String> = world.namespace_names().map(str::to_string).collect();
    for n in &names {
        let real = real_name(&prefix, n);
        let out = Command::new("ip").args(["netns", "add", &real]).output().map_err(|e| format!("cannot run ip: {e}"))?;
        if !out.status.success() {
            return Err(format!("ip netns add {real}: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        rp.real.insert(n.clone(), real.clone());
        // IPv6 is not part of the model: off, so that no link-local noise appears.
        run_in(&real, "ip link set lo up && sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1")?;
    }
    let ns_of = |n: &str| world.namespace(n).ok_or_else(|| format!("no namespace {n}"));
    // veth pairs: the cluster's links, pairs inside one namespace, and stubs for the rest.
    let mut made: BTreeSet<(String, String)> = BTreeSet::new();
    for (a, adev, b, bdev) in links {
        let (ra, rb) = (&rp.real[a], &rp.real[b]);
        run_in(ra, &format!("ip link add {adev} type veth peer name {bdev} netns {rb}"))?;
        made.insert((a.clone(), adev.clone()));
        made.insert((b.clone(), bdev.clone()));
    }
    let mut errors = Vec::new();
    let mut after_addr: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in &names {
        let ns = ns_of(n)?;
        let real = rp.real[n].clone();
        for l in &ns.links {
            if !matches!(l.kind, LinkKind::Veth | LinkKind::Ether) || made.contains(&(n.clone(), l.name.clone())) {
                continue;
            }
            let peer = (l.kind == LinkKind::Veth && l.link_netnsid.is_none()).then(|| l.link_ifindex.and_then(|i| ns.link_by_index(i))).flatten();
            match peer {
                Some(p) if p.kind == LinkKind::Veth => {
                    run_in(&real, &format!("ip link add {} type veth peer name {}", l.name, p.name))?;
                    made.insert((n.clone(), p.name.clone()));
                }
                _ => {
                    // The far end is outside the scenario: it goes to a namespace of its own
                    // where nothing answers, which is what nfpath assumes of an unknown peer.
                    let stub = format!("{prefix}-stub{}", rp.stubs.len());
                    let out = Command::new("ip").args(["netns", "add", &stub]).output().map_err(|e| format!("cannot run ip: {e}"))?;
                    if !out.status.success() {
                        return Err(format!("ip netns add {stub}: {}", String::from_utf8_lossy(&out.stderr).trim()));
                    }
                    rp.stubs.push(stub.clone());
                    run_in(&real, &format!("ip link add {} type veth peer name peer0 netns {stub}", l.name))?;
                    run_in(&stub, "ip link set peer0 up")?;
                }
            }
            made.insert((n.clone(), l.name.clone()));
        }
        let (create, after) = device_commands(ns, &mut errors);
        for c in create {
            run_in(&real, &c)?;
        }
        after_addr.insert(n.clone(), after);
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    for n in &names {
        let ns = ns_of(n)?;
        let real = rp.real[n].clone();
        for c in &after_addr[n] {
            run_in(&real, c)?;
        }
        for l in &ns.links {
            if l.kind == LinkKind::Loopback {
                continue;
            }
            if let Some(m) = l.mac {
                run_in(&real, &format!("ip link set dev {} address {m}", l.name))?;
            }
            if l.mtu != 0 {
                // A veth peer's MTU may limit this one; not fatal.
                let _ = run_in(&real, &format!("ip link set dev {} mtu {}", l.name, l.mtu));
            }
            if let Some(m) = &l.master {
                run_in(&real, &format!("ip link set dev {} master {m}", l.name))?;
            }
        }
        for l in &ns.links {
            if l.up && l.kind != LinkKind::Loopback {
                run_in(&real, &format!("ip link set dev {} up", l.name))?;
            }
        }
        for c in sysctl_commands(ns) {
            // A key this kernel lacks is reported, not fatal: the kernel then runs its default.
            if let Err(e) = run_in(&real, &c) {
                eprintln!("nfpath: warning: {e}");
            }
        }
        for c in addr_commands(ns) {
            run_in(&real, &c)?;
        }
    }
    for n in &names {
        let ns = ns_of(n)?;
        let real = rp.real[n].clone();
        // Routes whose gateway needs another route first: retry until nothing more goes in.
        let mut pending = route_commands(ns);
        loop {
            let before = pending.len();
            let mut failed = Vec::new();
            let mut last = String::new();
            for c in pending {
                if let Err(e) = run_in(&real, &c) {
                    last = e;
                    failed.push(c);
                }
            }
            if failed.is_empty() {
                break;
            }
            if failed.len() == before {
                return Err(last);
            }
            pending = failed;
        }
        for c in rule_commands(ns) {
            run_in(&real, &c)?;
        }
        for nb in &ns.neighs {
            if nb.proxy {
                run_in(&real, &format!("ip neigh replace proxy {} dev {}", nb.dst, nb.dev))?;
            } else if nb.state.iter().any(|s| s == "PERMANENT") {
                if let Some(mac) = nb.lladdr {
                    run_in(&real, &format!("ip neigh replace {} lladdr {mac} dev {} nud permanent", nb.dst, nb.dev))?;
                }
            }
        }
        let dir = &dirs[n];
        if let Ok(text) = std::fs::read_to_string(dir.join("ipset-save.txt")) {
            if !text.trim().is_empty() {
                run_in_with_input(&real, "ipset restore -exist", &text)?;
            }
        }
        if let Ok(text) = std::fs::read_to_string(dir.join("iptables-save.txt")) {
            if text.lines().any(|l| l.starts_with('*')) {
                run_in_with_input(&real, "iptables-restore", &text)?;
            }
        }
    }
    // Listeners: every listening socket of the snapshot (all ports are assumed open where no
    // socket list was imported, so there the flows' ports are opened).
    let me = std::env::current_exe().map_err(|e| format!("cannot find the nfpath binary: {e}"))?;
    for n in &names {
        let ns = ns_of(n)?;
        let mut specs: BTreeSet<(Proto, u16, String)> = BTreeSet::new();
        match &ns.sockets {
            Some(socks) => {
                let wild: BTreeSet<(u8, u16)> = socks.iter().filter(|s| s.local.is_none()).map(|s| (s.proto, s.port)).collect();
                for s in socks {
                    let proto = match s.proto {
                        6 => Proto::Tcp,
                        17 => Proto::Udp,
                        _ => continue,
                    };
                    if s.local.is_some() && wild.contains(&(s.proto, s.port)) {
                        continue;
                    }
                    specs.insert((proto, s.port, s.local.map_or("0.0.0.0".into(), |a| a.to_string())));
                }
            }
            None => {
                for (p, port) in extra_ports.get(n).into_iter().flatten() {
                    specs.insert((*p, *port, "0.0.0.0".into()));
                }
            }
        }
        if extra_ports.values().flatten().any(|(p, _)| *p == Proto::Icmp) {
            specs.insert((Proto::Icmp, 0, "0.0.0.0".into()));
        }
        for (proto, port, bind) in specs {
            rp.listeners.push(listen(&me, &rp.real[n], n, proto, port, &bind)?);
        }
    }
    Ok(rp)
}

fn listen(me: &Path, real: &str, ns: &str, proto: Proto, port: u16, bind: &str) -> Result<Listener, String> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", real]).arg(me).args(["probe", "listen"]);
    match proto {
        Proto::Tcp => cmd.args(["--tcp", &port.to_string()]),
        Proto::Udp => cmd.args(["--udp", &port.to_string()]),
        Proto::Icmp => cmd.arg("--icmp"),
    };
    cmd.args(["--bind", bind, "--timeout-ms", "3600000"]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot start a listener in {ns}: {e}"))?;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    {
        let lines = Arc::clone(&lines);
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().unwrap_or_else(|p| p.into_inner()).push(l);
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) if l.starts_with("nfpath: listening") => break,
            Ok(l) if l.starts_with("nfpath: error") => {
                let _ = child.kill();
                return Err(format!("listener {proto:?} {bind}:{port} in {ns}: {l}"));
            }
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                return Err(format!("listener {proto:?} {bind}:{port} in {ns} did not start"));
            }
        }
    }
    Ok(Listener { ns: ns.to_string(), child, lines })
}

/// What the kernel did with one attempt.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
struct Observation {
    result: String,
    /// (namespace, source seen, destination seen) of the listener that got the request.
    received: Option<(String, String, String)>,
}

impl std::fmt::Display for Observation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.result)?;
        if let Some((ns, s, d)) = &self.received {
            write!(f, ", received at {ns} as {s} -> {d}")?;
        }
        Ok(())
    }
}

fn probe(me: &Path, rp: &Replay, spec: &FlowSpec, proto: Proto, timeout_ms: u64) -> Result<Observation, String> {
    let (ns, src) = match &spec.from {
        FlowFrom::Client { ns, src } => (ns, *src),
        FlowFrom::Inject { .. } => return Err("an injected packet cannot be sent from a socket".into()),
    };
    let before: Vec<usize> = rp.listeners.iter().map(|l| l.lines.lock().unwrap_or_else(|p| p.into_inner()).len()).collect();
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &rp.real[ns]]).arg(me).args(["probe", "connect"]);
    match proto {
        Proto::Icmp => cmd.args([spec.dst.to_string(), "--icmp".into()]),
        Proto::Tcp => cmd.args([format!("{}:{}", spec.dst, spec.dport), "--tcp".into()]),
        Proto::Udp => cmd.args([format!("{}:{}", spec.dst, spec.dport), "--udp".into()]),
    };
    if let Some(s) = src {
        cmd.args(["--src", &s.to_string()]);
    }
    if let (Some(p), false) = (spec.sport, proto == Proto::Icmp) {
        cmd.args(["--sport", &p.to_string()]);
    }
    cmd.args(["--timeout-ms", &timeout_ms.to_string()]);
    let out = cmd.output().map_err(|e| format!("cannot run nfpath probe: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap_or(""))
        .map_err(|_| format!("nfpath probe connect failed: {}", String::from_utf8_lossy(&out.stderr).trim()))?;
    let result = v["result"].as_str().unwrap_or("").to_string();
    // A listener prints right after accept (TCP) or before it echoes (UDP): a connected exchange
    // has its line on the way; otherwise a short grace period is enough.
    let wait = if result == "connected" { Duration::from_secs(2) } else { Duration::from_millis(100) };
    let deadline = Instant::now() + wait;
    loop {
        for (i, l) in rp.listeners.iter().enumerate() {
            let lines = l.lines.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(line) = lines.get(before[i]) {
                let r: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
                let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
                return Ok(Observation { result, received: Some((l.ns.clone(), s("peer"), s("local"))) });
            }
        }
        if Instant::now() >= deadline {
            return Ok(Observation { result, received: None });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn addr_only(s: &str) -> &str {
    s.rsplit_once(':').map_or(s, |(a, _)| a)
}

/// Whether a predicted outcome is what the kernel did: the client's result, and who received the
/// request with what addresses, as far as a listener can tell (it reports a UDP datagram it
/// reads, a TCP connection it accepts, an ICMP echo request delivered to its namespace).
fn matches(o: &Outcome, obs: &Observation, proto: Proto, listening: &dyn Fn(&str, &str) -> bool) -> Result<(), String> {
    if o.result == ClientResult::Indeterminate {
        return Err(format!("nfpath cannot decide: {}", o.indeterminate.as_deref().unwrap_or(&o.summary)));
    }
    if o.result.as_string() != obs.result {
        return Err(format!("result: nfpath {}, kernel {}", o.result.as_string(), obs.result));
    }
    let reached = match (&o.at, &o.seen) {
        (Some(at), Some(seen)) => {
            let accepted = proto != Proto::Tcp || (o.result == ClientResult::Connected && !o.summary.contains("never accepts"));
            (accepted && listening(at, &seen.dst)).then(|| (at.clone(), seen.src.clone(), seen.dst.clone()))
        }
        _ => None,
    };
    // Ports are compared unless nfpath says the kernel draws one at random (`--random-fully`,
    // a search from a random offset); ICMP has none.
    let random_port = o.summary.contains("random port") || o.summary.contains("random offset");
    let same = |a: &str, b: &str| if proto == Proto::Icmp || random_port { addr_only(a) == addr_only(b) } else { a == b };
    match (&obs.received, reached) {
        (None, None) => Ok(()),
        (Some((ns, s, d)), Some((at, ps, pd))) if *ns == at && same(s, &ps) && same(d, &pd) => Ok(()),
        (Some((ns, s, d)), Some((at, ps, pd))) => Err(format!("received: nfpath at {at} as {ps} -> {pd}, kernel at {ns} as {s} -> {d}")),
        (Some((ns, s, d)), None) => Err(format!("received: nfpath says no listener gets it, kernel at {ns} as {s} -> {d}")),
        (None, Some((at, ps, pd))) => Err(format!("received: nfpath says {at} gets it as {ps} -> {pd}, the kernel's listeners saw nothing")),
    }
}

#[derive(serde::Serialize)]
struct Verdict {
    flow: String,
    /// `agree`, `disagree` or `not-verifiable`.
    verdict: &'static str,
    why: Option<String>,
    predicted: FlowResult,
    observed: Vec<Observation>,
}

/// A flow's spec and protocol, or why it cannot be sent from a socket.
type Verifiable = Result<(FlowSpec, Proto), String>;

/// The flows file a scenario path designates.
fn flows_path(p: &Path) -> PathBuf {
    if p.is_dir() {
        p.join("flows.yaml")
    } else {
        p.to_path_buf()
    }
}

pub fn run(a: Args) -> CliResult<u8> {
    let fpath = flows_path(&a.scenario);
    let text = std::fs::read_to_string(&fpath).map_err(|e| CliError::io(&fpath, "read the flows file", &e))?;
    let name = fpath.display().to_string();
    let flows = parse_flows(&name, &text);
    if let Some(d) = flows.diagnostics.first() {
        return Err(state::diag_error(d));
    }
    let base = fpath.parent().unwrap_or(Path::new(".")).to_path_buf();
    let st_path = base.join(flows.value.state.as_deref().unwrap_or("cluster.yaml"));
    let st = state::load(&st_path, false)?;
    // Snapshot folders by namespace, and the veth links.
    let mut dirs = BTreeMap::new();
    let mut links = Vec::new();
    match (&st.cluster, state::cluster_path(&st_path)) {
        (Some(c), Some(cf)) => {
            let cbase = cf.parent().unwrap_or(Path::new("."));
            for (n, rel) in &c.namespaces {
                dirs.insert(n.clone(), cbase.join(rel));
            }
            for [x, y] in &c.links {
                links.push((x.ns.clone(), x.dev.clone(), y.ns.clone(), y.dev.clone()));
            }
            if c.underlay.as_ref().is_some_and(|u| !u.networks.is_empty() || !u.nat.is_empty() || !u.filters.is_empty()) {
                return Err(CliError::at(cf.display().to_string(), "an underlay (networks, cloud NAT, filters) cannot be replayed into namespaces"));
            }
        }
        _ => {
            for n in st.world.namespace_names() {
                dirs.insert(n.to_string(), st_path.clone());
            }
        }
    }
    if !is_root() {
        return Err(CliError::unusable("nfpath verify builds network namespaces and needs root"));
    }
    // Every flow gets its own client port, the same for prediction and probe, so that flows
    // never meet in conntrack and rules on ports see what nfpath assumed.
    let mut specs: Vec<(Flow, Verifiable)> = Vec::new();
    for (i, f) in flows.value.flows.iter().enumerate() {
        let spec = sim_core::scenario::world::flow_spec(f).map_err(|e| CliError::at(&name, e))?;
        if st.world.namespace(f.from.ns()).is_none() {
            return Err(CliError::at(&name, format!("flow {}: no namespace {:?}", f.name, f.from.ns())));
        }
        let verifiable = match (&f.from, &spec.from) {
            (_, FlowFrom::Inject { .. }) => Err("the packet is injected on an interface; a socket cannot send it".to_string()),
            (Source::Inject(i), _) if i.mark.is_some_and(|m| m != 0) => Err("the flow sets a socket mark, which nfpath probe cannot".to_string()),
            _ => Ok(()),
        };
        let spec = FlowSpec { sport: Some(spec.sport.unwrap_or(40000 + 20 * i as u16)), ..spec };
        specs.push((f.clone(), verifiable.map(|_| (spec, f.to.proto))));
    }
    let opts = RunOptions::default();
    let predictions: Vec<FlowResult> = specs
        .iter()
        .map(|(f, s)| match s {
            Ok((spec, _)) => st.world.run_flow(spec, &opts),
            Err(_) => {
                st.world.run_flow(&sim_core::scenario::world::flow_spec(f).unwrap_or_else(|_| FlowSpec::client(&f.name, f.from.ns(), f.to.addr, 0, 6)), &opts)
            }
        })
        .collect();
    // Ports to open where no socket list exists: the flows' and every predicted receiver's.
    let mut extra: BTreeMap<String, BTreeSet<(Proto, u16)>> = BTreeMap::new();
    for ((f, _), p) in specs.iter().zip(&predictions) {
        for n in st.world.namespace_names() {
            extra.entry(n.to_string()).or_default().insert((f.to.proto, f.to.port.unwrap_or(0)));
        }
        for o in &p.outcomes {
            if let (Some(at), Some(seen)) = (&o.at, &o.seen) {
                let port = seen.dst.rsplit_once(':').and_then(|(_, x)| x.parse().ok()).unwrap_or(0);
                extra.entry(at.clone()).or_default().insert((f.to.proto, port));
            }
        }
    }
    for n in st.world.namespace_names() {
        let ct = st.world.namespace(n).map_or(0, |x| x.conntrack.len());
        if ct > 0 {
            eprintln!(
                "nfpath: note: {n}: {ct} conntrack entries are not replayed (the kernel starts with none); flows that nfpath sees matching them may disagree"
            );
        }
    }
    let me = std::env::current_exe().map_err(|e| CliError::unusable(format!("cannot find the nfpath binary: {e}")))?;
    let rp = replay(&st.world, &dirs, &links, &extra, a.keep)
        .map_err(|e| CliError::unusable(format!("cannot replay {} into namespaces: {e}", st_path.display())))?;
    let listening = |ns: &str, dst: &str, proto: Proto| -> bool {
        let Some(n) = st.world.namespace(ns) else { return false };
        if proto == Proto::Icmp {
            return true;
        }
        let (addr, port) = match dst.rsplit_once(':') {
            Some((x, p)) => (x.parse::<std::net::Ipv4Addr>().ok(), p.parse::<u16>().unwrap_or(0)),
            None => (None, 0),
        };
        match &n.sockets {
            Some(socks) => socks.iter().any(|s| s.proto == proto.number() && s.port == port && (s.local.is_none() || s.local == addr)),
            None => true,
        }
    };
    let mut verdicts = Vec::new();
    for ((f, spec), predicted) in specs.into_iter().zip(predictions) {
        let (spec, proto) = match spec {
            Ok(s) => s,
            Err(why) => {
                verdicts.push(Verdict { flow: f.name.clone(), verdict: "not-verifiable", why: Some(why), predicted, observed: vec![] });
                continue;
            }
        };
        let tries = if predicted.outcomes.len() > 1 { a.tries.max(1) } else { 1 };
        let mut observed = Vec::new();
        let mut why = None;
        for k in 0..tries {
            // A fresh client port per try, so that each is a new connection for conntrack.
            let s = FlowSpec { sport: spec.sport.map(|p| p.wrapping_add(k as u16)), ..spec.clone() };
            let obs = probe(&me, &rp, &s, proto, a.timeout_ms).map_err(CliError::unusable)?;
            let l = |ns: &str, dst: &str| listening(ns, dst, proto);
            // The prediction for this try's own client port.
            let p = if k == 0 { predicted.clone() } else { st.world.run_flow(&s, &opts) };
            let errs: Vec<String> = p.outcomes.iter().filter_map(|o| matches(o, &obs, proto, &l).err()).collect();
            if errs.len() == p.outcomes.len() && why.is_none() {
                why = Some(if errs.is_empty() { "nfpath gave no outcome".to_string() } else { errs.join("; ") });
            }
            observed.push(obs);
        }
        verdicts.push(Verdict { flow: f.name.clone(), verdict: if why.is_none() { "agree" } else { "disagree" }, why, predicted, observed });
    }
    let (agree, disagree, skipped) = verdicts.iter().fold((0, 0, 0), |(a, d, s), v| match v.verdict {
        "agree" => (a + 1, d, s),
        "disagree" => (a, d + 1, s),
        _ => (a, d, s + 1),
    });
    let summary = format!("{agree} agree, {disagree} disagree, {skipped} not verifiable");
    let mut out = String::new();
    if a.json {
        out.push_str(&serde_json::to_string_pretty(&verdicts).unwrap_or_default());
        out.push('\n');
        eprintln!("{summary}");
    } else {
        out.push_str(&format!("{}: replayed {} namespaces on this kernel\n", st_path.display(), rp.real.len()));
        for v in &verdicts {
            let f = flows.value.flows.iter().find(|f| f.name == v.flow);
            let what = f.map(|f| format!("{} -> {}", f.from.ns(), f.to)).unwrap_or_default();
            let tag = match v.verdict {
                "agree" => "AGREE   ",
                "disagree" => "DISAGREE",
                _ => "SKIP    ",
            };
            out.push_str(&format!("{tag} {} ({what})\n", v.flow));
            for o in &v.predicted.outcomes {
                out.push_str(&format!("    nfpath: {}\n", render::outcome_headline(o)));
            }
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            for o in &v.observed {
                *seen.entry(o.to_string()).or_default() += 1;
            }
            for (o, n) in seen {
                let times = if v.observed.len() > 1 { format!(" ({n} of {})", v.observed.len()) } else { String::new() };
                out.push_str(&format!("    kernel: {o}{times}\n"));
            }
            if let Some(w) = &v.why {
                out.push_str(&format!("    {}: {w}\n", if v.verdict == "disagree" { "differs" } else { "why" }));
            }
        }
        out.push_str(&summary);
        out.push('\n');
        if a.keep {
            let names: Vec<&String> = rp.real.values().collect();
            out.push_str(&format!("namespaces kept: {}\n", names.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")));
        }
    }
    drop(rp);
    print_stdout(&out)?;
    Ok(if disagree > 0 { EXIT_FAILED } else { EXIT_OK })
}
