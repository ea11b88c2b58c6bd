#!/bin/sh
# Does a connection captured by TPROXY (or REDIRECT, or made to an explicit or MPTCP listener) reach every listener of
# an SO_REUSEPORT group, or always the same one? Four listeners, 400 connections per mode, counts per listener.
# Standalone (no project code); needs root, nftables with the tproxy expression, python3. Two namespaces of its own.
#   sh run.sh
set -e
cd "$(dirname "$0")"
C=rpspreadc$$; R=rpspreadr$$
cleanup() { ip netns del $C 2>/dev/null || true; ip netns del $R 2>/dev/null || true; }
trap cleanup EXIT
ip netns add $C; ip netns add $R
ip link add c0 netns $C type veth peer name r0 netns $R
ip -n $C addr add 198.18.200.2/24 dev c0; ip -n $C link set c0 up; ip -n $C link set lo up
ip -n $R addr add 198.18.200.1/24 dev r0; ip -n $R link set r0 up; ip -n $R link set lo up
ip -n $C route add default via 198.18.200.1
ip netns exec $R sysctl -qw net.ipv4.ip_forward=1
ip netns exec $R sysctl -qw net.mptcp.enabled=1
ip netns exec $C sysctl -qw net.mptcp.enabled=1
# TPROXY as the appliance installs it: mark, local route for the mark, the listener found by socket lookup.
ip -n $R rule add fwmark 1 lookup 100
ip -n $R route add local 0.0.0.0/0 dev lo table 100
ip netns exec $R nft -f - <<'NFT'
table ip spread {
  chain pre {
    type filter hook prerouting priority mangle; policy accept;
    iifname "r0" tcp dport 80 tproxy to :12345 meta mark set 1 accept
  }
  chain nat {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "r0" tcp dport 81 redirect to :12346
  }
}
NFT
trial() { # mode listen-port target-host target-port [mptcp]
  mkfifo /tmp/$R.in
  ( ip netns exec $R python3 spread.py serve $1 $2 4 < /tmp/$R.in > /tmp/$R.out ) &
  exec 3> /tmp/$R.in
  while ! grep -q ready /tmp/$R.out 2>/dev/null; do sleep 0.1; done
  ip netns exec $C python3 spread.py connect $3 $4 400 $5
  sleep 0.3
  exec 3>&-
  wait
  echo "$6: $(grep accepts /tmp/$R.out)"
  rm -f /tmp/$R.in /tmp/$R.out
}
trial transparent 12345 198.19.99.7 80 "" "TPROXY (tproxy to :12345, IP_TRANSPARENT listeners), 400 to 198.19.99.7:80"
trial plain 12346 198.19.99.7 81 "" "REDIRECT (redirect to :12346), 400 to 198.19.99.7:81"
trial plain 12347 198.18.200.1 12347 "" "explicit listener, 400 to 198.18.200.1:12347"
trial mptcp 12348 198.18.200.1 12348 mptcp "MPTCP listeners, MPTCP clients, 400 to 198.18.200.1:12348"
