//! LOG (`libipt_LOG.c`): prefix (at most 29 bytes), level (printed as a number, 4 is the
//! default and not printed), and flags in a fixed order.

use super::{bad, dup};
use crate::model::ruleset::{LogTarget, Target};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{push_quoted, Args, PErr};

const LEVELS: &[(&str, u8)] =
    &[("emerg", 0), ("panic", 0), ("alert", 1), ("crit", 2), ("err", 3), ("error", 3), ("warning", 4), ("warn", 4), ("notice", 5), ("info", 6), ("debug", 7)];
const FLAGS: &[&str] = &["--log-tcp-sequence", "--log-tcp-options", "--log-ip-options", "--log-uid", "--log-macdecode"];

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Target, PErr> {
    let mut t = LogTarget::default();
    let mut seen: Vec<&str> = Vec::new();
    const OPTS: &[&str] = &["--log-prefix", "--log-level", "--log-tcp-sequence", "--log-tcp-options", "--log-ip-options", "--log-uid", "--log-macdecode"];
    while let Some((inv, opt, col)) = a.next_opt(OPTS) {
        if inv {
            return Err(PErr::new(col, format!("`{opt}` cannot be negated")));
        }
        if seen.contains(&opt) {
            return Err(dup(col, opt));
        }
        seen.push(opt);
        match opt {
            "--log-prefix" => {
                let w = a.value(opt)?;
                if w.as_str().len() > 29 {
                    return Err(bad(w, opt, "a prefix of at most 29 bytes"));
                }
                if !w.as_str().is_empty() {
                    t.prefix = Some(w.as_str().to_string());
                }
            }
            "--log-level" => {
                let w = a.value(opt)?;
                let s = w.as_str();
                let l = LEVELS.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)).map(|(_, l)| *l).or_else(|| values::dec(s).filter(|v| *v <= 7).map(|v| v as u8));
                let l = l.ok_or_else(|| bad(w, opt, "a syslog level 0-7 or its name"))?;
                t.level = (l != 4).then(|| l.to_string());
            }
            f => t.flags.push(f.to_string()),
        }
    }
    t.flags.sort_by_key(|f| FLAGS.iter().position(|x| x == f));
    Ok(Target::Log(Box::new(t)))
}

pub(crate) fn save(t: &LogTarget, out: &mut String) {
    if let Some(p) = &t.prefix {
        out.push_str(" --log-prefix");
        push_quoted(out, p);
    }
    if let Some(l) = &t.level {
        out.push_str(&format!(" --log-level {l}"));
    }
    for f in &t.flags {
        out.push(' ');
        out.push_str(f);
    }
}
