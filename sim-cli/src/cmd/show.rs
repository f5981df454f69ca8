//! `nfpath show DIR`: what a snapshot folder imports to. The CLI reads the files; sim-core turns
//! the map of file name -> text into a `Namespace` plus diagnostics; this module prints both.

use crate::error::{print_stdout, CliError, CliResult, EXIT_OK, EXIT_UNUSABLE};
use crate::style::{self, Colour};
use sim_core::diag::{Diagnostic, Parsed, Severity};
use sim_core::model::link::LinkKind;
use sim_core::model::route::{Route, RT_TABLE_DEFAULT, RT_TABLE_LOCAL, RT_TABLE_MAIN};
use sim_core::model::rule::{FibRule, RuleAction};
use sim_core::model::Namespace;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Print what a snapshot folder imports to: tables, devices, routes, rules and diagnostics.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  nfpath show snap/node-a\n  nfpath show snap/node-a --json > node-a.json\n\nExits 2 when a diagnostic is an error (the input cannot be used as it is), 0 otherwise."
)]
pub struct Args {
    /// Snapshot folder (interface.md section 1)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Print the namespace model as JSON on stdout (diagnostics go to stderr)
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> CliResult<u8> {
    let files = read_folder(&args.dir)?;
    let name = folder_name(&args.dir);
    let parsed = import(&name, &files)?;
    let code = if parsed.has_errors() { EXIT_UNUSABLE } else { EXIT_OK };
    if args.json {
        let text = serde_json::to_string_pretty(&parsed.value).map_err(|e| CliError::unusable(format!("cannot encode the model as JSON: {e}")))?;
        print_stdout(&format!("{text}\n"))?;
        let colour = style::stderr_colour();
        for d in sorted(&parsed.diagnostics) {
            eprintln!("{}", diagnostic_line(d, colour));
        }
    } else {
        print_stdout(&render(&parsed.value, &parsed.diagnostics, &args.dir.display().to_string(), style::stdout_colour()))?;
    }
    Ok(code)
}

/// The snapshot importer: sim-core reads no files, so it gets the folder as a map.
fn import(name: &str, files: &BTreeMap<String, String>) -> CliResult<Parsed<Namespace>> {
    Ok(sim_core::parse::snapshot::load(name, files))
}

/// The namespace's name: the folder's last component.
fn folder_name(dir: &Path) -> String {
    let canon = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    canon.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| dir.display().to_string())
}

/// Reads every regular file of the folder (not `collect.log`, not hidden files) as UTF-8 text.
pub fn read_folder(dir: &Path) -> CliResult<BTreeMap<String, String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| CliError::io(dir, "read the snapshot folder", &e))?;
    let mut files = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| CliError::io(dir, "read the snapshot folder", &e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name == "collect.log" || name.starts_with('.') || !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| CliError::io(&path, "read", &e))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let before = &e.as_bytes()[..at];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let col = at - before.iter().rposition(|&b| b == b'\n').map(|p| p + 1).unwrap_or(0) + 1;
            CliError::at(format!("{}:{line}:{col}", path.display()), "not UTF-8 text (expected the output of a standard tool)")
        })?;
        files.insert(name, text);
    }
    if files.is_empty() {
        return Err(CliError::at(
            dir.display().to_string(),
            "no snapshot files here (expected iptables-save.txt, ip-link.json, ip-addr.json, ip-route.json...; `nfpath collect` writes them)",
        ));
    }
    Ok(files)
}

fn sorted(d: &[Diagnostic]) -> Vec<&Diagnostic> {
    let mut v: Vec<&Diagnostic> = d.iter().collect();
    v.sort_by(|a, b| (&a.span.file, a.span.line, a.span.col).cmp(&(&b.span.file, b.span.line, b.span.col)));
    v
}

fn diagnostic_line(d: &Diagnostic, colour: bool) -> String {
    let text = d.to_string();
    let c = match d.severity {
        Severity::Error => Colour::Red,
        Severity::Warning => Colour::Yellow,
        Severity::Info => Colour::Dim,
    };
    if colour {
        style::paint(&text, c, true)
    } else {
        text
    }
}

/// The name `ip route` uses for a table.
pub fn table_name(t: u32) -> String {
    match t {
        RT_TABLE_MAIN => "main".into(),
        RT_TABLE_LOCAL => "local".into(),
        RT_TABLE_DEFAULT => "default".into(),
        n => n.to_string(),
    }
}

/// A route in `ip route` words.
pub fn route_line(r: &Route) -> String {
    let mut s = String::new();
    if r.rtype != sim_core::model::route::RouteType::Unicast {
        let _ = write!(s, "{} ", r.rtype.as_str());
    }
    if r.dst.prefix_len() == 0 {
        s.push_str("default");
    } else {
        let _ = write!(s, "{}", r.dst);
    }
    if r.nexthops.len() == 1 {
        let nh = &r.nexthops[0];
        if let Some(g) = nh.gateway {
            let _ = write!(s, " via {g}");
        }
        if let Some(d) = &nh.dev {
            let _ = write!(s, " dev {d}");
        }
        if nh.onlink {
            s.push_str(" onlink");
        }
        if nh.linkdown {
            s.push_str(" linkdown");
        }
    }
    if let Some(p) = &r.protocol {
        let _ = write!(s, " proto {p}");
    }
    let scope = match r.scope {
        sim_core::model::types::Scope::Universe => None,
        sim_core::model::types::Scope::Link => Some("link".to_string()),
        sim_core::model::types::Scope::Host => Some("host".to_string()),
        sim_core::model::types::Scope::Site => Some("site".to_string()),
        sim_core::model::types::Scope::Nowhere => Some("nowhere".to_string()),
        sim_core::model::types::Scope::Other(v) => Some(v.to_string()),
    };
    if let Some(sc) = scope {
        let _ = write!(s, " scope {sc}");
    }
    if let Some(src) = r.prefsrc {
        let _ = write!(s, " src {src}");
    }
    if r.metric != 0 {
        let _ = write!(s, " metric {}", r.metric);
    }
    if r.nexthops.len() > 1 {
        for nh in &r.nexthops {
            s.push_str(" nexthop");
            if let Some(g) = nh.gateway {
                let _ = write!(s, " via {g}");
            }
            if let Some(d) = &nh.dev {
                let _ = write!(s, " dev {d}");
            }
            let _ = write!(s, " weight {}", nh.weight);
        }
    }
    s
}

/// A policy rule in `ip rule` words.
pub fn rule_line(r: &FibRule) -> String {
    let mut s = format!("{}:", r.priority);
    if r.not {
        s.push_str(" not");
    }
    match r.from {
        Some(f) => {
            let _ = write!(s, " from {f}");
        }
        None => s.push_str(" from all"),
    }
    if let Some(t) = r.to {
        let _ = write!(s, " to {t}");
    }
    if let Some(i) = &r.iif {
        let _ = write!(s, " iif {i}");
    }
    if let Some(o) = &r.oif {
        let _ = write!(s, " oif {o}");
    }
    if let Some((m, mask)) = r.fwmark {
        if mask == u32::MAX {
            let _ = write!(s, " fwmark {m:#x}");
        } else {
            let _ = write!(s, " fwmark {m:#x}/{mask:#x}");
        }
    }
    if let Some(t) = r.tos {
        let _ = write!(s, " tos {t:#x}");
    }
    if let Some(p) = r.ipproto {
        let _ = write!(s, " ipproto {}", sim_core::model::types::proto_name(p).map(str::to_string).unwrap_or(p.to_string()));
    }
    if let Some((a, b)) = r.sport {
        let _ = if a == b { write!(s, " sport {a}") } else { write!(s, " sport {a}-{b}") };
    }
    if let Some((a, b)) = r.dport {
        let _ = if a == b { write!(s, " dport {a}") } else { write!(s, " dport {a}-{b}") };
    }
    if let Some((a, b)) = r.uidrange {
        let _ = write!(s, " uidrange {a}-{b}");
    }
    if r.l3mdev {
        s.push_str(" l3mdev");
    }
    match &r.action {
        RuleAction::Table(t) => {
            let _ = write!(s, " lookup {}", table_name(*t));
        }
        RuleAction::Goto(p) => {
            let _ = write!(s, " goto {p}");
        }
        RuleAction::Nop => s.push_str(" nop"),
        RuleAction::Blackhole => s.push_str(" blackhole"),
        RuleAction::Unreachable => s.push_str(" unreachable"),
        RuleAction::Prohibit => s.push_str(" prohibit"),
    }
    if let Some(n) = r.suppress_prefixlength {
        let _ = write!(s, " suppress_prefixlength {n}");
    }
    if let Some(g) = &r.suppress_ifgroup {
        let _ = write!(s, " suppress_ifgroup {g}");
    }
    s
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map(|x| x.to_string()).unwrap_or_else(|| "-".into())
}

/// The human form of `show`: inputs, ruleset counts, devices and how they connect, routes per
/// table, policy rules, other state, then every diagnostic with its file:line:column.
pub fn render(ns: &Namespace, diags: &[Diagnostic], source: &str, colour: bool) -> String {
    let head = |t: &str| style::paint(t, Colour::Bold, colour);
    let mut o = String::new();
    let _ = writeln!(o, "{} {} ({source})", head("namespace"), ns.name);

    if !ns.provenance.is_empty() {
        let _ = writeln!(o, "\n{}", head("inputs"));
        for (k, v) in &ns.provenance {
            let _ = writeln!(o, "  {k:<12} {v}");
        }
    }

    // iptables
    let rs = &ns.ruleset;
    let backend = match rs.backend.nft {
        Some(true) => "nf_tables",
        Some(false) => "legacy",
        None => "backend not stated",
    };
    let version = rs.backend.version.as_deref().map(|v| format!(" v{v}")).unwrap_or_default();
    let chains: usize = rs.tables.iter().map(|t| t.chains.len()).sum();
    let _ = writeln!(o, "\n{} ({backend}{version}): {} tables, {chains} chains, {} rules", head("iptables"), rs.tables.len(), rs.rule_count());
    if rs.backend.legacy_tables_present {
        let _ = writeln!(o, "  note: the dump says iptables-legacy tables are present too; their rules are not in it");
    }
    for t in &rs.tables {
        let _ = writeln!(o, "  {} ({} rules)", t.name, t.rule_count());
        for c in &t.chains {
            let policy = match c.policy {
                Some(sim_core::model::ruleset::Policy::Accept) => "policy ACCEPT",
                Some(sim_core::model::ruleset::Policy::Drop) => "policy DROP",
                None => "user chain",
            };
            let unreadable = c.rules.iter().filter(|r| r.unreadable.is_some()).count();
            let extra = if unreadable > 0 { format!(", {unreadable} unreadable") } else { String::new() };
            let _ = writeln!(o, "    {:<28} {:>5} rules  {policy}{extra}", c.name, c.rules.len());
        }
    }
    if !ns.ipsets.is_empty() {
        let _ = writeln!(o, "\n{} ({})", head("ipsets"), ns.ipsets.len());
        for s in &ns.ipsets {
            let inc = if s.incomplete { " (listing incomplete)" } else { "" };
            let _ = writeln!(o, "  {:<28} {:<16} {} members{inc}", s.name, s.set_type, s.members.len());
        }
    }

    // devices
    let mut links: Vec<_> = ns.links.iter().collect();
    links.sort_by_key(|l| l.ifindex);
    let _ = writeln!(o, "\n{} ({})", head("devices"), links.len());
    for l in &links {
        let state = match (l.up, l.lower_up) {
            (true, true) => "up",
            (true, false) => "up, no carrier",
            (false, _) => "down",
        };
        let _ = write!(o, "  {:>3}: {:<16} {:<9} {state}, mtu {}", l.ifindex, l.name, l.kind.name(), l.mtu);
        if let Some(m) = &l.mac {
            let _ = write!(o, ", {m}");
        }
        o.push('\n');
        match &l.kind {
            LinkKind::Veth => {
                let peer = l.link_name.clone().or_else(|| l.link_ifindex.map(|i| format!("if{i}"))).unwrap_or_else(|| "unknown".into());
                let place = match l.link_netnsid {
                    Some(id) => format!(" in another namespace (netnsid {id})"),
                    None => " in this namespace".into(),
                };
                let _ = writeln!(o, "       veth peer {peer}{place}");
            }
            LinkKind::Bridge(b) => {
                let ports: Vec<&str> = links.iter().filter(|p| p.master.as_deref() == Some(l.name.as_str())).map(|p| p.name.as_str()).collect();
                let _ = writeln!(
                    o,
                    "       ports: {}; stp {}, vlan_filtering {}, nf_call_iptables {}",
                    if ports.is_empty() { "none".to_string() } else { ports.join(", ") },
                    b.stp_state,
                    u8::from(b.vlan_filtering),
                    u8::from(b.nf_call_iptables)
                );
            }
            LinkKind::Vxlan(v) => {
                let _ = writeln!(
                    o,
                    "       vni {} local {} remote {} dstport {} dev {} learning {}",
                    v.vni,
                    opt(&v.local),
                    opt(&v.remote),
                    v.dstport,
                    opt(&v.dev),
                    if v.learning { "on" } else { "off" }
                );
            }
            LinkKind::Ipip(t) => {
                let _ = writeln!(o, "       local {} remote {} dev {} ttl {}", opt(&t.local), opt(&t.remote), opt(&t.dev), opt(&t.ttl));
            }
            LinkKind::Vlan { id } => {
                let _ = writeln!(o, "       vlan id {id} on {}", opt(&l.link_name));
            }
            _ => {}
        }
        if let Some(m) = &l.master {
            let port = l.brport.as_ref().map(|p| {
                format!(
                    " (state {}, hairpin {}, learning {}, flood {})",
                    p.state,
                    if p.hairpin { "on" } else { "off" },
                    if p.learning { "on" } else { "off" },
                    if p.flood { "on" } else { "off" }
                )
            });
            let _ = writeln!(o, "       port of {m}{}", port.unwrap_or_default());
        }
        let addrs: Vec<String> = ns.addrs_of(&l.name).map(|a| format!("{}/{}", a.local, a.prefix_len)).collect();
        if !addrs.is_empty() {
            let _ = writeln!(o, "       inet {}", addrs.join(", "));
        }
    }

    // routes
    let mut tables: BTreeMap<u32, Vec<&Route>> = BTreeMap::new();
    for r in &ns.routes {
        tables.entry(r.table).or_default().push(r);
    }
    let _ = writeln!(o, "\n{} ({} in {} tables)", head("routes"), ns.routes.len(), tables.len());
    for (t, routes) in &tables {
        let _ = writeln!(o, "  table {} ({t})", table_name(*t));
        for r in routes {
            let _ = writeln!(o, "    {}", route_line(r));
        }
    }
    let _ = writeln!(o, "\n{} ({})", head("policy rules"), ns.rules.len());
    for r in &ns.rules {
        let _ = writeln!(o, "  {}", rule_line(r));
    }

    // the rest, as counts
    let _ = writeln!(o, "\n{}", head("other state"));
    let _ = writeln!(o, "  neighbours   {}", ns.neighs.len());
    let _ = writeln!(o, "  fdb entries  {}", ns.fdb.len());
    let _ = writeln!(o, "  conntrack    {}", ns.conntrack.len());
    match &ns.sockets {
        Some(s) => {
            let _ = writeln!(o, "  sockets      {}", s.len());
        }
        None => {
            let _ = writeln!(o, "  sockets      not imported: every port is assumed to listen");
        }
    }
    let forward = ns.sysctls.get("net.ipv4.ip_forward").map(|(v, assumed)| format!("{v}{}", if assumed { " (assumed)" } else { "" })).unwrap_or_default();
    let _ = writeln!(
        o,
        "  sysctls      {} {}; net.ipv4.ip_forward = {forward}",
        ns.sysctls.values.len(),
        if ns.sysctls.imported { "imported" } else { "(none imported: kernel defaults assumed)" }
    );
    for (what, n) in &ns.ipv6_ignored {
        let _ = writeln!(o, "  ipv6 {what} not modelled: {n}");
    }

    let count = |s: Severity| diags.iter().filter(|d| d.severity == s).count();
    let _ =
        writeln!(o, "\n{} ({} errors, {} warnings, {} notes)", head("diagnostics"), count(Severity::Error), count(Severity::Warning), count(Severity::Info));
    for d in sorted(diags) {
        let _ = writeln!(o, "  {}", diagnostic_line(d, colour));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::diag::Span;
    use sim_core::model::addr::Addr;
    use sim_core::model::link::{BridgeInfo, BridgePort, Link, VxlanInfo};
    use sim_core::model::route::{NextHop, RouteType};
    use sim_core::model::types::Scope;

    fn link(ifindex: u32, name: &str, kind: LinkKind) -> Link {
        Link {
            ifindex,
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

    fn route(table: u32, dst: &str, gw: Option<&str>, dev: &str) -> Route {
        Route {
            table,
            rtype: RouteType::Unicast,
            dst: dst.parse().expect("net"),
            tos: 0,
            metric: 0,
            protocol: None,
            scope: Scope::Universe,
            prefsrc: None,
            nexthops: vec![NextHop {
                gateway: gw.map(|g| g.parse().expect("ip")),
                dev: Some(dev.into()),
                onlink: false,
                weight: 1,
                dead: false,
                linkdown: false,
            }],
            mtu: None,
            origin: None,
        }
    }

    fn sample() -> Namespace {
        let mut ns = Namespace { name: "node-a".into(), ..Default::default() };
        let mut eth0 = link(2, "eth0", LinkKind::Veth);
        eth0.link_ifindex = Some(7);
        eth0.link_netnsid = Some(0);
        let mut veth1 = link(3, "veth1", LinkKind::Veth);
        veth1.master = Some("cni0".into());
        veth1.brport = Some(BridgePort { hairpin: true, ..Default::default() });
        let bridge = link(4, "cni0", LinkKind::Bridge(BridgeInfo::default()));
        let vx = link(
            5,
            "flannel.1",
            LinkKind::Vxlan(VxlanInfo {
                vni: 1,
                local: Some("10.1.0.1".parse().expect("ip")),
                remote: None,
                dstport: 8472,
                dev: Some("eth0".into()),
                learning: false,
                port_range: None,
            }),
        );
        ns.links = vec![vx, bridge, veth1, eth0];
        ns.addrs = vec![Addr {
            ifname: "cni0".into(),
            ifindex: 4,
            local: "10.244.0.1".parse().expect("ip"),
            prefix_len: 24,
            peer: None,
            broadcast: None,
            scope: Scope::Universe,
            secondary: false,
            noprefixroute: false,
            label: None,
        }];
        ns.routes = vec![route(254, "10.244.1.0/24", Some("10.244.1.0"), "flannel.1"), route(100, "0.0.0.0/0", Some("10.1.0.254"), "eth0")];
        let mut rules = FibRule::defaults();
        rules.insert(1, FibRule { priority: 100, fwmark: Some((1, u32::MAX)), action: RuleAction::Table(100), ..rules[0].clone() });
        ns.rules = rules;
        ns
    }

    #[test]
    fn render_shows_how_devices_connect_routes_per_table_and_rules() {
        let diags = vec![
            Diagnostic::warning(Span::new("iptables-save.txt", 12, 5), "unsupported-match", "-m foo is not modelled"),
            Diagnostic::info(Span::new("ip-link.json", 1, 0), "assumed-default", "x"),
        ];
        let out = render(&sample(), &diags, "snap/node-a", false);
        for needle in [
            "namespace node-a (snap/node-a)",
            "    2: eth0             veth      up, mtu 1500\n       veth peer if7 in another namespace (netnsid 0)",
            "    4: cni0             bridge    up, mtu 1500\n       ports: veth1; stp 0, vlan_filtering 0, nf_call_iptables 0\n       inet 10.244.0.1/24",
            "       port of cni0 (state forwarding, hairpin on, learning on, flood on)",
            "       vni 1 local 10.1.0.1 remote - dstport 8472 dev eth0 learning off",
            "routes (2 in 2 tables)\n  table 100 (100)\n    default via 10.1.0.254 dev eth0\n  table main (254)\n    10.244.1.0/24 via 10.244.1.0 dev flannel.1",
            "policy rules (4)\n  0: from all lookup local\n  100: from all fwmark 0x1 lookup 100\n  32766: from all lookup main\n  32767: from all lookup default",
            "sockets      not imported: every port is assumed to listen",
            "net.ipv4.ip_forward = 0 (assumed)",
            "diagnostics (0 errors, 1 warnings, 1 notes)\n  ip-link.json:1: info[assumed-default]: x\n  iptables-save.txt:12:5: warning[unsupported-match]: -m foo is not modelled",
        ] {
            assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
        }
        assert!(!out.contains('\x1b'), "no colour when off");
    }

    #[test]
    fn read_folder_errors_name_the_place() {
        let dir = tempfile::tempdir().expect("tmp");
        let e = read_folder(dir.path()).expect_err("empty folder");
        assert!(e.message.contains("no snapshot files"), "{e}");
        std::fs::write(dir.path().join("ip-link.json"), b"[]\n[\xff]").expect("write");
        std::fs::write(dir.path().join("collect.log"), b"\xff").expect("write");
        let e = read_folder(dir.path()).expect_err("bad utf-8");
        assert!(e.location.as_deref().is_some_and(|l| l.ends_with("ip-link.json:2:2")), "{e}");
        std::fs::write(dir.path().join("ip-link.json"), b"[]\n").expect("write");
        let files = read_folder(dir.path()).expect("ok");
        assert_eq!(files.keys().collect::<Vec<_>>(), ["ip-link.json"], "collect.log is not an input");
        let e = read_folder(&dir.path().join("missing")).expect_err("missing");
        assert_eq!(e.code, EXIT_UNUSABLE);
    }
}
