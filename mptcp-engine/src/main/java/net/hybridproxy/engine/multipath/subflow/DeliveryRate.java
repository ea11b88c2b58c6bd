package net.hybridproxy.engine.multipath.subflow;

/**
 * How fast one subflow's TCP connection delivers what it was handed, and how long what it holds would take to
 * drain at that rate: the signal that a path's rate collapsed (an LTE cell falling from 60 to 3 Mbit/s) or that it
 * went silent (a blackhole), long before its RTT says so (its RTT grows only as its queue drains, and its probes
 * wait behind that queue).
 *
 * <p>Delivered bytes are what the engine handed the connection minus what TCP still holds (in flight and not sent),
 * sampled once per half of the path's minimum RTT (at least {@value #MIN_INTERVAL_NANOS} ns); the estimate is the
 * highest of the last {@value #SAMPLES} samples (BBR's windowed maximum, short enough to follow a collapse within
 * about one and a half RTTs). A sample
 * taken while the connection held less than the estimate would deliver in one interval says only that the
 * application had little to send, so it may raise the estimate but not lower it (BBR's "application-limited"
 * samples).
 *
 * <p>Since late paths are judged from TCP's own delivery ({@code SubflowTable#reinjectFromLatePaths}), the engine
 * uses only {@link #minRttNanos()} from here: the rate itself swung with the event loop's lag in the lab
 * (docs/decisions.md). The rate methods are kept for diagnostics; remove them if nothing comes to need them.
 *
 * <p>Deterministic: {@code now} is an argument. Not thread-safe.
 */
public final class DeliveryRate {

    /** Samples the windowed maximum spans. */
    static final int SAMPLES = 3;
    /** The shortest sampling interval: below it a sample holds too few segments to mean anything. */
    static final long MIN_INTERVAL_NANOS = 10_000_000L;
    /** The minimum RTT is forgotten after this long, so that a path whose RTT grew for good is judged by it. */
    static final long MIN_RTT_LIFETIME_NANOS = 10_000_000_000L;

    private long intervalStart = Long.MIN_VALUE;
    private long deliveredAtStart;
    private long backlogAtStart;
    private final double[] samples = new double[SAMPLES];
    private int sampleCount;
    private int nextSample;
    private double bytesPerNano = -1;
    private long minRttNanos;
    private long minRttAt;
    private double peakBytesPerNano;
    private long peakAt;

    /**
     * Feeds the connection's state at {@code now}.
     *
     * @param delivered bytes the connection delivered since it opened (handed minus held)
     * @param backlog   bytes it holds now (in flight and not yet sent)
     * @param srttNanos its smoothed RTT now (0 if unknown)
     */
    public void update(long now, long delivered, long backlog, long srttNanos) {
        if (srttNanos > 0 && (minRttNanos == 0 || srttNanos < minRttNanos
                || now - minRttAt > MIN_RTT_LIFETIME_NANOS)) {
            minRttNanos = srttNanos;
            minRttAt = now;
        }
        if (intervalStart == Long.MIN_VALUE) {
            restart(now, delivered, backlog);
            return;
        }
        long elapsed = now - intervalStart;
        if (elapsed < Math.max(MIN_INTERVAL_NANOS, minRttNanos / 2)) {
            return;
        }
        double sample = Math.max(0, delivered - deliveredAtStart) / (double) elapsed;
        // The connection could have delivered at the estimated rate only if it held that much at the start.
        boolean applicationLimited = bytesPerNano >= 0 && backlogAtStart < bytesPerNano * elapsed;
        if (!applicationLimited || sample >= bytesPerNano) {
            samples[nextSample] = sample;
            nextSample = (nextSample + 1) % SAMPLES;
            sampleCount = Math.min(SAMPLES, sampleCount + 1);
            double max = 0;
            for (int i = 0; i < sampleCount; i++) {
                max = Math.max(max, samples[i]);
            }
            bytesPerNano = max;
            if (max >= peakBytesPerNano || now - peakAt > MIN_RTT_LIFETIME_NANOS) {
                peakBytesPerNano = max;
                peakAt = now;
            }
        }
        restart(now, delivered, backlog);
    }

    private void restart(long now, long delivered, long backlog) {
        intervalStart = now;
        deliveredAtStart = delivered;
        backlogAtStart = backlog;
    }

    /** Whether enough samples were taken to judge the path. */
    public boolean known() {
        return sampleCount >= SAMPLES;
    }

    /**
     * Whether the rate fell to less than a quarter of the highest estimate of the last ten seconds: a collapse or a
     * blackhole, not a connection still in slow start (whose rate only grows) nor a loss recovery (which halves it).
     */
    public boolean collapsed() {
        return known() && bytesPerNano < peakBytesPerNano / 4;
    }

    /** Bytes per second delivered, -1 before the first sample. */
    public double bytesPerSecond() {
        return bytesPerNano < 0 ? -1 : bytesPerNano * 1e9;
    }

    /** The lowest smoothed RTT seen lately (0 if none). */
    public long minRttNanos() {
        return minRttNanos;
    }

    /** How long {@code bytes} would take to deliver at the estimated rate; {@code Long.MAX_VALUE} at rate 0. */
    public long drainNanos(long bytes) {
        if (bytes <= 0) {
            return 0;
        }
        if (bytesPerNano <= 0) {
            return Long.MAX_VALUE;
        }
        return (long) Math.min(Long.MAX_VALUE / 2.0, bytes / bytesPerNano);
    }

    /** Bytes the path delivers in {@code nanos} at the estimated rate ({@code Long.MAX_VALUE} while unknown). */
    public long bytesIn(long nanos) {
        if (!known()) {
            return Long.MAX_VALUE;
        }
        return (long) Math.min(Long.MAX_VALUE / 2.0, bytesPerNano * nanos);
    }
}
