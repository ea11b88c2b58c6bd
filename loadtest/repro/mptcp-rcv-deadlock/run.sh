#!/bin/sh
# Kernel MPTCP: a receive path that stops for good when the MPTCP socket's memory is full of data beyond a gap.
# Standalone (no project code), needs root, gcc, iproute2 (ip, tc with tbf, ss, nstat); no netem.
# Two namespaces joined by two veth pairs: path 1 fast (a "DSL"), path 2 slow with a deep tbf queue on the
# sender's side (an "LTE" whose queue delays what the scheduler puts on it by up to LTE_QUEUE / LTE_RATE, so the
# receiver sees the data level out of order). The sender has a "subflow" endpoint on path 2 (policy-routed), so
# every connection has two subflows. Each round: CONNS fresh connections, PARALLEL at a time, each uploads SIZE
# bytes to the receiver, which reads them to the end and reports every connection that goes silent.
#   sh run.sh                                   # 5 rounds of 200 x 1 MiB, 50 at a time
#   ROUNDS=3 CONNS=400 PARALLEL=200 sh run.sh   # the fault matrix's shape: 200 at a time
#   ACCEPT_DELAY_MS=200 sh run.sh               # the receiver accepts only every 200 ms (a busy acceptor)
#   UNBLOCK=0 sh run.sh                         # report the stopped connections and leave them stopped
#   MTU=1280 GSO_MAX_SEGS=1 sh run.sh           # small packets, no GSO on the sender's links
# Receiver knobs (ACCEPT_DELAY_MS, READ_PAUSE_MS, STALL_MS, UNBLOCK) and SIZE: see rcv_deadlock.c.
# Status on 6.18.44: no connection reached the stopped state yet (REPORT.md: the shapes tried, and why).
set -e
cd "$(dirname "$0")"
BIN=/tmp/rcv_deadlock$$
gcc -O2 -Wall -pthread -o $BIN rcv_deadlock.c
S=rcvds$$; C=rcvdc$$
ROUNDS=${ROUNDS:-5}; CONNS=${CONNS:-200}; PARALLEL=${PARALLEL:-50}; PORT=${PORT:-7007}
DSL_RATE=${DSL_RATE:-200mbit}; DSL_QUEUE=${DSL_QUEUE:-100kb}
LTE_RATE=${LTE_RATE:-20mbit}; LTE_QUEUE=${LTE_QUEUE:-400kb}
cleanup() {
  ip netns pids $S 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns pids $C 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del $C 2>/dev/null || true; ip netns del $S 2>/dev/null || true
  rm -f $BIN
}
trap cleanup EXIT
trap "exit 130" INT TERM
ip netns add $C; ip netns add $S
for i in 1 2; do
  ip link add a$i netns $C type veth peer name b$i netns $S
  ip -n $C addr add 198.18.$i.1/24 dev a$i; ip -n $S addr add 198.18.$i.2/24 dev b$i
  ip -n $C link set a$i up; ip -n $S link set b$i up
done
ip -n $C link set lo up; ip -n $S link set lo up
# MTU / GSO_MAX_SEGS: smaller packets (as a TUN-based link emulator or a PPPoE/LTE link delivers them) cost more
# memory per byte in the receiver (skb truesize against payload), which is what fills the buffer.
for i in 1 2; do
  [ -z "$MTU" ] || { ip -n $C link set a$i mtu $MTU; ip -n $S link set b$i mtu $MTU; }
  [ -z "$GSO_MAX_SEGS" ] || ip -n $C link set a$i gso_max_segs $GSO_MAX_SEGS
done
for n in $C $S; do
  ip netns exec $n sysctl -qw net.mptcp.enabled=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  ip -n $n mptcp limits set subflows 4 add_addr_accepted 0
done
# The sender's second subflow leaves by path 2 towards the receiver's first address.
ip -n $C rule add from 198.18.2.1 table 102
ip -n $C route add 198.18.1.0/24 via 198.18.2.2 dev a2 table 102
ip -n $C mptcp endpoint add 198.18.2.1 dev a2 subflow
# Rates and queues on the sender's egress (the data direction); the acks come back unshaped.
ip netns exec $C tc qdisc add dev a1 root tbf rate $DSL_RATE burst 32kb limit $DSL_QUEUE
ip netns exec $C tc qdisc add dev a2 root tbf rate $LTE_RATE burst 32kb limit $LTE_QUEUE
echo "kernel $(uname -r); tcp_rmem $(cat /proc/sys/net/ipv4/tcp_rmem | tr '\t' ' '); path 1 tbf $DSL_RATE queue" \
     "$DSL_QUEUE, path 2 tbf $LTE_RATE queue $LTE_QUEUE; mtu ${MTU:-1500}, gso_max_segs ${GSO_MAX_SEGS:-default};" \
     "accept every ${ACCEPT_DELAY_MS:-0} ms, first read ${READ_PAUSE_MS:-0} ms after; $ROUNDS rounds of $CONNS x ${SIZE:-1048576} bytes," \
     "$PARALLEL at a time; load $(cut -d' ' -f1-3 /proc/loadavg)"
total_stopped=0
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round"
  ip netns exec $S nstat -n; ip netns exec $C nstat -n
  ip netns exec $S $BIN s $PORT $((CONNS / PARALLEL * PARALLEL)) > /tmp/$S.out 2>&1 &
  receiver=$!
  sleep 0.3
  ip netns exec $C timeout $((${DEADLINE_S:-120} + 10)) $BIN c 198.18.1.2 $PORT "$CONNS" "$PARALLEL" || true
  stopped=0; wait $receiver || stopped=$?
  cat /tmp/$S.out; rm -f /tmp/$S.out
  total_stopped=$((total_stopped + stopped))
  printf '   receiver counters: '
  ip netns exec $S nstat -z | awk '/MPTcpExt(RcvPruned|OFOQueue |OFOMerge|DuplicateData|NoDSSInWindow|DSSNoMatchTCP)|TcpExtTCPRcvQDrop|TcpExtTCPZeroWindowDrop|TcpExtTCPOFODrop/{printf "%s=%s ", $1, $2}'
  echo
  printf '   sender counters:   '
  ip netns exec $C nstat -z | awk '/MPTcpExt(RetransSegs|MPJoinSynAckRx )|TcpExtTCPTimeouts|TcpExtTCPLossProbes/{printf "%s=%s ", $1, $2}'
  echo
done
echo "total: $total_stopped connection(s) in the stopped state over $ROUNDS rounds; load $(cut -d' ' -f1-3 /proc/loadavg)"
