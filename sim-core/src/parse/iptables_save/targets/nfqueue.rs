//! NFQUEUE revision 3 (`libxt_NFQUEUE.c`, `NFQUEUE_save_v3`).

use super::{bad, dup};
use crate::model::ruleset::{NfqueueTarget, Target};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Target, PErr> {
    let mut t = NfqueueTarget::default();
    let mut seen: Vec<&str> = Vec::new();
    while let Some((inv, opt, col)) = a.next_opt(&["--queue-num", "--queue-balance", "--queue-bypass", "--queue-cpu-fanout"]) {
        if inv {
            return Err(PErr::new(col, format!("`{opt}` cannot be negated")));
        }
        if seen.contains(&opt) {
            return Err(dup(col, opt));
        }
        seen.push(opt);
        match opt {
            "--queue-num" => {
                let w = a.value(opt)?;
                t.num = Some(values::u16v(w.as_str()).ok_or_else(|| bad(w, opt, "a queue number 0-65535"))?);
            }
            "--queue-balance" => {
                let w = a.value(opt)?;
                let e = "`lo:hi` with lo < hi <= 65534";
                let (l, h) = w.as_str().split_once(':').ok_or_else(|| bad(w, opt, e))?;
                let l = if l.is_empty() { Some(0) } else { values::dec(l) };
                let h = if h.is_empty() { Some(65534) } else { values::dec(h) };
                match (l, h) {
                    (Some(l), Some(h)) if l < h && h <= 65534 => t.balance = Some((l as u16, h as u16)),
                    _ => return Err(bad(w, opt, e)),
                }
            }
            "--queue-bypass" => t.bypass = true,
            _ => t.cpu_fanout = true,
        }
    }
    if t.num.is_some() && t.balance.is_some() {
        return Err(PErr::new(a.col(), "`--queue-num` and `--queue-balance` cannot both be given"));
    }
    if t.num.is_none() && t.balance.is_none() {
        t.num = Some(0);
    }
    Ok(Target::Nfqueue(t))
}

pub(crate) fn save(t: &NfqueueTarget, out: &mut String) {
    match (t.balance, t.num) {
        (Some((l, h)), _) => out.push_str(&format!(" --queue-balance {l}:{h}")),
        (None, n) => out.push_str(&format!(" --queue-num {}", n.unwrap_or(0))),
    }
    if t.bypass {
        out.push_str(" --queue-bypass");
    }
    if t.cpu_fanout {
        out.push_str(" --queue-cpu-fanout");
    }
}
