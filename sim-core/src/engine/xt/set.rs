//! `-m set` (`xt_set.c:set_match_v4`, `ip_set_core.c:ip_set_test`): the packet's fields, taken
//! per direction flag in order, are tested against the set's members. For `hash:net` types the
//! most specific stored prefix decides, and a `nomatch` member counts as no match unless
//! `--return-nomatch`.

use crate::engine::flow::{Run, Skb};
use crate::engine::xt::{Env, Tri};
use crate::model::ipset::{IpSet, SetDim, SetElem, SetMember};
use crate::model::ruleset::{SetDir, SetMatch};

/// The value a packet offers for one dimension.
enum Val<'a> {
    Ip(std::net::Ipv4Addr),
    Port(u8, u16),
    Iface(Option<&'a str>),
    Mark(u32),
    Mac(Option<crate::model::types::Mac>),
}

fn elem_matches(e: &SetElem, v: &Val) -> Option<bool> {
    Some(match (e, v) {
        (SetElem::Net(n), Val::Ip(ip)) => n.contains(ip),
        (SetElem::Port { proto, port }, Val::Port(pp, p)) => proto == pp && port == p,
        (SetElem::Iface(name), Val::Iface(d)) => d.is_some_and(|d| d == name),
        (SetElem::Mark(m), Val::Mark(x)) => m == x,
        (SetElem::Mac(m), Val::Mac(x)) => x.as_ref() == Some(m),
        (SetElem::Other(_), _) => return None,
        _ => false,
    })
}

/// The summed prefix lengths of a member's nets: larger is more specific.
fn specificity(m: &SetMember) -> u32 {
    m.elems.iter().map(|e| if let SetElem::Net(n) = e { u32::from(n.prefix_len()) } else { 0 }).sum()
}

/// Tests a packet's values against a set: `Some(true)` match, `Some(false)` no match, `None`
/// when a member could not be compared.
fn test(set: &IpSet, vals: &[Val], return_nomatch: bool) -> Option<bool> {
    let mut best: Option<&SetMember> = None;
    let mut unknown = false;
    for m in &set.members {
        if m.elems.len() < vals.len().min(set.dims.len()) {
            continue;
        }
        let mut all = true;
        for (e, v) in m.elems.iter().zip(vals.iter()) {
            match elem_matches(e, v) {
                Some(true) => {}
                Some(false) => {
                    all = false;
                    break;
                }
                None => {
                    unknown = true;
                    all = false;
                    break;
                }
            }
        }
        if all && best.is_none_or(|b| specificity(m) > specificity(b)) {
            best = Some(m);
        }
    }
    match best {
        Some(m) if m.nomatch => Some(return_nomatch),
        Some(_) => Some(true),
        None if unknown => None,
        None => Some(false),
    }
}

impl<'w> Run<'w> {
    pub(crate) fn eval_set(&mut self, env: &Env, skb: &Skb, s: &SetMatch) -> Tri {
        let nsp = &self.w.nss[env.ns];
        let Some(&si) = nsp.sets.get(&s.name) else {
            return Tri::Indet(format!("ipset {:?} is not in the snapshot", s.name));
        };
        let set = &nsp.ns.ipsets[si];
        if !s.counter_tests.is_empty() {
            return Tri::Indet(format!("set {:?}: packet/byte counter tests need set counters, which are not imported", s.name));
        }
        if set.family != "inet" {
            return Tri::of(s.neg);
        }
        if set.set_type.starts_with("list:") {
            return Tri::Indet(format!("set {:?}: list:set is not evaluated", s.name));
        }
        // Fewer direction flags than dimensions: `ip_set_test` cannot build the element.
        if s.dirs.len() < set.dims.len() {
            return Tri::of(s.neg);
        }
        let p = &skb.pkt;
        let mut vals = Vec::with_capacity(set.dims.len());
        for (d, dir) in set.dims.iter().zip(s.dirs.iter()) {
            let src = *dir == SetDir::Src;
            vals.push(match d {
                SetDim::Ip | SetDim::Net => Val::Ip(if src { p.src } else { p.dst }),
                SetDim::Port => {
                    if !p.has_ports() && p.proto != crate::model::packet::IPPROTO_ICMP {
                        return Tri::of(s.neg);
                    }
                    Val::Port(p.proto, if src { p.sport } else { p.dport })
                }
                SetDim::Iface => Val::Iface(if src { env.in_dev } else { env.out_dev }),
                SetDim::Mark => Val::Mark(skb.mark),
                SetDim::Mac => {
                    if !src {
                        return Tri::Indet("a destination MAC set test is not modelled".into());
                    }
                    Val::Mac(p.eth_src)
                }
            });
        }
        match test(set, &vals, s.return_nomatch) {
            Some(true) => Tri::of(!s.neg),
            Some(false) if set.incomplete => Tri::Indet(format!("set {:?} was imported incomplete and the packet is not among the listed members", s.name)),
            Some(false) => Tri::of(s.neg),
            None => Tri::Indet(format!("set {:?} holds members nfpath cannot compare", s.name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn member(net: &str, nomatch: bool) -> SetMember {
        SetMember { elems: vec![SetElem::Net(net.parse().expect("net"))], nomatch, options: vec![], line: 1 }
    }

    #[test]
    fn hash_net_most_specific_nomatch_wins() {
        let set = IpSet {
            name: "s".into(),
            set_type: "hash:net".into(),
            dims: vec![SetDim::Net],
            family: "inet".into(),
            options: vec![],
            members: vec![member("10.0.0.0/8", false), member("10.1.0.0/16", true)],
            line: 1,
            incomplete: false,
        };
        assert_eq!(test(&set, &[Val::Ip(Ipv4Addr::new(10, 2, 0, 1))], false), Some(true));
        assert_eq!(test(&set, &[Val::Ip(Ipv4Addr::new(10, 1, 0, 1))], false), Some(false));
        assert_eq!(test(&set, &[Val::Ip(Ipv4Addr::new(10, 1, 0, 1))], true), Some(true));
        assert_eq!(test(&set, &[Val::Ip(Ipv4Addr::new(11, 1, 0, 1))], false), Some(false));
    }

    #[test]
    fn hash_ip_port_compares_protocol() {
        let set = IpSet {
            name: "s".into(),
            set_type: "hash:ip,port".into(),
            dims: vec![SetDim::Ip, SetDim::Port],
            family: "inet".into(),
            options: vec![],
            members: vec![SetMember {
                elems: vec![SetElem::Net("10.0.0.1/32".parse().expect("net")), SetElem::Port { proto: 6, port: 80 }],
                nomatch: false,
                options: vec![],
                line: 2,
            }],
            line: 1,
            incomplete: false,
        };
        let ip = Ipv4Addr::new(10, 0, 0, 1);
        assert_eq!(test(&set, &[Val::Ip(ip), Val::Port(6, 80)], false), Some(true));
        assert_eq!(test(&set, &[Val::Ip(ip), Val::Port(17, 80)], false), Some(false));
    }
}
