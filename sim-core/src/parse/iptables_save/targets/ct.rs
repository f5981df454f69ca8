//! CT revisions 1/2 (`libxt_CT.c`, `ct_save_v1`) and the NOTRACK alias.

use super::{bad, dup};
use crate::model::ruleset::{CtTarget, Target};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};

const CT_EVENTS: &[&str] = &["new", "related", "destroy", "reply", "assured", "protoinfo", "helper", "mark", "natseqinfo", "secmark"];
const EXP_EVENTS: &[&str] = &["new"];

pub(crate) fn parse(a: &mut Args, cx: &mut Cx) -> Result<Target, PErr> {
    let mut t = CtTarget::default();
    let (mut timeout, mut ctev, mut expev, mut zdir) = (None::<String>, None::<String>, None::<String>, None::<(String, String)>);
    let mut seen: Vec<&str> = Vec::new();
    const OPTS: &[&str] = &["--notrack", "--helper", "--timeout", "--ctevents", "--expevents", "--zone", "--zone-orig", "--zone-reply"];
    while let Some((inv, opt, col)) = a.next_opt(OPTS) {
        if inv {
            return Err(PErr::new(col, format!("`{opt}` cannot be negated")));
        }
        if seen.contains(&opt) {
            return Err(dup(col, opt));
        }
        seen.push(opt);
        match opt {
            "--notrack" => t.notrack = true,
            "--helper" => t.helper = Some(a.value(opt)?.as_str().to_string()),
            "--timeout" => timeout = Some(a.value(opt)?.as_str().to_string()),
            "--ctevents" | "--expevents" => {
                let w = a.value(opt)?;
                let table = if opt == "--ctevents" { CT_EVENTS } else { EXP_EVENTS };
                let mut names: Vec<&str> = Vec::new();
                for p in w.as_str().split(',') {
                    if !table.contains(&p) {
                        return Err(bad(w, opt, &format!("a comma list of {}", table.join(","))));
                    }
                    names.push(p);
                }
                names.sort_by_key(|n| table.iter().position(|x| x == n));
                names.dedup();
                let s = names.join(",");
                if opt == "--ctevents" {
                    ctev = Some(s);
                } else {
                    expev = Some(s);
                }
            }
            "--zone" => {
                let w = a.value(opt)?;
                let z = values::u16v(w.as_str()).ok_or_else(|| bad(w, opt, "a zone 0-65535"))?;
                t.zone = (z != 0).then_some(z);
            }
            _ => {
                let w = a.value(opt)?;
                values::u16v(w.as_str()).ok_or_else(|| bad(w, opt, "a zone 0-65535"))?;
                cx.warn(col, "unsupported-option", format!("`{opt}`: directional conntrack zones are not modelled; the zone is kept as text"));
                zdir = Some((opt.to_string(), w.as_str().to_string()));
            }
        }
    }
    if let Some(v) = timeout {
        t.other.extend(["--timeout".to_string(), v]);
    }
    if let Some(v) = ctev {
        t.other.extend(["--ctevents".to_string(), v]);
    }
    if let Some(v) = expev {
        t.other.extend(["--expevents".to_string(), v]);
    }
    if let Some((o, v)) = zdir {
        t.other.extend([o, v]);
    }
    Ok(Target::Ct(Box::new(t)))
}

pub(crate) fn save(t: &CtTarget, out: &mut String) {
    if t.notrack {
        out.push_str(" --notrack");
    }
    if let Some(h) = &t.helper {
        out.push_str(&format!(" --helper {h}"));
    }
    for w in &t.other {
        out.push(' ');
        out.push_str(w);
    }
    if let Some(z) = t.zone {
        out.push_str(&format!(" --zone {z}"));
    }
}
