//! A generated kube-proxy node with P pods: the world of the batch benchmark (issue 7, row 3),
//! `nfpath matrix --generate PxS` and tests/batch.rs. It lives with the generators because it
//! parses the rules `gen::kube_proxy` renders (the engine never reads text).

use crate::engine::build::WorldB;
use crate::engine::{VethLink, World};
use crate::gen::kube_proxy;
use crate::model::route::{NextHop, Route, RouteType, RT_TABLE_LOCAL};
use crate::model::types::Scope;
use crate::model::Namespace;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// What [`kube_node`] made, beside the world.
#[derive(Clone, Debug)]
pub struct KubeNode {
    pub config: kube_proxy::KubeProxyConfig,
    /// Pod addresses, in pod order (`pod-0000`, `pod-0001`, ...).
    pub pods: Vec<Ipv4Addr>,
}

/// The pods' block: a calico IPAM block just large enough, at 10.0.0.0, where
/// `gen::kube_proxy::synthetic` puts the endpoints of its first nodes (10.0.k.0/24 for node k), so
/// some of them are these pods whatever the size.
fn pod_block(pods: usize) -> Ipv4Net {
    let mut len = 24u8;
    while len > 12 && (1usize << (32 - len)) < pods + 2 {
        len -= 1;
    }
    Ipv4Net::new(Ipv4Addr::new(10, 0, 0, 0), len).unwrap_or_default()
}

/// The prefixes of `outer` that do not overlap `inner` (the rest of the cluster).
fn complement(outer: Ipv4Net, inner: Ipv4Net) -> Vec<Ipv4Net> {
    if !outer.contains(&inner.network()) {
        return vec![outer];
    }
    if outer == inner {
        return vec![];
    }
    outer.subnets(outer.prefix_len() + 1).map(|it| it.flat_map(|h| complement(h, inner)).collect()).unwrap_or_default()
}

/// One kube-proxy node (iptables mode, `gen::kube_proxy::synthetic(services, 10, seed)` with the
/// realistic mix: NodePorts, LoadBalancers with source ranges, externalTrafficPolicy Local,
/// affinity, Services without endpoints) and `pods` pods on calico-style routed veths
/// (`caliNNNN`, a /32 each, default via 169.254.1.1 answered by proxy ARP, a blackhole for the
/// block as calico installs). Endpoints inside the pods' block are this node's pods (so some pods
/// are endpoints of Services they call: hairpin). Everything else of the cluster (other nodes'
/// pods, the API servers) is one namespace `rest-of-cluster` behind the node's eth0 that owns
/// those addresses (local routes, as `ip route add local PREFIX dev lo`) and listens everywhere.
pub fn kube_node(pods: usize, services: usize, seed: u64) -> (World, KubeNode) {
    let mut cfg = kube_proxy::synthetic(services, 10, seed).config;
    let block = pod_block(pods);
    let pod_ips: Vec<Ipv4Addr> = block.hosts().skip(1).take(pods).collect();
    cfg.node_pod_cidr = block;
    let is_pod: std::collections::HashSet<Ipv4Addr> = pod_ips.iter().copied().collect();
    for s in &mut cfg.services {
        for e in &mut s.endpoints {
            e.local = is_pod.contains(&e.ip);
        }
    }
    let rules = kube_proxy::render(&cfg);

    let mut b = WorldB::new();
    b.veth("node", "eth0", Some(&format!("{}/24", cfg.node_ip)), "rest-of-cluster", "eth0", Some("192.168.0.1/24"));
    let names: Vec<(String, String)> = (0..pods).map(|i| (format!("pod-{i:04}"), format!("cali{i:04}"))).collect();
    for ((pod, cali), ip) in names.iter().zip(&pod_ips) {
        b.veth("node", cali, None, pod, "eth0", Some(&format!("{ip}/32")));
        b.ns("node").route(&format!("{ip}/32"), None, Some(cali)).sysctl(&format!("net.ipv4.conf.{cali}.proxy_arp"), "1");
        let p = b.ns(pod);
        p.route("169.254.1.1/32", None, Some("eth0")).route("0.0.0.0/0", Some("169.254.1.1"), Some("eth0"));
        // No socket list: every port listens, as for a pod synthesized from a cluster file.
        p.ns.sockets = None;
    }
    let node = b.ns("node");
    // This node is also an API server (`default/kubernetes` has an endpoint on its address).
    node.listen(6, 6443);
    node.route("0.0.0.0/0", Some("192.168.0.1"), Some("eth0")).route_type(RouteType::Blackhole, &block.to_string()).sysctl("net.ipv4.ip_forward", "1");
    let rest = b.ns("rest-of-cluster");
    rest.route(&block.to_string(), Some(&cfg.node_ip.to_string()), Some("eth0")).sysctl("net.ipv4.ip_forward", "1");
    rest.ns.sockets = None;
    let mut owned = complement(cfg.cluster_cidr, block);
    // The API servers (default/kubernetes' endpoints) other than this node.
    for s in cfg.services.iter().filter(|s| s.namespace == "default" && s.name == "kubernetes") {
        owned.extend(s.endpoints.iter().filter(|e| e.ip != cfg.node_ip).filter_map(|e| Ipv4Net::new(e.ip, 32).ok()));
    }
    for dst in owned {
        rest.ns.routes.push(Route {
            table: RT_TABLE_LOCAL,
            rtype: RouteType::Local,
            dst,
            tos: 0,
            metric: 0,
            protocol: Some("boot".into()),
            scope: Scope::Host,
            prefsrc: None,
            nexthops: vec![NextHop { gateway: None, dev: Some("lo".into()), onlink: false, weight: 1, dead: false, linkdown: false }],
            mtu: None,
            origin: None,
        });
    }
    let mut nss: Vec<Namespace> = b.nss.iter().map(|n| n.build()).collect();
    let p = crate::parse::iptables_save::parse("iptables-save.txt", &rules);
    if let Some(n) = nss.iter_mut().find(|n| n.name == "node") {
        n.ruleset = p.value;
    }
    let links: Vec<VethLink> = b.links.clone();
    let w = World::new(nss, &links).unwrap_or_else(|e| panic!("the generated node world is inconsistent: {e}"));
    (w, KubeNode { config: cfg, pods: pod_ips })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_of_the_cluster_is_the_cluster_cidr_minus_the_pods_block() {
        let block = pod_block(1000);
        assert_eq!(block.to_string(), "10.0.0.0/22");
        assert_eq!(pod_block(10).to_string(), "10.0.0.0/24");
        let outer: Ipv4Net = "10.0.0.0/10".parse().unwrap_or_default();
        let rest = complement(outer, block);
        let size = |n: &Ipv4Net| 1u64 << (32 - n.prefix_len());
        assert_eq!(rest.iter().map(size).sum::<u64>() + size(&block), size(&outer));
        assert!(rest.iter().all(|n| !n.contains(&block.network()) && !block.contains(&n.network())));
    }
}
