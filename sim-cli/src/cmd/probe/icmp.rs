//! ICMP echo for `nfpath probe`: a raw IPv4 socket (the probes run as root inside test
//! namespaces), so that both the echo reply and any ICMP error about our request are seen, as the
//! `ping` utility sees them with IP_RECVERR.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

const ICMP_ECHOREPLY: u8 = 0;
const ICMP_DEST_UNREACH: u8 = 3;
const ICMP_ECHO: u8 = 8;
const ICMP_TIME_EXCEEDED: u8 = 11;
const ICMP_PARAMETERPROB: u8 = 12;
const PAYLOAD: &[u8] = b"nfpath-probe";

/// RFC 1071 Internet checksum.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

pub fn echo_request(id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![ICMP_ECHO, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(PAYLOAD);
    let c = checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// The errno a ping socket reports for an ICMP error (ping_err in net/ipv4/ping.c, which uses
/// icmp_err_convert for destination unreachable).
pub fn icmp_errno(icmp_type: u8, code: u8) -> Option<i32> {
    use nix::libc::*;
    match icmp_type {
        ICMP_DEST_UNREACH => Some(match code {
            0 | 6 | 9 | 11 => ENETUNREACH,
            1 | 10 | 12 | 13 | 14 | 15 => EHOSTUNREACH,
            2 => ENOPROTOOPT,
            3 => ECONNREFUSED,
            4 => EMSGSIZE,
            5 => EOPNOTSUPP,
            7 => EHOSTDOWN,
            8 => ENONET,
            _ => EHOSTUNREACH,
        }),
        ICMP_TIME_EXCEEDED => Some(EHOSTUNREACH),
        ICMP_PARAMETERPROB => Some(EPROTO),
        _ => None,
    }
}

/// An IPv4 packet's header length, source, destination and payload, if it is well formed.
fn ipv4(pkt: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u8, &[u8])> {
    if pkt.len() < 20 || pkt[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    if ihl < 20 || pkt.len() < ihl {
        return None;
    }
    let src = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
    let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
    Some((src, dst, pkt[9], &pkt[ihl..]))
}

/// What one received packet means for our echo request.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// Our echo came back; `local` is where it was addressed (our source address as sent).
    Reply {
        local: Ipv4Addr,
    },
    /// An ICMP error quoting our request.
    Error {
        errno: i32,
        local: Ipv4Addr,
    },
    Unrelated,
}

pub fn classify_packet(pkt: &[u8], target: Ipv4Addr, id: u16, seq: u16) -> Seen {
    let Some((src, dst, proto, icmp)) = ipv4(pkt) else { return Seen::Unrelated };
    if proto != 1 || icmp.len() < 8 {
        return Seen::Unrelated;
    }
    let (ty, code) = (icmp[0], icmp[1]);
    let our = |h: &[u8]| h.len() >= 8 && u16::from_be_bytes([h[4], h[5]]) == id && u16::from_be_bytes([h[6], h[7]]) == seq;
    if ty == ICMP_ECHOREPLY {
        return if src == target && our(icmp) { Seen::Reply { local: dst } } else { Seen::Unrelated };
    }
    let Some(errno) = icmp_errno(ty, code) else { return Seen::Unrelated };
    // The error quotes our request's IP header and its first 8 bytes (RFC 792).
    match ipv4(&icmp[8..]) {
        Some((inner_src, inner_dst, 1, inner)) if inner_dst == target && inner.first() == Some(&ICMP_ECHO) && our(inner) => {
            Seen::Error { errno, local: inner_src }
        }
        _ => Seen::Unrelated,
    }
}

/// Sends one echo request to `target` and waits for the reply or an error about it.
/// Returns the result word and our source address when known.
pub fn ping(target: Ipv4Addr, src: Option<Ipv4Addr>, timeout: Duration) -> (String, Option<String>) {
    let as_local = |a: Ipv4Addr| Some(a.to_string());
    let mut sock = match Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)) {
        Ok(s) => s,
        Err(e) => return (super::classify(&e), None),
    };
    if let Some(s) = src {
        if let Err(e) = sock.bind(&SockAddr::from(SocketAddr::new(IpAddr::V4(s), 0))) {
            return (super::classify(&e), None);
        }
    }
    // Raw sockets leave the echo id alone, so the process id tells our replies from others'.
    let id = (std::process::id() & 0xffff) as u16;
    let seq = 1;
    let to = SockAddr::from(SocketAddr::new(IpAddr::V4(target), 0));
    // A local refusal (no route, an OUTPUT drop) shows on sendto, as for ping (raw_sendmsg).
    if let Err(e) = sock.send_to(&echo_request(id, seq), &to) {
        return (super::classify(&e), src.and_then(as_local));
    }
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || sock.set_read_timeout(Some(left)).is_err() {
            return ("timeout".into(), src.and_then(as_local));
        }
        let n = match sock.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return ("timeout".into(), src.and_then(as_local));
            }
            Err(e) => return (super::classify(&e), src.and_then(as_local)),
        };
        match classify_packet(&buf[..n], target, id, seq) {
            Seen::Reply { local } => return ("connected".into(), as_local(local)),
            Seen::Error { errno, local } => {
                return (super::classify(&std::io::Error::from_raw_os_error(errno)), as_local(local));
            }
            Seen::Unrelated => {}
        }
    }
}

/// A raw ICMP socket that sees every echo request delivered to this namespace (raw_local_deliver
/// runs before icmp_rcv answers it), for `probe listen --icmp`.
pub struct EchoWatcher {
    sock: Socket,
}

impl EchoWatcher {
    pub fn open(bind: Option<Ipv4Addr>) -> std::io::Result<EchoWatcher> {
        let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))?;
        if let Some(b) = bind.filter(|b| !b.is_unspecified()) {
            sock.bind(&SockAddr::from(SocketAddr::new(IpAddr::V4(b), 0)))?;
        }
        Ok(EchoWatcher { sock })
    }

    /// The next echo request as (source, destination), or None at the timeout.
    pub fn next(&mut self, timeout: Option<Duration>) -> std::io::Result<Option<(Ipv4Addr, Ipv4Addr)>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut buf = [0u8; 2048];
        loop {
            let left = match deadline {
                Some(d) => {
                    let l = d.saturating_duration_since(Instant::now());
                    if l.is_zero() {
                        return Ok(None);
                    }
                    Some(l)
                }
                None => None,
            };
            self.sock.set_read_timeout(left)?;
            let n = match self.sock.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return Ok(None),
                Err(e) => return Err(e),
            };
            if let Some((src, dst, 1, icmp)) = ipv4(&buf[..n]) {
                if icmp.first() == Some(&ICMP_ECHO) {
                    return Ok(Some((src, dst)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip_header(src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
        h.extend_from_slice(&src);
        h.extend_from_slice(&dst);
        h.extend_from_slice(payload);
        h
    }

    #[test]
    fn checksum_of_a_request_verifies() {
        let p = echo_request(0x1234, 1);
        assert_eq!(checksum(&p), 0, "a packet including its checksum sums to zero");
    }

    #[test]
    fn replies_and_quoted_errors_are_recognised() {
        let target = Ipv4Addr::new(10, 0, 0, 2);
        let mut reply = echo_request(7, 1);
        reply[0] = ICMP_ECHOREPLY;
        let pkt = ip_header([10, 0, 0, 2], [10, 0, 0, 1], &reply);
        assert_eq!(classify_packet(&pkt, target, 7, 1), Seen::Reply { local: Ipv4Addr::new(10, 0, 0, 1) });
        assert_eq!(classify_packet(&pkt, target, 8, 1), Seen::Unrelated, "someone else's id");
        let quoted = ip_header([10, 0, 0, 1], [10, 0, 0, 2], &echo_request(7, 1)[..8]);
        let mut err = vec![ICMP_DEST_UNREACH, 13, 0, 0, 0, 0, 0, 0];
        err.extend_from_slice(&quoted);
        let pkt = ip_header([10, 0, 0, 254], [10, 0, 0, 1], &err);
        assert_eq!(classify_packet(&pkt, target, 7, 1), Seen::Error { errno: nix::libc::EHOSTUNREACH, local: Ipv4Addr::new(10, 0, 0, 1) });
        assert_eq!(classify_packet(&pkt[..30], target, 7, 1), Seen::Unrelated, "truncated");
    }
}
