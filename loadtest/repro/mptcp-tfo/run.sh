#!/bin/sh
# Kernel MPTCP + TCP Fast Open: bulk download collapse. Standalone (no project code), needs root, gcc, iproute2.
# Two namespaces joined by two veth pairs (two paths, no shaping); the client has a "subflow" endpoint on its
# second address, so every connection has two subflows. Each download is a fresh connection that sends a
# 1-byte request (in the SYN when TFO is used) and then reads what the server writes for SECS seconds.
#   sh run.sh                      # 1 plain + 1 cookie-request + 4 TFO downloads, counters after each
#   TFO_SYSCTL=0 sh run.sh         # control: TFO disabled on both hosts
set -e
cd "$(dirname "$0")"
gcc -O2 -Wall -o /tmp/tfo_mptcp tfo_mptcp.c
BIN=/tmp/tfo_mptcp; C=tfoc$$; S=tfos$$; SECS=${SECS:-3}; TFO_SYSCTL=${TFO_SYSCTL:-3}
cleanup() {
  ip netns pids $S 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns pids $C 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del $C 2>/dev/null || true; ip netns del $S 2>/dev/null || true
}
trap cleanup EXIT
ip netns add $C; ip netns add $S
for i in 1 2; do
  ip link add a$i netns $C type veth peer name b$i netns $S
  ip -n $C addr add 198.18.$i.1/24 dev a$i; ip -n $S addr add 198.18.$i.2/24 dev b$i
  ip -n $C link set a$i up; ip -n $S link set b$i up
done
for n in $C $S; do
  ip netns exec $n sysctl -qw net.mptcp.enabled=1 net.ipv4.tcp_fastopen=$TFO_SYSCTL
  ip -n $n mptcp limits set subflows 4 add_addr_accepted 4
done
ip -n $C mptcp endpoint add 198.18.2.1 dev a2 subflow
ip netns exec $S $BIN s 5201 &
sleep 0.3
echo "kernel $(uname -r), net.ipv4.tcp_fastopen=$TFO_SYSCTL on both hosts"
for mode in plain tfo tfo tfo tfo tfo; do
  ip netns exec $C nstat -n
  printf '%-5s ' $mode
  ip netns exec $C timeout 60 $BIN c 198.18.1.2 5201 $SECS $mode || echo "(timed out)"
  printf '      client: '
  ip netns exec $C nstat -z | awk '/MPTcpExtNoDSSInWindow|MPTcpExtDuplicateData|TcpExtTCPFastOpenActive /{printf "%s=%s ", $1, $2}'
  echo
done
