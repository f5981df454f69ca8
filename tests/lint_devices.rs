//! `nfpath lint`'s device checks (`sim_core::lint_devices`) on the bundled scenarios' collected
//! snapshots: each incident's broken state is named, its fixed state is not; and on one real
//! calico node with its state changed the way a failure would change it.

use sim_core::diag::Diagnostic;
use sim_core::engine::World;
use sim_core::lint_devices::{lint_devices, lint_world};
use sim_core::model::Namespace;
use sim_core::scenario::parse_cluster;
use sim_core::scenario::world::build_world;
use std::collections::BTreeMap;
use std::path::Path;

fn world(scenario: &str) -> World {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(scenario);
    let text = std::fs::read_to_string(dir.join("cluster.yaml")).expect("cluster.yaml");
    let c = parse_cluster("cluster.yaml", &text);
    let mut snaps = BTreeMap::new();
    for (ns, rel) in &c.value.namespaces {
        snaps.insert(ns.clone(), harness::read_snapshot_dir(&dir.join(rel)));
    }
    build_world("cluster.yaml", Some(&c.value), &snaps).value.expect("world")
}

fn codes(d: &[Diagnostic]) -> Vec<&str> {
    d.iter().map(|d| d.code.as_str()).collect()
}

#[test]
fn incident_1_fdb_entry_to_the_private_address_is_unreachable_through_the_underlay() {
    let d = lint_world(&world("incident-1-flannel-public-ip/broken"));
    let f = d.iter().find(|d| d.code == "fdb-destination-unreachable").unwrap_or_else(|| panic!("{d:#?}"));
    assert!(f.span.file.starts_with("node-a/"), "{f:?}");
    assert!(f.message.contains("dst 172.19.0.13") && f.message.contains("vpc-b") && f.message.contains("203.0.113.69"), "{}", f.message);
    let fixed = lint_world(&world("incident-1-flannel-public-ip/fixed"));
    let c = codes(&fixed);
    assert!(!c.contains(&"fdb-destination-unreachable") && !c.contains(&"fdb-destination-unknown"), "{fixed:#?}");
}

#[test]
fn incident_4_vlan_asymmetry_under_br_netfilter_is_named() {
    let d = lint_world(&world("incident-4-bridge-nf-desnat/broken"));
    let f = d.iter().find(|d| d.code == "br-netfilter-vlan-asymmetry").unwrap_or_else(|| panic!("{d:#?}"));
    assert!(f.message.contains("VLAN 178") && f.message.contains("eth1") && f.message.contains("veth2db2ad9c"), "{}", f.message);
    for fixed in ["incident-4-bridge-nf-desnat/fixed-bridge-nf-off", "incident-4-bridge-nf-desnat/untagged"] {
        let d = lint_world(&world(fixed));
        assert!(!codes(&d).contains(&"br-netfilter-vlan-asymmetry"), "{fixed}: {d:#?}");
    }
}

#[test]
fn healthy_scenarios_have_no_device_findings() {
    for s in ["kube-proxy-flannel", "kube-proxy-calico", "incident-5-calico-nodeport-walk/remote-endpoint-ipip"] {
        let w = world(s);
        for n in w.namespace_names() {
            let ns = w.namespace(n).expect("ns");
            let d = lint_devices(ns);
            assert!(d.is_empty(), "{s}/{n}: {d:#?}");
        }
    }
}

fn calico_node_a() -> Namespace {
    world("kube-proxy-calico").namespace("node-a").expect("node-a").clone()
}

#[test]
fn vxlan_neighbour_without_fdb_and_unroutable_remote_are_named() {
    let mut ns = calico_node_a();
    let keep = ns.fdb.clone();
    ns.fdb.retain(|e| e.dev != "vxlan.calico");
    // Keep one unrelated entry so the fdb counts as imported.
    assert!(!ns.fdb.is_empty());
    let d = lint_devices(&ns);
    let f = d.iter().find(|d| d.code == "vxlan-neighbour-without-fdb").unwrap_or_else(|| panic!("{d:#?}"));
    assert!(f.message.contains("10.244.2.0") && f.message.contains("66:00:00:00:00:02"), "{}", f.message);

    let mut ns = calico_node_a();
    ns.fdb = keep;
    for e in ns.fdb.iter_mut().filter(|e| e.dev == "vxlan.calico" && e.dst.is_some()) {
        e.dst = Some("10.99.0.1".parse().expect("ip"));
    }
    ns.routes.retain(|r| !r.dst.addr().is_unspecified() || r.dst.prefix_len() != 0);
    let d = lint_devices(&ns);
    assert!(d.iter().any(|d| d.code == "vxlan-remote-unroutable" && d.message.contains("dst 10.99.0.1")), "{d:#?}");
}

#[test]
fn routed_pod_without_proxy_arp_and_down_tunnel_are_named() {
    let mut ns = calico_node_a();
    let cali = ns.links.iter().find(|l| l.name.starts_with("cali")).map(|l| l.name.clone()).expect("cali veth");
    let key = format!("net.ipv4.conf.{cali}.proxy_arp");
    assert_eq!(ns.sysctls.values.get(&key).map(String::as_str), Some("1"));
    ns.sysctls.values.insert(key, "0".into());
    if let Some(l) = ns.links.iter_mut().find(|l| l.name == "vxlan.calico") {
        l.up = false;
    }
    let c: Vec<String> = lint_devices(&ns).into_iter().map(|d| d.code).collect();
    assert!(c.contains(&"routed-pod-without-proxy-arp".to_string()), "{c:?}");
    assert!(c.contains(&"tunnel-down".to_string()), "{c:?}");
}
