package net.hybridproxy.loadtest.loadgen;

import java.util.List;

/**
 * Time to first byte on a new connection: {@code count} objects of {@code size} bytes, each over its own connection,
 * at most {@code concurrency} in progress at a time. {@code warmup} objects fetched first and not counted warm up the
 * client JVM's own code paths, so its JIT does not weigh on the figures.
 */
public record TtfbOptions(int count, int concurrency, int size, int warmup, long timeoutMs)
        implements Workload<TtfbResult> {

    public TtfbOptions {
        if (count <= 0 || concurrency <= 0 || size <= 0 || size > LoadServer.MAX_GET || warmup < 0 || timeoutMs <= 0) {
            throw new IllegalArgumentException("count, concurrency, size and timeout must be positive, warmup not"
                    + " negative");
        }
    }

    public static TtfbOptions of(int count, int concurrency, int size) {
        return new TtfbOptions(count, concurrency, size, 0, BulkOptions.DEFAULT_TIMEOUT_MS);
    }

    public TtfbOptions withWarmup(int objects) {
        return new TtfbOptions(count, concurrency, size, objects, timeoutMs);
    }

    @Override
    public String command() {
        return "ttfb";
    }

    @Override
    public List<String> arguments() {
        return List.of("--count", String.valueOf(count), "--concurrency", String.valueOf(concurrency), "--size",
                String.valueOf(size), "--warmup", String.valueOf(warmup), "--timeout-ms", String.valueOf(timeoutMs));
    }

    @Override
    public Class<TtfbResult> resultType() {
        return TtfbResult.class;
    }
}
