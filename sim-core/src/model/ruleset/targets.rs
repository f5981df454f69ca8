//! `-j`/`-g` targets, one variant each.

use super::names::{Name, Words};
use crate::model::types::PortRange;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// 32 bytes: chain names are shared [`Name`]s and the variants with larger options are boxed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
// Adjacently tagged: an internally tagged enum cannot hold newtype variants of strings
// (`Jump(String)`), which made every ruleset with a jump unserializable.
#[serde(tag = "target", content = "args")]
pub enum Target {
    /// A rule with no `-j`: counts and goes on.
    None,
    Accept,
    Drop,
    Return,
    Queue,
    /// `-j CHAIN`: push and enter a user chain.
    Jump(Name),
    /// `-g CHAIN`: enter without pushing (`IPT_F_GOTO`).
    Goto(Name),
    Reject(RejectWith),
    Dnat(Box<NatTarget>),
    Snat(Box<NatTarget>),
    Masquerade(MasqTarget),
    Redirect(MasqTarget),
    Netmap(Ipv4Net),
    Mark(MarkOp),
    Connmark(ConnmarkOp),
    Ct(Box<CtTarget>),
    Notrack,
    Tproxy(Box<TproxyTarget>),
    Log(Box<LogTarget>),
    Nflog(Box<NflogTarget>),
    Trace,
    Checksum,
    Tcpmss(TcpmssTarget),
    Nfqueue(NfqueueTarget),
    /// Any other target: its name and option words as written.
    Unsupported {
        name: Name,
        args: Words,
    },
}

impl Target {
    pub fn name(&self) -> &str {
        match self {
            Target::None => "",
            Target::Accept => "ACCEPT",
            Target::Drop => "DROP",
            Target::Return => "RETURN",
            Target::Queue => "QUEUE",
            Target::Jump(c) | Target::Goto(c) => c,
            Target::Reject(_) => "REJECT",
            Target::Dnat(_) => "DNAT",
            Target::Snat(_) => "SNAT",
            Target::Masquerade(_) => "MASQUERADE",
            Target::Redirect(_) => "REDIRECT",
            Target::Netmap(_) => "NETMAP",
            Target::Mark(_) => "MARK",
            Target::Connmark(_) => "CONNMARK",
            Target::Ct(_) => "CT",
            Target::Notrack => "NOTRACK",
            Target::Tproxy(_) => "TPROXY",
            Target::Log(_) => "LOG",
            Target::Nflog(_) => "NFLOG",
            Target::Trace => "TRACE",
            Target::Checksum => "CHECKSUM",
            Target::Tcpmss(_) => "TCPMSS",
            Target::Nfqueue(_) => "NFQUEUE",
            Target::Unsupported { name, .. } => name,
        }
    }
}

/// `--reject-with` (`ipt_REJECT.c`); the default is icmp-port-unreachable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectWith {
    IcmpNetUnreachable,
    IcmpHostUnreachable,
    IcmpPortUnreachable,
    IcmpProtoUnreachable,
    IcmpNetProhibited,
    IcmpHostProhibited,
    IcmpAdminProhibited,
    TcpReset,
}

impl RejectWith {
    pub const ALL: [(RejectWith, &'static str); 8] = [
        (RejectWith::IcmpNetUnreachable, "icmp-net-unreachable"),
        (RejectWith::IcmpHostUnreachable, "icmp-host-unreachable"),
        (RejectWith::IcmpPortUnreachable, "icmp-port-unreachable"),
        (RejectWith::IcmpProtoUnreachable, "icmp-proto-unreachable"),
        (RejectWith::IcmpNetProhibited, "icmp-net-prohibited"),
        (RejectWith::IcmpHostProhibited, "icmp-host-prohibited"),
        (RejectWith::IcmpAdminProhibited, "icmp-admin-prohibited"),
        (RejectWith::TcpReset, "tcp-reset"),
    ];
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(r, _)| *r == self).map(|(_, s)| *s).unwrap_or("icmp-port-unreachable")
    }
    /// ICMP destination-unreachable code sent, or `None` for a TCP reset.
    pub fn icmp_code(self) -> Option<u8> {
        Some(match self {
            RejectWith::IcmpNetUnreachable => 0,
            RejectWith::IcmpHostUnreachable => 1,
            RejectWith::IcmpProtoUnreachable => 2,
            RejectWith::IcmpPortUnreachable => 3,
            RejectWith::IcmpNetProhibited => 9,
            RejectWith::IcmpHostProhibited => 10,
            RejectWith::IcmpAdminProhibited => 13,
            RejectWith::TcpReset => return None,
        })
    }
}

/// One `--to-destination`/`--to-source` range: `[ip[-ip]][:port[-port]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatRange {
    pub min_ip: Option<Ipv4Addr>,
    pub max_ip: Option<Ipv4Addr>,
    pub ports: Option<PortRange>,
    /// `/baseport` suffix (`NF_NAT_RANGE_PROTO_OFFSET`).
    pub base_port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NatTarget {
    pub ranges: Vec<NatRange>,
    pub random: bool,
    pub random_fully: bool,
    pub persistent: bool,
}

/// MASQUERADE and REDIRECT: `--to-ports` plus randomisation flags.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MasqTarget {
    pub ports: Option<PortRange>,
    pub random: bool,
    pub random_fully: bool,
}

/// MARK as written; every form reduces to `--set-xmark value/mask` (`xt_mark.c:mark_tg`:
/// `mark = (mark & ~mask) ^ value`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MarkOp {
    SetXmark { value: u32, mask: u32 },
    SetMark { value: u32, mask: u32 },
    AndMark(u32),
    OrMark(u32),
    XorMark(u32),
}

impl MarkOp {
    /// (value, mask) for `(mark & !mask) ^ value`.
    pub fn xmark(self) -> (u32, u32) {
        match self {
            MarkOp::SetXmark { value, mask } => (value, mask),
            MarkOp::SetMark { value, mask } => (value, value | mask),
            MarkOp::AndMark(b) => (0, !b),
            MarkOp::OrMark(b) => (b, b),
            MarkOp::XorMark(b) => (b, 0),
        }
    }
    pub fn apply(self, mark: u32) -> u32 {
        let (v, m) = self.xmark();
        (mark & !m) ^ v
    }
}

/// CONNMARK (`xt_connmark.c:connmark_tg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnmarkOp {
    /// `ctmark = (ctmark & ~mask) ^ value` (every `--set-*`/`--and`/`--or`/`--xor` form).
    Set(MarkOp),
    /// `ctmark = (ctmark & ~ctmask) ^ (mark & nfmask)`.
    SaveMark { nfmask: u32, ctmask: u32 },
    /// `mark = (mark & ~nfmask) ^ (ctmark & ctmask)`.
    RestoreMark { nfmask: u32, ctmask: u32 },
}

/// CT (`xt_CT.c`). Only `--notrack` and `--zone` change what nfpath computes; other options are
/// kept for rendering.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CtTarget {
    pub notrack: bool,
    pub zone: Option<u16>,
    pub helper: Option<String>,
    /// Remaining options as written (`--ctevents ...`, `--timeout ...`).
    pub other: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TproxyTarget {
    pub on_port: u16,
    pub on_ip: Option<Ipv4Addr>,
    /// (value, mask), mask 0xffffffff when not given.
    pub mark: Option<(u32, u32)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogTarget {
    pub prefix: Option<String>,
    pub level: Option<String>,
    /// `--log-tcp-sequence`, `--log-uid`, ... as written.
    pub flags: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NflogTarget {
    pub group: Option<u16>,
    pub prefix: Option<String>,
    pub range: Option<u32>,
    pub size: Option<u32>,
    pub threshold: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TcpmssTarget {
    ClampMssToPmtu,
    SetMss(u16),
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NfqueueTarget {
    pub num: Option<u16>,
    pub balance: Option<(u16, u16)>,
    pub bypass: bool,
    pub cpu_fanout: bool,
}
