package net.hybridproxy.proxy.role;

import java.net.InetAddress;
import java.util.HashMap;
import java.util.Map;

/**
 * Tells a ready connection whose handshake was timed through a queue on its uplink from one timed on an idle line.
 *
 * <p>A warm-pool connection is refilled right after the previous one was taken, that is while the previous download
 * fills the uplinks' queues. Its subflows' round-trip times are then those of their handshakes, queue included (an
 * LTE subflow was seen at 316 ms on a 70 ms path), and nothing updates them while the connection waits: keepalive
 * probes acknowledge no new data, so TCP takes no sample from them. The concentrator's subflows of that connection,
 * which send the download, start with the same figures: BBR's first pacing rate is computed from that round trip
 * (a fifth of a fresh connection's at five times the path's), and MPTCP's scheduler, which weighs subflows by pacing
 * rate, leans on the other path until the first samples correct it (docs/decisions.md).
 *
 * <p>Per uplink (the subflow's local address) this keeps the smallest handshake round trip seen over the last
 * {@link #WINDOW_NANOS} to two windows, and calls a sample queued when it exceeds that minimum by more than half of it
 * and at least {@link #MIN_EXCESS_MICROS}. The window makes the judgement forget: when an uplink's path gets longer
 * (a reroute) or stays busy, its minimum rises to what the line now gives within two windows, so ready connections
 * are not replaced for ever. Deterministic: the caller passes the time; one instance per event loop.
 */
final class QueuedHandshakes {
    /** A minimum is at most two windows old. */
    static final long WINDOW_NANOS = 30_000_000_000L;
    /** Below this, a difference is jitter and the machine's own scheduling, not a queue. */
    static final long MIN_EXCESS_MICROS = 10_000;
    /** Uplinks remembered; a cpe has a few. More (addresses changing) starts the memory over. */
    static final int MAX_UPLINKS = 16;

    private final Map<InetAddress, Minimum> minima = new HashMap<>();

    /**
     * Records {@code rttMicros}, a subflow's handshake round trip on {@code uplink} measured by {@code nowNanos}, and
     * says whether it was taken through a queue.
     */
    boolean queued(InetAddress uplink, long rttMicros, long nowNanos) {
        if (rttMicros <= 0) {
            return false;
        }
        Minimum minimum = minima.get(uplink);
        if (minimum == null) {
            if (minima.size() >= MAX_UPLINKS) {
                minima.clear();
            }
            minimum = new Minimum(nowNanos);
            minima.put(uplink, minimum);
        }
        long smallest = minimum.add(rttMicros, nowNanos);
        return rttMicros - smallest > Math.max(smallest / 2, MIN_EXCESS_MICROS);
    }

    /** Two consecutive windows' minima; their smaller one is the uplink's. */
    private static final class Minimum {
        long windowStart;
        long current = Long.MAX_VALUE;
        long previous = Long.MAX_VALUE;

        Minimum(long nowNanos) {
            windowStart = nowNanos;
        }

        long add(long rttMicros, long nowNanos) {
            if (nowNanos - windowStart >= WINDOW_NANOS) {
                // More than two windows since the last sample: the older minimum is stale too.
                previous = nowNanos - windowStart >= 2 * WINDOW_NANOS ? Long.MAX_VALUE : current;
                current = Long.MAX_VALUE;
                windowStart = nowNanos;
            }
            current = Math.min(current, rttMicros);
            return Math.min(current, previous);
        }
    }
}
