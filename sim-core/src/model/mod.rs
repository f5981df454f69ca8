//! Kernel-shaped, vendor-neutral node state: plain data, no behaviour beyond small helpers.
//! Names follow the kernel and iproute2 (`fdb`, `neigh`, `ct_state`), never a synonym.

pub mod addr;
pub mod conntrack;
pub mod fdb;
pub mod ipset;
pub mod link;
pub mod namespace;
pub mod neigh;
pub mod packet;
pub mod route;
pub mod rule;
pub mod ruleset;
pub mod socket;
pub mod sysctl;
pub mod types;

pub use namespace::Namespace;
pub use types::*;
