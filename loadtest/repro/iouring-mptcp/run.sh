#!/bin/sh
# Netty io_uring + an outbound MPTCP socket: the relay stops reading it. Standalone (no project code), needs root,
# JDK 25 and the Netty 4.2.18 jars (the project's build copies them to loadtest/target/lib).
# One namespace with loopback only. A Netty relay (plain TCP listener -> outbound connection, both on one event
# loop) sits between a JDK client and a JDK backend that exchange 16 MiB each way at once and half-close after
# their last byte. Four runs: io_uring with an MPTCP outbound socket (the failing case), the two controls (io_uring
# with a TCP outbound socket, epoll with an MPTCP outbound socket), and io_uring with the MPTCP outbound socket read
# through a provided-buffer ring (the workaround hybridproxy uses).
#   sh run.sh              # 3 rounds per case
#   ROUNDS=10 sh run.sh
set -e
cd "$(dirname "$0")"
JAVA=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
LIB=${NETTY_LIB:-../../target/lib}
CP=$(ls "$LIB"/netty-*.jar | grep -v aarch_64 | tr '\n' ':')
NS=iouringmptcp$$
trap 'ip netns pids $NS 2>/dev/null | xargs -r kill 2>/dev/null || true; ip netns del $NS 2>/dev/null || true' EXIT
ip netns add $NS
ip -n $NS link set lo up
for case in "io_uring mptcp" "io_uring tcp" "epoll mptcp" "io_uring mptcp-ring"; do
  echo "== $case"
  # IPv4: the reproducer creates its MPTCP socket as AF_INET.
  ip netns exec $NS "$JAVA" -Djava.net.preferIPv4Stack=true --enable-native-access=ALL-UNNAMED -cp "$CP" \
    IoUringMptcpRelay.java $case "${ROUNDS:-3}" > /tmp/$NS.out 2>&1 &
  pid=$!
  if [ "$case" = "io_uring mptcp" ]; then
    # A stuck first round waits 20 s for an end of stream; look at the relay's MPTCP socket meanwhile.
    sleep 12
    echo "   sockets 12 s in (the relay's MPTCP socket is the one with tcp-ulp-mptcp / the mptcp line):"
    ip netns exec $NS ss -tanmiM | grep -A1 -e '^mptcp' -e 'tcp-ulp-mptcp' | cut -c1-220 | sed 's/^/   /'
  fi
  wait $pid || true
  grep -v -e '^WARNING' -e MacAddressUtil /tmp/$NS.out || true
  rm -f /tmp/$NS.out
done
