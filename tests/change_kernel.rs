//! What-if changes against the kernel: every command a change file can hold is applied twice, to
//! the model of a collected namespace (`sim_core::change::apply`) and to the namespace itself with
//! the real tools (`iptables`, `iptables-restore --noflush`, `ip route`, `ip rule`); the namespace
//! is collected again and its imported rules, routes and policy rules must equal the model's.
//! Commands the kernel (or the tool) refuses must be refused by the model too, at their line.

use sim_core::change;
use sim_core::diag::Severity;
use sim_core::model::route::Route;
use sim_core::model::ruleset::{Ruleset, TableName};
use sim_core::model::Namespace;
use sim_core::parse::iptables_save::{save_chain_header, save_rule};

/// One namespace `n` with a veth `eth0` (10.1.0.1/24) to a peer, a second veth `down0` left
/// down, and some rules, routes and a policy rule to change.
fn lab_ns(lab: &harness::Lab) -> harness::Ns {
    let (n, p) = (lab.ns("n"), lab.ns("p"));
    lab.veth((&n, "eth0"), (&p, "eth0"));
    n.sh("ip link add down0 type veth peer name down1");
    n.sh("ip addr add 10.1.0.1/24 dev eth0
         iptables -N KUBE-FORWARD
         iptables -A FORWARD -j KUBE-FORWARD
         iptables -A KUBE-FORWARD -p tcp --dport 22 -j ACCEPT
         iptables -A KUBE-FORWARD -s 10.9.0.0/16 -j DROP
         iptables -N EMPTY
         iptables -N REFD
         iptables -A INPUT -j REFD
         iptables -t nat -N KUBE-MARK-MASQ
         iptables -t nat -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
         ip route add 10.2.0.0/16 via 10.1.0.2
         ip route add 10.3.0.0/16 dev eth0 metric 5
         ip rule add fwmark 0x10 lookup 100 pref 100");
    n
}

fn load(ns: &harness::Ns) -> Namespace {
    let files = ns.collect().files();
    let p = sim_core::parse::snapshot::load("n", &files);
    assert!(!p.has_errors(), "{:?}", p.diagnostics);
    p.value
}

/// A ruleset in a form both sides print alike: per table, chain declarations sorted (iptables-save
/// sorts user chains), then each chain's rules in order; counters left out.
fn rules_text(rs: &Ruleset) -> String {
    let mut out = String::new();
    for name in TableName::ALL {
        let Some(t) = rs.table(name) else { continue };
        out.push_str(&format!("*{name}\n"));
        let mut heads: Vec<String> = t
            .chains
            .iter()
            .map(|c| {
                let mut h = String::new();
                save_chain_header(c, &mut h);
                h.split(" [").next().unwrap_or("").trim().to_string()
            })
            .collect();
        heads.sort();
        for h in heads {
            out.push_str(&h);
            out.push('\n');
        }
        let mut chains: Vec<_> = t.chains.iter().collect();
        chains.sort_by(|a, b| a.name.cmp(&b.name));
        for c in chains {
            for r in &c.rules {
                out.push_str(&save_rule(&c.name, r));
                out.push('\n');
            }
        }
    }
    out
}

/// Routes as `ip route` would list them, ignoring where each came from; sorted by table and
/// destination with the kernel's order kept among equal keys.
fn routes_text(routes: &[Route]) -> Vec<String> {
    let mut v: Vec<(u32, String, usize, String)> = routes
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let r = Route { origin: None, ..r.clone() };
            (r.table, r.dst.to_string(), i, format!("{r:?}"))
        })
        .collect();
    v.sort();
    v.into_iter().map(|x| x.3).collect()
}

/// Runs a change file on the namespace with the real tools: `*table` ... `COMMIT` blocks through
/// `iptables-restore --noflush`, every other non-comment line as a shell command. Returns the
/// 1-based line of the first command that failed.
fn kernel_apply(ns: &harness::Ns, text: &str) -> Option<u32> {
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim();
        if l.is_empty() || l.starts_with('#') {
            i += 1;
            continue;
        }
        if l.starts_with('*') {
            let start = i;
            let mut block = String::new();
            while i < lines.len() {
                block.push_str(lines[i]);
                block.push('\n');
                if lines[i].trim() == "COMMIT" {
                    break;
                }
                i += 1;
            }
            let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ns.sh_with_input("iptables-restore --noflush", &block))).is_ok();
            if !ok {
                return Some(start as u32 + 1);
            }
        } else if !ns.try_sh(l).status.success() {
            return Some(i as u32 + 1);
        }
        i += 1;
    }
    None
}

/// Applies `text` to both sides and compares them.
fn same_as_kernel(case: &str, text: &str) {
    let lab = harness::Lab::new("chk");
    let ns = lab_ns(&lab);
    let mut model = load(&ns);
    let p = change::apply(&mut model, "change.txt", text);
    let errors: Vec<String> = p.diagnostics.iter().filter(|d| d.severity == Severity::Error).map(|d| d.to_string()).collect();
    assert!(errors.is_empty(), "{case}: the model refused a change the kernel takes: {errors:?}");
    assert_eq!(kernel_apply(&ns, text), None, "{case}: the kernel refused the change");
    let kernel = load(&ns);
    assert_eq!(rules_text(&model.ruleset), rules_text(&kernel.ruleset), "{case}: iptables rules differ (left: model, right: kernel)");
    assert_eq!(routes_text(&model.routes), routes_text(&kernel.routes), "{case}: routes differ (left: model, right: kernel)");
    assert_eq!(model.rules, kernel.rules, "{case}: policy rules differ (left: model, right: kernel)");
}

#[test]
fn iptables_commands_do_what_iptables_does() {
    same_as_kernel(
        "iptables",
        "iptables -I KUBE-FORWARD 2 -p udp --dport 53 -j ACCEPT
iptables -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
iptables -D KUBE-FORWARD -s 10.9.0.0/16 -j DROP
iptables -w -R KUBE-FORWARD 1 -p tcp --dport 2222 -j ACCEPT
iptables -I KUBE-FORWARD -m comment --comment \"first one\" -j RETURN
iptables -D KUBE-FORWARD 2
iptables -t nat -N NEWC
iptables -A NEWC -t nat -j RETURN
iptables -t nat -I PREROUTING -j NEWC
iptables -P FORWARD DROP
iptables -X EMPTY
iptables -t mangle -A PREROUTING -i eth0 -j MARK --set-mark 0x1
iptables -Z
iptables -F REFD
",
    );
    same_as_kernel("flush and delete every chain", "iptables -t nat -F\niptables -t nat -X\niptables -F\niptables -X\n");
}

#[test]
fn restore_noflush_blocks_do_what_iptables_restore_does() {
    // Declaring an existing user chain flushes it; a built-in's policy is set; a new chain is
    // created; `-I` and `-A` work on the table as it is.
    same_as_kernel(
        "restore",
        "*filter
:FORWARD DROP [0:0]
:KUBE-FORWARD - [0:0]
:NEWCHAIN - [0:0]
-A NEWCHAIN -j RETURN
-A KUBE-FORWARD -j NEWCHAIN
-I FORWARD 1 -i eth0 -j ACCEPT
COMMIT
*nat
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -o eth0 -j MASQUERADE
COMMIT
",
    );
}

#[test]
fn ip_route_commands_do_what_the_kernel_does() {
    same_as_kernel(
        "routes",
        "ip route add 10.4.0.0/16 via 10.1.0.2
ip route add 10.5.0.0/24 dev eth0 metric 10
ip route add blackhole 10.6.0.0/16
ip route add 10.7.0.0/16 via 10.1.0.2 table 100
ip route append 10.2.0.0/16 via 10.1.0.3
ip route replace 10.3.0.0/16 via 10.1.0.2 metric 5
ip route change 10.4.0.0/16 via 10.1.0.4
ip route del 10.2.0.0/16 via 10.1.0.2
ip route add unreachable 10.8.0.0/16 metric 7
ip route add prohibit 10.9.0.0/16
ip route add local 10.10.0.1 dev eth0
ip route add 10.11.0.0/16 via 10.1.0.2 src 10.1.0.1 proto static
ip route add 10.12.0.0/16 via 10.1.0.99 dev eth0 onlink
ip route add default via 10.1.0.2 metric 100
ip -4 route add 10.13.0.0/16 dev eth0 scope link table 100
ip route del 10.3.0.0/16
",
    );
}

#[test]
fn ip_rule_commands_do_what_the_kernel_does() {
    same_as_kernel(
        "rules",
        "ip rule add from 10.1.0.0/24 lookup 100
ip rule add to 10.7.0.0/16 pref 200 blackhole
ip rule add iif eth0 lookup main
ip rule add fwmark 0x20/0xf0 table 100 pref 300
ip rule del fwmark 0x10 lookup 100
ip rule add from 10.5.0.0/16 lookup 100 pref 300
ip rule del pref 200
",
    );
}

#[test]
fn what_the_kernel_refuses_the_model_refuses_at_the_same_line() {
    let cases = [
        "iptables -A NOPE -j ACCEPT",
        "iptables -I KUBE-FORWARD 4 -j ACCEPT",
        "iptables -R KUBE-FORWARD 3 -j ACCEPT",
        "iptables -D KUBE-FORWARD 3",
        "iptables -D KUBE-FORWARD -p udp -j ACCEPT",
        "iptables -X KUBE-FORWARD",
        "iptables -X REFD",
        "iptables -X",
        "iptables -X INPUT",
        "iptables -P KUBE-FORWARD DROP",
        "iptables -P FORWARD REJECT",
        "iptables -N KUBE-FORWARD",
        "iptables -A FORWARD -j NOSUCHCHAIN",
        "iptables -t nat -A KUBE-MARK-MASQ -j DROP",
        "iptables -t nat -P PREROUTING DROP",
        "iptables -A FORWARD -p tcp --dprot 22 -j ACCEPT",
        "*filter\n-A FORWARD -j ACCEPT\n",
        "ip route add 10.2.0.0/16 via 10.1.0.9",
        "ip route add 10.20.0.1/16 dev eth0",
        "ip route add 10.21.0.0/16 via 10.99.0.1",
        "ip route add 10.22.0.0/16 dev down0",
        "ip route add 10.22.0.0/16 dev nosuchdev",
        "ip route change 10.23.0.0/16 dev eth0",
        "ip route del 10.24.0.0/16",
        "ip route del 10.2.0.0/16 metric 9",
        "ip route add 10.25.0.0/16 via 10.1.0.2 src 10.77.0.1",
        "ip route add blackhole 10.26.0.0/16 dev eth0",
        "ip route append 10.2.0.0/16 via 10.1.0.2",
        "ip rule del from 10.99.0.0/16",
        "ip rule add fwmark 0x10 lookup 100 pref 100",
    ];
    let lab = harness::Lab::new("chr");
    let ns = lab_ns(&lab);
    let base = load(&ns);
    for text in cases {
        // A harmless first line, so the refused command is on line 2.
        let text = format!("ip rule add pref 5000 lookup main\n{text}\n");
        let mut model = base.clone();
        let p = change::apply(&mut model, "change.txt", &text);
        let err = p.diagnostics.iter().find(|d| d.severity == Severity::Error);
        let kernel = kernel_apply(&ns, &text);
        // Put the namespace back for the next case.
        ns.sh("ip rule del pref 5000 lookup main");
        assert_eq!(kernel, Some(2), "{text}: the kernel took it");
        let err = err.unwrap_or_else(|| panic!("{text}: the model took what the kernel refused"));
        assert_eq!((err.span.file.as_str(), err.span.line), ("change.txt", 2), "{text}: {err}");
        let after = load(&ns);
        assert_eq!(rules_text(&after.ruleset), rules_text(&base.ruleset), "{text}: the refused command changed the kernel's rules");
        assert_eq!(routes_text(&after.routes), routes_text(&base.routes), "{text}: the refused command changed the kernel's routes");
    }
}
