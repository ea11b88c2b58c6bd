package net.hybridproxy.proxy.role;

/**
 * How many ready connections one event loop's share of the warm pool should hold: enough to cover the connections
 * its LAN clients will ask for while a taken one is being replaced, between a floor (the configured size's share)
 * and a ceiling (the configured maximum's share).
 *
 * <p>The replacement of a taken connection is ready one connect later (a round trip to the concentrator plus this
 * loop's own latency), so with {@code r} new LAN connections per second and a connect taking {@code c} seconds the
 * share must hold about {@code r × c} to serve every one of them from the pool; it holds twice that, so a burst up to
 * twice the recent rate still finds one. A fixed size (the pool's first design) was empty after the first burst of a
 * busy household and every later connection paid a handshake of its own (docs/decisions.md, "Setup rate").
 *
 * <p>Deterministic: the caller passes {@code now} (nanoseconds from any fixed origin) and measured connect times, so
 * it is tested without sockets or clocks. Not thread-safe: each event loop owns one.
 */
final class WarmPoolDemand {
    /** Demand is counted over one-second windows: the current one and the one before it. */
    static final long WINDOW_NANOS = 1_000_000_000L;
    /** Ready connections per connection expected during one connect: room for a burst of twice the recent rate. */
    static final int HEADROOM = 2;
    /** Weight of the newest connect time in the running average (an EWMA, like TCP's SRTT with 1/8). */
    private static final double CONNECT_TIME_GAIN = 0.125;

    private final int floor;
    private final int ceiling;
    private long windowStart;
    private boolean started;
    private int takenInWindow;
    private int takenInPreviousWindow;
    private double connectNanos;

    /**
     * @param floor   ready connections held however quiet the clients are (the configured size's share)
     * @param ceiling ready connections never exceeded however busy they are (at least {@code floor})
     */
    WarmPoolDemand(int floor, int ceiling) {
        if (floor < 0 || ceiling < floor) {
            throw new IllegalArgumentException("need 0 <= floor <= ceiling, got " + floor + " and " + ceiling);
        }
        this.floor = floor;
        this.ceiling = ceiling;
    }

    int floor() {
        return floor;
    }

    int ceiling() {
        return ceiling;
    }

    /** A LAN connection asked for a ready connection at {@code now}, whether or not the pool had one. */
    void asked(long now) {
        roll(now);
        takenInWindow++;
    }

    /** A pool connection took {@code nanos} from its connect call to being ready. */
    void connected(long nanos) {
        connectNanos = connectNanos == 0 ? nanos : connectNanos + CONNECT_TIME_GAIN * (nanos - connectNanos);
    }

    /** The number of ready (or connecting) connections this share should hold at {@code now}. */
    int target(long now) {
        roll(now);
        // The busier of the two windows: a burst raises the target at once, a pause lowers it a window later.
        int perWindow = Math.max(takenInWindow, takenInPreviousWindow);
        double expectedDuringConnect = perWindow * connectNanos / WINDOW_NANOS;
        long wanted = (long) Math.ceil(HEADROOM * expectedDuringConnect);
        return (int) Math.max(floor, Math.min(ceiling, wanted));
    }

    private void roll(long now) {
        if (!started) {
            started = true;
            windowStart = now;
            return;
        }
        long elapsed = now - windowStart;
        if (elapsed < WINDOW_NANOS) {
            return;
        }
        // One window later the current count becomes the previous one; after two or more, both are stale.
        takenInPreviousWindow = elapsed < 2 * WINDOW_NANOS ? takenInWindow : 0;
        takenInWindow = 0;
        windowStart = now - elapsed % WINDOW_NANOS;
    }
}
