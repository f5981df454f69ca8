//! NFLOG (`libxt_NFLOG.c`, `nflog_print`).

use super::{bad, dup};
use crate::model::ruleset::{NflogTarget, Target};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{push_quoted, Args, PErr};

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Target, PErr> {
    let mut t = NflogTarget::default();
    let mut seen: Vec<&str> = Vec::new();
    const OPTS: &[&str] = &["--nflog-group", "--nflog-prefix", "--nflog-range", "--nflog-size", "--nflog-threshold"];
    while let Some((inv, opt, col)) = a.next_opt(OPTS) {
        if inv {
            return Err(PErr::new(col, format!("`{opt}` cannot be negated")));
        }
        if seen.contains(&opt) {
            return Err(dup(col, opt));
        }
        seen.push(opt);
        let w = a.value(opt)?;
        let s = w.as_str();
        match opt {
            "--nflog-group" => {
                let g = values::u16v(s).ok_or_else(|| bad(w, opt, "a group 0-65535"))?;
                t.group = (g != 0).then_some(g);
            }
            "--nflog-prefix" => {
                // The kernel keeps 64 bytes with the terminating NUL: 63 printable.
                let mut p = s.to_string();
                let mut cut = p.len().min(63);
                while !p.is_char_boundary(cut) {
                    cut -= 1;
                }
                p.truncate(cut);
                t.prefix = (!p.is_empty()).then_some(p);
            }
            "--nflog-range" => t.range = Some(values::u32v(s).ok_or_else(|| bad(w, opt, "a 32-bit length"))?),
            "--nflog-size" => t.size = Some(values::u32v(s).ok_or_else(|| bad(w, opt, "a 32-bit length"))?),
            _ => t.threshold = Some(values::u16v(s).filter(|v| *v >= 1).ok_or_else(|| bad(w, opt, "a threshold 1-65535"))?),
        }
    }
    if t.size.is_some() {
        // `--nflog-size` supersedes `--nflog-range` (XT_NFLOG_F_COPY_LEN).
        t.range = None;
    }
    Ok(Target::Nflog(Box::new(t)))
}

pub(crate) fn save(t: &NflogTarget, out: &mut String) {
    if let Some(p) = &t.prefix {
        out.push_str(" --nflog-prefix");
        push_quoted(out, p);
    }
    if let Some(g) = t.group {
        out.push_str(&format!(" --nflog-group {g}"));
    }
    if let Some(s) = t.size {
        out.push_str(&format!(" --nflog-size {s}"));
    } else if let Some(r) = t.range {
        out.push_str(&format!(" --nflog-range {r}"));
    }
    if let Some(th) = t.threshold {
        out.push_str(&format!(" --nflog-threshold {th}"));
    }
}
