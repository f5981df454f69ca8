#!/bin/sh
# collect-node.sh DIR: writes an nfpath snapshot folder (docs: interface.md section 1) of the
# network namespace it runs in, with nothing but a POSIX shell and the standard tools. It does what
# `nfpath collect --out DIR` does, for nodes where nfpath is not installed:
#   sudo sh collect-node.sh /tmp/node-a            # the host namespace
#   sudo ip netns exec cni-1234 sh collect-node.sh /tmp/pod-a1
# Every file is the unmodified output of its command (sysctl.txt keeps the net.* lines only).
# collect.log says which command ran, failed or was absent. A missing iptables-save or ip is fatal
# (exit 2); every other tool is optional.

set -u

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
    echo "usage: collect-node.sh DIR" >&2
    exit 2
fi
out=$1
mkdir -p "$out" || { echo "collect-node.sh: error: cannot create $out" >&2; exit 2; }
log=$out/collect.log
: > "$log" || { echo "collect-node.sh: error: cannot write $log" >&2; exit 2; }
errfile=$out/.collect.err
fatal=

# run FILE REQUIRED FILTER CMD...: runs CMD, writes its stdout to FILE and a line to the log.
# FILTER is "net." to keep only lines starting with it, or "-" for none.
run() {
    file=$1; required=$2; filter=$3; shift 3
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "absent $file: $1 not found on PATH" >> "$log"
        [ "$required" = yes ] && fatal="$fatal $file"
        return 0
    fi
    tmp=$out/.$file.tmp
    "$@" > "$tmp" 2> "$errfile"
    status=$?
    firsterr=$(grep -v '^[[:space:]]*$' "$errfile" | head -n 1)
    # sysctl -a exits non-zero when a few keys cannot be read, and still prints the rest.
    if [ "$status" -ne 0 ] && ! { [ "$filter" != - ] && [ -s "$tmp" ]; }; then
        echo "failed $file: $* exited with exit status: $status: $firsterr" >> "$log"
        rm -f "$tmp"
        [ "$required" = yes ] && fatal="$fatal $file"
        return 0
    fi
    if [ "$filter" != - ]; then
        grep "^$filter" "$tmp" > "$out/$file"
        rm -f "$tmp"
    else
        mv "$tmp" "$out/$file"
    fi
    bytes=$(wc -c < "$out/$file" | tr -d ' ')
    line="ok $file: $* ($bytes bytes)"
    [ "$status" -ne 0 ] && line="$line; exited with exit status: $status: $firsterr"
    echo "$line" >> "$log"
}

run iptables-save.txt yes - iptables-save
run ipset-save.txt no - ipset save
run ip-link.json yes - ip -j -d link show
run ip-addr.json yes - ip -j addr show
run ip-route.json yes - ip -j -d route show table all
run ip-rule.json no - ip -j rule show
run ip-neigh.json no - ip -j neigh show
run bridge-fdb.json no - bridge -j fdb show
run bridge-vlan.json no - bridge -j vlan show
run sysctl.txt no net. sysctl -a
run conntrack.txt no - conntrack -L
run sockets.txt no - ss -Htulpn

# iptables-save shows one backend only; rules left in the other one still act on packets.
for tool in iptables-legacy-save iptables-nft-save; do
    if command -v "$tool" >/dev/null 2>&1; then
        n=$("$tool" 2>/dev/null | grep -c '^-A ')
        echo "note $tool: ${n:-0} rules" >> "$log"
    fi
done
rm -f "$errfile"

if [ -n "$fatal" ]; then
    echo "collect-node.sh: error: $log: could not collect$fatal (required); see the log" >&2
    exit 2
fi
echo "collect-node.sh: wrote $out" >&2
exit 0
