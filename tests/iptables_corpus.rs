//! The real dumps in /work/shared/corpus/iptables (SOURCES.md says where each came from).

use sim_core::parse::iptables_save;

const DIR: &str = "/work/shared/corpus/iptables";

#[test]
fn explore() {
    let mut names: Vec<_> = std::fs::read_dir(DIR).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    for p in names {
        let text = std::fs::read_to_string(&p).unwrap();
        let f = p.file_name().unwrap().to_string_lossy().to_string();
        let r = iptables_save::parse(&f, &text);
        println!("== {f}: tables {} rules {}", r.value.tables.len(), r.value.rule_count());
        for d in &r.diagnostics {
            println!("   {d}");
        }
    }
}
