#!/bin/sh
# MPTCP receiver that pauses reading: how long until data flows again once it reads? Standalone (no project code),
# needs root, gcc, iproute2. Two namespaces joined by two veth pairs (two paths, no shaping); the client has a
# "subflow" endpoint on its second address, so the connection has two subflows. The client reads for 1 s, stops
# reading for PAUSE_MS (its receive window closes, the sender starts zero-window probing), reads again, and reports
# the longest wait for new data after the queued bytes are read. The same with plain TCP as the control.
#   sh run.sh                  # 5 cycles, 600 ms pauses, MPTCP then TCP
#   CYCLES=10 PAUSE_MS=1500 sh run.sh
#   RCVBUF=262144 sh run.sh    # a fixed 256 KiB receive buffer on the reading side
set -e
cd "$(dirname "$0")"
gcc -O2 -Wall -o /tmp/zwp_mptcp zwp_mptcp.c
BIN=/tmp/zwp_mptcp; C=zwpc$$; S=zwps$$; CYCLES=${CYCLES:-5}; PAUSE_MS=${PAUSE_MS:-600}
cleanup() {
  ip netns pids $S 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns pids $C 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del $C 2>/dev/null || true; ip netns del $S 2>/dev/null || true
}
trap 'cleanup; rm -f /tmp/zwp-$S /tmp/zwp-$C' EXIT
ip netns add $C; ip netns add $S
for i in 1 2; do
  ip link add a$i netns $C type veth peer name b$i netns $S
  ip -n $C addr add 198.18.$i.1/24 dev a$i; ip -n $S addr add 198.18.$i.2/24 dev b$i
  ip -n $C link set a$i up; ip -n $S link set b$i up
done
for n in $C $S; do
  ip netns exec $n sysctl -qw net.mptcp.enabled=1
  ip -n $n mptcp limits set subflows 4 add_addr_accepted 4
done
ip -n $C mptcp endpoint add 198.18.2.1 dev a2 subflow
ip netns exec $S $BIN s 5201 &
ip netns exec $S env NO_MPTCP=1 $BIN s 5202 &
sleep 0.3
echo "kernel $(uname -r), $CYCLES cycles, reading paused for $PAUSE_MS ms each"
for proto in mptcp tcp; do
  port=5201; env=""; [ $proto = tcp ] && port=5202 && env="NO_MPTCP=1"
  NSTAT_HISTORY=/tmp/zwp-$S ip netns exec $S nstat -n; NSTAT_HISTORY=/tmp/zwp-$C ip netns exec $C nstat -n
  echo "== $proto"
  ip netns exec $C env $env ${RCVBUF:+RCVBUF=$RCVBUF} timeout 120 $BIN c 198.18.1.2 $port $CYCLES $PAUSE_MS || echo "(timed out)"
  printf '   server: '
  NSTAT_HISTORY=/tmp/zwp-$S ip netns exec $S nstat -z | awk '/MPTcpExtWinProbe|TcpExtTCPWinProbe /{printf "%s=%s ", $1, $2}'
  printf '\n   client: '
  NSTAT_HISTORY=/tmp/zwp-$C ip netns exec $C nstat -z | awk '/MPTcpExtDuplicateData|MPTcpExtRcvWndShared /{printf "%s=%s ", $1, $2}'
  echo
done
