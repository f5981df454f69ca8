//! `cluster.yaml` and `flows.yaml`, typed. Values are parsed while deserialising so that a bad
//! address or protocol is reported at its own line and column.

use crate::diag::{Diagnostic, Parsed, Span};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

/// `ns:dev`, one end of a veth pair or an underlay member.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Endpoint {
    pub ns: String,
    pub dev: String,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.ns, self.dev)
    }
}

impl std::str::FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some((ns, dev)) if !ns.is_empty() && !dev.is_empty() => Ok(Endpoint { ns: ns.to_string(), dev: dev.to_string() }),
            _ => Err(format!("expected NAMESPACE:DEVICE, found {s:?}")),
        }
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub name: String,
    pub members: Vec<Endpoint>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudNat {
    pub public: Ipv4Addr,
    pub to: Endpoint,
}

/// A security-group style allow list on an underlay member: packets arriving at `member` are
/// dropped unless one rule allows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnderlayFilter {
    pub member: Endpoint,
    pub allow: Vec<AllowRule>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowRule {
    /// Source prefix (`10.244.0.0/16`); absent = any.
    #[serde(default)]
    pub from: Option<ipnet::Ipv4Net>,
    /// `tcp`, `udp`, `icmp`, or absent for all.
    #[serde(default)]
    pub proto: Option<Proto>,
    /// `30000-32767` or `8472`; absent = all ports.
    #[serde(default)]
    pub ports: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Underlay {
    #[serde(default)]
    pub networks: Vec<Network>,
    #[serde(default)]
    pub nat: Vec<CloudNat>,
    #[serde(default)]
    pub filters: Vec<UnderlayFilter>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodName {
    pub name: String,
    pub ip: Ipv4Addr,
    #[serde(default)]
    pub node: Option<String>,
}

/// `cluster.yaml` (interface.md §2). Paths are relative to the file.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    pub namespaces: BTreeMap<String, String>,
    #[serde(default)]
    pub links: Vec<[Endpoint; 2]>,
    #[serde(default)]
    pub underlay: Option<Underlay>,
    #[serde(default)]
    pub pods: Vec<PodName>,
    /// Optional `kubectl get pods -A -o json` output, relative to the file.
    #[serde(default)]
    pub kubectl_pods: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
}

impl Proto {
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Icmp => 1,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
        }
    }
}

/// `to: 10.96.0.10:80/tcp`, `to: 10.96.0.10/icmp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Destination {
    pub addr: Ipv4Addr,
    pub port: Option<u16>,
    pub proto: Proto,
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{}/{}", self.addr, p, self.proto.as_str()),
            None => write!(f, "{}/{}", self.addr, self.proto.as_str()),
        }
    }
}

impl std::str::FromStr for Destination {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (hostport, proto) =
            s.rsplit_once('/').ok_or_else(|| format!("expected ADDRESS:PORT/PROTO or ADDRESS/icmp (e.g. 10.96.0.10:80/tcp), found {s:?}"))?;
        let proto = match proto {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            "icmp" => Proto::Icmp,
            p => return Err(format!("expected protocol tcp, udp or icmp, found {p:?}")),
        };
        let (addr, port) = match hostport.split_once(':') {
            Some((a, p)) => {
                let port: u16 = p.parse().map_err(|_| format!("expected a port number 0-65535, found {p:?}"))?;
                (a, Some(port))
            }
            None => (hostport, None),
        };
        let addr: Ipv4Addr = addr.parse().map_err(|_| format!("expected an IPv4 address, found {addr:?}"))?;
        match (proto, port) {
            (Proto::Icmp, Some(_)) => Err("icmp destinations take no port (write ADDRESS/icmp)".into()),
            (Proto::Tcp | Proto::Udp, None) => Err(format!("{} destinations need a port", proto.as_str())),
            _ => Ok(Destination { addr, port, proto }),
        }
    }
}

impl<'de> Deserialize<'de> for Destination {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// Where a flow starts: a namespace whose routing picks the source, or a packet injected on an
/// interface with a given source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Source {
    Ns(String),
    Inject(InjectSource),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InjectSource {
    pub ns: String,
    #[serde(default)]
    pub src: Option<Ipv4Addr>,
    #[serde(default)]
    pub iif: Option<String>,
    #[serde(default)]
    pub sport: Option<u16>,
    /// skb mark for locally generated packets (a socket's SO_MARK).
    #[serde(default)]
    pub mark: Option<u32>,
}

impl Source {
    pub fn ns(&self) -> &str {
        match self {
            Source::Ns(n) => n,
            Source::Inject(i) => &i.ns,
        }
    }
}

/// An address, optionally with a port (`10.244.1.2` or `10.244.1.2:8080`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct AddrPort {
    pub addr: Ipv4Addr,
    pub port: Option<u16>,
}

impl fmt::Display for AddrPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{}", self.addr, p),
            None => write!(f, "{}", self.addr),
        }
    }
}

impl std::str::FromStr for AddrPort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = match s.split_once(':') {
            Some((a, p)) => (a, Some(p.parse::<u16>().map_err(|_| format!("expected a port, found {p:?}"))?)),
            None => (s, None),
        };
        Ok(AddrPort { addr: a.parse().map_err(|_| format!("expected an IPv4 address, found {a:?}"))?, port: p })
    }
}

impl<'de> Deserialize<'de> for AddrPort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// A client result as written in expectations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExpectedResult(pub crate::trace::ClientResult);

impl<'de> Deserialize<'de> for ExpectedResult {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        crate::trace::ClientResult::parse(&s)
            .map(ExpectedResult)
            .ok_or_else(|| de::Error::custom(format!("expected connected, refused, timeout, indeterminate or error:ERRNO, found {s:?}")))
    }
}

/// `at:` takes one namespace or a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default)]
    pub result: Option<ExpectedResult>,
    #[serde(default)]
    pub at: Option<OneOrMany>,
    #[serde(default)]
    pub seen_src: Option<AddrPort>,
    #[serde(default)]
    pub seen_dst: Option<AddrPort>,
    /// Drop reason of every outcome that was dropped (`rule`, `no-route`, ...).
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    pub name: String,
    pub from: Source,
    pub to: Destination,
    #[serde(default)]
    pub expect: Option<Expect>,
    /// Follow one branch of every choice instead of enumerating them.
    #[serde(default)]
    pub seed: Option<u64>,
}

/// `flows.yaml`. `state` names the cluster file or snapshot folder the flows run against,
/// relative to this file; when absent, `cluster.yaml` beside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(Default)]
pub struct FlowsFile {
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub flows: Vec<Flow>,
}

fn yaml_error(file: &str, text: &str, e: serde_yaml::Error) -> Diagnostic {
    let (mut line, mut col) = e.location().map(|l| (l.line() as u32, l.column() as u32)).unwrap_or((1, 0));
    let msg = e.to_string();
    // serde_yaml appends " at line L column C"; the span says it already.
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    // For values rejected by our own parsers serde_yaml points at the enclosing mapping; move the
    // span to the offending value itself when the message quotes it.
    let quoted = msg.split('"').nth(1).filter(|q| !q.is_empty());
    if let Some(q) = quoted {
        let start = line.saturating_sub(1) as usize;
        if let Some((i, c)) = text.lines().enumerate().skip(start).find_map(|(i, l)| l.find(q).map(|c| (i, c))) {
            line = i as u32 + 1;
            col = c as u32 + 1;
        }
    }
    let found = text.lines().nth(line.saturating_sub(1) as usize).unwrap_or("").trim().to_string();
    Diagnostic::error(Span::new(file, line, col), "bad-yaml", msg).with_expected("a valid document", found)
}

fn parse_yaml<T: for<'de> Deserialize<'de> + Default>(file: &str, text: &str) -> Parsed<T> {
    match serde_yaml::from_str::<T>(text) {
        Ok(v) => Parsed { value: v, diagnostics: Vec::new() },
        Err(e) => Parsed { value: T::default(), diagnostics: vec![yaml_error(file, text, e)] },
    }
}

/// Parses a cluster file; semantic checks (duplicate links, unknown namespaces) included.
pub fn parse_cluster(file: &str, text: &str) -> Parsed<ClusterFile> {
    let mut p: Parsed<ClusterFile> = parse_yaml(file, text);
    if p.has_errors() {
        return p;
    }
    let mut seen = std::collections::BTreeSet::new();
    for pair in &p.value.links {
        for e in pair {
            if !p.value.namespaces.contains_key(&e.ns) && !p.value.pods.iter().any(|pod| pod.name == e.ns) {
                p.diagnostics.push(Diagnostic::info(
                    Span::new(file, find_line(text, &e.to_string()), 0),
                    "synthesized-namespace",
                    format!("link end {e} names a namespace without a snapshot; it will be synthesized"),
                ));
            }
            if !seen.insert(e.clone()) {
                p.diagnostics.push(Diagnostic::error(
                    Span::new(file, find_line(text, &e.to_string()), 0),
                    "duplicate-link",
                    format!("{e} is used by two links; a veth end has exactly one peer"),
                ));
            }
        }
    }
    p
}

/// Parses a flows file; flow names must be unique.
pub fn parse_flows(file: &str, text: &str) -> Parsed<FlowsFile> {
    let mut p: Parsed<FlowsFile> = parse_yaml(file, text);
    let mut names = std::collections::BTreeSet::new();
    for f in &p.value.flows {
        if !names.insert(f.name.clone()) {
            p.diagnostics.push(Diagnostic::error(
                Span::new(file, find_line(text, &format!("name: {}", f.name)), 0),
                "duplicate-flow",
                format!("two flows are named {:?}; names identify flows in reports", f.name),
            ));
        }
    }
    p
}

/// The first line containing `needle` (1-based), or 1.
fn find_line(text: &str, needle: &str) -> u32 {
    text.lines().position(|l| l.contains(needle)).map(|i| i as u32 + 1).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_parse_and_bad_values_point_at_their_line() {
        let ok = "flows:\n  - name: a\n    from: pod-a1\n    to: 10.96.0.10:80/tcp\n    expect: {result: connected, at: [pod-b1, pod-b2], seen_dst: 10.244.1.2:8080}\n  - name: b\n    from: {ns: node-a, src: 10.244.0.1, iif: eth0}\n    to: 10.96.0.10/icmp\n";
        let p = parse_flows("f.yaml", ok);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(p.value.flows.len(), 2);
        assert_eq!(p.value.flows[0].to.port, Some(80));
        assert!(matches!(&p.value.flows[1].from, Source::Inject(i) if i.iif.as_deref() == Some("eth0")));

        let bad = "flows:\n  - name: a\n    from: pod-a1\n    to: 10.96.0.300:80/tcp\n";
        let p = parse_flows("f.yaml", bad);
        let d = &p.diagnostics[0];
        assert_eq!((d.span.line, d.span.file.as_str()), (4, "f.yaml"));
        assert!(d.message.contains("expected an IPv4 address"), "{}", d.message);

        let bad = "flows:\n  - name: a\n    from: pod-a1\n    to: 10.96.0.3:80/tcp\n    expect: {result: fine}\n";
        let d = &parse_flows("f.yaml", bad).diagnostics[0];
        assert_eq!(d.span.line, 5);
        assert!(d.message.contains("error:ERRNO"));
    }

    #[test]
    fn cluster_file_from_the_contract_parses() {
        let text = "namespaces:\n  node-a: nodes/node-a\n  node-b: nodes/node-b\n  pod-a1: pods/pod-a1\nlinks:\n  - [node-a:veth1234, pod-a1:eth0]\nunderlay:\n  networks:\n    - name: vpc-1\n      members: [node-a:eth0]\n    - name: vpc-2\n      members: [node-b:eth0]\n  nat:\n    - public: 203.0.113.69\n      to: node-b:eth0\n  filters: []\npods:\n  - {name: default/nginx-6fd9b8bcc7-ln2ws, ip: 10.244.1.2, node: node-b}\n";
        let p = parse_cluster("cluster.yaml", text);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(p.value.links[0][1].dev, "eth0");
        assert_eq!(p.value.underlay.as_ref().map(|u| u.nat.len()), Some(1));
        let dup = "namespaces: {a: a, b: b}\nlinks:\n  - [a:x, b:y]\n  - [a:x, b:z]\n";
        let p = parse_cluster("c.yaml", dup);
        assert!(p.diagnostics.iter().any(|d| d.code == "duplicate-link" && d.span.line == 3));
    }
}
