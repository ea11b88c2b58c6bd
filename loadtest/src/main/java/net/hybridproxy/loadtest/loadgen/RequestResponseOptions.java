package net.hybridproxy.loadtest.loadgen;

import java.util.ArrayList;
import java.util.List;

/**
 * Request/response: {@code clients} parallel clients, each asking for an object of {@code size} bytes and, once it
 * has arrived and been checked, the next, for {@code durationMs}; on one persistent connection per client, or on a new
 * connection per request.
 */
public record RequestResponseOptions(int clients, int size, long durationMs, boolean newConnectionPerRequest)
        implements Workload<RequestResponseResult> {

    public RequestResponseOptions {
        if (clients <= 0 || size <= 0 || size > LoadServer.MAX_GET || durationMs <= 0) {
            throw new IllegalArgumentException("clients, duration and size (at most " + LoadServer.MAX_GET
                    + " bytes) must be positive");
        }
    }

    @Override
    public String command() {
        return "rr";
    }

    @Override
    public List<String> arguments() {
        List<String> a = new ArrayList<>(List.of("--clients", String.valueOf(clients), "--size", String.valueOf(size),
                "--duration-ms", String.valueOf(durationMs)));
        if (newConnectionPerRequest) {
            a.add("--new-connection");
        }
        return a;
    }

    @Override
    public Class<RequestResponseResult> resultType() {
        return RequestResponseResult.class;
    }
}
