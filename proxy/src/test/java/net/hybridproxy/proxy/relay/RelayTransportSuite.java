package net.hybridproxy.proxy.relay;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.ServerSocketChannel;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.role.ProxyCounters;
import net.hybridproxy.proxy.role.RoleContext;
import net.hybridproxy.proxy.transport.MultipathConnections;
import net.hybridproxy.proxy.testing.ProxiedTcpContract;
import net.hybridproxy.proxy.transport.Transport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.SocketTimeoutException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;


/**
 * The relay's behaviour ({@link ProxiedTcpContract}), run once per transport (the subclasses pick io_uring, epoll, NIO) the way Netty's own
 * testsuite runs one socket test per transport. Client and backend are plain JDK sockets; between them sits a
 * listener that joins each accepted connection to a backend connection with {@link RelaySession}, built from the
 * same bootstrap helpers the roles use.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
abstract class RelayTransportSuite extends ProxiedTcpContract {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    /** Small water marks make backpressure visible with little data. */
    private static final int HIGH_WATER_MARK = 64 * 1024;
    /** The mass-close test: relays closed and opened around each echo, echoes, and each echo's size. */
    private static final int OTHERS = 300;
    private static final int ROUNDS = 5;
    private static final int ECHO_BYTES = 8 << 20;

    private EventLoopGroup group;
    private Channel listener;
    private ServerSocket backend;
    protected ProxyCounters counters;
    /** Every pair joined so far: the accepted channel and the outbound one. */
    private final BlockingQueue<Channel[]> relayed = new LinkedBlockingQueue<>();
    /** Every accepted channel, in order, before its relay is joined. */
    private final BlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();
    /**
     * When accepted connections may be joined to the backend: at once, unless a test holds the join back to have
     * {@link EarlyInbound} take the client's first bytes or FIN.
     */
    private volatile CompletableFuture<Void> joinAllowed = CompletableFuture.completedFuture(null);

    abstract Transport transport();

    /**
     * The backend connection's channel factory, as the concentrator picks it for a destination; MPTCP-capable suites
     * override it. The backend is on IPv4 loopback, so on epoll this is an IPv4 socket.
     */
    ChannelFactory<? extends io.netty.channel.socket.SocketChannel> backendFactory(Transport transport,
                                                                                  InetSocketAddress backend) {
        return transport.tcpClient(backend);
    }

    ChannelFactory<? extends ServerSocketChannel> listenerFactory(Transport transport) {
        return transport.tcpServer();
    }

    @BeforeEach
    void startRelay() throws Exception {
        Transport transport = transport();
        assumeTrue(transport.isAvailable(),
                () -> transport.label() + " unavailable here: " + transport.unavailabilityCause().orElse(""));
        AppConfig config = relayConfig("30s", HIGH_WATER_MARK);
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
                                accepted.add(client);
                                CompletableFuture<Void> allowed = joinAllowed;
                                if (allowed.isDone()) {
                                    join(client);
                                } else {
                                    allowed.thenRun(() -> client.eventLoop().execute(() -> join(client)));
                                }
                            }

                            private void join(Channel client) {
                                counters.tryAdmit();
                                context.outboundBootstrap(client, backendFactory(transport, backendAddress))
                                        .handler(new ChannelInboundHandlerAdapter())
                                        .connect(backendAddress)
                                        .addListener(f -> {
                                            if (f.isSuccess()) {
                                                Channel server = ((io.netty.channel.ChannelFuture) f).channel();
                                                relayed.add(new Channel[] {client, server});
                                                context.relay(client, server, "test");
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
    }

    /**
     * Both sockets of a relay have Nagle off and keepalive on, read back from the kernel: the accepted one inherits
     * both from the listener (no per-connection setsockopt), the outbound one gets TCP_NODELAY from Netty's channel.
     */
    @Test
    void bothSocketsOfARelayHaveNoDelayAndKeepalive() throws Exception {
        try (Socket client = new Socket()) {
            client.connect(proxyAddress(), 5_000);
            try (Socket accepted = backend().accept()) {
                Channel[] pair = relayed.poll(10, TimeUnit.SECONDS);
                assertNotNull(pair, "no relay was joined");
                for (Channel side : pair) {
                    assertEquals(Boolean.TRUE,
                            side.config().getOption(io.netty.channel.ChannelOption.TCP_NODELAY), side + " TCP_NODELAY");
                    assertEquals(Boolean.TRUE,
                            side.config().getOption(io.netty.channel.ChannelOption.SO_KEEPALIVE), side + " SO_KEEPALIVE");
                }
            }
        }
    }

    /**
     * The race behind a download that once ended cleanly but short under load: the server's FIN is read while the
     * download's tail still waits in Netty's outbound buffer for the client (whose kernel buffers are full), and the
     * client's FIN follows. Both inputs are finished then, but the download is not: the client side may close only
     * once that tail is written, with its FIN after it.
     */
    @Test
    void aDownloadTailQueuedWhenBothFinsAreReadStillArrives() throws Exception {
        tailQueuedWhenBothFinsAreReadStillArrives(true);
    }

    /** The same race the other way: the upload's tail queued for a server that reads nothing yet. */
    @Test
    void anUploadTailQueuedWhenBothFinsAreReadStillArrives() throws Exception {
        tailQueuedWhenBothFinsAreReadStillArrives(false);
    }

    private void tailQueuedWhenBothFinsAreReadStillArrives(boolean download) throws Exception {
        try (Socket client = connectThroughProxy(); Socket server = backend().accept()) {
            OneWay way = oneWay(download, client, server);
            Socket sender = way.sender();
            Socket receiver = way.receiver();
            Channel fromSender = way.fromSender();
            Channel toReceiver = way.toReceiver();

            ByteArrayOutputStream sent = sendUntilQueuedFor(sender, toReceiver, way.relayedBytes());
            sender.shutdownOutput();
            await(() -> RelayHandler.isInputShutdown(fromSender), "the relay reading the sender's FIN");
            long tail = pendingOutbound(toReceiver);
            assertTrue(tail > 0, "setup: a tail must be queued at the first FIN");

            // The receiver's FIN now finishes the other direction: it reaches the sender either way.
            receiver.shutdownOutput();
            assertEquals(-1, sender.getInputStream().read(),
                    "the receiver's FIN reaches the sender");
            assertSameBytes(sent.toByteArray(), receiver.getInputStream().readAllBytes(),
                    (download ? "download" : "upload") + " with " + tail + " bytes queued in the relay at both FINs");
        }
    }

    /**
     * The flake that outlived the fix above (docs/decisions.md, "Relay: a stream cut short after the receiver's
     * FIN"): once a channel's input is shut down, Netty 4.2.18's epoll transport drops its descriptor from the epoll
     * set but keeps the registration marked added, so the first write to it that fills the kernel's buffers asks
     * for EPOLLOUT with EPOLL_CTL_MOD, gets ENOENT, and Netty shuts the channel's output down: the receiver sees a
     * clean FIN after a truncated stream, and the relay resets the sender. Here the receiver half-closes first and
     * reads nothing until bytes stay queued in the relay for it; then everything must arrive.
     */
    @Test
    void aDownloadThatFillsTheClientAfterItsFinStillArrives() throws Exception {
        fillAfterTheReceiversFinStillArrives(true);
    }

    /** The same the other way: the upload fills the server's buffers after the server's FIN. */
    @Test
    void anUploadThatFillsTheServerAfterItsFinStillArrives() throws Exception {
        fillAfterTheReceiversFinStillArrives(false);
    }

    /**
     * The same download, with the client's FIN read before the relay exists: {@link EarlyInbound} holds it and the
     * relay replays it at the join, by when the epoll transport may have dropped the descriptor already, so the
     * registration must be kept when the FIN is first read, not at the replay.
     */
    @Test
    void aDownloadThatFillsTheClientAfterAFinSentBeforeTheJoinStillArrives() throws Exception {
        CompletableFuture<Void> allowed = new CompletableFuture<>();
        joinAllowed = allowed;
        try (Socket client = connectThroughProxy()) {
            client.shutdownOutput();
            Channel early = accepted.poll(10, TimeUnit.SECONDS);
            assertNotNull(early, "the client was not accepted");
            await(() -> RelayHandler.isInputShutdown(early), "the client's FIN read before the join");
            assertTrue(relayed.isEmpty(), "setup: no relay joined before the FIN");
            allowed.complete(null);
            try (Socket server = backend().accept()) {
                fillAfterTheReceiversFinStillArrives(oneWay(true, client, server), true);
            }
        }
    }

    private void fillAfterTheReceiversFinStillArrives(boolean download) throws Exception {
        try (Socket client = connectThroughProxy(); Socket server = backend().accept()) {
            OneWay way = oneWay(download, client, server);
            way.receiver().shutdownOutput();
            fillAfterTheReceiversFinStillArrives(way, download);
        }
    }

    /** The receiver has sent its FIN (through the relay or before it): fill it, then everything must arrive. */
    private void fillAfterTheReceiversFinStillArrives(OneWay way, boolean download) throws Exception {
        Socket sender = way.sender();
        Socket receiver = way.receiver();
        Channel toReceiver = way.toReceiver();

        assertEquals(-1, sender.getInputStream().read(), "the receiver's FIN reaches the sender");
        assertTrue(RelayHandler.isInputShutdown(toReceiver), "the relay has read the receiver's FIN");

        ByteArrayOutputStream sent = sendUntilQueuedFor(sender, toReceiver, way.relayedBytes());
        long queued = pendingOutbound(toReceiver);
        sender.shutdownOutput();
        assertSameBytes(sent.toByteArray(), receiver.getInputStream().readAllBytes(),
                (download ? "download" : "upload") + " after the receiver's FIN, " + queued
                        + " bytes queued in the relay");
    }

    /** One direction of the relay joined for {@code client} and {@code server}: download or upload. */
    private record OneWay(Socket sender, Socket receiver, Channel fromSender, Channel toReceiver,
                          LongSupplier relayedBytes) {
    }

    private OneWay oneWay(boolean download, Socket client, Socket server) throws Exception {
        server.setSoTimeout(30_000);
        Channel[] pair = relayed.poll(10, TimeUnit.SECONDS);
        assertNotNull(pair, "no relay was joined");
        return download
                ? new OneWay(server, client, pair[1], pair[0], counters::bytesDownstream)
                : new OneWay(client, server, pair[0], pair[1], counters::bytesUpstream);
    }

    /**
     * Sends in chunks smaller than the high water mark, each read by the relay before the next, until bytes stay
     * queued in Netty for the receiver (its kernel buffers are full: it reads nothing yet), so the relay's last
     * write to it met a full socket. The queue is then below the high water mark, so the relay still reads the
     * sender, and will read its FIN. Returns what was sent.
     */
    private static ByteArrayOutputStream sendUntilQueuedFor(Socket sender, Channel toReceiver,
                                                            LongSupplier relayedBytes) throws Exception {
        ByteArrayOutputStream sent = new ByteArrayOutputStream();
        Random random = new Random(3);
        byte[] chunk = new byte[HIGH_WATER_MARK / 2];
        while (pendingOutbound(toReceiver) == 0 || !stillPendingAfterAWhile(toReceiver)) {
            assertTrue(sent.size() < 256 << 20,
                    "nothing stayed queued for the receiver after " + (sent.size() >> 20) + " MiB");
            random.nextBytes(chunk);
            sender.getOutputStream().write(chunk);
            sent.write(chunk);
            await(() -> relayedBytes.getAsLong() == sent.size(), "the relay reading the sender's bytes");
        }
        return sent;
    }

    /**
     * The lab's intermittent hang (docs/decisions.md, "Recovery after running out of descriptors"): an echo through
     * the relay stopped for good while hundreds of other relays on the same loops closed at once and new ones were
     * joined in their place (their descriptors reused). Here: an echo of {@link #ECHO_BYTES} runs while
     * {@link #OTHERS} idle relays close (half with a reset) and as many open again, for {@link #ROUNDS} rounds; each
     * echo must come back whole. A stall fails by the read timeout (a hang, not a speed bound).
     */
    @Test
    void anEchoKeepsFlowingWhileHundredsOfOtherRelaysCloseAndOpen() throws Exception {
        List<Socket> served = Collections.synchronizedList(new ArrayList<>());
        blockingIo.submit(() -> {
            while (!backend.isClosed()) {
                Socket s = backend.accept();
                served.add(s);
                blockingIo.submit(() -> {
                    try (s) {
                        s.getInputStream().transferTo(s.getOutputStream());
                    }
                    return null;
                });
            }
            return null;
        });
        List<Socket> others = openIdle(OTHERS);
        try {
            for (int round = 0; round < ROUNDS; round++) {
                byte[] payload = randomBytes(ECHO_BYTES, round);
                try (Socket echo = connectThroughProxy()) {
                    echo.setSoTimeout(10_000);
                    Future<?> writer = blockingIo.submit(() -> {
                        echo.getOutputStream().write(payload);
                        return null;
                    });
                    byte[] back = new byte[ECHO_BYTES];
                    int got = echo.getInputStream().readNBytes(back, 0, ECHO_BYTES / 8);
                    // The others go while the echo is in full flow, and new ones take their descriptors.
                    List<Socket> closing = others;
                    Future<?> closer = blockingIo.submit(() -> {
                        for (int i = 0; i < closing.size(); i++) {
                            if (i % 2 == 0) {
                                closing.get(i).setSoLinger(true, 0);
                            }
                            closing.get(i).close();
                        }
                        return null;
                    });
                    Future<List<Socket>> opener = blockingIo.submit(() -> openIdle(OTHERS));
                    try {
                        got += echo.getInputStream().readNBytes(back, got, ECHO_BYTES - got);
                    } catch (SocketTimeoutException e) {
                        throw new AssertionError("round " + round + ": the echo stopped (more than " + got + " of "
                                + ECHO_BYTES + " bytes back)", e);
                    }
                    writer.get(30, TimeUnit.SECONDS);
                    closer.get(30, TimeUnit.SECONDS);
                    others = opener.get(60, TimeUnit.SECONDS);
                    assertSameBytes(payload, back, "round " + round + " echo");
                }
            }
        } finally {
            for (Socket s : others) {
                s.close();
            }
            synchronized (served) {
                for (Socket s : served) {
                    s.close();
                }
            }
        }
    }

    /** {@code count} relays joined and echoing (one byte each way), left open. */
    private List<Socket> openIdle(int count) throws Exception {
        List<Socket> open = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            Socket s = connectThroughProxy();
            open.add(s);
            s.getOutputStream().write(7);
        }
        for (Socket s : open) {
            assertEquals(7, s.getInputStream().read(), "an idle relay's first byte");
        }
        return open;
    }

    private static long pendingOutbound(Channel channel) {
        ChannelOutboundBuffer buffer = channel.unsafe().outboundBuffer();
        return buffer == null ? 0 : buffer.totalPendingWriteBytes();
    }

    /** A queue that stays is the receiver's kernel buffers being full, not one write waiting for the next ACK. */
    private static boolean stillPendingAfterAWhile(Channel channel) throws InterruptedException {
        Thread.sleep(200);
        return pendingOutbound(channel) > 0;
    }

    @Override
    protected ServerSocket backend() {
        return backend;
    }

    @Override
    protected SocketAddress proxyAddress() {
        return listener.localAddress();
    }

    @Override
    protected ProxyCounters counters() {
        return counters;
    }

    /** Kernel socket buffers (client send, relay receive and send, server receive) plus one high water mark. */
    @Override
    protected long maxBufferedBytes() {
        return 64L << 20;
    }
}
