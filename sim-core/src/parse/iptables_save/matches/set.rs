//! `-m set` revision 4 (`libxt_set.c`): `[!] --match-set NAME src,dst[,...]`, return-nomatch,
//! counter update switches and counter tests.

use super::{bad, dup, missing};
use crate::model::ruleset::{Match, SetDir, SetMatch};
use crate::parse::iptables_save::rule::Cx;
use crate::parse::iptables_save::values;
use crate::parse::iptables_save::words::{Args, PErr};

const OPTS: &[&str] = &[
    "--match-set",
    "--set",
    "--return-nomatch",
    "--update-counters",
    "--update-subcounters",
    "--packets-eq",
    "--packets-lt",
    "--packets-gt",
    "--bytes-eq",
    "--bytes-lt",
    "--bytes-gt",
];

pub(crate) fn parse(a: &mut Args, _cx: &mut Cx) -> Result<Match, PErr> {
    let start = a.col();
    let mut m = SetMatch {
        neg: false,
        name: String::new(),
        dirs: Vec::new(),
        return_nomatch: false,
        no_update_counters: false,
        no_update_subcounters: false,
        counter_tests: Vec::new(),
    };
    let mut have_set = false;
    while let Some((mut inv, opt, col)) = a.next_opt(OPTS) {
        match opt {
            "--match-set" | "--set" => {
                if have_set {
                    return Err(dup(col, opt));
                }
                let nw = a.value_inv(opt, &mut inv)?;
                if nw.as_str().is_empty() || nw.as_str().len() > 31 {
                    return Err(bad(nw, opt, "a set name of 1 to 31 characters"));
                }
                let fw = a.value(opt)?;
                let mut dirs = Vec::new();
                for d in fw.as_str().split(',') {
                    dirs.push(match d {
                        "src" => SetDir::Src,
                        "dst" => SetDir::Dst,
                        _ => return Err(bad(fw, opt, "a comma list of src and dst")),
                    });
                }
                if dirs.len() > 6 {
                    return Err(bad(fw, opt, "at most 6 directions"));
                }
                m.neg = inv;
                m.name = nw.as_str().to_string();
                m.dirs = dirs;
                have_set = true;
            }
            "--return-nomatch" => m.return_nomatch = true,
            "--update-counters" => m.no_update_counters = inv,
            "--update-subcounters" => m.no_update_subcounters = inv,
            _ => {
                let w = a.value(opt)?;
                let v = values::dec(w.as_str()).ok_or_else(|| bad(w, opt, "a number"))?;
                let name = &opt[2..];
                if inv && !name.ends_with("-eq") {
                    return Err(PErr::new(col, format!("`{opt}` cannot be negated")));
                }
                m.counter_tests.push((name.to_string(), Some(inv), v));
            }
        }
    }
    if !have_set {
        return Err(missing(start, "-m set", "`--match-set NAME FLAGS`"));
    }
    Ok(Match::Set(Box::new(m)))
}

fn rank(name: &str) -> usize {
    ["packets-eq", "packets-lt", "packets-gt", "bytes-eq", "bytes-lt", "bytes-gt"].iter().position(|n| *n == name).unwrap_or(6)
}

pub(crate) fn save(m: &SetMatch, out: &mut String) {
    super::neg(out, m.neg);
    out.push_str(" --match-set ");
    out.push_str(&m.name);
    for (i, d) in m.dirs.iter().enumerate() {
        out.push(if i == 0 { ' ' } else { ',' });
        out.push_str(match d {
            SetDir::Src => "src",
            SetDir::Dst => "dst",
        });
    }
    if m.return_nomatch {
        out.push_str(" --return-nomatch");
    }
    if m.no_update_counters {
        out.push_str(" ! --update-counters");
    }
    if m.no_update_subcounters {
        out.push_str(" ! --update-subcounters");
    }
    let mut tests: Vec<&(String, Option<bool>, u64)> = m.counter_tests.iter().collect();
    tests.sort_by_key(|t| rank(&t.0));
    for (name, inv, v) in tests {
        if *inv == Some(true) {
            out.push_str(" !");
        }
        out.push_str(&format!(" --{name} {v}"));
    }
}
