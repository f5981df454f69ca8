//! One rule's words after `-A CHAIN`: the built-in options of `struct ipt_ip` (`-s -d -i -o -p
//! -f`, each with `!`), `-m` blocks handed to the match registry, `-j`/`-g` handed to the target
//! registry, and the checks the kernel's `xt_check_match`/`xt_check_target` make against the
//! protocol, table and hook (so that a rule the kernel would refuse is refused here too).

use super::registry;
use super::values;
use super::words::{Args, PErr, Word};
use crate::model::ruleset::{BaseMatch, Counters, Match, Name, TableName, Target};
use crate::model::types::{proto_name, AddrMask, IfName, Neg};

/// What the option parsers know about where the rule sits.
pub(crate) struct Cx<'c> {
    pub table: TableName,
    pub chain: &'c str,
    /// The chain is one of the table's built-in chains (hook checks apply only there).
    pub builtin: bool,
    /// Warnings found while reading: (column, code, message).
    pub warnings: Vec<(u32, &'static str, String)>,
    /// The table's chain of this name, if it has one (decides `-j NAME`; the rule shares the
    /// chain's name).
    pub lookup_chain: &'c dyn Fn(&str) -> Option<Name>,
}

impl Cx<'_> {
    pub fn warn(&mut self, col: u32, code: &'static str, msg: impl Into<String>) {
        self.warnings.push((col, code, msg.into()));
    }
}

/// A rule as far as it was read.
#[derive(Default)]
pub(crate) struct RuleParts {
    pub base: BaseMatch,
    pub matches: Vec<Match>,
    pub target: Option<Target>,
    /// Column of the `-j`/`-g` value, for diagnostics about the target.
    pub target_col: u32,
    /// The `-j` named a chain that exists in the table (no check needed at COMMIT).
    pub target_chain_known: bool,
    pub counters: Option<Counters>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Base {
    Src,
    Dst,
    In,
    Out,
    Proto,
    Frag,
    Match,
    Jump,
    Goto,
    Counters,
    Ipv4Only,
}

fn base_opt(s: &str) -> Option<Base> {
    Some(match s {
        "-s" | "--source" | "--src" => Base::Src,
        "-d" | "--destination" | "--dst" => Base::Dst,
        "-i" | "--in-interface" => Base::In,
        "-o" | "--out-interface" => Base::Out,
        "-p" | "--protocol" => Base::Proto,
        "-f" | "--fragment" => Base::Frag,
        "-m" | "--match" => Base::Match,
        "-j" | "--jump" => Base::Jump,
        "-g" | "--goto" => Base::Goto,
        "-c" | "--set-counters" => Base::Counters,
        "-4" | "--ipv4" => Base::Ipv4Only,
        _ => return None,
    })
}

/// Is this word (unquoted) a built-in option, a `-m` or a `-j`? Unknown extensions stop their
/// words there.
pub(crate) fn is_base_word(w: &Word) -> bool {
    !w.quoted && base_opt(split_glued(w.as_str()).0).is_some()
}

/// `-ptcp` is `-p tcp` for getopt; long options are never glued.
fn split_glued(s: &str) -> (&str, Option<&str>) {
    if s.len() > 2 && s.starts_with('-') && !s.starts_with("--") && s.is_char_boundary(2) {
        let (o, v) = s.split_at(2);
        if base_opt(o).is_some_and(|b| !matches!(b, Base::Frag | Base::Ipv4Only)) {
            return (o, Some(v));
        }
    }
    (s, None)
}

/// IP protocol names as `/etc/protocols` and `xtables_chain_protos` know them.
pub(crate) fn proto_by_name(s: &str) -> Option<u8> {
    const EXTRA: &[(&str, u8)] = &[
        ("ggp", 3),
        ("st", 5),
        ("egp", 8),
        ("igp", 9),
        ("pup", 12),
        ("hmp", 20),
        ("xns-idp", 22),
        ("rdp", 27),
        ("iso-tp4", 29),
        ("xtp", 36),
        ("ddp", 37),
        ("idpr-cmtp", 38),
        ("ipv6-route", 43),
        ("ipv6-frag", 44),
        ("idrp", 45),
        ("rsvp", 46),
        ("skip", 57),
        ("ipv6-nonxt", 59),
        ("ipv6-opts", 60),
        ("rspf", 73),
        ("vmtp", 81),
        ("eigrp", 88),
        ("ospf", 89),
        ("ax.25", 93),
        ("ipip", 94),
        ("etherip", 97),
        ("encap", 98),
        ("pim", 103),
        ("ipcomp", 108),
        ("vrrp", 112),
        ("l2tp", 115),
        ("isis", 124),
        ("fc", 133),
        ("mobility-header", 135),
        ("mh", 135),
        ("mpls-in-ip", 137),
        ("manet", 138),
        ("hip", 139),
        ("shim6", 140),
        ("wesp", 141),
        ("rohc", 142),
        ("ethernet", 143),
    ];
    // The common names without allocating.
    for (n, p) in [("tcp", 6u8), ("udp", 17), ("icmp", 1), ("sctp", 132)] {
        if s.eq_ignore_ascii_case(n) {
            return Some(p);
        }
    }
    if s.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
        return values::dec(s).filter(|v| *v <= 255).map(|v| v as u8);
    }
    let l = s.to_ascii_lowercase();
    // /etc/protocols first: `ipip` is 94 there (model::types::proto_number reads it as 4).
    if let Some((_, p)) = EXTRA.iter().find(|(n, _)| *n == l) {
        return Some(*p);
    }
    crate::model::types::proto_number(&l)
}

/// The name iptables-save prints for a protocol number (`proto_to_name`), or the number.
pub(crate) fn proto_display(p: u8) -> String {
    match proto_name(p) {
        Some(n) => n.to_string(),
        None => match p {
            112 => "vrrp".into(),
            89 => "ospf".into(),
            103 => "pim".into(),
            94 => "ipip".into(),
            108 => "ipcomp".into(),
            115 => "l2tp".into(),
            135 => "mobility-header".into(),
            _ => p.to_string(),
        },
    }
}

/// Interface names are at most IFNAMSIZ-1 = 15 bytes (`xtables_parse_interface`).
fn iface(v: &str, col: u32, opt: &str) -> Result<IfName, PErr> {
    if v.is_empty() || v.len() > 15 {
        return Err(PErr::expected(col, format!("bad interface name for `{opt}`"), "an interface name of 1 to 15 characters", format!("`{v}`")));
    }
    if v.bytes().any(|b| b == b' ' || b == b'/' || b == b'\t') {
        return Err(PErr::expected(col, format!("bad interface name for `{opt}`"), "an interface name", format!("`{v}`")));
    }
    Ok(IfName::parse(v))
}

fn addr(v: &str, col: u32, opt: &str) -> Result<AddrMask, PErr> {
    values::addr_mask(v, true).ok_or_else(|| {
        if v.contains(':') {
            return ipv6(col, opt, v);
        }
        let what = if v.contains(',') {
            "a single address (a comma list makes iptables add one rule per address; nfpath reads saved rules only)"
        } else {
            "an IPv4 address with an optional /prefix or /mask (host names are not resolved)"
        };
        PErr::expected(col, format!("bad address for `{opt}`"), what, format!("`{v}`")).code("bad-address")
    })
}

/// An IPv6 value in an IPv4 dump: almost always ip6tables-save output given as iptables-save.
pub(crate) fn ipv6(col: u32, opt: &str, v: &str) -> PErr {
    PErr::expected(
        col,
        format!("IPv6 address for `{opt}`: this looks like ip6tables-save output; nfpath reads IPv4 (iptables-save) rules only"),
        "an IPv4 address",
        format!("`{v}`"),
    )
    .code("ipv6-rule")
}

/// Reads the rule's words into `out`. On error `out` holds what was read before it.
pub(crate) fn parse_rule(a: &mut Args, cx: &mut Cx, out: &mut RuleParts) -> Result<(), PErr> {
    // The extension whose options were read last, for "unknown option of ..." messages.
    let mut last_ext: Option<(&str, &str)> = None;
    while let Some(w) = a.peek() {
        let (inv, ow) = if !w.quoted && w.as_str() == "!" {
            match a.peek_at(1) {
                Some(n) => (true, n),
                None => return Err(PErr::expected(w.col, "`!` at the end of the rule", "an option after `!`", "end of line")),
            }
        } else {
            (false, w)
        };
        let ocol = ow.col;
        let (opt, glued) = if ow.quoted { (ow.as_str(), None) } else { split_glued(ow.as_str()) };
        let Some(b) = (if ow.quoted { None } else { base_opt(opt) }) else {
            // Not a built-in option. `-p tcp --dport 22` loads the protocol's match implicitly,
            // as iptables does when an option is unknown (`xshared.c:load_proto`).
            if ow.is_option() {
                if let Some(pname) = implicit_proto_match(&out.base, &out.matches) {
                    if let Some(p) = registry::match_parser(pname) {
                        let before = a.pos();
                        let m = p(a, cx)?;
                        if a.pos() != before {
                            out.matches.push(m);
                            last_ext = Some(("-m", pname));
                            continue;
                        }
                    }
                }
                let ctx = match &last_ext {
                    Some((k, e)) => format!("an option of `{k} {e}` or a built-in option"),
                    None => "a built-in option (-s -d -i -o -p -f -m -j -g)".to_string(),
                };
                return Err(PErr::expected(ocol, format!("unknown option `{}`", ow.as_str()), ctx, format!("`{}`", ow.as_str())).code("unknown-option"));
            }
            return Err(PErr::expected(ocol, format!("unexpected word `{}`", ow.as_str()), "an option", format!("`{}`", ow.as_str())));
        };
        a.bump();
        if inv {
            a.bump();
        }
        let mut inv = inv;
        // The value of a built-in option: glued (`-ptcp`), or the next word (with the old
        // `-s ! x` negation allowed).
        macro_rules! val {
            () => {{
                match glued {
                    Some(g) => (g, ocol + 2),
                    None => {
                        let v = a.value_inv(opt, &mut inv)?;
                        (v.as_str(), v.col)
                    }
                }
            }};
        }
        macro_rules! once {
            ($field:expr, $name:expr) => {
                if $field.is_some() {
                    return Err(PErr::new(ocol, format!("multiple `{}` options are not allowed", $name)));
                }
            };
        }
        match b {
            Base::Src | Base::Dst => {
                let (v, vc) = val!();
                let am = addr(v, vc, opt)?;
                let field = if b == Base::Src { &mut out.base.src } else { &mut out.base.dst };
                once!(field, opt);
                // `-s 0.0.0.0/0` matches everything and iptables-save omits it.
                if inv || !am.mask.is_unspecified() {
                    *field = Some(Neg::new(inv, am));
                }
            }
            Base::In | Base::Out => {
                let (v, vc) = val!();
                let name = iface(v, vc, opt)?;
                let field = if b == Base::In { &mut out.base.in_iface } else { &mut out.base.out_iface };
                once!(field, opt);
                // `-i +` matches every interface and is saved as nothing.
                if !(name.wildcard && name.name.is_empty() && !inv) {
                    *field = Some(Box::new(Neg::new(inv, name)));
                }
            }
            Base::Proto => {
                let (v, vc) = val!();
                once!(out.base.proto, "-p");
                let p = if v.eq_ignore_ascii_case("all") {
                    0
                } else {
                    proto_by_name(v).ok_or_else(|| PErr::expected(vc, "unknown protocol", "a protocol name or number 0-255", format!("`{v}`")))?
                };
                if p == 0 {
                    if inv {
                        return Err(PErr::new(ocol, "rule would never match protocol (`! -p all`)"));
                    }
                } else {
                    out.base.proto = Some(Neg::new(inv, p));
                }
            }
            Base::Frag => {
                once!(out.base.frag, "-f");
                out.base.frag = Some(Neg::new(inv, ()));
            }
            Base::Counters => {
                if inv {
                    return Err(PErr::new(ocol, "`!` is not allowed before `-c`"));
                }
                let (v, vc) = val!();
                let (p, by) = match v.split_once(',') {
                    Some((p, b)) => (p.to_string(), b.to_string()),
                    None => {
                        let b = a.value("-c")?;
                        (v.to_string(), b.as_str().to_string())
                    }
                };
                match (values::dec(&p), values::dec(&by)) {
                    (Some(packets), Some(bytes)) => out.counters = Some(Counters { packets, bytes }),
                    _ => return Err(PErr::expected(vc, "bad counters for `-c`", "packets and bytes (`-c P B` or `-c P,B`)", format!("`{v}`"))),
                }
            }
            Base::Ipv4Only => {}
            Base::Match => {
                if inv {
                    return Err(PErr::new(ocol, "`!` is not allowed before `-m`"));
                }
                let (name, ncol) = val!();
                match registry::match_parser(name) {
                    Some(p) => {
                        let m = p(a, cx)?;
                        out.matches.push(m);
                    }
                    None => {
                        let args = take_unknown_words(a, true);
                        cx.warn(ncol, "unsupported-match", format!("match `-m {name}` is not supported: outcomes that depend on it are indeterminate"));
                        out.matches.push(Match::Unsupported { name: name.into(), args: args.into() });
                    }
                }
                last_ext = Some(("-m", name));
            }
            Base::Jump | Base::Goto => {
                if inv {
                    return Err(PErr::new(ocol, format!("`!` is not allowed before `{opt}`")));
                }
                if out.target.is_some() {
                    return Err(PErr::new(ocol, "multiple `-j`/`-g` options are not allowed"));
                }
                let (name, ncol) = val!();
                out.target_col = ncol;
                let known = (cx.lookup_chain)(name);
                out.target_chain_known = known.is_some();
                let t = if b == Base::Goto {
                    if name.is_empty() {
                        return Err(PErr::expected(ncol, "empty chain name", "a chain name", "`\"\"`"));
                    }
                    Target::Goto(known.unwrap_or_else(|| name.into()))
                } else {
                    target(a, cx, name, ncol, known)?
                };
                last_ext = Some(("-j", name));
                out.target = Some(t);
            }
        }
    }
    check(cx, out)
}

/// The protocol match `-p` would load implicitly, if it is not loaded yet.
fn implicit_proto_match(base: &BaseMatch, matches: &[Match]) -> Option<&'static str> {
    let p = base.proto.as_ref().filter(|p| !p.neg)?.val;
    let name = match p {
        6 => "tcp",
        17 => "udp",
        1 => "icmp",
        132 => "sctp",
        _ => return None,
    };
    (!matches.iter().any(|m| m.name() == name)).then_some(name)
}

/// Words of an extension nfpath does not know: up to the next `-m`, `-j`, `-g` or built-in
/// option (iptables-save prints those after an extension's own options), or to the end of the
/// line for a target.
pub(crate) fn take_unknown_words(a: &mut Args, stop_at_base: bool) -> Vec<String> {
    let mut v = Vec::new();
    while let Some(w) = a.peek() {
        if stop_at_base {
            if is_base_word(w) {
                break;
            }
            if !w.quoted && w.as_str() == "!" && a.peek_at(1).is_some_and(is_base_word) {
                break;
            }
        }
        v.push(w.as_str().to_string());
        a.bump();
    }
    v
}

const VERDICTS: &[(&str, Target)] = &[("ACCEPT", Target::Accept), ("DROP", Target::Drop), ("RETURN", Target::Return), ("QUEUE", Target::Queue)];

/// `known_chain`: the table's chain called `name`, if there is one.
fn target(a: &mut Args, cx: &mut Cx, name: &str, ncol: u32, known_chain: Option<Name>) -> Result<Target, PErr> {
    if name.is_empty() {
        return Err(PErr::expected(ncol, "empty target name", "a target or chain name", "`\"\"`"));
    }
    if let Some((_, t)) = VERDICTS.iter().find(|(n, _)| *n == name) {
        return Ok(t.clone());
    }
    if let Some(n) = known_chain {
        return Ok(Target::Jump(n));
    }
    if let Some(p) = registry::target_parser(name) {
        return p(a, cx);
    }
    // Not a chain we know and not a target we type: an extension target if it has options or
    // is a known extension name, else a jump (checked against the table's chains at COMMIT).
    let has_opts = a.peek().is_some_and(|w| w.is_option() && !is_base_word(w));
    if has_opts || registry::UNTYPED_TARGETS.contains(&name) {
        let args = take_unknown_words(a, true);
        cx.warn(ncol, "unsupported-target", format!("target `-j {name}` is not supported: outcomes that reach it are indeterminate"));
        return Ok(Target::Unsupported { name: name.into(), args: args.into() });
    }
    Ok(Target::Jump(name.into()))
}

/// The kernel's checks that depend on the whole rule (`x_tables.c:xt_check_match` protocol
/// test, table and hook masks of targets, plus userspace final checks).
fn check(cx: &mut Cx, out: &RuleParts) -> Result<(), PErr> {
    let proto = out.base.proto.as_ref().filter(|p| !p.neg).map(|p| p.val);
    // xshared.c: "Can't use -o with INPUT" / "Can't use -i with OUTPUT".
    if cx.builtin {
        if out.base.out_iface.is_some() && matches!(cx.chain, "PREROUTING" | "INPUT") {
            return Err(PErr::expected(0, format!("can't use -o with {}", cx.chain), "no -o in PREROUTING or INPUT", "-o").code("bad-hook"));
        }
        if out.base.in_iface.is_some() && matches!(cx.chain, "POSTROUTING" | "OUTPUT") {
            return Err(PErr::expected(0, format!("can't use -i with {}", cx.chain), "no -i in OUTPUT or POSTROUTING", "-i").code("bad-hook"));
        }
    }
    for m in &out.matches {
        let need: Option<(&[u8], &str)> = match m {
            Match::Tcp(_) | Match::Tcpmss(_) => Some((&[6], "-p tcp")),
            Match::Udp(_) => Some((&[17], "-p udp")),
            Match::Sctp(_) => Some((&[132], "-p sctp")),
            Match::Icmp(_) => Some((&[1], "-p icmp")),
            Match::Multiport(_) => Some((&[6, 17, 132, 33, 136], "-p tcp, udp, udplite, sctp or dccp")),
            _ => None,
        };
        if let Some((ps, what)) = need {
            if !proto.is_some_and(|p| ps.contains(&p)) {
                return Err(PErr::expected(0, format!("`-m {}` is only valid with {what}", m.name()), what, proto_found(out)).code("match-needs-protocol"));
            }
        }
        if cx.builtin {
            let hooks: Option<&[&str]> = match m {
                Match::Owner(_) => Some(&["OUTPUT", "POSTROUTING"]),
                Match::Mac(_) => Some(&["PREROUTING", "INPUT", "FORWARD"]),
                Match::Addrtype(at) if at.limit_iface_in => Some(&["PREROUTING", "INPUT", "FORWARD"]),
                Match::Addrtype(at) if at.limit_iface_out => Some(&["OUTPUT", "POSTROUTING", "FORWARD"]),
                _ => None,
            };
            if let Some(hs) = hooks {
                if !hs.contains(&cx.chain) {
                    return Err(PErr::expected(
                        0,
                        format!("`-m {}` (with these options) is not valid in chain {}", m.name(), cx.chain),
                        hs.join(", "),
                        cx.chain.to_string(),
                    )
                    .code("bad-hook"));
                }
            }
        }
    }
    let Some(t) = &out.target else { return Ok(()) };
    let tcol = out.target_col;
    let (table, hooks): (Option<TableName>, &[&str]) = match t {
        Target::Dnat(_) => (Some(TableName::Nat), &["PREROUTING", "OUTPUT"]),
        Target::Snat(_) => (Some(TableName::Nat), &["POSTROUTING", "INPUT"]),
        Target::Masquerade(_) => (Some(TableName::Nat), &["POSTROUTING"]),
        Target::Redirect(_) => (Some(TableName::Nat), &["PREROUTING", "OUTPUT"]),
        Target::Netmap(_) => (Some(TableName::Nat), &[]),
        Target::Ct(_) | Target::Notrack | Target::Trace => (Some(TableName::Raw), &[]),
        Target::Tproxy(_) => (Some(TableName::Mangle), &["PREROUTING"]),
        Target::Checksum => (Some(TableName::Mangle), &[]),
        _ => (None, &[]),
    };
    if let Some(tb) = table {
        if tb != cx.table {
            return Err(PErr::expected(
                tcol,
                format!("target `{}` is only valid in table {tb}", t.name()),
                format!("table {tb}"),
                format!("table {}", cx.table),
            )
            .code("bad-table"));
        }
    }
    if cx.builtin && !hooks.is_empty() && !hooks.contains(&cx.chain) {
        return Err(
            PErr::expected(tcol, format!("target `{}` is not valid in chain {}", t.name(), cx.chain), hooks.join(", "), cx.chain.to_string()).code("bad-hook")
        );
    }
    let l4 = proto.is_some_and(|p| [6, 17, 132, 33, 136].contains(&p));
    let ports_need = |what: &str| {
        PErr::expected(tcol, format!("`{what}` with ports needs -p tcp, udp, sctp, dccp or udplite"), "-p tcp/udp/sctp/dccp/udplite", proto_found(out))
            .code("target-needs-protocol")
    };
    let syn =
        || out.matches.iter().any(|m| matches!(m, Match::Tcp(tm) if tm.flags.as_ref().is_some_and(|f| !f.neg && f.val.0 & 0x02 != 0 && f.val.1 & 0x02 != 0)));
    match t {
        Target::Dnat(n) | Target::Snat(n) if n.ranges.iter().any(|r| r.ports.is_some()) && !l4 => Err(ports_need(t.name())),
        Target::Masquerade(m) | Target::Redirect(m) if m.ports.is_some() && !l4 => Err(ports_need(t.name())),
        Target::Tproxy(_) if !proto.is_some_and(|p| p == 6 || p == 17) => {
            Err(PErr::expected(tcol, "TPROXY is only valid with -p tcp or -p udp", "-p tcp or -p udp", proto_found(out)).code("target-needs-protocol"))
        }
        Target::Reject(crate::model::ruleset::RejectWith::TcpReset) if proto != Some(6) => {
            Err(PErr::expected(tcol, "`--reject-with tcp-reset` is only valid with -p tcp", "-p tcp", proto_found(out)).code("target-needs-protocol"))
        }
        // xt_TCPMSS.c:tcpmss_tg4_check: "Only works on TCP SYN packets".
        Target::Tcpmss(_) if proto != Some(6) || !syn() => {
            Err(PErr::expected(tcol, "TCPMSS only works on TCP SYN packets", "-p tcp -m tcp --tcp-flags ... SYN (or --syn)", "a rule that does not test SYN")
                .code("target-needs-protocol"))
        }
        _ => Ok(()),
    }
}

fn proto_found(out: &RuleParts) -> String {
    match &out.base.proto {
        None => "no -p".into(),
        Some(p) => format!("{}-p {}", if p.neg { "! " } else { "" }, proto_display(p.val)),
    }
}
