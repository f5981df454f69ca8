//! Evaluation of the base match fields (`ip_tables.c:ip_packet_match`), every `-m` extension of
//! the model, and the non-terminal targets. A match that nfpath cannot decide returns
//! `Tri::Indet` with the reason; the chain walk turns it into an indeterminate outcome naming
//! the rule's file and line.

pub mod set;

use crate::engine::conntrack::{CtInfo, SkbCt};
use crate::engine::flow::{Owner, Run, Skb};
use crate::engine::hooks::Hook;
use crate::model::packet::{IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use crate::model::route::RouteType;
use crate::model::ruleset::*;
use crate::model::types::{AddrMask, Neg, PortRange};
use std::net::Ipv4Addr;

/// Where a rule is evaluated.
pub(crate) struct Env<'a> {
    pub ns: usize,
    pub hook: Hook,
    pub table: TableName,
    pub in_dev: Option<&'a str>,
    pub out_dev: Option<&'a str>,
}

/// A three-valued match result, plus the kernel's hotdrop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tri {
    T,
    F,
    Indet(String),
    /// `par->hotdrop = true`: the packet is dropped at once.
    Hotdrop(String),
}

impl Tri {
    fn of(b: bool) -> Tri {
        if b {
            Tri::T
        } else {
            Tri::F
        }
    }
}

fn neg_port(n: &Option<Neg<PortRange>>, p: u16) -> bool {
    n.as_ref().is_none_or(|x| x.apply(x.val.contains(p)))
}

fn neg_addr(n: &Option<Neg<AddrMask>>, ip: Ipv4Addr) -> bool {
    n.as_ref().is_none_or(|x| x.apply(x.val.contains(ip)))
}

fn rtype_bit(t: RouteType) -> u16 {
    use crate::model::ruleset::addrtype as a;
    match t {
        RouteType::Unicast => a::UNICAST,
        RouteType::Local => a::LOCAL,
        RouteType::Broadcast => a::BROADCAST,
        RouteType::Anycast => a::ANYCAST,
        RouteType::Multicast => a::MULTICAST,
        RouteType::Blackhole => a::BLACKHOLE,
        RouteType::Unreachable => a::UNREACHABLE,
        RouteType::Prohibit => a::PROHIBIT,
        RouteType::Throw => a::THROW,
        RouteType::Nat => a::NAT,
    }
}

impl<'w> Run<'w> {
    /// All of a rule's tests, in the kernel's order: base fields, then each `-m` as written.
    pub(crate) fn rule_matches(&mut self, env: &Env, skb: &Skb, rule: &'w Rule, chain: u32, n: u32) -> Tri {
        let p = &skb.pkt;
        let b = &rule.base;
        if !neg_addr(&b.src, p.src) || !neg_addr(&b.dst, p.dst) {
            return Tri::F;
        }
        if let Some(i) = &b.in_iface {
            if !i.apply(i.val.matches(env.in_dev)) {
                return Tri::F;
            }
        }
        if let Some(o) = &b.out_iface {
            if !o.apply(o.val.matches(env.out_dev)) {
                return Tri::F;
            }
        }
        if let Some(pr) = &b.proto {
            if !pr.apply(p.proto == pr.val) {
                return Tri::F;
            }
        }
        if let Some(f) = &b.frag {
            if !f.apply(p.frag_off != 0) {
                return Tri::F;
            }
        }
        for m in &rule.matches {
            match self.eval_match(env, skb, m, chain, n) {
                Tri::T => {}
                other => return other,
            }
        }
        Tri::T
    }

    fn ct_state_bits(&self, skb: &Skb) -> u16 {
        match skb.ct {
            SkbCt::Tracked { id, info } => {
                let c = &self.ct.conns[id];
                let mut s = match info {
                    CtInfo::New => ctstate::NEW,
                    CtInfo::Established | CtInfo::EstablishedReply => ctstate::ESTABLISHED,
                    CtInfo::Related | CtInfo::RelatedReply => ctstate::RELATED,
                };
                if c.src_nat {
                    s |= ctstate::SNAT;
                }
                if c.dst_nat {
                    s |= ctstate::DNAT;
                }
                s
            }
            SkbCt::Untracked => ctstate::UNTRACKED,
            _ => ctstate::INVALID,
        }
    }

    pub(crate) fn eval_match(&mut self, env: &Env, skb: &Skb, m: &'w Match, chain: u32, n: u32) -> Tri {
        let p = &skb.pkt;
        let frag = p.frag_off != 0;
        match m {
            Match::Comment(_) | Match::Nfacct(_) => Tri::T,
            Match::Tcp(t) => {
                if p.proto != IPPROTO_TCP {
                    return Tri::F;
                }
                if frag {
                    // `tcp_mt`: offset 1 is an attempt to overwrite the flags: hotdrop.
                    return if p.frag_off == 1 { Tri::Hotdrop("TCP fragment at offset 1".into()) } else { Tri::F };
                }
                if !neg_port(&t.sport, p.sport) || !neg_port(&t.dport, p.dport) {
                    return Tri::F;
                }
                if let Some(f) = &t.flags {
                    let (mask, comp) = f.val;
                    if !f.apply(p.tcp_flags & mask == comp) {
                        return Tri::F;
                    }
                }
                if let Some(o) = &t.option {
                    return Tri::Indet(format!("--tcp-option {}: TCP options are not modelled", o.val));
                }
                Tri::T
            }
            Match::Udp(u) => {
                if p.proto != IPPROTO_UDP || frag {
                    return Tri::F;
                }
                Tri::of(neg_port(&u.sport, p.sport) && neg_port(&u.dport, p.dport))
            }
            Match::Sctp(s) => {
                if p.proto != IPPROTO_SCTP || frag {
                    return Tri::F;
                }
                if !(neg_port(&s.sport, p.sport) && neg_port(&s.dport, p.dport)) {
                    return Tri::F;
                }
                if s.chunk_types.is_some() {
                    return Tri::Indet("SCTP chunk types are not modelled".into());
                }
                Tri::T
            }
            Match::Icmp(i) => {
                if p.proto != IPPROTO_ICMP || frag {
                    return Tri::F;
                }
                // `icmp_type_code_match`: type 0xFF matches any type.
                let raw = i.icmp_type == 0xff || (p.icmp_type == i.icmp_type && p.icmp_code >= i.code_min && p.icmp_code <= i.code_max);
                Tri::of(raw != i.neg)
            }
            Match::Multiport(mp) => {
                if !p.has_ports() || frag {
                    return Tri::F;
                }
                let hit = |port: u16| mp.ports.iter().any(|r| r.contains(port));
                let raw = match mp.dir {
                    MultiportDir::Source => hit(p.sport),
                    MultiportDir::Destination => hit(p.dport),
                    MultiportDir::Both => hit(p.sport) || hit(p.dport),
                };
                Tri::of(raw != mp.neg)
            }
            Match::Addrtype(a) => {
                let router = &self.w.nss[env.ns].router;
                // `addrtype_mt_v1`: --limit-iface-in uses the input device, -out the output one.
                let limit = if a.limit_iface_in {
                    env.in_dev
                } else if a.limit_iface_out {
                    env.out_dev
                } else {
                    None
                };
                if (a.limit_iface_in && env.in_dev.is_none()) || (a.limit_iface_out && env.out_dev.is_none()) {
                    return Tri::Indet("--limit-iface-* without a device at this hook".into());
                }
                if let Some(s) = &a.src_type {
                    let t = rtype_bit(router.addr_type(p.src, limit));
                    if !s.apply(t & s.val != 0) {
                        return Tri::F;
                    }
                }
                if let Some(d) = &a.dst_type {
                    let t = rtype_bit(router.addr_type(p.dst, limit));
                    if !d.apply(t & d.val != 0) {
                        return Tri::F;
                    }
                }
                Tri::T
            }
            Match::Mark(mm) => Tri::of(((skb.mark & mm.mask) == mm.value) != mm.neg),
            Match::Connmark(mm) => match skb.ct {
                SkbCt::Tracked { id, .. } => Tri::of(((self.ct.conns[id].mark & mm.mask) == mm.value) != mm.neg),
                // `connmark_mt`: no conntrack, no match (the `!` is not applied).
                _ => Tri::F,
            },
            Match::State(s) => Tri::of((self.ct_state_bits(skb) & s.states != 0) != s.neg),
            Match::Conntrack(c) => self.eval_conntrack(skb, c),
            Match::Statistic(s) => self.eval_statistic(env, s, chain, n),
            Match::Recent(r) => self.eval_recent(env, skb, r),
            Match::Set(s) => self.eval_set(env, skb, s),
            Match::Physdev(pd) => Tri::of(crate::engine::device::bridge::physdev_mt(pd, skb.l2.nf_bridge.as_ref())),
            Match::Mac(mac) => {
                if !matches!(env.hook, Hook::PreRouting | Hook::LocalIn | Hook::Forward) {
                    return Tri::F;
                }
                match p.eth_src {
                    Some(src) => Tri::of(mac.apply(src == mac.val)),
                    None => Tri::Indet("the packet's source MAC is not known here".into()),
                }
            }
            Match::Limit(l) => {
                self.assume(env.ns, format!("-m limit {}: a fresh token bucket (burst {}) lets the first packets match", l.rate, l.burst));
                Tri::T
            }
            Match::Hashlimit(h) => {
                self.assume(
                    env.ns,
                    format!(
                        "-m hashlimit {}: a fresh bucket, so --hashlimit-{} {} the first packets",
                        h.name,
                        if h.above { "above" } else { "upto" },
                        if h.above { "does not match" } else { "matches" }
                    ),
                );
                Tri::of(!h.above)
            }
            Match::Length(l) => Tri::of(l.apply(p.len >= l.val.0 && p.len <= l.val.1)),
            Match::Tcpmss(t) => {
                if p.proto != IPPROTO_TCP {
                    return Tri::F;
                }
                if p.tcp_flags & tcp_flags::SYN != 0 {
                    return Tri::Indet(format!("--mss {}:{}: the MSS option of a SYN depends on the sender's route MTU", t.val.0, t.val.1));
                }
                // No MSS option in a non-SYN segment: `tcpmss_mt` returns the inversion flag.
                Tri::of(t.neg)
            }
            Match::Pkttype(pt) => {
                let ty = if p.dst.is_broadcast() {
                    PktType::Broadcast
                } else if p.dst.is_multicast() {
                    PktType::Multicast
                } else {
                    PktType::Unicast
                };
                Tri::of(pt.apply(ty == pt.val))
            }
            Match::Owner(o) => self.eval_owner(env, skb, o),
            Match::Iprange(r) => {
                let inr = |x: &Option<Neg<(Ipv4Addr, Ipv4Addr)>>, ip: Ipv4Addr| {
                    x.as_ref().is_none_or(|n| n.apply(u32::from(ip) >= u32::from(n.val.0) && u32::from(ip) <= u32::from(n.val.1)))
                };
                Tri::of(inr(&r.src, p.src) && inr(&r.dst, p.dst))
            }
            Match::Rpfilter(r) => {
                // `rpfilter_mt`: locally generated packets (no input device, or lo) always pass.
                let Some(iif) = env.in_dev.filter(|d| *d != "lo") else { return Tri::of(!r.invert) };
                let mark = if r.validmark { skb.mark } else { 0 };
                match self.w.nss[env.ns].router.rpfilter(p.src, p.dst, iif, mark, r.loose, r.accept_local) {
                    Some(ok) => Tri::of(ok != r.invert),
                    None => Tri::Indet("the router cannot answer the rpfilter lookup".into()),
                }
            }
            Match::Socket(_) => Tri::Indet("-m socket depends on live sockets nfpath does not model".into()),
            Match::Ipvs(_) => Tri::Indet("-m ipvs: IPVS state is not modelled".into()),
            Match::U32(_) => Tri::Indet("-m u32 is not evaluated".into()),
            Match::Unsupported { name, .. } => Tri::Indet(format!("-m {name} is not supported")),
        }
    }

    fn eval_conntrack(&mut self, skb: &Skb, c: &ConntrackMatch) -> Tri {
        let has_state = c.options.iter().any(|o| matches!(o, CtOption::State(_)));
        if let Some(CtOption::State(s)) = c.options.iter().find(|o| matches!(o, CtOption::State(_))) {
            if !s.apply(self.ct_state_bits(skb) & s.val != 0) {
                return Tri::F;
            }
        }
        let (id, info) = match skb.ct {
            SkbCt::Tracked { id, info } => (id, info),
            // `conntrack_mt`: without a conntrack only a --ctstate test can match.
            _ => return Tri::of(has_state),
        };
        let conn = self.ct.conns[id].clone();
        for o in &c.options {
            let ok = match o {
                CtOption::State(_) => true,
                CtOption::Status(s) => {
                    let mut bits = 0u16;
                    if conn.seen_reply || info.is_reply() {
                        bits |= ctstatus::SEEN_REPLY;
                    }
                    if conn.assured {
                        bits |= ctstatus::ASSURED;
                    }
                    if conn.confirmed {
                        bits |= ctstatus::CONFIRMED;
                    }
                    s.apply(bits & s.val != 0)
                }
                CtOption::Proto(pn) => pn.apply(conn.proto == pn.val),
                CtOption::OrigSrc(a) => a.apply(a.val.contains(conn.tuple[0].src)),
                CtOption::OrigDst(a) => a.apply(a.val.contains(conn.tuple[0].dst)),
                CtOption::ReplSrc(a) => a.apply(a.val.contains(conn.tuple[1].src)),
                CtOption::ReplDst(a) => a.apply(a.val.contains(conn.tuple[1].dst)),
                CtOption::OrigSrcPort(r) => r.apply(r.val.contains(conn.tuple[0].sport)),
                CtOption::OrigDstPort(r) => r.apply(r.val.contains(conn.tuple[0].dport)),
                CtOption::ReplSrcPort(r) => r.apply(r.val.contains(conn.tuple[1].sport)),
                CtOption::ReplDstPort(r) => r.apply(r.val.contains(conn.tuple[1].dport)),
                CtOption::Dir(d) => (*d == CtDir::Reply) == info.is_reply(),
                CtOption::Expire(_) => return Tri::Indet("--ctexpire depends on conntrack timers nfpath does not model".into()),
            };
            if !ok {
                return Tri::F;
            }
        }
        Tri::T
    }

    fn eval_statistic(&mut self, env: &Env, s: &StatisticMatch, chain: u32, n: u32) -> Tri {
        match s.mode {
            StatisticMode::Random { threshold } => {
                let p = (f64::from(threshold) / 2_147_483_648.0).clamp(0.0, 1.0);
                let p = if s.neg { 1.0 - p } else { p };
                if p >= 1.0 {
                    return Tri::T;
                }
                if p <= 0.0 {
                    return Tri::F;
                }
                Tri::of(self.choose(&[p, 1.0 - p]) == 0)
            }
            StatisticMode::Nth { every, packet } => {
                let every = every.max(1);
                let key = (env.ns, env.table as u8, chain, n);
                let seen = self.nth.entry(key).or_insert(0);
                *seen += 1;
                if *seen > 1 {
                    return Tri::Indet("--mode nth evaluated twice in one flow: the counter's phase is unknown".into());
                }
                let _ = packet;
                self.assume(env.ns, format!("--mode nth --every {every}: the rule's packet counter is not imported; every phase is taken as equally likely"));
                let p = 1.0 / f64::from(every);
                let hit = if p >= 1.0 { true } else { self.choose(&[p, 1.0 - p]) == 0 };
                Tri::of(hit != s.neg)
            }
        }
    }

    fn eval_recent(&mut self, env: &Env, skb: &Skb, r: &RecentMatch) -> Tri {
        let ip = if r.rsource { skb.pkt.src } else { skb.pkt.dst };
        let ip = Ipv4Addr::from(u32::from(ip) & u32::from(r.mask));
        let key = (env.ns, r.name.clone(), ip);
        let known = self.recent.contains(&key);
        if !known {
            self.assume(env.ns, format!("-m recent list {:?}: its contents are not imported and are assumed empty", r.name));
        }
        let raw = match r.cmd {
            RecentCmd::Set => {
                self.recent.insert(key);
                true
            }
            RecentCmd::Rcheck | RecentCmd::Update => {
                if known && r.hitcount.is_some_and(|h| h > 1) {
                    return Tri::Indet("-m recent --hitcount over a list entry this flow created".into());
                }
                known
            }
            RecentCmd::Remove => {
                self.recent.remove(&key);
                known
            }
        };
        Tri::of(raw != r.neg)
    }

    fn eval_owner(&mut self, env: &Env, skb: &Skb, o: &OwnerMatch) -> Tri {
        if !matches!(env.hook, Hook::LocalOut | Hook::PostRouting) {
            return Tri::F;
        }
        match skb.owner {
            Owner::Kernel | Owner::Foreign => {
                // `owner_mt` without a socket: true only when every given test is inverted.
                let all_inv = [o.uid.as_ref().map(|x| x.neg), o.gid.as_ref().map(|x| x.neg), o.socket_exists.map(|x| !x)].iter().flatten().all(|n| *n);
                Tri::of(all_inv)
            }
            Owner::Server => Tri::Indet("-m owner on the server's reply: the listener's uid/gid is not known".into()),
            Owner::Client => {
                if let Some(se) = o.socket_exists {
                    if !se {
                        return Tri::F;
                    }
                }
                let check = |x: &Option<Neg<OwnerId>>, v: Option<u32>, what: &str| -> Result<bool, String> {
                    match x {
                        None => Ok(true),
                        Some(n) => match (&n.val, v) {
                            (OwnerId::Range(lo, hi), Some(v)) => Ok(n.apply(v >= *lo && v <= *hi)),
                            (OwnerId::Name(name), _) => Err(format!("-m owner --{what}-owner {name}: the name is not resolved")),
                            (_, None) => Err(format!("-m owner --{what}-owner: the flow gives no {what}")),
                        },
                    }
                };
                match (check(&o.uid, self.spec.uid, "uid"), check(&o.gid, self.spec.gid, "gid")) {
                    (Ok(a), Ok(b)) => Tri::of(a && b),
                    (Err(e), _) | (_, Err(e)) => Tri::Indet(e),
                }
            }
        }
    }

    /// A step's text, built only when steps are rendered.
    fn text(&self, f: impl FnOnce() -> String) -> String {
        if self.full {
            f()
        } else {
            String::new()
        }
    }

    /// Applies a non-terminal target; returns the verdict text for the trace (empty at
    /// `TraceLevel::Summary`, where nothing is rendered).
    pub(crate) fn apply_target(&mut self, env: &Env, skb: &mut Skb, rule: &'w Rule) -> Result<String, String> {
        match &rule.target {
            Target::Mark(op) => {
                skb.mark = op.apply(skb.mark);
                Ok(self.text(|| format!("MARK -> 0x{:x}", skb.mark)))
            }
            Target::Connmark(op) => {
                let SkbCt::Tracked { id, .. } = skb.ct else { return Ok(self.text(|| "CONNMARK (no conntrack: no effect)".into())) };
                let c = &mut self.ct.conns[id];
                match *op {
                    ConnmarkOp::Set(m) => c.mark = m.apply(c.mark),
                    ConnmarkOp::SaveMark { nfmask, ctmask } => c.mark = (c.mark & !ctmask) ^ (skb.mark & nfmask),
                    ConnmarkOp::RestoreMark { nfmask, ctmask } => skb.mark = (skb.mark & !nfmask) ^ (c.mark & ctmask),
                }
                let (ctmark, mark) = (c.mark, skb.mark);
                Ok(self.text(|| format!("CONNMARK (ctmark 0x{ctmark:x}, mark 0x{mark:x})")))
            }
            Target::Notrack => {
                if matches!(skb.ct, SkbCt::None | SkbCt::Template { .. }) {
                    skb.ct = SkbCt::Untracked;
                }
                Ok(self.text(|| "NOTRACK".into()))
            }
            Target::Ct(ct) => {
                if !matches!(skb.ct, SkbCt::None | SkbCt::Template { .. }) {
                    return Ok(self.text(|| "CT (the packet already has a conntrack: no effect)".into()));
                }
                if ct.notrack {
                    skb.ct = SkbCt::Untracked;
                    return Ok(self.text(|| "CT --notrack".into()));
                }
                if ct.helper.is_some() {
                    return Err("CT --helper: conntrack helpers are not modelled".into());
                }
                if let Some(z) = ct.zone {
                    skb.ct = SkbCt::Template { zone: z };
                }
                Ok(self.text(|| "CT".into()))
            }
            Target::Log(_) | Target::Nflog(_) | Target::Trace | Target::Checksum => Ok(self.text(|| format!("{} (continue)", rule.target.name()))),
            Target::Tcpmss(_) => Ok(self.text(|| "TCPMSS (MSS option rewritten; continue)".into())),
            Target::Queue | Target::Nfqueue(_) => Err(format!("{}: the verdict comes from a userspace program", rule.target.name())),
            Target::Tproxy(_) => Err("TPROXY: transparent proxy socket lookup is not modelled".into()),
            Target::Unsupported { name, .. } => Err(format!("-j {name} is not supported")),
            other => {
                let _ = env;
                Err(format!("-j {} is not valid here", other.name()))
            }
        }
    }
}
