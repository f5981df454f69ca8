//! `nfpath probe` against the real kernel: what a client socket reports in each case, and what a
//! listener sees (including the destination of a datagram sent to a wildcard socket, after DNAT).

use harness::{ConnectOpts, Lab, ListenOpts, Proto};

/// a (10.0.0.1) --veth-- b (10.0.0.2, 10.0.0.3)
fn two_hosts(lab: &Lab) -> (harness::Ns, harness::Ns) {
    let (a, b) = (lab.ns("a"), lab.ns("b"));
    lab.veth((&a, "eth0"), (&b, "eth0"));
    a.sh("ip addr add 10.0.0.1/24 dev eth0");
    b.sh("ip addr add 10.0.0.2/24 dev eth0; ip addr add 10.0.0.3/24 dev eth0");
    (a, b)
}

#[test]
fn tcp_connected_and_refused() {
    let lab = Lab::new("cli");
    let (a, b) = two_hosts(&lab);
    let server = b.listen(Proto::Tcp, 80);
    let c = a.connect("10.0.0.2:80", Proto::Tcp);
    assert_eq!(c.result, "connected", "{:?}", c.raw);
    let seen = server.wait_for(1);
    assert_eq!(seen[0].proto, "tcp");
    assert_eq!(seen[0].local.to_string(), "10.0.0.2:80");
    assert_eq!(Some(seen[0].peer), c.local, "the server's peer is the client's own address");
    // Nobody listens on 81: the kernel answers the SYN with a RST (tcp_v4_send_reset).
    assert_eq!(a.connect("10.0.0.2:81", Proto::Tcp).result, "refused");
}

#[test]
fn udp_echo_reports_the_destination_the_datagram_was_sent_to() {
    let lab = Lab::new("cli");
    let (a, b) = two_hosts(&lab);
    let server = b.listen(Proto::Udp, 53);
    let c = a.connect_with("10.0.0.3:53", Proto::Udp, ConnectOpts { sport: Some(4444), ..Default::default() });
    assert_eq!(c.result, "connected", "{:?}", c.raw);
    assert_eq!(c.local.map(|l| l.to_string()).as_deref(), Some("10.0.0.1:4444"));
    let seen = server.wait_for(1);
    assert_eq!(seen[0].proto, "udp");
    assert_eq!(seen[0].local.to_string(), "10.0.0.3:53", "wildcard socket must report the header destination");
    assert_eq!(seen[0].peer.to_string(), "10.0.0.1:4444");
    // No socket on 54: ICMP port unreachable, which a connected UDP socket reports as ECONNREFUSED.
    assert_eq!(a.connect("10.0.0.2:54", Proto::Udp).result, "refused");
}

#[test]
fn udp_dnat_seen_dst_is_the_translated_address_and_the_echo_comes_back() {
    let lab = Lab::new("cli");
    let (a, b) = two_hosts(&lab);
    // A service address that only exists as a DNAT rule on the receiver.
    b.sh("iptables -t nat -A PREROUTING -d 198.51.100.10 -p udp --dport 5353 -j DNAT --to-destination 10.0.0.3:53");
    a.sh("ip route add 198.51.100.10/32 via 10.0.0.2");
    let server = b.listen(Proto::Udp, 53);
    let c = a.connect("198.51.100.10:5353", Proto::Udp);
    assert_eq!(c.result, "connected", "the reply must be un-DNATed by conntrack: {:?}", c.raw);
    assert_eq!(server.wait_for(1)[0].local.to_string(), "10.0.0.3:53");
}

#[test]
fn errno_cases_as_the_kernel_reports_them() {
    let lab = Lab::new("cli");
    let (a, b) = two_hosts(&lab);
    // No route: ip_route_connect fails before any packet leaves.
    assert_eq!(a.connect("192.0.2.1:80", Proto::Tcp).result, "error:ENETUNREACH");
    assert_eq!(a.connect("192.0.2.1:80", Proto::Udp).result, "error:ENETUNREACH");
    // An unreachable route type: EHOSTUNREACH for TCP and UDP connect (fib_props[RTN_UNREACHABLE]).
    a.sh("ip route add unreachable 203.0.113.0/24");
    assert_eq!(a.connect("203.0.113.1:80", Proto::Tcp).result, "error:EHOSTUNREACH");
    assert_eq!(a.connect("203.0.113.1:80", Proto::Udp).result, "error:EHOSTUNREACH");
    // prohibit: EACCES (fib_props[RTN_PROHIBIT]).
    a.sh("ip route add prohibit 203.0.113.128/25");
    assert_eq!(a.connect("203.0.113.129:80", Proto::Tcp).result, "error:EACCES");
    // blackhole: EINVAL (fib_props[RTN_BLACKHOLE]).
    a.sh("ip route add blackhole 198.51.100.0/24");
    assert_eq!(a.connect("198.51.100.1:80", Proto::Tcp).result, "error:EINVAL");
    // A DROP in the client's own OUTPUT chain: a UDP send() gets EPERM, but TCP's tcp_connect()
    // ignores the SYN's transmit error and lets the retransmit timer run, so connect() times out.
    a.sh("iptables -A OUTPUT -d 10.0.0.3 -j DROP");
    assert_eq!(a.connect("10.0.0.3:80", Proto::Udp).result, "error:EPERM");
    let t = a.connect_with("10.0.0.3:80", Proto::Tcp, ConnectOpts { timeout_ms: Some(300), ..Default::default() });
    assert_eq!(t.result, "timeout");
    // A DROP at the receiver: nothing comes back.
    b.sh("iptables -A INPUT -p tcp --dport 82 -j DROP; iptables -A INPUT -p udp --dport 82 -j DROP");
    let t = a.connect_with("10.0.0.2:82", Proto::Tcp, ConnectOpts { timeout_ms: Some(300), ..Default::default() });
    assert_eq!(t.result, "timeout");
    assert_eq!(a.connect_with("10.0.0.2:82", Proto::Udp, ConnectOpts { timeout_ms: Some(300), ..Default::default() }).result, "timeout");
    // REJECT sends ICMP through icmp_send(), which rate-limits destination-unreachable per peer
    // (icmpv4_xrlim_allow, burst of 6): this test sends more than that, so lift the limit.
    b.sh("sysctl -qw net.ipv4.icmp_ratelimit=0");
    // REJECT variants, as the client's socket sees them (icmp_err_convert in net/ipv4/icmp.c).
    b.sh("iptables -A INPUT -p tcp --dport 83 -j REJECT --reject-with tcp-reset");
    assert_eq!(a.connect("10.0.0.2:83", Proto::Tcp).result, "refused");
    b.sh("iptables -A INPUT -p tcp --dport 84 -j REJECT");
    assert_eq!(a.connect("10.0.0.2:84", Proto::Tcp).result, "refused");
    b.sh("iptables -A INPUT -p tcp --dport 85 -j REJECT --reject-with icmp-host-unreachable");
    assert_eq!(a.connect("10.0.0.2:85", Proto::Tcp).result, "error:EHOSTUNREACH");
    // UDP reports only "fatal" ICMP errors without IP_RECVERR (__udp4_lib_err): host and net
    // unreachable are not fatal, so the client just waits; port unreachable and admin-prohibited are.
    let quick = ConnectOpts { timeout_ms: Some(300), ..Default::default() };
    b.sh("iptables -A INPUT -p udp --dport 85 -j REJECT --reject-with icmp-host-unreachable");
    assert_eq!(a.connect_with("10.0.0.2:85", Proto::Udp, quick.clone()).result, "timeout");
    b.sh("iptables -A INPUT -p udp --dport 87 -j REJECT --reject-with icmp-net-unreachable");
    assert_eq!(a.connect_with("10.0.0.2:87", Proto::Udp, quick.clone()).result, "timeout");
    b.sh("iptables -A INPUT -p udp --dport 86 -j REJECT --reject-with icmp-admin-prohibited");
    assert_eq!(a.connect("10.0.0.2:86", Proto::Udp).result, "error:EHOSTUNREACH");
    b.sh("iptables -A INPUT -p tcp --dport 86 -j REJECT --reject-with icmp-admin-prohibited");
    assert_eq!(a.connect("10.0.0.2:86", Proto::Tcp).result, "error:EHOSTUNREACH");
    b.sh("iptables -A INPUT -p tcp --dport 87 -j REJECT --reject-with icmp-net-unreachable");
    assert_eq!(a.connect("10.0.0.2:87", Proto::Tcp).result, "error:ENETUNREACH");
    b.sh("iptables -A INPUT -p udp --dport 88 -j REJECT --reject-with icmp-port-unreachable");
    assert_eq!(a.connect("10.0.0.2:88", Proto::Udp).result, "refused");
    // A source address the host does not own cannot be bound.
    let r = a.connect_with("10.0.0.2:80", Proto::Tcp, ConnectOpts { src: Some("10.0.0.9".into()), ..Default::default() });
    assert_eq!(r.result, "error:EADDRNOTAVAIL");
}

#[test]
fn listener_count_and_timeout_end_the_process() {
    let lab = Lab::new("cli");
    let (a, b) = two_hosts(&lab);
    let out = b.nfpath(&["probe", "listen", "--udp", "9", "--count", "1", "--timeout-ms", "200"]);
    assert_eq!(out.status.code(), Some(1), "timeout before --count requests is exit 1");
    let server = b.listen_with(Proto::Tcp, 8080, ListenOpts { bind: Some("10.0.0.3".into()), count: Some(1), timeout_ms: Some(5000) });
    assert_eq!(a.connect("10.0.0.2:8080", Proto::Tcp).result, "refused", "bound to 10.0.0.3 only");
    assert_eq!(a.connect("10.0.0.3:8080", Proto::Tcp).result, "connected");
    assert_eq!(server.wait_for(1).len(), 1);
}

#[test]
fn dual_stack_listener_reports_ipv6_and_ipv4_destinations() {
    let lab = Lab::new("cli");
    let (a, b) = two_hosts(&lab);
    a.sh("ip -6 addr add 2001:db8::1/64 dev eth0 nodad");
    b.sh("ip -6 addr add 2001:db8::2/64 dev eth0 nodad; ip -6 addr add 2001:db8::3/64 dev eth0 nodad");
    let udp = b.listen_with(Proto::Udp, 53, ListenOpts { bind: Some("::".into()), ..Default::default() });
    assert_eq!(a.connect("[2001:db8::3]:53", Proto::Udp).result, "connected");
    assert_eq!(a.connect("10.0.0.3:53", Proto::Udp).result, "connected");
    let seen = udp.wait_for(2);
    assert_eq!(seen[0].local.to_string(), "[2001:db8::3]:53");
    assert_eq!(seen[0].peer.ip().to_string(), "2001:db8::1");
    assert_eq!(seen[1].local.to_string(), "10.0.0.3:53", "IPv4 on a dual-stack socket is reported as IPv4");
    assert_eq!(seen[1].peer.ip().to_string(), "10.0.0.1");
    let tcp = b.listen_with(Proto::Tcp, 80, ListenOpts { bind: Some("::".into()), ..Default::default() });
    assert_eq!(a.connect("[2001:db8::2]:80", Proto::Tcp).result, "connected");
    assert_eq!(a.connect("10.0.0.2:80", Proto::Tcp).result, "connected");
    let seen = tcp.wait_for(2);
    assert_eq!(seen[0].local.to_string(), "[2001:db8::2]:80");
    assert_eq!(seen[1].local.to_string(), "10.0.0.2:80");
}

#[test]
fn icmp_echo_results_as_ping_sees_them() {
    let lab = Lab::new("cli");
    let (a, b) = two_hosts(&lab);
    b.sh("sysctl -qw net.ipv4.icmp_ratelimit=0");
    let watcher = b.listen(Proto::Icmp, 0);
    let c = a.connect("10.0.0.3", Proto::Icmp);
    assert_eq!(c.result, "connected", "{:?}", c.raw);
    assert_eq!(c.local.map(|l| l.ip().to_string()).as_deref(), Some("10.0.0.1"));
    let seen = watcher.wait_for(1);
    assert_eq!((seen[0].proto.as_str(), seen[0].peer.ip().to_string(), seen[0].local.ip().to_string()), ("icmp", "10.0.0.1".into(), "10.0.0.3".into()));
    // DNAT of an echo: the listener sees the translated destination, the reply is un-NATed.
    b.sh("iptables -t nat -A PREROUTING -d 198.51.100.10 -p icmp -j DNAT --to-destination 10.0.0.2");
    a.sh("ip route add 198.51.100.10/32 via 10.0.0.2");
    assert_eq!(a.connect("198.51.100.10", Proto::Icmp).result, "connected");
    assert_eq!(watcher.wait_for(2)[1].local.ip().to_string(), "10.0.0.2");
    // Refusals on the sending host show on sendto, as for TCP/UDP.
    assert_eq!(a.connect("192.0.2.1", Proto::Icmp).result, "error:ENETUNREACH");
    a.sh("iptables -A OUTPUT -p icmp -d 10.0.0.3 -j DROP");
    assert_eq!(a.connect("10.0.0.3", Proto::Icmp).result, "error:EPERM");
    // An ICMP error from the receiver names the errno ping_err() would give.
    b.sh("iptables -A INPUT -p icmp --icmp-type echo-request -d 10.0.0.2 -j REJECT --reject-with icmp-host-prohibited");
    assert_eq!(a.connect("10.0.0.2", Proto::Icmp).result, "error:EHOSTUNREACH");
    b.sh("iptables -I INPUT -p icmp --icmp-type echo-request -j DROP");
    let t = a.connect_with("10.0.0.2", Proto::Icmp, ConnectOpts { timeout_ms: Some(300), ..Default::default() });
    assert_eq!(t.result, "timeout");
}
