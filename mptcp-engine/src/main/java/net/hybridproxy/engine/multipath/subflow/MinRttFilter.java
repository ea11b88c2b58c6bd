package net.hybridproxy.engine.multipath.subflow;

/**
 * The lowest smoothed RTT a subflow's TCP connection reported lately: the yardstick late paths are judged by
 * ({@code SubflowTable#reinjectFromLatePaths}) and a suspect path is cleared by. A minimum older than
 * {@value #LIFETIME_NANOS} ns is replaced by the next report, so that a path whose RTT grew for good (a re-routed
 * LTE cell) is judged by what it is now.
 *
 * <p>It used to estimate the delivery rate as well (bytes handed minus bytes held, per half minimum RTT); that rate
 * swung with the event loop's lag in the lab and was replaced by TCP's own delivery (docs/decisions.md, "Userspace
 * engine, fifth pass").
 *
 * <p>Deterministic: {@code now} is an argument. Not thread-safe.
 */
public final class MinRttFilter {

    /** The minimum RTT is forgotten after this long. */
    static final long LIFETIME_NANOS = 10_000_000_000L;

    private long minRttNanos;
    private long minRttAt;

    /** Feeds the connection's smoothed RTT at {@code now} (0 if unknown: ignored). */
    public void update(long now, long srttNanos) {
        if (srttNanos > 0 && (minRttNanos == 0 || srttNanos < minRttNanos || now - minRttAt > LIFETIME_NANOS)) {
            minRttNanos = srttNanos;
            minRttAt = now;
        }
    }

    /** The lowest smoothed RTT seen lately (0 if none). */
    public long minRttNanos() {
        return minRttNanos;
    }
}
