#!/bin/sh
# kube-proxy's teaching paths on a two-node flannel VXLAN cluster, built in network namespaces
# and collected with `nfpath collect`.
#
#   lan      the LAN 192.168.0.0/24: a bridge with 192.168.0.1 (a client outside the
#            LoadBalancer's source ranges); routes 203.0.113.10 (the LoadBalancer IP) to node-a
#   client   192.168.0.70 on the LAN (inside the source range 192.168.0.64/26)
#   node-a   192.168.0.11, cni0 10.244.1.1/24, pod a1 10.244.1.2 (listens tcp 8080)
#   node-b   192.168.0.12, cni0 10.244.2.1/24, pod b1 10.244.2.2 (listens tcp 8080)
#
# flannel.1 on each node (VNI 1, port 8472), flanneld's lease entries for the other node, its
# masquerade rules, and kube-proxy's rules (rules/*.rules, from nfpath's generator):
#   shop/web    10.96.10.10:80, NodePort 30080 -> a1:8080, b1:8080
#   shop/local  10.96.10.11:80, NodePort 30081, externalTrafficPolicy Local -> b1:8080
#   shop/lb     10.96.10.12:80, NodePort 30082, LoadBalancer 203.0.113.10 allowed from
#               192.168.0.64/26 -> b1:8080
#   shop/self-a 10.96.10.13:80 -> a1:8080 (a1 calling it is hairpin traffic)
#   shop/empty  10.96.10.14:80, no endpoints
#
# Usage: build.sh [--keep] [--down] [--prefix P] [--out DIR] [--nfpath BIN]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prefix=nfp-kpf
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
  n=$1 i=$2 mac=$3
  veth "$n" eth0 lan "p$n"
  x lan ip link set "p$n" master br0
  x "$n" ip addr add "192.168.0.1$i/24" dev eth0
  x "$n" ip route add default via 192.168.0.1
  x "$n" sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  cni_bridge "$n" "10.244.$i.1/24"
  vtep "$n" flannel.1 "$mac" 1 8472 "192.168.0.1$i" "10.244.$i.0/32"
  rules "$n" "$here/rules/$n.rules"
  flannel_masq "$n" "10.244.$i.0/24" 10.244.0.0/16
}
node node-a 1 0e:00:00:00:01:0a
node node-b 2 0e:00:00:00:01:0b
bridge_pod node-a veth1a2b3c4d a1 10.244.1.2/24 10.244.1.1
bridge_pod node-b veth5e6f7a8b b1 10.244.2.2/24 10.244.2.1
lease node-a flannel.1 10.244.2.0 0e:00:00:00:01:0b 192.168.0.12 10.244.2.0/24
lease node-b flannel.1 10.244.1.0 0e:00:00:00:01:0a 192.168.0.11 10.244.1.0/24

listen a1 tcp 8080
listen b1 tcp 8080
finish
