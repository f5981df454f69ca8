//! The IPv4 netfilter hooks and what runs at each, in priority order
//! (`include/uapi/linux/netfilter_ipv4.h: enum nf_ip_hook_priorities`).

use crate::model::ruleset::TableName;

/// `enum nf_inet_hooks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hook {
    PreRouting,
    LocalIn,
    Forward,
    LocalOut,
    PostRouting,
}

impl Hook {
    /// The name of the built-in chain this hook runs.
    pub fn chain(self) -> &'static str {
        match self {
            Hook::PreRouting => "PREROUTING",
            Hook::LocalIn => "INPUT",
            Hook::Forward => "FORWARD",
            Hook::LocalOut => "OUTPUT",
            Hook::PostRouting => "POSTROUTING",
        }
    }
}

/// One hook function registered at a hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// An iptables table's chain for this hook.
    Table(TableName),
    /// `nf_conntrack_in` (`NF_IP_PRI_CONNTRACK`, -200).
    Conntrack,
    /// The nat table plus the packet translation (`nf_nat_ipv4_in`/`_local_fn`/`_fn`/`_out`).
    Nat,
    /// `nf_confirm` (`NF_IP_PRI_CONNTRACK_CONFIRM`, INT_MAX).
    Confirm,
}

pub const NF_IP_PRI_RAW: i32 = -300;
pub const NF_IP_PRI_CONNTRACK: i32 = -200;
pub const NF_IP_PRI_MANGLE: i32 = -150;
pub const NF_IP_PRI_NAT_DST: i32 = -100;
pub const NF_IP_PRI_FILTER: i32 = 0;
pub const NF_IP_PRI_SECURITY: i32 = 50;
pub const NF_IP_PRI_NAT_SRC: i32 = 100;
pub const NF_IP_PRI_CONNTRACK_CONFIRM: i32 = i32::MAX;

/// The stages of a hook with their priorities, lowest first.
pub fn stages(hook: Hook) -> &'static [(i32, Stage)] {
    use Stage::*;
    use TableName as T;
    match hook {
        Hook::PreRouting => &[(NF_IP_PRI_RAW, Table(T::Raw)), (NF_IP_PRI_CONNTRACK, Conntrack), (NF_IP_PRI_MANGLE, Table(T::Mangle)), (NF_IP_PRI_NAT_DST, Nat)],
        Hook::LocalIn => &[
            (NF_IP_PRI_MANGLE, Table(T::Mangle)),
            (NF_IP_PRI_FILTER, Table(T::Filter)),
            (NF_IP_PRI_SECURITY, Table(T::Security)),
            (NF_IP_PRI_NAT_SRC, Nat),
            (NF_IP_PRI_CONNTRACK_CONFIRM, Confirm),
        ],
        Hook::Forward => &[(NF_IP_PRI_MANGLE, Table(T::Mangle)), (NF_IP_PRI_FILTER, Table(T::Filter)), (NF_IP_PRI_SECURITY, Table(T::Security))],
        Hook::LocalOut => &[
            (NF_IP_PRI_RAW, Table(T::Raw)),
            (NF_IP_PRI_CONNTRACK, Conntrack),
            (NF_IP_PRI_MANGLE, Table(T::Mangle)),
            (NF_IP_PRI_NAT_DST, Nat),
            (NF_IP_PRI_FILTER, Table(T::Filter)),
            (NF_IP_PRI_SECURITY, Table(T::Security)),
        ],
        Hook::PostRouting => &[(NF_IP_PRI_MANGLE, Table(T::Mangle)), (NF_IP_PRI_NAT_SRC, Nat), (NF_IP_PRI_CONNTRACK_CONFIRM, Confirm)],
    }
}

/// Whether the nat hook at `hook` manipulates the destination (`HOOK2MANIP`).
pub fn manip_is_dst(hook: Hook) -> bool {
    matches!(hook, Hook::PreRouting | Hook::LocalOut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_in_priority_order() {
        for h in [Hook::PreRouting, Hook::LocalIn, Hook::Forward, Hook::LocalOut, Hook::PostRouting] {
            let s = stages(h);
            assert!(s.windows(2).all(|w| w[0].0 < w[1].0), "{h:?}");
            // Every table stage names a chain the table registers.
            for (_, st) in s {
                if let Stage::Table(t) = st {
                    assert!(t.builtin_chains().contains(&h.chain()), "{t:?} has no {}", h.chain());
                }
            }
        }
    }
}
