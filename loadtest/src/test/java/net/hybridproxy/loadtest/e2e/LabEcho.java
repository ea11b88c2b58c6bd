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
import java.util.Arrays;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

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

    @Override
    public void close() throws IOException {
        threads.shutdownNow();
        server.close();
    }
}
