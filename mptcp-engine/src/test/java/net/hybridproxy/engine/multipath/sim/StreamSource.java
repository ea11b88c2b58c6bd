package net.hybridproxy.engine.multipath.sim;

/** A sending application: writes {@link StreamBytes} bytes, all at once or at a fixed rate, then finishes. */
final class StreamSource {

    final long streamId;
    final long total;
    final double bitsPerSecond;
    long written;
    double allowance;
    long lastRefill = -1;
    boolean finished;

    /**
     * @param total         bytes to send, {@code Long.MAX_VALUE} for as many as the run allows
     * @param bitsPerSecond offered load, 0 for as fast as the session takes
     */
    StreamSource(long streamId, long total, double bitsPerSecond) {
        this.streamId = streamId;
        this.total = total;
        this.bitsPerSecond = bitsPerSecond;
    }

    /**
     * How many bytes the application wants to write now. A rate-limited application produces its
     * bytes once per millisecond, as a relay reading a client socket does: in reads, not bytes.
     */
    long wanted(long now) {
        long left = total - written;
        if (bitsPerSecond <= 0) {
            return left;
        }
        long tick = now / SimPair.MS;
        if (lastRefill >= 0 && tick > lastRefill) {
            allowance += bitsPerSecond / 8 / 1000 * (tick - lastRefill);
        }
        lastRefill = tick;
        return Math.min(left, (long) allowance);
    }

    void wrote(long bytes) {
        written += bytes;
        if (bitsPerSecond > 0) {
            allowance -= bytes;
        }
    }
}
