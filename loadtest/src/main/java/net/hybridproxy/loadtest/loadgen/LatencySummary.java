package net.hybridproxy.loadtest.loadgen;

import org.HdrHistogram.Histogram;

/** Percentiles of one HdrHistogram of microsecond values, in milliseconds. */
public record LatencySummary(long count, double p50Ms, double p90Ms, double p99Ms, double maxMs) {

    /** A histogram of microseconds, up to a minute, three significant digits. */
    static Histogram newHistogram() {
        return new Histogram(60_000_000L, 3);
    }

    static LatencySummary of(Histogram h) {
        return new LatencySummary(h.getTotalCount(), h.getValueAtPercentile(50) / 1000.0,
                h.getValueAtPercentile(90) / 1000.0, h.getValueAtPercentile(99) / 1000.0, h.getMaxValue() / 1000.0);
    }
}
