#!/usr/bin/env python3
"""Per download of a traced stall series: where its stalls began, and when the sender's subflows went through
BBR's PROBE_RTT, both in ms after the download's first byte.

    windows.py TRACE_DIR [conc|server]

TRACE_DIR is a HYBRIDPROXY_BENCH_TRACE directory. The sender is the concentrator (a proxy system, the default) or
the load server (mptcp-e2e). A subflow's PROBE_RTT shows in its 250 ms `ss` samples as a changed BBR minimum RTT
(`bbr:(...,mrtt:...)`), often with `cwnd:4` and `pacing_gain:1,cwnd_gain:1` in the sample that caught it; the window
printed is the pair of samples around the first change. Stalls use the lab's criterion (100 ms intervals after the
first second below a tenth of the mean)."""
import glob
import re
import sys

trace = sys.argv[1]
sender = sys.argv[2] if len(sys.argv) > 2 else 'conc'
# The cpe's uplink addresses for a proxy; the client's two addresses for mptcp-e2e. LTE's second.
dsl, lte = ('198.18.10.', '198.18.20.') if sender == 'conc' else ('198.18.1.', '198.18.2.')

for timeline in sorted(glob.glob(f'{trace}/*-timeline.txt')):
    n = timeline.rsplit('/', 1)[1][:3]
    with open(timeline) as f:
        start = int(f.readline().split()[-1])
        rows = [line.split() for line in f if not line.startswith('#')]
    ms = [int(r[0]) for r in rows]
    mbps = [float(r[1]) for r in rows]
    busy = [i for i, v in enumerate(mbps) if v > 0]
    if not busy:
        print(n, 'no byte')
        continue
    first, last = busy[0], busy[-1]
    first_byte = ms[first]
    mean = sum(mbps[first:last + 1]) / (last - first + 1)
    stalls, run = [], []
    for i in range(first + 10, last):
        if mbps[i] < 0.1 * mean:
            run.append(i)
        elif run:
            stalls.append(run)
            run = []
    if run:
        stalls.append(run)
    previous, probes = {}, {}
    for sample in sorted(glob.glob(f'{trace}/{n}-during-*-{sender}.txt')):
        with open(sample) as f:
            lines = f.read().split('\n')
        uptime = int(lines[0].split()[-1])
        for i, line in enumerate(lines[:-1]):
            fields = line.split()
            if not line.startswith('tcp') or len(fields) < 6 or not (dsl in fields[5] or lte in fields[5]):
                continue
            detail = lines[i + 1]
            sent = re.search(r'bytes_sent:(\d+)', detail)
            min_rtt = re.search(r'mrtt:([\d.]+)', detail)
            if not sent or int(sent.group(1)) < 1_000_000 or not min_rtt:
                continue
            path = 'lte' if lte in fields[5] else 'dsl'
            at = uptime - start - first_byte
            value = float(min_rtt.group(1))
            if fields[5] in previous and abs(previous[fields[5]][1] - value) > 0.05 and path not in probes:
                probes[path] = (previous[fields[5]][0], at)
            previous[fields[5]] = (at, value)
    print(n, 'first byte', first_byte, 'ms; stalls at', [f'{ms[r[0]] - first_byte}+{len(r) * 100}' for r in stalls],
          'PROBE_RTT', ' '.join(f'{p}:({a},{b}]' for p, (a, b) in sorted(probes.items())))
