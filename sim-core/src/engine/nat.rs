//! NAT address and port selection (`nf_nat_core.c:get_unique_tuple`, `find_best_ips_proto`,
//! `nf_nat_l4proto_unique_tuple`). Where the kernel draws a random number (a port search offset,
//! `--random`, `--random-fully`) nfpath picks deterministically and says so in a note.

use crate::model::conntrack::CtTuple;
use crate::model::packet::{IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use crate::model::types::PortRange;
use std::net::Ipv4Addr;

/// `include/linux/jhash.h: JHASH_INITVAL`.
const JHASH_INITVAL: u32 = 0xdead_beef;

fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

fn final_(a: &mut u32, b: &mut u32, c: &mut u32) {
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(14));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(11));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(25));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(16));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(4));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(14));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(24));
}

/// `jhash2`: Bob Jenkins' lookup3 over 32-bit words.
pub fn jhash2(k: &[u32], initval: u32) -> u32 {
    let len = k.len() as u32;
    let mut a = JHASH_INITVAL.wrapping_add(len << 2).wrapping_add(initval);
    let mut b = a;
    let mut c = a;
    let mut k = k;
    while k.len() > 3 {
        a = a.wrapping_add(k[0]);
        b = b.wrapping_add(k[1]);
        c = c.wrapping_add(k[2]);
        mix(&mut a, &mut b, &mut c);
        k = &k[3..];
    }
    match k.len() {
        3 => {
            c = c.wrapping_add(k[2]);
            b = b.wrapping_add(k[1]);
            a = a.wrapping_add(k[0]);
            final_(&mut a, &mut b, &mut c);
        }
        2 => {
            b = b.wrapping_add(k[1]);
            a = a.wrapping_add(k[0]);
            final_(&mut a, &mut b, &mut c);
        }
        1 => {
            a = a.wrapping_add(k[0]);
            final_(&mut a, &mut b, &mut c);
        }
        _ => {}
    }
    c
}

/// An address as the kernel's `__be32` reads on a little-endian machine.
fn be_word(ip: Ipv4Addr) -> u32 {
    u32::from_le_bytes(ip.octets())
}

/// `find_best_ips_proto` for IPv4: a single address, or a hash of the tuple's source (and
/// destination unless `persistent`) and zone, scaled into the range.
pub fn pick_ip(min: Ipv4Addr, max: Ipv4Addr, t: &CtTuple, persistent: bool, zone: u16) -> Ipv4Addr {
    let (lo, hi) = (u32::from(min), u32::from(max));
    if lo >= hi {
        return min;
    }
    // `union nf_inet_addr` is four words; IPv4 uses the first and zeroes the rest.
    let key = [be_word(t.src), 0, 0, 0];
    let init = if persistent { 0 } else { be_word(t.dst) ^ u32::from(zone) };
    let j = jhash2(&key, init);
    let dist = hi.wrapping_sub(lo).wrapping_add(1);
    // `reciprocal_scale`.
    let off = ((u64::from(j) * u64::from(dist)) >> 32) as u32;
    Ipv4Addr::from(lo.wrapping_add(off))
}

/// Port (or ICMP id) selection for one manip. `used(port)` says whether the resulting tuple would
/// clash with another entry (`nf_nat_used_tuple`). Returns the port and, when the kernel would
/// have drawn a random number, a note saying what nfpath chose instead.
pub fn pick_port(proto: u8, orig: u16, range: Option<PortRange>, random: bool, is_dst: bool, used: &dyn Fn(u16) -> bool) -> (u16, Option<String>) {
    if !matches!(proto, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP | IPPROTO_ICMP | 136 | 33) {
        return (orig, None);
    }
    // `get_unique_tuple`: keep the port when it is already acceptable.
    if !random {
        match range {
            Some(r) => {
                if r.contains(orig) && (r.lo == r.hi || !used(orig)) {
                    return (orig, None);
                }
            }
            None => {
                if !used(orig) {
                    return (orig, None);
                }
            }
        }
    }
    let (min, size): (u32, u32) = match range {
        Some(r) => (u32::from(r.lo), u32::from(r.hi) - u32::from(r.lo) + 1),
        None => {
            if is_dst {
                // "If it's dst rewrite, can't change port."
                return (orig, None);
            }
            if proto == IPPROTO_ICMP {
                (0, 65536)
            } else if orig < 512 {
                (1, 511)
            } else if orig < 1024 {
                (600, 424)
            } else {
                (1024, 64512)
            }
        }
    };
    let kernel_random = random || !is_dst;
    if random {
        // `--random`/`--random-fully` always draw a port. The draw almost never equals the
        // original, and what follows can depend on the difference (a reply de-SNATed early,
        // incident 4), so nfpath takes the first free port other than the original.
        for i in 0..size.min(65536) {
            let p = (min + i) as u16;
            if p != orig && !used(p) {
                return (p, Some(format!("the kernel picks a random port here; nfpath took the first free port other than the original, {p}")));
            }
        }
    }
    for i in 0..size.min(65536) {
        let p = (min + i) as u16;
        if !used(p) {
            let note = kernel_random.then(|| format!("the kernel searches from a random offset; nfpath took the first free port {p}"));
            return (p, note);
        }
    }
    (orig, Some("no free port in the range (the kernel would drop the packet)".into()))
}

// ---- the nat hooks (`nf_nat_proto.c`, `nf_nat_core.c:nf_nat_inet_fn`) ----

use crate::engine::chain::Verdict;
use crate::engine::conntrack::{self as ctk, CtInfo, SkbCt};
use crate::engine::flow::{HookEnd, Run, Skb};
use crate::engine::hooks::{self, Hook};
use crate::model::ruleset::{TableName, Target};
use crate::trace::{DropReason, StepKind};

impl<'w> Run<'w> {
    /// The nat stage of a hook: walk the nat chain for a connection's first packet (per manip
    /// type), bind, then translate the packet. `None` = continue.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn nat_hook(
        &mut self,
        ns: usize,
        hook: Hook,
        skb: &mut Skb,
        in_dev: Option<&str>,
        out_dev: Option<&str>,
        route_dev: Option<&str>,
        nexthop: Option<Ipv4Addr>,
    ) -> Option<HookEnd> {
        // NAT acts only on tracked packets, and only when the nat table is loaded.
        let SkbCt::Tracked { id, info } = skb.ct else { return None };
        self.w.nss[ns].table(TableName::Nat)?;
        let is_dst = hooks::manip_is_dst(hook);
        let is_icmp_err = skb.pkt.proto == IPPROTO_ICMP && ctk::icmp_is_error(skb.pkt.icmp_type);
        let related = matches!(info, CtInfo::Related | CtInfo::RelatedReply);
        if !(related && is_icmp_err) && matches!(info, CtInfo::New | CtInfo::Related | CtInfo::RelatedReply) {
            let done = if is_dst { self.ct.conns[id].dst_nat_done } else { self.ct.conns[id].src_nat_done };
            if !done {
                match self.walk(ns, TableName::Nat, hook, skb, in_dev, out_dev) {
                    Verdict::Accept => self.null_binding(ns, id, is_dst),
                    Verdict::Nat(rule, chain, n) => {
                        if let Err(e) = self.bind(ns, id, is_dst, hook, (rule, chain, n), in_dev, route_dev.or(out_dev), nexthop) {
                            return Some(e);
                        }
                    }
                    Verdict::Drop(r) => return Some(HookEnd::Drop(r)),
                    Verdict::Reject(_) => return Some(HookEnd::Indet(format!("{}: REJECT in the nat table is not valid", self.name(ns)))),
                    Verdict::Indet(why) => return Some(HookEnd::Indet(why)),
                }
            }
        }
        self.translate(ns, hook, skb, id, info, is_dst);
        None
    }

    fn null_binding(&mut self, ns: usize, id: usize, is_dst: bool) {
        let c = &self.ct.conns[id];
        let (zone, proto) = (c.zone, c.proto);
        let cur = ctk::invert(proto, &c.tuple[1]);
        if is_dst {
            self.ct.conns[id].dst_nat_done = true;
            return;
        }
        // `nf_nat_alloc_null_binding`: a SRC binding to the same address, whose port is still
        // remapped when the tuple clashes with another entry.
        let used = |port: u16| {
            let mut t = cur;
            // The source port, or the ICMP id, which tuples keep in the same field.
            t.sport = port;
            self.ct_taken(ns, zone, proto, &ctk::invert(proto, &t), id)
        };
        let (port, note) = pick_port(proto, cur.sport, None, false, false, &used);
        let c = &mut self.ct.conns[id];
        c.src_nat_done = true;
        if port != cur.sport {
            let mut nt = cur;
            nt.sport = port;
            c.tuple[1] = ctk::invert(proto, &nt);
            c.src_nat = true;
            let text = format!(
                "null SNAT binding: the source port clashes with an existing entry and is remapped to {port}{}",
                note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
            );
            // A port the kernel draws at random is an assumption of the outcome, as for a NAT
            // rule's own port search (`nf_nat_l4proto_unique_tuple` from a random offset).
            if note.is_some() {
                self.assume(ns, text);
            } else {
                self.step(ns, || StepKind::Note { text });
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn bind(
        &mut self,
        ns: usize,
        id: usize,
        is_dst: bool,
        hook: Hook,
        at: (&'w crate::model::ruleset::Rule, &'w str, u32),
        in_dev: Option<&str>,
        out_dev: Option<&str>,
        nexthop: Option<Ipv4Addr>,
    ) -> Result<(), HookEnd> {
        let (rule, chain, n) = at;
        let c = &self.ct.conns[id];
        let (zone, proto) = (c.zone, c.proto);
        let cur = ctk::invert(proto, &c.tuple[1]);
        let place = || self.rule_place(ns, rule);
        let mut notes: Vec<String> = Vec::new();
        // (new address, port range, random)
        let (ip, ports, random, persistent, masq): (Ipv4Addr, Option<PortRange>, bool, bool, bool) = match (&rule.target, is_dst) {
            (Target::Dnat(t), true) | (Target::Snat(t), false) => {
                let Some(r) = t.ranges.first() else { return Err(HookEnd::Indet(format!("{}: NAT target without a range", place()))) };
                if t.ranges.len() > 1 {
                    notes.push("several ranges given: current kernels use the first".into());
                }
                if r.base_port.is_some() {
                    return Err(HookEnd::Indet(format!("{}: port offset mapping (/baseport) is not modelled", place())));
                }
                let old = if is_dst { cur.dst } else { cur.src };
                let ip = match r.min_ip {
                    Some(min) => pick_ip(min, r.max_ip.unwrap_or(min), &cur, t.persistent, zone),
                    None => old,
                };
                (ip, r.ports, t.random || t.random_fully, t.persistent, false)
            }
            (Target::Masquerade(m), false) => {
                if hook != Hook::PostRouting {
                    return Err(HookEnd::Indet(format!("{}: MASQUERADE outside POSTROUTING", place())));
                }
                if cur.src.is_unspecified() {
                    (cur.src, None, false, false, false)
                } else {
                    let (Some(dev), Some(nh)) = (out_dev, nexthop) else {
                        return Err(HookEnd::Indet(format!("{}: MASQUERADE without an output route", place())));
                    };
                    // `nf_nat_masquerade_ipv4`: `inet_select_addr(out, nexthop, RT_SCOPE_UNIVERSE)`.
                    match self.w.nss[ns].router.inet_select_addr(dev, nh) {
                        Some(a) => (a, m.ports, m.random || m.random_fully, false, true),
                        None => {
                            let text = format!("MASQUERADE: no address to use on {dev} or any device");
                            self.step(ns, || StepKind::Note { text });
                            return Err(HookEnd::Drop(DropReason::NatFailed));
                        }
                    }
                }
            }
            (Target::Redirect(m), true) => {
                // `nf_nat_redirect_ipv4`: the input device's first address, or 127.0.0.1 locally.
                let ip = if hook == Hook::LocalOut {
                    Ipv4Addr::LOCALHOST
                } else {
                    match in_dev.and_then(|d| self.w.nss[ns].ns.addrs_of(d).find(|a| !a.secondary)).map(|a| a.local) {
                        Some(a) => a,
                        None => {
                            let text = "REDIRECT: the input device has no IPv4 address".to_string();
                            self.step(ns, || StepKind::Note { text });
                            return Err(HookEnd::Drop(DropReason::NatFailed));
                        }
                    }
                };
                (ip, m.ports, m.random || m.random_fully, false, false)
            }
            (Target::Netmap(net), _) => {
                let m = u32::from(net.netmask());
                let old = if is_dst { cur.dst } else { cur.src };
                let ip = Ipv4Addr::from((u32::from(old) & !m) | (u32::from(net.addr()) & m));
                (ip, None, false, false, false)
            }
            (t, _) => {
                return Err(HookEnd::Indet(format!("{}: -j {} is not valid at {}", place(), t.name(), hook.chain())));
            }
        };
        let _ = persistent;
        let mut nt = cur;
        if is_dst {
            nt.dst = ip;
        } else {
            nt.src = ip;
        }
        let orig_port = if proto == IPPROTO_ICMP {
            cur.sport
        } else if is_dst {
            cur.dport
        } else {
            cur.sport
        };
        let icmp = proto == IPPROTO_ICMP;
        let used = |port: u16| {
            let mut t = nt;
            if icmp || !is_dst {
                t.sport = port;
            } else {
                t.dport = port;
            }
            self.ct_taken(ns, zone, proto, &ctk::invert(proto, &t), id)
        };
        let (port, note) = pick_port(proto, orig_port, ports, random, is_dst && !icmp, &used);
        if let Some(n) = note {
            notes.push(n);
        }
        if icmp || !is_dst {
            nt.sport = port;
        } else {
            nt.dport = port;
        }
        let c = &mut self.ct.conns[id];
        let changed = nt != cur;
        c.tuple[1] = ctk::invert(proto, &nt);
        if is_dst {
            c.dst_nat_done = true;
            c.dst_nat |= changed;
        } else {
            c.src_nat_done = true;
            c.src_nat |= changed;
            if masq {
                c.masq_dev = out_dev.map(str::to_string);
            }
        }
        if !self.full && notes.iter().all(|n| !n.contains("random")) {
            return Ok(());
        }
        let verdict = format!(
            "{} to {}{}",
            rule.target.name(),
            ctk::fmt_tuple(proto, &nt),
            if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) }
        );
        for n in &notes {
            if n.contains("random") {
                let t = format!("{}: {n}", rule.target.name());
                self.assume(ns, t);
            }
        }
        self.nat_rule_step(ns, hook, rule, chain, n, verdict);
        Ok(())
    }

    fn nat_rule_step(&mut self, ns: usize, hook: Hook, rule: &'w crate::model::ruleset::Rule, chain: &'w str, n: u32, verdict: String) {
        if !self.full {
            return;
        }
        let rs = &self.w.nss[ns].ns.ruleset;
        let (file, text, line) = (rs.rule_file(rule).to_string(), rs.rule_text(rule).to_string(), rule.line);
        self.step(ns, || StepKind::Netfilter { hook: hook.chain().into(), table: "nat".into(), chain: chain.into(), rule: n, line, file, text, verdict });
    }

    /// `nf_nat_packet` / `nf_nat_icmp_reply_translation`: rewrite from the other direction's
    /// tuple when the status bit for this manip (flipped for replies) is set.
    fn translate(&mut self, ns: usize, hook: Hook, skb: &mut Skb, id: usize, info: CtInfo, is_dst: bool) {
        let c = &self.ct.conns[id];
        let dir = info.dir();
        let applies = if is_dst { (dir == 0 && c.dst_nat) || (dir == 1 && c.src_nat) } else { (dir == 0 && c.src_nat) || (dir == 1 && c.dst_nat) };
        if !applies {
            return;
        }
        let target = ctk::invert(c.proto, &c.tuple[1 - dir]);
        let conn_proto = c.proto;
        let before = skb.pkt.clone();
        let p = &mut skb.pkt;
        let is_err = p.proto == IPPROTO_ICMP && ctk::icmp_is_error(p.icmp_type);
        if is_err {
            // Outer addresses as for a packet of this direction; the embedded packet mirrored.
            if is_dst {
                p.dst = target.dst;
            } else {
                p.src = target.src;
            }
            if let Some(inner) = skb.inner.as_mut() {
                if is_dst {
                    inner.src = target.dst;
                    if conn_proto == IPPROTO_ICMP {
                        inner.sport = target.sport
                    } else {
                        inner.sport = target.dport
                    }
                } else {
                    inner.dst = target.src;
                    if conn_proto == IPPROTO_ICMP {
                        inner.sport = target.sport
                    } else {
                        inner.dport = target.sport
                    }
                }
            }
        } else if is_dst {
            p.dst = target.dst;
            if p.proto == IPPROTO_ICMP {
                p.sport = target.sport;
            } else if p.has_ports() {
                p.dport = target.dport;
            }
        } else {
            p.src = target.src;
            if p.has_ports() || p.proto == IPPROTO_ICMP {
                p.sport = target.sport;
            }
        }
        // The note is only rendered at `TraceLevel::Full`; a summary flow formats nothing here.
        if self.full && skb.pkt != before {
            let what = if is_dst { "destination" } else { "source" };
            let text = format!(
                "{} {what} rewritten: {} -> {}{}",
                if dir == 1 { "reply" } else { "original" },
                if is_dst { before.dst } else { before.src },
                if is_dst { skb.pkt.dst } else { skb.pkt.src },
                if hook == Hook::PreRouting || hook == Hook::LocalOut { " (nat, DST manip)" } else { " (nat, SRC manip)" }
            );
            let pkt = skb.pkt.clone();
            self.step_pkt(ns, &pkt, || StepKind::Note { text });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jhash2_known_values() {
        // lookup3 of zero-length input is the initial value.
        assert_eq!(jhash2(&[], 0), 0xdead_beef);
        // The hash depends on every word and on initval.
        let a = jhash2(&[1, 0, 0, 0], 0);
        assert_ne!(a, jhash2(&[2, 0, 0, 0], 0));
        assert_ne!(a, jhash2(&[1, 0, 0, 0], 1));
        assert_ne!(a, jhash2(&[1, 0, 0, 1], 0));
    }

    #[test]
    fn single_ip_range_is_that_ip_and_ranges_stay_inside() {
        let t = CtTuple { src: Ipv4Addr::new(10, 0, 0, 1), dst: Ipv4Addr::new(10, 96, 0, 1), sport: 1, dport: 2 };
        let ip = Ipv4Addr::new(192, 0, 2, 1);
        assert_eq!(pick_ip(ip, ip, &t, false, 0), ip);
        let hi = Ipv4Addr::new(192, 0, 2, 10);
        for s in 0..50u8 {
            let t = CtTuple { src: Ipv4Addr::new(10, 0, 0, s), ..t };
            let got = pick_ip(ip, hi, &t, false, 0);
            assert!(u32::from(got) >= u32::from(ip) && u32::from(got) <= u32::from(hi));
        }
    }

    #[test]
    fn port_kept_unless_clash_and_dst_without_range_never_changes() {
        let free = |_: u16| false;
        assert_eq!(pick_port(6, 40000, None, false, false, &free).0, 40000);
        let clash = |p: u16| p == 40000;
        let (p, note) = pick_port(6, 40000, None, false, false, &clash);
        assert_eq!(p, 1024);
        assert!(note.is_some());
        assert_eq!(pick_port(6, 80, None, false, true, &clash).0, 80);
        // DNAT to a port range: an out-of-range port goes to the first free one, deterministically.
        let (p, note) = pick_port(6, 80, Some(PortRange { lo: 8080, hi: 8090 }), false, true, &free);
        assert_eq!((p, note), (8080, None));
        // Low ports stay low (`nf_nat_l4proto_unique_tuple`).
        let all_low_clash = |p: u16| p == 100;
        assert_eq!(pick_port(17, 100, None, false, false, &all_low_clash).0, 1);
    }
}
