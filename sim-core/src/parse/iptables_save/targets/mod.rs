//! One file per `-j` target extension: `parse` reads its options, `save` prints them as the
//! target's `save` function in iptables' `extensions/lib{xt,ipt}_<NAME>.c` does.

pub(crate) mod checksum;
pub(crate) mod connmark;
pub(crate) mod ct;
pub(crate) mod log;
pub(crate) mod mark;
pub(crate) mod masquerade;
pub(crate) mod nat;
pub(crate) mod netmap;
pub(crate) mod nflog;
pub(crate) mod nfqueue;
pub(crate) mod reject;
pub(crate) mod tcpmss;
pub(crate) mod tproxy;

pub(crate) use super::matches::{bad, dup, missing};
