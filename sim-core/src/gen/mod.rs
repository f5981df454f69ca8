//! Generators of realistic rulesets, for benchmarks, tests and property checks.
//!
//! Each generator turns a small declarative description (services and endpoints, workloads) into
//! the exact text `iptables-save` prints for the rules the real controller would program, so the
//! importer is measured and tested on what it will really meet. The shapes follow
//! `/work/shared/docs/kube-proxy.md` §3 and `netfilter-model.md` §6.4, and a test restores each
//! generated dump into a throwaway network namespace and checks that `iptables-save` gives back
//! the same text. Everything here is deterministic: randomness only comes from an explicit seed.

pub mod calico;
pub mod kube_proxy;
pub mod prng;
pub mod save;
