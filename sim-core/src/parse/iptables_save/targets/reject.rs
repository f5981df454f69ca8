//! REJECT (`libipt_REJECT.c`): `--reject-with`, printed always.

use super::{bad, dup};
use crate::model::ruleset::{RejectWith, Target};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::words::{Args, PErr};

/// The names and aliases `libipt_REJECT.c:reject_table` accepts.
const ALIASES: &[(&str, RejectWith)] = &[
    ("net-unreach", RejectWith::IcmpNetUnreachable),
    ("host-unreach", RejectWith::IcmpHostUnreachable),
    ("proto-unreach", RejectWith::IcmpProtoUnreachable),
    ("prot-unreach", RejectWith::IcmpProtoUnreachable),
    ("icmp-prot-unreachable", RejectWith::IcmpProtoUnreachable),
    ("port-unreach", RejectWith::IcmpPortUnreachable),
    ("net-prohib", RejectWith::IcmpNetProhibited),
    ("host-prohib", RejectWith::IcmpHostProhibited),
    ("admin-prohib", RejectWith::IcmpAdminProhibited),
    ("tcp-rst", RejectWith::TcpReset),
];

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Target, PErr> {
    let mut r: Option<RejectWith> = None;
    while let Some((inv, opt, col)) = a.next_opt(&["--reject-with"]) {
        if inv {
            return Err(PErr::new(col, "`--reject-with` cannot be negated"));
        }
        if r.is_some() {
            return Err(dup(col, opt));
        }
        let w = a.value(opt)?;
        let s = w.as_str();
        if s.starts_with("icmp6-") {
            return Err(PErr::expected(
                w.col,
                format!("`{s}` is an ICMPv6 reject type: this looks like ip6tables-save output; nfpath reads IPv4 (iptables-save) rules only"),
                "an ICMP (v4) reject type",
                format!("`{s}`"),
            )
            .code("ipv6-rule"));
        }
        let found = RejectWith::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(r, _)| *r)
            .or_else(|| ALIASES.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)).map(|(_, r)| *r));
        r = Some(found.ok_or_else(|| bad(w, opt, "icmp-net-unreachable, icmp-host-unreachable, icmp-port-unreachable, icmp-proto-unreachable, icmp-net-prohibited, icmp-host-prohibited, icmp-admin-prohibited or tcp-reset"))?);
    }
    Ok(Target::Reject(r.unwrap_or(RejectWith::IcmpPortUnreachable)))
}

pub(crate) fn save(r: RejectWith, out: &mut String) {
    out.push_str(" --reject-with ");
    out.push_str(r.as_str());
}
