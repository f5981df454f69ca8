//! A snapshot folder (interface.md §1) -> one `Namespace`.
//!
//! Each input comes from its JSON file when present, else from a text form users paste, else a
//! default that `Namespace::provenance` names. A required input with no file is an error; a file
//! the loader does not know is reported (info) by name; when both a JSON file and its text form
//! are present the text one is reported as unused. Names must agree across files: every address,
//! route, neighbour and fdb entry names a device of the link list, or a warning says which not.
//!
//! | input     | read from, first found wins                            | when absent              |
//! |-----------|--------------------------------------------------------|--------------------------|
//! | links     | ip-link.json, ip-link.txt, ifconfig-a.txt, ip-addr.txt | error                    |
//! |           | + brctl-show.txt (bridge ports, when the list lacks them) |                       |
//! | addrs     | ip-addr.json, ip-addr.txt, ifconfig-a.txt              | error                    |
//! | routes    | ip-route.json, ip-route.txt, route-n.txt (main only)   | error                    |
//! | rules     | ip-rule.json, ip-rule.txt                              | the three default rules  |
//! | neighs    | ip-neigh.json, ip-neigh.txt                            | empty                    |
//! | fdb       | bridge-fdb.json, bridge-fdb.txt                        | empty                    |
//! | vlans     | bridge-vlan.json (bridge ports' and bridges' VLANs)   | none (no VLAN filtering) |
//! | sysctls   | sysctl.txt, ip-netconf.txt (per-device keys only)      | kernel defaults          |
//! | conntrack | conntrack.txt (`conntrack -L` or /proc/net/nf_conntrack) | empty                  |
//! | sockets   | sockets.txt                                            | every port listens       |
//! | ipsets    | ipset-save.txt, ipset-list.txt                         | no sets                  |
//! | ruleset   | iptables-save.txt, else every iptables-S*.txt          | error                    |

use crate::diag::{Diagnostic, Parsed, Span};
use crate::model::namespace::Namespace;
use crate::model::rule::FibRule;
use crate::model::ruleset::Ruleset;
use crate::model::sysctl::Sysctls;
use crate::parse::ip_json::Counted;
use crate::parse::{bridge_fdb, bridge_vlan, conntrack, ifconfig, ip_json, ip_text, ipset, iptables_s, iptables_save, route_n, ss, sysctl};
use std::collections::{BTreeMap, BTreeSet};

/// Every file name the loader reads; anything else in the folder is reported.
const KNOWN: &[&str] = &[
    "iptables-save.txt",
    "ipset-save.txt",
    "ipset-list.txt",
    "ip-link.json",
    "ip-addr.json",
    "ip-route.json",
    "ip-rule.json",
    "ip-neigh.json",
    "bridge-fdb.json",
    "sysctl.txt",
    "conntrack.txt",
    "sockets.txt",
    "ip-route.txt",
    "ip-addr.txt",
    "ip-link.txt",
    "ip-rule.txt",
    "ip-neigh.txt",
    "bridge-fdb.txt",
    "route-n.txt",
    "ifconfig-a.txt",
    "ip-netconf.txt",
    "brctl-show.txt",
    "bridge-vlan.json",
];

fn is_iptables_s(name: &str) -> bool {
    name.starts_with("iptables-S") && name.ends_with(".txt")
}

struct Loader<'a> {
    files: &'a BTreeMap<String, String>,
    used: BTreeSet<String>,
    diags: Vec<Diagnostic>,
    ns: Namespace,
}

impl<'a> Loader<'a> {
    /// The first of `names` that the folder has, marking it used; the others present are
    /// reported as not read.
    fn pick(&mut self, names: &[&str]) -> Option<(&'a str, &'a str)> {
        let files = self.files;
        let mut chosen: Option<(&'a str, &'a str)> = None;
        for n in names {
            if let Some((k, v)) = files.get_key_value(*n) {
                if let Some((c, _)) = chosen {
                    if self.used.insert(k.clone()) {
                        self.diags.push(Diagnostic::info(Span::new(k.as_str(), 0, 0), "unused-file", format!("`{k}` not read: `{c}` provides the same input")));
                    }
                } else {
                    self.used.insert(k.clone());
                    chosen = Some((k.as_str(), v.as_str()));
                }
            }
        }
        chosen
    }
    fn take<T>(&mut self, c: Counted<T>, key: &str) -> T {
        self.diags.extend(c.parsed.diagnostics);
        if c.ipv6_ignored > 0 {
            *self.ns.ipv6_ignored.entry(key.to_string()).or_insert(0) += c.ipv6_ignored;
        }
        c.parsed.value
    }
    fn provenance(&mut self, key: &str, v: impl Into<String>) {
        self.ns.provenance.insert(key.to_string(), v.into());
    }
    fn missing(&mut self, key: &str, wanted: &str, alternatives: &str) {
        self.diags.push(Diagnostic::error(
            Span::new(wanted, 0, 0),
            "missing-file",
            format!("required file `{wanted}` is missing ({alternatives}): the namespace has no {key}"),
        ));
        self.provenance(key, format!("missing: no {wanted}"));
    }
}

fn plain<T>(p: crate::diag::Parsed<T>) -> Counted<T> {
    Counted { parsed: p, ipv6_ignored: 0 }
}

/// Builds the namespace `name` from a snapshot folder's files (file name -> content).
pub fn load(name: &str, files: &BTreeMap<String, String>) -> Parsed<Namespace> {
    let mut l = Loader { files, used: BTreeSet::new(), diags: Vec::new(), ns: Namespace { name: name.to_string(), ..Namespace::default() } };

    // Links: `ip -j -d link`, else `ip -d link`, else `ifconfig -a`, else the link lines of
    // `ip addr` (which carry no `-d` details).
    let mut ifconfig_done: Option<(Vec<crate::model::addr::Addr>, &str)> = None;
    match l.pick(&["ip-link.json", "ip-link.txt", "ifconfig-a.txt"]) {
        Some((f, t)) if f.ends_with(".json") => {
            let c = ip_json::parse_links_counted(f, t);
            l.ns.links = l.take(c, "links");
            l.provenance("links", f);
        }
        Some((f, t)) if f == "ip-link.txt" => {
            let (c, _) = ip_text::parse_link_blocks(f, t);
            l.ns.links = l.take(c, "links").0;
            l.provenance("links", f);
        }
        Some((f, t)) => {
            let c = ifconfig::parse_counted(f, t);
            let (links, addrs) = l.take(c, "addrs");
            l.ns.links = links;
            l.provenance("links", f);
            ifconfig_done = Some((addrs, f));
        }
        None => match files.get_key_value("ip-addr.txt") {
            Some((f, t)) => {
                // Its diagnostics are reported once, when the addresses are read from it below.
                let (c, _) = ip_text::parse_link_blocks(f, t);
                l.ns.links = c.parsed.value.0;
                l.diags.push(Diagnostic::warning(
                    Span::new("ip-link.json", 0, 0),
                    "missing-file",
                    "no ip-link.json: devices taken from the link lines of ip-addr.txt, without `-d` details (kinds, bridge ports, tunnels unknown)",
                ));
                l.provenance("links", format!("{f} (link lines only, no -d details)"));
            }
            None => l.missing("links", "ip-link.json", "or ip-link.txt / ifconfig-a.txt"),
        },
    }

    // `brctl show` (optional): which devices are bridge ports, for link lists that cannot say
    // (ifconfig, ip link without -d). A master already known is never overridden.
    if let Some((f, t)) = l.pick(&["brctl-show.txt"]) {
        let p = ip_text::parse_brctl_show(f, t);
        l.diags.extend(p.diagnostics);
        for (bridge, ports) in p.value {
            for port in ports {
                match l.ns.links.iter_mut().find(|k| k.name == port) {
                    Some(k) if k.master.is_none() => {
                        k.master = Some(bridge.clone());
                        k.brport = Some(crate::model::link::BridgePort::default());
                    }
                    Some(k) if k.master.as_deref() != Some(bridge.as_str()) => l.diags.push(Diagnostic::warning(
                        Span::new(f, 0, 0),
                        "inconsistent",
                        format!(
                            "`{port}` is a port of `{bridge}` in {f} but has master `{}` in the link list: the link list is kept",
                            k.master.clone().unwrap_or_default()
                        ),
                    )),
                    Some(_) => {}
                    None => l.diags.push(Diagnostic::warning(
                        Span::new(f, 0, 0),
                        "unknown-device",
                        format!("bridge port `{port}` of `{bridge}` is not in the link list"),
                    )),
                }
            }
        }
        l.diags.push(Diagnostic::info(
            Span::new(f, 0, 0),
            "assumed-default",
            "ports named by brctl show get the default bridge port flags (learning, flooding, no hairpin): brctl does not show them",
        ));
        let prev = l.ns.provenance.get("links").cloned().unwrap_or_default();
        l.provenance("links", format!("{prev} + {f} (bridge ports)"));
    }

    // Addresses.
    match l.pick(&["ip-addr.json", "ip-addr.txt"]) {
        Some((f, t)) if f.ends_with(".json") => {
            let c = ip_json::parse_addrs_counted(f, t);
            l.ns.addrs = l.take(c, "addrs");
            l.provenance("addrs", f);
        }
        Some((f, t)) => {
            let (c, _) = ip_text::parse_link_blocks(f, t);
            let counted = Counted { parsed: Parsed { value: c.parsed.value.1, diagnostics: c.parsed.diagnostics }, ipv6_ignored: c.ipv6_ignored };
            l.ns.addrs = l.take(counted, "addrs");
            l.provenance("addrs", f);
        }
        None => match ifconfig_done.take() {
            Some((addrs, f)) => {
                l.ns.addrs = addrs;
                l.provenance("addrs", f);
            }
            None => l.missing("addrs", "ip-addr.json", "or ip-addr.txt / ifconfig-a.txt"),
        },
    }

    // Routes.
    match l.pick(&["ip-route.json", "ip-route.txt", "route-n.txt"]) {
        Some((f, t)) if f.ends_with(".json") => {
            let c = ip_json::parse_routes_counted(f, t);
            l.ns.routes = l.take(c, "routes");
            l.provenance("routes", f);
        }
        Some((f, t)) if f == "ip-route.txt" => {
            let c = ip_text::parse_routes_counted(f, t);
            l.ns.routes = l.take(c, "routes");
            l.provenance("routes", f);
        }
        Some((f, t)) => {
            let c = route_n::parse_counted(f, t);
            l.ns.routes = l.take(c, "routes");
            l.provenance("routes", format!("{f} (main table only)"));
        }
        None => l.missing("routes", "ip-route.json", "or ip-route.txt / route-n.txt"),
    }

    // Policy rules.
    match l.pick(&["ip-rule.json", "ip-rule.txt"]) {
        Some((f, t)) if f.ends_with(".json") => {
            let c = ip_json::parse_rules_counted(f, t);
            l.ns.rules = l.take(c, "rules");
            l.provenance("rules", f);
        }
        Some((f, t)) => {
            let c = ip_text::parse_rules_counted(f, t);
            l.ns.rules = l.take(c, "rules");
            l.provenance("rules", f);
        }
        None => {
            l.ns.rules = FibRule::defaults();
            l.provenance("rules", "default: no ip-rule.json, the three default rules assumed");
        }
    }

    // Neighbours.
    match l.pick(&["ip-neigh.json", "ip-neigh.txt"]) {
        Some((f, t)) if f.ends_with(".json") => {
            let c = ip_json::parse_neighs_counted(f, t);
            l.ns.neighs = l.take(c, "neighs");
            l.provenance("neighs", f);
        }
        Some((f, t)) => {
            let c = ip_text::parse_neighs_counted(f, t, None);
            l.ns.neighs = l.take(c, "neighs");
            l.provenance("neighs", f);
        }
        None => l.provenance("neighs", "default: no ip-neigh.json, the neighbour table is empty (addresses are resolved when used)"),
    }

    // Forwarding database.
    match l.pick(&["bridge-fdb.json", "bridge-fdb.txt"]) {
        Some((f, t)) => {
            let c = bridge_fdb::parse_counted(f, t, None);
            l.ns.fdb = l.take(c, "fdb");
            l.provenance("fdb", f);
        }
        None => {
            l.provenance("fdb", "default: no bridge-fdb.json, no static fdb entries (bridges learn, VXLAN devices have no remotes beyond their own `remote`)")
        }
    }

    // Bridge VLANs (`bridge -j vlan show`): attached to the ports and bridges they name.
    if let Some((f, t)) = l.pick(&["bridge-vlan.json"]) {
        let c = bridge_vlan::parse(f, t);
        for (dev, vlans) in l.take(c, "vlans") {
            match l.ns.links.iter_mut().find(|k| k.name == dev) {
                Some(k) => match (&mut k.kind, &mut k.brport) {
                    (crate::model::link::LinkKind::Bridge(b), _) => b.vlans = vlans,
                    (_, Some(p)) => p.vlans = vlans,
                    _ => l.diags.push(Diagnostic::warning(
                        Span::new(f, 0, 0),
                        "unknown-device",
                        format!("`{dev}` has VLANs in {f} but is neither a bridge nor a bridge port"),
                    )),
                },
                None => l.diags.push(Diagnostic::warning(Span::new(f, 0, 0), "unknown-device", format!("`{dev}` in {f} is not in the link list"))),
            }
        }
        l.provenance("vlans", f);
    }

    match l.pick(&["sysctl.txt", "ip-netconf.txt"]) {
        Some((f, t)) if f == "sysctl.txt" => {
            let c = plain(sysctl::parse(f, t));
            l.ns.sysctls = l.take(c, "sysctls");
            l.provenance("sysctls", f);
        }
        Some((f, t)) => {
            let c = plain(sysctl::parse_netconf(f, t));
            l.ns.sysctls = l.take(c, "sysctls");
            l.provenance("sysctls", format!("{f} (per-device forwarding, rp_filter, proxy_arp only; other keys kernel defaults)"));
        }
        None => {
            l.ns.sysctls = Sysctls::default();
            l.provenance("sysctls", "default: no sysctl.txt, kernel defaults assumed");
        }
    }

    match l.pick(&["conntrack.txt"]) {
        Some((f, t)) => {
            let c = conntrack::parse_counted(f, t);
            l.ns.conntrack = l.take(c, "conntrack");
            l.provenance("conntrack", f);
        }
        None => l.provenance("conntrack", "default: no conntrack.txt, the conntrack table is empty"),
    }

    match l.pick(&["sockets.txt"]) {
        Some((f, t)) => {
            let c = ss::parse_counted(f, t);
            l.ns.sockets = Some(l.take(c, "sockets"));
            l.provenance("sockets", f);
        }
        None => {
            l.ns.sockets = None;
            l.provenance("sockets", "default: no sockets.txt, every port assumed to listen");
        }
    }

    match l.pick(&["ipset-save.txt", "ipset-list.txt"]) {
        Some((f, t)) => {
            let c = ipset::parse_counted(f, t);
            l.ns.ipsets = l.take(c, "ipsets");
            l.provenance("ipsets", f);
        }
        None => l.provenance("ipsets", "default: no ipset-save.txt, no sets (rules naming a set cannot match)"),
    }

    // iptables: `iptables-save.txt`, else one or more `iptables -S` listings.
    let s_files: Vec<&String> = files.keys().filter(|k| is_iptables_s(k)).collect();
    match l.pick(&["iptables-save.txt"]) {
        Some((f, t)) => {
            for s in &s_files {
                if l.used.insert((*s).clone()) {
                    l.diags.push(Diagnostic::info(Span::new(s.as_str(), 0, 0), "unused-file", format!("`{s}` not read: `{f}` provides the ruleset")));
                }
            }
            let p = iptables_save::parse(f, t);
            l.diags.extend(p.diagnostics);
            l.ns.ruleset = p.value;
            l.provenance("ruleset", f);
        }
        None if !s_files.is_empty() => {
            let mut rs = Ruleset::default();
            for s in &s_files {
                l.used.insert((*s).clone());
                let p = iptables_s::parse(s, &files[*s]);
                l.diags.extend(p.diagnostics);
                merge_ruleset(&mut rs, p.value, s, &mut l.diags);
            }
            l.ns.ruleset = rs;
            let names: Vec<&str> = s_files.iter().map(|s| s.as_str()).collect();
            l.provenance("ruleset", names.join(", "));
        }
        None => l.missing("ruleset", "iptables-save.txt", "it may be empty, or give iptables -S listings as iptables-S*.txt"),
    }

    for k in files.keys() {
        if !l.used.contains(k) && !KNOWN.contains(&k.as_str()) && !is_iptables_s(k) {
            l.diags.push(Diagnostic::info(
                Span::new(k.as_str(), 0, 0),
                "unknown-file",
                format!("`{k}` is not a snapshot file nfpath reads (see interface.md §1): ignored"),
            ));
        }
    }

    consistency(&mut l);
    set_references(&mut l);
    let mut diagnostics = l.diags;
    diagnostics.sort_by(|a, b| (a.span.file.as_str(), a.span.line, a.span.col).cmp(&(b.span.file.as_str(), b.span.line, b.span.col)));
    Parsed { value: l.ns, diagnostics }
}

/// Appends `from`'s tables to `into`, renumbering the rule texts' source ids. A table given by
/// two files is an error: the second is dropped, and the message says which.
fn merge_ruleset(into: &mut Ruleset, from: Ruleset, file: &str, diags: &mut Vec<Diagnostic>) {
    let base = into.sources.len() as u32;
    into.source_names.extend(from.source_names);
    into.sources.extend(from.sources);
    if into.backend == Default::default() {
        into.backend = from.backend;
    }
    for mut t in from.tables {
        if into.table(t.name).is_some() {
            diags.push(Diagnostic::error(
                Span::new(file, t.line, 0),
                "duplicate-table",
                format!("table `{}` is also given by an earlier iptables -S file: this copy is ignored", t.name),
            ));
            continue;
        }
        for c in &mut t.chains {
            for r in &mut c.rules {
                r.text.source += base;
            }
        }
        into.tables.push(t);
    }
}

/// `file:line` or `file:line:col`, as importers write `Route::origin`.
fn origin_span(o: Option<&str>) -> Option<Span> {
    let o = o?;
    let mut parts = o.rsplitn(3, ':');
    let a = parts.next()?;
    let b = parts.next()?;
    match (parts.next(), b.parse::<u32>(), a.parse::<u32>()) {
        (Some(f), Ok(line), Ok(col)) => Some(Span::new(f, line, col)),
        (_, _, Ok(line)) => Some(Span::new(o[..o.len() - a.len() - 1].to_string(), line, 0)),
        _ => None,
    }
}

/// Cross-file name checks: the kernel would not hold an address, route or neighbour on a
/// device that does not exist, so a mismatch means the files were not taken together.
fn consistency(l: &mut Loader<'_>) {
    let names: BTreeSet<&str> = l.ns.links.iter().map(|k| k.name.as_str()).collect();
    if names.is_empty() {
        return;
    }
    let mut out = Vec::new();
    let addr_file = l.ns.provenance.get("addrs").cloned().unwrap_or_default();
    let mut seen = BTreeSet::new();
    for k in &l.ns.links {
        if !seen.insert(k.name.as_str()) {
            out.push(Diagnostic::error(
                Span::new(l.ns.provenance.get("links").cloned().unwrap_or_default(), 0, 0),
                "duplicate-link",
                format!("device `{}` is listed twice", k.name),
            ));
        }
        if let Some(m) = &k.master {
            if !names.contains(m.as_str()) {
                out.push(Diagnostic::warning(
                    Span::new(l.ns.provenance.get("links").cloned().unwrap_or_default(), 0, 0),
                    "unknown-device",
                    format!("`{}` has master `{m}`, which is not in the link list", k.name),
                ));
            }
        }
    }
    let by_name: BTreeMap<String, u32> = l.ns.links.iter().map(|k| (k.name.clone(), k.ifindex)).collect();
    for a in &mut l.ns.addrs {
        match by_name.get(&a.ifname) {
            Some(i) => {
                if a.ifindex != *i {
                    // Text forms without indexes (ifconfig, ip -br) numbered devices in order:
                    // the link list's index is the kernel's. Two real indexes that differ mean
                    // the device was re-created between the two commands.
                    if addr_file == "ip-addr.json" && l.ns.provenance.get("links").map(String::as_str) == Some("ip-link.json") {
                        out.push(Diagnostic::warning(
                            Span::new(addr_file.as_str(), 0, 0),
                            "index-mismatch",
                            format!("`{}` has ifindex {} in ip-addr.json but {} in ip-link.json (re-created between the two commands?): the link list's index is used", a.ifname, a.ifindex, i),
                        ));
                    }
                    a.ifindex = *i;
                }
            }
            None => out.push(Diagnostic::warning(
                Span::new(addr_file.as_str(), 0, 0),
                "unknown-device",
                format!("address {}/{} is on `{}`, which is not in the link list (files from different moments?)", a.local, a.prefix_len, a.ifname),
            )),
        }
    }
    let route_file = l.ns.provenance.get("routes").cloned().unwrap_or_default();
    let mut reported = BTreeSet::new();
    for r in &l.ns.routes {
        for nh in &r.nexthops {
            if let Some(d) = &nh.dev {
                if !names.contains(d.as_str()) && reported.insert(d.clone()) {
                    let span = origin_span(r.origin.as_deref()).unwrap_or_else(|| Span::new(route_file.clone(), 0, 0));
                    out.push(Diagnostic::warning(
                        span,
                        "unknown-device",
                        format!("route to {} uses device `{d}`, which is not in the link list (first such route; reported once per device)", r.dst),
                    ));
                }
            }
        }
    }
    let neigh_file = l.ns.provenance.get("neighs").cloned().unwrap_or_default();
    for n in &l.ns.neighs {
        if !n.dev.is_empty() && !names.contains(n.dev.as_str()) && reported.insert(format!("neigh {}", n.dev)) {
            out.push(Diagnostic::warning(
                Span::new(neigh_file.as_str(), 0, 0),
                "unknown-device",
                format!("neighbour {} is on `{}`, which is not in the link list", n.dst, n.dev),
            ));
        }
    }
    let fdb_file = l.ns.provenance.get("fdb").cloned().unwrap_or_default();
    for e in &l.ns.fdb {
        for d in [Some(&e.dev), e.master.as_ref()].into_iter().flatten() {
            if !d.is_empty() && !names.contains(d.as_str()) && reported.insert(format!("fdb {d}")) {
                out.push(Diagnostic::warning(
                    Span::new(fdb_file.as_str(), 0, 0),
                    "unknown-device",
                    format!("fdb entry {} names `{d}`, which is not in the link list", e.mac),
                ));
            }
        }
    }
    l.diags.extend(out);
}

fn set_references(l: &mut Loader<'_>) {
    let mut out = Vec::new();
    // `-m set --match-set NAME`: iptables-restore refuses a rule naming a set the kernel does
    // not have (xt_set checkentry), so a missing set means the ipset file is missing or cut.
    let have_sets = l.ns.provenance.get("ipsets").map(|p| !p.starts_with("default")).unwrap_or(false);
    let mut named = BTreeSet::new();
    for t in &l.ns.ruleset.tables {
        for c in &t.chains {
            for r in &c.rules {
                for m in &r.matches {
                    if let crate::model::ruleset::Match::Set(sm) = m {
                        if l.ns.ipset(&sm.name).is_none() && named.insert(sm.name.clone()) {
                            let file = l.ns.ruleset.rule_file(r).to_string();
                            let why = if have_sets {
                                "is not in the ipset file (listing cut short or taken at another moment?)"
                            } else {
                                "is not known: the snapshot has no ipset-save.txt"
                            };
                            out.push(Diagnostic::warning(
                                Span::new(file, r.line, 0),
                                "unknown-set",
                                format!(
                                    "`--match-set {}` (first use; reported once per set): the set {why}; outcomes reaching this rule are indeterminate",
                                    sm.name
                                ),
                            ));
                        }
                    }
                }
            }
        }
    }
    l.diags.extend(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ruleset::{BaseMatch, Chain, Match, Rule, SetDir, SetMatch, Table, TableName, Target, TextRef};
    use std::sync::Arc;

    fn with_set_rule(files: &BTreeMap<String, String>) -> Parsed<Namespace> {
        let mut l = Loader { files, used: BTreeSet::new(), diags: Vec::new(), ns: Namespace::default() };
        if files.contains_key("ipset-save.txt") {
            l.ns.ipsets = ipset::parse("ipset-save.txt", &files["ipset-save.txt"]).value;
            l.ns.provenance.insert("ipsets".into(), "ipset-save.txt".into());
        }
        let mut rs = Ruleset::default();
        let src = rs.add_source("iptables-save.txt", Arc::from("-A INPUT -m set --match-set KUBE-X dst -j ACCEPT"));
        let mut t = Table::new(TableName::Filter, 1);
        let rule = Rule {
            line: 7,
            text: TextRef { source: src, start: 0, end: 10 },
            counters: None,
            base: BaseMatch::default(),
            matches: vec![Match::Set(Box::new(SetMatch {
                neg: false,
                name: "KUBE-X".into(),
                dirs: vec![SetDir::Dst],
                return_nomatch: false,
                no_update_counters: false,
                no_update_subcounters: false,
                counter_tests: Vec::new(),
            }))],
            target: Target::Accept,
            unreadable: None,
        };
        t.add_chain(Chain { name: "INPUT".into(), policy: None, counters: None, line: 2, rules: vec![rule.clone(), rule] });
        rs.tables.push(t);
        l.ns.ruleset = rs;
        set_references(&mut l);
        Parsed { value: l.ns, diagnostics: l.diags }
    }

    #[test]
    fn rules_naming_unknown_sets_are_reported_once() {
        let p = with_set_rule(&BTreeMap::new());
        let d: Vec<_> = p.diagnostics.iter().filter(|d| d.code == "unknown-set").collect();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].span.to_string(), "iptables-save.txt:7");
        assert!(d[0].message.contains("no ipset-save.txt"));
        let mut files = BTreeMap::new();
        files.insert("ipset-save.txt".to_string(), "create KUBE-X hash:ip\n".to_string());
        assert!(with_set_rule(&files).diagnostics.is_empty());
        files.insert("ipset-save.txt".to_string(), "create KUBE-Y hash:ip\n".to_string());
        assert!(with_set_rule(&files).diagnostics[0].message.contains("not in the ipset file"));
    }
}

#[cfg(test)]
mod origin_tests {
    use super::origin_span;

    #[test]
    fn origins() {
        assert_eq!(origin_span(Some("ip-route.txt:7")).map(|s| s.to_string()).as_deref(), Some("ip-route.txt:7"));
        assert_eq!(origin_span(Some("ip-route.json:1:345")).map(|s| s.to_string()).as_deref(), Some("ip-route.json:1:345"));
        assert_eq!(origin_span(Some("x")), None);
    }
}
