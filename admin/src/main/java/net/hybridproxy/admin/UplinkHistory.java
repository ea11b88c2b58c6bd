package net.hybridproxy.admin;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The last five minutes of each uplink, for the status page's sparklines and its MPTCP flag: a fixed ring of
 * samples of the cumulative counters the status already carries, taken every {@link #INTERVAL_MILLIS} by the admin
 * server. Bounded: {@link #SAMPLES} samples of at most {@link #MAX_UPLINKS} uplinks, whatever the uptime. Time is an
 * argument ({@code atMillis}), so the arithmetic is tested without waiting.
 *
 * <p>An uplink is flagged {@code mptcpImpaired} when, within the window, connections whose first subflow left by it
 * fell back to plain TCP, or joins on it failed while none succeeded: both are what a middlebox that strips or
 * refuses MPTCP's options on that path causes. The kernel engine then carries those connections on one path; the
 * userspace engine never falls back (its subflows are plain TCP).
 */
public final class UplinkHistory {
    public static final long INTERVAL_MILLIS = 5_000;
    static final int SAMPLES = 61; // 60 intervals: five minutes
    static final int MAX_UPLINKS = 16;

    private record Counters(long bytesSent, long bytesReceived, long mptcpFallbacks, long joinFailures,
                            long subflowsOpened) {
        static Counters of(ApplianceStatus.UplinkStatusView u) {
            return new Counters(u.bytesSent(), u.bytesReceived(), u.mptcpFallbacks(), u.joinFailures(),
                    u.subflowsOpened());
        }
    }

    private record Reading(long atMillis, Map<String, Counters> uplinks) {
    }

    /**
     * One uplink's window.
     *
     * @param atMillis              end of each interval (epoch milliseconds), oldest first
     * @param sentBitsPerSecond     mean sending rate over each interval
     * @param receivedBitsPerSecond mean receiving rate over each interval
     * @param mptcpImpaired         whether the window shows MPTCP failing on this uplink (see the class comment)
     * @param mptcpDetail           the figures behind the flag, for the operator; empty when not impaired
     */
    public record Series(String uplink, List<Long> atMillis, List<Double> sentBitsPerSecond,
                         List<Double> receivedBitsPerSecond, boolean mptcpImpaired, String mptcpDetail) {
    }

    private final Reading[] ring = new Reading[SAMPLES];
    private int next;
    private int size;

    /** Takes one sample of the status' cumulative per-uplink counters. */
    public synchronized void record(long atMillis, ApplianceStatus status) {
        if (size > 0 && atMillis <= newest().atMillis()) {
            return; // a clock step backwards: keep the series monotonic rather than mixing intervals
        }
        Map<String, Counters> uplinks = new LinkedHashMap<>();
        for (ApplianceStatus.UplinkStatusView u : status.uplinks()) {
            if (uplinks.size() == MAX_UPLINKS) {
                break;
            }
            uplinks.put(u.name(), Counters.of(u));
        }
        ring[next] = new Reading(atMillis, uplinks);
        next = (next + 1) % SAMPLES;
        size = Math.min(size + 1, SAMPLES);
    }

    /** Every uplink of the newest sample with its window; empty until two samples exist. */
    public synchronized List<Series> series() {
        List<Series> result = new ArrayList<>();
        if (size < 2) {
            return result;
        }
        Reading oldest = sample(0);
        for (String uplink : newest().uplinks().keySet()) {
            List<Long> times = new ArrayList<>(size - 1);
            List<Double> sent = new ArrayList<>(size - 1);
            List<Double> received = new ArrayList<>(size - 1);
            for (int i = 1; i < size; i++) {
                Reading before = sample(i - 1);
                Reading after = sample(i);
                Counters a = before.uplinks().get(uplink);
                Counters b = after.uplinks().get(uplink);
                double seconds = (after.atMillis() - before.atMillis()) / 1000.0;
                times.add(after.atMillis());
                sent.add(a == null || b == null ? 0 : rate(a.bytesSent(), b.bytesSent(), seconds));
                received.add(a == null || b == null ? 0 : rate(a.bytesReceived(), b.bytesReceived(), seconds));
            }
            Counters first = oldest.uplinks().getOrDefault(uplink, new Counters(0, 0, 0, 0, 0));
            Counters last = newest().uplinks().get(uplink);
            long fallbacks = last.mptcpFallbacks() - first.mptcpFallbacks();
            long failedJoins = last.joinFailures() - first.joinFailures();
            long opened = last.subflowsOpened() - first.subflowsOpened();
            boolean impaired = fallbacks > 0 || (failedJoins > 0 && opened == 0);
            String detail = impaired ? fallbacks + " connections fell back to plain TCP, " + failedJoins
                    + " joins failed and " + opened + " subflows opened in the last "
                    + (newest().atMillis() - oldest.atMillis()) / 1000 + " s" : "";
            result.add(new Series(uplink, times, sent, received, impaired, detail));
        }
        return result;
    }

    /** Bits per second; a counter that went backwards (a restart of its source) counts as no traffic. */
    private static double rate(long before, long after, double seconds) {
        return after < before || seconds <= 0 ? 0 : (after - before) * 8 / seconds;
    }

    private Reading newest() {
        return sample(size - 1);
    }

    /** The i-th sample, oldest first. */
    private Reading sample(int i) {
        return ring[(next - size + i + SAMPLES) % SAMPLES];
    }
}
