//! `-m rpfilter` (`libxt_rpfilter.c`).

use crate::model::ruleset::{Match, RpfilterMatch};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::words::{Args, PErr};

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let mut m = RpfilterMatch::default();
    while let Some((inv, opt, col)) = a.next_opt(&["--loose", "--validmark", "--accept-local", "--invert"]) {
        if inv {
            return Err(PErr::new(col, format!("`{opt}` cannot be negated (use `--invert`)")));
        }
        match opt {
            "--loose" => m.loose = true,
            "--validmark" => m.validmark = true,
            "--accept-local" => m.accept_local = true,
            _ => m.invert = true,
        }
    }
    Ok(Match::Rpfilter(m))
}

pub(crate) fn save(m: &RpfilterMatch, out: &mut String) {
    if m.loose {
        out.push_str(" --loose");
    }
    if m.validmark {
        out.push_str(" --validmark");
    }
    if m.accept_local {
        out.push_str(" --accept-local");
    }
    if m.invert {
        out.push_str(" --invert");
    }
}
