//! Runs one [`Case`] against the kernel and against nfpath, and compares them flow by flow.
//!
//! The case is built in fresh namespaces of a [`Lab`] (torn down when the run ends, whatever
//! happens), its listeners are started, every namespace is collected with `nfpath collect`, the
//! snapshots are imported with `sim_core::parse::snapshot::load` and joined into a
//! `sim_core::engine::World` by the case's veth links. Then each flow is predicted with
//! `World::run_flow` and sent for real with `nfpath probe connect`; the listeners report which
//! namespace received it and the source and destination it saw there.

use super::case::{parse_listen, Case, FlowCase};
use crate::{Lab, ListenOpts, Listener, Ns, Proto};
use sim_core::engine::{FlowFrom, FlowSpec, RunOptions, VethLink, World};
use sim_core::trace::{render, FlowResult, Outcome};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a case is run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Lab prefix (short letters/digits): namespaces are `nfp-<prefix>-<pid>-<n>-<name>`.
    pub prefix: String,
    /// How long a client waits for the handshake or the UDP echo before it reports `timeout`.
    /// Everything between namespaces answers within a millisecond, so this only has to outlast
    /// scheduling delays on a loaded machine.
    pub timeout_ms: u64,
    /// When a flow disagrees and the kernel said `timeout`, ask again with this longer timeout
    /// before calling it a disagreement (a busy machine can delay a UDP echo past `timeout_ms`).
    pub confirm_timeout_ms: u64,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig { prefix: "conf".into(), timeout_ms: 300, confirm_timeout_ms: 2000 }
    }
}

/// What the kernel did with one flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// What `nfpath probe connect` reported: `connected`, `refused`, `timeout`, `error:ERRNO`.
    pub result: String,
    /// The namespace whose listener got the request, and the source and destination it saw.
    pub received: Option<Received>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub ns: String,
    pub peer: String,
    pub local: String,
}

impl std::fmt::Display for Observation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.result)?;
        match &self.received {
            Some(r) => write!(f, ", received at {} as {} -> {}", r.ns, r.peer, r.local),
            None => write!(f, ", no listener saw it"),
        }
    }
}

/// One flow's verdict.
#[derive(Clone, Debug)]
pub struct FlowVerdict {
    pub flow: FlowCase,
    pub predicted: FlowResult,
    pub observed: Observation,
    /// `None`: nfpath agrees with the kernel; otherwise what differs.
    pub disagreement: Option<String>,
}

/// A whole case's verdicts, with the import diagnostics nfpath gave for the snapshots.
#[derive(Clone, Debug)]
pub struct CaseReport {
    pub flows: Vec<FlowVerdict>,
    pub diagnostics: Vec<String>,
    pub elapsed: Duration,
}

impl CaseReport {
    pub fn agrees(&self) -> bool {
        self.flows.iter().all(|f| f.disagreement.is_none())
    }

    /// Per flow: the prediction, the kernel's observation, and for a disagreement nfpath's full
    /// trace.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for d in &self.diagnostics {
            let _ = writeln!(s, "import: {d}");
        }
        for v in &self.flows {
            let tag = if v.disagreement.is_none() { "AGREE   " } else { "DISAGREE" };
            let _ = writeln!(s, "{tag} {} -> {} (sport {})", v.flow.from, v.flow.to, v.flow.sport);
            for o in &v.predicted.outcomes {
                let _ = writeln!(s, "    nfpath: {}", render::outcome_headline(o));
            }
            let _ = writeln!(s, "    kernel: {}", v.observed);
            if let Some(why) = &v.disagreement {
                let _ = writeln!(s, "    differs: {why}");
                let trace = render::text(std::slice::from_ref(&v.predicted), render::TextOptions { color: false, steps: true });
                for l in trace.lines() {
                    let _ = writeln!(s, "      | {l}");
                }
            }
        }
        s
    }
}

fn failed(what: &str, out: &std::process::Output) -> String {
    format!(
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim(),
        String::from_utf8_lossy(&out.stdout).trim()
    )
}

fn sh(ns: &Ns, script: &str) -> Result<String, String> {
    let out = ns.try_sh(script);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(failed(&format!("in {}: {script}", ns.short), &out))
    }
}

fn sh_input(ns: &Ns, script: &str, input: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name, "sh", "-ec", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run ip netns exec: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let data = input.as_bytes().to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().map_err(|e| format!("waiting for {script}: {e}"))?;
    let _ = writer.join();
    if out.status.success() {
        Ok(())
    } else {
        Err(failed(&format!("in {}: {script} <<EOF\n{input}EOF\n", ns.short), &out))
    }
}

/// A case built in namespaces, listening, not yet collected.
pub struct Built {
    pub lab: Lab,
    pub ns: BTreeMap<String, Ns>,
    /// (namespace, proto, port) -> its listener.
    pub listeners: Vec<(String, Listener)>,
}

/// Builds `case` in fresh namespaces and starts its listeners. Errors (a command the kernel
/// refused) mean the case itself is wrong, not nfpath.
pub fn build(case: &Case, cfg: &RunConfig) -> Result<Built, String> {
    case.validate()?;
    let lab = Lab::new(&cfg.prefix);
    let mut ns = BTreeMap::new();
    for n in &case.namespaces {
        let x = lab.ns(&n.name);
        let sysctls: Vec<&str> = super::case::BASELINE_SYSCTLS.iter().copied().chain(n.pre.iter().map(String::as_str)).collect();
        sh(&x, &format!("sysctl -qw {}", sysctls.join(" ")))?;
        ns.insert(n.name.clone(), x);
    }
    for l in &case.links {
        let (a, b) = (&ns[&l.a], &ns[&l.b]);
        // Created from inside `a` with the peer moved straight into `b`: nothing ever exists in
        // the root namespace.
        sh(a, &format!("ip link add {} type veth peer name {} netns {}\nip link set {} up", l.a_dev, l.b_dev, b.name, l.a_dev))?;
        sh(b, &format!("ip link set {} up", l.b_dev))?;
    }
    for n in &case.namespaces {
        if !n.commands.is_empty() {
            sh(&ns[&n.name], &n.commands.join("\n"))?;
        }
        if !n.iptables.trim().is_empty() {
            sh_input(&ns[&n.name], "iptables-restore", &n.iptables)?;
        }
    }
    let mut listeners = Vec::new();
    for n in &case.namespaces {
        for l in &n.listen {
            let (proto, port) = parse_listen(l)?;
            // Killed when the run ends; the timeout only bounds a listener whose run was killed.
            let opts = ListenOpts { timeout_ms: Some(600_000), ..Default::default() };
            listeners.push((n.name.clone(), ns[&n.name].listen_with(proto, port, opts)));
        }
    }
    Ok(Built { lab, ns, listeners })
}

impl Built {
    /// Collects every namespace with `nfpath collect`, in parallel, into temporary snapshot
    /// folders (removed when the returned values are dropped).
    pub fn collect_dirs(&self) -> Result<Vec<(String, tempfile::TempDir)>, String> {
        std::thread::scope(|s| {
            let handles: Vec<_> = self
                .ns
                .iter()
                .map(|(short, n)| {
                    s.spawn(move || -> Result<(String, tempfile::TempDir), String> {
                        let dir = tempfile::Builder::new().prefix("nfp-conf-").tempdir().map_err(|e| e.to_string())?;
                        let out = Command::new(crate::nfpath_bin())
                            .args(["collect", "--out"])
                            .arg(dir.path())
                            .args(["--netns", &n.name])
                            .output()
                            .map_err(|e| format!("cannot run nfpath collect: {e}"))?;
                        if !out.status.success() {
                            return Err(failed(&format!("nfpath collect --netns {}", n.name), &out));
                        }
                        Ok((short.clone(), dir))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("collect thread panicked".into()))).collect::<Result<Vec<_>, _>>()
        })
    }

    /// Collects every namespace and imports the snapshots into nfpath's world. Returns the
    /// world and the import diagnostics (warnings and errors).
    pub fn collect_world(&self, case: &Case) -> Result<(World, Vec<String>), String> {
        let dirs = self.collect_dirs()?;
        let mut namespaces = Vec::new();
        let mut diags = Vec::new();
        for (short, dir) in &dirs {
            let files = crate::read_snapshot_dir(dir.path());
            let p = sim_core::parse::snapshot::load(short, &files);
            diags.extend(p.diagnostics.iter().filter(|d| d.severity != sim_core::diag::Severity::Info).map(|d| format!("{short}: {d}")));
            namespaces.push(p.value);
        }
        let links: Vec<VethLink> = case.links.iter().map(|l| VethLink::new(&l.a, &l.a_dev, &l.b, &l.b_dev)).collect();
        let world = World::new(namespaces, &links)?;
        Ok((world, diags))
    }

    /// Forgets every connection (before a flow is asked again with the same ports).
    pub fn flush_conntrack(&self) {
        for n in self.ns.values() {
            let _ = n.try_sh("conntrack -F 2>/dev/null || true");
        }
    }

    /// Sends one flow for real and reports what the client and the listeners saw.
    pub fn probe(&self, flow: &FlowCase, timeout_ms: u64) -> Result<Observation, String> {
        let t = flow.target()?;
        let client = &self.ns[&flow.from];
        let before: Vec<usize> = self.listeners.iter().map(|(_, l)| l.received().len()).collect();
        let flag = match t.proto {
            Proto::Tcp => "--tcp",
            Proto::Udp => "--udp",
            Proto::Icmp => "--icmp",
        };
        let (sport, tmo) = (flow.sport.to_string(), timeout_ms.to_string());
        let out = if t.proto == Proto::Icmp {
            client.nfpath(&["probe", "connect", &t.addr.to_string(), flag, "--timeout-ms", &tmo])
        } else {
            let target = format!("{}:{}", t.addr, t.port);
            client.nfpath(&["probe", "connect", &target, flag, "--sport", &sport, "--timeout-ms", &tmo])
        };
        if !out.status.success() {
            return Err(failed(&format!("in {}: nfpath probe connect {} {flag}", client.short, flow.to), &out));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap_or("")).map_err(|e| format!("probe connect printed {text:?}: {e}"))?;
        let result = v.get("result").and_then(|r| r.as_str()).ok_or_else(|| format!("probe connect printed no result: {text}"))?.to_string();
        // The listener prints before it echoes (UDP) and right after accept (TCP); its line may
        // still be on its way through the pipe. A connected exchange must have reached someone,
        // so wait for that line; otherwise a short grace period is enough.
        let wait = if result == "connected" { Duration::from_millis(2000) } else { Duration::from_millis(60) };
        let deadline = Instant::now() + wait;
        let received = loop {
            let mut got = None;
            for (i, (ns, l)) in self.listeners.iter().enumerate() {
                let seen = l.received();
                if let Some(r) = seen.get(before[i]) {
                    got = Some(Received { ns: ns.clone(), peer: r.peer.to_string(), local: r.local.to_string() });
                }
            }
            if got.is_some() || Instant::now() >= deadline {
                break got;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Ok(Observation { result, received })
    }
}

/// nfpath's flow for a case flow.
pub fn flow_spec(flow: &FlowCase, index: usize) -> Result<FlowSpec, String> {
    let t = flow.target()?;
    Ok(FlowSpec {
        name: format!("{index}:{}->{}", flow.from, flow.to),
        from: FlowFrom::Client { ns: flow.from.clone(), src: None },
        dst: t.addr,
        dport: t.port,
        proto: match t.proto {
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Icmp => 1,
        },
        sport: Some(flow.sport),
        mark: 0,
        uid: None,
        gid: None,
    })
}

/// Whether one predicted outcome is what the kernel did. The client's result must be equal, and
/// so must what the listeners saw: which namespace's listener got the request, and the source and
/// destination it saw there. A listener reports a UDP datagram it reads, and a TCP connection it
/// accepts, which needs the whole handshake (a client can connect while its last ACK is lost; nfpath
/// says so in the outcome's summary). nfpath's `at` names the namespace the request reached even
/// when no socket listens there; `listening(ns, port)` says whether one does.
fn outcome_matches(o: &Outcome, obs: &Observation, proto: Proto, listening: &dyn Fn(&str, u16) -> bool) -> Result<(), String> {
    if o.indeterminate.is_some() || o.result == sim_core::trace::ClientResult::Indeterminate {
        return Err(format!("nfpath could not decide: {}", o.indeterminate.as_deref().unwrap_or(&o.summary)));
    }
    if o.result.as_string() != obs.result {
        return Err(format!("result: nfpath {}, kernel {}", o.result.as_string(), obs.result));
    }
    let reached = match (&o.at, &o.seen) {
        (Some(at), Some(seen)) => {
            let port = seen.dst.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()).unwrap_or(0);
            let accepted = match proto {
                Proto::Tcp => o.result == sim_core::trace::ClientResult::Connected && !o.summary.contains("never accepts"),
                _ => true,
            };
            (accepted && listening(at, port)).then_some((at, seen))
        }
        _ => None,
    };
    // Ports are compared unless nfpath says the kernel draws one at random (a NAT port search
    // from a random offset, `--random-fully`); ICMP has none.
    let random_port = o.summary.contains("random port") || o.summary.contains("random offset") || proto == Proto::Icmp;
    let addr = |x: &str| x.rsplit_once(':').map_or(x, |p| p.0).to_string();
    let same = |a: &str, b: &str| if random_port { addr(a) == addr(b) } else { a == b };
    match (&obs.received, reached) {
        (Some(r), Some((at, seen))) => {
            if *at != r.ns || !same(&seen.src, &r.peer) || !same(&seen.dst, &r.local) {
                return Err(format!("received: nfpath at {at} as {} -> {}, kernel at {} as {} -> {}", seen.src, seen.dst, r.ns, r.peer, r.local));
            }
            Ok(())
        }
        (None, None) => Ok(()),
        (Some(r), None) => Err(format!("received: nfpath says no listener gets it, kernel at {} as {} -> {}", r.ns, r.peer, r.local)),
        (None, Some((at, seen))) => Err(format!("received: nfpath says the listener in {at} gets it as {} -> {}, kernel: no listener saw it", seen.src, seen.dst)),
    }
}

/// `None` when some predicted outcome is what the kernel did (random choices such as ECMP can
/// give several), else what differs from each.
pub fn compare(pred: &FlowResult, obs: &Observation, proto: Proto, listening: &dyn Fn(&str, u16) -> bool) -> Option<String> {
    if pred.outcomes.is_empty() {
        return Some("nfpath gave no outcome".into());
    }
    let mut why = Vec::new();
    for o in &pred.outcomes {
        match outcome_matches(o, obs, proto, listening) {
            Ok(()) => return None,
            Err(e) => why.push(e),
        }
    }
    Some(why.join("; "))
}

/// Builds, collects, predicts and probes a whole case. `Err` means the case could not be built
/// (a generator problem), not a disagreement.
pub fn run_case(case: &Case, cfg: &RunConfig) -> Result<CaseReport, String> {
    let start = Instant::now();
    let built = build(case, cfg)?;
    let (world, diagnostics) = built.collect_world(case)?;
    let opts = RunOptions::default();
    let mut flows = Vec::new();
    for (i, flow) in case.flows.iter().enumerate() {
        let spec = flow_spec(flow, i)?;
        let proto = flow.target()?.proto;
        let listening = |ns: &str, port: u16| {
            case.namespaces.iter().any(|n| n.name == ns && n.listen.iter().any(|l| parse_listen(l).is_ok_and(|x| x == (proto, port))))
        };
        let predicted = world.run_flow(&spec, &opts);
        let mut observed = built.probe(flow, cfg.timeout_ms)?;
        let mut disagreement = compare(&predicted, &observed, proto, &listening);
        if disagreement.is_some() && observed.result == "timeout" && cfg.confirm_timeout_ms > cfg.timeout_ms {
            built.flush_conntrack();
            observed = built.probe(flow, cfg.confirm_timeout_ms)?;
            disagreement = compare(&predicted, &observed, proto, &listening);
        }
        flows.push(FlowVerdict { flow: flow.clone(), predicted, observed, disagreement });
    }
    drop(built);
    Ok(CaseReport { flows, diagnostics, elapsed: start.elapsed() })
}
