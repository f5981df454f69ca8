//! The one list of extensions nfpath types: name -> parser, and model variant -> printer. A new
//! `-m foo` is a model variant, a file in `matches/`, and one line here.

use super::matches as m;
use super::rule::Cx;
use super::targets as t;
use super::words::{Args, PErr};
use crate::model::ruleset::{Match, Target};

pub(crate) type MatchParse = fn(&mut Args, &mut Cx) -> Result<Match, PErr>;
pub(crate) type TargetParse = fn(&mut Args, &mut Cx) -> Result<Target, PErr>;

/// `-m NAME` parsers.
pub(crate) const MATCHES: &[(&str, MatchParse)] = &[
    ("tcp", m::tcp::parse_tcp),
    ("udp", m::tcp::parse_udp),
    ("sctp", m::sctp::parse),
    ("icmp", m::icmp::parse),
    ("multiport", m::multiport::parse),
    ("addrtype", m::addrtype::parse),
    ("mark", m::mark::parse),
    ("connmark", m::mark::parse_connmark),
    ("conntrack", m::conntrack::parse),
    ("state", m::state::parse),
    ("comment", m::comment::parse),
    ("statistic", m::statistic::parse),
    ("recent", m::recent::parse),
    ("set", m::set::parse),
    ("physdev", m::physdev::parse),
    ("mac", m::mac::parse),
    ("limit", m::limit::parse),
    ("length", m::length::parse),
    ("tcpmss", m::length::parse_tcpmss),
    ("pkttype", m::pkttype::parse),
    ("owner", m::owner::parse),
    ("socket", m::socket::parse),
    ("rpfilter", m::rpfilter::parse),
    ("ipvs", m::ipvs::parse),
    ("iprange", m::iprange::parse),
    ("hashlimit", m::hashlimit::parse),
    ("nfacct", m::nfacct::parse),
    ("u32", m::u32::parse),
];

fn no_options(t: Target) -> impl Fn(&mut Args, &mut Cx) -> Result<Target, PErr> {
    move |_a, _cx| Ok(t.clone())
}

fn notrack(a: &mut Args, cx: &mut Cx) -> Result<Target, PErr> {
    no_options(Target::Notrack)(a, cx)
}

fn trace(a: &mut Args, cx: &mut Cx) -> Result<Target, PErr> {
    no_options(Target::Trace)(a, cx)
}

/// `-j NAME` parsers (ACCEPT, DROP, RETURN and QUEUE are verdicts handled by the rule reader).
pub(crate) const TARGETS: &[(&str, TargetParse)] = &[
    ("REJECT", t::reject::parse),
    ("DNAT", t::nat::parse_dnat),
    ("SNAT", t::nat::parse_snat),
    ("MASQUERADE", t::masquerade::parse_masquerade),
    ("REDIRECT", t::masquerade::parse_redirect),
    ("NETMAP", t::netmap::parse),
    ("MARK", t::mark::parse),
    ("CONNMARK", t::connmark::parse),
    ("CT", t::ct::parse),
    ("NOTRACK", notrack),
    ("TPROXY", t::tproxy::parse),
    ("LOG", t::log::parse),
    ("NFLOG", t::nflog::parse),
    ("TRACE", trace),
    ("CHECKSUM", t::checksum::parse),
    ("TCPMSS", t::tcpmss::parse),
    ("NFQUEUE", t::nfqueue::parse),
];

/// Target extensions that exist in iptables but that nfpath does not type: `-j NAME` with one
/// of these is an unsupported target, not a jump to a missing chain.
pub(crate) const UNTYPED_TARGETS: &[&str] = &[
    "AUDIT",
    "CLASSIFY",
    "CLUSTERIP",
    "CONNSECMARK",
    "DNPT",
    "DSCP",
    "ECN",
    "HL",
    "HMARK",
    "IDLETIMER",
    "LED",
    "MIRROR",
    "RATEEST",
    "SAME",
    "SECMARK",
    "SET",
    "SNPT",
    "SYNPROXY",
    "TCPOPTSTRIP",
    "TEE",
    "TOS",
    "TTL",
    "ULOG",
];

pub(crate) fn match_parser(name: &str) -> Option<MatchParse> {
    MATCHES.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

pub(crate) fn target_parser(name: &str) -> Option<TargetParse> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// Is `name` a match nfpath types (for tests and reports)?
pub fn is_supported_match(name: &str) -> bool {
    match_parser(name).is_some()
}

/// Is `name` a target nfpath types?
pub fn is_supported_target(name: &str) -> bool {
    target_parser(name).is_some() || ["ACCEPT", "DROP", "RETURN", "QUEUE"].contains(&name)
}

/// Appends ` -m NAME options` for a match.
pub(crate) fn save_match(x: &Match, out: &mut String) {
    out.push_str(" -m ");
    out.push_str(x.name());
    match x {
        Match::Tcp(v) => m::tcp::save_tcp(v, out),
        Match::Udp(v) => m::tcp::save_udp(v, out),
        Match::Sctp(v) => m::sctp::save(v, out),
        Match::Icmp(v) => m::icmp::save(v, out),
        Match::Multiport(v) => m::multiport::save(v, out),
        Match::Addrtype(v) => m::addrtype::save(v, out),
        Match::Mark(v) | Match::Connmark(v) => m::mark::save(v, out),
        Match::Conntrack(v) => m::conntrack::save(v, out),
        Match::State(v) => m::state::save(v, out),
        Match::Comment(v) => m::comment::save(v, out),
        Match::Statistic(v) => m::statistic::save(v, out),
        Match::Recent(v) => m::recent::save(v, out),
        Match::Set(v) => m::set::save(v, out),
        Match::Physdev(v) => m::physdev::save(v, out),
        Match::Mac(v) => m::mac::save(v, out),
        Match::Limit(v) => m::limit::save(v, out),
        Match::Length(v) => m::length::save("--length", v, out),
        Match::Tcpmss(v) => m::length::save("--mss", v, out),
        Match::Pkttype(v) => m::pkttype::save(v, out),
        Match::Owner(v) => m::owner::save(v, out),
        Match::Socket(v) => m::socket::save(v, out),
        Match::Rpfilter(v) => m::rpfilter::save(v, out),
        Match::Ipvs(v) => m::ipvs::save(v, out),
        Match::Iprange(v) => m::iprange::save(v, out),
        Match::Hashlimit(v) => m::hashlimit::save(v, out),
        Match::Nfacct(v) => m::nfacct::save(v, out),
        Match::U32(v) => m::u32::save(v, out),
        Match::Unsupported { args, .. } => {
            for a in args {
                super::words::push_verbatim(out, a);
            }
        }
    }
}

/// Appends ` -j NAME options` (or ` -g CHAIN`); nothing for a rule without a target.
pub(crate) fn save_target(x: &Target, out: &mut String) {
    match x {
        Target::None => return,
        Target::Goto(c) => {
            out.push_str(" -g ");
            out.push_str(c);
            return;
        }
        _ => {
            out.push_str(" -j ");
            out.push_str(x.name());
        }
    }
    match x {
        Target::Reject(r) => t::reject::save(*r, out),
        Target::Dnat(n) => t::nat::save("--to-destination", n, out),
        Target::Snat(n) => t::nat::save("--to-source", n, out),
        Target::Masquerade(v) | Target::Redirect(v) => t::masquerade::save(v, out),
        Target::Netmap(n) => t::netmap::save(n, out),
        Target::Mark(op) => t::mark::save(*op, out),
        Target::Connmark(op) => t::connmark::save(*op, out),
        Target::Ct(c) => t::ct::save(c, out),
        Target::Tproxy(v) => t::tproxy::save(v, out),
        Target::Log(v) => t::log::save(v, out),
        Target::Nflog(v) => t::nflog::save(v, out),
        Target::Checksum => out.push_str(" --checksum-fill"),
        Target::Tcpmss(v) => t::tcpmss::save(*v, out),
        Target::Nfqueue(v) => t::nfqueue::save(v, out),
        Target::Unsupported { args, .. } => {
            for a in args {
                super::words::push_verbatim(out, a);
            }
        }
        _ => {}
    }
}
