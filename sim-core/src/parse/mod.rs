//! text -> (model, diagnostics). Parsers never panic and never fail outright: they return what
//! they could read plus diagnostics with file:line:column. nom stays inside this folder.

pub mod bridge_fdb;
pub mod bridge_vlan;
pub mod conntrack;
pub mod ifconfig;
pub mod ip_json;
pub mod ip_text;
pub mod ipset;
pub mod iptables_s;
pub mod iptables_save;
pub mod route_n;
pub mod snapshot;
pub mod ss;
pub mod sysctl;
