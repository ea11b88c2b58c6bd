#!/bin/sh
# Netty epoll, half-closure on, AUTO_READ off: after the input shutdown the descriptor is deleted from the epoll set
# but Netty still believes it is there, so the close deletes it again (ENOENT) and a read request modifies it
# (ENOENT). Standalone (no project code); needs root (a namespace of its own, loopback only), strace, JDK 25 and the
# Netty 4.2.18 jars (the project's build copies them to loadtest/target/lib).
#   sh run.sh
set -e
cd "$(dirname "$0")"
JAVA=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
LIB=${NETTY_LIB:-../../target/lib}
CP=$(ls "$LIB"/netty-*.jar | grep -v aarch_64 | tr '\n' ':')
NS=nettyepolldel$$
trap 'ip netns del $NS 2>/dev/null || true' EXIT
ip netns add $NS
ip -n $NS link set lo up
for mode in close read; do
  echo "== $mode"
  # Only the accepted socket's calls: the listener and the JDK client do not use epoll_ctl after start-up.
  ip netns exec $NS strace -f -qq -e trace=epoll_ctl,shutdown -o /tmp/$NS.strace \
    "$JAVA" --enable-native-access=ALL-UNNAMED -cp "$CP" EpollHalfClosedDel.java $mode 2>&1 \
    | grep -v -e '^WARNING' -e MacAddressUtil -e '^[A-Z][a-z][a-z] [0-9]' || true
  echo "   system calls on the accepted socket (strace):"
  # The accepted descriptor is the one registered last before the shutdown(SHUT_WR) the client's FIN is answered by.
  fd=$(grep -E 'epoll_ctl\([0-9]+, EPOLL_CTL_ADD, [0-9]+' /tmp/$NS.strace | tail -n 1 | sed -E 's/.*EPOLL_CTL_ADD, ([0-9]+).*/\1/')
  grep -E "(epoll_ctl\([0-9]+, EPOLL_CTL_[A-Z]+, $fd[,)]|shutdown\($fd,)" /tmp/$NS.strace | sed -E 's/^[0-9]+ +/   /'
  rm -f /tmp/$NS.strace
done
