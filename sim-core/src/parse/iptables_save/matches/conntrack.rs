//! `-m conntrack` revision 3 (`libxt_conntrack.c`). Options are kept in the order written and
//! printed in `conntrack_dump` order. Addresses are kept unmasked, as the kernel stores them.

use super::{bad, bit_names, bits, dup, missing, neg, range};
use crate::model::ruleset::{ctstate, ctstatus, ConntrackMatch, CtDir, CtOption, Match};
use crate::model::types::Neg;
use crate::parse::iptables_save::rule::{proto_by_name, Cx};
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};

const OPTS: &[&str] = &[
    "--ctstate",
    "--ctproto",
    "--ctorigsrc",
    "--ctorigdst",
    "--ctreplsrc",
    "--ctrepldst",
    "--ctorigsrcport",
    "--ctorigdstport",
    "--ctreplsrcport",
    "--ctrepldstport",
    "--ctstatus",
    "--ctexpire",
    "--ctdir",
];

fn rank(o: &CtOption) -> usize {
    match o {
        CtOption::State(_) => 0,
        CtOption::Proto(_) => 1,
        CtOption::OrigSrc(_) => 2,
        CtOption::OrigDst(_) => 3,
        CtOption::ReplSrc(_) => 4,
        CtOption::ReplDst(_) => 5,
        CtOption::OrigSrcPort(_) => 6,
        CtOption::OrigDstPort(_) => 7,
        CtOption::ReplSrcPort(_) => 8,
        CtOption::ReplDstPort(_) => 9,
        CtOption::Status(_) => 10,
        CtOption::Expire(_) => 11,
        CtOption::Dir(_) => 12,
    }
}

fn opt_rank(opt: &str) -> usize {
    OPTS.iter().position(|o| *o == opt).unwrap_or(0)
}

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let start = a.col();
    let mut m = ConntrackMatch::default();
    while let Some((mut inv, opt, col)) = a.next_opt(OPTS) {
        if m.options.iter().any(|o| rank(o) == opt_rank(opt)) {
            return Err(dup(col, opt));
        }
        let w = a.value_inv(opt, &mut inv)?;
        let s = w.as_str();
        let o = match opt {
            "--ctstate" => {
                CtOption::State(Neg::new(inv, bits(w, opt, &ctstate::NAMES, "a comma list of INVALID,NEW,RELATED,ESTABLISHED,UNTRACKED,SNAT,DNAT")?))
            }
            "--ctstatus" => {
                let v = if s.eq_ignore_ascii_case("NONE") {
                    0
                } else {
                    bits(w, opt, &ctstatus::NAMES, "NONE or a comma list of EXPECTED,SEEN_REPLY,ASSURED,CONFIRMED")?
                };
                CtOption::Status(Neg::new(inv, v))
            }
            "--ctproto" => {
                let p = proto_by_name(s).filter(|p| *p != 0).ok_or_else(|| bad(w, opt, "a protocol name or number 1-255"))?;
                CtOption::Proto(Neg::new(inv, p))
            }
            "--ctorigsrc" | "--ctorigdst" | "--ctreplsrc" | "--ctrepldst" => {
                let am = values::addr_mask(s, false).ok_or_else(|| bad(w, opt, "an IPv4 address[/mask]"))?;
                let v = Neg::new(inv, am);
                match opt {
                    "--ctorigsrc" => CtOption::OrigSrc(v),
                    "--ctorigdst" => CtOption::OrigDst(v),
                    "--ctreplsrc" => CtOption::ReplSrc(v),
                    _ => CtOption::ReplDst(v),
                }
            }
            "--ctorigsrcport" | "--ctorigdstport" | "--ctreplsrcport" | "--ctrepldstport" => {
                let r = values::port_range(s, ':').ok_or_else(|| bad(w, opt, "a port or range `lo:hi`"))?;
                let v = Neg::new(inv, r);
                match opt {
                    "--ctorigsrcport" => CtOption::OrigSrcPort(v),
                    "--ctorigdstport" => CtOption::OrigDstPort(v),
                    "--ctreplsrcport" => CtOption::ReplSrcPort(v),
                    _ => CtOption::ReplDstPort(v),
                }
            }
            "--ctexpire" => {
                let e = "seconds `n` or `min:max` (32-bit, min <= max)";
                let (lo, hi) = match s.split_once(':') {
                    Some((l, h)) => (values::dec(l), values::dec(h)),
                    None => (values::dec(s), values::dec(s)),
                };
                match (lo, hi) {
                    (Some(l), Some(h)) if l <= h && h <= u32::MAX as u64 => CtOption::Expire(Neg::new(inv, (l as u32, h as u32))),
                    _ => return Err(bad(w, opt, e)),
                }
            }
            _ => {
                if inv {
                    return Err(PErr::new(col, "`--ctdir` cannot be negated"));
                }
                if s.eq_ignore_ascii_case("ORIGINAL") {
                    CtOption::Dir(CtDir::Original)
                } else if s.eq_ignore_ascii_case("REPLY") {
                    CtOption::Dir(CtDir::Reply)
                } else {
                    return Err(bad(w, opt, "ORIGINAL or REPLY"));
                }
            }
        };
        m.options.push(o);
    }
    if m.options.is_empty() {
        return Err(missing(start, "-m conntrack", "at least one `--ct*` option"));
    }
    Ok(Match::Conntrack(m))
}

pub(crate) fn save(m: &ConntrackMatch, out: &mut String) {
    let mut opts: Vec<&CtOption> = m.options.iter().collect();
    opts.sort_by_key(|o| rank(o));
    for o in opts {
        match o {
            CtOption::State(v) => {
                neg(out, v.neg);
                out.push_str(" --ctstate ");
                out.push_str(&bit_names(v.val, &ctstate::NAMES));
            }
            CtOption::Proto(v) => {
                neg(out, v.neg);
                out.push_str(&format!(" --ctproto {}", v.val));
            }
            CtOption::OrigSrc(v) | CtOption::OrigDst(v) | CtOption::ReplSrc(v) | CtOption::ReplDst(v) => {
                neg(out, v.neg);
                out.push(' ');
                out.push_str(OPTS[rank(o)]);
                out.push(' ');
                // conntrack_dump_addr prints no mask at all when it is not a prefix
                // (checked against iptables-legacy-save 1.8.9).
                out.push_str(&v.val.addr.to_string());
                if v.val.prefix_len().is_some() {
                    out.push_str(&values::mask_suffix(v.val.mask));
                }
            }
            CtOption::OrigSrcPort(v) | CtOption::OrigDstPort(v) | CtOption::ReplSrcPort(v) | CtOption::ReplDstPort(v) => {
                neg(out, v.neg);
                out.push(' ');
                out.push_str(OPTS[rank(o)]);
                out.push(' ');
                out.push_str(&range(v.val, ':'));
            }
            CtOption::Status(v) => {
                neg(out, v.neg);
                out.push_str(" --ctstatus ");
                if v.val == 0 {
                    out.push_str("NONE");
                } else {
                    out.push_str(&bit_names(v.val, &ctstatus::NAMES));
                }
            }
            CtOption::Expire(v) => {
                neg(out, v.neg);
                let (l, h) = v.val;
                if l == h {
                    out.push_str(&format!(" --ctexpire {l}"));
                } else {
                    out.push_str(&format!(" --ctexpire {l}:{h}"));
                }
            }
            CtOption::Dir(d) => out.push_str(match d {
                CtDir::Original => " --ctdir ORIGINAL",
                CtDir::Reply => " --ctdir REPLY",
            }),
        }
    }
}
