//! One file per `-m` extension: `parse` reads the options iptables-save prints for it (and the
//! spellings iptables accepts on input), `save` prints the canonical form, in the order and
//! format of the extension's `save` function in iptables' `extensions/libxt_<name>.c`.

pub(crate) mod addrtype;
pub(crate) mod comment;
pub(crate) mod conntrack;
pub(crate) mod hashlimit;
pub(crate) mod icmp;
pub(crate) mod iprange;
pub(crate) mod ipvs;
pub(crate) mod length;
pub(crate) mod limit;
pub(crate) mod mac;
pub(crate) mod mark;
pub(crate) mod multiport;
pub(crate) mod nfacct;
pub(crate) mod owner;
pub(crate) mod physdev;
pub(crate) mod pkttype;
pub(crate) mod recent;
pub(crate) mod rpfilter;
pub(crate) mod sctp;
pub(crate) mod set;
pub(crate) mod socket;
pub(crate) mod state;
pub(crate) mod statistic;
pub(crate) mod tcp;
pub(crate) mod u32;

use super::words::{PErr, Word};
use crate::model::types::PortRange;

/// "bad value for `--opt`: expected X, found `w`".
pub(crate) fn bad(w: &Word, opt: &str, expected: &str) -> PErr {
    PErr::expected(w.col, format!("bad value for `{opt}`"), expected, format!("`{}`", w.as_str()))
}

pub(crate) fn dup(col: u32, opt: &str) -> PErr {
    PErr::new(col, format!("`{opt}` given more than once"))
}

/// "`-m NAME` needs one of ...": a mandatory option is missing.
pub(crate) fn missing(col: u32, ext: &str, what: &str) -> PErr {
    PErr::expected(col, format!("`{ext}` needs {what}"), what, "no such option")
}

pub(crate) fn neg(out: &mut String, n: bool) {
    if n {
        out.push_str(" !");
    }
}

/// `lo:hi`, or `lo` when equal.
pub(crate) fn range(r: PortRange, sep: char) -> String {
    if r.lo == r.hi {
        r.lo.to_string()
    } else {
        format!("{}{}{}", r.lo, sep, r.hi)
    }
}

/// Parses a comma list of names from `table` case-insensitively into a bit set.
pub(crate) fn bits(w: &Word, opt: &str, table: &[(&str, u16)], expected: &str) -> Result<u16, PErr> {
    let mut v = 0u16;
    for part in w.as_str().split(',') {
        match table.iter().find(|(n, _)| n.eq_ignore_ascii_case(part)) {
            Some((_, b)) => v |= b,
            None => return Err(bad(w, opt, expected)),
        }
    }
    Ok(v)
}

/// Prints a bit set as the names of `table` that are set, in table order, joined by commas.
pub(crate) fn bit_names(v: u16, table: &[(&str, u16)]) -> String {
    let mut s = String::new();
    for (n, b) in table {
        if v & b != 0 {
            if !s.is_empty() {
                s.push(',');
            }
            s.push_str(n);
        }
    }
    s
}
