//! The `nfpath` binary's outside: help with an example per command, completions, error format
//! (`nfpath: error: ...`) and exit codes (0 ok, 2 input unusable), no panics on bad input.

use std::process::{Command, Output};

fn nfpath(args: &[&str]) -> Output {
    Command::new(harness::nfpath_bin()).args(args).env("NO_COLOR", "1").output().expect("run nfpath")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const COMMANDS: &[&[&str]] = &[&["collect"], &["show"], &["probe"], &["probe", "listen"], &["probe", "connect"], &["completions"]];

#[test]
fn every_command_has_help_with_an_example() {
    let top = nfpath(&["--help"]);
    assert_eq!(top.status.code(), Some(0));
    for cmd in COMMANDS {
        let name = cmd.last().expect("name");
        assert!(cmd.len() > 1 || text(&top.stdout).contains(name), "top-level help lists {name}");
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = nfpath(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let help = text(&out.stdout);
        assert!(help.contains("Example"), "nfpath {} --help has no example:\n{help}", cmd.join(" "));
        assert!(help.contains(&format!("nfpath {}", cmd[0])), "example runs the command itself:\n{help}");
    }
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef nfpath"), ("fish", "complete -c nfpath")] {
        let out = nfpath(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = text(&out.stdout);
        assert!(script.contains(marker), "{shell} completion lacks {marker:?}");
        assert!(script.contains("collect") && script.contains("probe"), "{shell} completion knows the commands");
    }
    let out = nfpath(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn usage_errors_exit_2_without_panicking() {
    for args in [
        &["no-such-command"][..],
        &["probe", "connect", "10.0.0.1:80:1", "--tcp"],
        &["probe", "connect", "10.0.0.1:99999", "--tcp"],
        &["probe", "connect", "10.0.0.1:80"],
        &["probe", "connect", "10.0.0.1:80", "--tcp", "--udp"],
        &["probe", "listen", "--tcp", "x"],
        &["collect"],
        &["show"],
    ] {
        let out = nfpath(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(err.starts_with("error: "), "{args:?}: clap's usage error: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn probe_arguments_that_do_not_fit_together_exit_2() {
    for (args, msg) in [
        (&["probe", "connect", "10.0.0.1", "--tcp"][..], "nfpath: error: --tcp and --udp need ADDR:PORT, found 10.0.0.1"),
        (&["probe", "connect", "10.0.0.1:7", "--icmp"][..], "nfpath: error: --icmp takes an IPv4 address without a port, found 10.0.0.1:7"),
        (&["probe", "connect", "2001:db8::1", "--icmp"][..], "nfpath: error: --icmp takes an IPv4 address"),
    ] {
        let out = nfpath(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).starts_with(msg), "{args:?}: {}", text(&out.stderr));
    }
}

#[test]
fn show_of_unusable_input_names_the_place_and_exits_2() {
    let out = nfpath(&["show", "/nonexistent/nfp-snapshot"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.starts_with("nfpath: error: /nonexistent/nfp-snapshot: cannot read the snapshot folder"), "{err}");
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("iptables-save.txt"), b"*filter\n\xfe\n").expect("write");
    let out = nfpath(&["show", dir.path().to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("iptables-save.txt:2:1: not UTF-8 text"), "{err}");
    assert!(!err.contains('\x1b'), "NO_COLOR and a pipe: no colour");
}

#[test]
fn probe_listen_reports_a_port_it_cannot_bind() {
    // Binding an address this host does not have fails with EADDRNOTAVAIL; no namespace needed.
    let out = nfpath(&["probe", "listen", "--tcp", "8080", "--bind", "192.0.2.77", "--timeout-ms", "10"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.starts_with("nfpath: error: cannot bind 192.0.2.77:8080:"), "{err}");
}

#[test]
fn a_closed_pipe_is_not_a_crash() {
    use std::process::Stdio;
    let mut child = Command::new(harness::nfpath_bin()).args(["completions", "bash"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
