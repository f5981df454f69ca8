//! Connection-level flows: the three IPv4 paths (`ip_input.c`, `ip_forward.c`, `ip_output.c`),
//! hook stages in priority order, veth crossings, socket delivery, the server's reply or the
//! kernel's error answer walked back, and what the client's socket reports.
//!
//! Random choices (`-m statistic`) are enumerated by replay: a run follows a script of choices,
//! records the alternatives it met, and the driver re-runs every unexplored alternative. Identical
//! outcomes merge by summing probabilities.

use crate::engine::conntrack::{self as ctk, Conn, CtInfo, CtStore, SkbCt};
use crate::engine::hooks::{self, Hook, Stage};
use crate::engine::route_api::{Decision, FlowKey, RouteResult};
use crate::engine::{device, FlowFrom, FlowSpec, RunOptions, TraceLevel, World};
use crate::model::packet::{Packet, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use crate::model::route::RouteType;
use crate::model::ruleset::{tcp_flags as tf, RejectWith, TableName};
use crate::trace::{ClientResult, Disposition, DropReason, FlowResult, Outcome, Seen, Step, StepKind};
use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;

/// Who owns the socket a packet came from (`skb->sk`), for `-m owner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The flow's client socket.
    Client,
    /// The listening socket that answers.
    Server,
    /// A kernel-built packet (TCP reset, ICMP error): no socket.
    Kernel,
    /// Received from outside: no socket.
    Foreign,
}

/// A packet on its way, with the skb metadata the kernel carries.
#[derive(Clone, Debug)]
pub(crate) struct Skb {
    pub pkt: Packet,
    pub mark: u32,
    /// Input device; `None` while locally generated and not yet looped back.
    pub iif: Option<String>,
    pub ct: SkbCt,
    /// For ICMP errors: the embedded offending packet.
    pub inner: Option<Packet>,
    pub owner: Owner,
    /// Bridge and tunnel state the skb carries (`nf_bridge_info`, the encapsulated frame).
    pub l2: device::L2Meta,
}

/// Where one packet's walk ended.
#[derive(Debug)]
pub(crate) enum End {
    /// Passed LOCAL_IN of `ns`: handed to the transport layer.
    Local {
        ns: usize,
        skb: Skb,
    },
    Dropped {
        ns: usize,
        reason: DropReason,
        local_out: bool,
    },
    /// Dropped, and the kernel answered with `answer` (REJECT, ICMP from routing, TTL).
    Answered {
        ns: usize,
        answer: Box<Skb>,
        reason: DropReason,
        local_out: bool,
    },
    /// A locally generated packet could not be routed: the socket sees `errno`.
    SendError {
        ns: usize,
        errno: &'static str,
        reason: DropReason,
    },
    Exited {
        ns: usize,
        dev: String,
        skb: Skb,
    },
    Indeterminate {
        why: String,
    },
}

/// How one hook ended.
pub(crate) enum HookEnd {
    Continue,
    Drop(DropReason),
    Reject(Box<Skb>),
    RouteFail { reason: DropReason, errno: &'static str },
    Indet(String),
}

/// The current output route of a locally generated or forwarded packet.
#[derive(Clone, Debug)]
pub(crate) struct OutRoute {
    pub dev: String,
    pub nexthop: Ipv4Addr,
    pub local: bool,
}

/// One run: a walk of the request and its answer along one branch of every random choice.
pub(crate) struct Run<'w> {
    pub w: &'w World,
    pub full: bool,
    pub plain_walk: bool,
    pub ct: CtStore,
    /// (ns, imported entry index) -> conn id, for copy-on-touch.
    pub imported: Vec<(usize, usize, usize)>,
    pub steps: Vec<Step>,
    pub notes: Vec<String>,
    script: Vec<usize>,
    pos: usize,
    pub made: Vec<(usize, Vec<f64>)>,
    pub prob: f64,
    rng: Option<u64>,
    pub(crate) hops: u32,
    pub spec: &'w FlowSpec,
    /// `-m recent` lists touched in this flow: (ns, list, address).
    pub recent: HashSet<(usize, String, Ipv4Addr)>,
    /// Counts per `(ns, table, chain, rule)` for `--mode nth` (a fresh counter per flow).
    pub nth: BTreeMap<(usize, u8, u32, u32), u32>,
    /// (ns, destination) pairs an ICMP redirect was sent to in this flow.
    pub redirected: HashSet<(usize, Ipv4Addr)>,
    /// Per-run device state (encapsulation depth).
    pub(crate) dev: device::RunState,
}

/// Devices one packet may cross. TTL (at most 255) normally ends a routing loop first; this only
/// guards loops that do not decrement TTL.
const MAX_HOPS: u32 = 300;

impl<'w> Run<'w> {
    pub(crate) fn name(&self, ns: usize) -> &'w str {
        &self.w.nss[ns].ns.name
    }

    /// Records a step when the trace level asks for them; `f` is not called otherwise.
    pub(crate) fn step(&mut self, ns: usize, f: impl FnOnce() -> StepKind) {
        if self.full {
            let kind = f();
            self.steps.push(Step { ns: self.name(ns).to_string(), kind, packet_after: None });
        }
    }

    pub(crate) fn step_pkt(&mut self, ns: usize, pkt: &Packet, f: impl FnOnce() -> StepKind) {
        if self.full {
            let kind = f();
            self.steps.push(Step { ns: self.name(ns).to_string(), kind, packet_after: Some(pkt.clone()) });
        }
    }

    /// An assumption the outcome depends on: always kept (it goes in the summary's notes).
    pub(crate) fn assume(&mut self, ns: usize, text: String) {
        if !self.notes.contains(&text) {
            self.notes.push(text.clone());
        }
        self.step(ns, || StepKind::Note { text });
    }

    /// A random choice among alternatives with these probabilities; returns the index taken.
    pub(crate) fn choose(&mut self, probs: &[f64]) -> usize {
        let c = if self.pos < self.script.len() {
            self.script[self.pos]
        } else if let Some(state) = self.rng.as_mut() {
            // splitmix64: a seeded, platform-independent draw.
            *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = *state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            let u = (z >> 11) as f64 / (1u64 << 53) as f64;
            let mut acc = 0.0;
            let mut pick = probs.iter().rposition(|p| *p > 0.0).unwrap_or(0);
            for (i, p) in probs.iter().enumerate() {
                acc += p;
                if u < acc && *p > 0.0 {
                    pick = i;
                    break;
                }
            }
            pick
        } else {
            probs.iter().position(|p| *p > 0.0).unwrap_or(0)
        };
        self.pos += 1;
        self.prob *= probs[c];
        self.made.push((c, probs.to_vec()));
        c
    }

    // ---- routing helpers ----

    pub(crate) fn push_route_steps(&mut self, ns: usize, r: &RouteResult) {
        if self.full {
            let name = self.name(ns);
            for s in &r.steps {
                let mut s = s.clone();
                if s.ns.is_empty() {
                    s.ns = name.to_string();
                }
                self.steps.push(s);
            }
        }
    }

    /// Output route for a packet (`ip_route_output_key`, or `ip_route_me_harder` when
    /// `anysrc`: a source that is not local is kept and not used as a selector).
    fn route_out(&mut self, ns: usize, skb: &Skb, anysrc: bool) -> RouteResult {
        let router = &self.w.nss[ns].router;
        let src = (!skb.pkt.src.is_unspecified()).then_some(skb.pkt.src);
        let uid = match skb.owner {
            Owner::Client => self.spec.uid,
            Owner::Kernel => Some(0),
            Owner::Server | Owner::Foreign => None,
        };
        let key = FlowKey {
            dst: skb.pkt.dst,
            src,
            iif: None,
            oif: None,
            mark: skb.mark,
            tos: skb.pkt.tos,
            proto: skb.pkt.proto,
            sport: skb.pkt.sport,
            dport: skb.pkt.dport,
            trace: self.full,
            uid,
            anysrc,
        };
        let mut r = router.output(&key);
        self.push_route_steps(ns, &r);
        self.pick_branch(&mut r);
        r
    }

    // ---- the paths ----

    /// Path C (`__ip_local_out`): LOCAL_OUT, then POSTROUTING and transmission.
    pub(crate) fn local_out(&mut self, ns: usize, mut skb: Skb, route: Option<RouteResult>) -> End {
        // A new packet starts its own hop count.
        self.hops = 0;
        let r = match route {
            Some(r) => r,
            None => self.route_out(ns, &skb, skb.owner == Owner::Kernel),
        };
        let mut out = match r.decision {
            Decision::Local { src } => {
                if skb.pkt.src.is_unspecified() {
                    skb.pkt.src = src;
                }
                OutRoute { dev: "lo".into(), nexthop: skb.pkt.dst, local: true }
            }
            Decision::Unicast { dev, nexthop, src, .. } => {
                if skb.pkt.src.is_unspecified() {
                    skb.pkt.src = src;
                }
                OutRoute { dev, nexthop, local: false }
            }
            Decision::Broadcast => return End::Indeterminate { why: format!("{}: broadcast destination {} is not modelled", self.name(ns), skb.pkt.dst) },
            Decision::Indeterminate { what } => return End::Indeterminate { why: format!("{}: {what}", self.name(ns)) },
            Decision::Fail { reason, errno, .. } => return End::SendError { ns, errno, reason },
        };
        // `nf_hook(NF_INET_LOCAL_OUT, ..., NULL, rt->dst.dev)`: `state->out` stays the original
        // route's device for every OUTPUT table, even after a reroute.
        let state_out = out.dev.clone();
        match self.run_hook(ns, Hook::LocalOut, &mut skb, None, Some(&state_out), Some(&mut out)) {
            HookEnd::Continue => {}
            HookEnd::Drop(reason) => return End::Dropped { ns, reason, local_out: true },
            HookEnd::Reject(answer) => return End::Answered { ns, answer, reason: DropReason::Rule, local_out: true },
            HookEnd::RouteFail { reason, errno } => return End::SendError { ns, errno, reason },
            HookEnd::Indet(why) => return End::Indeterminate { why },
        }
        self.post_routing(ns, skb, None, out)
    }

    /// `ip_output`: POSTROUTING with out = the route device, then transmission.
    pub(crate) fn post_routing(&mut self, ns: usize, mut skb: Skb, in_dev: Option<String>, out: OutRoute) -> End {
        let local_out = skb.iif.is_none();
        match self.run_hook(ns, Hook::PostRouting, &mut skb, in_dev.as_deref(), Some(&out.dev), Some(&mut out.clone())) {
            HookEnd::Continue => {}
            HookEnd::Drop(reason) => return End::Dropped { ns, reason, local_out },
            HookEnd::Reject(answer) => return End::Answered { ns, answer, reason: DropReason::Rule, local_out },
            HookEnd::RouteFail { reason, errno } => return End::SendError { ns, errno, reason },
            HookEnd::Indet(why) => return End::Indeterminate { why },
        }
        self.transmit(ns, skb, out)
    }

    /// Hands the packet to its output device.
    pub(crate) fn transmit(&mut self, ns: usize, mut skb: Skb, out: OutRoute) -> End {
        self.hops += 1;
        if self.hops > MAX_HOPS {
            return End::Dropped { ns, reason: DropReason::Loop, local_out: false };
        }
        if out.local || out.dev == "lo" {
            // `loopback_xmit`: re-enters `ip_rcv` on lo with its conntrack and route attached.
            self.step(ns, || StepKind::Device { dev: "lo".into(), action: "looped back".into() });
            skb.iif = Some("lo".into());
            return self.receive(ns, skb, true);
        }
        // Bridges, tunnels, veths into a bridge and underlay uplinks (engine/device).
        let mut skb = match device::transmit(self, ns, skb, &out) {
            Ok(end) => return end,
            Err(skb) => skb,
        };
        let Some(x) = device::veth::peer(self.w, ns, &out.dev) else {
            let dev = out.dev.clone();
            self.step_pkt(ns, &skb.pkt, || StepKind::Device { dev: dev.clone(), action: "sent; nothing modelled behind this device".into() });
            return End::Exited { ns, dev: out.dev, skb };
        };
        // Neighbour resolution on the far side: the nexthop must be an address the peer owns, or
        // the peer device proxies ARP (`arp.c:arp_process`), or a static entry names the peer's MAC.
        let peer = &self.w.nss[x.ns];
        let owns = peer.router.addr_type(out.nexthop, None) == RouteType::Local;
        // `arp_process` -> `arp_fwd_proxy`: a proxy answers only when it would forward the
        // nexthop (input route from the ARP's sender, forwarding on) out of another device.
        let proxy = !owns && peer.dev_flags.get(x.dev).is_some_and(|f| f.0) && {
            let me = &self.w.nss[ns].router;
            let sip = if me.addr_type(skb.pkt.src, None) == RouteType::Local { Some(skb.pkt.src) } else { me.inet_select_addr(&out.dev, out.nexthop) };
            sip.is_some_and(|sip| {
                let key = FlowKey { dst: out.nexthop, src: Some(sip), iif: Some(x.dev.to_string()), trace: false, ..FlowKey::default() };
                matches!(peer.router.input(&key).decision, Decision::Unicast { ref dev, .. } if dev != x.dev)
            })
        };
        let peer_mac = peer.ns.link(x.dev).and_then(|l| l.mac);
        let static_ok =
            self.w.nss[ns].ns.neighs.iter().any(|n| n.dst == out.nexthop && n.dev == out.dev && n.usable() && n.lladdr.is_some() && n.lladdr == peer_mac);
        if !(owns || proxy || static_ok) {
            let (nh, dev) = (out.nexthop, out.dev.clone());
            self.step(ns, || StepKind::Device { dev, action: format!("no neighbour: nobody behind the veth answers ARP for {nh}") });
            return End::Dropped { ns, reason: DropReason::NoNeighbour, local_out: false };
        }
        let (pdev, pns, xnet) = (x.dev.to_string(), x.ns, x.xnet);
        if self.full {
            let (dev, pname, pd) = (out.dev.clone(), self.name(pns).to_string(), pdev.clone());
            self.step(ns, || StepKind::Device {
                dev,
                action: format!("veth: to {pname}:{pd}{}", if xnet { " (conntrack and mark cleared)" } else { " (conntrack cleared)" }),
            });
        }
        // `skb_scrub_packet`.
        skb.ct = SkbCt::None;
        if xnet {
            skb.mark = 0;
        }
        skb.pkt.eth_src = self.w.nss[ns].ns.link(&out.dev).and_then(|l| l.mac);
        skb.pkt.eth_dst = peer_mac;
        skb.iif = Some(pdev);
        if matches!(skb.owner, Owner::Client | Owner::Server | Owner::Kernel) {
            skb.owner = Owner::Foreign;
        }
        self.receive(pns, skb, false)
    }

    /// Paths A and B: PREROUTING, the input route, then LOCAL_IN or forwarding.
    pub(crate) fn receive(&mut self, ns: usize, mut skb: Skb, looped: bool) -> End {
        let iif = skb.iif.clone().unwrap_or_else(|| "lo".into());
        // A frame arriving on a bridge port is the bridge's (`br_handle_frame`).
        if !looped {
            skb = match device::bridge::rx_hook(self, ns, skb) {
                Ok(end) => return end,
                Err(skb) => skb,
            };
        }
        match self.run_hook(ns, Hook::PreRouting, &mut skb, Some(&iif), None, None) {
            HookEnd::Continue => {}
            HookEnd::Drop(reason) => return End::Dropped { ns, reason, local_out: false },
            HookEnd::Reject(answer) => return End::Answered { ns, answer, reason: DropReason::Rule, local_out: false },
            HookEnd::RouteFail { reason, errno } => return End::SendError { ns, errno, reason },
            HookEnd::Indet(why) => return End::Indeterminate { why },
        }
        if looped {
            // The looped skb keeps the local route it was sent with (`ip_rcv_finish`: valid dst).
            return self.local_in(ns, skb, &iif);
        }
        self.route_in(ns, skb, iif)
    }

    /// `ip_rcv_finish` after PREROUTING: the input route, then LOCAL_IN or forwarding (also the
    /// entry for frames passed up by a bridge whose PREROUTING already ran, `ip_sabotage_in`).
    pub(crate) fn route_in(&mut self, ns: usize, skb: Skb, iif: String) -> End {
        let key = FlowKey {
            dst: skb.pkt.dst,
            src: Some(skb.pkt.src),
            iif: Some(iif.clone()),
            oif: None,
            mark: skb.mark,
            tos: skb.pkt.tos,
            proto: skb.pkt.proto,
            sport: skb.pkt.sport,
            dport: skb.pkt.dport,
            trace: self.full,
            uid: Some(0),
            anysrc: false,
        };
        let mut r = self.w.nss[ns].router.input(&key);
        self.push_route_steps(ns, &r);
        self.pick_branch(&mut r);
        let redirect = r.redirect;
        match r.decision {
            Decision::Indeterminate { what } => End::Indeterminate { why: format!("{}: {what}", self.name(ns)) },
            Decision::Local { .. } => self.local_in(ns, skb, &iif),
            Decision::Unicast { dev, nexthop, .. } => self.forward(ns, skb, iif, OutRoute { dev, nexthop, local: false }, redirect),
            Decision::Broadcast => End::Indeterminate { why: format!("{}: broadcast/multicast delivery of {} is not modelled", self.name(ns), skb.pkt.dst) },
            Decision::Fail { reason, icmp, .. } => match icmp {
                Some((t, c)) => match self.icmp_error(ns, &skb, t, c) {
                    Some(a) => End::Answered { ns, answer: Box::new(a), reason, local_out: false },
                    None => End::Dropped { ns, reason, local_out: false },
                },
                None => End::Dropped { ns, reason, local_out: false },
            },
        }
    }

    pub(crate) fn local_in(&mut self, ns: usize, mut skb: Skb, iif: &str) -> End {
        match self.run_hook(ns, Hook::LocalIn, &mut skb, Some(iif), None, None) {
            // A VXLAN or IPIP packet for this host is decapsulated (engine/device).
            HookEnd::Continue => match device::decap(self, ns, skb) {
                Ok(end) => end,
                Err(skb) => End::Local { ns, skb },
            },
            HookEnd::Drop(reason) => End::Dropped { ns, reason, local_out: false },
            HookEnd::Reject(answer) => End::Answered { ns, answer, reason: DropReason::Rule, local_out: false },
            HookEnd::RouteFail { reason, errno } => End::SendError { ns, errno, reason },
            HookEnd::Indet(why) => End::Indeterminate { why },
        }
    }

    /// `ip_forward`: TTL check and decrement, FORWARD, then `ip_output`.
    fn forward(&mut self, ns: usize, mut skb: Skb, iif: String, out: OutRoute, redirect: Option<bool>) -> End {
        if skb.pkt.ttl <= 1 {
            self.step(ns, || StepKind::Note { text: "TTL expired in forwarding (ip_forward): ICMP time exceeded".into() });
            return match self.icmp_error(ns, &skb, 11, 0) {
                Some(a) => End::Answered { ns, answer: Box::new(a), reason: DropReason::TtlExpired, local_out: false },
                None => End::Dropped { ns, reason: DropReason::TtlExpired, local_out: false },
            };
        }
        skb.pkt.ttl -= 1;
        self.maybe_redirect(ns, &skb, &iif, &out, redirect);
        match self.run_hook(ns, Hook::Forward, &mut skb, Some(&iif), Some(&out.dev), None) {
            HookEnd::Continue => {}
            HookEnd::Drop(reason) => return End::Dropped { ns, reason, local_out: false },
            HookEnd::Reject(answer) => return End::Answered { ns, answer, reason: DropReason::Rule, local_out: false },
            HookEnd::RouteFail { reason, errno } => return End::SendError { ns, errno, reason },
            HookEnd::Indet(why) => return End::Indeterminate { why },
        }
        self.post_routing(ns, skb, Some(iif), out)
    }

    /// `__mkroute_input` flags IPSKB_DOREDIRECT when a packet leaves by the device it came in on
    /// toward a nexthop on-link with its source, and `ip_forward` then sends an ICMP redirect
    /// (`ip_rt_send_redirect`) before FORWARD. That also stamps the peer's `rate_last`, so an ICMP
    /// error to the same host right after it is suppressed by `icmpv4_xrlim_allow`.
    fn maybe_redirect(&mut self, ns: usize, skb: &Skb, iif: &str, out: &OutRoute, routed: Option<bool>) {
        if out.dev != iif || routed == Some(false) {
            return;
        }
        let nsd = &self.w.nss[ns].ns;
        let tx = self.w.nss[ns].dev_flags.get(iif).is_some_and(|f| f.1);
        if !tx {
            return;
        }
        let onlink = |a: Ipv4Addr| nsd.addrs_of(iif).any(|x| ipnet::Ipv4Net::new(x.local, x.prefix_len).map(|n| n.contains(&a)).unwrap_or(false));
        if routed.is_none() && !(onlink(skb.pkt.src) && onlink(out.nexthop)) {
            return;
        }
        let (src, nh) = (skb.pkt.src, out.nexthop);
        self.redirected.insert((ns, src));
        self.step(ns, || StepKind::Note {
            text: format!("the packet leaves by its input device {iif}: ICMP redirect to {src} (gateway {nh}) sent by ip_forward"),
        });
    }

    // ---- hooks ----

    pub(crate) fn run_hook(
        &mut self,
        ns: usize,
        hook: Hook,
        skb: &mut Skb,
        in_dev: Option<&str>,
        state_out: Option<&str>,
        mut route: Option<&mut OutRoute>,
    ) -> HookEnd {
        for (_, stage) in hooks::stages(hook) {
            match *stage {
                Stage::Table(t) => {
                    if self.w.nss[ns].table(t).is_none() {
                        continue;
                    }
                    let before = (skb.pkt.src, skb.pkt.dst, skb.mark, skb.pkt.tos);
                    match self.walk(ns, t, hook, skb, in_dev, state_out) {
                        crate::engine::chain::Verdict::Accept => {}
                        crate::engine::chain::Verdict::Drop(reason) => return HookEnd::Drop(reason),
                        crate::engine::chain::Verdict::Reject(with) => {
                            return match self.reject_answer(ns, skb, with) {
                                Some(a) => HookEnd::Reject(Box::new(a)),
                                None => HookEnd::Drop(DropReason::Rule),
                            }
                        }
                        crate::engine::chain::Verdict::Nat(..) => {
                            return HookEnd::Indet(format!("{}: a NAT target in the {} table is not valid", self.name(ns), t.as_str()))
                        }
                        crate::engine::chain::Verdict::Indet(why) => return HookEnd::Indet(why),
                    }
                    // `ipt_mangle_out`: a changed address, mark or TOS reroutes.
                    if t == TableName::Mangle && hook == Hook::LocalOut && before != (skb.pkt.src, skb.pkt.dst, skb.mark, skb.pkt.tos) {
                        if let Some(r) = route.as_deref_mut() {
                            if let Err(e) = self.reroute(ns, skb, r, "mangle OUTPUT changed the packet") {
                                return e;
                            }
                        }
                    }
                }
                Stage::Conntrack => self.ct_in(ns, skb),
                Stage::Nat => {
                    let dst_before = skb.pkt.dst;
                    // Rules test `state->out`; MASQUERADE uses the current route's device.
                    let route_dev = route.as_deref().map(|r| r.dev.clone());
                    let nexthop = route.as_deref().map(|r| r.nexthop);
                    if let Some(e) = self.nat_hook(ns, hook, skb, in_dev, state_out, route_dev.as_deref(), nexthop) {
                        return e;
                    }
                    // `nf_nat_ipv4_local_fn`: a changed destination reroutes.
                    if hook == Hook::LocalOut && skb.pkt.dst != dst_before {
                        if let Some(r) = route.as_deref_mut() {
                            if let Err(e) = self.reroute(ns, skb, r, "nat OUTPUT changed the destination") {
                                return e;
                            }
                        }
                    }
                }
                Stage::Confirm => self.confirm(ns, skb),
            }
        }
        HookEnd::Continue
    }

    /// `ip_route_me_harder`: a fresh output lookup that keeps a local or unicast source.
    fn reroute(&mut self, ns: usize, skb: &mut Skb, route: &mut OutRoute, why: &str) -> Result<(), HookEnd> {
        let why = why.to_string();
        self.step(ns, || StepKind::Note { text: format!("reroute (ip_route_me_harder): {why}") });
        let r = self.route_out(ns, skb, true);
        match r.decision {
            Decision::Local { .. } => {
                *route = OutRoute { dev: "lo".into(), nexthop: skb.pkt.dst, local: true };
                Ok(())
            }
            Decision::Unicast { dev, nexthop, .. } => {
                *route = OutRoute { dev, nexthop, local: false };
                Ok(())
            }
            Decision::Broadcast => Err(HookEnd::Indet("reroute to a broadcast destination is not modelled".into())),
            Decision::Indeterminate { what } => Err(HookEnd::Indet(what)),
            Decision::Fail { reason, errno, .. } => Err(HookEnd::RouteFail { reason, errno }),
        }
    }

    /// Multipath: one branch per live nexthop, enumerated like any other random choice.
    pub(crate) fn pick_branch(&mut self, r: &mut RouteResult) {
        if r.branches.len() < 2 {
            return;
        }
        let probs: Vec<f64> = r.branches.iter().map(|b| b.0).collect();
        let i = self.choose(&probs);
        let (_, d, redirect) = r.branches[i].clone();
        r.decision = d;
        r.redirect = Some(redirect);
    }

    // ---- conntrack ----

    /// Copies an imported entry into the flow's store on first touch.
    fn touch_imported(&mut self, ns: usize, idx: usize) -> usize {
        if let Some(&(_, _, id)) = self.imported.iter().find(|(n, i, _)| *n == ns && *i == idx) {
            return id;
        }
        let e = &self.w.nss[ns].ns.conntrack[idx];
        let id = self.ct.push(Conn::from_entry(ns, e));
        self.imported.push((ns, idx, id));
        id
    }

    /// Finds a confirmed entry with tuple `t`: flow-created first, then imported.
    pub(crate) fn ct_find(&mut self, ns: usize, zone: u16, proto: u8, t: &crate::model::conntrack::CtTuple) -> Option<(usize, usize)> {
        if let Some(found) = self.ct.find_local(ns, zone, proto, t) {
            return Some(found);
        }
        let &(idx, dir) = self.w.nss[ns].ct_index.get(&(proto, zone, *t))?;
        let id = self.touch_imported(ns, idx);
        Some((id, dir))
    }

    /// Whether a tuple is in use by an entry other than `me` (`nf_conntrack_tuple_taken`).
    pub(crate) fn ct_taken(&self, ns: usize, zone: u16, proto: u8, t: &crate::model::conntrack::CtTuple, me: usize) -> bool {
        let local = self
            .ct
            .conns
            .iter()
            .enumerate()
            .any(|(i, c)| i != me && c.ns == ns && c.zone == zone && c.proto == proto && c.confirmed && (c.tuple[0] == *t || c.tuple[1] == *t));
        local
            || self.w.nss[ns].ct_index.get(&(proto, zone, *t)).is_some_and(|(idx, _)| {
                // An imported entry we already copied is `me` only if it is the same entry.
                !self.imported.iter().any(|(n, i, id)| *n == ns && i == idx && *id == me)
            })
    }

    /// `nf_conntrack_in`.
    fn ct_in(&mut self, ns: usize, skb: &mut Skb) {
        if !self.w.nss[ns].ct_enabled {
            // No conntrack hooks in this namespace: the packet stays without one.
            return;
        }
        let zone = match skb.ct {
            SkbCt::Tracked { .. } | SkbCt::Untracked => return,
            SkbCt::Template { zone } => zone,
            SkbCt::None | SkbCt::Invalid => 0,
        };
        let proto = skb.pkt.proto;
        if proto == IPPROTO_ICMP && ctk::icmp_is_error(skb.pkt.icmp_type) {
            // `icmp_error_message`: the embedded packet's inverted tuple names the connection.
            if let Some(inner) = skb.inner.clone() {
                let it = ctk::invert(inner.proto, &ctk::tuple_of(&inner));
                if let Some((id, dir)) = self.ct_find(ns, zone, inner.proto, &it) {
                    let info = if dir == 1 { CtInfo::RelatedReply } else { CtInfo::Related };
                    skb.ct = SkbCt::Tracked { id, info };
                    let c = &self.ct.conns[id];
                    let (o, r) = if self.full { (ctk::fmt_tuple(c.proto, &c.tuple[0]), ctk::fmt_tuple(c.proto, &c.tuple[1])) } else { Default::default() };
                    self.step(ns, || StepKind::Conntrack { state: "RELATED".into(), orig: o, reply: r });
                    return;
                }
            }
            skb.ct = SkbCt::Invalid;
            self.step(ns, || StepKind::Conntrack { state: "INVALID".into(), orig: "ICMP error matching no confirmed entry".into(), reply: String::new() });
            return;
        }
        let t = ctk::tuple_of(&skb.pkt);
        if let Some((id, dir)) = self.ct_find(ns, zone, proto, &t) {
            let c = &self.ct.conns[id];
            if proto == IPPROTO_TCP
                && dir == 0
                && !c.seen_reply
                && c.imported_line.is_none()
                && skb.pkt.tcp_flags & tf::SYN == 0
                && skb.pkt.tcp_flags & tf::RST == 0
            {
                // `tcp_conntracks`: an original-direction ACK in SYN_SENT is sIV: the tracker
                // refuses it and the packet goes on without a conntrack.
                skb.ct = SkbCt::Invalid;
                self.step(ns, || StepKind::Conntrack {
                    state: "INVALID".into(),
                    orig: "an ACK for a connection whose SYN/ACK this namespace never saw (SYN_SENT -> invalid)".into(),
                    reply: String::new(),
                });
                return;
            }
            let info = if dir == 1 {
                self.ct.conns[id].seen_reply = true;
                CtInfo::EstablishedReply
            } else if self.ct.conns[id].seen_reply {
                CtInfo::Established
            } else {
                CtInfo::New
            };
            skb.ct = SkbCt::Tracked { id, info };
            let c = &self.ct.conns[id];
            let (o, r) = if self.full { (ctk::fmt_tuple(c.proto, &c.tuple[0]), ctk::fmt_tuple(c.proto, &c.tuple[1])) } else { Default::default() };
            let line = c.imported_line;
            let state = match info {
                CtInfo::New => "NEW (existing entry, no reply seen)",
                CtInfo::Established => "ESTABLISHED",
                _ => "ESTABLISHED (reply direction)",
            };
            self.step(ns, || StepKind::Conntrack {
                state: match line {
                    Some(l) => format!("{state}, imported entry at conntrack line {l}"),
                    None => state.to_string(),
                },
                orig: o,
                reply: r,
            });
            return;
        }
        let loose = self.w.nss[ns].tcp_loose;
        match ctk::can_create(&skb.pkt, loose) {
            Ok(()) => {
                let conn = Conn {
                    ns,
                    zone,
                    proto,
                    tuple: [t, ctk::invert(proto, &t)],
                    seen_reply: false,
                    assured: false,
                    confirmed: false,
                    src_nat: false,
                    dst_nat: false,
                    src_nat_done: false,
                    dst_nat_done: false,
                    mark: 0,
                    imported_line: None,
                    masq_dev: None,
                };
                let (o, r) = if self.full { (ctk::fmt_tuple(proto, &conn.tuple[0]), ctk::fmt_tuple(proto, &conn.tuple[1])) } else { Default::default() };
                let id = self.ct.push(conn);
                skb.ct = SkbCt::Tracked { id, info: CtInfo::New };
                self.step(ns, || StepKind::Conntrack { state: "NEW".into(), orig: o, reply: r });
            }
            Err(why) => {
                skb.ct = SkbCt::Invalid;
                self.step(ns, || StepKind::Conntrack { state: "INVALID".into(), orig: why.to_string(), reply: String::new() });
            }
        }
    }

    /// `nf_confirm` at INT_MAX.
    fn confirm(&mut self, ns: usize, skb: &mut Skb) {
        if let SkbCt::Tracked { id, .. } = skb.ct {
            let c = &mut self.ct.conns[id];
            if !c.confirmed {
                c.confirmed = true;
                // A binding not made by now is a null binding (`nf_nat_alloc_null_binding`).
                c.src_nat_done = true;
                c.dst_nat_done = true;
                let (o, r) = if self.full { (ctk::fmt_tuple(c.proto, &c.tuple[0]), ctk::fmt_tuple(c.proto, &c.tuple[1])) } else { Default::default() };
                self.step(ns, || StepKind::Conntrack { state: "confirmed".into(), orig: o, reply: r });
            }
        }
    }

    // ---- answers ----

    /// The packet `REJECT` sends (`nf_send_reset`, `nf_send_unreach`).
    fn reject_answer(&mut self, ns: usize, skb: &Skb, with: RejectWith) -> Option<Skb> {
        match with.icmp_code() {
            None => {
                if skb.pkt.proto != IPPROTO_TCP || skb.pkt.tcp_flags & tf::RST != 0 || skb.pkt.frag_off != 0 {
                    return None;
                }
                let p = &skb.pkt;
                let flags = if p.tcp_flags & tf::ACK != 0 { tf::RST } else { tf::RST | tf::ACK };
                let pkt = Packet {
                    src: p.dst,
                    dst: p.src,
                    sport: p.dport,
                    dport: p.sport,
                    tcp_flags: flags,
                    ttl: self.default_ttl(ns),
                    len: 40,
                    eth_src: None,
                    eth_dst: None,
                    ..p.clone()
                };
                // `nf_ct_attach`: the reset carries the original's conntrack, direction flipped.
                let ct = match skb.ct {
                    SkbCt::Tracked { id, info } => SkbCt::Tracked { id, info: if info.is_reply() { CtInfo::Related } else { CtInfo::RelatedReply } },
                    _ => SkbCt::None,
                };
                Some(Skb { pkt, mark: 0, iif: None, ct, inner: None, owner: Owner::Kernel, l2: Default::default() })
            }
            Some(code) => self.icmp_error(ns, skb, 3, code),
        }
    }

    fn default_ttl(&self, ns: usize) -> u8 {
        self.w.nss[ns].default_ttl
    }

    /// `__icmp_send`: no errors about ICMP errors, non-first fragments or broadcasts. The source
    /// is the offending packet's destination when that is local, else chosen by the route.
    fn icmp_error(&mut self, ns: usize, skb: &Skb, t: u8, code: u8) -> Option<Skb> {
        let p = &skb.pkt;
        if (p.proto == IPPROTO_ICMP && ctk::icmp_is_error(p.icmp_type)) || p.frag_off != 0 || p.dst.is_broadcast() || p.dst.is_multicast() {
            return None;
        }
        let local = self.w.nss[ns].router.addr_type(p.dst, None) == RouteType::Local;
        let src = if local { p.dst } else { Ipv4Addr::UNSPECIFIED };
        let dst = p.src;
        if matches!(t, 3 | 4 | 11 | 12) && self.redirected.contains(&(ns, dst)) {
            self.step(ns, || StepKind::Note {
                text: format!(
                    "ICMP type {t} code {code} to {dst} is suppressed: the redirect just sent to {dst} used up its rate-limit tokens (icmpv4_xrlim_allow)"
                ),
            });
            return None;
        }
        self.step(ns, || StepKind::Note {
            text: format!("ICMP type {t} code {code} to {dst}; such errors are rate-limited per destination (icmp_ratelimit, icmpv4_xrlim_allow): nfpath assumes it is sent")
        });
        let pkt = Packet {
            src,
            dst: p.src,
            proto: IPPROTO_ICMP,
            sport: 0,
            dport: 0,
            icmp_type: t,
            icmp_code: code,
            tcp_flags: 0,
            ttl: self.default_ttl(ns),
            tos: 0xc0,
            len: 56,
            frag_off: 0,
            eth_src: None,
            eth_dst: None,
        };
        // `icmp_glue_bits` -> `nf_ct_attach`: an ICMP error carries the offending packet's
        // conntrack (even an unconfirmed one), direction flipped, like REJECT's reset.
        let ct = match skb.ct {
            SkbCt::Tracked { id, info } => SkbCt::Tracked { id, info: if info.is_reply() { CtInfo::Related } else { CtInfo::RelatedReply } },
            _ => SkbCt::None,
        };
        Some(Skb { pkt, mark: 0, iif: None, ct, inner: Some(p.clone()), owner: Owner::Kernel, l2: Default::default() })
    }
}

// ---- the connection ----

/// What one run decided.
struct Fate {
    result: ClientResult,
    at: Option<String>,
    seen: Option<Seen>,
    disposition: Disposition,
    reason: Option<DropReason>,
    indeterminate: Option<String>,
    summary: String,
}

fn fmt_ep(ip: Ipv4Addr, port: u16, proto: u8) -> String {
    if proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == crate::model::packet::IPPROTO_SCTP {
        format!("{ip}:{port}")
    } else {
        ip.to_string()
    }
}

fn proto_str(p: u8) -> String {
    crate::model::types::proto_name(p).map(str::to_string).unwrap_or_else(|| p.to_string())
}

/// `icmp_err_convert`: errno and whether the error is "fatal" (reported on unconnected-style
/// UDP sockets without IP_RECVERR).
fn icmp_errno(t: u8, code: u8) -> (&'static str, bool) {
    if t == 11 {
        return ("EHOSTUNREACH", false);
    }
    match code {
        0 => ("ENETUNREACH", false),
        1 => ("EHOSTUNREACH", false),
        2 => ("ENOPROTOOPT", true),
        3 => ("ECONNREFUSED", true),
        4 => ("EMSGSIZE", false),
        5 => ("EOPNOTSUPP", false),
        6 => ("ENETUNREACH", true),
        7 => ("EHOSTDOWN", true),
        8 => ("ENONET", true),
        9 => ("ENETUNREACH", true),
        10 => ("EHOSTUNREACH", true),
        11 => ("ENETUNREACH", false),
        12 => ("EHOSTUNREACH", false),
        _ => ("EHOSTUNREACH", true),
    }
}

fn errno_result(e: &str) -> ClientResult {
    if e == "ECONNREFUSED" {
        ClientResult::Refused
    } else {
        ClientResult::Error(e.to_string())
    }
}

impl<'w> Run<'w> {
    pub(crate) fn new(w: &'w World, spec: &'w FlowSpec, opts: &RunOptions, script: Vec<usize>) -> Run<'w> {
        Run {
            w,
            full: opts.trace == TraceLevel::Full,
            plain_walk: opts.plain_walk,
            ct: CtStore::default(),
            imported: Vec::new(),
            steps: Vec::new(),
            notes: Vec::new(),
            script,
            pos: 0,
            made: Vec::new(),
            prob: 1.0,
            rng: opts.seed,
            hops: 0,
            spec,
            recent: HashSet::new(),
            nth: BTreeMap::new(),
            redirected: HashSet::new(),
            dev: Default::default(),
        }
    }

    fn fate_indet(why: String) -> Fate {
        Fate {
            result: ClientResult::Indeterminate,
            at: None,
            seen: None,
            disposition: Disposition::Indeterminate,
            reason: None,
            summary: format!("nfpath cannot decide: {why}"),
            indeterminate: Some(why),
        }
    }

    /// The client's view of the request tuple, for matching what comes back.
    fn conversation(&mut self) -> Fate {
        let spec = self.spec;
        let proto = spec.proto;
        let (ns, mut skb, route, inject_iif) = match &spec.from {
            FlowFrom::Client { ns, src } => {
                let Some(&nsi) = self.w.index.get(ns) else {
                    return Self::fate_indet(format!("no namespace {ns:?}"));
                };
                let sport = spec.sport.unwrap_or_else(|| self.ephemeral(nsi));
                let pkt = self.request_packet(src.unwrap_or(Ipv4Addr::UNSPECIFIED), sport);
                let skb = Skb { pkt, mark: spec.mark, iif: None, ct: SkbCt::None, inner: None, owner: Owner::Client, l2: Default::default() };
                let mut r = self.route_out(nsi, &skb, false);
                // `ip_route_connect`: a TCP or UDP socket without a bound source looks up once to
                // pick one, then again from it, and uses the second route (a policy rule on the
                // source can send it elsewhere). A raw socket, as ping's, looks up once.
                if src.is_none() && proto != IPPROTO_ICMP {
                    if let Decision::Local { src: s } | Decision::Unicast { src: s, .. } = r.decision {
                        let mut again = skb.clone();
                        again.pkt.src = s;
                        r = self.route_out(nsi, &again, false);
                    }
                }
                (nsi, skb, Some(r), None)
            }
            FlowFrom::Inject { ns, src, iif } => {
                let Some(&nsi) = self.w.index.get(ns) else {
                    return Self::fate_indet(format!("no namespace {ns:?}"));
                };
                if self.w.nss[nsi].ns.link(iif).is_none() {
                    return Self::fate_indet(format!("namespace {ns} has no device {iif}"));
                }
                let sport = spec.sport.unwrap_or(40000);
                let pkt = self.request_packet(*src, sport);
                let skb = Skb { pkt, mark: 0, iif: Some(iif.clone()), ct: SkbCt::None, inner: None, owner: Owner::Foreign, l2: Default::default() };
                (nsi, skb, None, Some(iif.clone()))
            }
        };
        // The source the client ends up with (chosen by its route).
        if let Some(r) = &route {
            match &r.decision {
                Decision::Local { src } | Decision::Unicast { src, .. } => {
                    if skb.pkt.src.is_unspecified() {
                        skb.pkt.src = *src;
                    }
                }
                Decision::Fail { reason, errno, .. } => {
                    let (reason, errno) = (*reason, *errno);
                    return Fate {
                        result: ClientResult::Error(errno.into()),
                        at: None,
                        seen: None,
                        disposition: Disposition::Dropped,
                        reason: Some(reason),
                        indeterminate: None,
                        summary: format!("the client's own routing refuses the destination ({}): connect/send fails with {errno}", reason.as_str()),
                    };
                }
                Decision::Indeterminate { what } => return Self::fate_indet(what.clone()),
                Decision::Broadcast => {}
            }
        }
        let client = skb.pkt.clone();
        self.step_pkt(ns, &client, || StepKind::Note {
            text: format!("request {} -> {} {}", fmt_ep(client.src, client.sport, proto), fmt_ep(client.dst, client.dport, proto), proto_str(proto)),
        });
        let end = match route {
            Some(r) => self.local_out(ns, skb, Some(r)),
            None => self.receive(ns, skb, false),
        };
        self.after_request(ns, &client, inject_iif.as_deref(), end)
    }

    /// The handshake's third packet: `connect()` has already succeeded, but the server accepts
    /// only if the client's ACK reaches it.
    fn final_ack(&mut self, cns: usize, client: &Packet, sns: usize, seen: &Packet, f: &mut Fate) {
        let pkt = Packet { tcp_flags: tf::ACK, len: 52, ..client.clone() };
        let skb = Skb { pkt, mark: self.spec.mark, iif: None, ct: SkbCt::None, inner: None, owner: Owner::Client, l2: Default::default() };
        self.step(cns, || StepKind::Note { text: "the client completes the handshake with an ACK".into() });
        let end = self.local_out(cns, skb, None);
        let ok = matches!(&end, End::Local { ns, skb } if *ns == sns && skb.pkt.src == seen.src && skb.pkt.dst == seen.dst && skb.pkt.sport == seen.sport && skb.pkt.dport == seen.dport);
        if let End::Answered { ns, answer, .. } = &end {
            if answer.pkt.proto == IPPROTO_TCP && answer.pkt.tcp_flags & tf::RST != 0 {
                // A reset for the ACK (`REJECT --reject-with tcp-reset`) is back before the
                // client's connect() returns (between namespaces it is handled in the same
                // softirq): `tcp_reset` sets ECONNRESET, which is what connect() reports.
                let (ns, answer) = (*ns, (**answer).clone());
                let end2 = self.local_out(ns, answer, None);
                let back = self.client_sees(cns, client, None, end2, false);
                if back.result == ClientResult::Refused {
                    f.result = ClientResult::Error("ECONNRESET".into());
                    f.disposition = Disposition::Rejected;
                    f.reason = Some(DropReason::Rule);
                    f.summary = format!("the handshake completes, but the client's final ACK is answered with a reset from {}: ECONNRESET", self.name(ns));
                    return;
                }
            }
        }
        if !ok {
            let why = match &end {
                End::Dropped { ns, reason, .. } | End::Answered { ns, reason, .. } => format!("is dropped in {} ({})", self.name(*ns), reason.as_str()),
                End::SendError { ns, errno, .. } => format!("cannot be routed in {} ({errno})", self.name(*ns)),
                End::Exited { ns, dev, .. } => format!("leaves {} via {dev}", self.name(*ns)),
                End::Local { ns, .. } => format!("ends in {}", self.name(*ns)),
                End::Indeterminate { why } => format!("cannot be followed ({why})"),
            };
            f.summary = format!("connect() succeeds, but the client's final ACK {why}, so the server never accepts the connection");
        }
    }

    fn ephemeral(&mut self, ns: usize) -> u16 {
        let lo = self.w.nss[ns].port_lo;
        self.assume(ns, format!("client source port {lo} (the low end of ip_local_port_range; the kernel picks one at random)"));
        lo
    }

    fn request_packet(&self, src: Ipv4Addr, sport: u16) -> Packet {
        let spec = self.spec;
        let (tcp_flags, icmp_type, len, sport, dport) = match spec.proto {
            IPPROTO_TCP => (tf::SYN, 0, 60, sport, spec.dport),
            IPPROTO_UDP => (0, 0, 29, sport, spec.dport),
            IPPROTO_ICMP => (0, 8, 84, sport, 0),
            _ => (0, 0, 20, 0, 0),
        };
        Packet {
            src,
            dst: spec.dst,
            proto: spec.proto,
            sport,
            dport,
            icmp_type,
            icmp_code: 0,
            tcp_flags,
            ttl: 64,
            tos: 0,
            len,
            frag_off: 0,
            eth_src: None,
            eth_dst: None,
        }
    }

    fn listening(&mut self, ns: usize, p: &Packet) -> bool {
        if p.proto == IPPROTO_ICMP {
            // `icmp_echo`: the kernel answers echo requests itself.
            return p.icmp_type == 8;
        }
        match &self.w.nss[ns].ns.sockets {
            None => {
                let pr = proto_str(p.proto);
                self.assume(ns, format!("no socket list imported for {}: {pr} port {} is assumed to listen", self.name(ns), p.dport));
                true
            }
            Some(socks) => socks.iter().any(|s| s.proto == p.proto && s.port == p.dport && s.local.is_none_or(|a| a == p.dst)),
        }
    }

    fn after_request(&mut self, cns: usize, client: &Packet, inject_iif: Option<&str>, end: End) -> Fate {
        let proto = client.proto;
        match end {
            End::Local { ns, skb } => {
                let at = Some(self.name(ns).to_string());
                let p = skb.pkt.clone();
                let seen = Some(Seen { src: fmt_ep(p.src, p.sport, proto), dst: fmt_ep(p.dst, p.dport, proto), proto: proto_str(proto) });
                if self.listening(ns, &p) {
                    self.step(ns, || StepKind::Device { dev: "socket".into(), action: format!("delivered to a listening {} socket", proto_str(proto)) });
                    let reply_pkt = Packet {
                        src: p.dst,
                        dst: p.src,
                        // `icmp_echo` answers with the request's id (kept in `sport`, as the
                        // conntrack tuple has it); TCP and UDP swap the ports.
                        sport: if proto == IPPROTO_ICMP { p.sport } else { p.dport },
                        dport: if proto == IPPROTO_ICMP { p.dport } else { p.sport },
                        tcp_flags: if proto == IPPROTO_TCP { tf::SYN | tf::ACK } else { 0 },
                        icmp_type: if proto == IPPROTO_ICMP { 0 } else { p.icmp_type },
                        ttl: self.default_ttl(ns),
                        eth_src: None,
                        eth_dst: None,
                        ..p.clone()
                    };
                    let owner = if proto == IPPROTO_ICMP { Owner::Kernel } else { Owner::Server };
                    let reply = Skb { pkt: reply_pkt, mark: 0, iif: None, ct: SkbCt::None, inner: None, owner, l2: Default::default() };
                    let end2 = self.local_out(ns, reply, None);
                    let mut f = self.client_sees(cns, client, inject_iif, end2, true);
                    if f.result == ClientResult::Connected && proto == IPPROTO_TCP && inject_iif.is_none() {
                        self.final_ack(cns, client, ns, &p, &mut f);
                    }
                    f.at = at;
                    f.seen = seen;
                    f
                } else {
                    self.step(ns, || StepKind::Device { dev: "socket".into(), action: "no listening socket".into() });
                    let answer = if proto == IPPROTO_TCP {
                        let pkt = Packet {
                            src: p.dst,
                            dst: p.src,
                            sport: p.dport,
                            dport: p.sport,
                            tcp_flags: tf::RST | tf::ACK,
                            ttl: self.default_ttl(ns),
                            len: 40,
                            eth_src: None,
                            eth_dst: None,
                            ..p.clone()
                        };
                        Some(Skb { pkt, mark: 0, iif: None, ct: SkbCt::None, inner: None, owner: Owner::Kernel, l2: Default::default() })
                    } else {
                        // `__udp4_lib_rcv` drops the packet's conntrack (`nf_reset_ct`) before
                        // `icmp_send`, so this error carries none: conntrack finds it RELATED at
                        // LOCAL_OUT, after the raw table has seen it without one.
                        let bare = Skb { ct: SkbCt::None, ..skb.clone() };
                        self.icmp_error(ns, &bare, 3, 3)
                    };
                    let mut f = match answer {
                        Some(a) => {
                            let end2 = self.local_out(ns, a, None);
                            self.client_sees(cns, client, inject_iif, end2, false)
                        }
                        None => Fate {
                            result: ClientResult::Timeout,
                            at: None,
                            seen: None,
                            disposition: Disposition::Dropped,
                            reason: Some(DropReason::NoListener),
                            indeterminate: None,
                            summary: "no socket listens and no answer is sent".into(),
                        },
                    };
                    if f.disposition == Disposition::Rejected {
                        f.reason = Some(DropReason::NoListener);
                        f.summary = format!("{} has no listener on {}: {}", self.name(ns), fmt_ep(p.dst, p.dport, proto), f.summary);
                    }
                    f.at = at;
                    f.seen = seen;
                    f
                }
            }
            End::Dropped { ns, reason, local_out } => {
                if ns == cns && local_out && inject_iif.is_none() && proto != IPPROTO_TCP {
                    // `ip_local_out` returns -EPERM for NF_DROP; `send()` reports it at once.
                    return Fate {
                        result: ClientResult::Error("EPERM".into()),
                        at: None,
                        seen: None,
                        disposition: Disposition::Dropped,
                        reason: Some(reason),
                        indeterminate: None,
                        summary: format!("the client's own OUTPUT path drops the request ({}): send() fails with EPERM", reason.as_str()),
                    };
                }
                Fate {
                    result: ClientResult::Timeout,
                    at: None,
                    seen: None,
                    disposition: Disposition::Dropped,
                    reason: Some(reason),
                    indeterminate: None,
                    summary: format!("the request is dropped in {} ({}), so the client times out", self.name(ns), reason.as_str()),
                }
            }
            End::Answered { ns, answer, reason, local_out } => {
                if ns == cns && local_out && inject_iif.is_none() && proto != IPPROTO_TCP {
                    return Fate {
                        result: ClientResult::Error("EPERM".into()),
                        at: None,
                        seen: None,
                        disposition: Disposition::Rejected,
                        reason: Some(reason),
                        indeterminate: None,
                        summary: "the client's own OUTPUT path rejects the request: send() fails with EPERM".into(),
                    };
                }
                let rname = self.name(ns).to_string();
                let end2 = self.local_out(ns, *answer, None);
                let mut f = self.client_sees(cns, client, inject_iif, end2, false);
                if f.disposition == Disposition::Rejected {
                    f.reason = Some(reason);
                    f.summary = format!("the request is refused in {rname} ({}): {}", reason.as_str(), f.summary);
                }
                f
            }
            // A reroute that fails in the client's own OUTPUT path (after a DNAT or a mark) makes
            // `ip_local_out` return the error: `send()` reports it, but `tcp_connect` ignores
            // every transmit error except ECONNREFUSED and leaves the SYN to its retransmit timer.
            End::SendError { ns, errno, reason } => Fate {
                result: if ns == cns && inject_iif.is_none() && proto != IPPROTO_TCP { ClientResult::Error(errno.into()) } else { ClientResult::Timeout },
                at: None,
                seen: None,
                disposition: Disposition::Dropped,
                reason: Some(reason),
                indeterminate: None,
                summary: format!("routing in {} fails ({}, {errno})", self.name(ns), reason.as_str()),
            },
            End::Exited { ns, dev, .. } => {
                let why = format!("the request leaves {} via {dev}, where nothing is modelled", self.name(ns));
                Fate { disposition: Disposition::Exited, ..Self::fate_indet(why) }
            }
            End::Indeterminate { why } => Self::fate_indet(why),
        }
    }

    /// What the client makes of the packet that comes back (`reply`: the server's answer, else a
    /// kernel error answer).
    fn client_sees(&mut self, cns: usize, client: &Packet, inject_iif: Option<&str>, end: End, reply: bool) -> Fate {
        let proto = client.proto;
        let arrived = match end {
            End::Local { ns, skb } if ns == cns && inject_iif.is_none() => Some(skb),
            End::Exited { ns, dev, skb } if ns == cns && inject_iif == Some(dev.as_str()) => Some(skb),
            End::Local { ns, skb } | End::Exited { ns, skb, .. } => {
                let n = self.name(ns).to_string();
                let p = skb.pkt;
                return Fate {
                    result: ClientResult::Timeout,
                    at: None,
                    seen: None,
                    disposition: Disposition::Dropped,
                    reason: None,
                    indeterminate: None,
                    summary: format!("the {} from {} ends in {n}, not at the client", if reply { "reply" } else { "answer" }, p.src),
                };
            }
            End::Dropped { ns, reason, .. } | End::Answered { ns, reason, .. } => {
                return Fate {
                    result: ClientResult::Timeout,
                    at: None,
                    seen: None,
                    disposition: Disposition::Dropped,
                    reason: Some(reason),
                    indeterminate: None,
                    summary: format!("the {} is dropped in {} ({})", if reply { "reply" } else { "answer" }, self.name(ns), reason.as_str()),
                }
            }
            End::SendError { ns, errno, reason } => {
                return Fate {
                    result: ClientResult::Timeout,
                    at: None,
                    seen: None,
                    disposition: Disposition::Dropped,
                    reason: Some(reason),
                    indeterminate: None,
                    summary: format!("the {} cannot be routed in {} ({errno})", if reply { "reply" } else { "answer" }, self.name(ns)),
                }
            }
            End::Indeterminate { why } => return Self::fate_indet(why),
        };
        let Some(skb) = arrived else { return Self::fate_indet("internal: nothing arrived".into()) };
        let p = skb.pkt;
        let matches_socket =
            |p: &Packet| p.src == client.dst && p.dst == client.src && (proto == IPPROTO_ICMP || (p.sport == client.dport && p.dport == client.sport));
        let lost = |why: String| Fate {
            result: ClientResult::Timeout,
            at: None,
            seen: None,
            disposition: Disposition::Dropped,
            reason: None,
            indeterminate: None,
            summary: why,
        };
        if p.proto == IPPROTO_ICMP && ctk::icmp_is_error(p.icmp_type) {
            return match &skb.inner {
                Some(inner) => self.icmp_error_fate(client, &p, inner),
                None => lost(format!("an ICMP error of type {} arrived without an embedded packet", p.icmp_type)),
            };
        }
        if p.proto != proto {
            // An ICMP error about our request.
            return lost(format!("a {} packet arrived that the client's socket does not expect", proto_str(p.proto)));
        }
        if !matches_socket(&p) {
            return lost(format!(
                "the {} arrives as {} -> {}, which matches no client socket (it connected to {})",
                if reply { "reply" } else { "answer" },
                fmt_ep(p.src, p.sport, proto),
                fmt_ep(p.dst, p.dport, proto),
                fmt_ep(client.dst, client.dport, proto)
            ));
        }
        if proto == IPPROTO_TCP && p.tcp_flags & tf::RST != 0 {
            return Fate {
                result: ClientResult::Refused,
                at: None,
                seen: None,
                disposition: Disposition::Rejected,
                reason: None,
                indeterminate: None,
                summary: "a TCP reset reaches the client: connection refused".into(),
            };
        }
        Fate {
            result: ClientResult::Connected,
            at: None,
            seen: None,
            disposition: Disposition::Delivered,
            reason: None,
            indeterminate: None,
            summary: "the request reaches a listener and its reply makes it back".into(),
        }
    }

    /// The client-side view of an ICMP error (`tcp_v4_err`, `udp_err`, `ping_err`).
    fn icmp_error_fate(&self, client: &Packet, p: &Packet, inner: &Packet) -> Fate {
        let proto = client.proto;
        let lost = |why: String| Fate {
            result: ClientResult::Timeout,
            at: None,
            seen: None,
            disposition: Disposition::Dropped,
            reason: None,
            indeterminate: None,
            summary: why,
        };
        let inner_ok =
            inner.src == client.src && inner.dst == client.dst && (proto == IPPROTO_ICMP || (inner.sport == client.sport && inner.dport == client.dport));
        if !inner_ok {
            return lost(format!(
                "an ICMP error arrives about {} -> {}, which is not the client's connection to {}",
                fmt_ep(inner.src, inner.sport, proto),
                fmt_ep(inner.dst, inner.dport, proto),
                fmt_ep(client.dst, client.dport, proto)
            ));
        }
        let (errno, fatal) = icmp_errno(p.icmp_type, p.icmp_code);
        // An ICMP flow's client is `ping`, which sets IP_RECVERR and so hears every error
        // (`ping_err`); a plain UDP socket hears only the fatal ones (`udp_err`).
        if proto == IPPROTO_UDP && !fatal {
            return lost(format!("an ICMP error ({errno}) arrives, but a UDP socket ignores non-fatal errors without IP_RECVERR"));
        }
        Fate {
            result: errno_result(errno),
            at: None,
            seen: None,
            disposition: Disposition::Rejected,
            reason: None,
            indeterminate: None,
            summary: format!("an ICMP type {} code {} from {} reaches the client: {errno}", p.icmp_type, p.icmp_code, p.src),
        }
    }
}

/// Runs every branch of a flow.
pub(crate) fn run(w: &World, spec: &FlowSpec, opts: &RunOptions) -> FlowResult {
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut pending: Vec<Vec<usize>> = vec![Vec::new()];
    let mut runs = 0usize;
    let mut explored_prob = 0.0f64;
    while let Some(script) = pending.pop() {
        if runs >= opts.max_branches.max(1) {
            break;
        }
        runs += 1;
        let base = script.len();
        let mut r = Run::new(w, spec, opts, script);
        let fate = r.conversation();
        // Queue every alternative this run did not take, beyond its script.
        if opts.seed.is_none() {
            for i in (base..r.made.len()).rev() {
                let (taken, probs) = &r.made[i];
                for (a, p) in probs.iter().enumerate() {
                    if a != *taken && *p > 0.0 {
                        let mut s: Vec<usize> = r.made[..i].iter().map(|(c, _)| *c).collect();
                        s.push(a);
                        pending.push(s);
                    }
                }
            }
        }
        explored_prob += r.prob;
        let mut summary = fate.summary;
        if !r.notes.is_empty() {
            summary.push_str(&format!(" (assumed: {})", r.notes.join("; ")));
        }
        let o = Outcome {
            probability: r.prob,
            result: fate.result,
            at: fate.at,
            seen: fate.seen,
            disposition: fate.disposition,
            reason: fate.reason,
            indeterminate: fate.indeterminate,
            summary,
            steps: r.steps,
        };
        merge(&mut outcomes, o);
    }
    if !pending.is_empty() {
        let rest = (1.0 - explored_prob).max(0.0);
        let why = format!("more than {} random branches: the remaining {:.6} of probability was not walked", opts.max_branches, rest);
        merge(
            &mut outcomes,
            Outcome {
                probability: rest,
                result: ClientResult::Indeterminate,
                at: None,
                seen: None,
                disposition: Disposition::Indeterminate,
                reason: None,
                indeterminate: Some(why.clone()),
                summary: why,
                steps: Vec::new(),
            },
        );
    }
    outcomes.sort_by(|a, b| {
        b.probability
            .partial_cmp(&a.probability)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.result.cmp(&b.result))
            .then_with(|| a.at.cmp(&b.at))
            .then_with(|| a.seen.cmp(&b.seen))
    });
    FlowResult { flow: spec.name.clone(), outcomes }
}

fn merge(outcomes: &mut Vec<Outcome>, o: Outcome) {
    // The summary is compared too: it carries what the other fields do not, such as whether the
    // server accepts a connection whose client saw connect() succeed (its final ACK may be lost
    // on one branch of a `-m statistic` rule and pass on another).
    if let Some(x) = outcomes.iter_mut().find(|x| {
        x.result == o.result
            && x.at == o.at
            && x.seen == o.seen
            && x.disposition == o.disposition
            && x.reason == o.reason
            && x.indeterminate == o.indeterminate
            && x.summary == o.summary
    }) {
        x.probability += o.probability;
    } else {
        outcomes.push(o);
    }
}
