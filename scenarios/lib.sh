# Shared helpers for the scenarios' build.sh scripts (POSIX sh, sourced). A build script sets
# `names` (its namespaces, short names) and `collect_names` (those whose snapshots the scenario
# uses), calls `scenario_args "$@"`, builds, then calls `finish`.
#
# Every build.sh accepts: [--keep] [--down] [--prefix P] [--out DIR] [--nfpath BIN]
#   --keep     leave the namespaces and listeners up after collecting (`--down` removes them)
#   --out DIR  where the snapshot folders go (default: snapshots/ beside the cluster file)
# Environment: NFPATH (the nfpath binary), LOGDIR (listener logs, one `<ns>.<proto><port>.jsonl`
# per listener, as tests/scenario_kernel.rs reads them).

scenario_args() {
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
  teardown
  [ "$down" = 1 ] && exit 0
  [ "$keep" = 1 ] || trap teardown EXIT
  for n in $names; do
    ip netns add "$prefix-$n"
    x "$n" ip link set lo up
    # No IPv6: no link-local addresses or router solicitations in the snapshots.
    x "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done
}

teardown() {
  for n in $names; do
    for p in $(ip netns pids "$prefix-$n" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    ip netns del "$prefix-$n" 2>/dev/null || true
  done
}

x() { ns=$1; shift; ip netns exec "$prefix-$ns" "$@"; }

# veth A DEV_A B DEV_B: a pair between two namespaces, both ends up.
veth() {
  ip link add "$2" netns "$prefix-$1" type veth peer name "$4" netns "$prefix-$3"
  x "$1" ip link set "$2" up
  x "$3" ip link set "$4" up
}

# listen NS PROTO PORT: an nfpath probe listener, logged to $LOGDIR/NS.PROTOPORT.jsonl.
listen() {
  logdir=${LOGDIR:-/dev/null}
  if [ "$logdir" = /dev/null ]; then log=/dev/null; else log="$logdir/$1.$2$3.jsonl"; fi
  # A plain command, not the x function: dash would leak its saved copy of our stdout into the
  # background job, and whoever reads our output would wait for the listener to exit.
  ip netns exec "$prefix-$1" "$nfpath" probe listen "--$2" "$3" --timeout-ms 600000 >"$log" 2>/dev/null </dev/null &
}

# rules NS FILE: loads a kube-proxy rules file (comment lines dropped) with iptables-restore.
rules() {
  grep -v '^#' "$2" | x "$1" iptables-restore
}

# flannel_masq NS LEASE CLUSTER: flanneld's masquerade and forward rules.
flannel_masq() {
  n=$1 lease=$2 cluster=$3
  x "$n" iptables -t nat -N FLANNEL-POSTRTG
  x "$n" iptables -t nat -A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
  x "$n" iptables -t nat -A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
  x "$n" iptables -t nat -A FLANNEL-POSTRTG -s "$lease" -d "$cluster" -m comment --comment "flanneld masq" -j RETURN
  x "$n" iptables -t nat -A FLANNEL-POSTRTG -s "$cluster" -d "$lease" -m comment --comment "flanneld masq" -j RETURN
  x "$n" iptables -t nat -A FLANNEL-POSTRTG ! -s "$cluster" -d "$lease" -m comment --comment "flanneld masq" -j RETURN
  x "$n" iptables -t nat -A FLANNEL-POSTRTG -s "$cluster" ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
  x "$n" iptables -t nat -A FLANNEL-POSTRTG ! -s "$cluster" -d "$cluster" -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
  x "$n" iptables -t filter -N FLANNEL-FWD
  x "$n" iptables -t filter -A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
  x "$n" iptables -t filter -A FLANNEL-FWD -s "$cluster" -m comment --comment "flanneld forward" -j ACCEPT
  x "$n" iptables -t filter -A FLANNEL-FWD -d "$cluster" -m comment --comment "flanneld forward" -j ACCEPT
}

# cni_bridge NODE ADDR/LEN: the CNI bridge cni0 with the node's first pod address.
cni_bridge() {
  x "$1" ip link add name cni0 type bridge
  x "$1" ip addr add "$2" dev cni0
  x "$1" ip link set cni0 up
}

# bridge_pod NODE HOSTDEV POD ADDR/LEN GATEWAY: a pod on cni0, hairpin on (the flannel CNI
# config's hairpinMode), default route via the bridge's address.
bridge_pod() {
  veth "$1" "$2" "$3" eth0
  x "$1" ip link set "$2" master cni0
  x "$1" bridge link set dev "$2" hairpin on
  x "$3" ip addr add "$4" dev eth0
  x "$3" ip route add default via "$5"
}

# routed_pod NODE HOSTDEV POD ADDR: a calico-style pod: /32, the host end without an address,
# proxy ARP answering for 169.254.1.1 at once, a /32 route on the node.
routed_pod() {
  veth "$1" "$2" "$3" eth0
  x "$1" sysctl -qw "net.ipv4.conf.$2.proxy_arp=1" "net.ipv4.neigh.$2.proxy_delay=0"
  x "$1" ip route add "$4/32" dev "$2" scope link
  x "$3" ip addr add "$4/32" dev eth0
  x "$3" ip route add 169.254.1.1 dev eth0 scope link
  x "$3" ip route add default via 169.254.1.1 dev eth0
}

# vtep NODE DEV MAC VNI PORT LOCAL ADDR: a VXLAN device as flannel or calico makes it.
vtep() {
  x "$1" ip link add "$2" address "$3" type vxlan id "$4" local "$6" dev eth0 dstport "$5" nolearning
  x "$1" ip addr add "$7" dev "$2"
  x "$1" ip link set "$2" mtu 1450 up
}

# lease NODE DEV GW MAC DST SUBNET: flanneld's three steps for a remote lease (neighbour, fdb,
# route); when the route is refused the first two are removed again, as flanneld does.
lease() {
  x "$1" ip neigh add "$3" lladdr "$4" dev "$2" nud permanent
  x "$1" bridge fdb add "$4" dev "$2" dst "$5" self permanent
  if ! x "$1" ip route add "$6" via "$3" dev "$2" onlink 2>"${TMPDIR:-/tmp}/nfp-lease.$$"; then
    echo "build.sh: $1: ip route add $6 via $3 dev $2 onlink: $(cat "${TMPDIR:-/tmp}/nfp-lease.$$") (flanneld removes the neighbour and fdb entry)" >&2
    x "$1" ip neigh del "$3" dev "$2"
    x "$1" bridge fdb del "$4" dev "$2" dst "$5" self
  fi
  rm -f "${TMPDIR:-/tmp}/nfp-lease.$$"
}

finish() {
  sleep 0.3
  for n in $collect_names; do
    "$nfpath" collect --netns "$prefix-$n" --out "$out/$n" >/dev/null 2>&1
  done
  echo "collected: $out/{$(echo $collect_names | tr ' ' ',')}"
}

# felix_then_kube NODE FELIX_RULES FELIX_IPSET KUBE_RULES: felix's rules and sets, then
# kube-proxy's, in the order the two leave them on a node: felix's jumps first in the built-in
# chains (it inserts them and keeps them on top), except what felix appends: its nat POSTROUTING
# jump and the accept-mark rules at the end of filter FORWARD, which end up after kube-proxy's.
felix_then_kube() {
  n=$1
  grep -v '^#' "$3" | x "$n" ipset restore
  grep -v '^#' "$2" | x "$n" iptables-restore
  grep -v '^#' "$4" | x "$n" iptables-restore --noflush
  moved=$( { sed -n '/^\*nat/,/^COMMIT/p' "$2" | grep '^-A POSTROUTING ' | sed 's/^-A POSTROUTING /nat POSTROUTING /'
             sed -n '/^\*filter/,/^COMMIT/p' "$2" | grep '^-A FORWARD ' | grep -v -- '-j cali-FORWARD$' | sed 's/^-A FORWARD /filter FORWARD /'; } )
  echo "$moved" | while read -r table chain spec; do
    [ -n "$table" ] || continue
    eval "x \"$n\" iptables -t $table -D $chain $spec"
    eval "x \"$n\" iptables -t $table -A $chain $spec"
  done
}

# as_ipip_fallback IP-LINK-JSON: this kernel has no ipip module, so scenarios build tunl0 as a
# stand-in device; this rewrites its entry in a collected ip-link.json to what `ip -d -j link`
# prints for the IPIP fallback device (kind ipip, remote any, local any, ttl inherit), keeping its
# ifindex and up/down state.
as_ipip_fallback() {
  python3 - "$1" <<'PY'
import json, sys
path = sys.argv[1]
links = json.load(open(path))
for l in links:
    if l.get("ifname") == "tunl0":
        up = "UP" in l.get("flags", [])
        flags = ["NOARP", "UP", "LOWER_UP"] if up else ["NOARP"]
        new = {"ifindex": l["ifindex"], "ifname": "tunl0", "flags": flags, "mtu": l.get("mtu", 1480), "qdisc": "noqueue" if up else "noop",
               "operstate": "UNKNOWN" if up else "DOWN", "linkmode": "DEFAULT", "group": "default", "txqlen": 1000, "link_type": "ipip",
               "address": "0.0.0.0", "broadcast": "0.0.0.0", "promiscuity": 0, "min_mtu": 0, "max_mtu": 65515,
               "linkinfo": {"info_kind": "ipip", "info_data": {"proto": "ip", "remote": "any", "local": "any", "ttl": 0, "pmtudisc": False}},
               "inet6_addr_gen_mode": "eui64", "num_tx_queues": 1, "num_rx_queues": 1}
        l.clear()
        l.update(new)
json.dump(links, open(path, "w"))
PY
}
