//! CONNMARK revision 1 (`libxt_CONNMARK.c`, `connmark_tg_save`).

use super::mark::{mark_op, MARK_OPTS};
use super::{bad, dup, missing};
use crate::model::ruleset::{ConnmarkOp, MarkOp, Target};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Target, PErr> {
    let start = a.col();
    const OPTS: &[&str] =
        &["--set-xmark", "--set-mark", "--and-mark", "--or-mark", "--xor-mark", "--save-mark", "--restore-mark", "--mask", "--nfmask", "--ctmask"];
    let mut op: Option<&str> = None;
    let mut set: Option<MarkOp> = None;
    let (mut nfmask, mut ctmask) = (None::<u32>, None::<u32>);
    while let Some((inv, opt, col)) = a.next_opt(OPTS) {
        if inv {
            return Err(PErr::new(col, format!("`{opt}` cannot be negated")));
        }
        if MARK_OPTS.contains(&opt) || opt == "--save-mark" || opt == "--restore-mark" {
            if op.is_some() {
                return Err(PErr::new(col, "only one CONNMARK operation may be given"));
            }
            op = Some(opt);
            if MARK_OPTS.contains(&opt) {
                set = Some(mark_op(a, opt)?);
            }
            continue;
        }
        let w = a.value(opt)?;
        let v = values::u32v(w.as_str()).ok_or_else(|| bad(w, opt, "a 32-bit mask"))?;
        match opt {
            "--mask" => {
                if nfmask.is_some() || ctmask.is_some() {
                    return Err(dup(col, opt));
                }
                nfmask = Some(v);
                ctmask = Some(v);
            }
            "--nfmask" => {
                if nfmask.is_some() {
                    return Err(dup(col, opt));
                }
                nfmask = Some(v);
            }
            _ => {
                if ctmask.is_some() {
                    return Err(dup(col, opt));
                }
                ctmask = Some(v);
            }
        }
    }
    let Some(o) = op else {
        return Err(missing(start, "-j CONNMARK", "`--set-xmark`, `--set-mark`, `--save-mark`, `--restore-mark` or an and/or/xor operation"));
    };
    let (nf, ct) = (nfmask.unwrap_or(u32::MAX), ctmask.unwrap_or(u32::MAX));
    Ok(Target::Connmark(match o {
        "--save-mark" => ConnmarkOp::SaveMark { nfmask: nf, ctmask: ct },
        "--restore-mark" => ConnmarkOp::RestoreMark { nfmask: nf, ctmask: ct },
        _ => {
            if nfmask.is_some() || ctmask.is_some() {
                return Err(PErr::new(start, "`--mask`, `--nfmask` and `--ctmask` go with `--save-mark` or `--restore-mark` only"));
            }
            ConnmarkOp::Set(set.unwrap_or(MarkOp::SetXmark { value: 0, mask: 0 }))
        }
    }))
}

pub(crate) fn save(op: ConnmarkOp, out: &mut String) {
    match op {
        ConnmarkOp::Set(m) => {
            let (v, mk) = m.xmark();
            out.push_str(&format!(" --set-xmark 0x{v:x}/0x{mk:x}"));
        }
        ConnmarkOp::SaveMark { nfmask, ctmask } => out.push_str(&format!(" --save-mark --nfmask 0x{nfmask:x} --ctmask 0x{ctmask:x}")),
        ConnmarkOp::RestoreMark { nfmask, ctmask } => out.push_str(&format!(" --restore-mark --nfmask 0x{nfmask:x} --ctmask 0x{ctmask:x}")),
    }
}
