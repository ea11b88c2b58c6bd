package net.hybridproxy.proxy.logging;

import java.lang.System.Logger.Level;

/**
 * The per-connection close line at INFO: which connection, why it ended, bytes each way, how long it lived. Rate
 * limited ({@code hybridproxy.log.connection-lines-per-second}); a line written after a quiet spell carries
 * {@code suppressed=N}, the lines left out since the previous one, so the counts still add up.
 */
public final class ConnectionLog {
    private static final System.Logger LOG = System.getLogger("hybridproxy.connection");
    private static volatile LogRateLimiter limiter = new LogRateLimiter(LogSettings.DEFAULTS.connectionLinesPerSecond());

    private ConnectionLog() {
    }

    static void setLinesPerSecond(int perSecond) {
        limiter = new LogRateLimiter(perSecond);
    }

    /**
     * Logs one closed connection, unless the rate limit says otherwise.
     *
     * @param connection the connection's label (client address and port, then the destination)
     */
    public static void closed(String connection, String reason, long bytesUpstream, long bytesDownstream,
                              long durationNanos) {
        closed(connection, reason, bytesUpstream, bytesDownstream, durationNanos, System.nanoTime());
    }

    /** As {@link #closed(String, String, long, long, long)}, at {@code nowNanos} (tests give the time). */
    static void closed(String connection, String reason, long bytesUpstream, long bytesDownstream,
                       long durationNanos, long nowNanos) {
        if (!LOG.isLoggable(Level.INFO)) {
            return;
        }
        long suppressed = limiter.admit(nowNanos);
        if (suppressed == LogRateLimiter.DROP) {
            return;
        }
        LOG.log(Level.INFO, "connection closed", LogFields.of(
                "connection", connection,
                "reason", reason,
                "bytes_up", bytesUpstream,
                "bytes_down", bytesDownstream,
                "duration_ms", durationNanos / 1_000_000,
                "suppressed", suppressed == 0 ? null : suppressed));
    }
}
