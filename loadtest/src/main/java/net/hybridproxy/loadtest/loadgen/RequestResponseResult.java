package net.hybridproxy.loadtest.loadgen;

/**
 * What a {@link RequestResponseOptions} run measured: requests answered per second and the request-to-last-byte
 * latency (including connection setup with a new connection per request).
 *
 * @param ok      every request answered intact, none failed, at least one made
 * @param errors  connections that failed or closed early
 * @param corrupt answers whose bytes differed from the pattern
 */
public record RequestResponseResult(boolean ok, int clients, int size, boolean newConnectionPerRequest,
                                    double requestsPerSecond, LatencySummary latency, int errors, int corrupt) {
}
