package net.hybridproxy.loadtest.lab;

import java.util.Map;

/**
 * The result line of a {@link TrafficPeer} client run, parsed.
 *
 * @param ok               the transfer met expectations (with expect-refused: it was refused)
 * @param outcome          ok, mismatch, short, protocol, refused, reset, eof-before-reply,
 *                         timeout or io-error
 * @param peerSeenByServer "ip:port" the server saw as its peer (uploads only; null otherwise)
 * @param ttfbMs           downloads: milliseconds from connect() to the first byte; 0 for uploads
 * @param longestStallMs   downloads: the longest stall ({@link Stalls}) in milliseconds; 0 for uploads
 * @param exitCode         exit status of the client process
 * @param line             the raw JSON line, for messages
 */
public record TrafficResult(boolean ok, String outcome, String direction, long bytes, long transferred,
                            double seconds, double mbps, String sha256, String peerSeenByServer,
                            String local, String error, double ttfbMs, long longestStallMs, int exitCode, String line) {

    /** Parses the client's JSON line. */
    public static TrafficResult parse(String jsonLine, int exitCode) {
        Map<String, Object> m = Json.parseFlat(jsonLine);
        return new TrafficResult(Boolean.TRUE.equals(m.get("ok")), (String) m.get("outcome"),
                (String) m.get("direction"), number(m, "bytes").longValue(), number(m, "transferred").longValue(),
                number(m, "seconds").doubleValue(), number(m, "mbps").doubleValue(), (String) m.get("sha256"),
                (String) m.get("peerSeenByServer"), (String) m.get("local"), (String) m.get("error"),
                number(m, "ttfbMs").doubleValue(), number(m, "longestStallMs").longValue(), exitCode, jsonLine);
    }

    /** The IP part of {@link #peerSeenByServer}, or null. */
    public String peerIpSeenByServer() {
        if (peerSeenByServer == null) {
            return null;
        }
        String host = peerSeenByServer.substring(0, peerSeenByServer.lastIndexOf(':'));
        return host.replace("[", "").replace("]", "");
    }

    private static Number number(Map<String, Object> m, String key) {
        Object v = m.get(key);
        return v instanceof Number n ? n : 0;
    }
}
