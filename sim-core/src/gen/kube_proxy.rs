//! kube-proxy (iptables mode) dump generator.
//!
//! Follows `/work/shared/docs/kube-proxy.md` §3 (kube-proxy ~v1.32–1.34,
//! `pkg/proxy/iptables/proxier.go:syncProxyRules`): chain names hashed as kube-proxy hashes them,
//! rules in the order kube-proxy writes them, and every rule printed the way `iptables-save`
//! normalises it (so the text is what an importer really reads on a node). Not generated: the
//! nfacct copies (they need nfacct objects to exist), terminating endpoints, topology hints,
//! `--nodeport-addresses`, IPv6.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use data_encoding::BASE32;
use ipnet::Ipv4Net;
use sha2::{Digest, Sha256};

use super::prng::SplitMix64;
use super::save::{comment, hex, probability, SaveHeader, Table};

/// kube-proxy's `largeClusterEndpointsThreshold`: above this many endpoints, SEP rules and
/// SVC->SEP jumps are written without comments.
pub const LARGE_CLUSTER_ENDPOINTS_THRESHOLD: usize = 1000;

/// `hash16(s)`: the first 16 characters of base32(sha256(s)), as kube-proxy's
/// `portProtoHash` / `servicePortEndpointChainName` compute chain suffixes.
pub fn hash16(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    let mut encoded = BASE32.encode(&digest);
    encoded.truncate(16);
    encoded
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// Lower case, as kube-proxy writes it in `-p`/`-m` and hashes it into chain names.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum TrafficPolicy {
    #[default]
    Cluster,
    Local,
}

/// How kube-proxy tells pod traffic from the rest (`--detect-local-mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LocalDetector {
    /// `-s <clusterCIDR>` (the default).
    #[default]
    ClusterCidr,
    /// `-s <this node's podCIDR>`.
    NodeCidr,
    /// No detector: no masquerade rule in the internal chain, no pod short-circuit.
    None,
}

/// One backend of a service port. `local` says whether it runs on this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub local: bool,
}

impl Endpoint {
    /// `IP:port`, as in `--to-destination` and the SEP hash.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

/// One service port (kube-proxy programs per service *port*). The kind follows from the fields:
/// a `node_port` makes it NodePort, `load_balancer_ips` LoadBalancer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    pub namespace: String,
    pub name: String,
    /// Empty for an unnamed port (then `ns/name` without the colon).
    pub port_name: String,
    pub protocol: Protocol,
    pub cluster_ip: Ipv4Addr,
    pub port: u16,
    pub node_port: Option<u16>,
    pub external_ips: Vec<Ipv4Addr>,
    pub load_balancer_ips: Vec<Ipv4Addr>,
    pub load_balancer_source_ranges: Vec<Ipv4Net>,
    pub external_traffic_policy: TrafficPolicy,
    pub internal_traffic_policy: TrafficPolicy,
    /// Set for eTP=Local LoadBalancer services (an ACCEPT in filter KUBE-NODEPORTS).
    pub health_check_node_port: Option<u16>,
    /// ClientIP session affinity with this timeout in seconds (default 10800).
    pub session_affinity_seconds: Option<u32>,
    pub endpoints: Vec<Endpoint>,
}

impl ServiceSpec {
    /// A plain ClusterIP service port with no endpoints; fill the rest as needed.
    pub fn cluster_ip(namespace: &str, name: &str, port_name: &str, protocol: Protocol, cluster_ip: Ipv4Addr, port: u16) -> Self {
        ServiceSpec {
            namespace: namespace.to_string(),
            name: name.to_string(),
            port_name: port_name.to_string(),
            protocol,
            cluster_ip,
            port,
            node_port: None,
            external_ips: Vec::new(),
            load_balancer_ips: Vec::new(),
            load_balancer_source_ranges: Vec::new(),
            external_traffic_policy: TrafficPolicy::Cluster,
            internal_traffic_policy: TrafficPolicy::Cluster,
            health_check_node_port: None,
            session_affinity_seconds: None,
            endpoints: Vec::new(),
        }
    }

    /// `ns/name:portName` (kube-proxy's `ServicePortName.String()`).
    pub fn port_name_string(&self) -> String {
        if self.port_name.is_empty() {
            format!("{}/{}", self.namespace, self.name)
        } else {
            format!("{}/{}:{}", self.namespace, self.name, self.port_name)
        }
    }

    /// The hash shared by `KUBE-SVC-`, `KUBE-SVL-`, `KUBE-EXT-` and `KUBE-FW-`.
    pub fn chain_hash(&self) -> String {
        hash16(&format!("{}{}", self.port_name_string(), self.protocol.as_str()))
    }

    pub fn svc_chain(&self) -> String {
        format!("KUBE-SVC-{}", self.chain_hash())
    }
    pub fn svl_chain(&self) -> String {
        format!("KUBE-SVL-{}", self.chain_hash())
    }
    pub fn ext_chain(&self) -> String {
        format!("KUBE-EXT-{}", self.chain_hash())
    }
    pub fn fw_chain(&self) -> String {
        format!("KUBE-FW-{}", self.chain_hash())
    }

    /// `KUBE-SEP-` + hash16(svcPortName + proto + "IP:port").
    pub fn sep_chain(&self, ep: &Endpoint) -> String {
        format!("KUBE-SEP-{}", hash16(&format!("{}{}{}", self.port_name_string(), self.protocol.as_str(), ep.addr())))
    }

    pub fn externally_accessible(&self) -> bool {
        self.node_port.is_some() || !self.external_ips.is_empty() || !self.load_balancer_ips.is_empty()
    }

    pub fn local_endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.iter().filter(|e| e.local)
    }
}

/// What kube-proxy on one node knows: its addresses, its detector, and the service ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeProxyConfig {
    pub node_ip: Ipv4Addr,
    pub cluster_cidr: Ipv4Net,
    pub node_pod_cidr: Ipv4Net,
    pub local_detector: LocalDetector,
    pub masquerade_all: bool,
    /// `--iptables-masquerade-bit` (default 14 -> mark 0x4000).
    pub masquerade_bit: u8,
    /// Emitted in KUBE-SERVICES in this order (kube-proxy's order is Go map order, so any order
    /// is realistic; only the nodeports tail is fixed last).
    pub services: Vec<ServiceSpec>,
    /// `None` omits the `# Generated by` / `# Completed on` lines.
    pub header: Option<SaveHeader>,
}

impl Default for KubeProxyConfig {
    fn default() -> Self {
        KubeProxyConfig {
            node_ip: Ipv4Addr::new(192, 168, 0, 10),
            cluster_cidr: Ipv4Net::new(Ipv4Addr::new(10, 244, 0, 0), 16).unwrap_or_default(),
            node_pod_cidr: Ipv4Net::new(Ipv4Addr::new(10, 244, 1, 0), 24).unwrap_or_default(),
            local_detector: LocalDetector::ClusterCidr,
            masquerade_all: false,
            masquerade_bit: 14,
            services: Vec::new(),
            header: Some(SaveHeader::default()),
        }
    }
}

/// Sizes of a rendered dump.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DumpStats {
    pub lines: usize,
    pub bytes: usize,
    pub nat_rules: usize,
    pub nat_user_chains: usize,
    pub filter_rules: usize,
    pub filter_user_chains: usize,
    pub total_endpoints: usize,
    pub large_cluster_mode: bool,
}

/// Renders the node's whole `iptables-save` output (mangle, filter, nat).
pub fn render(cfg: &KubeProxyConfig) -> String {
    render_with_stats(cfg).0
}

/// [`render`] plus its sizes.
pub fn render_with_stats(cfg: &KubeProxyConfig) -> (String, DumpStats) {
    let masq = 1u32 << cfg.masquerade_bit.min(31);
    let total_endpoints: usize = cfg.services.iter().map(|s| s.endpoints.len()).sum();
    // proxier.go: largeClusterMode = endpointChainsNumber > largeClusterEndpointsThreshold.
    let large = total_endpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD;

    let mut mangle = Table::new("mangle");
    for c in ["KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY", "KUBE-PROXY-CANARY"] {
        mangle.chain(c);
    }

    let mut filter = Table::new("filter");
    for c in [
        "KUBE-EXTERNAL-SERVICES",
        "KUBE-FIREWALL",
        "KUBE-FORWARD",
        "KUBE-KUBELET-CANARY",
        "KUBE-NODEPORTS",
        "KUBE-PROXY-CANARY",
        "KUBE-PROXY-FIREWALL",
        "KUBE-SERVICES",
    ] {
        filter.chain(c);
    }
    let new = "-m conntrack --ctstate NEW";
    let lbfw = comment("kubernetes load balancer firewall");
    let portals = comment("kubernetes service portals");
    let ext_portals = comment("kubernetes externally-visible service portals");
    // Jumps are inserted at position 1 by kube-proxy (and kubelet for KUBE-FIREWALL), which
    // leaves them in this order (kube-proxy.md §3, "Typical built-in order").
    filter.rule("INPUT", format!("{new} {lbfw} -j KUBE-PROXY-FIREWALL"));
    filter.rule("INPUT", format!("{} -j KUBE-NODEPORTS", comment("kubernetes health check service ports")));
    filter.rule("INPUT", format!("{new} {ext_portals} -j KUBE-EXTERNAL-SERVICES"));
    filter.rule("INPUT", "-j KUBE-FIREWALL".to_string());
    filter.rule("FORWARD", format!("{new} {lbfw} -j KUBE-PROXY-FIREWALL"));
    filter.rule("FORWARD", format!("{} -j KUBE-FORWARD", comment("kubernetes forwarding rules")));
    filter.rule("FORWARD", format!("{new} {portals} -j KUBE-SERVICES"));
    filter.rule("FORWARD", format!("{new} {ext_portals} -j KUBE-EXTERNAL-SERVICES"));
    filter.rule("OUTPUT", format!("{new} {lbfw} -j KUBE-PROXY-FIREWALL"));
    filter.rule("OUTPUT", format!("{new} {portals} -j KUBE-SERVICES"));
    filter.rule("OUTPUT", "-j KUBE-FIREWALL".to_string());
    filter.rule(
        "KUBE-FIREWALL",
        format!("! -s 127.0.0.0/8 -d 127.0.0.0/8 {} -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP", comment("block incoming localnet connections")),
    );
    filter.rule("KUBE-FORWARD", "-m conntrack --ctstate INVALID -j DROP".to_string());
    filter.rule("KUBE-FORWARD", format!("{} -m mark --mark {m}/{m} -j ACCEPT", comment("kubernetes forwarding rules"), m = hex(masq)));
    filter.rule("KUBE-FORWARD", format!("{} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", comment("kubernetes forwarding conntrack rule")));

    let mut nat = Table::new("nat");
    for c in ["KUBE-KUBELET-CANARY", "KUBE-MARK-MASQ", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-PROXY-CANARY", "KUBE-SERVICES"] {
        nat.chain(c);
    }
    nat.rule("PREROUTING", format!("{portals} -j KUBE-SERVICES"));
    nat.rule("OUTPUT", format!("{portals} -j KUBE-SERVICES"));
    nat.rule("POSTROUTING", format!("{} -j KUBE-POSTROUTING", comment("kubernetes postrouting rules")));
    // --or-mark / --xor-mark are saved as --set-xmark (libxt_MARK mark_tg_save).
    nat.rule("KUBE-MARK-MASQ", format!("-j MARK --set-xmark {m}/{m}", m = hex(masq)));
    nat.rule("KUBE-POSTROUTING", format!("-m mark ! --mark {m}/{m} -j RETURN", m = hex(masq)));
    nat.rule("KUBE-POSTROUTING", format!("-j MARK --set-xmark {}/0x0", hex(masq)));
    nat.rule("KUBE-POSTROUTING", format!("{} -j MASQUERADE --random-fully", comment("kubernetes service traffic requiring SNAT")));

    for svc in &cfg.services {
        render_service(cfg, svc, large, &mut nat, &mut filter);
    }
    nat.rule(
        "KUBE-SERVICES",
        format!("{} -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS", comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain")),
    );

    let mut out = String::with_capacity([&mangle, &filter, &nat].iter().map(|t| t.text_len() + 256).sum());
    for t in [&mangle, &filter, &nat] {
        t.write(&mut out, cfg.header.as_ref());
    }
    let stats = DumpStats {
        lines: out.lines().count(),
        bytes: out.len(),
        nat_rules: nat.rule_count(),
        nat_user_chains: nat.user_chain_count(),
        filter_rules: filter.rule_count(),
        filter_user_chains: filter.user_chain_count(),
        total_endpoints,
        large_cluster_mode: large,
    };
    (out, stats)
}

/// `-d <ip>/32 -p <proto> <comment> -m <proto> --dport <port>` in save order.
fn dst_port(ip: Ipv4Addr, proto: &str, comment_text: &str, port: u16) -> String {
    format!("-d {ip}/32 -p {proto} {} -m {proto} --dport {port}", comment(comment_text))
}

fn render_service(cfg: &KubeProxyConfig, svc: &ServiceSpec, large: bool, nat: &mut Table, filter: &mut Table) {
    let spn = svc.port_name_string();
    let proto = svc.protocol.as_str();
    let svc_chain = svc.svc_chain();
    let svl_chain = svc.svl_chain();
    let ext_chain = svc.ext_chain();
    let fw_chain = svc.fw_chain();

    // Each endpoint with its KUBE-SEP chain name, hashed once.
    let eps: Vec<(&Endpoint, String)> = svc.endpoints.iter().map(|e| (e, svc.sep_chain(e))).collect();
    let local: Vec<&(&Endpoint, String)> = eps.iter().filter(|(e, _)| e.local).collect();
    let has_endpoints = !svc.endpoints.is_empty();
    let internal_local = svc.internal_traffic_policy == TrafficPolicy::Local;
    let external_local = svc.external_traffic_policy == TrafficPolicy::Local;
    let accessible = svc.externally_accessible();
    // ServicePortInfo.UsesClusterEndpoints / UsesLocalEndpoints: eTP=Local still needs the
    // cluster chain for the pod and LOCAL short-circuits.
    let uses_cluster = !internal_local || accessible;
    let uses_local = internal_local || (accessible && external_local);
    let has_internal = if internal_local { !local.is_empty() } else { has_endpoints };
    let has_external = if external_local { !local.is_empty() } else { has_endpoints };
    let internal_chain = if internal_local { &svl_chain } else { &svc_chain };
    let external_policy_chain = if external_local { &svl_chain } else { &svc_chain };
    let uses_ext_chain = has_endpoints && accessible;
    let uses_fw = has_endpoints && !svc.load_balancer_ips.is_empty() && !svc.load_balancer_source_ranges.is_empty();
    let lb_chain = if uses_fw { &fw_chain } else { &ext_chain };

    let reject = "REJECT --reject-with icmp-port-unreachable";
    let (int_target, int_comment) =
        if !has_endpoints { (reject, format!("{spn} has no endpoints")) } else { ("DROP", format!("{spn} has no local endpoints")) };
    let (ext_target, ext_comment) =
        if !has_endpoints { (reject, format!("{spn} has no endpoints")) } else { ("DROP", format!("{spn} has no local endpoints")) };

    // Capture the cluster IP.
    if has_internal {
        nat.rule("KUBE-SERVICES", format!("{} -j {internal_chain}", dst_port(svc.cluster_ip, proto, &format!("{spn} cluster IP"), svc.port)));
    } else {
        filter.rule("KUBE-SERVICES", format!("{} -j {int_target}", dst_port(svc.cluster_ip, proto, &int_comment, svc.port)));
    }
    // Capture external IPs.
    for ip in &svc.external_ips {
        if has_endpoints {
            nat.rule("KUBE-SERVICES", format!("{} -j {ext_chain}", dst_port(*ip, proto, &format!("{spn} external IP"), svc.port)));
        }
        if !has_external {
            filter.rule("KUBE-EXTERNAL-SERVICES", format!("{} -j {ext_target}", dst_port(*ip, proto, &ext_comment, svc.port)));
        }
    }
    // Capture load-balancer ingress IPs.
    for ip in &svc.load_balancer_ips {
        if has_endpoints {
            nat.rule("KUBE-SERVICES", format!("{} -j {lb_chain}", dst_port(*ip, proto, &format!("{spn} loadbalancer IP"), svc.port)));
        }
        if uses_fw {
            filter.rule("KUBE-PROXY-FIREWALL", format!("{} -j DROP", dst_port(*ip, proto, &format!("{spn} traffic not accepted by {fw_chain}"), svc.port)));
        }
    }
    if !has_external {
        for ip in &svc.load_balancer_ips {
            filter.rule("KUBE-EXTERNAL-SERVICES", format!("{} -j {ext_target}", dst_port(*ip, proto, &ext_comment, svc.port)));
        }
    }
    // Capture node ports.
    if let Some(np) = svc.node_port {
        if has_endpoints {
            nat.rule("KUBE-NODEPORTS", format!("-p {proto} {} -m {proto} --dport {np} -j {ext_chain}", comment(&spn)));
        }
        if !has_external {
            filter.rule(
                "KUBE-EXTERNAL-SERVICES",
                format!("-p {proto} {} -m addrtype --dst-type LOCAL -m {proto} --dport {np} -j {ext_target}", comment(&ext_comment)),
            );
        }
    }
    if let Some(hc) = svc.health_check_node_port {
        filter.rule("KUBE-NODEPORTS", format!("-p tcp {} -m tcp --dport {hc} -j ACCEPT", comment(&format!("{spn} health check node port"))));
    }
    if !has_endpoints {
        return;
    }

    let pod_source = match cfg.local_detector {
        LocalDetector::ClusterCidr => Some(cfg.cluster_cidr),
        LocalDetector::NodeCidr => Some(cfg.node_pod_cidr),
        LocalDetector::None => None,
    };

    // Internal traffic: masquerade off-cluster sources reaching the cluster IP.
    if has_internal {
        let m = dst_port(svc.cluster_ip, proto, &format!("{spn} cluster IP"), svc.port);
        if cfg.masquerade_all {
            nat.rule(internal_chain, format!("{m} -j KUBE-MARK-MASQ"));
        } else if let Some(cidr) = pod_source {
            nat.rule(internal_chain, format!("! -s {cidr} {m} -j KUBE-MARK-MASQ"));
        }
    }

    // External traffic.
    if uses_ext_chain {
        nat.chain(&ext_chain);
        if !external_local {
            nat.rule(&ext_chain, format!("{} -j KUBE-MARK-MASQ", comment(&format!("masquerade traffic for {spn} external destinations"))));
        } else {
            if let Some(cidr) = pod_source {
                nat.rule(&ext_chain, format!("-s {cidr} {} -j {svc_chain}", comment(&format!("pod traffic for {spn} external destinations"))));
            }
            nat.rule(
                &ext_chain,
                format!("{} -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ", comment(&format!("masquerade LOCAL traffic for {spn} external destinations"))),
            );
            nat.rule(
                &ext_chain,
                format!("{} -m addrtype --src-type LOCAL -j {svc_chain}", comment(&format!("route LOCAL traffic for {spn} external destinations"))),
            );
        }
        if has_external {
            nat.rule(&ext_chain, format!("-j {external_policy_chain}"));
        }
    }

    // Load-balancer source ranges.
    if uses_fw {
        let c = comment(&format!("{spn} loadbalancer IP"));
        let mut allow_from_node = false;
        for cidr in &svc.load_balancer_source_ranges {
            nat.rule(&fw_chain, format!("-s {cidr} {c} -j {ext_chain}"));
            allow_from_node |= cidr.contains(&cfg.node_ip);
        }
        if allow_from_node {
            for ip in &svc.load_balancer_ips {
                nat.rule(&fw_chain, format!("-s {ip}/32 {c} -j {ext_chain}"));
            }
        }
        nat.rule(&fw_chain, comment(&format!("other traffic to {spn} will be dropped by KUBE-PROXY-FIREWALL")));
    }

    let all: Vec<&(&Endpoint, String)> = eps.iter().collect();
    if uses_cluster {
        nat.chain(&svc_chain);
        service_to_endpoints(svc, &spn, large, &svc_chain, &all, nat);
    }
    if uses_local && !local.is_empty() {
        nat.chain(&svl_chain);
        service_to_endpoints(svc, &spn, large, &svl_chain, &local, nat);
    }

    // Endpoint chains for every endpoint a policy chain can reach.
    let reachable: &[&(&Endpoint, String)] = if uses_cluster { &all } else { &local };
    let svc_comment = if large { String::new() } else { format!(" {}", comment(&spn)) };
    for (ep, sep) in reachable.iter().map(|p| (p.0, &p.1)) {
        nat.rule(sep, format!("-s {}/32{svc_comment} -j KUBE-MARK-MASQ", ep.ip));
        let recent =
            if svc.session_affinity_seconds.is_some() { format!(" -m recent --set --name {sep} --mask 255.255.255.255 --rsource") } else { String::new() };
        nat.rule(sep, format!("-p {proto}{svc_comment}{recent} -m {proto} -j DNAT --to-destination {}", ep.addr()));
    }
}

/// proxier.go `writeServiceToEndpointRules`: affinity checks first, then one statistic jump per
/// endpoint with probability 1/(n-i), the last one unconditional.
fn service_to_endpoints(svc: &ServiceSpec, spn: &str, large: bool, chain: &str, endpoints: &[&(&Endpoint, String)], nat: &mut Table) {
    let c = |ep: &Endpoint| {
        if large {
            String::new()
        } else {
            format!("{} ", comment(&format!("{spn} -> {}", ep.addr())))
        }
    };
    if let Some(seconds) = svc.session_affinity_seconds {
        for (ep, sep) in endpoints.iter().map(|p| (p.0, &p.1)) {
            nat.rule(chain, format!("{}-m recent --rcheck --seconds {seconds} --reap --name {sep} --mask 255.255.255.255 --rsource -j {sep}", c(ep)));
        }
    }
    let n = endpoints.len();
    for (i, (ep, sep)) in endpoints.iter().map(|p| (p.0, &p.1)).enumerate() {
        let stat = if i + 1 < n { format!("-m statistic --mode random --probability {} ", probability(n - i)) } else { String::new() };
        nat.rule(chain, format!("{}{stat}-j {sep}", c(ep)));
    }
}

/// The configuration behind the example dump of kube-proxy.md §3.
pub fn doc_example() -> KubeProxyConfig {
    let ip = |a, b, c, d| Ipv4Addr::new(a, b, c, d);
    let ep = |a, b, c, d, port, local| Endpoint { ip: Ipv4Addr::new(a, b, c, d), port, local };
    let mut kubernetes = ServiceSpec::cluster_ip("default", "kubernetes", "https", Protocol::Tcp, ip(10, 96, 0, 1), 443);
    kubernetes.endpoints = vec![ep(192, 168, 0, 5, 6443, false)];
    let mut dns = ServiceSpec::cluster_ip("kube-system", "kube-dns", "dns", Protocol::Udp, ip(10, 96, 0, 10), 53);
    dns.endpoints = vec![ep(10, 244, 1, 3, 53, true), ep(10, 244, 2, 4, 53, false)];
    let mut web = ServiceSpec::cluster_ip("shop", "web", "http", Protocol::Tcp, ip(10, 96, 12, 34), 80);
    web.node_port = Some(30080);
    web.endpoints = vec![ep(10, 244, 1, 7, 8080, true), ep(10, 244, 2, 9, 8080, false), ep(10, 244, 3, 2, 8080, false)];
    let mut api = ServiceSpec::cluster_ip("shop", "api", "https", Protocol::Tcp, ip(10, 96, 7, 7), 443);
    api.node_port = Some(31443);
    api.load_balancer_ips = vec![ip(203, 0, 113, 10)];
    api.load_balancer_source_ranges = vec!["198.51.100.0/24".parse().unwrap_or_default()];
    api.external_traffic_policy = TrafficPolicy::Local;
    api.health_check_node_port = Some(32000);
    api.endpoints = vec![ep(10, 244, 1, 8, 8443, true), ep(10, 244, 2, 10, 8443, false)];
    let empty = ServiceSpec::cluster_ip("shop", "empty", "http", Protocol::Tcp, ip(10, 96, 50, 50), 80);
    KubeProxyConfig {
        node_ip: ip(192, 168, 0, 10),
        cluster_cidr: "10.244.0.0/16".parse().unwrap_or_default(),
        node_pod_cidr: "10.244.1.0/24".parse().unwrap_or_default(),
        services: vec![kubernetes, dns, web, api, empty],
        header: None,
        ..KubeProxyConfig::default()
    }
}

/// [`doc_example`] plus one service port of every remaining kind: an externalIP, ClientIP
/// affinity, eTP=Local NodePort without local endpoints, iTP=Local with and without local
/// endpoints, a source-ranged LB whose range holds the node IP, an unnamed SCTP port.
pub fn showcase() -> KubeProxyConfig {
    let mut cfg = doc_example();
    let ip = |a, b, c, d| Ipv4Addr::new(a, b, c, d);
    let ep = |a, b, c, d, port, local| Endpoint { ip: Ipv4Addr::new(a, b, c, d), port, local };
    let mut ext = ServiceSpec::cluster_ip("shop", "ext", "http", Protocol::Tcp, ip(10, 96, 20, 1), 80);
    ext.external_ips = vec![ip(192, 0, 2, 50)];
    ext.endpoints = vec![ep(10, 244, 2, 20, 8080, false)];
    let mut sticky = ServiceSpec::cluster_ip("shop", "sticky", "http", Protocol::Tcp, ip(10, 96, 20, 2), 80);
    sticky.session_affinity_seconds = Some(10800);
    sticky.endpoints = vec![ep(10, 244, 1, 21, 8080, true), ep(10, 244, 2, 21, 8080, false), ep(10, 244, 3, 21, 8080, false), ep(10, 244, 4, 21, 8080, false)];
    let mut remote_only = ServiceSpec::cluster_ip("shop", "remote-only", "http", Protocol::Tcp, ip(10, 96, 20, 3), 80);
    remote_only.node_port = Some(30300);
    remote_only.external_traffic_policy = TrafficPolicy::Local;
    remote_only.external_ips = vec![ip(192, 0, 2, 51)];
    remote_only.endpoints = vec![ep(10, 244, 2, 22, 8080, false)];
    let mut itp = ServiceSpec::cluster_ip("shop", "node-local", "http", Protocol::Tcp, ip(10, 96, 20, 4), 80);
    itp.internal_traffic_policy = TrafficPolicy::Local;
    itp.endpoints = vec![ep(10, 244, 1, 23, 8080, true), ep(10, 244, 2, 23, 8080, false)];
    let mut itp_none = ServiceSpec::cluster_ip("shop", "node-local-none", "http", Protocol::Tcp, ip(10, 96, 20, 5), 80);
    itp_none.internal_traffic_policy = TrafficPolicy::Local;
    itp_none.endpoints = vec![ep(10, 244, 2, 24, 8080, false)];
    let mut lb = ServiceSpec::cluster_ip("shop", "internal-lb", "", Protocol::Sctp, ip(10, 96, 20, 6), 9000);
    lb.node_port = Some(30301);
    lb.load_balancer_ips = vec![ip(198, 51, 100, 60), ip(198, 51, 100, 61)];
    lb.load_balancer_source_ranges = vec!["192.168.0.0/16".parse().unwrap_or_default()];
    lb.endpoints = vec![ep(10, 244, 1, 25, 9000, true), ep(10, 244, 3, 25, 9000, false)];
    let mut lb_empty = ServiceSpec::cluster_ip("shop", "lb-empty", "https", Protocol::Tcp, ip(10, 96, 20, 7), 443);
    lb_empty.node_port = Some(30302);
    lb_empty.load_balancer_ips = vec![ip(203, 0, 113, 70)];
    lb_empty.external_ips = vec![ip(192, 0, 2, 52)];
    cfg.services.extend([ext, sticky, remote_only, itp, itp_none, lb, lb_empty]);
    cfg.header = Some(SaveHeader::default());
    cfg
}

/// Proportions (in percent of service ports) of each kind in a synthetic cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntheticMix {
    pub udp_pct: u64,
    pub node_port_pct: u64,
    pub load_balancer_pct: u64,
    /// Of LoadBalancer services: share with eTP=Local (and a health-check node port).
    pub lb_local_pct: u64,
    /// Of LoadBalancer services: share with `loadBalancerSourceRanges`.
    pub lb_source_ranges_pct: u64,
    pub external_ip_pct: u64,
    pub internal_local_pct: u64,
    pub affinity_pct: u64,
    pub no_endpoints_pct: u64,
    pub unnamed_port_pct: u64,
}

impl SyntheticMix {
    /// Only ClusterIP TCP services, every one with all its endpoints: the shape behind the
    /// N(3M+2)+5 nat-rule formula of kube-proxy.md §3.
    pub fn cluster_ip_only() -> Self {
        SyntheticMix {
            udp_pct: 0,
            node_port_pct: 0,
            load_balancer_pct: 0,
            lb_local_pct: 0,
            lb_source_ranges_pct: 0,
            external_ip_pct: 0,
            internal_local_pct: 0,
            affinity_pct: 0,
            no_endpoints_pct: 0,
            unnamed_port_pct: 0,
        }
    }

    /// A plausible production mix: mostly ClusterIP, some NodePort and LoadBalancer, a few of
    /// every special case.
    pub fn realistic() -> Self {
        SyntheticMix {
            udp_pct: 8,
            node_port_pct: 12,
            load_balancer_pct: 5,
            lb_local_pct: 50,
            lb_source_ranges_pct: 30,
            external_ip_pct: 2,
            internal_local_pct: 3,
            affinity_pct: 5,
            no_endpoints_pct: 3,
            unnamed_port_pct: 20,
        }
    }
}

/// A generated cluster: the description (to build flows against) and its dump.
#[derive(Clone, Debug)]
pub struct Synthetic {
    pub config: KubeProxyConfig,
    pub dump: String,
    pub stats: DumpStats,
}

/// [`synthetic_with`] with [`SyntheticMix::realistic`].
pub fn synthetic(n_services: usize, endpoints_per_service: usize, seed: u64) -> Synthetic {
    synthetic_with(n_services, endpoints_per_service, seed, &SyntheticMix::realistic())
}

/// Allocates documentation-range "public" addresses (203.0.113/24, 198.51.100/24, 192.0.2/24),
/// then continues in 100.64.0.0/10 once those are used up.
struct PublicPool {
    next: u32,
}

impl PublicPool {
    fn take(&mut self) -> Ipv4Addr {
        let i = self.next;
        self.next += 1;
        let nets: [[u8; 3]; 3] = [[203, 0, 113], [198, 51, 100], [192, 0, 2]];
        let block = (i / 253) as usize;
        if block < nets.len() {
            let [a, b, c] = nets[block];
            Ipv4Addr::new(a, b, c, (i % 253 + 1) as u8)
        } else {
            let j = i - 253 * nets.len() as u32;
            Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 1)) + j)
        }
    }
}

/// A deterministic cluster of `n_services` service ports with `endpoints_per_service` endpoints
/// each (except the mix's "no endpoints" share), seen from node 1 of the cluster.
///
/// Layout: cluster CIDR 10.0.0.0/10 with node k owning 10.(k/256).(k%256).0/24, this node
/// 192.168.0.10 with pods in 10.0.1.0/24, service IPs from 10.96.0.0/12, node ports from
/// 30000, "public" LB and external IPs from the documentation ranges. Service port 0 is
/// `default/kubernetes:https` (endpoints on the control-plane node IPs).
pub fn synthetic_with(n_services: usize, endpoints_per_service: usize, seed: u64, mix: &SyntheticMix) -> Synthetic {
    let mut rng = SplitMix64::new(seed);
    let total = n_services * endpoints_per_service;
    // About 30 endpoints per node, at least 3 nodes, at most what a /10 of /24s holds.
    let nodes = (total / 30).clamp(3, 16_000) as u64;
    let this_node = 1u64;
    let mut cfg = KubeProxyConfig {
        node_ip: Ipv4Addr::new(192, 168, 0, 10),
        cluster_cidr: Ipv4Net::new(Ipv4Addr::new(10, 0, 0, 0), 10).unwrap_or_default(),
        node_pod_cidr: Ipv4Net::new(Ipv4Addr::new(10, 0, 1, 0), 24).unwrap_or_default(),
        ..KubeProxyConfig::default()
    };
    let names = ["web", "api", "auth", "cart", "search", "db", "cache", "queue", "metrics", "gateway"];
    let port_choices: [(u16, u16, &str); 8] = [
        (80, 8080, "http"),
        (443, 8443, "https"),
        (8080, 8080, "http-alt"),
        (9090, 9090, "metrics"),
        (6379, 6379, "redis"),
        (5432, 5432, "postgres"),
        (50051, 50051, "grpc"),
        (53, 53, "dns"),
    ];
    let service_base = u32::from(Ipv4Addr::new(10, 96, 0, 0));
    let mut pool = PublicPool { next: 0 };
    let mut next_node_port: u32 = 30000;
    let mut take_node_port = || {
        if next_node_port > 32767 {
            None
        } else {
            next_node_port += 1;
            Some((next_node_port - 1) as u16)
        }
    };

    for i in 0..n_services {
        let mut svc = if i == 0 {
            ServiceSpec::cluster_ip("default", "kubernetes", "https", Protocol::Tcp, Ipv4Addr::new(10, 96, 0, 1), 443)
        } else {
            let (port, _, pname) = port_choices[rng.below(port_choices.len() as u64) as usize];
            let pname = if rng.chance(mix.unnamed_port_pct, 100) { "" } else { pname };
            let protocol = if rng.chance(mix.udp_pct, 100) { Protocol::Udp } else { Protocol::Tcp };
            ServiceSpec::cluster_ip(
                &format!("team-{:03}", rng.below(100)),
                &format!("{}-{i}", names[rng.below(names.len() as u64) as usize]),
                pname,
                protocol,
                Ipv4Addr::from(service_base + 10 + i as u32),
                port,
            )
        };
        let target_port = port_choices.iter().find(|(p, _, _)| *p == svc.port).map(|(_, t, _)| *t).unwrap_or(svc.port);

        if i > 0 {
            if rng.chance(mix.load_balancer_pct, 100) {
                svc.node_port = take_node_port();
                svc.load_balancer_ips.push(pool.take());
                if rng.chance(mix.lb_local_pct, 100) {
                    svc.external_traffic_policy = TrafficPolicy::Local;
                    svc.health_check_node_port = take_node_port();
                }
                if rng.chance(mix.lb_source_ranges_pct, 100) {
                    svc.load_balancer_source_ranges.push(Ipv4Net::new(Ipv4Addr::new(198, 51, 100, 0), 24).unwrap_or_default());
                    if rng.chance(1, 2) {
                        svc.load_balancer_source_ranges.push(Ipv4Net::new(Ipv4Addr::new(203, 0, 113, 0), 25).unwrap_or_default());
                    }
                }
            } else if rng.chance(mix.node_port_pct, 100) {
                svc.node_port = take_node_port();
                if rng.chance(1, 5) {
                    svc.external_traffic_policy = TrafficPolicy::Local;
                }
            }
            if rng.chance(mix.external_ip_pct, 100) {
                svc.external_ips.push(pool.take());
            }
            if rng.chance(mix.internal_local_pct, 100) {
                svc.internal_traffic_policy = TrafficPolicy::Local;
            }
            if rng.chance(mix.affinity_pct, 100) {
                svc.session_affinity_seconds = Some(10800);
            }
        }

        let with_endpoints = i == 0 || !rng.chance(mix.no_endpoints_pct, 100);
        if with_endpoints {
            let mut seen = BTreeSet::new();
            while svc.endpoints.len() < endpoints_per_service {
                let ep = if i == 0 {
                    // The API server runs on the control-plane nodes' own addresses.
                    let k = svc.endpoints.len() as u32;
                    Endpoint { ip: Ipv4Addr::from(u32::from(Ipv4Addr::new(192, 168, 0, 2)) + k), port: 6443, local: false }
                } else {
                    let node = rng.below(nodes);
                    let host = 2 + rng.below(253) as u8;
                    Endpoint { ip: Ipv4Addr::new(10, (node >> 8) as u8, (node & 0xff) as u8, host), port: target_port, local: node == this_node }
                };
                if seen.insert(ep.ip) {
                    svc.endpoints.push(ep);
                }
            }
            // kube-proxy hands endpoints over sorted by their "IP:port" string (the order its test
            // fixtures and the doc example show), so keep that order.
            svc.endpoints.sort_by_key(Endpoint::addr);
        }
        cfg.services.push(svc);
    }
    let (dump, stats) = render_with_stats(&cfg);
    Synthetic { config: cfg, dump, stats }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_hashes_match_kube_proxy() {
        // Vectors quoted in kube-proxy.md §3 (recomputed upstream fixtures).
        assert_eq!(hash16("ns1/svc1:p80tcp"), "XPGD46QRK7WJZT7O");
        assert_eq!(hash16("default/kubernetes:httpstcp"), "NPX46M4PTMTKRN6Y");
        assert_eq!(hash16("ns1/svc1:p80tcp10.180.0.1:80"), "SXIVWICOYRO3J4NJ");
        let svc = ServiceSpec::cluster_ip("ns1", "svc1", "p80", Protocol::Tcp, Ipv4Addr::new(172, 30, 0, 41), 80);
        assert_eq!(svc.svc_chain(), "KUBE-SVC-XPGD46QRK7WJZT7O");
        assert_eq!(svc.fw_chain(), "KUBE-FW-XPGD46QRK7WJZT7O");
        let ep = Endpoint { ip: Ipv4Addr::new(10, 180, 0, 1), port: 80, local: true };
        assert_eq!(svc.sep_chain(&ep), "KUBE-SEP-SXIVWICOYRO3J4NJ");
    }

    #[test]
    fn chain_hashes_match_a_real_node() {
        // From the corpus dump kind-kindnet-kubeproxy-worker-tanjunchen-blog.rules (iptables-save
        // of a kind worker running kube-proxy in iptables mode).
        let dns_tcp = ServiceSpec::cluster_ip("kube-system", "kube-dns", "dns-tcp", Protocol::Tcp, Ipv4Addr::new(10, 96, 0, 10), 53);
        assert_eq!(dns_tcp.svc_chain(), "KUBE-SVC-ERIFXISQEP7F7OF4");
        let ep = Endpoint { ip: Ipv4Addr::new(10, 244, 0, 3), port: 53, local: true };
        assert_eq!(dns_tcp.sep_chain(&ep), "KUBE-SEP-ZXMNUKOKXUTL2MK2");
        let api = ServiceSpec::cluster_ip("default", "kubernetes", "https", Protocol::Tcp, Ipv4Addr::new(10, 96, 0, 1), 443);
        let ep = Endpoint { ip: Ipv4Addr::new(172, 18, 0, 3), port: 6443, local: false };
        assert_eq!(api.sep_chain(&ep), "KUBE-SEP-QKX4QX54UKWK6JIY");
    }

    #[test]
    fn reproduces_the_kube_proxy_rules_of_a_real_kind_worker() {
        let expected: Vec<&str> = include_str!("testdata/kind-worker-kube-proxy-rules.txt").lines().filter(|l| !l.starts_with('#')).collect();
        let ip = Ipv4Addr::new;
        let dns_eps = |port| vec![Endpoint { ip: ip(10, 244, 0, 3), port, local: true }, Endpoint { ip: ip(10, 244, 0, 4), port, local: true }];
        let mut services = Vec::new();
        for (name, proto, port) in [("dns", Protocol::Udp, 53), ("dns-tcp", Protocol::Tcp, 53), ("metrics", Protocol::Tcp, 9153)] {
            let mut s = ServiceSpec::cluster_ip("kube-system", "kube-dns", name, proto, ip(10, 96, 0, 10), port);
            s.endpoints = dns_eps(port);
            services.push(s);
        }
        let mut api = ServiceSpec::cluster_ip("default", "kubernetes", "https", Protocol::Tcp, ip(10, 96, 0, 1), 443);
        api.endpoints = vec![Endpoint { ip: ip(172, 18, 0, 3), port: 6443, local: false }];
        services.push(api);
        let cfg = KubeProxyConfig {
            node_ip: ip(172, 18, 0, 2),
            cluster_cidr: "10.244.0.0/16".parse().unwrap_or_default(),
            node_pod_cidr: "10.244.1.0/24".parse().unwrap_or_default(),
            services,
            ..KubeProxyConfig::default()
        };
        let dump = render(&cfg);
        let mut got = Vec::new();
        let mut table = "";
        for line in dump.lines() {
            if line.starts_with('*') {
                table = line;
            } else if line.starts_with("-A ") && (table == "*filter" || table == "*nat") {
                got.push(format!("{table} {line}"));
            }
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn doc_example_chain_names() {
        // The hand-written example dump in kube-proxy.md §3 uses these names.
        let api = ServiceSpec::cluster_ip("shop", "api", "https", Protocol::Tcp, Ipv4Addr::new(10, 96, 7, 7), 443);
        assert_eq!(api.chain_hash(), "OTVU7MV6PRR7MW2X");
        let dns = ServiceSpec::cluster_ip("kube-system", "kube-dns", "dns", Protocol::Udp, Ipv4Addr::new(10, 96, 0, 10), 53);
        assert_eq!(dns.chain_hash(), "TCOU7JCQXEZGVUNU");
        let ep = Endpoint { ip: Ipv4Addr::new(10, 244, 1, 8), port: 8443, local: true };
        assert_eq!(api.sep_chain(&ep), "KUBE-SEP-Z47K3KNB23FDK4T7");
    }

    #[test]
    fn reproduces_the_doc_example_dump() {
        let expected = include_str!("testdata/kube-proxy-doc-example.rules");
        let expected: Vec<&str> = expected.lines().filter(|l| !l.starts_with('#')).collect();
        let got = render(&doc_example());
        // The doc leaves out the mangle table and the canary chains.
        let got: Vec<&str> =
            got.split_inclusive("COMMIT\n").filter(|t| !t.starts_with("*mangle")).flat_map(str::lines).filter(|l| !l.contains("-CANARY")).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn cluster_ip_only_matches_the_rule_formula() {
        let (n, m) = (50, 4);
        let s = synthetic_with(n, m, 7, &SyntheticMix::cluster_ip_only());
        // kube-proxy.md §3: N(3M+2)+5 nat rules (+3 built-in jumps), N(M+1)+4 nat chains
        // (+2 canaries here).
        assert_eq!(s.stats.nat_rules, n * (3 * m + 2) + 5 + 3);
        assert_eq!(s.stats.nat_user_chains, n * (m + 1) + 4 + 2);
        assert!(!s.stats.large_cluster_mode);
    }

    /// Every jump target is a declared chain or a standard target, and every declared
    /// KUBE-SVC/SVL/EXT/FW/SEP chain is reached from somewhere: what iptables-restore would
    /// reject, or what kube-proxy would never leave behind, over many mixes of service kinds.
    #[test]
    fn references_are_closed_over_many_seeds() {
        let standard = ["ACCEPT", "DROP", "RETURN", "REJECT", "DNAT", "MARK", "MASQUERADE"];
        for seed in 0..100u64 {
            let s = synthetic(30, 1 + (seed % 4) as usize, seed);
            for table in s.dump.split_inclusive("COMMIT\n") {
                let declared: BTreeSet<&str> = table.lines().filter_map(|l| l.strip_prefix(':')).filter_map(|l| l.split(' ').next()).collect();
                let mut used = BTreeSet::new();
                for line in table.lines().filter(|l| l.starts_with("-A ")) {
                    let words: Vec<&str> = line.split(' ').collect();
                    for w in words.windows(2) {
                        if w[0] == "-j" || w[0] == "-g" {
                            assert!(declared.contains(w[1]) || standard.contains(&w[1]), "seed {seed}: {line}");
                            used.insert(w[1]);
                        }
                    }
                }
                for chain in &declared {
                    let per_service = ["KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-"];
                    if per_service.iter().any(|p| chain.starts_with(p)) {
                        assert!(used.contains(chain), "seed {seed}: {chain} is never reached");
                    }
                }
            }
        }
    }

    #[test]
    fn synthetic_is_deterministic_per_seed() {
        let a = synthetic(40, 3, 11);
        let b = synthetic(40, 3, 11);
        let c = synthetic(40, 3, 12);
        assert_eq!(a.dump, b.dump);
        assert_ne!(a.dump, c.dump);
    }

    #[test]
    fn large_cluster_mode_drops_endpoint_comments() {
        let s = synthetic_with(101, 10, 3, &SyntheticMix::cluster_ip_only());
        assert!(s.stats.large_cluster_mode);
        let sep_line = s.dump.lines().find(|l| l.starts_with("-A KUBE-SEP-") && l.contains("DNAT")).unwrap_or_default();
        assert!(!sep_line.contains("--comment"), "{sep_line}");
        let small = synthetic_with(10, 10, 3, &SyntheticMix::cluster_ip_only());
        assert!(small.dump.contains("-A KUBE-SEP-") && !small.stats.large_cluster_mode);
        assert!(small.dump.lines().filter(|l| l.starts_with("-A KUBE-SEP-")).all(|l| l.contains("--comment")));
    }
}
