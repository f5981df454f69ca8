//! Kernel conformance for whole clusters: bridges with br_netfilter, flannel VXLAN nodes over an
//! underlay namespace, calico-style nodes with proxy ARP and vxlan.calico.
//!
//! Each test builds namespaces with the harness, collects every one with `nfpath collect`,
//! predicts each flow with the engine from those snapshots only, then sends the same flow as
//! real traffic (`nfpath probe`) and compares: the client's result, the namespace whose listener
//! got the request, and the source address and destination it saw. Every distinct kernel
//! observation must be one of nfpath's predicted outcomes; when nfpath predicts a single
//! outcome, the kernel must show exactly it.
//!
//! Must run as root; without network namespaces the tests fail loudly (harness::require_root).

use harness::{Lab, Listener, Ns, Proto};
use sim_core::engine::{FlowSpec, RunOptions, VethLink, World};
use sim_core::gen::kube_proxy::{self, Endpoint, KubeProxyConfig, Protocol, ServiceSpec};
use sim_core::trace::render;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

/// One observed or predicted outcome: (result, receiving namespace, source IP, destination).
type Obs = (String, Option<String>, Option<String>, Option<String>);

/// A built topology: namespaces by short name, the veth links between them, listeners.
struct Topo {
    lab: Lab,
    nss: BTreeMap<String, Ns>,
    links: Vec<VethLink>,
    listeners: Vec<(String, Listener)>,
}

impl Topo {
    fn new(prefix: &str, names: &[&str]) -> Topo {
        let lab = Lab::new(prefix);
        let mut nss = BTreeMap::new();
        for n in names {
            let ns = lab.ns(n);
            ns.disable_ipv6();
            nss.insert(n.to_string(), ns);
        }
        Topo { lab, nss, links: Vec::new(), listeners: Vec::new() }
    }

    fn ns(&self, n: &str) -> &Ns {
        &self.nss[n]
    }

    fn sh(&self, n: &str, script: &str) {
        self.nss[n].sh(script);
    }

    /// A veth pair between two namespaces, both ends up, and the link for the model.
    fn veth(&mut self, a: &str, da: &str, b: &str, db: &str) {
        self.lab.veth((&self.nss[a], da), (&self.nss[b], db));
        self.links.push(VethLink::new(a, da, b, db));
    }

    fn listen(&mut self, n: &str, proto: Proto, port: u16) {
        let l = self.nss[n].listen(proto, port);
        self.listeners.push((n.to_string(), l));
    }

    /// Collects every namespace and builds nfpath's world from the snapshots alone.
    fn world(&self) -> World {
        let mut namespaces = Vec::new();
        for (name, ns) in &self.nss {
            let snap = ns.collect();
            let p = sim_core::parse::snapshot::load(name, &snap.files());
            let errors: Vec<String> = p.diagnostics.iter().filter(|d| d.severity == sim_core::diag::Severity::Error).map(|d| d.to_string()).collect();
            assert!(errors.is_empty(), "{name}: {errors:?}");
            namespaces.push(p.value);
        }
        World::new(namespaces, &self.links).expect("world")
    }

    fn counts(&self) -> Vec<usize> {
        self.listeners.iter().map(|(_, l)| l.received().len()).collect()
    }

    /// One real attempt from `from` to `to` (`ip:port`).
    fn probe(&self, from: &str, to: &str, proto: Proto) -> Obs {
        let before = self.counts();
        let c = self.nss[from].connect(to, proto);
        std::thread::sleep(Duration::from_millis(60));
        let mut got = None;
        for (i, (n, l)) in self.listeners.iter().enumerate() {
            let r = l.received();
            if r.len() > before[i] {
                let x = &r[before[i]];
                got = Some((n.clone(), x.peer.ip().to_string(), x.local.to_string()));
            }
        }
        (c.result, got.as_ref().map(|g| g.0.clone()), got.as_ref().map(|g| g.1.clone()), got.map(|g| g.2))
    }
}

fn predicted(world: &World, from: &str, to: &str, proto: Proto) -> (Vec<Obs>, String) {
    let (ip, port) = to.split_once(':').expect("ip:port");
    let ip: Ipv4Addr = ip.parse().expect("ip");
    let pn = match proto {
        Proto::Tcp => 6,
        Proto::Udp => 17,
        Proto::Icmp => 1,
    };
    let spec = FlowSpec::client(&format!("{from}->{to}"), from, ip, port.parse().expect("port"), pn);
    let r = world.run_flow(&spec, &RunOptions::default());
    let text = render::text(std::slice::from_ref(&r), render::TextOptions { color: false, steps: true });
    let mut obs: Vec<Obs> = r
        .outcomes
        .iter()
        .map(|o| {
            // A TCP listener reports only accepted connections: when the handshake fails the
            // kernel side cannot show who got the SYN.
            if proto == Proto::Tcp && o.result.as_string() != "connected" {
                return (o.result.as_string(), None, None, None);
            }
            (
                o.result.as_string(),
                o.at.clone(),
                o.seen.as_ref().map(|s| s.src.split(':').next().unwrap_or("").to_string()),
                o.seen.as_ref().map(|s| s.dst.clone()),
            )
        })
        .collect();
    obs.dedup();
    (obs, text)
}

/// Predicts and probes each flow; returns the number of flows that agreed, panicking with every
/// disagreement and nfpath's trace of it.
fn agree(t: &Topo, world: &World, flows: &[(&str, &str, Proto)]) -> usize {
    let mut bad = Vec::new();
    for (from, to, proto) in flows {
        let (pred, text) = predicted(world, from, to, *proto);
        if std::env::var_os("NFP_SHOW").is_some() {
            eprintln!("{text}");
        }
        let tries = if pred.len() > 1 { 12 } else { 1 };
        let mut seen = BTreeSet::new();
        for _ in 0..tries {
            seen.insert(t.probe(from, to, *proto));
        }
        let unexplained: Vec<&Obs> = seen.iter().filter(|o| !pred.contains(o)).collect();
        if !unexplained.is_empty() || (pred.len() == 1 && seen.len() != 1) {
            bad.push(format!("{from} -> {to}: kernel {seen:?}, nfpath {pred:?}\n{text}"));
        }
    }
    assert!(bad.is_empty(), "nfpath disagrees with the kernel:\n{}", bad.join("\n\n"));
    flows.len()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("ip")
}

fn ep(a: &str, port: u16, local: bool) -> Endpoint {
    Endpoint { ip: ip(a), port, local }
}

fn svc(name: &str, vip: &str, port: u16, eps: Vec<Endpoint>) -> ServiceSpec {
    let mut s = ServiceSpec::cluster_ip("demo", name, "http", Protocol::Tcp, ip(vip), port);
    s.endpoints = eps;
    s
}

/// kube-proxy's rules for a node, from nfpath's generator.
fn kube_rules(node_ip: &str, pod_cidr: &str, services: Vec<ServiceSpec>) -> String {
    kube_proxy::render(&KubeProxyConfig {
        node_ip: ip(node_ip),
        cluster_cidr: "10.244.0.0/16".parse().expect("cidr"),
        node_pod_cidr: pod_cidr.parse().expect("cidr"),
        services,
        header: None,
        ..KubeProxyConfig::default()
    })
}

/// A flannel-style pod: eth0 in the node's pod subnet, default via the bridge's address, its
/// host end a port of cni0.
fn flannel_pod(t: &mut Topo, node: &str, pod: &str, hostdev: &str, addr: &str, gw: &str, hairpin: bool) {
    t.veth(node, hostdev, pod, "eth0");
    t.sh(node, &format!("ip link set {hostdev} master cni0; bridge link set dev {hostdev} hairpin {}", if hairpin { "on" } else { "off" }));
    t.sh(pod, &format!("ip addr add {addr}/24 dev eth0; ip route add default via {gw}"));
}

/// One flannel-style node: cni0 10.244.1.1/24 with pod-a (hairpin on) and pod-b (hairpin off),
/// kube-proxy rules, eth0 on a LAN with `ext`.
fn flannel_node(prefix: &str, brnf: bool) -> Topo {
    let mut t = Topo::new(prefix, &["node", "pod-a", "pod-b", "ext"]);
    t.veth("node", "eth0", "ext", "eth0");
    t.sh("node", "ip addr add 192.168.50.10/24 dev eth0; sysctl -qw net.ipv4.ip_forward=1");
    t.sh("ext", "ip addr add 192.168.50.1/24 dev eth0; ip route add 10.244.0.0/16 via 192.168.50.10");
    t.sh(
        "node",
        &format!(
            "ip link add name cni0 type bridge; ip addr add 10.244.1.1/24 dev cni0; ip link set cni0 up; sysctl -qw net.bridge.bridge-nf-call-iptables={}",
            u8::from(brnf)
        ),
    );
    flannel_pod(&mut t, "node", "pod-a", "veth-a", "10.244.1.2", "10.244.1.1", true);
    flannel_pod(&mut t, "node", "pod-b", "veth-b", "10.244.1.3", "10.244.1.1", false);
    let mut web = svc("web", "10.96.0.80", 80, vec![ep("10.244.1.2", 8080, true), ep("10.244.1.3", 8080, true)]);
    web.node_port = Some(30080);
    let services = vec![
        web,
        svc("self-a", "10.96.0.81", 80, vec![ep("10.244.1.2", 8080, true)]),
        svc("self-b", "10.96.0.82", 80, vec![ep("10.244.1.3", 8080, true)]),
        svc("only-b", "10.96.0.84", 80, vec![ep("10.244.1.3", 8080, true)]),
        svc("empty", "10.96.0.83", 80, vec![]),
    ];
    t.ns("node").sh_with_input("iptables-restore", &kube_rules("192.168.50.10", "10.244.1.0/24", services));
    t.listen("pod-a", Proto::Tcp, 8080);
    t.listen("pod-b", Proto::Tcp, 8080);
    t.listen("ext", Proto::Tcp, 9000);
    t.listen("node", Proto::Tcp, 7000);
    t
}

#[test]
fn flannel_node_with_br_netfilter_agrees_with_the_kernel() {
    let t = flannel_node("clfl", true);
    let w = t.world();
    let n = agree(
        &t,
        &w,
        &[
            ("pod-a", "10.244.1.3:8080", Proto::Tcp),
            ("pod-a", "10.96.0.84:80", Proto::Tcp),
            ("pod-a", "10.96.0.80:80", Proto::Tcp),
            ("node", "10.96.0.80:80", Proto::Tcp),
            ("pod-a", "10.96.0.81:80", Proto::Tcp),
            ("pod-b", "10.96.0.82:80", Proto::Tcp),
            ("pod-a", "10.96.0.83:80", Proto::Tcp),
            ("ext", "192.168.50.10:30080", Proto::Tcp),
            ("pod-a", "192.168.50.1:9000", Proto::Tcp),
            ("pod-b", "10.244.1.1:7000", Proto::Tcp),
            ("pod-a", "192.168.50.10:7000", Proto::Tcp),
        ],
    );
    assert_eq!(n, 11);
}

#[test]
fn flannel_node_without_br_netfilter_agrees_with_the_kernel() {
    let t = flannel_node("clfo", false);
    let w = t.world();
    agree(
        &t,
        &w,
        &[
            ("pod-a", "10.244.1.3:8080", Proto::Tcp),
            ("pod-a", "10.96.0.84:80", Proto::Tcp),
            ("node", "10.96.0.84:80", Proto::Tcp),
            ("pod-a", "10.96.0.81:80", Proto::Tcp),
            ("ext", "192.168.50.10:30080", Proto::Tcp),
        ],
    );
}

fn kube_rules_cidr(node_ip: &str, cluster_cidr: &str, pod_cidr: &str, services: Vec<ServiceSpec>) -> String {
    kube_proxy::render(&KubeProxyConfig {
        node_ip: ip(node_ip),
        cluster_cidr: cluster_cidr.parse().expect("cidr"),
        node_pod_cidr: pod_cidr.parse().expect("cidr"),
        services,
        header: None,
        ..KubeProxyConfig::default()
    })
}

/// Incident 4's mechanism on this kernel. kube-proxy's cluster CIDR (10.42.0.0/16) does not hold
/// the pods (10.244.1.0/24) nor the host, so every Service connection is masqueraded.
///
/// - pod-a -> a ClusterIP whose endpoint pod-b sits on the same bridge: the SYN is masqueraded
///   to cni0's address in br_netfilter's POSTROUTING; pod-b's SYN/ACK is de-SNATed in
///   br_netfilter's PREROUTING while being bridged, routed back onto the bridge (bridged DNAT)
///   and de-DNATed in POSTROUTING: connected, pod-b sees 10.244.1.1.
/// - the host -> a ClusterIP whose endpoint is a VM on the host's own bridge br178, reached
///   through an outside gateway (as in Harvester): the SYN comes back into the host through
///   br178's uplink port and passes br_netfilter, which tracks it as a second connection whose
///   null SNAT binding clashes with the first one's reply tuple and gets another source port.
///   The kernel here has no 802.1Q (the original SYN arrived VLAN-tagged and skipped
///   br_netfilter), so this is the untagged variant: it connects.
#[test]
fn bridged_replies_are_de_natted_by_br_netfilter_as_the_kernel_does() {
    let mut t = Topo::new("clbr", &["node", "pod-a", "pod-b", "gw", "vm"]);
    t.sh("node", "sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1");
    t.sh("node", "ip link add name cni0 type bridge; ip addr add 10.244.1.1/24 dev cni0; ip link set cni0 up");
    flannel_pod(&mut t, "node", "pod-a", "veth-a", "10.244.1.2", "10.244.1.1", true);
    flannel_pod(&mut t, "node", "pod-b", "veth-b", "10.244.1.3", "10.244.1.1", true);
    // Management network: the node's own address, default route via the gateway.
    t.veth("node", "eth0", "gw", "mgmt");
    t.sh("node", "ip addr add 172.16.0.57/24 dev eth0; ip route add default via 172.16.0.1");
    t.sh("gw", "ip addr add 172.16.0.1/24 dev mgmt; sysctl -qw net.ipv4.ip_forward=1");
    // The VM network: a bridge without an address, uplink eth1 to the gateway.
    t.sh("node", "ip link add name br178 type bridge; ip link set br178 up");
    t.veth("node", "eth1", "gw", "trunk");
    t.sh("node", "ip link set eth1 master br178");
    t.sh("gw", "ip addr add 172.16.178.1/24 dev trunk");
    t.veth("node", "vmport", "vm", "eth0");
    t.sh("node", "ip link set vmport master br178");
    t.sh("vm", "ip addr add 172.16.178.178/24 dev eth0; ip route add default via 172.16.178.1");
    let services = vec![svc("b", "10.43.0.20", 80, vec![ep("10.244.1.3", 8080, true)]), svc("vm", "10.43.113.238", 80, vec![ep("172.16.178.178", 80, false)])];
    t.ns("node").sh_with_input("iptables-restore", &kube_rules_cidr("172.16.0.57", "10.42.0.0/16", "10.42.0.0/24", services));
    t.listen("pod-b", Proto::Tcp, 8080);
    t.listen("vm", Proto::Tcp, 80);
    let w = t.world();
    agree(
        &t,
        &w,
        &[
            ("pod-a", "10.43.0.20:80", Proto::Tcp),
            ("pod-a", "10.244.1.3:8080", Proto::Tcp),
            ("node", "10.43.113.238:80", Proto::Tcp),
            ("node", "172.16.178.178:80", Proto::Tcp),
            ("pod-a", "10.43.113.238:80", Proto::Tcp),
        ],
    );
}

/// flannel's own rules (flanneld's `masq` and `forward` rules for cluster 10.244.0.0/16 and this
/// node's lease), added after kube-proxy's as flanneld does.
fn flannel_rules(lease: &str) -> String {
    format!(
        "iptables -t nat -N FLANNEL-POSTRTG
iptables -t nat -A POSTROUTING -m comment --comment 'flanneld masq' -j FLANNEL-POSTRTG
iptables -t nat -A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment 'flanneld masq' -j RETURN
iptables -t nat -A FLANNEL-POSTRTG -s {lease} -d 10.244.0.0/16 -m comment --comment 'flanneld masq' -j RETURN
iptables -t nat -A FLANNEL-POSTRTG -s 10.244.0.0/16 -d {lease} -m comment --comment 'flanneld masq' -j RETURN
iptables -t nat -A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d {lease} -m comment --comment 'flanneld masq' -j RETURN
iptables -t nat -A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment 'flanneld masq' -j MASQUERADE --random-fully
iptables -t nat -A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment 'flanneld masq' -j MASQUERADE --random-fully
iptables -t filter -N FLANNEL-FWD
iptables -t filter -A FORWARD -m comment --comment 'flanneld forward' -j FLANNEL-FWD
iptables -t filter -A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment 'flanneld forward' -j ACCEPT
iptables -t filter -A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment 'flanneld forward' -j ACCEPT
"
    )
}

/// A flannel node: eth0 on its own LAN behind the `lan` router, cni0 with one pod, flannel.1
/// (VNI 1, port 8472, its MAC fixed so the other node can name it), kube-proxy and flannel rules.
fn flannel_vxlan_node(t: &mut Topo, node: &str, n: u8, pod: &str) {
    let lan_dev = format!("to-{node}");
    t.veth(node, "eth0", "lan", &lan_dev);
    t.sh("lan", &format!("ip addr add 192.168.6{n}.1/24 dev {lan_dev}"));
    t.sh(node, &format!("ip addr add 192.168.6{n}.10/24 dev eth0; ip route add default via 192.168.6{n}.1; sysctl -qw net.ipv4.ip_forward=1"));
    t.sh(node, &format!("ip link add name cni0 type bridge; ip addr add 10.244.{n}.1/24 dev cni0; ip link set cni0 up"));
    flannel_pod(t, node, pod, "veth0", &format!("10.244.{n}.2"), &format!("10.244.{n}.1"), true);
    t.sh(
        node,
        &format!(
            "ip link add flannel.1 address 0e:00:00:00:00:0{n} type vxlan id 1 local 192.168.6{n}.10 dev eth0 dstport 8472 nolearning
             ip addr add 10.244.{n}.0/32 dev flannel.1; ip link set flannel.1 mtu 1450 up"
        ),
    );
}

/// flanneld's three steps for a remote lease: neighbour, fdb entry, route.
fn flannel_lease(t: &Topo, node: &str, subnet_n: u8, public_ip: &str) {
    t.sh(
        node,
        &format!(
            "ip neigh add 10.244.{subnet_n}.0 lladdr 0e:00:00:00:00:0{subnet_n} dev flannel.1 nud permanent
             bridge fdb add 0e:00:00:00:00:0{subnet_n} dev flannel.1 dst {public_ip} self permanent
             ip route add 10.244.{subnet_n}.0/24 via 10.244.{subnet_n}.0 dev flannel.1 onlink"
        ),
    );
}

fn flannel_pair(prefix: &str, a_sees_b_at: &str) -> Topo {
    let mut t = Topo::new(prefix, &["lan", "node-a", "node-b", "pod-a", "pod-b"]);
    t.sh("lan", "sysctl -qw net.ipv4.ip_forward=1");
    flannel_vxlan_node(&mut t, "node-a", 1, "pod-a");
    flannel_vxlan_node(&mut t, "node-b", 2, "pod-b");
    flannel_lease(&t, "node-a", 2, a_sees_b_at);
    flannel_lease(&t, "node-b", 1, "192.168.61.10");
    for (node, n, node_ip) in [("node-a", 1u8, "192.168.61.10"), ("node-b", 2u8, "192.168.62.10")] {
        let mut web = svc("web", "10.96.0.80", 80, vec![ep("10.244.2.2", 8080, n == 2)]);
        web.node_port = Some(30080);
        let mut on_a = svc("on-a", "10.96.0.81", 80, vec![ep("10.244.1.2", 8080, n == 1)]);
        on_a.node_port = Some(30081);
        t.ns(node).sh_with_input("iptables-restore", &kube_rules(node_ip, &format!("10.244.{n}.0/24"), vec![web, on_a]));
        t.sh(node, &flannel_rules(&format!("10.244.{n}.0/24")));
    }
    t.listen("pod-a", Proto::Tcp, 8080);
    t.listen("pod-b", Proto::Tcp, 8080);
    t
}

#[test]
fn two_flannel_nodes_over_vxlan_agree_with_the_kernel() {
    let t = flannel_pair("clvx", "192.168.62.10");
    let w = t.world();
    agree(
        &t,
        &w,
        &[
            ("pod-a", "10.244.2.2:8080", Proto::Tcp),
            ("pod-b", "10.244.1.2:8080", Proto::Tcp),
            ("pod-a", "10.96.0.80:80", Proto::Tcp),
            ("node-a", "10.96.0.80:80", Proto::Tcp),
            ("node-a", "10.244.2.2:8080", Proto::Tcp),
            ("lan", "192.168.61.10:30080", Proto::Tcp),
            ("lan", "192.168.62.10:30080", Proto::Tcp),
            ("pod-b", "10.96.0.81:80", Proto::Tcp),
            ("lan", "192.168.62.10:30081", Proto::Tcp),
        ],
    );
}

/// Incident 1's mechanism: node-a's fdb entry for node-b's VTEP names an address node-a cannot
/// reach (the `lan` router has no route to it), so everything node-a encapsulates toward node-b
/// is lost; node-b still reaches node-a.
#[test]
fn flannel_fdb_entry_to_an_unreachable_address_agrees_with_the_kernel() {
    let t = flannel_pair("clvu", "172.19.0.13");
    let w = t.world();
    agree(
        &t,
        &w,
        &[
            ("pod-a", "10.244.2.2:8080", Proto::Tcp),
            ("pod-b", "10.244.1.2:8080", Proto::Tcp),
            ("node-a", "10.96.0.80:80", Proto::Tcp),
            ("pod-b", "10.96.0.80:80", Proto::Tcp),
            ("lan", "192.168.62.10:30081", Proto::Tcp),
        ],
    );
}

use sim_core::gen::calico::{self, CalicoConfig, Encapsulation, Workload};

/// A calico node on the shared LAN 192.168.70.0/24 (a bridge in the `lan` namespace): one
/// workload on a cali veth (no host address, proxy ARP, a /32 route), vxlan.calico (VNI 4096,
/// port 4789), a blackhole for the node's own block, felix's rules (from nfpath's generator)
/// followed by kube-proxy's, with felix's nat POSTROUTING jump last as felix appends it.
fn calico_node(t: &mut Topo, node: &str, n: u8, pod: &str, peer: u8) {
    let node_ip = format!("192.168.70.1{n}");
    t.veth(node, "eth0", "lan", &format!("p{n}"));
    t.sh("lan", &format!("ip link set p{n} master br0"));
    t.sh(node, &format!("ip addr add {node_ip}/24 dev eth0; ip route add default via 192.168.70.1; sysctl -qw net.ipv4.ip_forward=1"));
    let wl = Workload { namespace: "demo".into(), name: pod.into(), ip: ip(&format!("10.244.{n}.2")) };
    let cali = wl.iface();
    t.veth(node, &cali, pod, "eth0");
    t.sh(node, &format!("sysctl -qw net.ipv4.conf.{cali}.proxy_arp=1 net.ipv4.neigh.{cali}.proxy_delay=0; ip route add 10.244.{n}.2/32 dev {cali} scope link; ip route add blackhole 10.244.{n}.0/26 proto 80"));
    t.sh(pod, &format!("ip addr add 10.244.{n}.2/32 dev eth0; ip route add 169.254.1.1 dev eth0 scope link; ip route add default via 169.254.1.1 dev eth0"));
    t.sh(
        node,
        &format!(
            "ip link add vxlan.calico address 66:00:00:00:00:0{n} type vxlan id 4096 local {node_ip} dev eth0 dstport 4789 nolearning
             ip addr add 10.244.{n}.0/32 dev vxlan.calico; ip link set vxlan.calico mtu 1450 up
             ip neigh add 10.244.{peer}.0 lladdr 66:00:00:00:00:0{peer} dev vxlan.calico nud permanent
             bridge fdb add 66:00:00:00:00:0{peer} dev vxlan.calico dst 192.168.70.1{peer} self permanent
             ip route add 10.244.{peer}.0/26 via 10.244.{peer}.0 dev vxlan.calico onlink"
        ),
    );
    let cfg = CalicoConfig {
        node_ip: ip(&node_ip),
        ip_pools: vec!["10.244.0.0/16".parse().expect("pool")],
        masq_pools: vec!["10.244.0.0/16".parse().expect("pool")],
        encapsulation: Encapsulation::VXLAN,
        other_hosts: vec![ip(&format!("192.168.70.1{peer}"))],
        vxlan_port: 4789,
        workloads: vec![wl],
        header: None,
        ..CalicoConfig::default()
    };
    let d = calico::render(&cfg);
    t.ns(node).sh_with_input("ipset restore", &d.ipset);
    t.ns(node).sh_with_input("iptables-restore", &d.iptables);
    let mut web = svc("web", "10.96.0.80", 80, vec![ep("10.244.2.2", 8080, n == 2)]);
    web.node_port = Some(30080);
    let mut on_a = svc("on-a", "10.96.0.81", 80, vec![ep("10.244.1.2", 8080, n == 1)]);
    on_a.node_port = Some(30081);
    t.ns(node).sh_with_input("iptables-restore --noflush", &kube_rules(&node_ip, &format!("10.244.{n}.0/26"), vec![web, on_a]));
    t.sh(
        node,
        "rule=$(iptables -t nat -S POSTROUTING | grep -- '-j cali-POSTROUTING' | sed 's/^-A //'); eval iptables -t nat -D $rule; eval iptables -t nat -A $rule",
    );
}

#[test]
fn two_calico_nodes_over_vxlan_calico_agree_with_the_kernel() {
    let mut t = Topo::new("clca", &["lan", "node-a", "node-b", "pod-a", "pod-b"]);
    t.sh("lan", "ip link add name br0 type bridge; ip addr add 192.168.70.1/24 dev br0; ip link set br0 up");
    calico_node(&mut t, "node-a", 1, "pod-a", 2);
    calico_node(&mut t, "node-b", 2, "pod-b", 1);
    t.listen("pod-a", Proto::Tcp, 8080);
    t.listen("pod-b", Proto::Tcp, 8080);
    let w = t.world();
    agree(
        &t,
        &w,
        &[
            ("pod-a", "10.244.2.2:8080", Proto::Tcp),
            ("pod-b", "10.244.1.2:8080", Proto::Tcp),
            ("pod-a", "10.96.0.80:80", Proto::Tcp),
            ("node-a", "10.96.0.80:80", Proto::Tcp),
            ("lan", "192.168.70.11:30080", Proto::Tcp),
            ("lan", "192.168.70.12:30080", Proto::Tcp),
            ("pod-b", "10.96.0.81:80", Proto::Tcp),
            ("pod-a", "10.244.1.9:8080", Proto::Tcp),
        ],
    );
}
