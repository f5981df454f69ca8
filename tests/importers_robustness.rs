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
