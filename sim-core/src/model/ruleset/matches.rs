//! `-m` match extensions, one variant each, with the exact options iptables-save prints. The
//! field comments give the kernel semantics the engine implements (see `engine/xt/`).

use super::names::{Name, Words};
use crate::model::types::{AddrMask, IfName, Mac, Neg, PortRange};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// One `-m NAME [options]` block. 40 bytes: the variants whose options take more room and that
/// rules seldom carry (sctp, recent, set, physdev, owner, ipvs, hashlimit) are boxed, since a
/// node holds hundreds of thousands of matches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "match", content = "args", rename_all = "lowercase")]
pub enum Match {
    Tcp(TcpMatch),
    Udp(UdpMatch),
    Sctp(Box<SctpMatch>),
    Icmp(IcmpMatch),
    Multiport(MultiportMatch),
    Addrtype(AddrtypeMatch),
    Mark(MarkMatch),
    Connmark(MarkMatch),
    Conntrack(ConntrackMatch),
    State(StateMatch),
    Comment(String),
    Statistic(StatisticMatch),
    Recent(Box<RecentMatch>),
    Set(Box<SetMatch>),
    Physdev(Box<PhysdevMatch>),
    Mac(Neg<Mac>),
    Limit(LimitMatch),
    Length(Neg<(u16, u16)>),
    Tcpmss(Neg<(u16, u16)>),
    Pkttype(Neg<PktType>),
    Owner(Box<OwnerMatch>),
    Socket(SocketMatch),
    Rpfilter(RpfilterMatch),
    Ipvs(Box<IpvsMatch>),
    Iprange(IprangeMatch),
    Hashlimit(Box<HashlimitMatch>),
    Nfacct(String),
    /// `-m u32 --u32 "..."`: kept as text; evaluation is indeterminate.
    U32(Neg<String>),
    /// Any other module: its name and the option words as written.
    Unsupported {
        name: Name,
        args: Words,
    },
}

impl Match {
    /// The module name as written after `-m`.
    pub fn name(&self) -> &str {
        match self {
            Match::Tcp(_) => "tcp",
            Match::Udp(_) => "udp",
            Match::Sctp(_) => "sctp",
            Match::Icmp(_) => "icmp",
            Match::Multiport(_) => "multiport",
            Match::Addrtype(_) => "addrtype",
            Match::Mark(_) => "mark",
            Match::Connmark(_) => "connmark",
            Match::Conntrack(_) => "conntrack",
            Match::State(_) => "state",
            Match::Comment(_) => "comment",
            Match::Statistic(_) => "statistic",
            Match::Recent(_) => "recent",
            Match::Set(_) => "set",
            Match::Physdev(_) => "physdev",
            Match::Mac(_) => "mac",
            Match::Limit(_) => "limit",
            Match::Length(_) => "length",
            Match::Tcpmss(_) => "tcpmss",
            Match::Pkttype(_) => "pkttype",
            Match::Owner(_) => "owner",
            Match::Socket(_) => "socket",
            Match::Rpfilter(_) => "rpfilter",
            Match::Ipvs(_) => "ipvs",
            Match::Iprange(_) => "iprange",
            Match::Hashlimit(_) => "hashlimit",
            Match::Nfacct(_) => "nfacct",
            Match::U32(_) => "u32",
            Match::Unsupported { name, .. } => name,
        }
    }
}

/// `xt_tcpudp.c:tcp_mt`. `--syn` is stored as flags `FIN,SYN,RST,ACK SYN`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TcpMatch {
    pub sport: Option<Neg<PortRange>>,
    pub dport: Option<Neg<PortRange>>,
    /// (mask, comp): matches iff `(flags & mask) == comp`.
    pub flags: Option<Neg<(u8, u8)>>,
    /// `--tcp-option N`.
    pub option: Option<Neg<u8>>,
}

pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UdpMatch {
    pub sport: Option<Neg<PortRange>>,
    pub dport: Option<Neg<PortRange>>,
}

/// `xt_sctp.c`. Chunk-type tests are kept as written and evaluate as indeterminate.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SctpMatch {
    pub sport: Option<Neg<PortRange>>,
    pub dport: Option<Neg<PortRange>>,
    pub chunk_types: Option<Neg<Vec<String>>>,
}

/// `ip_tables.c:icmp_match`: type 255 ("any") matches every type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IcmpMatch {
    pub neg: bool,
    pub icmp_type: u8,
    pub code_min: u8,
    pub code_max: u8,
    /// The name the user wrote (`echo-request`), for rendering; `None` for numeric forms.
    pub name: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MultiportDir {
    Source,
    Destination,
    Both,
}

/// `xt_multiport.c` (revision 1: ranges allowed, up to 15 entries).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiportMatch {
    pub dir: MultiportDir,
    pub neg: bool,
    pub ports: Vec<PortRange>,
}

/// Route types as `xt_addrtype` names them (`XT_ADDRTYPE_*` bit values).
pub mod addrtype {
    pub const UNSPEC: u16 = 1 << 0;
    pub const UNICAST: u16 = 1 << 1;
    pub const LOCAL: u16 = 1 << 2;
    pub const BROADCAST: u16 = 1 << 3;
    pub const ANYCAST: u16 = 1 << 4;
    pub const MULTICAST: u16 = 1 << 5;
    pub const BLACKHOLE: u16 = 1 << 6;
    pub const UNREACHABLE: u16 = 1 << 7;
    pub const PROHIBIT: u16 = 1 << 8;
    pub const THROW: u16 = 1 << 9;
    pub const NAT: u16 = 1 << 10;
    pub const XRESOLVE: u16 = 1 << 11;
    pub const NAMES: [(&str, u16); 12] = [
        ("UNSPEC", UNSPEC),
        ("UNICAST", UNICAST),
        ("LOCAL", LOCAL),
        ("BROADCAST", BROADCAST),
        ("ANYCAST", ANYCAST),
        ("MULTICAST", MULTICAST),
        ("BLACKHOLE", BLACKHOLE),
        ("UNREACHABLE", UNREACHABLE),
        ("PROHIBIT", PROHIBIT),
        ("THROW", THROW),
        ("NAT", NAT),
        ("XRESOLVE", XRESOLVE),
    ];
}

/// `xt_addrtype.c:addrtype_mt_v1`: a bit set of route types per side.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AddrtypeMatch {
    pub src_type: Option<Neg<u16>>,
    pub dst_type: Option<Neg<u16>>,
    pub limit_iface_in: bool,
    pub limit_iface_out: bool,
}

/// `xt_mark.c` / `xt_connmark.c`: `(mark & mask) == value`; mask defaults to 0xffffffff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkMatch {
    pub neg: bool,
    pub value: u32,
    pub mask: u32,
}

/// Conntrack state bits as `xt_conntrack`/`xt_state` test them.
pub mod ctstate {
    pub const INVALID: u16 = 1 << 0;
    pub const ESTABLISHED: u16 = 1 << 1;
    pub const RELATED: u16 = 1 << 2;
    pub const NEW: u16 = 1 << 3;
    pub const UNTRACKED: u16 = 1 << 4;
    pub const SNAT: u16 = 1 << 5;
    pub const DNAT: u16 = 1 << 6;
    pub const NAMES: [(&str, u16); 7] =
        [("INVALID", INVALID), ("NEW", NEW), ("RELATED", RELATED), ("ESTABLISHED", ESTABLISHED), ("UNTRACKED", UNTRACKED), ("SNAT", SNAT), ("DNAT", DNAT)];
}

/// Conntrack status bits (`--ctstatus`).
pub mod ctstatus {
    pub const EXPECTED: u16 = 1 << 0;
    pub const SEEN_REPLY: u16 = 1 << 1;
    pub const ASSURED: u16 = 1 << 2;
    pub const CONFIRMED: u16 = 1 << 3;
    pub const NAMES: [(&str, u16); 4] = [("EXPECTED", EXPECTED), ("SEEN_REPLY", SEEN_REPLY), ("ASSURED", ASSURED), ("CONFIRMED", CONFIRMED)];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CtDir {
    Original,
    Reply,
}

/// One `--ct*` option of `-m conntrack` (`xt_conntrack.c:conntrack_mt`), in the order written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CtOption {
    State(Neg<u16>),
    Status(Neg<u16>),
    Proto(Neg<u8>),
    OrigSrc(Neg<AddrMask>),
    OrigDst(Neg<AddrMask>),
    ReplSrc(Neg<AddrMask>),
    ReplDst(Neg<AddrMask>),
    OrigSrcPort(Neg<PortRange>),
    OrigDstPort(Neg<PortRange>),
    ReplSrcPort(Neg<PortRange>),
    ReplDstPort(Neg<PortRange>),
    Dir(CtDir),
    Expire(Neg<(u32, u32)>),
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConntrackMatch {
    pub options: Vec<CtOption>,
}

/// `-m state --state` (`xt_state.c`), same bits as `--ctstate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateMatch {
    pub neg: bool,
    pub states: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatisticMode {
    /// `--probability p`, stored as the kernel does: `round(p * 2^31)`; a packet matches iff a
    /// fresh 31-bit random number is below it (`xt_statistic.c`).
    Random { threshold: u32 },
    /// `--every n --packet p`: the 0-based packet index i matches iff `i mod n == p`.
    Nth { every: u32, packet: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatisticMatch {
    pub neg: bool,
    pub mode: StatisticMode,
}

impl StatisticMatch {
    /// The probability this rule matches a packet, ignoring `!`.
    pub fn probability(&self) -> Option<f64> {
        match self.mode {
            StatisticMode::Random { threshold } => Some(threshold as f64 / 2147483648.0),
            StatisticMode::Nth { .. } => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecentCmd {
    Set,
    Rcheck,
    Update,
    Remove,
}

/// `xt_recent.c`. The list contents are not in iptables-save; the engine uses imported lists or
/// assumes them empty and says so.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentMatch {
    pub neg: bool,
    pub cmd: RecentCmd,
    pub name: String,
    pub seconds: Option<u32>,
    pub reap: bool,
    pub hitcount: Option<u32>,
    pub rttl: bool,
    /// true for `--rsource` (the default), false for `--rdest`.
    pub rsource: bool,
    pub mask: Ipv4Addr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetDir {
    Src,
    Dst,
}

/// `xt_set.c`: `-m set [!] --match-set NAME src,dst,...` plus counter options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetMatch {
    pub neg: bool,
    pub name: String,
    pub dirs: Vec<SetDir>,
    pub return_nomatch: bool,
    pub no_update_counters: bool,
    pub no_update_subcounters: bool,
    /// `--packets-eq/lt/gt` and `--bytes-*` as written (kept for rendering; evaluation of a rule
    /// carrying them is indeterminate because set counters are not imported).
    pub counter_tests: Vec<(String, Option<bool>, u64)>,
}

/// `xt_physdev.c:physdev_mt`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PhysdevMatch {
    pub physdev_in: Option<Neg<IfName>>,
    pub physdev_out: Option<Neg<IfName>>,
    /// `[!] --physdev-is-in`: `Some(neg)`.
    pub is_in: Option<bool>,
    pub is_out: Option<bool>,
    pub is_bridged: Option<bool>,
}

/// `xt_limit.c`: token bucket. A fresh bucket holds `burst` tokens, so the first packets of a
/// synthetic flow always match; the engine says so in the trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitMatch {
    /// As written, e.g. `10/min`.
    pub rate: String,
    pub burst: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PktType {
    Unicast,
    Broadcast,
    Multicast,
}

/// `xt_owner.c`: only meaningful in OUTPUT/POSTROUTING for locally generated packets.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OwnerMatch {
    /// uid range, or a user name that was not numeric (kept as written).
    pub uid: Option<Neg<OwnerId>>,
    pub gid: Option<Neg<OwnerId>>,
    pub socket_exists: Option<bool>,
    pub suppl_groups: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OwnerId {
    Range(u32, u32),
    Name(String),
}

/// `xt_socket.c`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SocketMatch {
    pub transparent: bool,
    pub nowildcard: bool,
    pub restore_skmark: bool,
}

/// `ipt_rpfilter.c`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RpfilterMatch {
    pub loose: bool,
    pub validmark: bool,
    pub accept_local: bool,
    pub invert: bool,
}

/// `xt_ipvs.c`. IPVS state is not modelled: any rule testing it is indeterminate unless the
/// answer follows from "no IPVS" (`! --ipvs` true, `--ipvs` false) and the snapshot says IPVS is
/// unused.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IpvsMatch {
    pub ipvs: Option<bool>,
    pub vproto: Option<Neg<u8>>,
    pub vaddr: Option<Neg<AddrMask>>,
    pub vport: Option<Neg<u16>>,
    pub vdir: Option<CtDir>,
    pub vmethod: Option<Neg<String>>,
    pub vportctl: Option<Neg<u16>>,
}

/// `xt_iprange.c`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IprangeMatch {
    pub src: Option<Neg<(Ipv4Addr, Ipv4Addr)>>,
    pub dst: Option<Neg<(Ipv4Addr, Ipv4Addr)>>,
}

/// `xt_hashlimit.c`. A fresh table behaves like a full bucket: `--hashlimit-upto` matches the
/// first packets, `--hashlimit-above` does not.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HashlimitMatch {
    pub name: String,
    /// Rate as written (`10/sec`), and whether it was `--hashlimit-above`.
    pub rate: String,
    pub above: bool,
    pub burst: Option<u32>,
    pub mode: Option<String>,
    /// The remaining `--hashlimit-*` options as written, in order (rendering only).
    pub other: Vec<(String, String)>,
}
