//! The harness itself: namespaces are unique, deleted on drop even when the test panics, and
//! leftovers of a killed run are removed by the next lab with the same prefix.

use harness::Lab;
use std::process::Command;

fn netns_list() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect()
}

#[test]
fn namespaces_are_deleted_when_the_test_panics() {
    let names = std::sync::Mutex::new(Vec::new());
    let r = std::panic::catch_unwind(|| {
        let lab = Lab::new("clih");
        let (a, b) = (lab.ns("a"), lab.ns("b"));
        assert_eq!(lab.ns("a").name, a.name, "ns() returns the existing namespace");
        assert!(a.name.starts_with(&format!("nfp-clih-{}-", std::process::id())), "{}", a.name);
        lab.veth((&a, "eth0"), (&b, "eth0"));
        // The veth's peer really is in b, and nothing was left in the root namespace.
        assert!(b.sh("ip -o link show eth0").contains("eth0@"));
        names.lock().expect("lock").extend([a.name.clone(), b.name.clone()]);
        panic!("deliberate");
    });
    assert!(r.is_err());
    let left = netns_list();
    for n in names.lock().expect("lock").iter() {
        assert!(!left.contains(n), "{n} survived the panic");
    }
}

#[test]
fn sh_failure_shows_the_command_and_its_stderr() {
    let lab = Lab::new("clih");
    let a = lab.ns("a");
    let r = std::panic::catch_unwind(|| a.sh("ip link set nosuchdev up"));
    let msg = r.expect_err("must fail");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("ip link set nosuchdev up") && msg.contains("Cannot find device"), "{msg}");
}

#[test]
fn leftovers_of_dead_processes_are_removed() {
    // A pid above the kernel's pid_max cannot be alive.
    let pid_max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max").expect("pid_max").trim().parse().expect("int");
    let stale = format!("nfp-clistale-{}-0-x", pid_max + 1);
    let out = Command::new("ip").args(["netns", "add", &stale]).output().expect("ip");
    assert!(out.status.success());
    let _lab = Lab::new("clistale");
    let left = netns_list();
    if left.contains(&stale) {
        let _ = Command::new("ip").args(["netns", "del", &stale]).output();
        panic!("{stale} was not removed");
    }
}

#[test]
fn sh_with_input_feeds_stdin() {
    let lab = Lab::new("clih");
    let a = lab.ns("a");
    a.sh_with_input("iptables-restore", "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -s 192.0.2.0/24 -j DROP\nCOMMIT\n");
    let saved = a.sh("iptables-save -t filter");
    assert!(saved.contains(":FORWARD DROP") && saved.contains("-A INPUT -s 192.0.2.0/24 -j DROP"), "{saved}");
    assert_eq!(a.sh_with_input("wc -l", "x\ny\n").trim(), "2");
}
