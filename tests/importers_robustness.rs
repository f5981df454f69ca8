//! No importer panics, whatever it is given: random text built from the characters the formats
//! use, and real fixtures cut and corrupted at random places.

use proptest::prelude::*;
use sim_core::parse::{bridge_fdb, conntrack, ifconfig, ip_json, ip_text, ipset, route_n, snapshot, ss, sysctl};
use std::collections::BTreeMap;

fn fixture(p: &str) -> String {
    let path = format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn all(text: &str) {
    let f = "fuzz";
    let _ = ip_json::parse_links(f, text);
    let _ = ip_json::parse_addrs(f, text);
    let _ = ip_json::parse_routes(f, text);
    let _ = ip_json::parse_rules(f, text);
    let _ = ip_json::parse_neighs(f, text);
    let _ = ip_text::parse_routes(f, text);
    let _ = ip_text::parse_rules(f, text);
    let _ = ip_text::parse_link_blocks(f, text);
    let _ = ip_text::parse_neighs(f, text);
    let _ = route_n::parse(f, text);
    let _ = ifconfig::parse(f, text);
    let _ = bridge_fdb::parse(f, text);
    let _ = ipset::parse(f, text);
    let _ = conntrack::parse(f, text);
    let _ = sysctl::parse(f, text);
    let _ = ss::parse(f, text);
    let _ = sysctl::parse_netconf(f, text);
    let _ = ip_text::parse_brctl_show(f, text);
}

/// Words of every format, so random sequences reach deep into each parser.
const VOCAB: &[&str] = &[
    "\n",
    "\n",
    "\t",
    "tcp",
    "udp",
    "icmp",
    "6",
    "17",
    "1",
    "2",
    "120",
    "src=10.0.0.1",
    "dst=10.0.0.2",
    "sport=1",
    "dport=80",
    "type=8",
    "code=0",
    "id=7",
    "[UNREPLIED]",
    "[ASSURED]",
    "use=1",
    "mark=0x10",
    "zone=3",
    "ipv4",
    "ipv6",
    "src=fe80::1",
    "conntrack",
    "v1.4.8",
    "(conntrack-tools):",
    "shown.",
    "ESTABLISHED",
    "default",
    "via",
    "dev",
    "eth0",
    "10.0.0.0/8",
    "192.0.2.1",
    "proto",
    "kernel",
    "scope",
    "link",
    "table",
    "local",
    "main",
    "100",
    "nexthop",
    "weight",
    "onlink",
    "linkdown",
    "blackhole",
    "unreachable",
    "metric",
    "mtu",
    "lock",
    "src",
    "fe80::/64",
    "0:",
    "32766:",
    "from",
    "all",
    "to",
    "fwmark",
    "0x1/0xff",
    "lookup",
    "goto",
    "not",
    "iif",
    "uidrange",
    "1-2",
    "sport",
    "1-70000",
    "3:",
    "br0:",
    "veth0@if3:",
    "<UP,LOWER_UP>",
    "mtu",
    "master",
    "link/ether",
    "02:00:00:00:00:01",
    "link-netnsid",
    "link/ipip",
    "vxlan",
    "id",
    "remote",
    "any",
    "srcport",
    "dstport",
    "bridge",
    "bridge_slave",
    "hairpin",
    "on",
    "vlan",
    "inet",
    "inet6",
    "10.0.0.1/24",
    "brd",
    "secondary",
    "Kernel",
    "IP",
    "routing",
    "Destination",
    "Gateway",
    "Genmask",
    "Flags",
    "Metric",
    "Ref",
    "Use",
    "Iface",
    "0.0.0.0",
    "255.255.255.0",
    "UG",
    "U",
    "!",
    "*",
    "-",
    "flags=4163<UP,RUNNING>",
    "netmask",
    "ether",
    "(Ethernet)",
    "Link",
    "encap:Ethernet",
    "HWaddr",
    "inet",
    "addr:10.0.0.1",
    "Mask:255.0.0.0",
    "create",
    "add",
    "s",
    "hash:ip,port",
    "hash:net,iface",
    "bitmap:port",
    "list:set",
    "range",
    "0-65535",
    "10.0.0.1,tcp:80",
    "10.0.0.0-10.0.0.9",
    "1-3",
    "nomatch",
    "comment",
    "\"x",
    "Name:",
    "Type:",
    "Header:",
    "family",
    "inet6",
    "Members:",
    "Number",
    "of",
    "entries:",
    "9",
    "LISTEN",
    "UNCONN",
    "*:80",
    "[::]:81",
    "127.0.0.1%lo:53",
    "users:((\"a\",pid=1,fd=2))",
    "net.ipv4.ip_forward",
    "=",
    "net/ipv4/conf/eth0.1/rp_filter=2",
    "...",
    "#",
    "<----",
    "中文",
    "[",
    "]",
    "{",
    "}",
    "\"dst\":",
    "\"ifindex\":",
    ",",
    ":",
    "null",
    "true",
    "\"",
    "lladdr",
    "PERMANENT",
    "self",
    "permanent",
    "dev",
    "dst",
];

const SOURCES: &[&str] = &[
    "netns-a/ip-link.json",
    "netns-a/ip-addr.json",
    "netns-a/ip-route.json",
    "netns-a/ip-rule.json",
    "netns-a/bridge-fdb.json",
    "netns-a/conntrack.txt",
    "netns-a/ipset-save.txt",
    "netns-a/sysctl.txt",
    "netns-b/sockets.txt",
    "netns-a-text/ip-route.txt",
    "netns-a-text/ip-link.txt",
    "netns-a-text/ip-addr.txt",
    "netns-a-text/ip-rule.txt",
    "netns-a-text/route-n.txt",
    "netns-a-text/ifconfig-a.txt",
    "netns-a-text/ipset-list.txt",
    "netns-a-text/bridge-fdb.txt",
    "netns-a-text/ip-netconf.txt",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn random_text(s in "[ -~\t\n\u{4e2d}\u{00e9}\\[\\]{}\":,/.=<>@%*!-]{0,400}") {
        all(&s);
    }

    #[test]
    fn token_soup(words in proptest::collection::vec(proptest::sample::select(VOCAB), 0..80)) {
        all(&words.join(" "));
        all(&words.join(""));
    }

    #[test]
    fn corrupted_fixtures(which in 0..SOURCES.len(), cut in 0usize..100_000, at in 0usize..100_000, byte in any::<u8>()) {
        let text = fixture(SOURCES[which]);
        let cut = cut % (text.len() + 1);
        let mut b: Vec<u8> = text.as_bytes()[..cut].to_vec();
        if !b.is_empty() {
            let i = at % b.len();
            b[i] = byte;
        }
        let s = String::from_utf8_lossy(&b).into_owned();
        all(&s);
        let mut files = BTreeMap::new();
        files.insert(SOURCES[which].rsplit('/').next().unwrap().to_string(), s);
        let _ = snapshot::load("fuzz", &files);
    }
}
