package net.hybridproxy.loadtest.loadgen;

import java.util.ArrayList;
import java.util.List;

/**
 * Bulk transfer: {@code connections} parallel streams in one direction, each carrying either exactly {@code bytes}
 * bytes or as much as fits in {@code durationMs}, then a half-close by the sender; the receiver checks every byte
 * against the pattern and both ends compare SHA-256 digests.
 *
 * @param upload        client to server (else server to client)
 * @param bytes         bytes per stream; 0 when the transfer is timed
 * @param durationMs    sending period per stream; 0 when the transfer has a byte count
 * @param rateKbit      downloads only: the server paces itself to this rate (offered load); 0 is as fast as possible
 * @param timelineMs    width of a timeline bucket (bytes received, or written for uploads, per bucket)
 * @param timeoutMs     longest wait for the whole transfer (byte count) or after the sending period (timed)
 * @param idleMs        timed transfers: give up once nothing moved for this long after the sending period
 * @param expectRefused success means the connection was refused, reset or closed before any reply
 */
public record BulkOptions(boolean upload, int connections, long bytes, long durationMs, long rateKbit, int timelineMs,
                          long timeoutMs, long idleMs, boolean expectRefused) implements Workload<BulkResult> {
    public static final long DEFAULT_TIMEOUT_MS = 120_000;
    public static final long DEFAULT_IDLE_MS = 5_000;

    public BulkOptions {
        if (connections <= 0 || timelineMs <= 0 || timeoutMs <= 0 || idleMs <= 0) {
            throw new IllegalArgumentException("connections, timeline, timeout and idle time must be positive");
        }
        if (bytes < 0 || durationMs < 0 || rateKbit < 0) {
            throw new IllegalArgumentException("bytes, duration and rate must not be negative");
        }
        if (durationMs > 0 && bytes > 0) {
            throw new IllegalArgumentException("a transfer has a byte count or a duration, not both");
        }
        if (upload && rateKbit > 0) {
            throw new IllegalArgumentException("only downloads can be paced");
        }
    }

    /** Exactly {@code bytes} bytes on one connection. */
    public static BulkOptions transfer(boolean upload, long bytes) {
        return new BulkOptions(upload, 1, bytes, 0, 0, 100, DEFAULT_TIMEOUT_MS, DEFAULT_IDLE_MS, false);
    }

    /** As much as {@code durationMs} allows on one connection. */
    public static BulkOptions timed(boolean upload, long durationMs) {
        return new BulkOptions(upload, 1, 0, durationMs, 0, 100, DEFAULT_TIMEOUT_MS, DEFAULT_IDLE_MS, false);
    }

    public BulkOptions withConnections(int n) {
        return new BulkOptions(upload, n, bytes, durationMs, rateKbit, timelineMs, timeoutMs, idleMs, expectRefused);
    }

    public BulkOptions withRateKbit(long kbit) {
        return new BulkOptions(upload, connections, bytes, durationMs, kbit, timelineMs, timeoutMs, idleMs,
                expectRefused);
    }

    public BulkOptions withTimeouts(long timeout, long idle) {
        return new BulkOptions(upload, connections, bytes, durationMs, rateKbit, timelineMs, timeout, idle,
                expectRefused);
    }

    public BulkOptions expectingRefusal() {
        return new BulkOptions(upload, connections, bytes, durationMs, rateKbit, timelineMs, timeoutMs, idleMs, true);
    }

    @Override
    public String command() {
        return "bulk";
    }

    @Override
    public List<String> arguments() {
        List<String> a = new ArrayList<>();
        if (durationMs > 0) {
            a.addAll(List.of("--direction", upload ? "up" : "down", "--duration-ms", String.valueOf(durationMs)));
        } else {
            a.addAll(List.of(upload ? "--up" : "--down", String.valueOf(bytes)));
        }
        a.addAll(List.of("--connections", String.valueOf(connections), "--timeline-ms", String.valueOf(timelineMs),
                "--timeout-ms", String.valueOf(timeoutMs), "--idle-ms", String.valueOf(idleMs)));
        if (rateKbit > 0) {
            a.addAll(List.of("--rate-kbit", String.valueOf(rateKbit)));
        }
        if (expectRefused) {
            a.add("--expect-refused");
        }
        return a;
    }

    @Override
    public Class<BulkResult> resultType() {
        return BulkResult.class;
    }
}
