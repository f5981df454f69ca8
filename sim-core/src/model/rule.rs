//! Policy routing rules (`ip rule`).

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleAction {
    Table(u32),
    Goto(u32),
    Nop,
    Blackhole,
    Unreachable,
    Prohibit,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibRule {
    pub priority: u32,
    pub not: bool,
    pub from: Option<Ipv4Net>,
    pub to: Option<Ipv4Net>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    /// (mark, mask); a mark without a mask means mask 0xffffffff.
    pub fwmark: Option<(u32, u32)>,
    pub tos: Option<u8>,
    pub ipproto: Option<u8>,
    pub sport: Option<(u16, u16)>,
    pub dport: Option<(u16, u16)>,
    pub uidrange: Option<(u32, u32)>,
    pub l3mdev: bool,
    pub suppress_prefixlength: Option<i32>,
    pub suppress_ifgroup: Option<String>,
    pub action: RuleAction,
    pub protocol: Option<String>,
}

impl FibRule {
    /// The three rules every namespace starts with (`fib_rules.c:fib_default_rules_init`).
    pub fn defaults() -> Vec<FibRule> {
        let base = FibRule {
            priority: 0,
            not: false,
            from: None,
            to: None,
            iif: None,
            oif: None,
            fwmark: None,
            tos: None,
            ipproto: None,
            sport: None,
            dport: None,
            uidrange: None,
            l3mdev: false,
            suppress_prefixlength: None,
            suppress_ifgroup: None,
            action: RuleAction::Table(crate::model::route::RT_TABLE_LOCAL),
            protocol: None,
        };
        vec![
            base.clone(),
            FibRule { priority: 32766, action: RuleAction::Table(crate::model::route::RT_TABLE_MAIN), ..base.clone() },
            FibRule { priority: 32767, action: RuleAction::Table(crate::model::route::RT_TABLE_DEFAULT), ..base },
        ]
    }
}
