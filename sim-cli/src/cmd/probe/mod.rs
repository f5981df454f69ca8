//! `nfpath probe`: the two ends of a real exchange between namespaces, used by the kernel tests
//! and by `nfpath verify` to ask the kernel what the model predicted.
//!
//! `listen` prints one JSON line per request received, with the addresses as the receiver sees
//! them (after any DNAT/SNAT on the way). `connect` prints one JSON line with the result exactly as
//! a client's socket reports it (interface.md §3).

mod icmp;

use crate::error::{CliError, CliResult, EXIT_FAILED, EXIT_OK};
use nix::sys::socket::{self as nsock, sockopt, ControlMessage, ControlMessageOwned, MsgFlags, SockaddrStorage};
use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{IoSlice, IoSliceMut, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, TcpListener, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

/// Real traffic between namespaces: a listener and a client that report what they saw.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples (each in its own namespace):\n  ip netns exec b nfpath probe listen --tcp 80 --count 1 --timeout-ms 5000\n  ip netns exec a nfpath probe connect 10.0.0.2:80 --tcp --timeout-ms 1000\n\nlisten prints {\"proto\":\"tcp\",\"peer\":\"10.0.0.1:40000\",\"local\":\"10.0.0.2:80\"} per request;\nconnect prints {\"result\":\"connected\",\"proto\":\"tcp\",\"remote\":\"10.0.0.2:80\",\"local\":\"10.0.0.1:40000\"}."
)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    Listen(ListenArgs),
    Connect(ConnectArgs),
}

/// Accept TCP connections or UDP datagrams (echoed back) and print one JSON line for each.
#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("proto").required(true).args(["tcp", "udp", "icmp"])),
    after_help = "Example:\n  nfpath probe listen --udp 53 --count 1 --timeout-ms 3000\n\nA line 'nfpath: listening PROTO ADDR' on stderr says the socket is bound. Exits 0 when --count\nrequests arrived or, without --count, when --timeout-ms ran out; 1 when the timeout ran out before\n--count requests."
)]
pub struct ListenArgs {
    /// Listen on this TCP port
    #[arg(long, value_name = "PORT")]
    pub tcp: Option<u16>,
    /// Listen on this UDP port (every datagram is echoed back from the address it was sent to)
    #[arg(long, value_name = "PORT")]
    pub udp: Option<u16>,
    /// Report ICMP echo requests (IPv4; the kernel itself answers them)
    #[arg(long)]
    pub icmp: bool,
    /// Address to bind (IPv4 or IPv6)
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// Stop after this many requests
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop listening this many milliseconds after start
    #[arg(long, value_name = "T")]
    pub timeout_ms: Option<u64>,
}

/// Connect once (TCP handshake, or a UDP datagram that must be echoed) and print the result.
#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("proto").required(true).args(["tcp", "udp", "icmp"])),
    after_help = "Example:\n  nfpath probe connect 10.96.0.10:53 --udp --src 10.244.0.2 --timeout-ms 1000\n\nresult is connected, refused (TCP reset or ICMP port unreachable), timeout, or error:ERRNO as the\nclient's socket reported it (e.g. error:ENETUNREACH, error:EHOSTUNREACH, error:EPERM)."
)]
pub struct ConnectArgs {
    /// Destination ADDR:PORT ([ADDR]:PORT for IPv6); just ADDR for --icmp
    #[arg(value_name = "ADDR:PORT", value_parser = parse_target)]
    pub target: Target,
    /// TCP: connected means the handshake completed
    #[arg(long)]
    pub tcp: bool,
    /// UDP: connected means an answer came back
    #[arg(long)]
    pub udp: bool,
    /// ICMP echo (IPv4): connected means the echo reply came back; ICMP errors map to errnos as
    /// `ping` reports them
    #[arg(long)]
    pub icmp: bool,
    /// Source address to bind before connecting
    #[arg(long, value_name = "ADDR")]
    pub src: Option<IpAddr>,
    /// Source port to bind before connecting
    #[arg(long, value_name = "P")]
    pub sport: Option<u16>,
    /// How long to wait for the handshake or the answer
    #[arg(long, value_name = "T", default_value_t = 1000)]
    pub timeout_ms: u64,
}

/// A probe's destination: an address and port, or only an address (ICMP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Sock(SocketAddr),
    Ip(IpAddr),
}

fn parse_target(s: &str) -> Result<Target, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(Target::Sock(a));
    }
    s.parse::<IpAddr>().map(Target::Ip).map_err(|_| format!("expected ADDR:PORT, [ADDR6]:PORT or ADDR, found {s:?}"))
}

pub fn run(args: Args) -> CliResult<u8> {
    match args.action {
        Action::Listen(a) => listen(a),
        Action::Connect(a) => {
            let report = connect(&a)?;
            print_line(&report)?;
            Ok(EXIT_OK)
        }
    }
}

/// One request as the listener saw it.
#[derive(Debug, Serialize)]
pub struct Received {
    pub proto: &'static str,
    pub peer: String,
    pub local: String,
}

/// The client's view of one exchange.
#[derive(Debug, Serialize)]
pub struct ConnectReport {
    pub result: String,
    pub proto: &'static str,
    pub remote: String,
    /// The socket's own address after the attempt (getsockname), when it had one.
    pub local: Option<String>,
}

fn print_line<T: Serialize>(v: &T) -> CliResult<()> {
    let line = serde_json::to_string(v).map_err(|e| CliError::unusable(format!("cannot encode JSON: {e}")))?;
    let mut out = std::io::stdout().lock();
    // Flushed per line: the harness reads these while the listener keeps running.
    writeln!(out, "{line}").and_then(|_| out.flush()).map_err(|e| CliError::unusable(format!("cannot write to stdout: {e}")))
}

fn listen(a: ListenArgs) -> CliResult<u8> {
    let deadline = a.timeout_ms.map(|t| Instant::now() + Duration::from_millis(t));
    let limit = a.count.unwrap_or(u64::MAX);
    let seen = match (a.tcp, a.udp, a.icmp) {
        (Some(port), _, _) => listen_tcp(SocketAddr::new(a.bind, port), limit, deadline)?,
        (None, Some(port), _) => listen_udp(SocketAddr::new(a.bind, port), limit, deadline)?,
        (None, None, true) => listen_icmp(a.bind, limit, deadline)?,
        (None, None, false) => return Err(CliError::unusable("probe listen needs --tcp PORT, --udp PORT or --icmp")),
    };
    Ok(if a.count.is_some_and(|n| seen < n) { EXIT_FAILED } else { EXIT_OK })
}

fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

fn bind_err(addr: SocketAddr, e: std::io::Error) -> CliError {
    CliError::unusable(format!("cannot bind {addr}: {e}"))
}

fn announce(proto: &str, addr: SocketAddr) {
    eprintln!("nfpath: listening {proto} {addr}");
}

fn listen_tcp(addr: SocketAddr, limit: u64, deadline: Option<Instant>) -> CliResult<u64> {
    let listener = TcpListener::bind(addr).map_err(|e| bind_err(addr, e))?;
    announce("tcp", listener.local_addr().unwrap_or(addr));
    let mut seen = 0;
    while seen < limit {
        // poll() before accept() so that the deadline holds even when nobody connects.
        let wait = match remaining(deadline) {
            Some(d) if d.is_zero() => break,
            Some(d) => nix::poll::PollTimeout::try_from(d).unwrap_or(nix::poll::PollTimeout::MAX),
            None => nix::poll::PollTimeout::NONE,
        };
        let mut fds = [nix::poll::PollFd::new(listener.as_fd(), nix::poll::PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, wait) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(CliError::unusable(format!("poll on {addr} failed: {e}"))),
        }
        let (stream, peer) = match listener.accept() {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CliError::unusable(format!("accept on {addr} failed: {e}"))),
        };
        // getsockname on the accepted socket: the destination as the server saw it, after DNAT.
        let local = stream.local_addr().map(|a| unmap(a).to_string()).unwrap_or_default();
        print_line(&Received { proto: "tcp", peer: unmap(peer).to_string(), local })?;
        seen += 1;
    }
    Ok(seen)
}

fn listen_icmp(bind: IpAddr, limit: u64, deadline: Option<Instant>) -> CliResult<u64> {
    let IpAddr::V4(bind4) = bind else {
        return Err(CliError::unusable(format!("--icmp listens on IPv4 only, found --bind {bind}")));
    };
    let mut w = icmp::EchoWatcher::open(Some(bind4)).map_err(|e| CliError::unusable(format!("cannot open a raw ICMP socket on {bind}: {e} (needs root)")))?;
    eprintln!("nfpath: listening icmp {bind}");
    let mut seen = 0;
    while seen < limit {
        let left = remaining(deadline);
        if left.is_some_and(|d| d.is_zero()) {
            break;
        }
        match w.next(left) {
            Ok(Some((src, dst))) => {
                print_line(&Received { proto: "icmp", peer: src.to_string(), local: dst.to_string() })?;
                seen += 1;
            }
            Ok(None) => break,
            Err(e) => return Err(CliError::unusable(format!("reading ICMP on {bind} failed: {e}"))),
        }
    }
    Ok(seen)
}

fn listen_udp(addr: SocketAddr, limit: u64, deadline: Option<Instant>) -> CliResult<u64> {
    let sock = UdpSocket::bind(addr).map_err(|e| bind_err(addr, e))?;
    // IP_PKTINFO / IPV6_RECVPKTINFO give each datagram's header destination, which is what a
    // wildcard-bound server cannot learn otherwise (ip_cmsg_recv_pktinfo in net/ipv4/ip_sockglue.c).
    let v4_info = setsockopt_bool(&sock, sockopt::Ipv4PacketInfo);
    let v6_info = addr.is_ipv6() && setsockopt_bool(&sock, sockopt::Ipv6RecvPacketInfo);
    if !v4_info && !v6_info {
        return Err(CliError::unusable(format!("cannot enable packet info on {addr}")));
    }
    let port = sock.local_addr().map(|a| a.port()).unwrap_or(addr.port());
    announce("udp", sock.local_addr().unwrap_or(addr));
    let mut seen = 0;
    let mut buf = [0u8; 65536];
    while seen < limit {
        match remaining(deadline) {
            Some(d) if d.is_zero() => break,
            Some(d) => sock.set_read_timeout(Some(d)),
            None => sock.set_read_timeout(None),
        }
        .map_err(|e| CliError::unusable(format!("cannot set a timeout on {addr}: {e}")))?;
        let mut cmsg = nix::cmsg_space!(nix::libc::in_pktinfo, nix::libc::in6_pktinfo);
        let (n, peer, dst) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = match nsock::recvmsg::<SockaddrStorage>(sock.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty()) {
                Ok(m) => m,
                Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => continue,
                // A connected-style ICMP error cannot reach an unconnected socket, so any other
                // error is a failure of the listener itself.
                Err(e) => return Err(CliError::unusable(format!("recvmsg on {addr} failed: {e}"))),
            };
            let peer = msg.address.as_ref().and_then(storage_to_std);
            let mut dst: Option<PktDst> = None;
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    match c {
                        ControlMessageOwned::Ipv4PacketInfo(pi) => dst = Some(PktDst::V4(pi)),
                        ControlMessageOwned::Ipv6PacketInfo(pi) => dst = Some(PktDst::V6(pi)),
                        _ => {}
                    }
                }
            }
            (msg.bytes, peer, dst)
        };
        let Some(peer) = peer else { continue };
        let local = match &dst {
            Some(PktDst::V4(pi)) => SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr)), port)),
            Some(PktDst::V6(pi)) => SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(pi.ipi6_addr.s6_addr), port, 0, 0)),
            None => sock.local_addr().unwrap_or(addr),
        };
        print_line(&Received { proto: "udp", peer: unmap(peer).to_string(), local: unmap(local).to_string() })?;
        seen += 1;
        echo(&sock, &buf[..n], peer, dst.as_ref());
    }
    Ok(seen)
}

enum PktDst {
    V4(nix::libc::in_pktinfo),
    V6(nix::libc::in6_pktinfo),
}

/// Sends the datagram back from the address it was sent to, as a well-behaved UDP server does, so
/// that conntrack finds the reply of a DNATed exchange (ip_cmsg_send sets the source from
/// ipi_spec_dst). Echo failures are not the listener's business: the client reports them.
fn echo(sock: &UdpSocket, data: &[u8], peer: SocketAddr, dst: Option<&PktDst>) {
    let iov = [IoSlice::new(data)];
    let to: SockaddrStorage = peer.into();
    let r = match dst {
        Some(PktDst::V4(pi)) => {
            let mut info = *pi;
            info.ipi_spec_dst = pi.ipi_addr;
            info.ipi_ifindex = 0;
            let c = [ControlMessage::Ipv4PacketInfo(&info)];
            nsock::sendmsg(sock.as_raw_fd(), &iov, &c, MsgFlags::empty(), Some(&to))
        }
        Some(PktDst::V6(pi)) => {
            let mut info = *pi;
            info.ipi6_ifindex = 0;
            let c = [ControlMessage::Ipv6PacketInfo(&info)];
            nsock::sendmsg(sock.as_raw_fd(), &iov, &c, MsgFlags::empty(), Some(&to))
        }
        None => nsock::sendmsg(sock.as_raw_fd(), &iov, &[], MsgFlags::empty(), Some(&to)),
    };
    if let Err(e) = r {
        eprintln!("nfpath: warning: echo to {peer} failed: {e}");
    }
}

fn setsockopt_bool<O>(sock: &UdpSocket, opt: O) -> bool
where
    O: nix::sys::socket::SetSockOpt<Val = bool>,
{
    nsock::setsockopt(sock, opt, &true).is_ok()
}

/// An IPv4 peer of a dual-stack `::` socket shows as `::ffff:a.b.c.d`; report it as IPv4, which is
/// what the packet carried.
fn unmap(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => a,
        },
        SocketAddr::V4(_) => a,
    }
}

fn storage_to_std(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::new(v4.ip(), v4.port())));
    }
    s.as_sockaddr_in6().map(|v6| SocketAddr::V6(SocketAddrV6::new(v6.ip(), v6.port(), v6.flowinfo(), v6.scope_id())))
}

/// Runs one exchange and reports it; every network outcome is a result, only arguments that do
/// not fit together are an error.
pub fn connect(a: &ConnectArgs) -> CliResult<ConnectReport> {
    let timeout = Duration::from_millis(a.timeout_ms.max(1));
    if a.icmp {
        let ip = match a.target {
            Target::Ip(IpAddr::V4(ip)) => ip,
            other => return Err(CliError::unusable(format!("--icmp takes an IPv4 address without a port, found {}", show_target(other)))),
        };
        let src = match a.src {
            None => None,
            Some(IpAddr::V4(s)) => Some(s),
            Some(s) => return Err(CliError::unusable(format!("--icmp takes an IPv4 --src, found {s}"))),
        };
        let (result, local) = icmp::ping(ip, src, timeout);
        return Ok(ConnectReport { result, proto: "icmp", remote: ip.to_string(), local });
    }
    let Target::Sock(target) = a.target else {
        return Err(CliError::unusable(format!("--tcp and --udp need ADDR:PORT, found {}", show_target(a.target))));
    };
    let proto = if a.udp { "udp" } else { "tcp" };
    let (result, sock) = if a.udp { connect_udp(a, target, timeout) } else { connect_tcp(a, target, timeout) };
    let local = sock.and_then(|s| s.local_addr().ok()).and_then(|l| l.as_socket()).map(|l| l.to_string());
    Ok(ConnectReport { result, proto, remote: target.to_string(), local })
}

fn show_target(t: Target) -> String {
    match t {
        Target::Sock(s) => s.to_string(),
        Target::Ip(i) => i.to_string(),
    }
}

fn new_socket(a: &ConnectArgs, target: SocketAddr, ty: Type, proto: Protocol) -> Result<Socket, String> {
    let sock = Socket::new(Domain::for_address(target), ty, Some(proto)).map_err(|e| classify(&e))?;
    if a.src.is_some() || a.sport.is_some() {
        let ip = a.src.unwrap_or(if target.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() });
        // SO_REUSEADDR so that repeated probes from a fixed source port do not trip over TIME_WAIT.
        let _ = sock.set_reuse_address(true);
        sock.bind(&SocketAddr::new(ip, a.sport.unwrap_or(0)).into()).map_err(|e| classify(&e))?;
    }
    Ok(sock)
}

fn connect_tcp(a: &ConnectArgs, target: SocketAddr, timeout: Duration) -> (String, Option<Socket>) {
    let sock = match new_socket(a, target, Type::STREAM, Protocol::TCP) {
        Ok(s) => s,
        Err(r) => return (r, None),
    };
    // connect_timeout: non-blocking connect, poll, then SO_ERROR, which is what a blocking
    // connect() would have returned (inet_wait_for_connect / sock_error).
    let r = match sock.connect_timeout(&target.into(), timeout) {
        Ok(()) => "connected".to_string(),
        Err(e) => classify(&e),
    };
    (r, Some(sock))
}

fn connect_udp(a: &ConnectArgs, target: SocketAddr, timeout: Duration) -> (String, Option<Socket>) {
    let sock = match new_socket(a, target, Type::DGRAM, Protocol::UDP) {
        Ok(s) => s,
        Err(r) => return (r, None),
    };
    // connect() on UDP does the route lookup (ip4_datagram_connect), so ENETUNREACH shows here;
    // it also makes the kernel report ICMP errors for this peer on the next recv (__udp4_lib_err).
    if let Err(e) = sock.connect(&target.into()) {
        return (classify(&e), Some(sock));
    }
    if let Err(e) = sock.send(b"nfpath-probe") {
        // An OUTPUT-chain DROP shows here as EPERM (ip_finish_output -> NF_DROP -> -EPERM).
        return (classify(&e), Some(sock));
    }
    if let Err(e) = sock.set_read_timeout(Some(timeout)) {
        return (classify(&e), Some(sock));
    }
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
    let r = match sock.recv(&mut buf) {
        Ok(_) => "connected".to_string(),
        Err(e) => classify(&e),
    };
    (r, Some(sock))
}

/// Maps a socket error to the result vocabulary of interface.md §3.
pub fn classify(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) if n == nix::libc::ECONNREFUSED => "refused".to_string(),
        Some(n) if n == nix::libc::ETIMEDOUT || n == nix::libc::EAGAIN || n == nix::libc::EINPROGRESS => "timeout".to_string(),
        Some(n) => format!("error:{}", errno_name(n)),
        None if matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) => "timeout".to_string(),
        None => format!("error:{}", e.kind()),
    }
}

/// `ECONNREFUSED` for 111, and so on; `E<n>` for numbers libc does not name.
pub fn errno_name(n: i32) -> String {
    let e = nix::errno::Errno::from_raw(n);
    if e == nix::errno::Errno::UnknownErrno {
        format!("E{n}")
    } else {
        format!("{e:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_names_are_the_c_names() {
        assert_eq!(errno_name(nix::libc::ENETUNREACH), "ENETUNREACH");
        assert_eq!(errno_name(nix::libc::EHOSTUNREACH), "EHOSTUNREACH");
        assert_eq!(errno_name(nix::libc::EPERM), "EPERM");
        assert_eq!(classify(&std::io::Error::from_raw_os_error(nix::libc::ECONNREFUSED)), "refused");
        assert_eq!(classify(&std::io::Error::from_raw_os_error(nix::libc::EAGAIN)), "timeout");
        assert_eq!(classify(&std::io::Error::from_raw_os_error(nix::libc::EINVAL)), "error:EINVAL");
    }
}
