//! Generators of realistic rulesets, for benchmarks, tests and property checks.
//!
//! Each generator turns a small declarative description (services and endpoints, workloads) into
//! the exact text `iptables-save` prints for the rules the real controller would program, so the
//! importer is measured and tested on what it will really meet. Everything here is
//! deterministic: randomness only comes from an explicit seed ([`prng::SplitMix64`]).
//!
//! How we know the text is real:
//! - `tests/gen_kube_proxy.rs` and `tests/gen_calico.rs` restore generated dumps into throwaway
//!   network namespaces with `iptables-legacy-restore` and `iptables-nft-restore`, and
//!   `iptables-save` must print back the same text (modulo header comments and counters);
//! - [`kube_proxy`] reproduces the example dump of `kube-proxy.md` §3 and every kube-proxy rule
//!   of a real kind worker from the corpus, line for line; its chain hashes match upstream's;
//! - [`calico`] reproduces the corpus felix dump's four tables and an AKS node's per-pod chains,
//!   modulo rule hashes.

pub mod calico;
pub mod kube_proxy;
pub mod node_world;
pub mod prng;
pub mod save;
