package net.hybridproxy.engine.multipath.sim;

import java.util.SplittableRandom;

/**
 * One uplink between the cpe and the concentrator: a bottleneck in each direction with a rate, a
 * propagation delay (half the base RTT each way), a drop-tail queue limit, random loss, jitter
 * (which reorders nothing inside a TCP connection, but delays its in-order delivery), and a
 * blackhole switch that silently drops everything in both directions.
 *
 * <p>Rates are TCP payload rates: IP and TCP headers are not modelled, so "the sum of the links"
 * is the sum of what TCP could carry over each alone.
 */
final class SimLink {

    final String name;
    /** Mutable: a scenario may change the rate mid-transfer (an LTE cell collapsing). */
    long rateBitsPerSecond;
    final long rttNanos;
    final long queueLimitBytes;
    double lossRate;
    long jitterNanos;
    boolean blackholed;
    /**
     * The concentrator's process on this link accepts TCP connections but never reads them (a frozen process: its
     * kernel still completes handshakes and acknowledges bytes). Set before the link's connections open.
     */
    boolean peerFrozen;
    /**
     * The TCP over this link behaves like BBR, the lab's congestion control, rather than Reno: a loss does not cut
     * the window, and what is in flight is capped at two bandwidth-delay products (BBR's in-flight cap), not at the
     * product plus the queue. Set before the link's connections open.
     */
    boolean bbrLike;
    /**
     * Per direction (0 up, 1 down), until when the far end's link emulator is late: a segment arriving before then is
     * handed on only then, with everything else that waited, in order (the lab's user-space emulator, starved at
     * load 30, ran 125-255 ms late: a path delivers nothing for that long, then a burst).
     */
    final long[] lateUntil = new long[2];
    /**
     * When above 0, the queue's limit is this long at the link's current rate rather than {@link #queueLimitBytes}:
     * the lab's emulator keeps its queues as time ({@code Impairment.queueMicros}), so an LTE collapsing from 60 to
     * 3 Mbit/s keeps 200 ms of queue, 75 KB instead of 1.5 MB, and what its sender has in flight beyond that is
     * dropped.
     */
    long queueTimeNanos;
    /**
     * When above 0, the download's sender (direction 1) keeps no more in flight than this rate delivers in one RTT of
     * the link, whatever its window: Linux BBR in its policer mode ({@code lt_use_bw}), which paces at the rate it
     * measured through a lossy collapse for 48 round trips, with its window (twice that rate's bandwidth-delay
     * product) never full. Cleared by the model's own expiry or by a restart of the connection's congestion control
     * ({@link SimPair#restartsCongestionControl}).
     */
    long senderHeldBitsPerSecond;
    private final long[] busyUntil = new long[2];
    private final SplittableRandom random;
    long bytesCarried;

    SimLink(String name, double megabitsPerSecond, double rttMillis, long queueLimitBytes, long seed) {
        this.name = name;
        this.rateBitsPerSecond = (long) (megabitsPerSecond * 1e6);
        this.rttNanos = (long) (rttMillis * 1e6);
        this.queueLimitBytes = queueLimitBytes;
        this.random = new SplittableRandom(seed);
    }

    /** A link whose queue holds one bandwidth-delay product (a common, well-sized buffer). */
    static SimLink of(String name, double megabitsPerSecond, double rttMillis, long seed) {
        long bdp = (long) (megabitsPerSecond * 1e6 / 8 * rttMillis / 1000);
        return new SimLink(name, megabitsPerSecond, rttMillis, Math.max(64 * 1024, bdp), seed);
    }

    /**
     * A link like the namespace lab's: a drop-tail queue of {@code queueMillis} at line rate (the lab's DSL queues
     * 50 ms, its LTE 200 ms, as a cellular base station buffers per user), deeper than {@link #of}'s one
     * bandwidth-delay product on a fast or long path: the queue a loss-free path in slow start fills, and the RTT
     * its congestion window's growth inflates before a drop.
     */
    static SimLink queued(String name, double megabitsPerSecond, double rttMillis, double queueMillis, long seed) {
        long queue = (long) (megabitsPerSecond * 1e6 / 8 * queueMillis / 1000);
        return new SimLink(name, megabitsPerSecond, rttMillis, Math.max(16 * 1024, queue), seed);
    }

    long bdpBytes() {
        return (long) (rateBitsPerSecond / 8.0 * rttNanos / 1e9);
    }

    /**
     * Offers a segment to direction {@code dir} (0 up, 1 down) at {@code now}.
     *
     * @return its arrival time at the far end, or -1 if it was dropped (blackhole, full queue, loss)
     */
    long transmit(int dir, int bytes, long now) {
        if (blackholed) {
            return -1;
        }
        long queuedNanos = Math.max(0, busyUntil[dir] - now);
        long queuedBytes = (long) (queuedNanos * (rateBitsPerSecond / 8e9));
        long limit = queueTimeNanos > 0
                ? Math.max(16 * 1024, (long) (rateBitsPerSecond / 8e9 * queueTimeNanos)) : queueLimitBytes;
        if (queuedBytes + bytes > limit) {
            return -1;
        }
        if (lossRate > 0 && random.nextDouble() < lossRate) {
            return -1;
        }
        long start = Math.max(now, busyUntil[dir]);
        busyUntil[dir] = start + (long) (bytes * 8e9 / rateBitsPerSecond);
        bytesCarried += bytes;
        long jitter = jitterNanos > 0 ? random.nextLong(jitterNanos) : 0;
        return busyUntil[dir] + rttNanos / 2 + jitter;
    }

    /** When an acknowledgement sent now arrives back (ACKs are small: delay only), or -1 if lost. */
    long ackArrival(long now) {
        return blackholed ? -1 : now + rttNanos / 2;
    }
}
