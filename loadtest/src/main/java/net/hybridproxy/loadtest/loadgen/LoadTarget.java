package net.hybridproxy.loadtest.loadgen;

import java.util.ArrayList;
import java.util.List;

/**
 * Where and how a load client connects, common to every workload.
 *
 * @param connect          the server, {@code host:port}
 * @param bind             local address to bind before connecting, or null
 * @param mptcp            open MPTCP (IPPROTO_MPTCP) sockets instead of TCP
 * @param seed             pattern seed of the first stream (stream i uses seed + i)
 * @param connectTimeoutMs connect() gives up after this long
 * @param threads          event-loop threads of the client
 */
public record LoadTarget(String connect, String bind, boolean mptcp, long seed, int connectTimeoutMs, int threads) {
    public static final long DEFAULT_SEED = 1;
    public static final int DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

    public LoadTarget {
        if (connect == null || connect.lastIndexOf(':') <= 0) {
            throw new IllegalArgumentException("expected host:port to connect to, got " + connect);
        }
        if (connectTimeoutMs <= 0 || threads <= 0) {
            throw new IllegalArgumentException("connect timeout and threads must be positive");
        }
    }

    public static LoadTarget of(String connect) {
        return new LoadTarget(connect, null, false, DEFAULT_SEED, DEFAULT_CONNECT_TIMEOUT_MS, 1);
    }

    public LoadTarget withBind(String address) {
        return new LoadTarget(connect, address, mptcp, seed, connectTimeoutMs, threads);
    }

    public LoadTarget withMptcp(boolean on) {
        return new LoadTarget(connect, bind, on, seed, connectTimeoutMs, threads);
    }

    public LoadTarget withSeed(long s) {
        return new LoadTarget(connect, bind, mptcp, s, connectTimeoutMs, threads);
    }

    List<String> arguments() {
        List<String> a = new ArrayList<>(List.of("--connect", connect, "--seed", String.valueOf(seed),
                "--connect-timeout-ms", String.valueOf(connectTimeoutMs), "--threads", String.valueOf(threads)));
        if (bind != null) {
            a.addAll(List.of("--bind", bind));
        }
        if (mptcp) {
            a.add("--mptcp");
        }
        return a;
    }
}
