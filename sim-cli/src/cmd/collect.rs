//! `nfpath collect`: writes a snapshot folder (interface.md §1) from the live namespace, by running
//! the same standard commands a user would run by hand, and keeping their output unmodified.

use crate::error::{CliError, CliResult, EXIT_OK};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Snapshot a live network namespace into a folder of plain tool outputs.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  nfpath collect --out snap/node-a\n  nfpath collect --out snap/pod-a1 --netns cni-1234\n\ncollect.log in the folder says which command ran, failed or was absent. A missing iptables-save or\nip is fatal (exit 2); every other tool is optional."
)]
pub struct Args {
    /// Folder to write (created if needed; existing files of the same names are replaced)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Collect inside this named namespace (as `ip netns exec NAME`) instead of the current one
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
}

/// One file of the snapshot and the command that produces it.
pub struct Source {
    pub file: &'static str,
    pub argv: &'static [&'static str],
    /// Without it the snapshot cannot be used (interface.md §1, "needed: yes").
    pub required: bool,
    /// Keep only lines starting with this (the net.* subset of `sysctl -a`).
    pub keep_prefix: Option<&'static str>,
}

/// The table of interface.md §1, in its order.
pub const SOURCES: &[Source] = &[
    Source { file: "iptables-save.txt", argv: &["iptables-save"], required: true, keep_prefix: None },
    Source { file: "ipset-save.txt", argv: &["ipset", "save"], required: false, keep_prefix: None },
    Source { file: "ip-link.json", argv: &["ip", "-j", "-d", "link", "show"], required: true, keep_prefix: None },
    Source { file: "ip-addr.json", argv: &["ip", "-j", "addr", "show"], required: true, keep_prefix: None },
    Source { file: "ip-route.json", argv: &["ip", "-j", "-d", "route", "show", "table", "all"], required: true, keep_prefix: None },
    Source { file: "ip-rule.json", argv: &["ip", "-j", "rule", "show"], required: false, keep_prefix: None },
    Source { file: "ip-neigh.json", argv: &["ip", "-j", "neigh", "show"], required: false, keep_prefix: None },
    Source { file: "bridge-fdb.json", argv: &["bridge", "-j", "fdb", "show"], required: false, keep_prefix: None },
    Source { file: "bridge-vlan.json", argv: &["bridge", "-j", "vlan", "show"], required: false, keep_prefix: None },
    Source { file: "sysctl.txt", argv: &["sysctl", "-a"], required: false, keep_prefix: Some("net.") },
    Source { file: "conntrack.txt", argv: &["conntrack", "-L"], required: false, keep_prefix: None },
    Source { file: "sockets.txt", argv: &["ss", "-Htulpn"], required: false, keep_prefix: None },
];

pub fn run(args: Args) -> CliResult<u8> {
    if let Some(ns) = &args.netns {
        check_netns(ns)?;
    }
    std::fs::create_dir_all(&args.out).map_err(|e| CliError::io(&args.out, "create the folder", &e))?;
    let mut log = String::new();
    let mut fatal = Vec::new();
    for src in SOURCES {
        let line = collect_one(src, args.netns.as_deref(), &args.out)?;
        if src.required && !line.starts_with("ok ") {
            fatal.push(src.file);
        }
        let _ = writeln!(log, "{line}");
    }
    for line in other_iptables_backend(args.netns.as_deref()) {
        let _ = writeln!(log, "{line}");
    }
    let log_path = args.out.join("collect.log");
    std::fs::write(&log_path, &log).map_err(|e| CliError::io(&log_path, "write", &e))?;
    if !fatal.is_empty() {
        return Err(CliError::at(log_path.display().to_string(), format!("could not collect {} (required); see the log", fatal.join(", "))));
    }
    eprintln!("nfpath: wrote {}", args.out.display());
    Ok(EXIT_OK)
}

fn command_for(argv: &[&str], netns: Option<&str>) -> Command {
    match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).args(argv);
            c
        }
        None => {
            let mut c = Command::new(argv[0]);
            c.args(&argv[1..]);
            c
        }
    }
}

fn check_netns(ns: &str) -> CliResult<()> {
    // `ip -n` enters the namespace like `ip netns exec` does, and needs no other tool on PATH.
    let out = Command::new("ip").args(["-n", ns, "link", "show", "lo"]).output();
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(CliError::unusable(format!("cannot enter network namespace {ns:?}: {}", String::from_utf8_lossy(&o.stderr).trim()))),
        Err(e) => Err(CliError::unusable(format!("cannot run ip to enter network namespace {ns:?}: {e}"))),
    }
}

/// Whether `tool` can be found on PATH (a missing tool is logged as absent, not as a failure).
fn on_path(tool: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else { return false };
    std::env::split_paths(&path).any(|d| d.join(tool).is_file())
}

/// Runs one command and writes its file; returns the log line (`ok`, `absent` or `failed`).
fn collect_one(src: &Source, netns: Option<&str>, out: &Path) -> CliResult<String> {
    let shown = src.argv.join(" ");
    if !on_path(src.argv[0]) {
        return Ok(format!("absent {}: {} not found on PATH", src.file, src.argv[0]));
    }
    let output = match command_for(src.argv, netns).output() {
        Ok(o) => o,
        Err(e) => return Ok(format!("failed {}: {shown}: {e}", src.file)),
    };
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first_err = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
    // `sysctl -a` exits non-zero when a few keys cannot be read, and still prints the rest.
    let tolerate = src.keep_prefix.is_some() && !text.is_empty();
    if !output.status.success() && !tolerate {
        return Ok(format!("failed {}: {shown} exited with {}: {first_err}", src.file, output.status));
    }
    if let Some(prefix) = src.keep_prefix {
        text = text.lines().filter(|l| l.starts_with(prefix)).flat_map(|l| [l, "\n"]).collect();
    }
    let path = out.join(src.file);
    std::fs::write(&path, &text).map_err(|e| CliError::io(&path, "write", &e))?;
    let mut line = format!("ok {}: {shown} ({} bytes)", src.file, text.len());
    if !output.status.success() {
        let _ = write!(line, "; exited with {}: {first_err}", output.status);
    }
    Ok(line)
}

/// iptables-save shows one backend only (legacy or nft). Rules left in the other one still act on
/// packets, so the log says when the other backend holds any.
fn other_iptables_backend(netns: Option<&str>) -> Vec<String> {
    let mut lines = Vec::new();
    for tool in ["iptables-legacy-save", "iptables-nft-save"] {
        if !on_path(tool) {
            continue;
        }
        let Ok(o) = command_for(&[tool], netns).output() else { continue };
        let text = String::from_utf8_lossy(&o.stdout);
        let rules = text.lines().filter(|l| l.starts_with("-A ")).count();
        lines.push(format!("note {tool}: {rules} rules"));
    }
    lines
}
