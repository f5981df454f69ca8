//! net-tools importers (`route -n`, `ifconfig -a`) against output captured from a real namespace
//! (`tests/fixtures/netns-a-text`), the public corpus and the seed posts in `/work/shared/seeds`.

use sim_core::diag::{Diagnostic, Severity};
use sim_core::model::link::LinkKind;
use sim_core::model::route::RouteType;
use sim_core::parse::{ifconfig, ip_json, route_n};
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

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
fn fixture(p: &str) -> String {
    read(&format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR")))
}
fn errors(d: &[Diagnostic]) -> Vec<String> {
    d.iter().filter(|d| d.severity == Severity::Error).map(|d| d.to_string()).collect()
}
fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn route_n_matches_the_kernel_main_table() {
    let p = route_n::parse("route-n.txt", &fixture("netns-a-text/route-n.txt"));
    assert!(errors(&p.diagnostics).is_empty(), "{:?}", p.diagnostics);
    // The same namespace's `ip -j route`: every main-table route appears, with its type.
    let j = ip_json::parse_routes("ip-route.json", &fixture("netns-a/ip-route.json")).value;
    let main: Vec<_> = j.iter().filter(|r| r.table == 254).collect();
    assert_eq!(p.value.len(), main.len());
    for r in &main {
        let n = p.value.iter().find(|x| x.dst == r.dst && (x.rtype == r.rtype || (r.rtype == RouteType::Prohibit && x.rtype == RouteType::Unreachable)));
        let n = n.unwrap_or_else(|| panic!("{} {:?} missing", r.dst, r.rtype));
        if r.rtype == RouteType::Unicast && r.nexthops.len() == 1 {
            assert_eq!(n.dev(), r.dev(), "{}", r.dst);
            assert_eq!(n.gateway(), r.gateway(), "{}", r.dst);
            assert_eq!(n.metric, r.metric);
        }
    }
    // The kernel's blackhole shows as Iface `*`, unreachable and prohibit both as `!`.
    assert_eq!(p.value.iter().find(|r| r.dst.to_string() == "10.244.1.0/26").unwrap().rtype, RouteType::Blackhole);
    assert_eq!(p.diagnostics.iter().filter(|d| d.code == "reject-route").count(), 2);
}

#[test]
fn seed_route_n_with_star_interface() {
    // A post where the `route -n` output lost its line breaks; Iface `*` is the blackhole
    // calico's IPAM installed (the author's "ip route shows nothing" was the missing table).
    let seed = read(&format!("{}/seeds/002_8ab8108d44c964dc.txt", shared()));
    let line = seed.lines().nth(18).unwrap();
    let p = route_n::parse("002.txt", line);
    assert!(errors(&p.diagnostics).is_empty(), "{:?}", p.diagnostics);
    assert_eq!(p.value.len(), 8);
    let bh = p.value.iter().find(|r| r.dst.to_string() == "10.244.57.0/26").unwrap();
    assert_eq!(bh.rtype, RouteType::Blackhole);
    let f = p.value.iter().find(|r| r.dst.to_string() == "10.244.2.0/24").unwrap();
    assert_eq!((f.gateway(), f.dev()), (Some(ip("10.244.2.0")), Some("flannel.1")));
    let notes: Vec<_> = p.diagnostics.iter().filter(|d| d.code == "annotation").collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].message.contains("###去往宿主机188上的pods的网段路由"));
    assert!(p.diagnostics.iter().any(|d| d.code == "prose"));
    // The whole post: several tables from different hosts, reported as such.
    let all = route_n::parse("002.txt", &seed);
    assert!(all.diagnostics.iter().any(|d| d.code == "second-table"));
}

#[test]
fn corpus_route_n() {
    let p = route_n::parse("c", &read(&format!("{}/corpus/routes/cilium-vxlan-pod-netns-tanjunchen-blog.route-n.txt", shared())));
    assert!(errors(&p.diagnostics).is_empty());
    assert_eq!(p.value.len(), 2);
    assert_eq!(p.value[1].dst.to_string(), "10.0.0.175/32");
    assert_eq!(p.value[0].gateway(), Some(ip("10.0.0.175")));
    let r = route_n::parse("r", &read(&format!("{}/corpus/routes/rhcos-ocp4-sosreport-jds2001.route_-n.txt", shared())));
    assert_eq!(r.value.len(), 1);
    assert_eq!(r.value[0].metric, 100);
}

#[test]
fn ifconfig_matches_ip_addr() {
    let p = ifconfig::parse_counted("ifconfig-a.txt", &fixture("netns-a-text/ifconfig-a.txt"));
    assert!(errors(&p.parsed.diagnostics).is_empty(), "{:?}", p.parsed.diagnostics);
    let (links, addrs) = &p.parsed.value;
    let j = ip_json::parse_addrs("ip-addr.json", &fixture("netns-a/ip-addr.json")).value;
    // ifconfig lists one IPv4 address per device: the primary one.
    for a in j.iter().filter(|a| !a.secondary) {
        if j.iter().filter(|b| b.ifname == a.ifname).count() > 1 {
            continue;
        }
        let b = addrs.iter().find(|b| b.ifname == a.ifname).unwrap_or_else(|| panic!("{}", a.ifname));
        // A `peer` on a device without IFF_POINTOPOINT (vpeer1 here) is not printed by ifconfig.
        assert_eq!((b.local, b.prefix_len), (a.local, a.prefix_len), "{}", a.ifname);
    }
    let jl = ip_json::parse_links("ip-link.json", &fixture("netns-a/ip-link.json")).value;
    assert_eq!(links.len(), jl.len());
    for l in &jl {
        let b = links.iter().find(|b| b.name == l.name).unwrap();
        assert_eq!((b.up, b.mtu), (l.up, l.mtu), "{}", l.name);
        // ifconfig prints no address for the loopback device.
        if l.kind != LinkKind::Loopback {
            assert_eq!(b.mac, l.mac, "{}", l.name);
        }
    }
    assert!(p.ipv6_ignored > 0);
}

#[test]
fn corpus_ifconfig() {
    for f in [
        "kind-calico-ipip-controlplane-tanjunchen-blog.ifconfig.txt",
        "kind-calico-ipip-worker3-tanjunchen-blog.ifconfig.txt",
        "cilium-vxlan-node-tanjunchen-blog.ifconfig-cilium_host.txt",
    ] {
        let p = ifconfig::parse(f, &read(&format!("{}/corpus/links/{f}", shared())));
        assert!(errors(&p.diagnostics).is_empty(), "{f}: {:?}", p.diagnostics);
        assert!(p.diagnostics.iter().all(|d| d.severity == Severity::Info), "{f}: {:?}", p.diagnostics);
    }
    let p = ifconfig::parse("c", &read(&format!("{}/corpus/links/kind-calico-ipip-controlplane-tanjunchen-blog.ifconfig.txt", shared())));
    let (links, addrs) = p.value;
    let t = links.iter().find(|l| l.name == "tunl0").unwrap();
    assert!(matches!(t.kind, LinkKind::Ipip(_)));
    assert!(t.up && t.lower_up && t.noarp);
    assert_eq!(t.mtu, 1440);
    let a = addrs.iter().find(|a| a.ifname == "tunl0").unwrap();
    assert_eq!((a.local, a.prefix_len), (ip("10.244.82.0"), 32));
    assert_eq!(links.iter().find(|l| l.name == "lo").unwrap().kind, LinkKind::Loopback);
    assert_eq!(links.iter().find(|l| l.name == "cali38bd23d7943").unwrap().mac.unwrap().to_string(), "ee:ee:ee:ee:ee:ee");
}

#[test]
fn old_ifconfig_layout() {
    let text = "eth0      Link encap:Ethernet  HWaddr 02:42:ac:11:00:02  \n          inet addr:172.17.0.2  Bcast:172.17.255.255  Mask:255.255.0.0\n          UP BROADCAST RUNNING MULTICAST  MTU:1500  Metric:1\n          RX packets:10 errors:0 dropped:0 overruns:0 frame:0\n\nlo        Link encap:Local Loopback  \n          inet addr:127.0.0.1  Mask:255.0.0.0\n          UP LOOPBACK RUNNING  MTU:65536  Metric:1\n";
    let p = ifconfig::parse("old", text);
    assert!(errors(&p.diagnostics).is_empty(), "{:?}", p.diagnostics);
    let (links, addrs) = p.value;
    assert_eq!(links[0].mac.unwrap().to_string(), "02:42:ac:11:00:02");
    assert!(links[0].up && links[0].lower_up);
    assert_eq!(links[1].kind, LinkKind::Loopback);
    assert_eq!((addrs[0].local, addrs[0].prefix_len, addrs[0].broadcast), (ip("172.17.0.2"), 16, Some(ip("172.17.255.255"))));
}

#[test]
fn ifconfig_unmodelled_hardware_is_reported_where_it_is() {
    let text = "eth0: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500\n        inet 192.0.2.1  netmask 255.255.255.0  broadcast 192.0.2.255\n        ether 02:00:00:00:00:01  txqueuelen 1000  (Ethernet)\n\nwg0: flags=209<UP,POINTOPOINT,RUNNING,NOARP>  mtu 1420\n        inet 10.9.0.1  netmask 255.255.255.255  destination 10.9.0.2\n        unspec 00-00-00-00-00-00-00-00-00-00-00-00-00-00-00-00  txqueuelen 1000  (UNSPEC)\n";
    let p = ifconfig::parse("i", text);
    let w: Vec<_> = p.diagnostics.iter().filter(|d| d.code == "unknown-kind").collect();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].span.to_string(), "i:5:1");
    let (links, addrs) = p.value;
    assert_eq!(links[1].kind, LinkKind::Other { name: "unspec".into() });
    assert_eq!(addrs[1].peer, Some(ip("10.9.0.2")));
}
