package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.lab.Netns;

import java.util.Locale;
import java.util.Map;

/**
 * What the concentrator's TCP did during one download of a series (it is every download's sender towards the cpe and
 * the receiver from the load server), as growth of its namespace's TcpExt counters: retransmission timeouts, tail
 * loss probes and fast retransmits on the subflows, and zero windows it advertised (to the load server: the subflows
 * carry no data towards it). Counters, unlike goodput, do not move with the machine's load, so two systems' series
 * compare by them even on a busy host.
 *
 * @param timeouts             {@code TCPTimeouts}: retransmission timeouts (a stall of at least the RTO each)
 * @param lossProbes           {@code TCPLossProbes}: tail loss probes sent (RFC 8985's PTO fired)
 * @param fastRetransmits      {@code TCPFastRetrans}
 * @param zeroWindowsAdvertised {@code TCPToZeroWindowAdv}: the receive window closed to zero
 */
record SenderCounters(long timeouts, long lossProbes, long fastRetransmits, long zeroWindowsAdvertised) {
    static Map<String, Long> read(Netns conc) {
        return conc.tcpExtCounters();
    }

    static SenderCounters growth(Map<String, Long> before, Map<String, Long> after) {
        return new SenderCounters(delta(before, after, "TCPTimeouts"), delta(before, after, "TCPLossProbes"),
                delta(before, after, "TCPFastRetrans"), delta(before, after, "TCPToZeroWindowAdv"));
    }

    private static long delta(Map<String, Long> before, Map<String, Long> after, String name) {
        return after.getOrDefault(name, 0L) - before.getOrDefault(name, 0L);
    }

    /** For the series' progress line. */
    String describe() {
        return String.format(Locale.ROOT, "concentrator: %d RTO, %d loss probes, %d fast retransmits, %d zero windows",
                timeouts, lossProbes, fastRetransmits, zeroWindowsAdvertised);
    }
}
