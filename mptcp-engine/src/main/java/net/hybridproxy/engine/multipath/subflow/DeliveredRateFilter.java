package net.hybridproxy.engine.multipath.subflow;

/**
 * A subflow connection's delivery rate from its TCP's own count of what the peer received, SACKed segments included
 * ({@code tcpi_delivered}): one sample per minimum RTT at least, as the growth of that counter over the real time
 * between two reads, and the highest sample of the last {@link #PEAK_WINDOW_NANOS} or so. Unlike a rate the engine
 * measures from its own sends or reads, it does not swing with the event loop's lag: a late read covers a longer
 * interval with the counter's whole growth. It falls when a path's rate collapses (its queue drains at the new rate),
 * not when the path repairs a loss (SACKs keep counting) nor when a queue grows in front of a steady rate (the
 * bottleneck keeps delivering at its rate).
 */
public final class DeliveredRateFilter {

    /**
     * The peak is the highest sample of the current and the previous window of this length: longer than a rate
     * collapse lasts (the lab's LTE collapses for 3 s; with a shorter memory the collapsed rate became the peak
     * within a second, and the path's queue was no longer recognised as late), as long as the minimum RTT's.
     */
    static final long PEAK_WINDOW_NANOS = 5_000_000_000L;
    /** The shortest interval a sample spans (delayed ACKs, a short RTT). */
    static final long MIN_INTERVAL_NANOS = 20_000_000L;
    /** A rate below this share of the recent peak is a collapsed one ({@link #collapsed}). */
    public static final double COLLAPSE_FRACTION = 0.25;
    /** A collapse is called only once the low samples span this long at least (two at least, see {@link #collapsed}). */
    static final long COLLAPSE_MIN_SPAN_NANOS = 100_000_000L;
    /** A collapsed path counts as recovered once a sample reaches this share of the peak again. */
    public static final double RECOVERED_FRACTION = 0.5;

    private long sampleAt = Long.MIN_VALUE;
    private long sampleDelivered;
    private long rate;
    /** The latest sample above zero (a sample of zero is silence, see {@link #update}), and when it was taken. */
    private long lastMovingRate;
    private long lastMovingAt = Long.MIN_VALUE;
    /** The latest call's {@code tcpi_delivered}, and the last call at which the connection was not busy. */
    private long latestDelivered;
    private long restartAt = Long.MIN_VALUE;
    private long restartDelivered;
    private long peak;
    private long previousPeak;
    private long windowStart = Long.MIN_VALUE;
    /** Consecutive samples below {@link #COLLAPSE_FRACTION} of the peak, none of them zero (see {@link #collapsed}). */
    private int lowSamples;
    /** Where the first of those samples' intervals began. */
    private long lowSince;

    /**
     * Feeds the connection's {@code tcpi_delivered} (bytes) as read at {@code now}, with its minimum RTT;
     * {@code busy} says whether the connection held at least a congestion window it had not delivered: a sample over
     * an interval in which it had less to send measures what the scheduler handed it (a receive window shared with a
     * faster path), not what the path can carry, and is not taken.
     */
    public void update(long now, long deliveredBytes, long minRttNanos, boolean busy) {
        latestDelivered = deliveredBytes;
        if (!busy || restartAt == Long.MIN_VALUE || deliveredBytes < restartDelivered) {
            restartAt = now;
            restartDelivered = deliveredBytes;
        }
        if (sampleAt == Long.MIN_VALUE || deliveredBytes < sampleDelivered || !busy) {
            sampleAt = now;
            sampleDelivered = deliveredBytes;
            lowSamples = 0; // an interval not measured: nothing is known of it
            return;
        }
        long interval = now - sampleAt;
        if (interval < Math.max(MIN_INTERVAL_NANOS, minRttNanos)) {
            return;
        }
        rate = (long) ((deliveredBytes - sampleDelivered) * 1e9 / interval);
        if (rate > 0) {
            lastMovingRate = rate;
            lastMovingAt = now;
        }
        long recentPeak = peakBytesPerSecond();
        if (rate > 0 && rate < COLLAPSE_FRACTION * recentPeak) {
            if (lowSamples++ == 0) {
                lowSince = sampleAt;
            }
        } else {
            // A sample of zero is silence, not a slow path: a link emulator's or a receiver's turn that came late
            // delivers nothing for a while and then everything at once (the silence rule and the probes judge a
            // path that stays silent).
            lowSamples = 0;
        }
        sampleAt = now;
        sampleDelivered = deliveredBytes;
        if (windowStart == Long.MIN_VALUE || now - windowStart >= PEAK_WINDOW_NANOS) {
            previousPeak = windowStart == Long.MIN_VALUE || now - windowStart >= 2 * PEAK_WINDOW_NANOS ? 0 : peak;
            peak = 0;
            windowStart = now;
        }
        peak = Math.max(peak, rate);
    }

    /** The latest sample, bytes per second (0 before one). */
    public long bytesPerSecond() {
        return rate;
    }

    /**
     * The latest sample above zero if it was taken at {@code since} or later, bytes per second, else 0: the rate
     * before a silence, while it is still news.
     */
    public long movingBytesPerSecondSince(long since) {
        return lastMovingAt != Long.MIN_VALUE && lastMovingAt >= since ? lastMovingRate : 0;
    }

    /**
     * A lower bound on the path's rate from what the connection delivered since it last was not busy (for a suspect
     * subflow: since it last held nothing), if that was at {@code since} or later, else 0. Bytes handed to an idle
     * connection are acknowledged one minimum RTT later at the soonest, so what it delivered since took the
     * bottleneck at most the time since less that RTT: {@code delivered / (elapsed - minimum RTT)}, the divisor at
     * least {@link #MIN_CARRYING_NANOS} (a larger divisor only lowers a lower bound). A sample over a fixed interval
     * reads such a connection as silent when its interval ends before the batch's acknowledgements arrive; this
     * reads the batch's own time (docs/decisions.md, large frames, fourth attempt).
     */
    public long sinceRestartBytesPerSecondLowerBound(long now, long since, long minRttNanos) {
        if (restartAt == Long.MIN_VALUE || restartAt < since || latestDelivered <= restartDelivered) {
            return 0;
        }
        long carrying = Math.max(MIN_CARRYING_NANOS, now - restartAt - minRttNanos);
        return (long) ((latestDelivered - restartDelivered) * 1e9 / carrying);
    }

    /**
     * The least time {@link #sinceRestartBytesPerSecondLowerBound} credits a batch with: what one burst of
     * acknowledgements can claim (a batch acknowledged all at once, one minimum RTT after it was handed, reads at
     * most its size per 10 ms; a suspect path's room is twice that rate over a minimum RTT, so a 50 ms path that
     * delivered a 37 KB batch at once is handed 376 KB, about its window at 60 Mbit/s). With 20 ms a recovered
     * LTE was handed 188 KB and took one 100 ms interval longer to carry its share (simulator, the four-period
     * byte-queue collapse: 52.40 Mbit/s against 52.6).
     */
    static final long MIN_CARRYING_NANOS = 10_000_000L;

    /** The highest sample of the last one to two peak windows, bytes per second (0 before one). */
    public long peakBytesPerSecond() {
        return Math.max(peak, previousPeak);
    }

    /**
     * Whether the path's rate collapsed: at least two consecutive samples, spanning {@link #COLLAPSE_MIN_SPAN_NANOS}
     * at least, each above zero and below {@link #COLLAPSE_FRACTION} of the recent peak. One low sample is not
     * enough: a link emulator starved for a turn (measured 125-255 ms late in the lab at load 30) or a burst of
     * delayed ACKs makes one interval look slow, and the collapse rule acting on single samples judged loss-free
     * equal and heterogeneous links collapsed 5-10 times per download in the lab at load 37-50
     * (docs/decisions.md, eighth pass). A collapsed path keeps acknowledging, slowly; a starved one goes silent and
     * then delivers a burst, which ends the run of low samples.
     */
    public boolean collapsed() {
        return lowSamples >= 2 && sampleAt - lowSince >= COLLAPSE_MIN_SPAN_NANOS;
    }

    /** Whether the latest sample is at least {@link #RECOVERED_FRACTION} of the recent peak. */
    public boolean recovered() {
        long recentPeak = peakBytesPerSecond();
        return recentPeak > 0 && rate >= RECOVERED_FRACTION * recentPeak;
    }

    /** Whether the latest sample is below {@code fraction} of the recent peak (false before two samples). */
    public boolean fellBelow(double fraction) {
        long recentPeak = peakBytesPerSecond();
        return recentPeak > 0 && rate < fraction * recentPeak;
    }
}
