#!/bin/sh
# kube-proxy's teaching paths on a two-node calico cluster (VXLAN), built in network namespaces
# and collected with `nfpath collect`.
#
#   lan      the LAN 192.168.0.0/24: a bridge with 192.168.0.1 (a client outside the
#            LoadBalancer's source ranges); routes 203.0.113.10 (the LoadBalancer IP) to node-a
#   client   192.168.0.70 on the LAN (inside the source range 192.168.0.64/26)
#   node-a   192.168.0.11, block 10.244.1.0/26 (blackholed), pod a1 10.244.1.2 on a cali veth
#   node-b   192.168.0.12, block 10.244.2.0/26 (blackholed), pod b1 10.244.2.2 on a cali veth
#
# Calico's plumbing: pods with a /32 and `default via 169.254.1.1`, which the node answers by
# proxy ARP on the cali veth (no address there), a /32 route per pod, vxlan.calico (VNI 4096,
# port 4789, 10.244.x.0/32) with the other node's neighbour, fdb entry and `<block> via
# <vtep address> dev vxlan.calico onlink`. Felix's rules (rules/felix-*.rules and .ipset, from
# nfpath's generator) then kube-proxy's (rules/node-*.rules), in the order the two leave them
# (lib.sh felix_then_kube). Services: as in ../kube-proxy-flannel.
#
# Usage: build.sh [--keep] [--down] [--prefix P] [--out DIR] [--nfpath BIN]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prefix=nfp-kpc
out="$here/snapshots"
names="lan client node-a node-b a1 b1"
collect_names="lan client node-a node-b a1 b1"
. "$here/../lib.sh"
scenario_args "$@"

x lan ip link add name br0 type bridge
x lan ip addr add 192.168.0.1/24 dev br0
x lan ip link set br0 up
x lan ip route add 203.0.113.10/32 via 192.168.0.11
veth client eth0 lan pclient
x lan ip link set pclient master br0
x client ip addr add 192.168.0.70/24 dev eth0
x client ip route add 203.0.113.10/32 via 192.168.0.11
node() {
  n=$1 i=$2 peer=$3 pod=$4
  veth "$n" eth0 lan "p$n"
  x lan ip link set "p$n" master br0
  x "$n" ip addr add "192.168.0.1$i/24" dev eth0
  x "$n" ip route add default via 192.168.0.1
  x "$n" sysctl -qw net.ipv4.ip_forward=1
  cali=$(grep -o 'cali-fw-cali[0-9a-f]*' "$here/rules/felix-$n.rules" | head -1 | sed 's/^cali-fw-//')
  routed_pod "$n" "$cali" "$pod" "10.244.$i.2"
  x "$n" ip route add blackhole "10.244.$i.0/26" proto 80
  vtep "$n" vxlan.calico "66:00:00:00:00:0$i" 4096 4789 "192.168.0.1$i" "10.244.$i.0/32"
  x "$n" ip neigh add "10.244.$peer.0" lladdr "66:00:00:00:00:0$peer" dev vxlan.calico nud permanent
  x "$n" bridge fdb add "66:00:00:00:00:0$peer" dev vxlan.calico dst "192.168.0.1$peer" self permanent
  x "$n" ip route add "10.244.$peer.0/26" via "10.244.$peer.0" dev vxlan.calico onlink
  felix_then_kube "$n" "$here/rules/felix-$n.rules" "$here/rules/felix-$n.ipset" "$here/rules/$n.rules"
}
node node-a 1 2 a1
node node-b 2 1 b1

listen a1 tcp 8080
listen b1 tcp 8080
finish
