//! `iptables -S` outputs from /work/shared/corpus/iptables-S (moby's generated iptables docs,
//! see SOURCES.md).

use sim_core::model::ruleset::{Policy, TableName, Target};
use sim_core::parse::{iptables_s, iptables_save};

const DIR: &str = "/work/shared/corpus/iptables-S";

fn read(f: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{f}")).expect("corpus file")
}

#[test]
fn filter_and_nat_outputs() {
    let f = read("docker-moby-iptablesdoc-usernet-portmap.filter.S");
    let p = iptables_s::parse("filter.S", &f);
    assert!(p.diagnostics.iter().all(|d| d.code == "assumed-default"), "{:?}", p.diagnostics);
    let t = p.value.table(TableName::Filter).expect("filter");
    assert_eq!(t.chains.len(), 9);
    assert_eq!(t.rule_count(), 14);
    assert_eq!(t.chain("FORWARD").expect("chain").policy, Some(Policy::Accept));
    assert_eq!(t.chain("DOCKER").expect("chain").policy, None);

    let n = read("docker-moby-iptablesdoc-usernet-portmap.nat.S");
    let p = iptables_s::parse("nat.S", &n);
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let t = p.value.table(TableName::Nat).expect("nat");
    assert_eq!(t.rule_count(), 5);
    let dnat = &t.chain("DOCKER").expect("chain").rules[0];
    assert!(matches!(&dnat.target, Target::Dnat(d) if d.ranges[0].min_ip == Some("192.0.2.2".parse().expect("ip"))));

    // Both outputs in one file: two tables, same content as read one by one.
    let both = iptables_s::parse("both.S", &format!("{f}{n}"));
    assert_eq!(both.value.tables.iter().map(|t| t.name).collect::<Vec<_>>(), vec![TableName::Filter, TableName::Nat]);
    assert_eq!(both.value.rule_count(), 19);

    // The same rules, printed as iptables-save and read back by the iptables-save importer.
    let saved = iptables_save::save(&both.value);
    let again = iptables_save::parse("saved", &saved);
    assert!(again.diagnostics.is_empty(), "{:?}\n{saved}", again.diagnostics);
    assert_eq!(again.value.rule_count(), 19);
    for (a, b) in both.value.tables.iter().zip(&again.value.tables) {
        for (ca, cb) in a.chains.iter().zip(&b.chains) {
            assert_eq!(ca.name, cb.name);
            assert_eq!(ca.policy, cb.policy);
            for (ra, rb) in ca.rules.iter().zip(&cb.rules) {
                assert_eq!((&ra.base, &ra.matches, &ra.target), (&rb.base, &rb.matches, &rb.target));
                // The -S text of each rule is already canonical.
                assert_eq!(both.value.rule_text(ra), again.value.rule_text(rb));
            }
        }
    }
}

#[test]
fn explicit_table() {
    let n = read("docker-moby-iptablesdoc-usernet-portmap.nat.S");
    let p = iptables_s::parse_table("nat.S", &n, TableName::Nat);
    assert!(p.diagnostics.is_empty());
    assert_eq!(p.value.rule_count(), 5);
}
