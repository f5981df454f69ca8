#!/bin/sh
# Incident 2 (seeds/001): a managed cluster's network checklist, built in network namespaces;
# the nodes, pods and the IDC host are collected with `nfpath collect`.
#
#   vpc     the VPC's router: bridge br0 192.168.0.1/24 for the nodes, to-idc 172.20.0.1/24 (the
#           VPN to the on-premises network); it has no route for the pod CIDR (no BGP)
#   node-a  192.168.0.11, cni0 10.244.1.1/24, pod a1 10.244.1.2 (tcp 8080)
#   node-b  192.168.0.12, cni0 10.244.2.1/24, pod b1 10.244.2.2 (tcp 8080)
#   idc     172.20.0.5, a host in the IDC (tcp 9000), default route via the VPN
#
# Pods are routed between nodes without an overlay (`<pod subnet> via <node>`, as flannel's
# host-gw or a VPC route table does), so pod addresses travel the VPC. ip-masq-agent
# masquerades pod traffic unless the destination is in its nonMasqueradeCIDRs; kube-proxy serves
# shop/web (NodePort 30080, a1 and b1). Each node's security group is emulated in the VPC
# router (filter FORWARD, stateful through conntrack; br_netfilter shows it the bridged frames).
#
#   broken: nonMasqueradeCIDRs holds the IDC range 172.20.0.0/16; the security group allows only
#           the VPC 192.168.0.0/24
#   fixed:  the IDC range is no longer in nonMasqueradeCIDRs; the security group also allows the
#           pod CIDR 10.244.0.0/16 and the NodePort range 30000-32767 from the IDC
#
# Usage: build.sh --variant broken|fixed [--keep] [--down] [--prefix P] [--out DIR] [--nfpath BIN]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
variant=
case "${1:-}" in --variant) variant=$2; shift 2 ;; esac
case "$variant" in broken|fixed) ;; *) echo "build.sh: --variant broken|fixed" >&2; exit 2 ;; esac
prefix=nfp-inc2$variant
out="$here/$variant/snapshots"
names="vpc idc node-a node-b a1 b1"
collect_names="idc node-a node-b a1 b1"
. "$here/../lib.sh"
scenario_args "$@"

x vpc ip link add name br0 type bridge
x vpc ip addr add 192.168.0.1/24 dev br0
x vpc ip link set br0 up
x vpc sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
veth idc eth0 vpc to-idc
x vpc ip addr add 172.20.0.1/24 dev to-idc
x idc ip addr add 172.20.0.5/24 dev eth0
x idc ip route add default via 172.20.0.1
node() {
  n=$1 i=$2 peer=$3
  veth "$n" eth0 vpc "p$n"
  x vpc ip link set "p$n" master br0
  x "$n" ip addr add "192.168.0.1$i/24" dev eth0
  x "$n" ip route add default via 192.168.0.1
  x "$n" ip route add "10.244.$peer.0/24" via "192.168.0.1$peer" dev eth0
  x "$n" sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  cni_bridge "$n" "10.244.$i.1/24"
  rules "$n" "$here/rules/$n.rules"
  # ip-masq-agent.
  x "$n" iptables -t nat -N IP-MASQ-AGENT
  x "$n" iptables -t nat -A POSTROUTING -m comment --comment "ip-masq-agent: ensure nat POSTROUTING directs all non-LOCAL destination traffic to our custom IP-MASQ-AGENT chain" -m addrtype ! --dst-type LOCAL -j IP-MASQ-AGENT
  for c in 10.244.0.0/16 192.168.0.0/24 $nonmasq_extra; do
    x "$n" iptables -t nat -A IP-MASQ-AGENT -d "$c" -m comment --comment "ip-masq-agent: local traffic is not subject to MASQUERADE" -j RETURN
  done
  x "$n" iptables -t nat -A IP-MASQ-AGENT -m comment --comment "ip-masq-agent: outbound traffic is subject to MASQUERADE (must be last in chain)" -j MASQUERADE
  # The node's security group, in the VPC router.
  sg=SG-$(echo "$n" | tr a-z A-Z)
  x vpc iptables -N "$sg"
  x vpc iptables -A FORWARD -m physdev --physdev-out "p$n" --physdev-is-bridged -j "$sg"
  x vpc iptables -A FORWARD -o br0 -d "192.168.0.1$i" -j "$sg"
  x vpc iptables -A "$sg" -s 192.168.0.0/24 -j ACCEPT
  if [ "$variant" = fixed ]; then
    x vpc iptables -A "$sg" -s 10.244.0.0/16 -j ACCEPT
    x vpc iptables -A "$sg" -s 172.20.0.0/16 -p tcp --dport 30000:32767 -j ACCEPT
  fi
  x vpc iptables -A "$sg" -j DROP
}
if [ "$variant" = broken ]; then nonmasq_extra=172.20.0.0/16; else nonmasq_extra=; fi
x vpc iptables -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
node node-a 1 2
node node-b 2 1
bridge_pod node-a veth2c4e6a81 a1 10.244.1.2/24 10.244.1.1
bridge_pod node-b veth9b7d5f31 b1 10.244.2.2/24 10.244.2.1

listen a1 tcp 8080
listen b1 tcp 8080
listen idc tcp 9000
finish
