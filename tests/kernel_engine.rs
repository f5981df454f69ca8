//! Kernel conformance for the netfilter engine: each scenario is described once with
//! `sim_core::engine::build`, which yields both nfpath's model and the commands that build the
//! same namespaces, veths, addresses, routes, sysctls and iptables rules in the real kernel. Real
//! TCP and UDP connections are then made (python3 sockets in the namespaces) and compared with
//! nfpath's prediction: the client's result, which namespace received the request, and the
//! source and destination it saw.
//!
//! Must run as root. If namespaces cannot be created the tests fail loudly.

use sim_core::engine::build::{WorldB, R};
use sim_core::engine::{FlowFrom, FlowSpec, RunOptions};
use sim_core::model::packet::{IPPROTO_TCP, IPPROTO_UDP};
use sim_core::model::route::RouteType;
use sim_core::model::ruleset::{MarkMatch, Match, Policy, RejectWith};
use sim_core::trace::{ClientResult, FlowResult};
use std::collections::BTreeSet;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static LAB_SEQ: AtomicU32 = AtomicU32::new(0);

const PROBE: &str = r#"
import socket, sys, errno
proto, dst, port, sport, src = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
try:
    if proto == 'tcp':
        s = socket.socket()
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(1.0)
    s.bind((src if src != '-' else '', sport))
    s.connect((dst, port))
    if proto == 'udp':
        s.send(b'x')
        s.recv(100)
    print("connected")
except socket.timeout:
    print("timeout")
except OSError as e:
    n = errno.errorcode.get(e.errno, str(e.errno))
    print("refused" if n == "ECONNREFUSED" else "error:" + n)
"#;

const SERVER: &str = r#"
import socket, sys, threading, struct
IP_PKTINFO = getattr(socket, 'IP_PKTINFO', 8)
log = sys.argv[1]
def note(s):
    with open(log, 'a') as f:
        f.write(s + "\n")
def tcp(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', port)); s.listen(128)
    while True:
        c, a = s.accept()
        l = c.getsockname()
        note("tcp %s:%d %s:%d" % (a[0], a[1], l[0], l[1]))
        c.close()
def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    s.bind(('0.0.0.0', port))
    while True:
        d, anc, fl, a = s.recvmsg(100, socket.CMSG_SPACE(12))
        dst = None
        for lvl, typ, data in anc:
            if lvl == socket.IPPROTO_IP and typ == IP_PKTINFO:
                dst = data[8:12]
        note("udp %s:%d %s:%d" % (a[0], a[1], socket.inet_ntoa(dst), port))
        try:
            s.sendmsg([d], [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack('i4s4s', 0, dst, b'\0\0\0\0'))], 0, a)
        except OSError:
            pass  # e.g. EPERM when the server's OUTPUT drops the answer
for spec in sys.argv[2:]:
    p, port = spec.split(':')
    threading.Thread(target=tcp if p == 'tcp' else udp, args=(int(port),), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"#;

fn sh(cmd: &str) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    assert!(out.status.success(), "command failed (kernel tests need root and network namespaces): {cmd}\n{}", String::from_utf8_lossy(&out.stderr));
}

/// Real namespaces for one `WorldB`, torn down on drop.
struct Lab {
    prefix: String,
    names: Vec<String>,
    dir: PathBuf,
    servers: Vec<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.servers {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", &format!("{}{n}", self.prefix)]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Lab {
    fn real(&self, ns: &str) -> String {
        format!("{}{ns}", self.prefix)
    }

    fn new(w: &WorldB) -> Lab {
        let seq = LAB_SEQ.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("nfp-nfk-{}-{seq}-", std::process::id());
        let dir = std::env::temp_dir().join(format!("nfp-nfk-{}-{seq}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("probe.py"), PROBE).expect("probe");
        std::fs::write(dir.join("server.py"), SERVER).expect("server");
        let mut lab = Lab { prefix, names: Vec::new(), dir, servers: Vec::new() };
        for n in &w.nss {
            let name = n.ns.name.clone();
            sh(&format!("ip netns add {}", lab.real(&name)));
            lab.names.push(name);
        }
        for c in &w.link_cmds {
            let mut c = c.clone();
            for n in &lab.names {
                c = c.replace(&format!("{{{n}}}"), &lab.real(n));
            }
            sh(&c);
        }
        for n in &w.nss {
            let real = lab.real(&n.ns.name);
            for c in &n.cmds {
                sh(&c.replace("{ns}", &real));
            }
            let text = n.restore_text();
            if !text.is_empty() {
                let mut child = Command::new("ip")
                    .args(["netns", "exec", &real, "iptables-restore"])
                    .stdin(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("iptables-restore");
                child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write rules");
                let out = child.wait_with_output().expect("iptables-restore");
                assert!(out.status.success(), "iptables-restore in {real} failed: {}\n{text}", String::from_utf8_lossy(&out.stderr));
            }
        }
        for n in &w.nss {
            let Some(socks) = &n.ns.sockets else { continue };
            let real = lab.real(&n.ns.name);
            let specs: Vec<String> = socks.iter().map(|s| format!("{}:{}", if s.proto == IPPROTO_TCP { "tcp" } else { "udp" }, s.port)).collect();
            let log = lab.dir.join(format!("{}.log", n.ns.name));
            let mut args = vec![
                "netns".to_string(),
                "exec".into(),
                real.clone(),
                "python3".into(),
                lab.dir.join("server.py").display().to_string(),
                log.display().to_string(),
            ];
            args.extend(specs);
            let mut child = Command::new("ip").args(&args).stdout(Stdio::piped()).spawn().expect("server");
            // Wait for "ready".
            let mut out = child.stdout.take().expect("stdout");
            let mut buf = [0u8; 6];
            let start = Instant::now();
            use std::io::Read;
            let _ = out.read_exact(&mut buf);
            assert!(start.elapsed() < Duration::from_secs(10), "server in {real} did not start");
            lab.servers.push(child);
        }
        lab
    }

    /// Runs the flow for real: (client result, receiving namespace, seen src, seen dst).
    fn probe(&self, spec: &FlowSpec) -> (String, Option<(String, String, String)>) {
        for n in &self.names {
            let _ = std::fs::remove_file(self.dir.join(format!("{n}.log")));
        }
        let (ns, src) = match &spec.from {
            FlowFrom::Client { ns, src } => (ns.clone(), src.map(|s| s.to_string()).unwrap_or_else(|| "-".into())),
            FlowFrom::Inject { .. } => panic!("injected flows are not probed"),
        };
        let proto = if spec.proto == IPPROTO_TCP { "tcp" } else { "udp" };
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.real(&ns),
                "python3",
                &self.dir.join("probe.py").display().to_string(),
                proto,
                &spec.dst.to_string(),
                &spec.dport.to_string(),
                &spec.sport.unwrap_or(0).to_string(),
                &src,
            ])
            .output()
            .expect("probe");
        let mut result = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if result.is_empty() {
            // Say why instead of comparing an empty string (e.g. the namespace vanished).
            result = format!("probe-failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        // Give the server's log line time to land (it is written after accept/recv).
        let deadline = Instant::now() + Duration::from_millis(if result == "connected" { 1000 } else { 30 });
        let mut seen = None;
        loop {
            for n in &self.names {
                if let Ok(text) = std::fs::read_to_string(self.dir.join(format!("{n}.log"))) {
                    if let Some(line) = text.lines().next() {
                        let parts: Vec<&str> = line.split_whitespace().collect();
                        seen = Some((n.clone(), parts[1].to_string(), parts[2].to_string()));
                    }
                }
            }
            if seen.is_some() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        (result, seen)
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("address")
}

fn flow(from: &str, dst: &str, port: u16, proto: u8, sport: u16) -> FlowSpec {
    FlowSpec { sport: Some(sport), ..FlowSpec::client("k", from, ip(dst), port, proto) }
}

/// One comparison between nfpath and the kernel.
struct Case {
    label: String,
    spec: FlowSpec,
    /// Kernel attempts (random branches need several). ICMP errors are rate-limited per
    /// destination (`icmp.c:icmpv4_xrlim_allow`, burst 6 per second), so cases answered by ICMP
    /// keep this low.
    tries: u16,
}

fn case(label: &str, spec: FlowSpec) -> Case {
    Case { label: label.into(), spec, tries: 1 }
}

fn cases_n(label: &str, spec: FlowSpec, tries: u16) -> Case {
    Case { label: label.into(), spec, tries }
}

/// nfpath's predicted outcomes as (result, at, seen src, seen dst) plus whether the source port
/// was chosen at random by the kernel.
/// (result, at, seen src, seen dst, source port chosen at random by the kernel).
type Predicted = (String, Option<String>, Option<String>, Option<String>, bool);

fn predicted(r: &FlowResult) -> Vec<Predicted> {
    r.outcomes
        .iter()
        .map(|o| {
            let result = match &o.result {
                ClientResult::Refused => "refused".to_string(),
                other => other.as_string(),
            };
            (result, o.at.clone(), o.seen.as_ref().map(|s| s.src.clone()), o.seen.as_ref().map(|s| s.dst.clone()), o.summary.contains("random"))
        })
        .collect()
}

fn addr_only(s: &str) -> &str {
    s.split(':').next().unwrap_or(s)
}

/// Runs every case against the kernel `tries` times and checks that each kernel observation is
/// one of nfpath's predicted outcomes; collects all disagreements before failing.
fn compare(w: &WorldB, cases: &[Case]) {
    let world = w.build().expect("world");
    let lab = Lab::new(w);
    let mut bad = Vec::new();
    let mut agreed = 0;
    for c in cases {
        let r = world.run_flow(&c.spec, &RunOptions::default());
        let pred = predicted(&r);
        let mut observed = BTreeSet::new();
        for t in 0..c.tries {
            let mut spec = c.spec.clone();
            spec.sport = spec.sport.map(|p| p + t);
            let pr = world.run_flow(&spec, &RunOptions::default());
            let pred_t = predicted(&pr);
            let (kres, kseen) = lab.probe(&spec);
            let r_summary_says_no_accept = pr.outcomes.iter().any(|o| o.summary.contains("never accepts"));
            let ok = pred_t.iter().any(|(res, at, src, dst, random)| {
                if *res != kres {
                    return false;
                }
                // Where the request was received is compared whenever a listener logged it.
                match (&kseen, res.as_str()) {
                    (Some((kat, ksrc, kdst)), _) => {
                        at.as_deref() == Some(kat.as_str())
                            && dst.as_deref() == Some(kdst.as_str())
                            && (src.as_deref() == Some(ksrc.as_str()) || (*random && src.as_deref().map(addr_only) == Some(addr_only(ksrc))))
                    }
                    // connect() succeeded but the final ACK was lost: the server never accepted.
                    (None, "connected") => at.is_some() && r_summary_says_no_accept,
                    (None, _) => true,
                }
            });
            observed.insert(format!("{kres} {kseen:?}"));
            if ok {
                agreed += 1;
            } else {
                bad.push(format!(
                    "{}: kernel {kres} {kseen:?}; nfpath {:?}\n  summary: {}",
                    c.label,
                    pred_t,
                    pr.outcomes.iter().map(|o| o.summary.clone()).collect::<Vec<_>>().join(" | ")
                ));
            }
        }
        let _ = pred;
    }
    eprintln!("kernel_engine: {agreed} kernel observations agree with nfpath");
    assert!(bad.is_empty(), "{} of {} kernel observations disagree with nfpath:\n{}", bad.len(), bad.len() + agreed, bad.join("\n"));
}

fn pair() -> WorldB {
    let mut w = WorldB::new();
    w.veth("client", "eth0", Some("10.0.0.1/24"), "server", "eth0", Some("10.0.0.2/24"));
    w.ns("server").listen(IPPROTO_TCP, 80).listen(IPPROTO_UDP, 53);
    w
}

fn routed() -> WorldB {
    let mut w = WorldB::new();
    w.veth("client", "eth0", Some("10.0.1.2/24"), "router", "c0", Some("10.0.1.1/24"));
    w.veth("router", "s0", Some("10.0.2.1/24"), "server", "eth0", Some("10.0.2.2/24"));
    w.ns("client").route("default", Some("10.0.1.1"), None);
    w.ns("server").route("default", Some("10.0.2.1"), None).listen(IPPROTO_TCP, 80).listen(IPPROTO_UDP, 53).listen(IPPROTO_TCP, 8080);
    w.ns("router").sysctl("net.ipv4.ip_forward", "1");
    w
}

fn basic_cases(to: &str) -> Vec<Case> {
    vec![
        case("tcp open", flow("client", to, 80, IPPROTO_TCP, 41000)),
        case("tcp closed", flow("client", to, 81, IPPROTO_TCP, 41100)),
        case("udp open", flow("client", to, 53, IPPROTO_UDP, 41200)),
        case("udp closed", flow("client", to, 54, IPPROTO_UDP, 41300)),
    ]
}

#[test]
fn kernel_engine_filter_chains_and_policies() {
    // Each built-in filter chain with ACCEPT, DROP, REJECT variants and a DROP policy.
    type Variant = (&'static str, &'static str, Box<dyn Fn() -> R>);
    let variants: Vec<Variant> = vec![
        ("server", "INPUT", Box::new(|| R::new().p("tcp").dport(80).j("DROP"))),
        ("server", "INPUT", Box::new(|| R::new().reject(RejectWith::IcmpPortUnreachable))),
        ("server", "INPUT", Box::new(|| R::new().reject(RejectWith::IcmpHostUnreachable))),
        ("server", "INPUT", Box::new(|| R::new().reject(RejectWith::IcmpAdminProhibited))),
        ("server", "INPUT", Box::new(|| R::new().p("tcp").reject(RejectWith::TcpReset))),
        ("server", "OUTPUT", Box::new(|| R::new().p("tcp").reject(RejectWith::TcpReset))),
        ("server", "OUTPUT", Box::new(|| R::new().j("DROP"))),
        ("client", "OUTPUT", Box::new(|| R::new().d("10.0.0.2").j("DROP"))),
        ("client", "OUTPUT", Box::new(|| R::new().d("10.0.0.2").reject(RejectWith::IcmpNetUnreachable))),
        ("client", "INPUT", Box::new(|| R::new().s("10.0.0.2").j("DROP"))),
        ("client", "INPUT", Box::new(|| R::new().ctstate(&["ESTABLISHED", "RELATED"]).j("ACCEPT"))),
    ];
    for (ns, chain, rule) in &variants {
        let mut w = pair();
        w.ns(ns).ipt("filter", chain, rule());
        if *ns == "client" && *chain == "INPUT" {
            w.ns("client").policy("filter", "INPUT", Policy::Drop);
        }
        compare(&w, &basic_cases("10.0.0.2"));
    }
    let mut w = pair();
    w.ns("server").policy("filter", "INPUT", Policy::Drop);
    compare(&w, &basic_cases("10.0.0.2"));
    let w = pair();
    compare(&w, &basic_cases("10.0.0.2"));
}

#[test]
fn kernel_engine_forwarding_nat_and_chains() {
    let to = "10.0.2.2";
    // ip_forward off.
    let mut w = routed();
    w.ns("router").sysctl("net.ipv4.ip_forward", "0");
    compare(&w, &basic_cases(to));
    // FORWARD: DROP, REJECT variants, policy, user chains with RETURN and goto.
    for rule in [
        R::new().p("tcp").j("DROP"),
        R::new().reject(RejectWith::IcmpHostUnreachable),
        R::new().p("tcp").reject(RejectWith::TcpReset),
        R::new().reject(RejectWith::IcmpPortUnreachable),
    ] {
        let mut w = routed();
        w.ns("router").ipt("filter", "FORWARD", rule);
        compare(&w, &basic_cases(to));
    }
    let mut w = routed();
    w.ns("router").policy("filter", "FORWARD", Policy::Drop).ipt("filter", "FORWARD", R::new().p("udp").j("ACCEPT"));
    compare(&w, &basic_cases(to));
    let mut w = routed();
    {
        let r = w.ns("router");
        r.ipt("filter", "FORWARD", R::new().p("tcp").j("CHK"));
        r.ipt("filter", "FORWARD", R::new().p("tcp").dport(81).j("DROP"));
        r.ipt("filter", "CHK", R::new().p("tcp").dport(81).j("RETURN"));
        r.ipt("filter", "CHK", R::new().goto("G"));
        r.ipt("filter", "G", R::new().p("tcp").dport(80).reject(RejectWith::TcpReset));
    }
    compare(&w, &basic_cases(to));
    // DNAT on the router's address + MASQUERADE out s0; SNAT of forwarded traffic.
    let mut w = routed();
    w.ns("router").ipt("nat", "PREROUTING", R::new().p("tcp").d("10.0.1.1").dport(80).dnat("10.0.2.2:8080"));
    w.ns("router").ipt("nat", "PREROUTING", R::new().p("udp").d("10.0.1.1").dport(53).dnat("10.0.2.2"));
    w.ns("router").ipt("nat", "POSTROUTING", R::new().o("s0").masquerade(false));
    compare(&w, &basic_cases("10.0.1.1"));
    let mut w = routed();
    w.ns("router").ipt("nat", "POSTROUTING", R::new().s("10.0.1.0/24").snat("10.0.2.1"));
    compare(&w, &basic_cases(to));
    // DNAT in the server's own PREROUTING to a local port, SNAT in nat INPUT.
    let mut w = routed();
    w.ns("server").ipt("nat", "PREROUTING", R::new().p("tcp").dport(81).dnat("10.0.2.2:8080"));
    w.ns("server").ipt("nat", "INPUT", R::new().p("tcp").snat("10.0.2.2"));
    compare(&w, &basic_cases(to));
    // REDIRECT.
    let mut w = routed();
    w.ns("server").ipt("nat", "PREROUTING", R::new().p("tcp").dport(81).redirect(80));
    compare(&w, &basic_cases(to));
    // ctstate: INVALID drop on FORWARD, NEW-only input at the client.
    let mut w = routed();
    w.ns("router").ipt("filter", "FORWARD", R::new().ctstate(&["INVALID"]).j("DROP"));
    w.ns("client").ipt("filter", "INPUT", R::new().ctstate(&["NEW"]).j("ACCEPT")).policy("filter", "INPUT", Policy::Drop);
    compare(&w, &basic_cases(to));
}

#[test]
fn kernel_engine_local_output_dnat_and_routes() {
    // The router as a client: nat OUTPUT DNAT of a "ClusterIP", with and without a route to it.
    let mut w = routed();
    w.ns("router").ipt("nat", "OUTPUT", R::new().p("tcp").d("10.96.0.10").dport(80).dnat("10.0.2.2:8080"));
    let cases = vec![case("clusterip without route", flow("router", "10.96.0.10", 80, IPPROTO_TCP, 42000))];
    compare(&w, &cases);
    w.ns("router").route("10.96.0.0/12", None, Some("c0"));
    compare(&w, &[case("clusterip with route", flow("router", "10.96.0.10", 80, IPPROTO_TCP, 42100))]);
    // Blackhole, unreachable and prohibit routes on the client and on the router.
    let mut w = routed();
    w.ns("client")
        .route_type(RouteType::Blackhole, "10.7.0.0/24")
        .route_type(RouteType::Unreachable, "10.6.0.0/24")
        .route_type(RouteType::Prohibit, "10.5.0.0/24");
    w.ns("router")
        .route_type(RouteType::Blackhole, "10.17.0.0/24")
        .route_type(RouteType::Unreachable, "10.16.0.0/24")
        .route_type(RouteType::Prohibit, "10.15.0.0/24");
    for (i, d) in ["10.7.0.1", "10.6.0.1", "10.5.0.1", "10.17.0.1", "10.16.0.1", "10.15.0.1", "10.99.0.1"].iter().enumerate() {
        // A fresh lab per destination keeps the router's ICMP rate limit out of the picture.
        let cases = vec![
            case(&format!("route {d} tcp"), flow("client", d, 80, IPPROTO_TCP, 43000 + i as u16 * 10)),
            case(&format!("route {d} udp"), flow("client", d, 80, IPPROTO_UDP, 43500 + i as u16 * 10)),
        ];
        compare(&w, &cases);
    }
    // A mark set in mangle OUTPUT steers the client into table 100 (another path).
    let mut w = routed();
    w.veth("client", "eth1", Some("10.0.3.2/24"), "server", "eth1", Some("10.0.3.1/24"));
    w.ns("server").addr("lo", "10.0.9.9/32");
    w.ns("client").route_in(100, "10.0.9.9/32", Some("10.0.3.1"), Some("eth1")).rule_fwmark(100, 0x10, 0x10, 100);
    w.ns("router").route("10.0.9.9/32", Some("10.0.2.2"), None).ipt("filter", "FORWARD", R::new().d("10.0.9.9").j("DROP"));
    let cases = vec![case("unmarked via router", flow("client", "10.0.9.9", 80, IPPROTO_TCP, 44000))];
    compare(&w, &cases);
    w.ns("client").ipt("mangle", "OUTPUT", R::new().d("10.0.9.9").or_mark(0x10));
    // Keep rp_filter off on server eth1: the source chosen before the mark is 10.0.1.2.
    compare(&w, &[case("marked via table 100", flow("client", "10.0.9.9", 80, IPPROTO_TCP, 44100))]);
}

#[test]
fn kernel_engine_rp_filter() {
    // The client sends from 10.0.8.1 (an extra address); the router routes 10.0.8.0/24 via s0.
    for rp in ["0", "1", "2"] {
        let mut w = routed();
        w.ns("client").addr("lo", "10.0.8.1/32");
        w.ns("router").route("10.0.8.0/24", Some("10.0.2.2"), None).sysctl("net.ipv4.conf.all.rp_filter", rp);
        let spec = FlowSpec { from: FlowFrom::Client { ns: "client".into(), src: Some(ip("10.0.8.1")) }, ..flow("client", "10.0.2.2", 80, IPPROTO_TCP, 45000) };
        compare(&w, &[case(&format!("rp_filter={rp}"), spec)]);
    }
}

/// A kube-proxy node: pods on veths with /32 routes, a ClusterIP with two endpoints, a NodePort,
/// and a service without endpoints; an external client routes the service range via the node.
fn kube(node_default_route: bool) -> WorldB {
    let mut w = WorldB::new();
    w.veth("ext", "eth0", Some("10.1.0.2/24"), "node", "eth0", Some("10.1.0.1/24"));
    w.veth("node", "vpa", Some("10.244.0.1/32"), "pa", "eth0", Some("10.244.0.2/32"));
    w.veth("node", "vpb", Some("10.244.0.1/32"), "pb", "eth0", Some("10.244.0.3/32"));
    w.ns("ext").route("10.96.0.0/12", Some("10.1.0.1"), None);
    if node_default_route {
        w.ns("node").route("default", Some("10.1.0.2"), None);
    }
    w.ns("node").route("10.244.0.2/32", None, Some("vpa")).route("10.244.0.3/32", None, Some("vpb")).sysctl("net.ipv4.ip_forward", "1");
    for p in ["pa", "pb"] {
        w.ns(p).route("10.244.0.1/32", None, Some("eth0")).route("default", Some("10.244.0.1"), None).listen(IPPROTO_TCP, 8080).listen(IPPROTO_UDP, 5353);
    }
    let n = w.ns("node");
    n.ipt("nat", "PREROUTING", R::new().comment("kubernetes service portals").j("KUBE-SERVICES"));
    n.ipt("nat", "OUTPUT", R::new().comment("kubernetes service portals").j("KUBE-SERVICES"));
    n.ipt("nat", "POSTROUTING", R::new().comment("kubernetes postrouting rules").j("KUBE-POSTROUTING"));
    n.ipt("nat", "KUBE-MARK-MASQ", R::new().or_mark(0x4000));
    n.ipt(
        "nat",
        "KUBE-POSTROUTING",
        R::new().m("-m mark ! --mark 0x4000/0x4000", Match::Mark(MarkMatch { neg: true, value: 0x4000, mask: 0x4000 })).j("RETURN"),
    );
    n.ipt("nat", "KUBE-POSTROUTING", R::new().xor_mark(0x4000));
    n.ipt("nat", "KUBE-POSTROUTING", R::new().masquerade(true));
    for (proto, port, tport) in [("tcp", 80u16, 8080u16), ("udp", 53, 5353)] {
        let svc = format!("KUBE-SVC-{}", proto.to_uppercase());
        n.ipt("nat", "KUBE-SERVICES", R::new().d("10.96.0.10").p(proto).dport(port).j(&svc));
        n.ipt("nat", &svc, R::new().not_s("10.244.0.0/16").d("10.96.0.10").p(proto).dport(port).j("KUBE-MARK-MASQ"));
        n.ipt("nat", &svc, R::new().probability(0.5).j(&format!("KUBE-SEP-A{}", proto.to_uppercase())));
        n.ipt("nat", &svc, R::new().j(&format!("KUBE-SEP-B{}", proto.to_uppercase())));
        for (sep, ipaddr) in [("A", "10.244.0.2"), ("B", "10.244.0.3")] {
            let chain = format!("KUBE-SEP-{sep}{}", proto.to_uppercase());
            n.ipt("nat", &chain, R::new().s(ipaddr).j("KUBE-MARK-MASQ"));
            n.ipt("nat", &chain, R::new().p(proto).dnat(&format!("{ipaddr}:{tport}")));
        }
    }
    n.ipt("nat", "KUBE-SERVICES", R::new().dst_type("LOCAL").j("KUBE-NODEPORTS"));
    n.ipt("nat", "KUBE-NODEPORTS", R::new().p("tcp").dport(30080).j("KUBE-EXT-TCP"));
    n.ipt("nat", "KUBE-EXT-TCP", R::new().j("KUBE-MARK-MASQ"));
    n.ipt("nat", "KUBE-EXT-TCP", R::new().j("KUBE-SVC-TCP"));
    n.ipt("filter", "FORWARD", R::new().ctstate(&["NEW"]).j("KUBE-SERVICES"));
    n.ipt("filter", "OUTPUT", R::new().ctstate(&["NEW"]).j("KUBE-SERVICES"));
    n.ipt("filter", "INPUT", R::new().ctstate(&["NEW"]).j("KUBE-EXTERNAL-SERVICES"));
    n.ipt("filter", "FORWARD", R::new().ctstate(&["INVALID"]).j("DROP"));
    n.ipt("filter", "KUBE-SERVICES", R::new().d("10.96.0.11").p("tcp").comment("no endpoints").dport(80).reject(RejectWith::IcmpPortUnreachable));
    n.ipt("filter", "KUBE-EXTERNAL-SERVICES", R::new().dst_type("LOCAL").p("tcp").dport(30081).reject(RejectWith::IcmpPortUnreachable));
    w
}

#[test]
fn kernel_engine_kube_proxy_services() {
    // A fresh lab: the ICMP redirect sent for a packet leaving by its input device leaves a fresh
    // peer's ICMP tokens empty, so the REJECT's port-unreachable is not sent (nfpath models a
    // fresh inet_peer; an older peer with tokens left would let it through).
    compare(&kube(true), &[case("ext -> no-endpoint service (fresh peer)", flow("ext", "10.96.0.11", 80, IPPROTO_TCP, 46400))]);
    let w = kube(true);
    let cases = vec![
        cases_n("ext -> clusterIP tcp", flow("ext", "10.96.0.10", 80, IPPROTO_TCP, 46000), 6),
        cases_n("ext -> clusterIP udp", flow("ext", "10.96.0.10", 53, IPPROTO_UDP, 46100), 6),
        cases_n("pod -> clusterIP tcp", flow("pa", "10.96.0.10", 80, IPPROTO_TCP, 46200), 6),
        cases_n("pod -> clusterIP udp", flow("pb", "10.96.0.10", 53, IPPROTO_UDP, 46250), 6),
        cases_n("ext -> nodeport", flow("ext", "10.1.0.1", 30080, IPPROTO_TCP, 46300), 6),
        cases_n("ext -> rejected nodeport", flow("ext", "10.1.0.1", 30081, IPPROTO_TCP, 46500), 2),
        cases_n("node -> clusterIP via default route", flow("node", "10.96.0.10", 80, IPPROTO_TCP, 46600), 6),
    ];
    compare(&w, &cases);
    let w2 = kube(false);
    compare(&w2, &[case("node -> clusterIP without route", flow("node", "10.96.0.10", 80, IPPROTO_TCP, 46700))]);
}

/// The SYN goes client -> r1 -> server, the SYN/ACK comes back server -> r2 -> client.
fn asymmetric() -> WorldB {
    let mut w = WorldB::new();
    w.veth("client", "eth0", Some("10.0.1.2/24"), "r1", "c0", Some("10.0.1.1/24"));
    w.veth("client", "eth1", Some("10.0.4.2/24"), "r2", "c0", Some("10.0.4.1/24"));
    w.veth("r1", "s0", Some("10.0.2.1/24"), "server", "eth0", Some("10.0.2.2/24"));
    w.veth("r2", "s0", Some("10.0.5.1/24"), "server", "eth1", Some("10.0.5.2/24"));
    w.ns("client").route("default", Some("10.0.1.1"), None);
    w.ns("server").route("10.0.1.0/24", Some("10.0.5.1"), None).listen(IPPROTO_TCP, 80).listen(IPPROTO_UDP, 53);
    w.ns("r1").sysctl("net.ipv4.ip_forward", "1");
    w.ns("r2").sysctl("net.ipv4.ip_forward", "1").route("10.0.1.0/24", Some("10.0.4.2"), None);
    w
}

#[test]
fn kernel_engine_ctstate_invalid_on_asymmetric_return() {
    let cases = || vec![case("tcp", flow("client", "10.0.2.2", 80, IPPROTO_TCP, 47000)), case("udp", flow("client", "10.0.2.2", 53, IPPROTO_UDP, 47100))];
    compare(&asymmetric(), &cases());
    let mut w = asymmetric();
    w.ns("r2").ipt("filter", "FORWARD", R::new().ctstate(&["INVALID"]).j("DROP"));
    compare(&w, &cases());
    // ESTABLISHED-only forwarding on r1 (it sees only the client's side).
    let mut w = asymmetric();
    w.ns("r1").ipt("filter", "FORWARD", R::new().ctstate(&["ESTABLISHED"]).j("ACCEPT")).ipt("filter", "FORWARD", R::new().p("tcp").syn().j("ACCEPT")).policy(
        "filter",
        "FORWARD",
        Policy::Drop,
    );
    compare(&w, &cases());
}

#[test]
fn kernel_engine_loopback_redirect_and_local_dnat() {
    // The server connects to itself: plain, REDIRECT in nat OUTPUT, DNAT in nat OUTPUT to another
    // host, filter INPUT on lo, and SNAT in nat INPUT.
    let base = || {
        let mut w = routed();
        w.ns("server").listen(IPPROTO_TCP, 8081);
        w
    };
    let local = |port: u16, sport: u16| flow("server", "10.0.2.2", port, IPPROTO_TCP, sport);
    compare(&base(), &[case("self", local(80, 48000)), case("self closed", local(81, 48010))]);
    let mut w = base();
    w.ns("server").ipt("nat", "OUTPUT", R::new().p("tcp").dport(81).redirect(8081));
    compare(&w, &[case("self redirect", local(81, 48100))]);
    let mut w = base();
    w.ns("server").ipt("nat", "OUTPUT", R::new().p("tcp").d("10.0.2.2").dport(82).dnat("10.0.1.2:22"));
    w.ns("client").listen(IPPROTO_TCP, 22);
    compare(&w, &[case("self dnat to client", local(82, 48200))]);
    let mut w = base();
    w.ns("server").ipt("filter", "INPUT", R::new().i("lo").p("tcp").dport(80).reject(RejectWith::TcpReset));
    compare(&w, &[case("lo reject", local(80, 48300))]);
    let mut w = base();
    w.ns("server").ipt("nat", "INPUT", R::new().p("tcp").dport(8081).snat("127.0.0.1"));
    compare(&w, &[case("nat INPUT snat", local(8081, 48400))]);
}

#[test]
fn kernel_engine_ttl_expires_in_a_routing_loop() {
    let mut w = routed();
    w.veth("router", "l0", Some("10.0.7.1/24"), "r2", "l0", Some("10.0.7.2/24"));
    w.ns("router").route("10.9.0.0/24", Some("10.0.7.2"), None);
    w.ns("r2").route("default", Some("10.0.7.1"), None).sysctl("net.ipv4.ip_forward", "1");
    compare(&w, &[case("tcp loop", flow("client", "10.9.0.1", 80, IPPROTO_TCP, 49000)), case("udp loop", flow("client", "10.9.0.1", 80, IPPROTO_UDP, 49100))]);
}

#[test]
fn kernel_engine_every_builtin_chain() {
    // A tcp/80 DROP (and one DROP policy) in each built-in chain of raw, mangle and security, on
    // the server (local path) and on the router (forwarded path).
    let to = "10.0.2.2";
    let mut labs: Vec<WorldB> = Vec::new();
    for (table, chains) in [
        ("raw", &["PREROUTING", "OUTPUT"][..]),
        ("mangle", &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"][..]),
        ("security", &["INPUT", "FORWARD", "OUTPUT"][..]),
    ] {
        for chain in chains {
            for host in ["server", "router"] {
                let mut w = routed();
                // A reply-side rule (OUTPUT/POSTROUTING on the server) drops the SYN/ACK instead.
                w.ns(host).ipt(
                    table,
                    chain,
                    R::new()
                        .p("tcp")
                        .m(
                            "-m tcp --sport 80",
                            Match::Tcp(sim_core::model::ruleset::TcpMatch {
                                sport: Some(sim_core::model::types::Neg::pos(sim_core::model::types::PortRange::single(80))),
                                ..Default::default()
                            }),
                        )
                        .j("DROP"),
                );
                w.ns(host).ipt(table, chain, R::new().p("tcp").dport(80).j("DROP"));
                labs.push(w);
            }
        }
    }
    let mut w = routed();
    w.ns("router").policy("mangle", "FORWARD", Policy::Drop);
    labs.push(w);
    let mut w = routed();
    w.ns("server").policy("security", "INPUT", Policy::Drop);
    labs.push(w);
    for w in &labs {
        compare(w, &basic_cases(to));
    }
}

#[test]
fn kernel_engine_reject_after_dnat() {
    // The server DNATs :81 to :8080 and then rejects :8080 in INPUT. A TCP reset carries the
    // (unconfirmed) conntrack and is translated back; an ICMP error is looked up afresh.
    for with in [RejectWith::TcpReset, RejectWith::IcmpPortUnreachable, RejectWith::IcmpAdminProhibited] {
        let mut w = routed();
        w.ns("server").ipt("nat", "PREROUTING", R::new().p("tcp").dport(81).dnat(":8080"));
        w.ns("server").ipt("nat", "PREROUTING", R::new().p("udp").dport(54).dnat(":53"));
        w.ns("server").ipt("filter", "INPUT", R::new().p("tcp").dport(8080).reject(with));
        if with != RejectWith::TcpReset {
            w.ns("server").ipt("filter", "INPUT", R::new().p("udp").dport(53).reject(with));
        }
        let mut cases = vec![case("tcp dnat then reject", flow("client", "10.0.2.2", 81, IPPROTO_TCP, 50000))];
        if with != RejectWith::TcpReset {
            cases.push(case("udp dnat then reject", flow("client", "10.0.2.2", 54, IPPROTO_UDP, 50100)));
        }
        compare(&w, &cases);
    }
}

#[test]
fn kernel_engine_snat_and_masquerade_of_local_traffic() {
    let mut w = routed();
    w.ns("router").addr("lo", "10.0.2.100/32");
    w.ns("router").ipt("nat", "POSTROUTING", R::new().p("tcp").dport(80).o("s0").snat("10.0.2.100"));
    w.ns("router").ipt("nat", "POSTROUTING", R::new().p("udp").o("s0").masquerade(false));
    compare(
        &w,
        &[
            case("router snat tcp", flow("router", "10.0.2.2", 80, IPPROTO_TCP, 51000)),
            case("router masq udp", flow("router", "10.0.2.2", 53, IPPROTO_UDP, 51100)),
        ],
    );
    // The client's own POSTROUTING: SNAT to an extra address the router routes back.
    let mut w = routed();
    w.ns("client").addr("lo", "10.0.1.200/32");
    w.ns("router").route("10.0.1.200/32", Some("10.0.1.2"), None);
    w.ns("client").ipt("nat", "POSTROUTING", R::new().o("eth0").snat("10.0.1.200"));
    compare(&w, &basic_cases("10.0.2.2"));
}
