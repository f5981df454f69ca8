//! Diagnostics a person debugging a node wants before any packet is sent (`nfpath lint`): each
//! check reads the model only, and names the device, address, route or sysctl responsible.
//! Cluster-level checks compare nodes (another node's pod subnet, fdb destinations).

use crate::diag::{Diagnostic, Severity, Span};
use crate::model::link::LinkKind;
use crate::model::route::{Route, RouteType, RT_TABLE_MAIN};
use crate::model::ruleset::{TableName, Target};
use crate::model::Namespace;
use ipnet::Ipv4Net;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

fn diag(ns: &Namespace, file: &str, sev: Severity, code: &str, msg: String) -> Diagnostic {
    Diagnostic::new(Span::new(format!("{}/{}", ns.name, file), 0, 0), sev, code, msg)
}

fn route_text(r: &Route) -> String {
    let mut s = String::new();
    if r.rtype != RouteType::Unicast {
        s.push_str(r.rtype.as_str());
        s.push(' ');
    }
    s.push_str(&r.dst.to_string());
    if let Some(g) = r.gateway() {
        s.push_str(&format!(" via {g}"));
    }
    if let Some(d) = r.dev() {
        s.push_str(&format!(" dev {d}"));
    }
    if let Some(p) = &r.protocol {
        s.push_str(&format!(" proto {p}"));
    }
    if r.table != RT_TABLE_MAIN {
        s.push_str(&format!(" table {}", r.table));
    }
    s
}

/// The most specific main-table route covering `ip` (what a packet to it would follow when no
/// policy rule intervenes), for evidence in messages.
pub fn main_route_for(ns: &Namespace, ip: Ipv4Addr) -> Option<&Route> {
    ns.routes
        .iter()
        .filter(|r| r.table == RT_TABLE_MAIN && r.dst.contains(&ip))
        .max_by(|a, b| a.dst.prefix_len().cmp(&b.dst.prefix_len()).then(b.metric.cmp(&a.metric)))
}

fn is_pod_device(name: &str) -> bool {
    name == "cni0"
        || name == "cbr0"
        || name.starts_with("cali")
        || name.starts_with("flannel.")
        || name == "vxlan.calico"
        || name == "tunl0"
        || name.starts_with("weave")
}

/// Cluster CIDRs the rules reveal: kube-proxy's `! -s CIDR ... -j KUBE-MARK-MASQ` (the
/// cluster-CIDR local detector) and flannel's `-s CIDR -d CIDR -j RETURN` masquerade exemption.
pub fn cluster_cidrs(ns: &Namespace) -> BTreeSet<Ipv4Net> {
    let mut out = BTreeSet::new();
    let Some(nat) = ns.ruleset.table(TableName::Nat) else { return out };
    for c in &nat.chains {
        for r in &c.rules {
            let Some(src) = &r.base.src else { continue };
            let Some(len) = src.val.prefix_len() else { continue };
            if len == 0 || len > 24 {
                continue;
            }
            let net = Ipv4Net::new(src.val.addr, len).map(|n| n.trunc()).ok();
            let kube = src.neg && matches!(&r.target, Target::Jump(t) if t == "KUBE-MARK-MASQ");
            let flannel = !src.neg && r.base.dst.as_ref().is_some_and(|d| !d.neg && d.val == src.val) && matches!(r.target, Target::Return);
            if kube || flannel {
                out.extend(net);
            }
        }
    }
    out
}

/// The node's own pod subnet: the prefix of its pod bridge (`cni0`, `cbr0`).
pub fn own_pod_subnet(ns: &Namespace) -> Option<Ipv4Net> {
    ns.addrs.iter().find(|a| a.ifname == "cni0" || a.ifname == "cbr0").and_then(|a| Ipv4Net::new(a.local, a.prefix_len).ok()).map(|n| n.trunc())
}

fn has_kube_proxy(ns: &Namespace) -> bool {
    ns.ruleset.table(TableName::Nat).is_some_and(|t| t.chain("KUBE-SERVICES").is_some())
}

fn calico_active(ns: &Namespace) -> bool {
    ns.links.iter().any(|l| l.name.starts_with("cali") && l.name != "calico")
}

/// Checks that need one namespace only.
pub fn lint_namespace(ns: &Namespace) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let pod_devs: Vec<&str> = ns.links.iter().map(|l| l.name.as_str()).filter(|n| is_pod_device(n)).collect();

    // ip_forward (devinet.c: forwarding is per input device; ip_forward sets all of them).
    if !pod_devs.is_empty() {
        let (fwd, assumed) = ns.sysctls.int("net.ipv4.ip_forward").unwrap_or((0, true));
        if fwd == 0 {
            out.push(diag(
                ns,
                "sysctl.txt",
                if assumed { Severity::Info } else { Severity::Warning },
                "ip-forward-off",
                format!(
                    "net.ipv4.ip_forward is 0{} on a node with pod devices ({}): packets between pods, nodes and Services that must be forwarded are dropped",
                    if assumed { " (assumed: no sysctl.txt)" } else { "" },
                    pod_devs.join(", ")
                ),
            ));
        }
    }

    // br_netfilter: bridged pod-to-Service traffic needs iptables to see bridged frames.
    let bridges: Vec<&str> = ns
        .links
        .iter()
        .filter(|l| matches!(l.kind, LinkKind::Bridge(_)))
        .filter(|b| ns.links.iter().any(|p| p.master.as_deref() == Some(b.name.as_str())))
        .map(|b| b.name.as_str())
        .collect();
    if !bridges.is_empty() && has_kube_proxy(ns) {
        match ns.sysctls.values.get("net.bridge.bridge-nf-call-iptables").map(|v| v.trim()) {
            Some("1") => {}
            Some(v) => out.push(diag(
                ns,
                "sysctl.txt",
                Severity::Warning,
                "bridge-nf-call-iptables-off",
                format!("net.bridge.bridge-nf-call-iptables = {v} while kube-proxy rules exist and bridge(s) {} carry pods: a pod calling a Service whose endpoint sits on the same bridge gets the reply straight from the endpoint's address and drops it", bridges.join(", ")),
            )),
            None => out.push(diag(
                ns,
                "sysctl.txt",
                if ns.sysctls.imported { Severity::Warning } else { Severity::Info },
                "bridge-nf-call-iptables-off",
                format!("no net.bridge.bridge-nf-call-iptables in the snapshot{}: br_netfilter is not loaded, so frames bridged on {} bypass iptables (kube-proxy's DNAT and its reply de-NAT)", if ns.sysctls.imported { "" } else { " (no sysctl.txt)" }, bridges.join(", ")),
            )),
        }
    }

    // Hairpin: a pod reaching itself through a Service needs its port to send the frame back.
    if has_kube_proxy(ns) {
        for b in &bridges {
            let off: Vec<&str> = ns
                .links
                .iter()
                .filter(|p| p.master.as_deref() == Some(*b))
                .filter(|p| p.brport.as_ref().is_some_and(|bp| !bp.hairpin))
                .map(|p| p.name.as_str())
                .collect();
            if !off.is_empty() {
                out.push(diag(
                    ns,
                    "ip-link.json",
                    Severity::Warning,
                    "hairpin-off",
                    format!(
                        "bridge {b}: hairpin mode is off on port(s) {}: a pod calling a Service that load-balances back to itself will time out",
                        off.join(", ")
                    ),
                ));
            }
        }
    }

    let own = own_pod_subnet(ns);
    let cidrs = cluster_cidrs(ns);

    // A local address inside the pod network but outside this node's subnet (incident 3's tunl0).
    for a in &ns.addrs {
        if a.ifname == "lo" {
            continue;
        }
        let inside_cluster = cidrs.iter().find(|c| c.contains(&a.local));
        let inside_own = own.is_some_and(|o| o.contains(&a.local));
        let own_flannel = a.ifname.starts_with("flannel.") && own.is_some_and(|o| o.addr() == a.local);
        if let (Some(c), false, false) = (inside_cluster, inside_own, own_flannel) {
            if calico_active(ns) {
                continue;
            }
            out.push(diag(
                ns,
                "ip-addr.json",
                Severity::Error,
                "local-address-in-pod-network",
                format!(
                    "{}/{} on {} lies in the pod network {c} but outside this node's pod subnet{}: the kernel treats {} as local (addrtype LOCAL matches it, packets to it are delivered here), and a flannel route with it as onlink gateway is refused (fib_check_nh_v4_gw: \"Nexthop has invalid gateway\")",
                    a.local, a.prefix_len, a.ifname,
                    own.map(|o| format!(" {o}")).unwrap_or_default(),
                    a.local
                ),
            ));
        }
    }

    // Routes that swallow part of the pod network: blackholes and leftovers on other devices.
    for r in ns.routes.iter().filter(|r| r.table == RT_TABLE_MAIN) {
        let Some(c) = cidrs.iter().find(|c| c.contains(&r.dst) && **c != r.dst) else { continue };
        if own.is_some_and(|o| o.contains(&r.dst) || r.dst == o) {
            continue;
        }
        let dev = r.dev().unwrap_or("");
        let blackholing = matches!(r.rtype, RouteType::Blackhole | RouteType::Unreachable | RouteType::Prohibit);
        let overlay = dev.starts_with("flannel.") || dev == "vxlan.calico" || dev == "tunl0" || dev.starts_with("cali");
        if (blackholing && !calico_active(ns)) || (!blackholing && !overlay && r.gateway().is_none()) {
            out.push(diag(
                ns,
                "ip-route.json",
                Severity::Warning,
                "route-shadows-pod-network",
                format!(
                    "route {} sits inside the pod network {c} and is not this node's own subnet: packets to {} follow it instead of the overlay",
                    route_text(r),
                    r.dst
                ),
            ));
        }
    }

    // flannel: every remote VTEP neighbour needs its subnet route (vxlan_network.go adds neigh,
    // fdb, then the route; a failed route add leaves them or removes them).
    for l in ns.links.iter().filter(|l| l.name.starts_with("flannel.") && matches!(l.kind, LinkKind::Vxlan(_))) {
        for n in ns.neighs.iter().filter(|n| n.dev == l.name && n.lladdr.is_some()) {
            let routed = ns.routes.iter().any(|r| r.gateway() == Some(n.dst) && r.dev() == Some(l.name.as_str()));
            if !routed {
                let catch = main_route_for(ns, n.dst).map(route_text).unwrap_or_else(|| "no route at all".into());
                out.push(diag(
                    ns,
                    "ip-route.json",
                    Severity::Error,
                    "flannel-route-missing",
                    format!(
                        "{} has a neighbour {} for a remote node's VTEP but no route via it: that node's pod subnet is reached through \"{catch}\" instead",
                        l.name, n.dst
                    ),
                ));
            }
        }
    }
    // What the device model knows (VXLAN fdb and routes, tunnels, bridge ports, proxy ARP).
    out.extend(crate::lint_devices::lint_devices(ns));
    out
}

/// Checks across nodes: each node's pod subnet must be routed from every other flannel node, no
/// node may hold a local address in another node's subnet, and fdb destinations must be node
/// addresses.
pub fn lint_cluster(nodes: &[&Namespace]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let subnets: Vec<(&str, Ipv4Net)> = nodes.iter().filter_map(|n| own_pod_subnet(n).map(|s| (n.name.as_str(), s))).collect();
    let node_addrs: BTreeSet<Ipv4Addr> =
        nodes.iter().flat_map(|n| n.addrs.iter().filter(|a| !is_pod_device(&a.ifname) && a.ifname != "lo").map(|a| a.local)).collect();
    for n in nodes {
        let flannel = n.links.iter().find(|l| l.name.starts_with("flannel."));
        for (other, subnet) in subnets.iter().filter(|(o, _)| *o != n.name) {
            for a in n.addrs.iter().filter(|a| subnet.contains(&a.local)) {
                out.push(diag(
                    n,
                    "ip-addr.json",
                    Severity::Error,
                    "local-address-in-other-node-subnet",
                    format!(
                        "{}/{} on {} lies in {other}'s pod subnet {subnet}: packets for {} stay on {}, and flannel cannot route {subnet} here",
                        a.local, a.prefix_len, a.ifname, a.local, n.name
                    ),
                ));
            }
            if let Some(fl) = flannel {
                let probe = subnet.hosts().next().unwrap_or(subnet.addr());
                let via_overlay = main_route_for(n, probe).is_some_and(|r| r.dev() == Some(fl.name.as_str()));
                if !via_overlay {
                    let catch = main_route_for(n, probe).map(route_text).unwrap_or_else(|| "no route".into());
                    out.push(diag(
                        n,
                        "ip-route.json",
                        Severity::Error,
                        "flannel-route-missing",
                        format!("{other}'s pod subnet {subnet} is not routed through {} on {}: {probe} follows \"{catch}\"", fl.name, n.name),
                    ));
                }
            }
        }
        for e in n.fdb.iter().filter(|e| e.is_self) {
            let Some(dst) = e.dst else { continue };
            if dst.is_unspecified() || dst.is_multicast() {
                continue;
            }
            if !node_addrs.contains(&dst) {
                out.push(diag(
                    n,
                    "bridge-fdb.json",
                    Severity::Warning,
                    "fdb-destination-unknown",
                    format!("fdb entry {} dev {} dst {dst}: no node in the cluster has the address {dst}; encapsulated packets sent there leave the node and are lost unless the underlay maps it (e.g. a cloud NAT)", e.mac, e.dev),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::addr::Addr;
    use crate::model::link::{BridgeInfo, BridgePort, Link, VxlanInfo};
    use crate::model::route::NextHop;
    use crate::model::ruleset::{BaseMatch, Chain, Rule, Ruleset, Table, TextRef};
    use crate::model::types::{AddrMask, Neg, Scope};

    fn link(i: u32, name: &str, kind: LinkKind) -> Link {
        Link {
            ifindex: i,
            name: name.into(),
            kind,
            mtu: 1500,
            mac: None,
            up: true,
            lower_up: true,
            noarp: false,
            promisc: false,
            master: None,
            link_ifindex: None,
            link_name: None,
            link_netnsid: None,
            brport: None,
            group: None,
        }
    }
    fn addr(dev: &str, ip: [u8; 4], len: u8) -> Addr {
        Addr {
            ifname: dev.into(),
            ifindex: 0,
            local: ip.into(),
            prefix_len: len,
            peer: None,
            broadcast: None,
            scope: Scope::Universe,
            secondary: false,
            noprefixroute: false,
            label: None,
        }
    }
    fn route(dst: &str, rtype: RouteType, gw: Option<[u8; 4]>, dev: Option<&str>) -> Route {
        Route {
            table: RT_TABLE_MAIN,
            rtype,
            dst: dst.parse().unwrap_or_else(|_| panic!("{dst}")),
            tos: 0,
            metric: 0,
            protocol: None,
            scope: Scope::Universe,
            prefsrc: None,
            nexthops: if rtype == RouteType::Unicast {
                vec![NextHop { gateway: gw.map(Into::into), dev: dev.map(Into::into), onlink: false, weight: 1, dead: false, linkdown: false }]
            } else {
                vec![]
            },
            mtu: None,
            origin: None,
        }
    }
    /// Node 192.168.86.188 of incident 3, reduced to what the lints read.
    fn node188() -> Namespace {
        let mut nat = Table::new(TableName::Nat, 1);
        nat.add_chain(Chain { name: "KUBE-SERVICES".into(), policy: None, counters: None, line: 2, rules: vec![] });
        nat.add_chain(Chain {
            name: "KUBE-SVC-SO4PW3GA7SPS7IHM".into(),
            policy: None,
            counters: None,
            line: 3,
            rules: vec![Rule {
                line: 4,
                text: TextRef::default(),
                counters: None,
                base: BaseMatch { src: Some(Neg::new(true, AddrMask::from_prefix([10, 244, 0, 0].into(), 16))), ..Default::default() },
                matches: vec![],
                target: Target::Jump("KUBE-MARK-MASQ".into()),
                unreadable: None,
            }],
        });
        let mut cni0 = link(3, "cni0", LinkKind::Bridge(BridgeInfo::default()));
        cni0.up = true;
        let mut veth = link(4, "vethab", LinkKind::Veth);
        veth.master = Some("cni0".into());
        veth.brport = Some(BridgePort { hairpin: true, ..Default::default() });
        Namespace {
            name: "host188".into(),
            links: vec![
                link(1, "lo", LinkKind::Loopback),
                link(2, "eth0", LinkKind::Ether),
                cni0,
                veth,
                link(
                    5,
                    "flannel.1",
                    LinkKind::Vxlan(VxlanInfo {
                        vni: 1,
                        local: Some([192, 168, 86, 188].into()),
                        remote: None,
                        dstport: 8472,
                        dev: Some("eth0".into()),
                        learning: false,
                        port_range: None,
                    }),
                ),
                link(6, "tunl0", LinkKind::Ipip(Default::default())),
            ],
            addrs: vec![
                addr("eth0", [192, 168, 86, 188], 24),
                addr("cni0", [10, 244, 0, 1], 24),
                addr("flannel.1", [10, 244, 0, 0], 32),
                addr("tunl0", [10, 244, 2, 0], 32),
            ],
            routes: vec![
                route("0.0.0.0/0", RouteType::Unicast, Some([192, 168, 86, 1]), Some("eth0")),
                route("10.244.0.0/24", RouteType::Unicast, None, Some("cni0")),
                route("10.244.1.0/24", RouteType::Unicast, Some([10, 244, 1, 0]), Some("flannel.1")),
                route("10.244.2.0/26", RouteType::Blackhole, None, None),
            ],
            ruleset: Ruleset { tables: vec![nat], ..Default::default() },
            ..Default::default()
        }
    }

    fn codes(d: &[Diagnostic]) -> Vec<&str> {
        d.iter().map(|d| d.code.as_str()).collect()
    }

    #[test]
    fn incident_3_node_188_is_diagnosed() {
        let n = node188();
        assert_eq!(cluster_cidrs(&n).into_iter().collect::<Vec<_>>(), vec!["10.244.0.0/16".parse::<Ipv4Net>().unwrap_or_default()]);
        let d = lint_namespace(&n);
        let c = codes(&d);
        assert!(c.contains(&"local-address-in-pod-network"), "{d:#?}");
        assert!(c.contains(&"route-shadows-pod-network"), "{d:#?}");
        assert!(c.contains(&"ip-forward-off"));
        assert!(c.contains(&"bridge-nf-call-iptables-off"));
        assert!(!c.contains(&"hairpin-off"));
        let shadow = d.iter().find(|d| d.code == "route-shadows-pod-network").map(|d| d.message.clone()).unwrap_or_default();
        assert!(shadow.contains("blackhole 10.244.2.0/26"), "{shadow}");

        // With node 189 beside it, the missing flannel route and tunl0's address are named.
        let mut n189 = node188();
        n189.name = "host189".into();
        n189.addrs = vec![addr("eth0", [192, 168, 86, 189], 24), addr("cni0", [10, 244, 2, 1], 24), addr("flannel.1", [10, 244, 2, 0], 32)];
        let d = lint_cluster(&[&n, &n189]);
        let mine: Vec<&Diagnostic> = d.iter().filter(|d| d.span.file.starts_with("host188/")).collect();
        assert!(mine.iter().any(|d| d.code == "local-address-in-other-node-subnet" && d.message.contains("tunl0")), "{d:#?}");
        assert!(mine.iter().any(|d| d.code == "flannel-route-missing" && d.message.contains("blackhole 10.244.2.0/26")), "{d:#?}");
    }

    #[test]
    fn a_healthy_node_has_no_findings() {
        let mut n = node188();
        n.addrs.retain(|a| a.ifname != "tunl0");
        n.routes.retain(|r| r.rtype != RouteType::Blackhole);
        n.routes.push(route("10.244.2.0/24", RouteType::Unicast, Some([10, 244, 2, 0]), Some("flannel.1")));
        n.sysctls.imported = true;
        n.sysctls.values.insert("net.ipv4.ip_forward".into(), "1".into());
        n.sysctls.values.insert("net.bridge.bridge-nf-call-iptables".into(), "1".into());
        assert_eq!(lint_namespace(&n), vec![]);
        if let Some(p) = n.links.iter_mut().find(|l| l.name == "vethab") {
            p.brport = Some(BridgePort { hairpin: false, ..Default::default() });
        }
        assert_eq!(codes(&lint_namespace(&n)), vec!["hairpin-off"]);
    }
}
