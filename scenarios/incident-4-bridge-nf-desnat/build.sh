#!/bin/sh
# Incident 4 (seeds/003): Harvester, a VM behind the host's VLAN bridge reached through a
# Service by a client on the same host; br_netfilter de-SNATs the VM's SYN/ACK in the middle of
# the bridge. Built in network namespaces and collected with `nfpath collect`.
#
#   harvester  the host: eth0 172.16.0.57/24 on the management network (default via 172.16.0.1),
#              harvester-br0 (no address) with the uplink eth1 and the VM's veth2db2ad9c;
#              kube-proxy: ClusterIP 10.43.113.238:80 -> 172.16.178.178:80
#   gw         the network's router: mgmt 172.16.0.1/24, trunk (VLAN 178: 172.16.178.1/24)
#   vm         172.16.178.178/24, default via 172.16.178.1, listens tcp 80
#
# Variants (rules/*.rules from nfpath's generator):
#   untagged               no VLANs, kube-proxy's cluster CIDR 10.42.0.0/16 (every Service
#                          connection from the host is masqueraded): checked on the kernel
#   broken                 as it was: VLAN 178 tagged between eth1 and the router, untagged on
#                          the VM's port (vlan_filtering), masquerading rules, br_netfilter on
#   fixed-no-cluster-cidr  the same with kube-proxy's cluster CIDR empty (no masquerade)
#   fixed-bridge-nf-off    the same with net.bridge.bridge-nf-call-iptables=0
#
# This kernel has neither 802.1Q devices nor bridge VLAN filtering. The VLAN variants are built
# untagged in the kernel, collected, and then given what `ip -d -j link`, `ip -j addr`,
# `ip -j route`, `ip -j neigh` and `bridge -j vlan show` print on a kernel that has them:
# vlan_filtering 1 on harvester-br0, its ports' VLANs (eth1: 178 tagged; veth2db2ad9c: 178 PVID
# untagged), and on the router the 802.1Q device trunk.178 holding 172.16.178.1/24 (its routes
# and neighbours moved from trunk). Their expectations are nfpath's model, not a kernel run.
#
# Usage: build.sh --variant V [--keep] [--down] [--prefix P] [--out DIR] [--nfpath BIN]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
variant=
case "${1:-}" in --variant) variant=$2; shift 2 ;; esac
case "$variant" in
  untagged|broken) rulesfile=broken.rules; brnf=1 ;;
  fixed-no-cluster-cidr) rulesfile=fixed.rules; brnf=1 ;;
  fixed-bridge-nf-off) rulesfile=broken.rules; brnf=0 ;;
  *) echo "build.sh: --variant untagged|broken|fixed-no-cluster-cidr|fixed-bridge-nf-off" >&2; exit 2 ;;
esac
prefix=nfp-inc4$(echo "$variant" | cut -c1-6)
out="$here/$variant/snapshots"
names="harvester gw vm"
collect_names="harvester gw vm"
. "$here/../lib.sh"
scenario_args "$@"

veth harvester eth0 gw mgmt
x harvester ip addr add 172.16.0.57/24 dev eth0
x harvester ip route add default via 172.16.0.1
x gw ip addr add 172.16.0.1/24 dev mgmt
x gw sysctl -qw net.ipv4.ip_forward=1
x harvester ip link add name harvester-br0 type bridge
x harvester ip link set harvester-br0 up
veth harvester eth1 gw trunk
x harvester ip link set eth1 master harvester-br0
x gw ip addr add 172.16.178.1/24 dev trunk
veth harvester veth2db2ad9c vm eth0
x harvester ip link set veth2db2ad9c master harvester-br0
x vm ip addr add 172.16.178.178/24 dev eth0
x vm ip route add default via 172.16.178.1
x harvester sysctl -qw net.ipv4.ip_forward=1 "net.bridge.bridge-nf-call-iptables=$brnf"
rules harvester "$here/rules/$rulesfile"

listen vm tcp 80
finish
[ "$variant" = untagged ] && exit 0
python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
def load(ns, f):
    return json.load(open(os.path.join(out, ns, f)))
def save(ns, f, v):
    json.dump(v, open(os.path.join(out, ns, f), "w"))
# harvester: VLAN filtering on the bridge and its ports' VLANs.
links = load("harvester", "ip-link.json")
for l in links:
    if l["ifname"] == "harvester-br0":
        l["linkinfo"]["info_data"]["vlan_filtering"] = 1
save("harvester", "ip-link.json", links)
save("harvester", "bridge-vlan.json", [
    {"ifname": "eth1", "vlans": [{"vlan": 1, "flags": ["PVID", "Egress Untagged"]}, {"vlan": 178}]},
    {"ifname": "veth2db2ad9c", "vlans": [{"vlan": 178, "flags": ["PVID", "Egress Untagged"]}]},
    {"ifname": "harvester-br0", "vlans": [{"vlan": 1, "flags": ["PVID", "Egress Untagged"]}]},
])
# gw: the 802.1Q device trunk.178 on trunk takes trunk's address, routes and neighbours.
links = load("gw", "ip-link.json")
trunk = next(l for l in links if l["ifname"] == "trunk")
idx = max(l["ifindex"] for l in links) + 1
links.append({"ifindex": idx, "link": "trunk", "ifname": "trunk.178", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
              "mtu": trunk.get("mtu", 1500), "qdisc": "noqueue", "operstate": "UP", "linkmode": "DEFAULT", "group": "default",
              "link_type": "ether", "address": trunk["address"], "broadcast": "ff:ff:ff:ff:ff:ff", "promiscuity": 0,
              "linkinfo": {"info_kind": "vlan", "info_data": {"protocol": "802.1Q", "id": 178, "flags": ["REORDER_HDR"]}}})
save("gw", "ip-link.json", links)
addrs = load("gw", "ip-addr.json")
for a in addrs:
    if a["ifname"] == "trunk":
        moved = [x for x in a.get("addr_info", []) if x.get("family") == "inet"]
        a["addr_info"] = [x for x in a.get("addr_info", []) if x.get("family") != "inet"]
        for x in moved:
            x["label"] = "trunk.178"
        addrs.append({"ifindex": idx, "link": "trunk", "ifname": "trunk.178", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
                      "mtu": trunk.get("mtu", 1500), "qdisc": "noqueue", "operstate": "UP", "group": "default",
                      "link_type": "ether", "address": trunk["address"], "broadcast": "ff:ff:ff:ff:ff:ff", "addr_info": moved})
        break
save("gw", "ip-addr.json", addrs)
for f in ("ip-route.json", "ip-neigh.json"):
    p = os.path.join(out, "gw", f)
    if os.path.exists(p):
        v = load("gw", f)
        for r in v:
            if r.get("dev") == "trunk":
                r["dev"] = "trunk.178"
        save("gw", f, v)
PY
