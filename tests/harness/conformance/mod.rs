//! Kernel conformance at scale: random cases built in real namespaces, predicted by nfpath from
//! their collected snapshots, and compared with what the kernel does to real connections.
//!
//! - [`case`]: a case in concrete form (namespaces, commands, iptables-save text, listeners,
//!   flows); what regression fixtures under `tests/conformance/` store.
//! - [`gen`]: the proptest generator of random but meaningful cases. Its tables
//!   ([`gen::MATCHES`], [`gen::TARGETS`], [`gen::DEVICES`], [`gen::ROUTE_EDITS`],
//!   [`gen::SYSCTLS`]) are the one place to add a match, a target, a device or a setting.
//! - [`run`]: builds a case with the [`crate::Lab`], collects it with `nfpath collect`, predicts
//!   every flow with `World::run_flow`, sends it with `nfpath probe`, and compares.
//! - [`driver`]: many cases in parallel, shrinking of disagreements, fixtures.
//!
//! Tests: `tests/conformance_random.rs` (random cases; `NFPATH_CONFORMANCE_CASES`), and
//! `tests/conformance_regressions.rs` (every fixture, on every run).

pub mod case;
pub mod driver;
pub mod gen;
pub mod run;
