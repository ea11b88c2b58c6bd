package net.hybridproxy.proxy.relay;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.ServerSocketChannel;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.ConfigLoader;
import net.hybridproxy.proxy.role.ProxyCounters;
import net.hybridproxy.proxy.role.RoleContext;
import net.hybridproxy.proxy.transport.MultipathConnections;
import net.hybridproxy.proxy.transport.Transport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The relay's behaviour, run once per transport (the subclasses pick io_uring, epoll, NIO) the way Netty's own
 * testsuite runs one socket test per transport. Client and backend are plain JDK sockets; between them sits a
 * listener that joins each accepted connection to a backend connection with {@link RelaySession}, built from the
 * same bootstrap helpers the roles use.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
abstract class RelayTransportSuite {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    /** Small water marks make backpressure visible with little data. */
    private static final int HIGH_WATER_MARK = 64 * 1024;

    /**
     * The test's blocking socket work. Not the common pool: on a two-core machine it has one thread, and a task
     * blocked in accept() or read() would starve the tasks it waits for.
     */
    private final ExecutorService blockingIo = Executors.newVirtualThreadPerTaskExecutor();
    private EventLoopGroup group;
    private Channel listener;
    private ServerSocket backend;
    protected ProxyCounters counters;

    abstract Transport transport();

    /** The backend connection's channel factory; MPTCP-capable suites override it. */
    ChannelFactory<? extends io.netty.channel.socket.SocketChannel> backendFactory(Transport transport) {
        return transport.tcpClient();
    }

    ChannelFactory<? extends ServerSocketChannel> listenerFactory(Transport transport) {
        return transport.tcpServer();
    }

    @BeforeEach
    void startRelay() throws Exception {
        Transport transport = transport();
        org.junit.jupiter.api.Assumptions.assumeTrue(transport.isAvailable(),
                () -> transport.label() + " unavailable here: " + transport.unavailabilityCause().orElse(""));
        AppConfig config = ConfigLoader.parseString("""
                hybridproxy {
                  role = sidecar
                  sidecar.upstream = "127.0.0.1:9"
                  relay {
                    idle-timeout = 30s
                    write-buffer-high-water-mark = %d
                    write-buffer-low-water-mark = %d
                  }
                }
                """.formatted(HIGH_WATER_MARK, HIGH_WATER_MARK / 4));
        group = transport.newEventLoopGroup(2, "relay-test-" + transport.label());
        counters = new ProxyCounters(100);
        RoleContext context = new RoleContext(config, transport, group, group, counters,
                new MultipathConnections());
        backend = new ServerSocket(0, 50, LOOPBACK);
        InetSocketAddress backendAddress = (InetSocketAddress) backend.getLocalSocketAddress();
        listener = context.serverBootstrap(listenerFactory(transport))
                .childHandler(new ChannelInitializer<io.netty.channel.socket.SocketChannel>() {
                    @Override
                    protected void initChannel(io.netty.channel.socket.SocketChannel ch) {
                        ch.pipeline().addLast(new EarlyInbound());
                        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelActive(ChannelHandlerContext ctx) {
                                Channel client = ctx.channel();
                                ctx.pipeline().remove(this);
                                counters.tryAdmit();
                                context.outboundBootstrap(client, backendFactory(transport))
                                        .handler(new ChannelInboundHandlerAdapter())
                                        .connect(backendAddress)
                                        .addListener(f -> {
                                            if (f.isSuccess()) {
                                                context.relay(client, ((io.netty.channel.ChannelFuture) f).channel(),
                                                        "test");
                                            } else {
                                                counters.release();
                                                RelaySession.reset(client);
                                            }
                                        });
                            }
                        });
                    }
                })
                .bind(new InetSocketAddress(LOOPBACK, 0)).sync().channel();
    }

    @AfterEach
    void stopRelay() throws Exception {
        if (listener != null) {
            listener.close().sync();
        }
        if (backend != null) {
            backend.close();
        }
        if (group != null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
        blockingIo.shutdownNow();
    }

    private Socket connectThroughRelay() throws IOException {
        Socket socket = new Socket();
        socket.connect(listener.localAddress(), 5_000);
        socket.setSoTimeout(20_000);
        return socket;
    }

    @Test
    void bulkBytesArriveIntactInBothDirectionsAtOnce() throws Exception {
        byte[] up = randomBytes(16 << 20, 1);
        byte[] down = randomBytes(16 << 20, 2);
        CompletableFuture<byte[]> backendReceived = CompletableFuture.supplyAsync(() -> {
            try (Socket s = backend.accept()) {
                CompletableFuture<Void> send = CompletableFuture.runAsync(() -> writeAndHalfClose(s, down), blockingIo);
                byte[] got = s.getInputStream().readAllBytes();
                send.join();
                return got;
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, blockingIo);
        try (Socket client = connectThroughRelay()) {
            CompletableFuture<Void> send = CompletableFuture.runAsync(() -> writeAndHalfClose(client, up), blockingIo);
            byte[] clientReceived = client.getInputStream().readAllBytes();
            send.join();
            assertArrayEquals(sha256(down), sha256(clientReceived), "download corrupted");
        }
        assertArrayEquals(sha256(up), sha256(backendReceived.get(30, TimeUnit.SECONDS)), "upload corrupted");
    }

    @Test
    void clientHalfCloseReachesTheServerWhichCanStillAnswer() throws Exception {
        CompletableFuture<Void> server = CompletableFuture.runAsync(() -> {
            try (Socket s = backend.accept()) {
                byte[] request = s.getInputStream().readAllBytes(); // returns only on the client's FIN
                OutputStream out = s.getOutputStream();
                out.write(("got " + request.length).getBytes());
                out.flush();
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, blockingIo);
        try (Socket client = connectThroughRelay()) {
            client.getOutputStream().write(new byte[1234]);
            client.shutdownOutput();
            assertEquals("got 1234", new String(client.getInputStream().readAllBytes()));
        }
        server.get(10, TimeUnit.SECONDS);
    }

    @Test
    void serverHalfCloseReachesTheClientWhichCanStillSend() throws Exception {
        CompletableFuture<String> server = CompletableFuture.supplyAsync(() -> {
            try (Socket s = backend.accept()) {
                s.getOutputStream().write("hello".getBytes());
                s.shutdownOutput();
                return new String(s.getInputStream().readAllBytes());
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, blockingIo);
        try (Socket client = connectThroughRelay()) {
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
                Socket s = backend.accept();
                s.getInputStream().read();
                s.setSoLinger(true, 0);
                s.close(); // RST
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, blockingIo);
        try (Socket client = connectThroughRelay()) {
            client.getOutputStream().write(1);
            server.get(10, TimeUnit.SECONDS);
            IOException reset = assertThrows(IOException.class, () -> {
                InputStream in = client.getInputStream();
                while (in.read() >= 0) {
                    // drain until the reset arrives
                }
                throw new IOException("clean EOF instead of a reset");
            });
            assertTrue(reset.getMessage().toLowerCase().contains("reset"), reset.getMessage());
        }
    }

    @Test
    void aServerThatStopsReadingStopsTheClientInsteadOfFillingMemory() throws Exception {
        CompletableFuture<Socket> accepted = CompletableFuture.supplyAsync(() -> {
            try {
                return backend.accept(); // never reads
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, blockingIo);
        try (java.nio.channels.SocketChannel client = java.nio.channels.SocketChannel.open(listener.localAddress())) {
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
            assertTrue(accepted_bytes < 64L << 20, "relay buffered " + (accepted_bytes >> 20) + " MiB");
        } finally {
            accepted.get(10, TimeUnit.SECONDS).close();
        }
    }

    @Test
    void everyConnectionIsAccountedForWhenItEnds() throws Exception {
        for (int i = 0; i < 20; i++) {
            CompletableFuture<Void> server = CompletableFuture.runAsync(() -> {
                try (Socket s = backend.accept()) {
                    s.getInputStream().transferTo(s.getOutputStream());
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, blockingIo);
            try (Socket client = connectThroughRelay()) {
                client.getOutputStream().write("ping".getBytes());
                client.shutdownOutput();
                assertEquals("ping", new String(client.getInputStream().readAllBytes()));
            }
            server.get(10, TimeUnit.SECONDS);
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (counters.active() != 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(0, counters.active(), "relays still counted as active after both sides closed");
        assertEquals(20 * 4, counters.bytesUpstream());
        assertEquals(20 * 4, counters.bytesDownstream());
    }

    private static void writeAndHalfClose(Socket socket, byte[] data) {
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

    static byte[] randomBytes(int size, long seed) {
        byte[] bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    static byte[] sha256(byte[] data) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(data);
    }
}
