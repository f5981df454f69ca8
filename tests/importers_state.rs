//! fdb, ipset, conntrack, sysctl and ss importers against output captured from real namespaces
//! (`tests/fixtures/netns-*`, see its README) and the public corpus in `/work/shared/corpus`.

use sim_core::diag::{Diagnostic, Severity};
use sim_core::model::ipset::{SetDim, SetElem};
use sim_core::parse::{bridge_fdb, conntrack, ipset, ss, sysctl};
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
fn corpus(p: &str) -> String {
    read(&format!("{}/corpus/{p}", shared()))
}
fn errors(d: &[Diagnostic]) -> Vec<String> {
    d.iter().filter(|d| d.severity == Severity::Error).map(|d| d.to_string()).collect()
}
fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn fdb_json_and_text_agree() {
    let j = bridge_fdb::parse("bridge-fdb.json", &fixture("netns-a/bridge-fdb.json"));
    assert!(j.diagnostics.is_empty(), "{:?}", j.diagnostics);
    let t = bridge_fdb::parse("bridge-fdb.txt", &fixture("netns-a-text/bridge-fdb.txt"));
    assert!(t.diagnostics.is_empty(), "{:?}", t.diagnostics);
    assert_eq!(j.value, t.value);
    let e = j.value.iter().find(|e| e.mac.to_string() == "02:00:00:00:01:01").unwrap();
    assert_eq!((e.dev.as_str(), e.master.as_deref(), e.is_static, e.permanent, e.is_self), ("vport1", Some("br0"), true, false, false));
    let v = j.value.iter().find(|e| e.mac.to_string() == "02:00:00:00:02:00").unwrap();
    assert_eq!((v.dev.as_str(), v.dst, v.is_self, v.permanent), ("vx0", Some(ip("198.51.100.2")), true, true));
    let g = j.value.iter().find(|e| e.dev == "vx1").unwrap();
    assert_eq!(g.dst, Some(ip("239.1.1.1")));
    assert!(g.raw_flags.contains(&"via upa".to_string()));
}

#[test]
fn corpus_fdb() {
    let g = bridge_fdb::parse("g", &corpus("fdb-neigh/gravity-flannel-vxlan-gravitational-workshop.bridge-fdb-grep-flannel.1.txt"));
    assert!(g.diagnostics.is_empty());
    assert_eq!(g.value[0].dst, Some(ip("10.162.0.6")));
    assert_eq!(g.value[0].dev, "flannel.1");
    // `bridge fdb show dev flannel.1` omits the device: reported, or filled in when given.
    let k = bridge_fdb::parse("k", &corpus("fdb-neigh/kind-flannel-vxlan-tkng-guide.bridge-fdb-show-dev-flannel.1.txt"));
    assert_eq!(k.diagnostics.iter().filter(|d| d.code == "missing-dev").count(), 1);
    let k = bridge_fdb::parse_counted("k", &corpus("fdb-neigh/kind-flannel-vxlan-tkng-guide.bridge-fdb-show-dev-flannel.1.txt"), Some("flannel.1")).parsed;
    assert!(k.diagnostics.is_empty());
    assert!(k.value.iter().all(|e| e.dev == "flannel.1" && e.is_self && e.permanent && e.dst.is_some()));
    let r = bridge_fdb::parse("r", &corpus("fdb-neigh/rhcos-ocp4-sosreport-jds2001.bridge_-s_-s_-d_-t_fdb_show.txt"));
    assert!(errors(&r.diagnostics).is_empty());
    assert_eq!(r.diagnostics.iter().filter(|d| d.code == "dev-dev").count(), 4);
    assert!(r.value.iter().all(|e| e.dev == "eth0"));
    let b = bridge_fdb::parse_counted("b", &corpus("fdb-neigh/gravity-flannel-vxlan-gravitational-workshop.brctl-showmacs-cni0.txt"), Some("cni0")).parsed;
    assert!(errors(&b.diagnostics).is_empty());
    assert_eq!(b.value.len(), 50);
    assert!(b.diagnostics.iter().any(|d| d.code == "brctl-ports"));
    assert_eq!(b.value[0].master.as_deref(), Some("cni0"));
}

#[test]
fn ipset_save_and_list_agree() {
    let s = ipset::parse("ipset-save.txt", &fixture("netns-a/ipset-save.txt"));
    assert!(errors(&s.diagnostics).is_empty(), "{:?}", s.diagnostics);
    let l = ipset::parse("ipset-list.txt", &fixture("netns-a-text/ipset-list.txt"));
    assert!(errors(&l.diagnostics).is_empty(), "{:?}", l.diagnostics);
    assert_eq!(s.value.len(), l.value.len());
    for (a, b) in s.value.iter().zip(&l.value) {
        assert_eq!((&a.name, &a.set_type, &a.dims, &a.family), (&b.name, &b.set_type, &b.dims, &b.family));
        let ea: Vec<_> = a.members.iter().map(|m| (&m.elems, m.nomatch)).collect();
        let eb: Vec<_> = b.members.iter().map(|m| (&m.elems, m.nomatch)).collect();
        assert_eq!(ea, eb, "{}", a.name);
        assert!(!b.incomplete);
    }
    let set = |n: &str| s.value.iter().find(|x| x.name == n).unwrap();
    let net = set("t-net");
    assert!(net.members.iter().any(|m| m.nomatch && m.elems == vec![SetElem::Net("10.1.0.0/16".parse().unwrap())]));
    let ipport = set("t-ipport");
    assert_eq!(ipport.dims, vec![SetDim::Ip, SetDim::Port]);
    assert!(ipport.members.iter().any(|m| m.elems == vec![SetElem::Net("10.96.0.10/32".parse().unwrap()), SetElem::Port { proto: 17, port: 53 }]));
    // ICMP echo-request is stored as type 8 << 8 | code 0.
    assert!(ipport.members.iter().any(|m| m.elems[1] == SetElem::Port { proto: 1, port: 0x0800 }));
    assert_eq!(set("t-ipportnet").members[0].elems[2], SetElem::Net("192.0.2.0/24".parse().unwrap()));
    assert_eq!(set("t-netport").members[0].elems[1], SetElem::Port { proto: 132, port: 99 });
    let iface = set("t-netiface");
    assert!(iface.members.iter().any(|m| m.elems[1] == SetElem::Iface("eth1".into()) && m.options.contains(&"physdev".to_string())));
    assert_eq!(set("t-bport").members.len(), 4);
    assert_eq!(set("t-bport").members[0].elems, vec![SetElem::Port { proto: 0, port: 30000 }]);
    assert_eq!(set("t-list").members[1].elems, vec![SetElem::Set("t-net".into())]);
    assert!(matches!(set("t-v6").members[0].elems[0], SetElem::Other(_)));
    assert!(set("t-comment").members.iter().any(|m| m.options.contains(&"comment \"a b c\"".to_string())));
    assert_eq!(set("t-range").members.len(), 4);
}

#[test]
fn ipset_ranges_expand_like_the_kernel() {
    // `ipset add t-range 192.0.2.0-192.0.2.3` was listed back by the kernel as 4 addresses.
    let p = ipset::parse("r", "create r hash:ip family inet\nadd r 192.0.2.0-192.0.2.3\ncreate p bitmap:port range 0-65535\nadd p 30000-30002\n");
    assert!(p.diagnostics.is_empty());
    assert_eq!(p.value[0].members.iter().map(|m| m.elems.clone()).collect::<Vec<_>>(), vec![vec![SetElem::Net("192.0.2.0/30".parse().unwrap())]]);
    assert_eq!(p.value[1].members.len(), 3);
}

#[test]
fn corpus_ipsets() {
    for f in [
        "kind-calico-tkng-guide.ipset-L-cali40masq-ipam-pools.txt",
        "kind-kubeproxy-ipvs-tkng-guide.ipset-list-KUBE-CLUSTER-IP.txt",
        "kind-kubeproxy-ipvs-tkng-guide.ipset-list-KUBE-LOOP-BACK.txt",
        "kind-kubeproxy-ipvs-tkng-guide.ipset-list-KUBE-NODE-PORT-TCP.txt",
        "manual-hash-ip-port-test-set-kubernetes-issue54203.ipset-list.txt",
        "kube-proxy-ipvs-ipv6-only-kube-proxy-issue13.PARTIAL.ipset-list.txt",
    ] {
        let p = ipset::parse(f, &corpus(&format!("ipset/{f}")));
        assert!(p.diagnostics.iter().all(|d| d.severity == Severity::Info), "{f}: {:?}", p.diagnostics);
        assert!(p.value.iter().all(|s| !s.incomplete));
    }
    let c = ipset::parse("c", &corpus("ipset/kind-kubeproxy-ipvs-tkng-guide.ipset-list-KUBE-CLUSTER-IP.txt"));
    assert_eq!(c.value[0].members.len(), 9);
    let lb = ipset::parse("l", &corpus("ipset/kind-kubeproxy-ipvs-tkng-guide.ipset-list-KUBE-LOOP-BACK.txt"));
    assert_eq!(lb.value[0].members[0].elems.len(), 3);
    let name = "kube-proxy-ipvs-143-services-sealos-issue2108.PARTIAL.ipset-list.txt";
    let p = ipset::parse(name, &corpus(&format!("ipset/{name}")));
    assert!(p.value[0].incomplete);
    let w: Vec<_> = p.diagnostics.iter().filter(|d| d.code == "incomplete").collect();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].span.to_string(), format!("{name}:7:1"));
    assert!(w[0].message.contains("of its 143 entries"));
    let v6 = ipset::parse_counted("v6", &corpus("ipset/kube-proxy-ipvs-ipv6-only-kube-proxy-issue13.PARTIAL.ipset-list.txt"));
    assert!(v6.parsed.value.iter().any(|s| s.family == "inet6"));
}

#[test]
fn conntrack_from_a_real_namespace() {
    let p = conntrack::parse("conntrack.txt", &fixture("netns-a/conntrack.txt"));
    assert!(errors(&p.diagnostics).is_empty(), "{:?}", p.diagnostics);
    assert_eq!(p.value.len(), 10);
    assert!(p.diagnostics.iter().any(|d| d.code == "summary"));
    let dnat = p.value.iter().find(|e| e.orig.dst == ip("10.96.0.99")).unwrap();
    assert!(dnat.is_dnat() && !dnat.is_snat() && dnat.assured);
    assert_eq!((dnat.reply.src, dnat.reply.sport), (ip("198.51.100.2"), 8080));
    assert_eq!(dnat.tcp_state.as_deref(), Some("TIME_WAIT"));
    let masq = p.value.iter().find(|e| e.orig.src == ip("10.244.1.1")).unwrap();
    assert!(masq.is_snat() && masq.unreplied);
    let icmp = p.value.iter().find(|e| e.proto == 1).unwrap();
    assert_eq!((icmp.orig.sport, icmp.orig.dport, icmp.reply.dport), (4660, 0x0800, 0));
    assert_eq!(p.value.iter().find(|e| e.orig.dport == 9997).unwrap().mark, 66);
    assert_eq!(p.value.iter().find(|e| e.orig.dport == 9996).unwrap().zone, 5);
    let proc = conntrack::parse("nf_conntrack", &fixture("netns-a-text/proc-nf_conntrack.txt"));
    assert!(errors(&proc.diagnostics).is_empty(), "{:?}", proc.diagnostics);
    assert!(proc.value.len() >= 8);
}

#[test]
fn corpus_conntrack() {
    let dir = format!("{}/corpus/conntrack", shared());
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let p = conntrack::parse(&name, &read(path.to_str().unwrap()));
        assert!(p.diagnostics.iter().all(|d| d.severity == Severity::Info), "{name}: {:?}", p.diagnostics);
        assert!(!p.value.is_empty());
    }
    let r = conntrack::parse("r", &corpus("conntrack/rhcos-ocp4-sosreport-jds2001.proc_net_nf_conntrack.txt"));
    assert_eq!(r.value.len(), 678);
    let a = conntrack::parse("a", &corpus("conntrack/aks-kubenet-pod-dns-to-coredns-svc-grep-vijayrod-demo.conntrack.txt"));
    assert_eq!(a.value.len(), 6);
    let s = a.diagnostics.iter().find(|d| d.code == "summary").unwrap();
    assert_eq!(s.span.line, 4);
    assert!(s.message.contains("296"));
    let k = conntrack::parse("k", &corpus("conntrack/k3s-v1.30.6-flannel-kuberouter-netpol-netbird-ddanielgal-ytdl.conntrack-L-p-tcp-grep.txt"));
    let est = k.value.iter().find(|e| e.tcp_state.as_deref() == Some("ESTABLISHED")).unwrap();
    assert!(est.is_dnat());
    assert_eq!((est.reply.src, est.reply.sport), (ip("192.168.1.105"), 6443));
    let n = conntrack::parse("n", &corpus("conntrack/aks-nodeport-lb-probe-snat-portremap-grep-vijayrod-demo.conntrack.txt"));
    assert!(n.value.iter().all(|e| e.is_dnat() && e.is_snat()));
}

#[test]
fn sysctl_forms() {
    let p = sysctl::parse("sysctl.txt", &fixture("netns-a/sysctl.txt"));
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    assert_eq!(p.value.get("net.bridge.bridge-nf-call-iptables"), Some(("1", false)));
    assert_eq!(p.value.int("net.ipv4.ip_local_port_range").map(|x| x.0), Some(32768));
    let s = sysctl::parse(
        "s",
        "net/ipv4/conf/eth0.100/rp_filter = 2\nnet.ipv4.ip_forward=1\nsysctl: permission denied on key 'x'\nnet.ipv4.ip_forward = 0\nbogus line\n",
    );
    assert_eq!(s.value.conf("eth0.100", "rp_filter"), (2, false));
    assert_eq!(s.value.get("net.ipv4.ip_forward"), Some(("0", false)));
    let codes: Vec<_> = s.diagnostics.iter().map(|d| (d.span.line, d.code.as_str())).collect();
    assert_eq!(codes, vec![(3, "sysctl-message"), (4, "duplicate"), (5, "syntax")]);
}

#[test]
fn ss_from_a_real_namespace() {
    let c = ss::parse_counted("sockets.txt", &fixture("netns-b/sockets.txt"));
    assert!(errors(&c.parsed.diagnostics).is_empty(), "{:?}", c.parsed.diagnostics);
    let s = &c.parsed.value;
    // `[::]:81` is v6-only (counted); `*:80` and `*:547` are dual-stack wildcards.
    assert_eq!(s.len(), 6);
    assert_eq!(c.ipv6_ignored, 1);
    let f = |p: u16| s.iter().find(|x| x.port == p).unwrap();
    assert_eq!((f(80).proto, f(80).local), (6, None));
    assert_eq!((f(547).proto, f(547).local), (17, None));
    assert_eq!((f(5353).local, f(5353).dev.as_deref()), (Some(ip("127.0.0.1")), Some("lo")));
    assert_eq!(f(8080).local, Some(ip("198.51.100.2")));
    assert_eq!(f(53).process.as_deref(), Some("socat"));
}

#[test]
fn netconf_old_and_new() {
    // Old iproute2 (`ipv4 dev X ...`), from the gravity workshop.
    let g = sysctl::parse_netconf("g", &corpus("links/gravity-flannel-vxlan-gravitational-workshop.ip-netconf.txt"));
    assert!(errors(&g.diagnostics).is_empty(), "{:?}", g.diagnostics);
    assert_eq!(g.value.conf("flannel.1", "rp_filter"), (1, false));
    assert_eq!(g.value.conf("lo", "rp_filter"), (0, false));
    assert_eq!(g.value.get("net.ipv4.ip_forward"), Some(("1", false)));
    // iproute2 6.1 (`inet X ...`), from namespace a.
    let a = sysctl::parse_netconf("a", &fixture("netns-a-text/ip-netconf.txt"));
    assert!(errors(&a.diagnostics).is_empty(), "{:?}", a.diagnostics);
    let s = sysctl::parse("s", &fixture("netns-a/sysctl.txt")).value;
    for dev in ["br0", "upa", "vx0"] {
        for key in ["forwarding", "rp_filter", "proxy_arp"] {
            assert_eq!(a.value.conf(dev, key).0, s.conf(dev, key).0, "{dev} {key}");
        }
    }
}

#[test]
fn ipv6_is_counted_not_dropped() {
    let text = "tcp      6 431999 ESTABLISHED src=2001:db8::1 dst=2001:db8::2 sport=1 dport=2 src=2001:db8::2 dst=2001:db8::1 sport=2 dport=1 [ASSURED] mark=0 use=1\nipv6     10 udp      17 20 src=fe80::1 dst=ff02::1 sport=5 dport=6 [UNREPLIED] src=ff02::1 dst=fe80::1 sport=6 dport=5 mark=0 zone=0 use=2\nudp      17 29 src=192.0.2.1 dst=192.0.2.2 sport=1 dport=2 [UNREPLIED] src=192.0.2.2 dst=192.0.2.1 sport=2 dport=1 mark=0x10 use=1\n";
    let c = conntrack::parse_counted("ct", text);
    assert_eq!((c.parsed.value.len(), c.ipv6_ignored), (1, 2));
    assert_eq!(c.parsed.value[0].mark, 16);
    assert!(c.parsed.diagnostics.iter().any(|d| d.code == "ipv6-ignored"));
    let s = ipset::parse_counted("s", &fixture("netns-a/ipset-save.txt"));
    assert_eq!(s.ipv6_ignored, 1);
    // A cut-off entry is an error at its line, never a silent drop.
    let cut = conntrack::parse("cut", "tcp      6 56 TIME_WAIT src=10.64.4.48 dst=10.0.0.10 sport=41993 dport=53 src=10.64.1.6\n");
    assert_eq!(errors(&cut.diagnostics).len(), 1);
    assert!(errors(&cut.diagnostics)[0].starts_with("cut:1:1"));
}

#[test]
fn cut_markers_are_reported() {
    let p = ipset::parse("l", "Name: S\nType: hash:ip\nHeader: family inet hashsize 1024 maxelem 65536\nMembers:\n10.0.0.1\n...\n");
    assert!(p.value[0].incomplete);
    assert_eq!(p.diagnostics.iter().filter(|d| d.code == "cut").map(|d| d.span.to_string()).collect::<Vec<_>>(), vec!["l:6:1"]);
    let c = conntrack::parse("c", "...\nudp      17 29 src=192.0.2.1 dst=192.0.2.2 sport=1 dport=2 src=192.0.2.2 dst=192.0.2.1 sport=2 dport=1 mark=0 use=1\n");
    assert_eq!(c.value.len(), 1);
    assert!(c.diagnostics.iter().any(|d| d.code == "cut" && d.severity == Severity::Warning));
    let r = sim_core::parse::ip_text::parse_routes("r", "default via 192.0.2.1 dev eth0\n  ...\n");
    assert!(errors(&r.diagnostics).is_empty());
    assert!(r.diagnostics.iter().any(|d| d.code == "cut" && d.span.to_string() == "r:2:3"));
}

#[test]
fn ipset_netmask_members_are_blocks() {
    // From `ipset create nm hash:ip netmask 24; ipset add nm 192.0.2.77; ipset save` on this
    // kernel, after which `ipset test nm 192.0.2.5` succeeds.
    let p = ipset::parse("nm", "create nm hash:ip family inet hashsize 1024 maxelem 65536 netmask 24 bucketsize 12 initval 0xba8793a5\nadd nm 192.0.2.0\n");
    assert_eq!(p.value[0].members[0].elems, vec![SetElem::Net("192.0.2.0/24".parse().unwrap())]);
}

#[test]
fn seed_conntrack_pasted_inline() {
    // A post where the prompt, the command, the entry and the stderr summary ran onto one line.
    let seed = read(&format!("{}/seeds/003_4d70525d1d40a805.txt", shared()));
    let line = seed.lines().nth(23).unwrap();
    let p = conntrack::parse("003.txt", line);
    assert!(errors(&p.diagnostics).is_empty(), "{:?}", p.diagnostics);
    assert_eq!(p.value.len(), 1);
    let e = &p.value[0];
    assert_eq!((e.proto, e.tcp_state.as_deref(), e.orig.dst, e.reply.src), (6, Some("SYN_RECV"), ip("10.43.113.238"), ip("172.16.178.178")));
    // The reply goes back to a remapped port: the service was DNAT'd and the source SNAT'd.
    assert!(e.is_dnat() && e.is_snat());
    assert!(p.diagnostics.iter().any(|d| d.code == "annotation" && d.message.contains("conntrack -L | grep")));
    assert!(p.diagnostics.iter().any(|d| d.code == "summary" && d.message.contains("262")));
    // The whole post: prose lines are errors at their line, the entry still imports.
    let all = conntrack::parse("003.txt", &seed);
    assert_eq!(all.value.len(), 1);
}
