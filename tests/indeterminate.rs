//! A rule nfpath cannot read makes the outcomes that reach it indeterminate, naming its file and
//! line, and outcomes that never reach it are still decided. The unreadable rule is line 132 of
//! the corpus dump `rke-ipvs-cilium-nodelocaldns-garbled-dnat-unknownrepo.rules` (a DNAT target
//! printed by an iptables that did not understand the kernel's target revision).

use sim_core::engine::{FlowSpec, RunOptions, World};
use sim_core::trace::ClientResult;
use std::collections::BTreeMap;

const GARBLED: &str = "-A KUBE-SEP-XDAKEI2XLX7RCSFE -p tcp -m comment --comment \"default/kubernetes:https\" -m tcp -j DNAT --to-destination :0 --persistent --to-destination :0 --persistent --to-destination 0.0.0.0 --persistent";

fn node() -> BTreeMap<String, String> {
    let rules = format!(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:KUBE-SEP-XDAKEI2XLX7RCSFE - [0:0]\n:KUBE-SERVICES - [0:0]\n-A OUTPUT -j KUBE-SERVICES\n-A KUBE-SERVICES -d 10.43.0.1/32 -p tcp -m tcp --dport 443 -j KUBE-SEP-XDAKEI2XLX7RCSFE\n{GARBLED}\nCOMMIT\n"
    );
    let mut f = BTreeMap::new();
    f.insert("iptables-save.txt".to_string(), rules);
    f.insert(
        "ip-link.json".to_string(),
        r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"operstate":"UNKNOWN","link_type":"loopback","address":"00:00:00:00:00:00"},
            {"ifindex":2,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"operstate":"UP","link_type":"ether","address":"02:00:00:00:00:01"}]"#
            .to_string(),
    );
    f.insert(
        "ip-addr.json".to_string(),
        r#"[{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"}]},
            {"ifindex":2,"ifname":"eth0","addr_info":[{"family":"inet","local":"192.168.0.2","prefixlen":24,"scope":"global"}]}]"#
            .to_string(),
    );
    f.insert(
        "ip-route.json".to_string(),
        r#"[{"dst":"default","gateway":"192.168.0.1","dev":"eth0","flags":[]},
            {"dst":"192.168.0.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"192.168.0.2","flags":[]},
            {"type":"local","dst":"192.168.0.2","dev":"eth0","table":"local","protocol":"kernel","scope":"host","prefsrc":"192.168.0.2","flags":[]},
            {"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]}]"#
            .to_string(),
    );
    f
}

#[test]
fn flows_reaching_an_unreadable_rule_are_indeterminate_and_name_it() {
    let p = sim_core::parse::snapshot::load("node", &node());
    let unreadable = p.diagnostics.iter().find(|d| d.span.line == 10 && d.span.file.ends_with("iptables-save.txt"));
    assert!(unreadable.is_some(), "the garbled DNAT must be diagnosed at its line: {:#?}", p.diagnostics);
    let world = World::new(vec![p.value], &[]).expect("world");

    let r = world.run_flow(&FlowSpec::client("to-kubernetes", "node", [10, 43, 0, 1].into(), 443, 6), &RunOptions::default());
    assert_eq!(r.outcomes.len(), 1, "{r:#?}");
    let o = &r.outcomes[0];
    assert_eq!(o.result, ClientResult::Indeterminate, "{o:#?}");
    let why = o.indeterminate.clone().unwrap_or_default();
    assert!(why.contains("iptables-save.txt:10"), "the outcome must name the rule's file and line: {why}");

    // A flow that never reaches the rule is walked to its end: it leaves the node toward the
    // gateway (where nothing is modelled), and the unreadable rule plays no part.
    let r = world.run_flow(&FlowSpec::client("elsewhere", "node", [10, 43, 0, 1].into(), 80, 6), &RunOptions::default());
    assert_eq!(r.outcomes.len(), 1, "{r:#?}");
    assert_eq!(r.outcomes[0].disposition, sim_core::trace::Disposition::Exited, "{r:#?}");
    assert!(!r.outcomes[0].indeterminate.clone().unwrap_or_default().contains("iptables-save.txt:10"), "{r:#?}");
}
