package net.hybridproxy.loadtest.loadgen;

import java.util.List;

/**
 * Held connections: opens {@code connections} connections, at most {@code concurrency} being set up at a time,
 * verifies one small object over each (so the proxy really relays it), then holds them all idle for
 * {@code durationMs} and counts how many are still open.
 */
public record HoldOptions(int connections, int concurrency, long durationMs, long timeoutMs)
        implements Workload<HoldResult> {

    public HoldOptions {
        if (connections <= 0 || concurrency <= 0 || durationMs < 0 || timeoutMs <= 0) {
            throw new IllegalArgumentException("connections, concurrency and timeout must be positive");
        }
    }

    @Override
    public String command() {
        return "hold";
    }

    @Override
    public List<String> arguments() {
        return List.of("--connections", String.valueOf(connections), "--concurrency", String.valueOf(concurrency),
                "--duration-ms", String.valueOf(durationMs), "--timeout-ms", String.valueOf(timeoutMs));
    }

    @Override
    public Class<HoldResult> resultType() {
        return HoldResult.class;
    }
}
