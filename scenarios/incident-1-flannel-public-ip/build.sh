#!/bin/sh
# Incident 1 (seeds/000): two flannel nodes in different private networks that reach each other
# only through the public addresses the cloud maps 1:1. Built in network namespaces; the
# snapshots of the nodes and pods are collected with `nfpath collect`.
#
#   node-a   10.200.200.7/24 (public 203.0.113.163), cni0 10.244.0.1/24 with pod-a 10.244.0.2
#   node-b   172.19.0.13/24  (public 203.0.113.69),  cni0 10.244.1.1/24 with nginx 10.244.1.2:80
#   gw-a, gw-b  each VPC's gateway: 1:1 NAT of its node's public address (DNAT in, SNAT out)
#   inet     between the gateways; routes only the public addresses, nothing private
#
# flannel.1 on each node: VNI 1, port 8472, local = the node's private address. node-b's fdb
# entry for node-a's VTEP MAC points at node-a's public address. node-a's entry for node-b's
# points at node-b's `flannel.alpha.coreos.com/public-ip` annotation: its private address
# 172.19.0.13 as it was (broken), the public 203.0.113.69 after `public-ip-overwrite` (fixed).
#
# Usage: build.sh --variant broken|fixed [--keep] [--down] [--prefix P] [--out DIR] [--nfpath BIN]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
variant=
case "${1:-}" in --variant) variant=$2; shift 2 ;; esac
case "$variant" in broken) b_vtep=172.19.0.13 ;; fixed) b_vtep=203.0.113.69 ;; *) echo "build.sh: --variant broken|fixed" >&2; exit 2 ;; esac
prefix=nfp-inc1$variant
out="$here/$variant/snapshots"
names="node-a node-b pod-a nginx gw-a gw-b inet"
collect_names="node-a node-b pod-a nginx"
. "$here/../lib.sh"
scenario_args "$@"

# The cloud: two VPC gateways and the internet between them.
veth node-a eth0 gw-a lan
veth node-b eth0 gw-b lan
veth gw-a wan inet to-a
veth gw-b wan inet to-b
x gw-a ip addr add 10.200.200.1/24 dev lan
x gw-b ip addr add 172.19.0.1/24 dev lan
x gw-a ip addr add 198.51.100.1/30 dev wan
x gw-b ip addr add 198.51.100.5/30 dev wan
x inet ip addr add 198.51.100.2/30 dev to-a
x inet ip addr add 198.51.100.6/30 dev to-b
x inet ip route add 203.0.113.163/32 via 198.51.100.1
x inet ip route add 203.0.113.69/32 via 198.51.100.5
x gw-a ip route add default via 198.51.100.2
x gw-b ip route add default via 198.51.100.6
for g in gw-a gw-b inet; do x $g sysctl -qw net.ipv4.ip_forward=1; done
x gw-a iptables -t nat -A PREROUTING -i wan -d 203.0.113.163 -j DNAT --to-destination 10.200.200.7
x gw-a iptables -t nat -A POSTROUTING -o wan -s 10.200.200.7 -j SNAT --to-source 203.0.113.163
x gw-b iptables -t nat -A PREROUTING -i wan -d 203.0.113.69 -j DNAT --to-destination 172.19.0.13
x gw-b iptables -t nat -A POSTROUTING -o wan -s 172.19.0.13 -j SNAT --to-source 203.0.113.69

# The nodes.
x node-a ip addr add 10.200.200.7/24 dev eth0
x node-a ip route add default via 10.200.200.1
x node-b ip addr add 172.19.0.13/24 dev eth0
x node-b ip route add default via 172.19.0.1
for n in node-a node-b; do x $n sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1; done
cni_bridge node-a 10.244.0.1/24
cni_bridge node-b 10.244.1.1/24
bridge_pod node-a veth5a1c0e2b pod-a 10.244.0.2/24 10.244.0.1
bridge_pod node-b veth7b3d91f4 nginx 10.244.1.2/24 10.244.1.1
vtep node-a flannel.1 0e:5a:00:00:00:0a 1 8472 10.200.200.7 10.244.0.0/32
vtep node-b flannel.1 0e:5b:00:00:00:0b 1 8472 172.19.0.13 10.244.1.0/32
lease node-a flannel.1 10.244.1.0 0e:5b:00:00:00:0b "$b_vtep" 10.244.1.0/24
lease node-b flannel.1 10.244.0.0 0e:5a:00:00:00:0a 203.0.113.163 10.244.0.0/24
rules node-a "$here/rules/node-a.rules"
rules node-b "$here/rules/node-b.rules"
flannel_masq node-a 10.244.0.0/24 10.244.0.0/16
flannel_masq node-b 10.244.1.0/24 10.244.0.0/16

listen nginx tcp 80
finish
