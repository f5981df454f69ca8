//! Small value parsers shared by the extensions: numbers as `strtoul(.., 0)` reads them, marks,
//! ports and port ranges, addresses with masks, counters. Built from nom combinators; each
//! returns `None` on anything but a complete, valid value so callers can say what they expected.

use crate::model::types::{AddrMask, PortRange};
use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case, take_while1};
use nom::character::complete::{char, digit1, hex_digit1};
use nom::combinator::{all_consuming, map_res, opt, recognize};
use nom::sequence::{delimited, preceded, separated_pair};
use nom::IResult;
use std::net::Ipv4Addr;

fn dec_u64(i: &str) -> IResult<&str, u64> {
    map_res(digit1, |s: &str| s.parse::<u64>())(i)
}

/// `[packets:bytes]` as iptables-save -c prints it.
pub(crate) fn counters(s: &str) -> Option<(u64, u64)> {
    all_consuming(delimited(char('['), separated_pair(dec_u64, char(':'), dec_u64), char(']')))(s).ok().map(|(_, v)| v)
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

/// Decimal only (iptables reads ports, lengths and counts with base 10 in most places).
pub(crate) fn dec(s: &str) -> Option<u64> {
    all_consuming(dec_u64)(s).ok().map(|(_, v)| v)
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

/// A dotted-quad IPv4 address (no hostnames: nfpath resolves nothing).
pub(crate) fn ipv4(s: &str) -> Option<Ipv4Addr> {
    fn octet(i: &str) -> IResult<&str, u8> {
        map_res(digit1, |d: &str| if d.len() > 3 { Err(()) } else { d.parse::<u8>().map_err(|_| ()) })(i)
    }
    fn quad(i: &str) -> IResult<&str, &str> {
        recognize(separated_pair(separated_pair(octet, char('.'), octet), char('.'), separated_pair(octet, char('.'), octet)))(i)
    }
    all_consuming(quad)(s).ok().and_then(|(_, q)| q.parse().ok())
}

/// `addr[/len|/dotted-mask]`. With `apply`, the address is masked as `xtables_ipparse_any`
/// does (`-s 10.1.2.3/8` is stored as 10.0.0.0/8).
pub(crate) fn addr_mask(s: &str, apply: bool) -> Option<AddrMask> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
