#!/bin/sh
# Builds the kube-proxy-routed scenario in real network namespaces and collects one snapshot
# folder per namespace with `nfpath collect`.
#
#   node      eth0 192.168.0.10/24, pods on calico-style veths (cali-a, cali-b: no address,
#             proxy_arp, /32 routes), kube-proxy rules from rules/node.rules, default route via
#             the outside namespace.
#   pod-a     10.244.1.2/32, default via 169.254.1.1 (proxy-ARPed by the node), listens tcp 8080
#   pod-b     10.244.1.3/32, same, listens tcp 8080 and udp 5353
#   outside   192.168.0.53/24 on the node's LAN, forwarding off, no default route
#
# Usage: build.sh [--keep] [--prefix P] [--out DIR] [--nfpath BIN]
#   --keep     leave the namespaces (and the listeners) up after collecting; `build.sh --down`
#              removes them
#   --out DIR  where the snapshot folders go (default: snapshots/ beside this script)
# Environment: NFPATH (the nfpath binary), LOGDIR (listener logs, with --keep).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prefix=nfp-kpr
out="$here/snapshots"
keep=0
down=0
nfpath=${NFPATH:-nfpath}
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=1 ;;
    --down) down=1 ;;
    --prefix) prefix=$2; shift ;;
    --out) out=$2; shift ;;
    --nfpath) nfpath=$2; shift ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

teardown() {
  for n in node pod-a pod-b outside; do
    for p in $(ip netns pids "$prefix-$n" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    ip netns del "$prefix-$n" 2>/dev/null || true
  done
}
teardown
[ "$down" = 1 ] && exit 0
[ "$keep" = 1 ] || trap teardown EXIT

x() { ns=$1; shift; ip netns exec "$prefix-$ns" "$@"; }
for n in node pod-a pod-b outside; do
  ip netns add "$prefix-$n"
  x "$n" ip link set lo up
done

# The LAN between the node and the outside world.
ip link add eth0 netns "$prefix-node" type veth peer name eth0 netns "$prefix-outside"
x node ip addr add 192.168.0.10/24 dev eth0
x node ip link set eth0 up
x outside ip addr add 192.168.0.53/24 dev eth0
x outside ip link set eth0 up
x outside sysctl -qw net.ipv4.ip_forward=0
x node sysctl -qw net.ipv4.ip_forward=1
x node ip route add default via 192.168.0.53 dev eth0

# Pods on calico-style veths.
pod() {
  name=$1 dev=$2 ip=$3
  ip link add "$dev" netns "$prefix-node" type veth peer name eth0 netns "$prefix-$name"
  x node ip link set "$dev" up
  x node sysctl -qw "net.ipv4.conf.$dev.proxy_arp=1"
  # As calico does: answer proxy ARP at once (the default delays it up to 0.8 s).
  x node sysctl -qw "net.ipv4.neigh.$dev.proxy_delay=0"
  x node ip route add "$ip/32" dev "$dev" scope link
  x "$name" ip addr add "$ip/32" dev eth0
  x "$name" ip link set eth0 up
  x "$name" ip route add 169.254.1.1 dev eth0 scope link
  x "$name" ip route add default via 169.254.1.1 dev eth0
}
pod pod-a cali-a 10.244.1.2
pod pod-b cali-b 10.244.1.3

grep -v '^#' "$here/rules/node.rules" | x node iptables-restore

# Listeners, so that the snapshots' sockets.txt shows them (and --keep can be probed).
# With --keep, what each listener receives is appended to $LOGDIR/<ns>.<proto><port>.jsonl.
logdir=${LOGDIR:-/dev/null}
listen() {
  if [ "$logdir" = /dev/null ]; then log=/dev/null; else log="$logdir/$1.$2$3.jsonl"; fi
  # A plain command, not the x function: dash would leak its saved copy of our stdout into the
  # background job, and whoever reads our output would wait for the listener to exit.
  ip netns exec "$prefix-$1" "$nfpath" probe listen "--$2" "$3" --timeout-ms 600000 >"$log" 2>/dev/null </dev/null &
}
listen pod-a tcp 8080
listen pod-b tcp 8080
listen pod-b udp 5353
sleep 0.3

for n in node pod-a pod-b outside; do
  "$nfpath" collect --netns "$prefix-$n" --out "$out/$n" >/dev/null 2>&1
done
echo "collected: $out/{node,pod-a,pod-b,outside}"
