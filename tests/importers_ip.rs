//! `ip -j` and `ip` text importers against output captured from real namespaces
//! (`tests/fixtures/netns-a*`, see its README) and the public corpus in `/work/shared/corpus`.

use sim_core::diag::{Diagnostic, Severity};
use sim_core::model::link::LinkKind;
use sim_core::model::route::{RouteType, RT_TABLE_LOCAL, RT_TABLE_MAIN};
use sim_core::model::rule::RuleAction;
use sim_core::model::types::Scope;
use sim_core::parse::{ip_json, ip_text};
use std::net::Ipv4Addr;

/// The shared folder (corpus, seeds): beside the repository in CI, at /work/shared on a
/// developer machine, or where `NFPATH_SHARED` points. Missing is a failure, never a skip.
fn shared() -> String {
    let m = env!("CARGO_MANIFEST_DIR");
    let cands = [std::env::var("NFPATH_SHARED").ok(), Some(format!("{m}/../shared")), Some(format!("{m}/../../shared")), Some("/work/shared".to_string())];
    for c in cands.into_iter().flatten() {
        if std::path::Path::new(&c).join("corpus").is_dir() {
            return c;
        }
    }
    panic!("the shared corpus folder was not found (looked beside the repository and at /work/shared; set NFPATH_SHARED)");
}

fn fixture(p: &str) -> String {
    let path = format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn corpus(p: &str) -> String {
    let path = format!("{}/corpus/{p}", shared());
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn errors(d: &[Diagnostic]) -> Vec<String> {
    d.iter().filter(|d| d.severity == Severity::Error).map(|d| d.to_string()).collect()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn json_links_from_a_real_namespace() {
    let p = ip_json::parse_links("ip-link.json", &fixture("netns-a/ip-link.json"));
    assert!(errors(&p.diagnostics).is_empty(), "{:?}", p.diagnostics);
    let l = |n: &str| p.value.iter().find(|l| l.name == n).unwrap_or_else(|| panic!("no {n}"));
    assert_eq!(l("lo").kind, LinkKind::Loopback);
    // The uplink veth's peer lives in namespace b: index plus netnsid, no name.
    let upa = l("upa");
    assert_eq!(upa.kind, LinkKind::Veth);
    assert_eq!(upa.link_netnsid, Some(0));
    assert_eq!(upa.link_ifindex, Some(2));
    // Same-namespace veth pair: the peer is named and resolved to its index.
    let vpeer1 = l("vpeer1");
    assert_eq!(vpeer1.link_name.as_deref(), Some("vport1"));
    assert_eq!(vpeer1.link_ifindex, Some(l("vport1").ifindex));
    match &l("br0").kind {
        LinkKind::Bridge(b) => {
            assert!(b.nf_call_iptables);
            assert_eq!(b.ageing_time, Some(3000));
            assert_eq!(b.stp_state, 0);
        }
        k => panic!("br0 is {k:?}"),
    }
    let p1 = l("vport1").brport.clone().unwrap();
    assert!(p1.hairpin && !p1.learning && !p1.flood && p1.proxy_arp);
    assert_eq!(p1.state, "forwarding");
    assert_eq!(l("vport1").master.as_deref(), Some("br0"));
    let p2 = l("vport2").brport.clone().unwrap();
    assert_eq!(p2.state, "disabled");
    assert!(l("vport2").up && !l("vport2").lower_up);
    match &l("vx0").kind {
        LinkKind::Vxlan(v) => {
            assert_eq!(v.vni, 42);
            assert_eq!(v.local, Some(ip("198.51.100.1")));
            assert_eq!(v.remote, Some(ip("198.51.100.2")));
            assert_eq!(v.dstport, 8472);
            assert_eq!(v.dev.as_deref(), Some("upa"));
            assert!(!v.learning);
        }
        k => panic!("vx0 is {k:?}"),
    }
    match &l("vx1").kind {
        LinkKind::Vxlan(v) => {
            assert_eq!(v.remote, Some(ip("239.1.1.1")));
            assert_eq!(v.port_range, Some((30000, 40000)));
            assert!(v.learning);
        }
        k => panic!("vx1 is {k:?}"),
    }
    // macvlan is not modelled: kept by name and reported.
    assert_eq!(l("mv0").kind, LinkKind::Other { name: "macvlan".into() });
    assert!(p.diagnostics.iter().any(|d| d.code == "unknown-kind" && d.message.contains("mv0")));
}

#[test]
fn json_addrs_count_ipv6() {
    let c = ip_json::parse_addrs_counted("ip-addr.json", &fixture("netns-a/ip-addr.json"));
    assert!(errors(&c.parsed.diagnostics).is_empty());
    let a = &c.parsed.value;
    let br: Vec<_> = a.iter().filter(|a| a.ifname == "br0").map(|a| (a.local, a.prefix_len)).collect();
    assert_eq!(br, vec![(ip("10.244.1.1"), 24), (ip("10.96.0.10"), 32)]);
    let sec = a.iter().find(|a| a.local == ip("192.0.2.9")).unwrap();
    assert!(sec.secondary);
    let ptp = a.iter().find(|a| a.local == ip("203.0.113.5")).unwrap();
    assert_eq!(ptp.peer, Some(ip("203.0.113.6")));
    assert_eq!(a.iter().find(|a| a.ifname == "lo").unwrap().scope, Scope::Host);
    assert!(c.ipv6_ignored >= 2, "{}", c.ipv6_ignored);
}

#[test]
fn json_routes_all_tables() {
    let c = ip_json::parse_routes_counted("ip-route.json", &fixture("netns-a/ip-route.json"));
    assert!(errors(&c.parsed.diagnostics).is_empty(), "{:?}", c.parsed.diagnostics);
    let r = &c.parsed.value;
    let find = |dst: &str, table: u32| r.iter().find(|x| x.dst.to_string() == dst && x.table == table).unwrap_or_else(|| panic!("{dst} t{table}"));
    let d = find("0.0.0.0/0", RT_TABLE_MAIN);
    assert_eq!((d.gateway(), d.dev(), d.metric, d.protocol.as_deref()), (Some(ip("198.51.100.2")), Some("upa"), 100, Some("static")));
    assert_eq!(find("10.244.1.0/26", RT_TABLE_MAIN).rtype, RouteType::Blackhole);
    assert_eq!(find("10.244.1.0/26", RT_TABLE_MAIN).protocol.as_deref(), Some("bird"));
    assert_eq!(find("10.250.0.0/16", RT_TABLE_MAIN).rtype, RouteType::Unreachable);
    assert_eq!(find("10.251.0.0/16", RT_TABLE_MAIN).rtype, RouteType::Prohibit);
    assert_eq!(find("10.10.0.0/16", 100).rtype, RouteType::Throw);
    assert!(find("10.244.2.0/24", RT_TABLE_MAIN).nexthops[0].onlink);
    assert!(find("10.8.0.0/16", RT_TABLE_MAIN).nexthops[0].linkdown);
    let mp = find("10.252.0.0/16", RT_TABLE_MAIN);
    assert_eq!(mp.nexthops.len(), 2);
    assert_eq!(mp.nexthops[1].weight, 2);
    assert_eq!(mp.nexthops[1].dev.as_deref(), Some("mv0"));
    let t = find("10.253.0.0/16", RT_TABLE_MAIN);
    assert_eq!((t.tos, t.mtu, t.scope, t.prefsrc), (0x10, Some(1400), Scope::Link, Some(ip("198.51.100.1"))));
    assert_eq!(find("10.244.1.255/32", RT_TABLE_LOCAL).rtype, RouteType::Broadcast);
    assert_eq!(find("127.0.0.0/8", RT_TABLE_LOCAL).rtype, RouteType::Local);
    assert_eq!(find("127.0.0.0/8", RT_TABLE_LOCAL).scope, Scope::Host);
    assert!(c.ipv6_ignored > 5);
}

#[test]
fn json_and_text_routes_agree() {
    let j = ip_json::parse_routes("ip-route.json", &fixture("netns-a/ip-route.json")).value;
    let t = ip_text::parse_routes("ip-route.txt", &fixture("netns-a-text/ip-route.txt"));
    assert!(errors(&t.diagnostics).is_empty(), "{:?}", t.diagnostics);
    let strip = |v: &Vec<sim_core::model::route::Route>| {
        v.iter()
            .map(|r| {
                let mut r = r.clone();
                r.origin = None;
                r
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&j), strip(&t.value));
}

#[test]
fn json_rules_every_selector() {
    let p = ip_json::parse_rules("ip-rule.json", &fixture("netns-a/ip-rule.json"));
    assert!(errors(&p.diagnostics).is_empty(), "{:?}", p.diagnostics);
    let r = |prio: u32| p.value.iter().find(|r| r.priority == prio).unwrap();
    assert_eq!(r(0).action, RuleAction::Table(RT_TABLE_LOCAL));
    assert_eq!(r(100).from, Some("10.244.1.0/24".parse().unwrap()));
    assert_eq!(r(100).action, RuleAction::Table(100));
    assert!(r(110).not);
    assert_eq!(r(110).fwmark, Some((0x200, 0xf00)));
    assert_eq!((r(120).iif.as_deref(), r(120).tos, r(120).to), (Some("br0"), Some(0x10), Some("10.9.0.0/16".parse().unwrap())));
    assert_eq!((r(130).ipproto, r(130).sport, r(130).dport, r(130).action.clone()), (Some(6), Some((1000, 1000)), Some((8000, 8080)), RuleAction::Goto(32766)));
    assert_eq!((r(140).oif.as_deref(), r(140).uidrange, r(140).action.clone()), (Some("upa"), Some((1000, 2000)), RuleAction::Unreachable));
    assert_eq!(r(150).suppress_prefixlength, Some(0));
    assert_eq!(r(160).action, RuleAction::Prohibit);
    assert_eq!(r(160).fwmark, Some((1, u32::MAX)));
    assert_eq!(r(170).action, RuleAction::Blackhole);
    assert_eq!(r(180).action, RuleAction::Nop);
    assert!(r(190).l3mdev);
    let t = ip_text::parse_rules("ip-rule.txt", &fixture("netns-a-text/ip-rule.txt"));
    assert!(errors(&t.diagnostics).is_empty(), "{:?}", t.diagnostics);
    assert_eq!(t.value, p.value);
}

#[test]
fn json_neighbours() {
    let p = ip_json::parse_neighs("ip-neigh.json", &fixture("netns-a/ip-neigh.json"));
    assert!(errors(&p.diagnostics).is_empty());
    let n = |a: &str| p.value.iter().find(|n| n.dst == ip(a)).unwrap();
    assert!(n("10.244.1.77").router);
    assert_eq!(n("10.244.2.0").state, vec!["PERMANENT".to_string()]);
    assert!(!n("198.51.100.8").usable());
    let t = ip_text::parse_neighs("ip-neigh.txt", &fixture("netns-a-text/ip-neigh.txt"));
    assert!(errors(&t.diagnostics).is_empty());
    assert_eq!(t.value, p.value);
}

#[test]
fn text_links_and_addrs_match_json() {
    let j = ip_json::parse_links("ip-link.json", &fixture("netns-a/ip-link.json")).value;
    let t = ip_text::parse_links("ip-link.txt", &fixture("netns-a-text/ip-link.txt"));
    assert!(errors(&t.diagnostics).is_empty(), "{:?}", t.diagnostics);
    for (a, b) in j.iter().zip(&t.value) {
        let mut a = a.clone();
        // The text names the peer namespace (`link-netns nfp-imp-b`) where JSON gives its id.
        if b.link_netnsid == Some(-1) {
            a.link_netnsid = Some(-1);
        }
        assert_eq!(&a, b);
    }
    assert_eq!(j.len(), t.value.len());
    let ja = ip_json::parse_addrs("ip-addr.json", &fixture("netns-a/ip-addr.json")).value;
    let ta = ip_text::parse_addrs_counted("ip-addr.txt", &fixture("netns-a-text/ip-addr.txt"));
    assert!(errors(&ta.parsed.diagnostics).is_empty(), "{:?}", ta.parsed.diagnostics);
    let norm = |v: &[sim_core::model::addr::Addr]| {
        v.iter()
            .map(|a| {
                let mut a = a.clone();
                a.label = None;
                a
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(norm(&ja), norm(&ta.parsed.value));
    assert!(ta.ipv6_ignored > 0);
}

#[test]
fn synthetic_ipip_dummy_vlan_json() {
    let p = ip_json::parse_links("kinds.json", &fixture("ip-link-ipip-dummy-vlan.json"));
    assert!(errors(&p.diagnostics).is_empty(), "{:?}", p.diagnostics);
    let l = |n: &str| p.value.iter().find(|l| l.name == n).unwrap();
    match &l("tunl0").kind {
        LinkKind::Ipip(t) => assert_eq!((t.local, t.remote), (None, None)),
        k => panic!("{k:?}"),
    }
    match &l("ipip1").kind {
        LinkKind::Ipip(t) => {
            assert_eq!((t.local, t.remote, t.dev.as_deref(), t.ttl), (Some(ip("198.51.100.1")), Some(ip("198.51.100.2")), Some("eth0"), Some(64)))
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(l("kube-ipvs0").kind, LinkKind::Dummy);
    assert_eq!(l("eth0.100").kind, LinkKind::Vlan { id: 100 });
    assert_eq!(l("eth0.100").link_name.as_deref(), Some("eth0"));
}

#[test]
fn corpus_routes_import() {
    let dir = format!("{}/corpus/routes", shared());
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.contains("ip-route") && !name.contains("ip_route") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let p = ip_text::parse_routes(&name, &text);
        assert!(errors(&p.diagnostics).is_empty(), "{name}: {:?}", p.diagnostics);
        assert!(!p.value.is_empty(), "{name}");
        let notes: Vec<_> = p.diagnostics.iter().filter(|d| d.code == "annotation").collect();
        assert_eq!(name.contains("ANNOTATED") || name.contains("felix-issue2953"), !notes.is_empty(), "{name}: {notes:?}");
        let others: Vec<_> = p.diagnostics.iter().filter(|d| d.severity == Severity::Warning && d.code != "annotation").collect();
        assert!(others.is_empty(), "{name}: {others:?}");
        n += 1;
    }
    assert!(n >= 14, "{n}");
}

#[test]
fn corpus_trailing_annotation_is_located() {
    let name = "calico-vxlan-crosssubnet-aws-felix-issue2953.ip-route.txt";
    let p = ip_text::parse_routes(name, &corpus(&format!("routes/{name}")));
    let d: Vec<_> = p.diagnostics.iter().filter(|d| d.code == "annotation").collect();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].span.to_string(), format!("{name}:10:61"));
    assert!(d[0].message.contains("<-------- coredns pods are in this space atm"));
    let r = p.value.iter().find(|r| r.dst.to_string() == "192.168.141.0/26").unwrap();
    assert_eq!((r.gateway(), r.dev(), r.nexthops[0].onlink, r.protocol.as_deref()), (Some(ip("10.37.3.250")), Some("ens5"), true, Some("80")));
    assert!(p.value.iter().find(|r| r.dst.to_string() == "172.17.0.0/16").unwrap().nexthops[0].linkdown);
}

#[test]
fn corpus_table_all_and_old_spacing() {
    let name = "rhcos-ocp4-sosreport-jds2001.ip_route_show_table_all.txt";
    let c = ip_text::parse_routes_counted(name, &corpus(&format!("routes/{name}")));
    assert_eq!(c.parsed.value.len(), 8);
    assert_eq!(c.ipv6_ignored, 5);
    let b = c.parsed.value.iter().find(|r| r.dst.to_string() == "127.255.255.255/32").unwrap();
    assert_eq!((b.rtype, b.table, b.scope), (RouteType::Broadcast, RT_TABLE_LOCAL, Scope::Link));
    let g = ip_text::parse_routes("g", &corpus("routes/gravity-flannel-vxlan-gravitational-workshop.ip-route.txt"));
    let cni = g.value.iter().find(|r| r.dst.to_string() == "10.244.73.0/24").unwrap();
    assert_eq!((cni.dev(), cni.protocol.as_deref(), cni.scope, cni.prefsrc), (Some("cni0"), Some("kernel"), Scope::Link, Some(ip("10.244.73.1"))));
}

#[test]
fn corpus_rules_import() {
    let k = ip_text::parse_rules("k3s", &corpus("routes/k3s-v1.30.6-flannel-kuberouter-netpol-netbird-ddanielgal-ytdl.ip-rule.txt"));
    assert!(errors(&k.diagnostics).is_empty());
    assert_eq!(k.value.len(), 5);
    let nb = &k.value[2];
    assert!(nb.not);
    assert_eq!(nb.fwmark, Some((0x1bd00, u32::MAX)));
    assert!(k.diagnostics.iter().any(|d| d.code == "named-table" && d.message.contains("netbird")));
    assert_eq!(k.value[1].suppress_prefixlength, Some(0));
    let c = ip_text::parse_rules("cilium", &corpus("routes/cilium-vxlan-node-tanjunchen-blog.ip-rule.ANNOTATED.txt"));
    assert!(errors(&c.diagnostics).is_empty());
    assert_eq!(c.value.len(), 4);
    assert_eq!(c.value[0].fwmark, Some((0x200, 0xf00)));
    assert_eq!(c.diagnostics.iter().filter(|d| d.code == "annotation").count(), 5);
    let r = ip_text::parse_rules("rhcos", &corpus("routes/rhcos-ocp4-sosreport-jds2001.ip_-4_rule.txt"));
    assert!(r.diagnostics.is_empty());
    assert_eq!(r.value, sim_core::model::rule::FibRule::defaults());
}

#[test]
fn corpus_links_import() {
    for name in [
        "gravity-flannel-vxlan-gravitational-workshop.ip-link.txt",
        "kind-calico-ipip-controlplane-tanjunchen-blog.ip-link.txt",
        "kind-flannel-vxlan-tkng-guide.ip-link-show-flannel.1.txt",
        "kind-kubeproxy-ipvs-tkng-guide.ip-link-show-kube-ipvs0.txt",
        "rhcos-ocp4-sosreport-jds2001.ip_-s_-d_link.txt",
        "gravity-flannel-vxlan-gravitational-workshop.ip-d-addr-show-flannel.1.txt",
        "gravity-flannel-vxlan-gravitational-workshop.coredns-netns-ip-a.txt",
        "gravity-flannel-vxlan-gravitational-workshop.ip-addr-show-cni0.txt",
        "rhcos-ocp4-sosreport-jds2001.ip_-d_address.txt",
        "calico-vxlan-ipvs-joy717-blog.ip-a-show-kube-ipvs0.PARTIAL.txt",
        "k3s-v1.30.6-flannel-kuberouter-netpol-netbird-ddanielgal-ytdl.ip-br-addr.txt",
    ] {
        let (c, _) = ip_text::parse_link_blocks(name, &corpus(&format!("links/{name}")));
        assert!(errors(&c.parsed.diagnostics).is_empty(), "{name}: {:?}", c.parsed.diagnostics);
        assert!(!c.parsed.value.0.is_empty(), "{name}");
    }
    let (g, _) = ip_text::parse_link_blocks("g", &corpus("links/gravity-flannel-vxlan-gravitational-workshop.ip-d-addr-show-flannel.1.txt"));
    match &g.parsed.value.0[0].kind {
        LinkKind::Vxlan(v) => assert_eq!((v.vni, v.local, v.dstport, v.dev.as_deref(), v.learning), (1, Some(ip("10.162.0.7")), 8472, Some("ens4"), false)),
        k => panic!("{k:?}"),
    }
    assert_eq!(g.parsed.value.1[0].local, ip("10.244.73.0"));
    let (k, _) = ip_text::parse_link_blocks("k", &corpus("links/kind-kubeproxy-ipvs-tkng-guide.ip-link-show-kube-ipvs0.txt"));
    assert_eq!(k.parsed.value.0[0].kind, LinkKind::Dummy);
    let (c, _) = ip_text::parse_link_blocks("c", &corpus("links/kind-calico-ipip-controlplane-tanjunchen-blog.ip-link.txt"));
    assert!(matches!(c.parsed.value.0.iter().find(|l| l.name == "tunl0").unwrap().kind, LinkKind::Ipip(_)));
    let cali = c.parsed.value.0.iter().find(|l| l.name == "calia4307b0e305").unwrap();
    assert_eq!((cali.link_ifindex, cali.link_netnsid), (Some(3), Some(-1)));
    let (b, _) = ip_text::parse_link_blocks("b", &corpus("links/k3s-v1.30.6-flannel-kuberouter-netpol-netbird-ddanielgal-ytdl.ip-br-addr.txt"));
    assert_eq!(b.parsed.value.0.len(), 17);
    assert_eq!(b.parsed.value.1.iter().find(|a| a.ifname == "wt0").unwrap().local, ip("100.90.167.160"));
    assert!(b.ipv6_ignored >= 14);
}

#[test]
fn corpus_neighbours_import() {
    let g = ip_text::parse_neighs_counted("g", &corpus("fdb-neigh/gravity-flannel-vxlan-gravitational-workshop.ip-neighbor-show-dev-cni0.txt"), Some("cni0"));
    assert!(errors(&g.parsed.diagnostics).is_empty());
    assert_eq!(g.parsed.value.len(), 22);
    assert!(g.parsed.value.iter().all(|n| n.dev == "cni0"));
    let nodev = ip_text::parse_neighs("g", &corpus("fdb-neigh/gravity-flannel-vxlan-gravitational-workshop.ip-neighbor-show-dev-cni0.txt"));
    assert!(nodev.diagnostics.iter().any(|d| d.code == "missing-dev"));
    let s = ip_text::parse_neighs("s", &corpus("fdb-neigh/rhcos-ocp4-sosreport-jds2001.ip_-s_-s_neigh_show.txt"));
    assert!(s.diagnostics.is_empty(), "{:?}", s.diagnostics);
    assert_eq!(s.value.len(), 5);
    assert_eq!(s.value[1].state, vec!["DELAY".to_string()]);
    for f in ["gravity-flannel-vxlan-gravitational-workshop.ip-neigh-grep-flannel.1.txt", "kind-flannel-vxlan-tkng-guide.ip-neigh-grep-PERM.txt"] {
        let p = ip_text::parse_neighs(f, &corpus(&format!("fdb-neigh/{f}")));
        assert!(p.diagnostics.is_empty());
        assert!(p.value.iter().all(|n| n.dev == "flannel.1" && n.state == vec!["PERMANENT".to_string()]));
    }
}

#[test]
fn json_errors_are_located() {
    let p = ip_json::parse_links("ip-link.json", "[{\"ifindex\": 1, \"ifname\": \"lo\", \"flags\": [\"UP\"]},\n {\"ifindex\": 2 \"ifname\": \"x\"}]");
    let e = errors(&p.diagnostics);
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("ip-link.json:2:16: error[json-syntax]"), "{e:?}");
    let p = ip_json::parse_routes("r.json", "[{\"dst\": \"10.0.0.0/8\", \"type\": \"weird\"}]");
    assert!(errors(&p.diagnostics)[0].starts_with("r.json:1:32"), "{:?}", p.diagnostics);
}

#[test]
fn brief_link_listing() {
    let (c, _) = ip_text::parse_link_blocks("ip-br-link.txt", &fixture("ip-br-link.txt"));
    assert!(c.parsed.diagnostics.iter().all(|d| d.severity == Severity::Info), "{:?}", c.parsed.diagnostics);
    let links = &c.parsed.value.0;
    assert_eq!(links.len(), 3);
    let x0 = links.iter().find(|l| l.name == "x0").unwrap();
    assert!(x0.up && !x0.lower_up);
    assert_eq!(x0.link_name.as_deref(), Some("x1"));
    assert_eq!(x0.link_ifindex, links.iter().find(|l| l.name == "x1").map(|l| l.ifindex));
    assert_eq!(x0.mac.unwrap().to_string(), "36:9f:87:ed:23:f3");
    assert!(!links[0].up);
}
