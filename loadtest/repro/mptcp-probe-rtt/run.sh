#!/bin/sh
# Kernel MPTCP end to end (client and load server speak MPTCP over both emulated links, no proxy on the path):
# 12 traced 10 s downloads at heterogeneous rates, then where each download stalled against when the server's
# subflows went through BBR's PROBE_RTT. Needs root (network namespaces, TUN devices) like bin/benchmark.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../../.." && pwd)"
out="${1:-$(mktemp -d)}"
HYBRIDPROXY_BENCH_TRACE="$out/trace" "$top/bin/benchmark" stalls --scenarios heterogeneous --systems mptcp-e2e \
    --downloads 12 --out "$out/results"
python3 "$here/windows.py" "$out/trace" server
