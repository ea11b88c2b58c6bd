package net.hybridproxy.loadtest.loadgen;

/**
 * What a {@link TtfbOptions} run measured, each from the start of connect(): until connected, until the object's
 * first byte, until its last byte; and new connections completed per second.
 */
public record TtfbResult(boolean ok, int count, int concurrency, int size, double connectionsPerSecond,
                         LatencySummary connect, LatencySummary ttfb, LatencySummary total, int errors, int corrupt) {
}
