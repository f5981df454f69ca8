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
    /// Everything between namespaces answers within a millisecond; a late answer on a loaded
    /// machine cannot turn into a false disagreement, as a `timeout` that nfpath did not predict
    /// is asked again with `confirm_timeout_ms`.
    pub timeout_ms: u64,
    /// When a flow disagrees and the kernel said `timeout`, ask again with this longer timeout
    /// before calling it a disagreement (a busy machine can delay a UDP echo past `timeout_ms`).
    pub confirm_timeout_ms: u64,
    /// Tear the namespaces down on a background thread, so that the next case starts while the
    /// kernel deletes them. Whoever sets this must call [`wait_for_teardowns`] before exiting.
    pub background_teardown: bool,
}

static TEARDOWNS: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>> = std::sync::Mutex::new(Vec::new());

/// Waits until every background teardown is done (see [`RunConfig::background_teardown`]).
pub fn wait_for_teardowns() {
    loop {
        let pending: Vec<_> = std::mem::take(&mut *TEARDOWNS.lock().unwrap_or_else(|p| p.into_inner()));
        if pending.is_empty() {
            break;
        }
        for h in pending {
            let _ = h.join();
        }
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig { prefix: "conf".into(), timeout_ms: 200, confirm_timeout_ms: 2000, background_teardown: false }
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
    /// Time spent building, collecting, running the flows and tearing down.
    pub phases: Vec<(&'static str, Duration)>,
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
    format!("{what} failed ({}): {}{}", out.status, String::from_utf8_lossy(&out.stderr).trim(), String::from_utf8_lossy(&out.stdout).trim())
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
///
/// Fields drop in order: the listeners first (each is killed and reaped), then the lab deletes
/// the namespaces, which then hold no process it would have to find and kill one by one.
pub struct Built {
    /// (namespace, proto, port) -> its listener.
    pub listeners: Vec<(String, Listener)>,
    pub ns: BTreeMap<String, Ns>,
    pub lab: Lab,
}

/// Builds `case` in fresh namespaces and starts its listeners. Errors (a command the kernel
/// refused) mean the case itself is wrong, not nfpath.
pub fn build(case: &Case, cfg: &RunConfig) -> Result<Built, String> {
    case.validate()?;
    let lab = Lab::new(&cfg.prefix);
    // Namespaces are independent until linked, and after that each is configured on its own:
    // both steps run one thread per namespace (most of the time is process start-up).
    let made: Vec<Result<(String, Ns), String>> = std::thread::scope(|s| {
        let lab = &lab;
        let hs: Vec<_> = case
            .namespaces
            .iter()
            .map(|n| {
                s.spawn(move || {
                    let x = lab.ns(&n.name);
                    let sysctls: Vec<&str> = super::case::BASELINE_SYSCTLS.iter().copied().chain(n.pre.iter().map(String::as_str)).collect();
                    sh(&x, &format!("sysctl -qw {}", sysctls.join(" ")))?;
                    Ok((n.name.clone(), x))
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("namespace thread panicked".into()))).collect()
    });
    let ns: BTreeMap<String, Ns> = made.into_iter().collect::<Result<_, _>>()?;
    for l in &case.links {
        let (a, b) = (&ns[&l.a], &ns[&l.b]);
        // Created from inside `a` with the peer moved straight into `b`: nothing ever exists in
        // the root namespace.
        sh(
            a,
            &format!(
                "ip link add {} type veth peer name {} netns {}\nip link set {} up\nip -n {} link set {} up",
                l.a_dev, l.b_dev, b.name, l.a_dev, b.name, l.b_dev
            ),
        )?;
    }
    let configured: Vec<Result<Vec<(String, Listener)>, String>> = std::thread::scope(|s| {
        let ns = &ns;
        let hs: Vec<_> = case
            .namespaces
            .iter()
            .map(|n| {
                s.spawn(move || {
                    let x = &ns[&n.name];
                    if !n.commands.is_empty() {
                        sh(x, &n.commands.join("\n"))?;
                    }
                    if !n.iptables.trim().is_empty() {
                        sh_input(x, "iptables-restore", &n.iptables)?;
                    }
                    let specs = n.listen.iter().map(|l| parse_listen(l)).collect::<Result<Vec<_>, _>>()?;
                    let listeners: Vec<(String, Listener)> = std::thread::scope(|s2| {
                        let hs: Vec<_> = specs
                            .into_iter()
                            .map(|(proto, port)| {
                                s2.spawn(move || {
                                    // Killed when the run ends; the timeout only bounds a listener
                                    // whose run was killed.
                                    let opts = ListenOpts { timeout_ms: Some(600_000), ..Default::default() };
                                    (n.name.clone(), x.listen_with(proto, port, opts))
                                })
                            })
                            .collect();
                        hs.into_iter().filter_map(|h| h.join().ok()).collect()
                    });
                    if listeners.len() != n.listen.len() {
                        return Err(format!("in {}: a listener did not start", n.name));
                    }
                    Ok(listeners)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("namespace thread panicked".into()))).collect()
    });
    let mut listeners = Vec::new();
    for c in configured {
        listeners.extend(c?);
    }
    Ok(Built { listeners, ns, lab })
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
        (None, Some((at, seen))) => {
            Err(format!("received: nfpath says the listener in {at} gets it as {} -> {}, kernel: no listener saw it", seen.src, seen.dst))
        }
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
    let mut phases = Vec::new();
    let mut mark = Instant::now();
    let mut lap = |name: &'static str, phases: &mut Vec<(&'static str, Duration)>| {
        phases.push((name, mark.elapsed()));
        mark = Instant::now();
    };
    let built = build(case, cfg)?;
    lap("build", &mut phases);
    let (world, diagnostics) = built.collect_world(case)?;
    lap("collect", &mut phases);
    let opts = RunOptions::default();
    let mut flows = Vec::new();
    for (i, flow) in case.flows.iter().enumerate() {
        let spec = flow_spec(flow, i)?;
        let proto = flow.target()?.proto;
        let listening =
            |ns: &str, port: u16| case.namespaces.iter().any(|n| n.name == ns && n.listen.iter().any(|l| parse_listen(l).is_ok_and(|x| x == (proto, port))));
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
    lap("flows", &mut phases);
    if cfg.background_teardown {
        let h = std::thread::spawn(move || drop(built));
        TEARDOWNS.lock().unwrap_or_else(|p| p.into_inner()).push(h);
    } else {
        drop(built);
    }
    lap("teardown", &mut phases);
    Ok(CaseReport { flows, diagnostics, elapsed: start.elapsed(), phases })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::trace::{ClientResult, Disposition, Seen};

    fn outcome(result: ClientResult, at: Option<&str>, src: &str, dst: &str, summary: &str) -> Outcome {
        Outcome {
            probability: 1.0,
            result,
            at: at.map(str::to_string),
            seen: at.map(|_| Seen { src: src.into(), dst: dst.into(), proto: "tcp".into() }),
            disposition: if at.is_some() { Disposition::Delivered } else { Disposition::Dropped },
            reason: None,
            indeterminate: None,
            summary: summary.into(),
            steps: vec![],
        }
    }

    fn obs(result: &str, rx: Option<(&str, &str, &str)>) -> Observation {
        Observation { result: result.into(), received: rx.map(|(ns, p, l)| Received { ns: ns.into(), peer: p.into(), local: l.into() }) }
    }

    fn one(o: Outcome) -> FlowResult {
        FlowResult { flow: "f".into(), outcomes: vec![o] }
    }

    const ALL: &dyn Fn(&str, u16) -> bool = &|_, _| true;

    #[test]
    fn result_and_receiver_must_both_match() {
        let p = one(outcome(ClientResult::Connected, Some("b"), "10.0.1.1:40000", "10.0.1.2:80", ""));
        assert_eq!(compare(&p, &obs("connected", Some(("b", "10.0.1.1:40000", "10.0.1.2:80"))), Proto::Tcp, ALL), None);
        let d = compare(&p, &obs("connected", Some(("c", "10.0.1.1:40000", "10.0.1.2:80"))), Proto::Tcp, ALL);
        assert!(d.is_some_and(|d| d.contains("kernel at c")));
        let d = compare(&p, &obs("connected", Some(("b", "10.0.9.9:40000", "10.0.1.2:80"))), Proto::Tcp, ALL);
        assert!(d.is_some());
        let d = compare(&p, &obs("timeout", None), Proto::Tcp, ALL);
        assert!(d.is_some_and(|d| d.starts_with("result: nfpath connected, kernel timeout")));
    }

    #[test]
    fn a_tcp_request_that_is_not_accepted_leaves_no_trace_at_the_listener() {
        // Refused by a REJECT after reaching b: no accept, so no listener line.
        let p = one(outcome(ClientResult::Refused, Some("b"), "10.0.1.1:40000", "10.0.1.2:80", ""));
        assert_eq!(compare(&p, &obs("refused", None), Proto::Tcp, ALL), None);
        // The handshake completes for the client but its last ACK is lost: nfpath says so.
        let p = one(outcome(
            ClientResult::Connected,
            Some("b"),
            "10.0.1.1:40000",
            "10.0.1.2:80",
            "connect() succeeds, but the client's final ACK is dropped in a (rule), so the server never accepts the connection",
        ));
        assert_eq!(compare(&p, &obs("connected", None), Proto::Tcp, ALL), None);
        // A UDP datagram read by the listener is seen even when the answer is lost.
        let p = one(outcome(ClientResult::Timeout, Some("b"), "10.0.1.1:40000", "10.0.1.2:53", ""));
        assert!(compare(&p, &obs("timeout", None), Proto::Udp, ALL).is_some());
        assert_eq!(compare(&p, &obs("timeout", Some(("b", "10.0.1.1:40000", "10.0.1.2:53"))), Proto::Udp, ALL), None);
        // ... unless nothing listens on that port there.
        assert_eq!(compare(&p, &obs("timeout", None), Proto::Udp, &|_, _| false), None);
    }

    #[test]
    fn ports_the_kernel_draws_at_random_compare_by_address() {
        let p = one(outcome(
            ClientResult::Connected,
            Some("b"),
            "10.0.1.1:40000",
            "10.0.1.2:80",
            "reaches a listener (assumed: MASQUERADE: the kernel picks a random port here; nfpath shows the original port 40000)",
        ));
        assert_eq!(compare(&p, &obs("connected", Some(("b", "10.0.1.1:51234", "10.0.1.2:80"))), Proto::Tcp, ALL), None);
        let p = one(outcome(ClientResult::Connected, Some("b"), "10.0.1.1:40000", "10.0.1.2:80", ""));
        assert!(compare(&p, &obs("connected", Some(("b", "10.0.1.1:51234", "10.0.1.2:80"))), Proto::Tcp, ALL).is_some());
        // ICMP has no ports: the listener reports port 0.
        let p = one(outcome(ClientResult::Connected, Some("b"), "10.0.1.1", "10.0.1.2", ""));
        assert_eq!(compare(&p, &obs("connected", Some(("b", "10.0.1.1:0", "10.0.1.2:0"))), Proto::Icmp, ALL), None);
    }

    #[test]
    fn any_branch_may_be_the_kernels_but_indeterminate_never_agrees() {
        let p = FlowResult {
            flow: "f".into(),
            outcomes: vec![
                outcome(ClientResult::Connected, Some("b"), "10.0.1.1:40000", "10.0.1.2:80", ""),
                outcome(ClientResult::Connected, Some("c"), "10.0.1.1:40000", "10.0.2.2:80", ""),
            ],
        };
        assert_eq!(compare(&p, &obs("connected", Some(("c", "10.0.1.1:40000", "10.0.2.2:80"))), Proto::Tcp, ALL), None);
        let mut o = outcome(ClientResult::Indeterminate, None, "", "", "nfpath cannot decide");
        o.indeterminate = Some("rule 3: -m u32".into());
        assert!(compare(&one(o), &obs("timeout", None), Proto::Tcp, ALL).is_some_and(|d| d.contains("could not decide")));
        assert!(compare(&FlowResult { flow: "f".into(), outcomes: vec![] }, &obs("timeout", None), Proto::Tcp, ALL).is_some());
    }
}
