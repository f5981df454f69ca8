use sim_core::diag::Diagnostic;
use sim_core::parse::*;
fn pick(dir: &str, name: &str, text: &str) -> (String, usize, Vec<Diagnostic>) {
    let n = name;
    macro_rules! r { ($k:expr, $p:expr) => {{ let p = $p; ($k.to_string(), p.value.len(), p.diagnostics) }} }
    match dir {
        "routes" if n.contains("rule") => r!("ip rule", ip_text::parse_rules(n, text)),
        "routes" if n.contains("route-n") || n.contains("route_-n") => r!("route -n", route_n::parse(n, text)),
        "routes" => r!("ip route", ip_text::parse_routes(n, text)),
        "links" if n.contains("ifconfig") => { let p = ifconfig::parse(n, text); ("ifconfig".into(), p.value.0.len(), p.diagnostics) }
        "links" if n.contains("brctl") || n.contains("netconf") => ("UNSUPPORTED".into(), 0, vec![]),
        "links" => { let (c, _) = ip_text::parse_link_blocks(n, text); ("ip link/addr".into(), c.parsed.value.0.len(), c.parsed.diagnostics) }
        "fdb-neigh" if n.contains("neigh") => r!("ip neigh", ip_text::parse_neighs(n, text)),
        "fdb-neigh" => r!("bridge fdb", bridge_fdb::parse(n, text)),
        "conntrack" => r!("conntrack", conntrack::parse(n, text)),
        "ipset" => r!("ipset", ipset::parse(n, text)),
        _ => ("?".into(), 0, vec![]),
    }
}
#[test]
fn report() {
    for dir in ["routes", "links", "fdb-neigh", "conntrack", "ipset"] {
        let mut names: Vec<_> = std::fs::read_dir(format!("/work/shared/corpus/{dir}")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
        names.sort();
        for n in names {
            let t = std::fs::read_to_string(format!("/work/shared/corpus/{dir}/{n}")).unwrap();
            let (k, count, d) = pick(dir, &n, &t);
            let e = d.iter().filter(|x| x.severity == sim_core::diag::Severity::Error).count();
            let w = d.iter().filter(|x| x.severity == sim_core::diag::Severity::Warning).count();
            let i = d.iter().filter(|x| x.severity == sim_core::diag::Severity::Info).count();
            println!("{dir}/{n} [{k}] items={count} E={e} W={w} I={i}");
            for x in d.iter().filter(|x| x.severity != sim_core::diag::Severity::Info || x.code != "annotation") { println!("    {}", x.to_string().chars().take(220).collect::<String>()); }
        }
    }
}
