#!/bin/sh
# Incident 3 (seeds/002): a NodePort dead on one node of a flannel VXLAN cluster because of what
# an earlier calico install left on it. Built in network namespaces; the hosts and pods are
# collected with `nfpath collect`.
#
#   lan        the LAN 192.168.86.0/24: a bridge, 192.168.86.1 (the gateway, and the client
#              "outside"); it routes nothing further
#   host188    192.168.86.188, pod subnet 10.244.0.0/24 (the master)
#   host189    192.168.86.189, pod subnet 10.244.2.0/24: prometheus-0 10.244.2.6:9090 and
#              grafana 10.244.2.70:3000
#   host190    192.168.86.190, pod subnet 10.244.1.0/24
#
# Every host: cni0, flannel.1 (VNI 1, port 8472, <subnet>.0/32), kube-proxy with NodePort 30038
# -> 10.244.2.6:9090 (rules/*.rules), flannel's masquerade rules, and flanneld's three steps
# (neighbour, fdb entry, route) for each other host's lease.
#
# broken: host188 keeps calico's leftovers: the IPIP fallback device tunl0 holding 10.244.2.0/32
# (the first address of the calico block it owned) and BIRD's `blackhole 10.244.2.0/26 proto
# bird`. flanneld's `ip route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink` is refused
# ("Nexthop has invalid gateway": the gateway is a local address; the blackhole alone would not
# make it invalid), so flanneld removes that lease's neighbour and fdb entry again.
# fixed: tunl0 and the /26 are gone (`ip route del 10.244.2.0/26; rmmod ipip`) and the route is in.
#
# This kernel has no ipip module: tunl0 is built as an empty bridge, down and NOARP as the seed's
# `ifconfig -a` shows it, and its entry in host188's collected ip-link.json is then rewritten to
# what `ip -d -j link` prints for the IPIP fallback device (kind ipip, remote any, local any). The
# kernel's behaviour that matters here, the local address, is the same.
#
# Usage: build.sh --variant broken|fixed [--keep] [--down] [--prefix P] [--out DIR] [--nfpath BIN]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
variant=
case "${1:-}" in --variant) variant=$2; shift 2 ;; esac
case "$variant" in broken|fixed) ;; *) echo "build.sh: --variant broken|fixed" >&2; exit 2 ;; esac
prefix=nfp-inc3$variant
out="$here/$variant/snapshots"
names="lan host188 host189 host190 prometheus-0 grafana"
collect_names="lan host188 host189 host190 prometheus-0 grafana"
. "$here/../lib.sh"
scenario_args "$@"

x lan ip link add name br0 type bridge
x lan ip addr add 192.168.86.1/24 dev br0
x lan ip link set br0 up
x lan sysctl -qw net.ipv4.ip_forward=1
host() {
  h=$1 ip=$2 sub=$3 mac=$4
  veth "$h" eth0 lan "p$h"
  x lan ip link set "p$h" master br0
  x "$h" ip addr add "$ip/24" dev eth0
  x "$h" ip route add default via 192.168.86.1
  x "$h" sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  cni_bridge "$h" "10.244.$sub.1/24"
  vtep "$h" flannel.1 "$mac" 1 8472 "$ip" "10.244.$sub.0/32"
  rules "$h" "$here/rules/$h.rules"
  flannel_masq "$h" "10.244.$sub.0/24" 10.244.0.0/16
}
host host188 192.168.86.188 0 5a:d6:46:ab:ea:17
host host189 192.168.86.189 2 92:e7:b6:4e:e5:73
host host190 192.168.86.190 1 76:50:75:23:dd:f8
bridge_pod host189 veth3f6c2a71 prometheus-0 10.244.2.6/24 10.244.2.1
bridge_pod host189 veth9e04b5d2 grafana 10.244.2.70/24 10.244.2.1

if [ "$variant" = broken ]; then
  x host188 ip link add name tunl0 type bridge
  x host188 ip link set tunl0 arp off
  x host188 ip addr add 10.244.2.0/32 dev tunl0
  x host188 ip route add blackhole 10.244.2.0/26 proto bird
fi
# flanneld on each host, for each other host's lease.
lease host188 flannel.1 10.244.2.0 92:e7:b6:4e:e5:73 192.168.86.189 10.244.2.0/24
lease host188 flannel.1 10.244.1.0 76:50:75:23:dd:f8 192.168.86.190 10.244.1.0/24
lease host189 flannel.1 10.244.0.0 5a:d6:46:ab:ea:17 192.168.86.188 10.244.0.0/24
lease host189 flannel.1 10.244.1.0 76:50:75:23:dd:f8 192.168.86.190 10.244.1.0/24
lease host190 flannel.1 10.244.0.0 5a:d6:46:ab:ea:17 192.168.86.188 10.244.0.0/24
lease host190 flannel.1 10.244.2.0 92:e7:b6:4e:e5:73 192.168.86.189 10.244.2.0/24

listen prometheus-0 tcp 9090
listen grafana tcp 3000
finish
if [ "$variant" = broken ]; then
  as_ipip_fallback "$out/host188/ip-link.json"
fi
