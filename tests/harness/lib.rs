//! Test support: real network namespaces, the `nfpath probe` ends, and snapshot collection.
//!
//! Every kernel test builds its topology inside namespaces owned by a [`Lab`]; nothing is ever
//! attached to the root namespace, and the namespaces are deleted when the `Lab` is dropped (also
//! when the test panics). Names are `nfp-<prefix>-<pid>-<n>-<short>`, so tests run in parallel,
//! and namespaces left by a killed run (dead pid) are removed by the next `Lab::new` with that
//! prefix.
//!
//! ```no_run
//! let lab = harness::Lab::new("doc");
//! let (a, b) = (lab.ns("a"), lab.ns("b"));
//! lab.veth((&a, "eth0"), (&b, "eth0"));
//! a.sh("ip addr add 10.0.0.1/24 dev eth0");
//! b.sh("ip addr add 10.0.0.2/24 dev eth0");
//! let server = b.listen(harness::Proto::Tcp, 80);
//! let c = a.connect("10.0.0.2:80", harness::Proto::Tcp);
//! assert_eq!(c.result, "connected");
//! assert_eq!(server.wait_for(1)[0].local.to_string(), "10.0.0.2:80");
//! ```
//!
//! The `nfpath` binary: `CARGO_BIN_EXE_nfpath` exists only for tests of the `sim-cli` package, so
//! [`nfpath_bin`] runs `cargo build -p sim-cli --bin nfpath` once per test process, for the same
//! profile and target folder as the running test, and uses `target/<profile>/nfpath`. The build is
//! a no-op when it is fresh, and it can never pick up a stale binary. `NFPATH_BIN=/path` overrides.

pub mod conformance;

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

static LAB_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Panics with a clear message unless the process is root and can create network namespaces.
/// Kernel tests call it (through [`Lab::new`]) so that they fail, never skip, where they cannot run.
pub fn require_root() {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    let r = CHECK.get_or_init(|| {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().nth(1));
        if uid != Some("0") {
            return Err(format!("kernel tests need root (effective uid is {uid:?}); run the suite as root, as CI does"));
        }
        let name = format!("nfp-check-{}", std::process::id());
        let add = run_argv(&["ip", "netns", "add", &name]);
        if !add.status.success() {
            return Err(format!("kernel tests need network namespaces, but `ip netns add {name}` failed: {}", String::from_utf8_lossy(&add.stderr).trim()));
        }
        let up = run_argv(&["ip", "-n", &name, "link", "set", "lo", "up"]);
        let _ = run_argv(&["ip", "netns", "del", &name]);
        if !up.status.success() {
            return Err(format!("cannot configure a fresh namespace: {}", String::from_utf8_lossy(&up.stderr).trim()));
        }
        Ok(())
    });
    if let Err(msg) = r {
        panic!("\n\n*** {msg} ***\n(kernel tests fail rather than skip: see tests/harness/lib.rs)\n\n");
    }
}

fn run_argv(argv: &[&str]) -> Output {
    Command::new(argv[0]).args(&argv[1..]).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", argv.join(" ")))
}

fn describe_failure(what: &str, out: &Output) -> String {
    format!(
        "{what}\n  status: {}\n  stdout: {}\n  stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

/// The freshly built `nfpath` binary (see the module documentation for how it is found).
pub fn nfpath_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("NFPATH_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().expect("current_exe");
        // Tests and benches run from target/<profile>/deps/<name>-<hash>.
        let profile_dir = exe
            .ancestors()
            .find(|p| p.parent().is_some_and(|d| d.file_name().is_some_and(|n| n == "deps")))
            .and_then(|p| p.parent())
            .and_then(|deps| deps.parent())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("debug"));
        let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
        let profile = profile_dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug").to_string();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(["build", "--quiet", "-p", "sim-cli", "--bin", "nfpath"]).env("CARGO_TARGET_DIR", &target_dir);
        match profile.as_str() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        let out = cmd.output().expect("cannot run cargo to build nfpath");
        assert!(out.status.success(), "{}", describe_failure("building nfpath for the tests failed", &out));
        let bin = profile_dir.join("nfpath");
        assert!(bin.is_file(), "nfpath was built but {} does not exist", bin.display());
        bin
    })
}

/// A set of network namespaces that lives as long as the value.
pub struct Lab {
    base: String,
    namespaces: Mutex<Vec<Ns>>,
}

impl Lab {
    /// A new lab; `prefix` names the test area (keep it short: `cli`, `eng`, `conf`...).
    pub fn new(prefix: &str) -> Lab {
        require_root();
        assert!(!prefix.is_empty() && prefix.chars().all(|c| c.is_ascii_alphanumeric()), "lab prefix must be short ASCII letters/digits, got {prefix:?}");
        remove_stale(prefix);
        let n = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
        Lab { base: format!("nfp-{prefix}-{}-{n}", std::process::id()), namespaces: Mutex::new(Vec::new()) }
    }

    /// The common start of this lab's namespace names.
    pub fn name(&self) -> &str {
        &self.base
    }

    /// The namespace called `short` in this lab, created (with `lo` up) on first use.
    pub fn ns(&self, short: &str) -> Ns {
        let mut list = self.namespaces.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ns) = list.iter().find(|n| n.short == short) {
            return ns.clone();
        }
        let name = format!("{}-{short}", self.base);
        let out = run_argv(&["ip", "netns", "add", &name]);
        assert!(out.status.success(), "{}", describe_failure(&format!("ip netns add {name}"), &out));
        let ns = Ns { name, short: short.to_string() };
        list.push(ns.clone());
        drop(list);
        ns.sh("ip link set lo up");
        ns
    }

    /// A veth pair with one end in each namespace, both up. Built from inside `a`, so nothing
    /// ever exists in the root namespace, even for a moment.
    pub fn veth(&self, (a, ifa): (&Ns, &str), (b, ifb): (&Ns, &str)) {
        a.sh(&format!("ip link add {ifa} type veth peer name {ifb} netns {}", b.name));
        a.sh(&format!("ip link set {ifa} up"));
        b.sh(&format!("ip link set {ifb} up"));
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let list = self.namespaces.lock().unwrap_or_else(|p| p.into_inner());
        for ns in list.iter().rev() {
            // Kill what still runs inside (a listener whose handle was leaked), then delete.
            let _ = Command::new("ip").args(["netns", "pids", &ns.name]).output().map(|o| {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            });
            let _ = Command::new("ip").args(["netns", "del", &ns.name]).output();
        }
    }
}

/// Deletes `nfp-<prefix>-<pid>-...` namespaces whose creating process is gone.
fn remove_stale(prefix: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return };
    let start = format!("nfp-{prefix}-");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else { continue };
        let Some(rest) = name.strip_prefix(&start) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

/// The probe's protocol. For `Icmp` (IPv4 echo) the listener's port is ignored and the connect
/// target is a bare address (`"10.0.0.2"`); addresses then carry port 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
}

impl Proto {
    fn flag(self) -> &'static str {
        match self {
            Proto::Tcp => "--tcp",
            Proto::Udp => "--udp",
            Proto::Icmp => "--icmp",
        }
    }
}

/// `ADDR:PORT`, or a bare address (ICMP) as port 0.
fn parse_endpoint(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>().or_else(|_| s.parse::<std::net::IpAddr>().map(|ip| SocketAddr::new(ip, 0))).map_err(|e| format!("{s:?}: {e}"))
}

/// One network namespace of a lab.
#[derive(Clone, Debug)]
pub struct Ns {
    /// The full name, as `ip netns` knows it.
    pub name: String,
    /// The name given to [`Lab::ns`].
    pub short: String,
}

/// Options of `nfpath probe listen`.
#[derive(Clone, Debug, Default)]
pub struct ListenOpts {
    pub bind: Option<String>,
    pub count: Option<u64>,
    /// Defaults to 30 s so that a listener outlives no test by long, even if its test is killed.
    pub timeout_ms: Option<u64>,
}

/// Options of `nfpath probe connect`.
#[derive(Clone, Debug, Default)]
pub struct ConnectOpts {
    pub src: Option<String>,
    pub sport: Option<u16>,
    /// Defaults to 1000 ms.
    pub timeout_ms: Option<u64>,
}

impl Ns {
    /// Runs a shell script (`sh -ec`) inside the namespace and returns its stdout; panics with the
    /// script, status and stderr when it fails.
    pub fn sh(&self, script: &str) -> String {
        let out = self.try_sh(script);
        assert!(out.status.success(), "{}", describe_failure(&format!("in {}: {script}", self.name), &out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Like [`Ns::sh`] but returns the output whatever the status.
    pub fn try_sh(&self, script: &str) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, "sh", "-ec", script])
            .output()
            .unwrap_or_else(|e| panic!("cannot run ip netns exec {}: {e}", self.name))
    }

    /// Runs a shell script with `input` on its stdin, e.g. `ns.sh_with_input("iptables-restore",
    /// dump)`; panics like [`Ns::sh`] when it fails.
    pub fn sh_with_input(&self, script: &str, input: &str) -> String {
        use std::io::Write;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "sh", "-ec", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run ip netns exec {}: {e}", self.name));
        let mut stdin = child.stdin.take().expect("piped stdin");
        let data = input.as_bytes().to_vec();
        // Written from a thread so that a script printing a lot cannot deadlock against us.
        let writer = std::thread::spawn(move || stdin.write_all(&data));
        let out = child.wait_with_output().unwrap_or_else(|e| panic!("waiting for {script}: {e}"));
        let _ = writer.join();
        assert!(out.status.success(), "{}", describe_failure(&format!("in {}: {script} (with input)", self.name), &out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Turns IPv6 off in the namespace (before devices are added to it): no link-local addresses,
    /// router solicitations or DAD, so state stays still between two looks.
    pub fn disable_ipv6(&self) {
        self.sh("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1");
    }

    /// Runs `nfpath ARGS` inside the namespace.
    pub fn nfpath(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .arg(nfpath_bin())
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run nfpath in {}: {e}", self.name))
    }

    /// Starts `nfpath probe listen` on `port` and returns once the socket is bound.
    pub fn listen(&self, proto: Proto, port: u16) -> Listener {
        self.listen_with(proto, port, ListenOpts::default())
    }

    pub fn listen_with(&self, proto: Proto, port: u16, opts: ListenOpts) -> Listener {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(nfpath_bin()).args(["probe", "listen", proto.flag()]);
        if proto != Proto::Icmp {
            cmd.arg(port.to_string());
        }
        if let Some(b) = &opts.bind {
            cmd.args(["--bind", b]);
        }
        if let Some(c) = opts.count {
            cmd.args(["--count", &c.to_string()]);
        }
        cmd.args(["--timeout-ms", &opts.timeout_ms.unwrap_or(30_000).to_string()]);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start nfpath probe listen in {}: {e}", self.name));
        let received = Arc::new(Mutex::new(Vec::new()));
        let stderr_lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (ready_tx, ready_rx) = mpsc::channel();
        {
            let lines = Arc::clone(&stderr_lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if line.starts_with("nfpath: listening ") {
                        let _ = ready_tx.send(());
                    }
                    lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        {
            let received = Arc::clone(&received);
            let errors = Arc::clone(&stderr_lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    // A line that does not parse is kept with the stderr lines, which wait_for shows.
                    match Received::parse(&line) {
                        Ok(r) => received.lock().unwrap_or_else(|p| p.into_inner()).push(r),
                        Err(e) => errors.lock().unwrap_or_else(|p| p.into_inner()).push(format!("unparsable stdout line {line:?}: {e}")),
                    }
                }
            });
        }
        let mut listener = Listener { child, received, stderr: stderr_lines, what: format!("{} {proto:?} {port}", self.name) };
        if ready_rx.recv_timeout(Duration::from_secs(10)).is_err() {
            let _ = listener.child.kill();
            let status = listener.child.wait().ok();
            std::thread::sleep(Duration::from_millis(50));
            panic!("nfpath probe listen in {} did not start ({status:?}): {}", self.name, listener.stderr.lock().unwrap_or_else(|p| p.into_inner()).join("\n"));
        }
        listener
    }

    /// Runs `nfpath probe connect TARGET` once and returns what the client saw.
    pub fn connect(&self, target: &str, proto: Proto) -> Connect {
        self.connect_with(target, proto, ConnectOpts::default())
    }

    pub fn connect_with(&self, target: &str, proto: Proto, opts: ConnectOpts) -> Connect {
        let mut args: Vec<String> = vec!["probe".into(), "connect".into(), target.into(), proto.flag().into()];
        if let Some(s) = &opts.src {
            args.extend(["--src".into(), s.clone()]);
        }
        if let Some(p) = opts.sport {
            args.extend(["--sport".into(), p.to_string()]);
        }
        args.extend(["--timeout-ms".into(), opts.timeout_ms.unwrap_or(1000).to_string()]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.nfpath(&argv);
        assert!(out.status.success(), "{}", describe_failure(&format!("in {}: nfpath {}", self.name, args.join(" ")), &out));
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().next().unwrap_or("");
        Connect::parse(line).unwrap_or_else(|e| panic!("probe connect printed {line:?}: {e}"))
    }

    /// Runs `nfpath collect --netns` on this namespace into a fresh temporary folder.
    pub fn collect(&self) -> Snapshot {
        let dir = tempfile::Builder::new().prefix("nfp-snap-").tempdir().expect("temp dir");
        let out =
            Command::new(nfpath_bin()).args(["collect", "--out"]).arg(dir.path()).args(["--netns", &self.name]).output().expect("cannot run nfpath collect");
        assert!(out.status.success(), "{}", describe_failure(&format!("nfpath collect --netns {}", self.name), &out));
        Snapshot { dir }
    }
}

/// Runs `nfpath ARGS` in the test's own namespace (for commands that touch no network: `show`,
/// `trace`, `test` on snapshot folders).
pub fn nfpath(args: &[&str]) -> Output {
    Command::new(nfpath_bin()).args(args).output().unwrap_or_else(|e| panic!("cannot run nfpath: {e}"))
}

/// A running `nfpath probe listen`; killed when dropped.
pub struct Listener {
    child: Child,
    received: Arc<Mutex<Vec<Received>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    what: String,
}

impl Listener {
    /// The requests seen so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits (up to 5 s) until at least `n` requests arrived, and returns all seen; panics if not.
    pub fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let seen = self.received();
            if seen.len() >= n {
                return seen;
            }
            assert!(Instant::now() < deadline, "listener {} saw {} requests, expected {n}: {seen:?}\nits stderr: {:?}", self.what, seen.len(), self.stderr());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The listener's stderr so far (its `listening` line, warnings).
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request as the listener saw it: `peer` is the source, `local` the destination, after any
/// NAT on the way (port 0 for ICMP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub proto: String,
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

impl Received {
    fn parse(line: &str) -> Result<Received, String> {
        let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).ok_or_else(|| format!("no {k}"));
        Ok(Received { proto: field("proto")?.to_string(), peer: parse_endpoint(field("peer")?)?, local: parse_endpoint(field("local")?)? })
    }
}

/// What `nfpath probe connect` reported.
#[derive(Clone, Debug)]
pub struct Connect {
    /// `connected`, `refused`, `timeout` or `error:ERRNO`.
    pub result: String,
    /// The client socket's address after the attempt (`0.0.0.0:0` style when never bound).
    pub local: Option<SocketAddr>,
    pub raw: Value,
}

impl Connect {
    fn parse(line: &str) -> Result<Connect, String> {
        let raw: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let result = raw.get("result").and_then(Value::as_str).ok_or("no result")?.to_string();
        let local = match raw.get("local").and_then(Value::as_str) {
            Some(s) => Some(parse_endpoint(s)?),
            None => None,
        };
        Ok(Connect { result, local, raw })
    }
}

/// A collected snapshot folder, deleted when dropped.
pub struct Snapshot {
    pub dir: tempfile::TempDir,
}

impl Snapshot {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The snapshot's files (not `collect.log`), name -> text: what sim-core's importers take.
    pub fn files(&self) -> BTreeMap<String, String> {
        read_snapshot_dir(self.path())
    }

    /// One file's text; panics if absent.
    pub fn file(&self, name: &str) -> String {
        let p = self.path().join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }
}

/// Reads every regular file of a snapshot folder except `collect.log`.
pub fn read_snapshot_dir(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let entry = entry.expect("dir entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "collect.log" || !entry.path().is_file() {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
        files.insert(name, text);
    }
    files
}
