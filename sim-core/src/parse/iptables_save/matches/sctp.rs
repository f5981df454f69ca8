//! `-m sctp` (`libxt_sctp.c`). Chunk tests are kept as written.

use super::{bad, dup, neg, range};
use crate::model::ruleset::{Match, SctpMatch};
use crate::model::types::Neg;
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};

const OPTS: &[&str] = &["--sport", "--source-port", "--dport", "--destination-port", "--chunk-types"];

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let mut m = SctpMatch::default();
    while let Some((mut inv, opt, col)) = a.next_opt(OPTS) {
        match opt {
            "--sport" | "--source-port" | "--dport" | "--destination-port" => {
                let src = opt.starts_with("--s");
                let f = if src { &mut m.sport } else { &mut m.dport };
                if f.is_some() {
                    return Err(dup(col, opt));
                }
                let w = a.value_inv(opt, &mut inv)?;
                let r = values::port_range(w.as_str(), ':').ok_or_else(|| bad(w, opt, "a port or range `lo:hi`"))?;
                *f = Some(Neg::new(inv, r));
            }
            _ => {
                if m.chunk_types.is_some() {
                    return Err(dup(col, opt));
                }
                let mode = a.value_inv(opt, &mut inv)?;
                if !["all", "any", "only"].contains(&mode.as_str()) {
                    return Err(bad(mode, opt, "all, any or only"));
                }
                let list = a.value(opt)?;
                m.chunk_types = Some(Neg::new(inv, vec![mode.as_str().to_string(), list.as_str().to_string()]));
            }
        }
    }
    Ok(Match::Sctp(Box::new(m)))
}

pub(crate) fn save(m: &SctpMatch, out: &mut String) {
    if let Some(p) = &m.sport {
        neg(out, p.neg);
        out.push_str(" --sport ");
        out.push_str(&range(p.val, ':'));
    }
    if let Some(p) = &m.dport {
        neg(out, p.neg);
        out.push_str(" --dport ");
        out.push_str(&range(p.val, ':'));
    }
    if let Some(c) = &m.chunk_types {
        neg(out, c.neg);
        out.push_str(" --chunk-types");
        for w in &c.val {
            out.push(' ');
            out.push_str(w);
        }
    }
}
