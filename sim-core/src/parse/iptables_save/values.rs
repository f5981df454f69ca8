//! Small value parsers shared by the extensions: numbers as `strtoul(.., 0)` reads them, marks,
//! ports and port ranges, addresses with masks, counters. Each returns `None` on anything but a
//! complete, valid value so callers can say what they expected.
//!
//! The grammar is written with nom combinators (`uint`, and the `reference` module used by the
//! tests). The values on every rule line (decimal numbers, dotted quads, `addr/len`, counters)
//! are read by hand-written byte loops instead: nom's generic combinators cost about a
//! microsecond per rule there, a third of an import. The tests check the loops against the
//! combinator grammar on exhaustive and random inputs.

use crate::model::types::{AddrMask, PortRange};
use nom::branch::alt;
use nom::bytes::complete::{tag_no_case, take_while1};
use nom::character::complete::{char, digit1, hex_digit1};
use nom::combinator::{all_consuming, map_res};
use nom::sequence::preceded;
use nom::IResult;
use std::net::Ipv4Addr;

fn dec_u64(i: &str) -> IResult<&str, u64> {
    map_res(digit1, |s: &str| s.parse::<u64>())(i)
}

/// `[packets:bytes]` as iptables-save -c prints it.
pub(crate) fn counters(s: &str) -> Option<(u64, u64)> {
    let (p, b) = s.strip_prefix('[')?.strip_suffix(']')?.split_once(':')?;
    Some((dec(p)?, dec(b)?))
}

/// An unsigned number the way `strtoul(s, &end, 0)` reads it: `0x` hex, leading `0` octal,
/// otherwise decimal (`xtables_strtoul`). Signs are refused.
pub(crate) fn uint(s: &str) -> Option<u64> {
    fn hex(i: &str) -> IResult<&str, u64> {
        map_res(preceded(tag_no_case("0x"), hex_digit1), |h: &str| u64::from_str_radix(h, 16))(i)
    }
    fn oct(i: &str) -> IResult<&str, u64> {
        map_res(preceded(char('0'), take_while1(|c: char| ('0'..='7').contains(&c))), |o: &str| u64::from_str_radix(o, 8))(i)
    }
    all_consuming(alt((hex, oct, dec_u64)))(s).ok().map(|(_, v)| v)
}

pub(crate) fn uint_max(s: &str, max: u64) -> Option<u64> {
    uint(s).filter(|v| *v <= max)
}

pub(crate) fn u32v(s: &str) -> Option<u32> {
    uint_max(s, u32::MAX as u64).map(|v| v as u32)
}

pub(crate) fn u16v(s: &str) -> Option<u16> {
    uint_max(s, u16::MAX as u64).map(|v| v as u16)
}

/// Decimal only (iptables reads ports, lengths and counts with base 10 in most places): one or
/// more ASCII digits, no sign, no overflow.
pub(crate) fn dec(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(d as u64)?;
    }
    Some(v)
}

/// `value[/mask]` for marks; the mask is `None` when not written.
pub(crate) fn mark_mask(s: &str) -> Option<(u32, Option<u32>)> {
    match s.split_once('/') {
        Some((v, m)) => Some((u32v(v)?, Some(u32v(m)?))),
        None => Some((u32v(s)?, None)),
    }
}

/// Well-known service names from `/etc/services` that rules name (`getservbyname`).
const SERVICES: &[(&str, u16)] = &[
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("bootps", 67),
    ("bootpc", 68),
    ("tftp", 69),
    ("http", 80),
    ("www", 80),
    ("kerberos", 88),
    ("pop3", 110),
    ("sunrpc", 111),
    ("ntp", 123),
    ("netbios-ns", 137),
    ("netbios-dgm", 138),
    ("netbios-ssn", 139),
    ("imap", 143),
    ("imap2", 143),
    ("snmp", 161),
    ("snmp-trap", 162),
    ("bgp", 179),
    ("ldap", 389),
    ("https", 443),
    ("microsoft-ds", 445),
    ("isakmp", 500),
    ("syslog", 514),
    ("submission", 587),
    ("ldaps", 636),
    ("rsync", 873),
    ("imaps", 993),
    ("pop3s", 995),
    ("openvpn", 1194),
    ("ms-sql-s", 1433),
    ("nfs", 2049),
    ("mysql", 3306),
    ("postgresql", 5432),
    ("ipsec-nat-t", 4500),
];

/// A port: a decimal number up to 65535 or a service name.
pub(crate) fn port(s: &str) -> Option<u16> {
    if s.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
        return dec(s).filter(|v| *v <= 65535).map(|v| v as u16);
    }
    SERVICES.iter().find(|(n, _)| *n == s).map(|(_, p)| *p)
}

/// `lo<sep>hi` with either side optional (`:` means 0:65535, `1024:` means 1024:65535), or a
/// single port; `lo > hi` is refused (`xtables_parse_port_range` / `parse_ports`).
pub(crate) fn port_range(s: &str, sep: char) -> Option<PortRange> {
    let (lo, hi) = match s.split_once(sep) {
        Some((a, b)) => {
            let lo = if a.is_empty() { 0 } else { port(a)? };
            let hi = if b.is_empty() { 65535 } else { port(b)? };
            (lo, hi)
        }
        None => {
            let p = port(s)?;
            (p, p)
        }
    };
    (lo <= hi).then_some(PortRange { lo, hi })
}

/// NAT-style `lo-hi` port ranges (`--to-ports`, `--to-destination ip:lo-hi`): the whole value
/// may be a service name (`ftp-data`), but the two sides of a range are numbers
/// (`libxt_REDIRECT.c:parse_ports`).
pub(crate) fn port_range_dash(s: &str) -> Option<PortRange> {
    if let Some(p) = port(s) {
        return Some(PortRange::single(p));
    }
    let (a, b) = s.split_once('-')?;
    let lo = dec(a).filter(|v| *v <= 65535)? as u16;
    let hi = dec(b).filter(|v| *v <= 65535)? as u16;
    (lo <= hi).then_some(PortRange { lo, hi })
}

/// A dotted-quad IPv4 address (no hostnames: nfpath resolves nothing): four decimal octets of
/// at most 255, without leading zeros (an octal-looking `010` is refused, as `Ipv4Addr` does).
pub(crate) fn ipv4(s: &str) -> Option<Ipv4Addr> {
    let b = s.as_bytes();
    if b.len() < 7 || b.len() > 15 {
        return None;
    }
    let mut out = [0u8; 4];
    let mut i = 0;
    for (k, o) in out.iter_mut().enumerate() {
        if k > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut v: u32 = 0;
        while let Some(d) = b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|d| *d <= 9) {
            v = v * 10 + d as u32;
            i += 1;
            if i - start > 3 {
                return None;
            }
        }
        let n = i - start;
        if n == 0 || v > 255 || (n > 1 && b[start] == b'0') {
            return None;
        }
        *o = v as u8;
    }
    (i == b.len()).then_some(Ipv4Addr::from(out))
}

/// `addr[/len|/dotted-mask]`. With `apply`, the address is masked as `xtables_ipparse_any`
/// does (`-s 10.1.2.3/8` is stored as 10.0.0.0/8).
pub(crate) fn addr_mask(s: &str, apply: bool) -> Option<AddrMask> {
    let (a, m) = match s.as_bytes().iter().position(|&c| c == b'/') {
        Some(p) => (&s[..p], Some(&s[p + 1..])),
        None => (s, None),
    };
    if a.is_empty() || m.is_some_and(str::is_empty) {
        return None;
    }
    let addr = ipv4(a)?;
    let mask = match m {
        None => Ipv4Addr::new(255, 255, 255, 255),
        Some(m) if m.contains('.') => ipv4(m)?,
        Some(m) => {
            let len = dec(m).filter(|l| *l <= 32)? as u32;
            Ipv4Addr::from(if len == 0 { 0 } else { u32::MAX << (32 - len) })
        }
    };
    let addr = if apply { Ipv4Addr::from(u32::from(addr) & u32::from(mask)) } else { addr };
    Some(AddrMask { addr, mask })
}

/// How `xtables_ipmask_to_numeric` prints a mask: `""` for /32, `/N` for a prefix, else dotted.
pub(crate) fn mask_suffix(m: Ipv4Addr) -> String {
    let v = u32::from(m);
    if v == u32::MAX {
        return String::new();
    }
    let len = v.leading_ones();
    if v.checked_shl(len).unwrap_or(0) == 0 {
        format!("/{len}")
    } else {
        format!("/{m}")
    }
}

/// `addr/len` or `addr/dotted` as the base `-s`/`-d` print (always with a suffix).
pub(crate) fn addr_full(a: &AddrMask) -> String {
    a.to_string()
}

/// `addr` plus `mask_suffix`.
pub(crate) fn addr_short(a: &AddrMask) -> String {
    format!("{}{}", a.addr, mask_suffix(a.mask))
}

/// The combinator grammar of the values read by hand above, as it was written first; the tests
/// hold the byte loops to it.
#[cfg(test)]
pub(crate) mod reference {
    use super::*;
    use nom::bytes::complete::tag;
    use nom::combinator::{opt, recognize};
    use nom::sequence::{delimited, separated_pair};

    pub fn counters(s: &str) -> Option<(u64, u64)> {
        all_consuming(delimited(char('['), separated_pair(dec_u64, char(':'), dec_u64), char(']')))(s).ok().map(|(_, v)| v)
    }

    pub fn dec(s: &str) -> Option<u64> {
        all_consuming(dec_u64)(s).ok().map(|(_, v)| v)
    }

    pub fn ipv4(s: &str) -> Option<Ipv4Addr> {
        fn octet(i: &str) -> IResult<&str, u8> {
            map_res(digit1, |d: &str| if d.len() > 3 { Err(()) } else { d.parse::<u8>().map_err(|_| ()) })(i)
        }
        fn quad(i: &str) -> IResult<&str, &str> {
            recognize(separated_pair(separated_pair(octet, char('.'), octet), char('.'), separated_pair(octet, char('.'), octet)))(i)
        }
        all_consuming(quad)(s).ok().and_then(|(_, q)| q.parse().ok())
    }

    pub fn addr_mask(s: &str, apply: bool) -> Option<AddrMask> {
        fn parts(i: &str) -> IResult<&str, (&str, Option<&str>)> {
            let (i, a) = take_while1(|c: char| c != '/')(i)?;
            let (i, m) = opt(preceded(tag("/"), take_while1(|_| true)))(i)?;
            Ok((i, (a, m)))
        }
        let (_, (a, m)) = all_consuming(parts)(s).ok()?;
        let addr = ipv4(a)?;
        let mask = match m {
            None => Ipv4Addr::new(255, 255, 255, 255),
            Some(m) if m.contains('.') => ipv4(m)?,
            Some(m) => {
                let len = dec(m).filter(|l| *l <= 32)? as u32;
                Ipv4Addr::from(if len == 0 { 0 } else { u32::MAX << (32 - len) })
            }
        };
        let addr = if apply { Ipv4Addr::from(u32::from(addr) & u32::from(mask)) } else { addr };
        Some(AddrMask { addr, mask })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strings near the grammar: digits, dots, slashes, brackets, colons, a few letters and
    /// non-ASCII, and the edge numbers.
    fn near(seed: u64, n: usize) -> Vec<String> {
        const PARTS: &[&str] = &[
            "0",
            "1",
            "9",
            "00",
            "01",
            "10",
            "25",
            "255",
            "256",
            "999",
            "1000",
            "4294967295",
            "18446744073709551615",
            "18446744073709551616",
            ".",
            "/",
            ":",
            "[",
            "]",
            "-",
            "+",
            " ",
            "a",
            "x",
            "\u{e9}",
            "",
            "32",
            "33",
            "0x1",
        ];
        let mut x = seed;
        let mut out = Vec::new();
        for _ in 0..n {
            let mut s = String::new();
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let len = (x >> 60) as usize + 1;
            for _ in 0..len {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                s.push_str(PARTS[(x >> 33) as usize % PARTS.len()]);
            }
            out.push(s);
        }
        out
    }

    #[test]
    fn byte_loops_agree_with_the_combinator_grammar() {
        let mut inputs = near(7, 200_000);
        // Every quad of interesting octets, with and without masks.
        let oct = ["0", "00", "01", "1", "9", "10", "99", "100", "199", "249", "250", "255", "256", "300", "999", "0000", ""];
        for a in oct {
            for b in oct {
                inputs.push(format!("{a}.{b}.1.2"));
                inputs.push(format!("1.2.{a}.{b}"));
                inputs.push(format!("10.{a}.3.4/{b}"));
                inputs.push(format!("[{a}:{b}]"));
            }
        }
        for s in &inputs {
            assert_eq!(dec(s), reference::dec(s), "dec {s:?}");
            assert_eq!(ipv4(s), reference::ipv4(s), "ipv4 {s:?}");
            assert_eq!(addr_mask(s, true), reference::addr_mask(s, true), "addr_mask {s:?}");
            assert_eq!(addr_mask(s, false), reference::addr_mask(s, false), "addr_mask {s:?}");
            assert_eq!(counters(s), reference::counters(s), "counters {s:?}");
        }
        for v in [0u64, 1, 9, 10, 255, 65535, 4294967295, u64::MAX] {
            assert_eq!(dec(&v.to_string()), Some(v));
        }
        assert_eq!(dec("18446744073709551616"), None);
        assert_eq!(ipv4("01.2.3.4"), None);
        assert_eq!(ipv4("1.2.3.4"), Some(Ipv4Addr::new(1, 2, 3, 4)));
    }

    #[test]
    fn numbers_like_strtoul_base0() {
        assert_eq!(uint("0x10"), Some(16));
        assert_eq!(uint("010"), Some(8));
        assert_eq!(uint("0"), Some(0));
        assert_eq!(uint("4294967295"), Some(4294967295));
        assert_eq!(uint("-1"), None);
        assert_eq!(uint("0x"), None);
        assert_eq!(u32v("4294967296"), None);
    }

    #[test]
    fn ports_and_ranges() {
        assert_eq!(port_range(":", ':'), Some(PortRange { lo: 0, hi: 65535 }));
        assert_eq!(port_range("1024:", ':'), Some(PortRange { lo: 1024, hi: 65535 }));
        assert_eq!(port_range(":4", ':'), Some(PortRange { lo: 0, hi: 4 }));
        assert_eq!(port_range("4:3", ':'), None);
        assert_eq!(port_range("65536", ':'), None);
        assert_eq!(port_range("ssh", ':'), Some(PortRange::single(22)));
        assert_eq!(port_range("-1", ':'), None);
    }

    #[test]
    fn addresses() {
        assert_eq!(addr_mask("10.11.12.13/8", true).map(|a| a.to_string()), Some("10.0.0.0/8".into()));
        assert_eq!(addr_mask("10.11.12.13/255.0.255.0", true).map(|a| a.to_string()), Some("10.0.12.0/255.0.255.0".into()));
        assert_eq!(addr_mask("1.2.3.4", true).map(|a| a.to_string()), Some("1.2.3.4/32".into()));
        assert_eq!(addr_mask("1.2.3.4/33", true), None);
        assert_eq!(addr_mask("1.2.3", true), None);
        assert_eq!(addr_mask("1.2.3.256", true), None);
        assert_eq!(addr_mask("localhost", true), None);
        assert_eq!(counters("[12:3456]"), Some((12, 3456)));
        assert_eq!(counters("[12:]"), None);
    }
}
