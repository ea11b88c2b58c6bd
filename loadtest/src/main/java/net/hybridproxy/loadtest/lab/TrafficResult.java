package net.hybridproxy.loadtest.lab;

import net.hybridproxy.loadtest.loadgen.BulkResult;
import net.hybridproxy.loadtest.loadgen.BulkResult.BulkStream;

/**
 * A one-connection bulk transfer the lab ran in a namespace ({@link HybridAccessLab#runTrafficClient}): the load
 * client's typed result, with what only the process shows (its exit code and the raw line, for messages). The
 * accessors below read the single stream.
 *
 * @param result   the client's result
 * @param exitCode exit status of the client process
 * @param line     the raw JSON line
 */
public record TrafficResult(BulkResult result, int exitCode, String line) {

    private BulkStream stream() {
        return result.streams().isEmpty() ? new BulkStream("io-error", 0, null, null, null, 0, "no stream")
                : result.streams().getFirst();
    }

    /** The transfer met expectations (with expect-refused: it was refused, reset or closed before any reply). */
    public boolean ok() {
        return result.ok();
    }

    /** ok, mismatch, short, protocol, refused, reset, eof-before-reply, timeout or io-error. */
    public String outcome() {
        return stream().outcome();
    }

    public String direction() {
        return result.direction();
    }

    /** Bytes moved, verified or not. */
    public long transferred() {
        return stream().bytes();
    }

    public double seconds() {
        return result.seconds();
    }

    /** Bytes moved over {@link #seconds()}, in Mbit/s. */
    public double mbps() {
        return result.seconds() > 0 ? Math.round(transferred() * 8 / result.seconds() / 1e6 * 1000) / 1000.0 : 0;
    }

    public String sha256() {
        return stream().sha256();
    }

    /** "ip:port" the server saw as its peer (uploads only; null otherwise). */
    public String peerSeenByServer() {
        return stream().peerSeenByServer();
    }

    /** The client's "ip:port", null if it never connected. */
    public String local() {
        return stream().local();
    }

    public String error() {
        return stream().error();
    }

    /** Downloads: milliseconds from connect() to the first byte; 0 for uploads. */
    public double ttfbMs() {
        return stream().ttfbMs();
    }

    /** Downloads: the longest stall ({@link Stalls}) in milliseconds; 0 for uploads. */
    public long longestStallMs() {
        return result.longestStallMs();
    }

    /** The IP part of {@link #peerSeenByServer}, or null. */
    public String peerIpSeenByServer() {
        String peer = peerSeenByServer();
        if (peer == null) {
            return null;
        }
        String host = peer.substring(0, peer.lastIndexOf(':'));
        return host.replace("[", "").replace("]", "");
    }
}
