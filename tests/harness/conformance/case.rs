//! A conformance case in concrete form: the namespaces with the exact commands that build them, the
//! veth links, the iptables-save text each loads, the listeners, and the flows. This is what a
//! regression fixture stores (JSON), so a fixture keeps meaning the same thing when the generator
//! changes, and a reader can rebuild it by hand from the printed commands.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Sysctls every case sets in every namespace before anything else, so that flows of one case do
/// not change each other's outcome (nfpath predicts each flow on a fresh node):
/// - IPv6 off: no link-local addresses, router solicitations or DAD noise in the snapshots;
/// - `send_redirects=0` (all and default, so every new device inherits it): a redirect would
///   change the client's route cache (`ip_rt_send_redirect` / `__ip_do_redirect`) and use up the
///   router's ICMP tokens for that client (`icmpv4_xrlim_allow`) for later flows;
/// - `icmp_ratelimit=0`: a case may send several ICMP errors to one client within a second, which
///   the per-peer token bucket (`inet_peer_xrlim_allow`) would otherwise start to suppress.
pub const BASELINE_SYSCTLS: &[&str] = &[
    "net.ipv6.conf.all.disable_ipv6=1",
    "net.ipv6.conf.default.disable_ipv6=1",
    "net.ipv4.conf.all.send_redirects=0",
    "net.ipv4.conf.default.send_redirects=0",
    "net.ipv4.icmp_ratelimit=0",
];

/// One case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub namespaces: Vec<NsCase>,
    #[serde(default)]
    pub links: Vec<LinkCase>,
    pub flows: Vec<FlowCase>,
}

/// One namespace. `pre` runs right after the namespace exists (before its veths), `commands`
/// after the links are up, then `iptables` is loaded with `iptables-restore`, then the listeners
/// start, then the namespace is collected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NsCase {
    /// Short name (`a`, `b`...): the name nfpath's world uses, and the suffix of the real one.
    pub name: String,
    /// `sysctl -qw KEY=VALUE` arguments.
    #[serde(default)]
    pub pre: Vec<String>,
    /// Shell commands run inside the namespace, in order.
    #[serde(default)]
    pub commands: Vec<String>,
    /// iptables-save text loaded with `iptables-restore` (empty: nothing loaded).
    #[serde(default)]
    pub iptables: String,
    /// Listening sockets on 0.0.0.0: `tcp:80`, `udp:5353`; `icmp` reports echo requests.
    #[serde(default)]
    pub listen: Vec<String>,
}

/// A veth pair: `a:a_dev` <-> `b:b_dev`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkCase {
    pub a: String,
    pub a_dev: String,
    pub b: String,
    pub b_dev: String,
}

/// A client connection: from a namespace (its routing picks the source address) to
/// `ADDR:PORT/tcp|udp` or `ADDR/icmp` (an echo request), from a fixed source port so that predictions and the kernel use the same
/// port and flows of one case never share a conntrack tuple.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowCase {
    pub from: String,
    pub to: String,
    pub sport: u16,
}

/// `FlowCase::to` split up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowTarget {
    pub addr: std::net::Ipv4Addr,
    pub port: u16,
    pub proto: crate::Proto,
}

impl FlowCase {
    pub fn target(&self) -> Result<FlowTarget, String> {
        let (hp, proto) = self.to.rsplit_once('/').ok_or_else(|| format!("flow to {:?}: expected ADDR:PORT/PROTO or ADDR/icmp", self.to))?;
        let proto = match proto {
            "tcp" => crate::Proto::Tcp,
            "udp" => crate::Proto::Udp,
            "icmp" => {
                let addr = hp.parse().map_err(|e| format!("flow to {:?}: {e}", self.to))?;
                return Ok(FlowTarget { addr, port: 0, proto: crate::Proto::Icmp });
            }
            p => return Err(format!("flow to {:?}: protocol {p:?} is not tcp, udp or icmp", self.to)),
        };
        let sa: std::net::SocketAddrV4 = hp.parse().map_err(|e| format!("flow to {:?}: {e}", self.to))?;
        Ok(FlowTarget { addr: *sa.ip(), port: sa.port(), proto })
    }
}

/// A listener spec `tcp:80` (or `icmp`, which reports echo requests) split up.
pub fn parse_listen(s: &str) -> Result<(crate::Proto, u16), String> {
    if s == "icmp" {
        return Ok((crate::Proto::Icmp, 0));
    }
    let (p, port) = s.split_once(':').ok_or_else(|| format!("listener {s:?}: expected PROTO:PORT"))?;
    let proto = match p {
        "tcp" => crate::Proto::Tcp,
        "udp" => crate::Proto::Udp,
        _ => return Err(format!("listener {s:?}: protocol {p:?} is not tcp or udp")),
    };
    let port = port.parse().map_err(|_| format!("listener {s:?}: bad port"))?;
    Ok((proto, port))
}

impl Case {
    /// Checks what the runner relies on: known namespaces in links and flows, parsable flows and
    /// listeners, distinct source ports.
    pub fn validate(&self) -> Result<(), String> {
        let names: Vec<&str> = self.namespaces.iter().map(|n| n.name.as_str()).collect();
        for (i, n) in names.iter().enumerate() {
            if n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric()) || names[..i].contains(n) {
                return Err(format!("namespace name {n:?} is empty, not alphanumeric, or given twice"));
            }
        }
        for l in &self.links {
            for ns in [&l.a, &l.b] {
                if !names.contains(&ns.as_str()) {
                    return Err(format!("link {}:{} - {}:{}: no namespace {ns}", l.a, l.a_dev, l.b, l.b_dev));
                }
            }
        }
        let mut sports = std::collections::BTreeSet::new();
        for f in &self.flows {
            if !names.contains(&f.from.as_str()) {
                return Err(format!("flow from {}: no such namespace", f.from));
            }
            f.target()?;
            if !sports.insert(f.sport) {
                return Err(format!("source port {} is used by two flows", f.sport));
            }
        }
        for n in &self.namespaces {
            for l in &n.listen {
                parse_listen(l)?;
            }
        }
        Ok(())
    }

    /// Everything needed to rebuild the case by hand, as one readable block.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "namespaces: {}", self.namespaces.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(" "));
        for l in &self.links {
            let _ = writeln!(s, "veth {}:{} <-> {}:{}", l.a, l.a_dev, l.b, l.b_dev);
        }
        for n in &self.namespaces {
            let _ = writeln!(s, "--- namespace {}", n.name);
            for p in &n.pre {
                let _ = writeln!(s, "  sysctl -qw {p}");
            }
            for c in &n.commands {
                let _ = writeln!(s, "  {c}");
            }
            if !n.listen.is_empty() {
                let _ = writeln!(s, "  listen {}", n.listen.join(" "));
            }
            if !n.iptables.trim().is_empty() {
                let _ = writeln!(s, "  iptables-restore <<EOF");
                for l in n.iptables.lines() {
                    let _ = writeln!(s, "  {l}");
                }
                let _ = writeln!(s, "  EOF");
            }
        }
        for f in &self.flows {
            let _ = writeln!(s, "flow {} -> {} (sport {})", f.from, f.to, f.sport);
        }
        s
    }
}

/// A saved case: a regression fixture under `tests/conformance/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// What this fixture is about, in a sentence.
    pub title: String,
    /// How it was found (seed and case number), or "hand-written".
    #[serde(default)]
    pub found_by: String,
    /// Set while nfpath still disagrees with the kernel on this case: why. The replay then
    /// requires the disagreement to persist, so that a fix shows up as a fixture to flip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_disagreement: Option<String>,
    /// Free notes: what was wrong, what fixed it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    pub case: Case,
}
