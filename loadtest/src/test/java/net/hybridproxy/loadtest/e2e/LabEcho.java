package net.hybridproxy.loadtest.e2e;

import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.proxy.testing.EchoServer;
import net.hybridproxy.proxy.testing.NetNs;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

/**
 * An echo server in the lab's server namespace and a LAN client in its client namespace, driven from the test's
 * own JVM: the legitimate traffic of the hardening suites. The client's connections to {@code port} are captured
 * by the cpe (the port must be in its capture list), so each one crosses cpe, uplinks and concentrator.
 */
final class LabEcho implements AutoCloseable {
    private static final SecureRandom RANDOM = new SecureRandom();

    private final NetNs client;
    private final ServerSocket server;
    private final int port;
    private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();

    LabEcho(HybridAccessLab lab, int port) throws Exception {
        this.client = NetNs.existing(lab.client().name());
        this.port = port;
        this.server = NetNs.existing(lab.server().name()).call(() ->
                new ServerSocket(port, 500, InetAddress.ofLiteral(HybridAccessLab.SERVER_ADDR)));
        EchoServer.start(server);
    }

    /**
     * A socket of the client namespace. Bound inside it: a Java socket gets its file descriptor, and with it its
     * namespace, only when first bound or connected.
     */
    Socket unconnected() throws Exception {
        return client.call(() -> {
            Socket socket = new Socket();
            socket.bind(new InetSocketAddress(HybridAccessLab.CLIENT_ADDR, 0));
            return socket;
        });
    }

    /** A connection to {@code host:port} from the client namespace. */
    Socket connect(String host, int toPort) throws Exception {
        Socket s = unconnected();
        s.connect(new InetSocketAddress(host, toPort), 5_000);
        s.setSoTimeout(30_000);
        return s;
    }

    /** Connect through the cpe until the first echoed byte is back, in nanoseconds. */
    long setupNanos() throws Exception {
        long start = System.nanoTime();
        try (Socket s = connect(HybridAccessLab.SERVER_ADDR, port)) {
            s.getOutputStream().write(42);
            if (s.getInputStream().read() != 42) {
                throw new IOException("no echo");
            }
            return System.nanoTime() - start;
        }
    }

    /** Median of 7 {@link #setupNanos()}. */
    long medianSetupNanos() throws Exception {
        long[] setups = new long[7];
        for (int i = 0; i < setups.length; i++) {
            setups[i] = setupNanos();
        }
        Arrays.sort(setups);
        return setups[setups.length / 2];
    }

    /**
     * Sends {@code bytes} random bytes and checks that exactly they come back; throws otherwise. The client does not
     * half-close before it has read the echo: with the kernel engine, a half-close while the echo is still flowing
     * loses the echo's tail about once in ten 1 MiB transfers, on this branch's base too (docs/decisions.md,
     * "noticed, not fixed"); these suites test the attacks and faults, not that defect.
     */
    void verifiedTransfer(int bytes) throws Exception {
        try (Socket s = connect(HybridAccessLab.SERVER_ADDR, port)) {
            verifiedTransfer(s, bytes);
        }
    }

    /** The same over a connection already open (e.g. to an explicit listener of the cpe, which echoes here too). */
    void verifiedTransfer(Socket s, int bytes) throws Exception {
        byte[] payload = new byte[bytes];
        RANDOM.nextBytes(payload);
        Future<?> writer = threads.submit(() -> {
            s.getOutputStream().write(payload);
            return null;
        });
        byte[] back = s.getInputStream().readNBytes(bytes);
        writer.get(60, TimeUnit.SECONDS);
        if (!Arrays.equals(payload, back)) {
            throw new IOException("echo differs: " + back.length + " of " + bytes + " bytes back"
                    + (back.length == bytes ? ", same length, different bytes" : ""));
        }
    }

    /** An attack run by {@link #servesWhile} on each of its threads until {@code stop} is set. */
    @FunctionalInterface
    interface Attack {
        void run(AtomicBoolean stop) throws Exception;
    }

    /**
     * Runs {@code attack} on {@code parallelism} threads for about 3 s; meanwhile this client's median setup time
     * stays within twice {@code normalSetupNanos} (at least 10 ms, so that a sub-millisecond normal does not turn
     * scheduling noise into a failure) and a 256 KiB transfer comes back byte-exact. The attack must have run the
     * whole time: an attacker thread that failed fails the test. Returns the median setup under attack.
     */
    long servesWhile(String name, int parallelism, Attack attack, long normalSetupNanos, Supplier<String> logs)
            throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        List<Future<?>> attackers = new ArrayList<>();
        for (int i = 0; i < parallelism; i++) {
            attackers.add(threads.submit(() -> {
                attack.run(stop);
                return null;
            }));
        }
        try {
            Thread.sleep(500); // let the attack build up
            // 21 new connections spread over the attack's 3 s; their median is compared with the unloaded median.
            long[] setups = new long[21];
            for (int i = 0; i < setups.length; i++) {
                try {
                    setups[i] = setupNanos();
                    if (i == 10) {
                        verifiedTransfer(256 * 1024);
                    }
                } catch (IOException e) {
                    throw new AssertionError(name + ": the legitimate client's connection " + (i + 1) + " failed: " + e
                            + "\n" + logs.get(), e);
                }
                Thread.sleep(100);
            }
            Arrays.sort(setups);
            long median = setups[setups.length / 2];
            System.out.printf("attack suite: %s: setup median %.1f ms, max %.1f ms (normal %.1f ms); transfer "
                    + "verified%n", name, median / 1e6, setups[setups.length - 1] / 1e6, normalSetupNanos / 1e6);
            long bound = 2 * Math.max(normalSetupNanos, 10_000_000L);
            if (median > bound) {
                throw new AssertionError(name + ": setup median " + median / 1e6 + " ms under attack, normal "
                        + normalSetupNanos / 1e6 + " ms\n" + logs.get());
            }
            return median;
        } finally {
            stop.set(true);
            for (Future<?> a : attackers) {
                try {
                    a.get(10, TimeUnit.SECONDS);
                } catch (java.util.concurrent.ExecutionException e) {
                    throw new AssertionError(name + ": the attacker failed: " + e.getCause() + "\n" + logs.get(),
                            e.getCause());
                }
            }
        }
    }

    @Override
    public void close() throws IOException {
        threads.shutdownNow();
        server.close();
    }
}
