package net.hybridproxy.proxy.logging;

/**
 * A token bucket for log lines: {@code perSecond} lines a second on average, bursts of up to {@code perSecond}.
 * Lines beyond it are counted, not written, and the next line written says how many were left out, so a flood
 * (thousands of short connections a second, or an attacker's) costs neither the disk nor the operator's reading.
 * Time is an argument, so the bucket is tested without a clock; it is shared by every event loop, hence
 * synchronized (a few arithmetic operations, taken once per line).
 */
public final class LogRateLimiter {
    /** What {@link #admit} returns for a line that must not be written. */
    public static final long DROP = -1;

    private static final long NANOS_PER_SECOND = 1_000_000_000L;

    private final int perSecond;
    private double tokens;
    private long lastNanos;
    private boolean started;
    private long suppressed;

    public LogRateLimiter(int perSecond) {
        if (perSecond < 0) {
            throw new IllegalArgumentException("perSecond must be >= 0");
        }
        this.perSecond = perSecond;
        this.tokens = perSecond;
    }

    /**
     * Whether a line may be written at {@code nowNanos}: {@link #DROP} if not (it is counted), otherwise how many
     * lines were dropped since the last one written (usually 0).
     */
    public synchronized long admit(long nowNanos) {
        if (perSecond == 0) {
            return DROP;
        }
        if (started) {
            long elapsed = Math.max(0, nowNanos - lastNanos);
            tokens = Math.min(perSecond, tokens + (double) elapsed * perSecond / NANOS_PER_SECOND);
        }
        started = true;
        lastNanos = nowNanos;
        if (tokens < 1) {
            suppressed++;
            return DROP;
        }
        tokens -= 1;
        long dropped = suppressed;
        suppressed = 0;
        return dropped;
    }
}
