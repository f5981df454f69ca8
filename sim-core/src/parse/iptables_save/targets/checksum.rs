//! CHECKSUM (`libxt_CHECKSUM.c`): `--checksum-fill` is mandatory.

use super::missing;
use crate::model::ruleset::Target;
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::words::{Args, PErr};

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Target, PErr> {
    let start = a.col();
    let mut fill = false;
    while let Some((inv, _opt, col)) = a.next_opt(&["--checksum-fill"]) {
        if inv || fill {
            return Err(PErr::new(col, "`--checksum-fill` given twice or negated"));
        }
        fill = true;
    }
    if !fill {
        return Err(missing(start, "-j CHECKSUM", "`--checksum-fill`"));
    }
    Ok(Target::Checksum)
}
