#!/bin/sh
# Incident 5 (seeds/004): the path of a NodePort packet through a calico node, as the write-up
# walks it, built in network namespaces and collected with `nfpath collect`.
#
#   lan     the LAN 10.0.0.0/24: a bridge with 10.0.0.53, the external client
#   node1   10.0.0.51, block 192.168.231.64/26, tunl0 192.168.231.64/32,
#           nginx 192.168.231.70 on cali583c2cee4e2
#   node2   10.0.0.52, block 192.168.233.128/26, tunl0 192.168.233.128/32,
#           nginx2 192.168.233.136 on its cali veth
#
# Calico with IPIP: each node routes the other's block `via <node> dev tunl0 onlink` and
# blackholes its own; felix's rules (IPIP mode, from nfpath's generator) then kube-proxy's, as
# the two leave them (lib.sh felix_then_kube). Service default/nginx: NodePort 32220, endpoint
# 192.168.231.70:80 on node1 (--variant local) or 192.168.233.136:80 on node2 (--variant remote).
#
# This kernel has no ipip module: tunl0 is built as an empty bridge (up, NOARP) holding the
# tunnel address, which is enough for its routes and its address, and its entry in each collected
# ip-link.json is rewritten to the IPIP fallback device (lib.sh as_ipip_fallback). Packets the
# kernel sends into the stand-in go nowhere, so only the local variant can be checked on the
# kernel; the remote variant's expectations are nfpath's model (README.md).
#
# Usage: build.sh --variant local|remote [--keep] [--down] [--prefix P] [--out DIR] [--nfpath BIN]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
variant=
case "${1:-}" in --variant) variant=$2; shift 2 ;; esac
case "$variant" in local) dir=local-endpoint ;; remote) dir=remote-endpoint-ipip ;; *) echo "build.sh: --variant local|remote" >&2; exit 2 ;; esac
prefix=nfp-inc5$variant
out="$here/$dir/snapshots"
names="lan node1 node2 nginx nginx2"
collect_names="lan node1 node2 nginx nginx2"
. "$here/../lib.sh"
scenario_args "$@"

x lan ip link add name br0 type bridge
x lan ip addr add 10.0.0.53/24 dev br0
x lan ip link set br0 up
node() {
  n=$1 i=$2 peer=$3 block=$4 tun=$5 peerblock=$6 pod=$7 podip=$8
  veth "$n" eth0 lan "p$n"
  x lan ip link set "p$n" master br0
  x "$n" ip addr add "10.0.0.5$i/24" dev eth0
  x "$n" ip route add default via 10.0.0.53
  x "$n" sysctl -qw net.ipv4.ip_forward=1
  x "$n" ip link add name tunl0 type bridge
  x "$n" ip link set tunl0 arp off mtu 1480 up
  x "$n" ip addr add "$tun/32" dev tunl0
  x "$n" ip route add "$peerblock" via "10.0.0.5$peer" dev tunl0 onlink
  x "$n" ip route add blackhole "$block" proto bird
  cali=$(grep -o 'cali-fw-cali[0-9a-f]*' "$here/rules/felix-$n.rules" | head -1 | sed 's/^cali-fw-//')
  routed_pod "$n" "$cali" "$pod" "$podip"
  felix_then_kube "$n" "$here/rules/felix-$n.rules" "$here/rules/felix-$n.ipset" "$here/rules/$n-$variant.rules"
}
node node1 1 2 192.168.231.64/26 192.168.231.64 192.168.233.128/26 nginx 192.168.231.70
node node2 2 1 192.168.233.128/26 192.168.233.128 192.168.231.64/26 nginx2 192.168.233.136

listen nginx tcp 80
listen nginx2 tcp 80
finish
as_ipip_fallback "$out/node1/ip-link.json"
as_ipip_fallback "$out/node2/ip-link.json"
