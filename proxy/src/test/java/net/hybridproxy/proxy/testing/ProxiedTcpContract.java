package net.hybridproxy.proxy.testing;

import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.ConfigLoader;
import net.hybridproxy.proxy.config.InvalidConfigException;
import net.hybridproxy.proxy.role.ProxyCounters;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What any proxy path in front of a backend must do to be indistinguishable from TCP: bulk both ways at once, a
 * half-close each way with the other direction still working, a reset reproduced as a reset, backpressure instead
 * of buffering, and every connection accounted for. Client and backend are plain JDK sockets; subclasses build the
 * path between them (the relay on each transport, the userspace engine pair) and say where it listens.
 */
public abstract class ProxiedTcpContract {
    /**
     * The configuration both proxied-TCP suites run with: small write-buffer water marks (the low one a quarter of
     * {@code highWaterMark}) make backpressure visible with little data. The role is irrelevant to the relay.
     */
    protected static AppConfig relayConfig(String idleTimeout, int highWaterMark) throws InvalidConfigException {
        return ConfigLoader.parseString("""
                hybridproxy {
                  role = sidecar
                  sidecar.upstream = "127.0.0.1:9"
                  relay {
                    idle-timeout = %s
                    write-buffer-high-water-mark = %d
                    write-buffer-low-water-mark = %d
                  }
                }
                """.formatted(idleTimeout, highWaterMark, highWaterMark / 4));
    }

    /**
     * The test's blocking socket work. Not the common pool: on a two-core machine it has one thread, and a task
     * blocked in accept() or read() would starve the tasks it waits for.
     */
    protected final ExecutorService blockingIo = Executors.newVirtualThreadPerTaskExecutor();

    /** The backend the path connects to. */
    protected abstract ServerSocket backend();

    /** Where clients connect to enter the path. */
    protected abstract SocketAddress proxyAddress();

    /** The counters of the relays clients connect to. */
    protected abstract ProxyCounters counters();

    /** More than this many bytes accepted from a client whose server never reads is buffering, not backpressure. */
    protected abstract long maxBufferedBytes();

    /** Checks run once twenty echo connections have ended and the relays are no longer counted. */
    protected void afterEveryConnectionEnded() throws Exception {
    }

    @AfterEach
    void stopBlockingIo() {
        blockingIo.shutdownNow();
    }

    protected Socket connectThroughProxy() throws IOException {
        Socket socket = new Socket();
        socket.connect(proxyAddress(), 5_000);
        socket.setSoTimeout(30_000);
        return socket;
    }

    protected static void drainExpectingReset(Socket socket) throws IOException {
        InputStream in = socket.getInputStream();
        while (in.read() >= 0) {
            // drain until the reset arrives
        }
        throw new IOException("clean EOF instead of a reset");
    }

    @Test
    void bulkBytesArriveIntactInBothDirectionsAtOnce() throws Exception {
        byte[] up = randomBytes(16 << 20, 1);
        byte[] down = randomBytes(16 << 20, 2);
        CompletableFuture<byte[]> backendReceived = CompletableFuture.supplyAsync(() -> {
            try (Socket s = backend().accept()) {
                CompletableFuture<Void> send = CompletableFuture.runAsync(() -> writeAndHalfClose(s, down), blockingIo);
                byte[] got = s.getInputStream().readAllBytes();
                send.join();
                return got;
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, blockingIo);
        try (Socket client = connectThroughProxy()) {
            CompletableFuture<Void> send = CompletableFuture.runAsync(() -> writeAndHalfClose(client, up), blockingIo);
            byte[] clientReceived = client.getInputStream().readAllBytes();
            send.join();
            assertSameBytes(down, clientReceived, "download");
        }
        assertSameBytes(up, backendReceived.get(30, TimeUnit.SECONDS), "upload");
    }

    @Test
    void clientHalfCloseReachesTheServerWhichCanStillAnswer() throws Exception {
        CompletableFuture<Void> server = CompletableFuture.runAsync(() -> {
            try (Socket s = backend().accept()) {
                byte[] request = s.getInputStream().readAllBytes(); // returns only on the client's FIN
                OutputStream out = s.getOutputStream();
                out.write(("got " + request.length).getBytes());
                out.flush();
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, blockingIo);
        try (Socket client = connectThroughProxy()) {
            client.getOutputStream().write(new byte[1234]);
            client.shutdownOutput();
            assertEquals("got 1234", new String(client.getInputStream().readAllBytes()));
        }
        server.get(10, TimeUnit.SECONDS);
    }

    @Test
    void serverHalfCloseReachesTheClientWhichCanStillSend() throws Exception {
        CompletableFuture<String> server = CompletableFuture.supplyAsync(() -> {
            try (Socket s = backend().accept()) {
                s.getOutputStream().write("hello".getBytes());
                s.shutdownOutput();
                return new String(s.getInputStream().readAllBytes());
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, blockingIo);
        try (Socket client = connectThroughProxy()) {
            assertEquals("hello", new String(client.getInputStream().readAllBytes()));
            client.getOutputStream().write("still talking".getBytes());
            client.shutdownOutput();
            assertEquals("still talking", server.get(10, TimeUnit.SECONDS));
        }
    }

    @Test
    void serverResetBecomesAClientReset() throws Exception {
        CompletableFuture<Void> server = CompletableFuture.runAsync(() -> {
            try {
                Socket s = backend().accept();
                s.getInputStream().read();
                s.setSoLinger(true, 0);
                s.close(); // RST
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, blockingIo);
        try (Socket client = connectThroughProxy()) {
            client.getOutputStream().write(1);
            server.get(10, TimeUnit.SECONDS);
            IOException reset = assertThrows(IOException.class, () -> drainExpectingReset(client));
            assertTrue(reset.getMessage().toLowerCase().contains("reset"), reset.getMessage());
        }
    }

    @Test
    void aServerThatStopsReadingStopsTheClientInsteadOfFillingMemory() throws Exception {
        CompletableFuture<Socket> accepted = CompletableFuture.supplyAsync(() -> {
            try {
                return backend().accept(); // never reads
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, blockingIo);
        try (java.nio.channels.SocketChannel client = java.nio.channels.SocketChannel.open(proxyAddress())) {
            client.configureBlocking(false);
            ByteBuffer chunk = ByteBuffer.allocate(64 * 1024);
            long accepted_bytes = 0;
            int stalls = 0;
            // Keep offering data until writes have made no progress for a while: the relay has stopped reading.
            while (stalls < 200 && accepted_bytes < 512L << 20) {
                chunk.clear();
                int n = client.write(chunk);
                if (n == 0) {
                    stalls++;
                    Thread.sleep(5);
                } else {
                    stalls = 0;
                    accepted_bytes += n;
                }
            }
            // Kernel socket buffers (client send, relay receive and send, server receive) plus one high water
            // mark: tens of MiB at most on Linux autotuning, never the 512 MiB offered.
            assertTrue(accepted_bytes < maxBufferedBytes(), "the proxy buffered " + (accepted_bytes >> 20) + " MiB");
        } finally {
            accepted.get(10, TimeUnit.SECONDS).close();
        }
    }

    @Test
    void everyConnectionIsAccountedForWhenItEnds() throws Exception {
        for (int i = 0; i < 20; i++) {
            CompletableFuture<Void> server = CompletableFuture.runAsync(() -> {
                try (Socket s = backend().accept()) {
                    s.getInputStream().transferTo(s.getOutputStream());
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, blockingIo);
            try (Socket client = connectThroughProxy()) {
                client.getOutputStream().write("ping".getBytes());
                client.shutdownOutput();
                assertEquals("ping", new String(client.getInputStream().readAllBytes()));
            }
            server.get(10, TimeUnit.SECONDS);
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (counters().active() != 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(0, counters().active(), "relays still counted as active after both sides closed");
        afterEveryConnectionEnded();
        assertEquals(20 * 4, counters().bytesUpstream());
        assertEquals(20 * 4, counters().bytesDownstream());
    }

    protected static void writeAndHalfClose(Socket socket, byte[] data) {
        try {
            OutputStream out = socket.getOutputStream();
            for (int offset = 0; offset < data.length; offset += 65536) {
                out.write(data, offset, Math.min(65536, data.length - offset));
            }
            out.flush();
            socket.shutdownOutput();
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }

    /**
     * Fails with what went wrong, not only that something did: the lengths sent and received and the first offset
     * where they differ, so a failure reads as truncation (a FIN too early), excess or altered bytes.
     */
    protected static void assertSameBytes(byte[] sent, byte[] received, String direction) {
        int mismatch = java.util.Arrays.mismatch(sent, received);
        if (mismatch < 0) {
            return;
        }
        String what;
        if (mismatch == received.length) {
            what = "truncated: the stream ended cleanly after " + received.length + " of " + sent.length
                    + " bytes (" + (sent.length - received.length) + " missing)";
        } else if (mismatch == sent.length) {
            what = "extra bytes: " + received.length + " received for " + sent.length + " sent";
        } else {
            what = "altered: first difference at offset %d (sent 0x%02x, received 0x%02x); %d bytes sent, %d received"
                    .formatted(mismatch, sent[mismatch], received[mismatch], sent.length, received.length);
        }
        throw new AssertionError(direction + " corrupted, " + what);
    }

    /** Polls {@code condition} until it holds, failing after 15 s with what was awaited. */
    protected static void await(BooleanSupplier condition, String what) throws InterruptedException {
        await(condition, what, TimeUnit.SECONDS.toNanos(15));
    }

    protected static void await(BooleanSupplier condition, String what, long timeoutNanos)
            throws InterruptedException {
        long deadline = System.nanoTime() + timeoutNanos;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for: " + what);
            }
            Thread.sleep(10);
        }
    }

    protected static byte[] randomBytes(int size, long seed) {
        byte[] bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    protected static byte[] sha256(byte[] data) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(data);
    }
}
