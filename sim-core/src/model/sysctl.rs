//! Sysctls, with kernel defaults applied for keys the snapshot does not give, and marked as
//! assumed so traces can say so.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Sysctls {
    /// Keys in dotted form (`net.ipv4.ip_forward`) as imported.
    pub values: BTreeMap<String, String>,
    /// Whether any sysctl file was imported at all.
    pub imported: bool,
}

/// Kernel defaults for the keys the engine reads (a fresh namespace on Linux 6.x).
pub const DEFAULTS: &[(&str, &str)] = &[
    ("net.ipv4.ip_forward", "0"),
    ("net.ipv4.conf.all.forwarding", "0"),
    ("net.ipv4.conf.default.forwarding", "0"),
    ("net.ipv4.conf.all.rp_filter", "0"),
    ("net.ipv4.conf.default.rp_filter", "0"),
    ("net.ipv4.conf.all.route_localnet", "0"),
    ("net.ipv4.conf.all.accept_local", "0"),
    ("net.ipv4.conf.all.src_valid_mark", "0"),
    ("net.ipv4.conf.all.proxy_arp", "0"),
    ("net.ipv4.conf.all.send_redirects", "1"),
    ("net.ipv4.ip_default_ttl", "64"),
    ("net.ipv4.ip_local_port_range", "32768\t60999"),
    ("net.ipv4.icmp_errors_use_inbound_ifaddr", "0"),
    ("net.netfilter.nf_conntrack_tcp_loose", "1"),
    ("net.netfilter.nf_conntrack_tcp_be_liberal", "0"),
];

impl Sysctls {
    /// The value and whether it was assumed (not in the snapshot).
    pub fn get(&self, key: &str) -> Option<(&str, bool)> {
        if let Some(v) = self.values.get(key) {
            return Some((v.as_str(), false));
        }
        DEFAULTS.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v, true))
    }
    /// An integer sysctl; `None` when neither given nor known by default.
    pub fn int(&self, key: &str) -> Option<(i64, bool)> {
        let (v, assumed) = self.get(key)?;
        v.split_whitespace().next()?.parse().ok().map(|n| (n, assumed))
    }
    /// `net.ipv4.conf.<dev>.<key>`: the per-device value, falling back to `default` (what a new
    /// device inherits) and then the kernel default.
    pub fn conf(&self, dev: &str, key: &str) -> (i64, bool) {
        let dev_key = format!("net.ipv4.conf.{}.{}", dev.replace('.', "/"), key);
        if let Some((v, a)) = self.int(&dev_key) {
            return (v, a);
        }
        if let Some((v, _)) = self.values.get(&format!("net.ipv4.conf.default.{key}")).and_then(|v| v.trim().parse::<i64>().ok()).map(|v| (v, false)) {
            return (v, true);
        }
        self.int(&format!("net.ipv4.conf.all.{key}")).map(|(v, _)| (v, true)).unwrap_or((0, true))
    }
    pub fn conf_all(&self, key: &str) -> (i64, bool) {
        self.int(&format!("net.ipv4.conf.all.{key}")).unwrap_or((0, true))
    }
}
