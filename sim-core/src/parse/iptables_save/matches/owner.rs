//! `-m owner` revision 1 (`libxt_owner.c`).

use super::{bad, dup, missing, neg};
use crate::model::ruleset::{Match, OwnerId, OwnerMatch};
use crate::model::types::Neg;
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr, Word};

const OPTS: &[&str] = &["--uid-owner", "--gid-owner", "--socket-exists", "--suppl-groups"];

/// `n`, `n-m`, or a name. Only `root` resolves without the node's /etc/passwd; other names are
/// kept as written (iptables-save always prints numbers, so they only come from hand input).
fn id(w: &Word, opt: &str, cx: &mut Cx) -> Result<OwnerId, PErr> {
    let s = w.as_str();
    if s == "root" {
        return Ok(OwnerId::Range(0, 0));
    }
    if s.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
        let (l, h) = match s.split_once('-') {
            Some((l, h)) => (values::dec(l), values::dec(h)),
            None => (values::dec(s), values::dec(s)),
        };
        return match (l, h) {
            (Some(l), Some(h)) if l <= h && h <= u32::MAX as u64 => Ok(OwnerId::Range(l as u32, h as u32)),
            _ => Err(bad(w, opt, "an id or range `lo-hi`")),
        };
    }
    if s.is_empty() {
        return Err(bad(w, opt, "a user/group name or id"));
    }
    cx.warn(w.col, "unresolved-name", format!("`{opt} {s}`: the name is not resolved to an id; nfpath keeps it as written"));
    Ok(OwnerId::Name(s.to_string()))
}

pub(crate) fn parse(a: &mut Args, cx: &mut Cx) -> Result<Match, PErr> {
    let start = a.col();
    let mut m = OwnerMatch::default();
    let mut any = false;
    while let Some((mut inv, opt, col)) = a.next_opt(OPTS) {
        any = true;
        match opt {
            "--uid-owner" | "--gid-owner" => {
                let f = if opt == "--uid-owner" { &mut m.uid } else { &mut m.gid };
                if f.is_some() {
                    return Err(dup(col, opt));
                }
                let w = a.value_inv(opt, &mut inv)?;
                let v = id(w, opt, cx)?;
                let f = if opt == "--uid-owner" { &mut m.uid } else { &mut m.gid };
                *f = Some(Neg::new(inv, v));
            }
            "--socket-exists" => {
                if m.socket_exists.is_some() {
                    return Err(dup(col, opt));
                }
                m.socket_exists = Some(inv);
            }
            _ => {
                // libxt_owner.c: --suppl-groups only after --gid-owner, and never negated.
                if inv || m.gid.is_none() {
                    return Err(PErr::new(col, "`--suppl-groups` needs a preceding `--gid-owner` and cannot be negated"));
                }
                m.suppl_groups = true;
            }
        }
    }
    if !any {
        return Err(missing(start, "-m owner", "`--uid-owner`, `--gid-owner` or `--socket-exists`"));
    }
    Ok(Match::Owner(Box::new(m)))
}

fn id_text(i: &OwnerId) -> String {
    match i {
        OwnerId::Range(l, h) if l == h => l.to_string(),
        OwnerId::Range(l, h) => format!("{l}-{h}"),
        OwnerId::Name(n) => n.clone(),
    }
}

pub(crate) fn save(m: &OwnerMatch, out: &mut String) {
    if let Some(n) = m.socket_exists {
        neg(out, n);
        out.push_str(" --socket-exists");
    }
    if let Some(u) = &m.uid {
        neg(out, u.neg);
        out.push_str(&format!(" --uid-owner {}", id_text(&u.val)));
    }
    if let Some(g) = &m.gid {
        neg(out, g.neg);
        out.push_str(&format!(" --gid-owner {}", id_text(&g.val)));
    }
    if m.suppl_groups {
        out.push_str(" --suppl-groups");
    }
}
