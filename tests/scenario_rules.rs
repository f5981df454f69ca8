//! The kube-proxy rules files of the bundled scenarios are nfpath's generator's output
//! (`sim_core::gen::kube_proxy`), with the chain names some incidents' write-ups show put in place
//! of the generated hashes. This test says how each file was made and fails when one drifts;
//! `NFPATH_BLESS=1 cargo test --test scenario_rules` rewrites them.

use sim_core::gen::calico::{self, CalicoConfig, Encapsulation, Workload};
use sim_core::gen::kube_proxy::{render, Endpoint, KubeProxyConfig, LocalDetector, Protocol, ServiceSpec, TrafficPolicy};
use std::net::Ipv4Addr;
use std::path::Path;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("ip")
}

fn ep(a: &str, port: u16, local: bool) -> Endpoint {
    Endpoint { ip: ip(a), port, local }
}

fn svc(ns: &str, name: &str, port_name: &str, vip: &str, port: u16, eps: Vec<Endpoint>) -> ServiceSpec {
    let mut s = ServiceSpec::cluster_ip(ns, name, port_name, Protocol::Tcp, ip(vip), port);
    s.endpoints = eps;
    s
}

fn cfg(node_ip: &str, cluster: &str, pod_cidr: &str, services: Vec<ServiceSpec>) -> KubeProxyConfig {
    KubeProxyConfig {
        node_ip: ip(node_ip),
        cluster_cidr: cluster.parse().expect("cidr"),
        node_pod_cidr: pod_cidr.parse().expect("cidr"),
        services,
        header: None,
        ..KubeProxyConfig::default()
    }
}

/// Renders and renames the chains of service `s` (SVC and first SEP) to the write-up's names.
fn render_renamed(c: &KubeProxyConfig, renames: &[(&ServiceSpec, &str, &str)]) -> String {
    let mut text = render(c);
    for (s, svc_name, sep_name) in renames {
        text = text.replace(&s.svc_chain(), svc_name);
        if let Some(e) = s.endpoints.first() {
            text = text.replace(&s.sep_chain(e), sep_name);
        }
    }
    text
}

/// Incident 1: default/nginx, ClusterIP 10.110.36.99:80 -> 10.244.1.2:80 on node B.
fn incident1(node_ip: &str, pod_cidr: &str, endpoint_local: bool) -> String {
    let s = svc("default", "nginx", "", "10.110.36.99", 80, vec![ep("10.244.1.2", 80, endpoint_local)]);
    let c = cfg(node_ip, "10.244.0.0/16", pod_cidr, vec![s.clone()]);
    render_renamed(&c, &[(&s, "KUBE-SVC-HL5LMXD5JFHQZ6LN", "KUBE-SEP-SADCJIHRQW7RJ62U")])
}

/// Incident 3: prometheus/prometheus-nodeport:http, NodePort 30038 -> 10.244.2.6:9090 on 189.
fn incident3(node_ip: &str, pod_cidr: &str, endpoint_local: bool) -> String {
    let mut s = svc("prometheus", "prometheus-nodeport", "http", "10.109.216.20", 9090, vec![ep("10.244.2.6", 9090, endpoint_local)]);
    s.node_port = Some(30038);
    let c = cfg(node_ip, "10.244.0.0/16", pod_cidr, vec![s.clone()]);
    render_renamed(&c, &[(&s, "KUBE-SVC-SO4PW3GA7SPS7IHM", "KUBE-SEP-5GEH5OENN4FETTOQ")])
}

/// Incident 4: a LoadBalancer's ClusterIP 10.43.113.238:80 -> the VM 172.16.178.178:80, with
/// k3s's cluster CIDR 10.42.0.0/16 (broken) or no cluster CIDR detector (fixed).
fn incident4(detector: LocalDetector) -> String {
    let s = svc("default", "nginx-lb-db9bdca5", "", "10.43.113.238", 80, vec![ep("172.16.178.178", 80, false)]);
    let mut c = cfg("172.16.0.57", "10.42.0.0/16", "10.42.0.0/24", vec![s]);
    c.local_detector = detector;
    render(&c)
}

/// Incident 5: a NodePort 32220 -> 192.168.231.70:80 on node1 (local) or node2 (remote).
fn incident5(node_ip: &str, pod_cidr: &str, endpoint: &str, local: bool) -> String {
    let mut s = svc("default", "nginx", "", "10.96.141.70", 80, vec![ep(endpoint, 80, local)]);
    s.node_port = Some(32220);
    render(&cfg(node_ip, "192.168.0.0/16", pod_cidr, vec![s]))
}

/// Incident 2: a NodePort service web (pods on both nodes) for the IDC and the VPC.
fn incident2(node_ip: &str, pod_cidr: &str, n: u8) -> String {
    let mut s = svc("shop", "web", "http", "10.96.20.20", 80, vec![ep("10.244.1.2", 8080, n == 1), ep("10.244.2.2", 8080, n == 2)]);
    s.node_port = Some(30080);
    render(&cfg(node_ip, "10.244.0.0/16", pod_cidr, vec![s]))
}

/// The kube-proxy teaching paths on a two-node cluster: pods a1 (node-a) and b1 (node-b).
fn teaching(node_ip: &str, pod_cidr: &str, a_ep: &str, b_ep: &str, on_a: bool) -> String {
    let mut web = svc("shop", "web", "http", "10.96.10.10", 80, vec![ep(a_ep, 8080, on_a), ep(b_ep, 8080, !on_a)]);
    web.node_port = Some(30080);
    let mut local = svc("shop", "local", "http", "10.96.10.11", 80, vec![ep(b_ep, 8080, !on_a)]);
    local.node_port = Some(30081);
    local.external_traffic_policy = TrafficPolicy::Local;
    let mut lb = svc("shop", "lb", "http", "10.96.10.12", 80, vec![ep(b_ep, 8080, !on_a)]);
    lb.node_port = Some(30082);
    lb.load_balancer_ips = vec![ip("203.0.113.10")];
    lb.load_balancer_source_ranges = vec!["192.168.0.64/26".parse().expect("cidr")];
    let selfsvc = svc("shop", "self-a", "http", "10.96.10.13", 80, vec![ep(a_ep, 8080, on_a)]);
    let empty = svc("shop", "empty", "http", "10.96.10.14", 80, vec![]);
    render(&cfg(node_ip, "10.244.0.0/16", pod_cidr, vec![web, local, lb, selfsvc, empty]))
}

/// Felix's rules for a calico node with one workload (nfpath's generator, `gen::calico`):
/// (iptables-save text, ipset restore text).
fn felix(node_ip: &str, peer: &str, pool: &str, pod_ns: &str, pod: &str, pod_ip: &str, encapsulation: Encapsulation) -> (String, String) {
    let cfg = CalicoConfig {
        node_ip: ip(node_ip),
        ip_pools: vec![pool.parse().expect("pool")],
        masq_pools: vec![pool.parse().expect("pool")],
        encapsulation,
        other_hosts: vec![ip(peer)],
        vxlan_port: 4789,
        workloads: vec![Workload { namespace: pod_ns.into(), name: pod.into(), ip: ip(pod_ip) }],
        header: None,
        ..CalicoConfig::default()
    };
    let d = calico::render(&cfg);
    (d.iptables, d.ipset)
}

fn files() -> Vec<(&'static str, String, String)> {
    let gen = |what: &str| format!("# kube-proxy iptables-mode rules written by nfpath's generator (tests/scenario_rules.rs, {what})\n");
    let fgen = |what: &str| format!("# calico felix rules written by nfpath's generator (tests/scenario_rules.rs, {what})\n");
    let (fa, sa) = felix("192.168.0.11", "192.168.0.12", "10.244.0.0/16", "shop", "web-a1", "10.244.1.2", Encapsulation::VXLAN);
    let (fb, sb) = felix("192.168.0.12", "192.168.0.11", "10.244.0.0/16", "shop", "web-b1", "10.244.2.2", Encapsulation::VXLAN);
    // The seed's workload interface on node1 is cali583c2cee4e2; the generator's name is replaced.
    let nginx1 = Workload { namespace: "default".into(), name: "nginx-7d9c6b8f5-x2kqp".into(), ip: ip("192.168.231.70") };
    let (f1, s1) = felix("10.0.0.51", "10.0.0.52", "192.168.0.0/16", "default", "nginx-7d9c6b8f5-x2kqp", "192.168.231.70", Encapsulation::IPIP);
    let f1 = f1.replace(&nginx1.iface(), "cali583c2cee4e2");
    let (f2, s2) = felix("10.0.0.52", "10.0.0.51", "192.168.0.0/16", "default", "nginx-7d9c6b8f5-m8w4t", "192.168.233.136", Encapsulation::IPIP);
    vec![
        ("kube-proxy-calico/rules/felix-node-a.rules", fgen("kube-proxy-calico node-a"), fa),
        ("kube-proxy-calico/rules/felix-node-a.ipset", fgen("kube-proxy-calico node-a"), sa),
        ("kube-proxy-calico/rules/felix-node-b.rules", fgen("kube-proxy-calico node-b"), fb),
        ("kube-proxy-calico/rules/felix-node-b.ipset", fgen("kube-proxy-calico node-b"), sb),
        ("incident-5-calico-nodeport-walk/rules/felix-node1.rules", fgen("incident5 node1 with its workload"), f1),
        ("incident-5-calico-nodeport-walk/rules/felix-node1.ipset", fgen("incident5 node1"), s1),
        ("incident-5-calico-nodeport-walk/rules/felix-node2.rules", fgen("incident5 node2 with its workload"), f2),
        ("incident-5-calico-nodeport-walk/rules/felix-node2.ipset", fgen("incident5 node2"), s2),
        ("incident-1-flannel-public-ip/rules/node-a.rules", gen("incident1 node A"), incident1("10.200.200.7", "10.244.0.0/24", false)),
        ("incident-1-flannel-public-ip/rules/node-b.rules", gen("incident1 node B"), incident1("172.19.0.13", "10.244.1.0/24", true)),
        ("incident-3-stale-calico-route/rules/host188.rules", gen("incident3 host188"), incident3("192.168.86.188", "10.244.0.0/24", false)),
        ("incident-3-stale-calico-route/rules/host189.rules", gen("incident3 host189"), incident3("192.168.86.189", "10.244.2.0/24", true)),
        ("incident-3-stale-calico-route/rules/host190.rules", gen("incident3 host190"), incident3("192.168.86.190", "10.244.1.0/24", false)),
        ("incident-4-bridge-nf-desnat/rules/broken.rules", gen("incident4, cluster CIDR 10.42.0.0/16"), incident4(LocalDetector::ClusterCidr)),
        ("incident-4-bridge-nf-desnat/rules/fixed.rules", gen("incident4, no cluster CIDR"), incident4(LocalDetector::None)),
        (
            "incident-5-calico-nodeport-walk/rules/node1-local.rules",
            gen("incident5 node1, endpoint on node1"),
            incident5("10.0.0.51", "192.168.231.64/26", "192.168.231.70", true),
        ),
        (
            "incident-5-calico-nodeport-walk/rules/node1-remote.rules",
            gen("incident5 node1, endpoint on node2"),
            incident5("10.0.0.51", "192.168.231.64/26", "192.168.233.136", false),
        ),
        (
            "incident-5-calico-nodeport-walk/rules/node2-local.rules",
            gen("incident5 node2, endpoint on node1"),
            incident5("10.0.0.52", "192.168.233.128/26", "192.168.231.70", false),
        ),
        (
            "incident-5-calico-nodeport-walk/rules/node2-remote.rules",
            gen("incident5 node2, endpoint on node2"),
            incident5("10.0.0.52", "192.168.233.128/26", "192.168.233.136", true),
        ),
        ("incident-2-cloud-checklist/rules/node-a.rules", gen("incident2 node-a"), incident2("192.168.0.11", "10.244.1.0/24", 1)),
        ("incident-2-cloud-checklist/rules/node-b.rules", gen("incident2 node-b"), incident2("192.168.0.12", "10.244.2.0/24", 2)),
        ("kube-proxy-flannel/rules/node-a.rules", gen("teaching paths, node-a"), teaching("192.168.0.11", "10.244.1.0/24", "10.244.1.2", "10.244.2.2", true)),
        ("kube-proxy-flannel/rules/node-b.rules", gen("teaching paths, node-b"), teaching("192.168.0.12", "10.244.2.0/24", "10.244.1.2", "10.244.2.2", false)),
        ("kube-proxy-calico/rules/node-a.rules", gen("teaching paths, node-a"), teaching("192.168.0.11", "10.244.1.0/26", "10.244.1.2", "10.244.2.2", true)),
        ("kube-proxy-calico/rules/node-b.rules", gen("teaching paths, node-b"), teaching("192.168.0.12", "10.244.2.0/26", "10.244.1.2", "10.244.2.2", false)),
    ]
}

#[test]
fn scenario_rules_are_the_generators_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let bless = std::env::var_os("NFPATH_BLESS").is_some();
    let mut stale = Vec::new();
    for (rel, header, body) in files() {
        let path = root.join(rel);
        let want = format!("{header}{body}");
        if bless {
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, &want).expect("write");
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(have) if have == want => {}
            _ => stale.push(rel),
        }
    }
    assert!(stale.is_empty(), "scenario rules differ from the generator (NFPATH_BLESS=1 rewrites them): {stale:?}");
}
