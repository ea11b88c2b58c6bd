package net.hybridproxy.loadtest.loadgen;

import java.util.List;
import java.util.Map;

/**
 * What a {@link BulkOptions} run measured.
 *
 * @param ok                 every stream ended with its bytes verified (with expect-refused: every stream was
 *                           refused, reset or closed before any reply)
 * @param direction          up or down
 * @param bytes              bytes asked for per stream; 0 for a timed transfer
 * @param verifiedBytes      bytes of the streams that ended verified; goodput counts only these
 * @param unverifiedBytes    bytes of the streams that did not
 * @param seconds            from the first connect to the last byte
 * @param goodputMbps        verified bytes over {@code seconds}
 * @param outcomes           how many streams ended how (ok, mismatch, short, protocol, refused, reset,
 *                           eof-before-reply, timeout, io-error)
 * @param startUptimeSeconds /proc/uptime at the start: one clock for every namespace, to line the timeline up with
 *                           the lab's fault times
 * @param timelineMs         width of a timeline bucket
 * @param timelineBytes      bytes received (downloads) or written (uploads) per bucket, all streams together
 * @param earlyTimelineMs    width of a bucket of {@code earlyTimelineBytes} (finer than {@code timelineMs})
 * @param earlyTimelineBytes as {@code timelineBytes} over the first seconds only, in the finer buckets: where the
 *                           first byte fell and what the first round trips carried; null in results without it
 * @param longestStallMs     downloads: the longest stall of the timeline by the lab's stall criterion; 0 for uploads
 * @param streams            each stream, in the order they were opened
 */
public record BulkResult(boolean ok, String direction, int connections, long bytes, long durationMs,
                         boolean expectRefused, long verifiedBytes, long unverifiedBytes, double seconds,
                         double goodputMbps, Map<String, Integer> outcomes, double startUptimeSeconds, int timelineMs,
                         long[] timelineBytes, int earlyTimelineMs,
                         long[] earlyTimelineBytes, long longestStallMs, List<BulkStream> streams) {

    /**
     * One stream of a bulk run.
     *
     * @param outcome          see {@link BulkResult#outcomes()}
     * @param bytes            bytes moved (received, or written for uploads), verified or not
     * @param sha256           the digest of those bytes, null if the stream never ended
     * @param local            the client's address of the connection, {@code ip:port}, null if it never connected
     * @param peerSeenByServer uploads: the address the server saw as its peer ({@code ip:port}); null otherwise
     * @param ttfbMs           downloads: from connect() to the first byte; 0 for uploads
     * @param error            what went wrong, null if nothing
     */
    public record BulkStream(String outcome, long bytes, String sha256, String local, String peerSeenByServer,
                             double ttfbMs, String error) {
    }

    /** With the timeline's values (a record prints an array as its identity). */
    @Override
    public String toString() {
        return "BulkResult[ok=" + ok + ", direction=" + direction + ", connections=" + connections + ", bytes=" + bytes
                + ", durationMs=" + durationMs + ", verifiedBytes=" + verifiedBytes + ", unverifiedBytes="
                + unverifiedBytes + ", seconds=" + seconds + ", goodputMbps=" + goodputMbps + ", outcomes=" + outcomes
                + ", longestStallMs=" + longestStallMs + ", timelineMs=" + timelineMs + ", timelineBytes="
                + java.util.Arrays.toString(timelineBytes) + ", earlyTimelineMs=" + earlyTimelineMs
                + ", earlyTimelineBytes=" + java.util.Arrays.toString(earlyTimelineBytes) + ", streams=" + streams + "]";
    }

    /** The only stream of a one-connection run. */
    public BulkStream stream() {
        if (streams == null || streams.size() != 1) {
            throw new IllegalStateException("not a one-stream result: " + streams);
        }
        return streams.getFirst();
    }
}
