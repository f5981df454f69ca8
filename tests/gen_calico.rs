//! The calico-felix generator against the kernel: the generated sets are loaded with
//! `ipset restore` and the rules with `iptables-restore` into a throwaway network namespace
//! (legacy and nf_tables backends), and `iptables-save` must print the same text back, modulo
//! header comments and counters.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use sim_core::gen::calico::{self, CalicoConfig, Encapsulation};

/// A network namespace that exists for the life of the value.
struct Netns {
    name: String,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("nfp-gen-{}-{tag}", std::process::id());
        let out = Command::new("ip").args(["netns", "add", &name]).output();
        match out {
            Ok(o) if o.status.success() => Netns { name },
            Ok(o) => panic!(
                "KERNEL TEST CANNOT RUN: `ip netns add {name}` failed ({}): {}. \
                 These tests need root and network namespaces.",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!("KERNEL TEST CANNOT RUN: cannot execute `ip`: {e}"),
        }
    }

    /// Runs `cmd` inside the namespace with `stdin`, panicking with its stderr on failure.
    fn run(&self, cmd: &[&str], stdin: &str) -> String {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(cmd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
        let mut input = child.stdin.take().expect("stdin is piped");
        let text = stdin.to_string();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(text.as_bytes());
        });
        let out = child.wait_with_output().expect("wait for child");
        let _ = writer.join();
        assert!(out.status.success(), "{cmd:?} in {} failed ({}): {}", self.name, out.status, String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8 output")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Table name -> its lines, without `#` comments and with chain counters zeroed.
fn tables(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            current = Some(name.to_string());
        }
        let key = current.clone().unwrap_or_default();
        let line = match (line.starts_with(':'), line.rfind(" [")) {
            (true, Some(i)) => format!("{} [0:0]", &line[..i]),
            _ => line.to_string(),
        };
        out.entry(key).or_default().push(line);
    }
    out
}

/// Restores `dump` with the given backend in a fresh namespace and compares the save.
fn assert_roundtrip(tag: &str, backend: &str, dump: &str, ipset: &str) {
    let ns = Netns::new(&format!("{tag}-{backend}"));
    // The sets referenced by -m set must exist before iptables-restore accepts the rules.
    ns.run(&["ipset", "restore"], ipset);
    // -w: other tests may hold the xtables lock (legacy backend) at the same moment.
    ns.run(&[&format!("iptables-{backend}-restore"), "-w"], dump);
    let saved = ns.run(&[&format!("iptables-{backend}-save")], "");
    let want = tables(dump);
    let got = tables(&saved);
    for (table, lines) in &want {
        let got_lines = got.get(table).unwrap_or_else(|| panic!("{backend}: table {table} missing from iptables-save output"));
        if got_lines != lines {
            let first = lines.iter().zip(got_lines).position(|(a, b)| a != b).unwrap_or(lines.len().min(got_lines.len()));
            panic!(
                "{backend}: table {table} differs at its line {first}\n generated: {:?}\n     saved: {:?}\n({} vs {} lines)",
                lines.get(first),
                got_lines.get(first),
                lines.len(),
                got_lines.len()
            );
        }
    }
    // Tables we did not write may exist in the namespace only as empty built-ins.
    for (table, lines) in &got {
        if !want.contains_key(table) {
            assert!(lines.iter().all(|l| !l.starts_with("-A ")), "{backend}: unexpected rules in table {table}");
        }
    }
}

#[test]
fn synthetic_vxlan_node_roundtrips_legacy_and_nft() {
    let s = calico::synthetic(25, 1);
    assert!(s.dump.iptables.contains("-g cali-fw-cali"));
    assert_roundtrip("cal-vx", "legacy", &s.dump.iptables, &s.dump.ipset);
    assert_roundtrip("cal-vx", "nft", &s.dump.iptables, &s.dump.ipset);
}

#[test]
fn ipip_node_without_nat_outgoing_roundtrips_legacy_and_nft() {
    let mut cfg: CalicoConfig = calico::synthetic(8, 2).config;
    cfg.encapsulation = Encapsulation::IPIP;
    cfg.masq_pools.clear();
    cfg.mark_mask = 0x00ff_f000;
    let d = calico::render(&cfg);
    assert!(d.iptables.contains("-o tunl0 -m comment"));
    assert!(d.iptables.contains("-p ipencap -m comment"));
    assert_roundtrip("cal-ipip", "legacy", &d.iptables, &d.ipset);
    assert_roundtrip("cal-ipip", "nft", &d.iptables, &d.ipset);
}

#[test]
fn the_comparison_catches_text_iptables_save_would_rewrite() {
    // Comment before the interface is not save order: the round trip must notice.
    let not_normal = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                      -A FORWARD -m comment --comment \"cali:x\" -i cali+ -j ACCEPT\nCOMMIT\n";
    let result = std::panic::catch_unwind(|| assert_roundtrip("cal-neg", "legacy", not_normal, ""));
    assert!(result.is_err(), "a non-normalised dump passed the round trip");
}

#[test]
fn vxlan_and_ipip_node_roundtrips_legacy_and_nft() {
    let mut cfg: CalicoConfig = calico::synthetic(6, 3).config;
    cfg.encapsulation = Encapsulation::BOTH;
    let d = calico::render(&cfg);
    assert!(d.iptables.contains("-o tunl0 -m comment") && d.iptables.contains("-o vxlan.calico"));
    assert_roundtrip("cal-both", "legacy", &d.iptables, &d.ipset);
    assert_roundtrip("cal-both", "nft", &d.iptables, &d.ipset);
}
