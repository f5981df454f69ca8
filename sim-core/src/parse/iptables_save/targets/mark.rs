//! MARK revision 2 (`libxt_MARK.c`). Every form is printed as `--set-xmark value/mask`
//! (`mark_tg_save`), computed by `MarkOp::xmark`.

use super::{bad, missing};
use crate::model::ruleset::{MarkOp, Target};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};

pub(crate) const MARK_OPTS: &[&str] = &["--set-xmark", "--set-mark", "--and-mark", "--or-mark", "--xor-mark"];

/// One of the `--set-xmark`/`--set-mark`/`--and-mark`/`--or-mark`/`--xor-mark` values.
pub(crate) fn mark_op(a: &mut Args, opt: &str) -> Result<MarkOp, PErr> {
    let w = a.value(opt)?;
    let e = "value[/mask], 32-bit numbers";
    let (v, m) = values::mark_mask(w.as_str()).ok_or_else(|| bad(w, opt, e))?;
    Ok(match opt {
        "--set-xmark" => MarkOp::SetXmark { value: v, mask: m.unwrap_or(u32::MAX) },
        "--set-mark" => MarkOp::SetMark { value: v, mask: m.unwrap_or(u32::MAX) },
        _ => {
            if m.is_some() {
                return Err(bad(w, opt, "a single 32-bit value"));
            }
            match opt {
                "--and-mark" => MarkOp::AndMark(v),
                "--or-mark" => MarkOp::OrMark(v),
                _ => MarkOp::XorMark(v),
            }
        }
    })
}

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Target, PErr> {
    let start = a.col();
    let mut op: Option<MarkOp> = None;
    while let Some((inv, opt, col)) = a.next_opt(MARK_OPTS) {
        if inv {
            return Err(PErr::new(col, format!("`{opt}` cannot be negated")));
        }
        if op.is_some() {
            return Err(PErr::new(col, "only one MARK operation may be given"));
        }
        op = Some(mark_op(a, opt)?);
    }
    op.map(Target::Mark).ok_or_else(|| missing(start, "-j MARK", "one of `--set-xmark`, `--set-mark`, `--and-mark`, `--or-mark`, `--xor-mark`"))
}

pub(crate) fn save(op: MarkOp, out: &mut String) {
    let (v, m) = op.xmark();
    out.push_str(&format!(" --set-xmark 0x{v:x}/0x{m:x}"));
}
