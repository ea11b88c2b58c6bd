package net.hybridproxy.proxy.role;

import io.netty.channel.Channel;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.ServerSocketChannel;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.ConfigLoader;
import net.hybridproxy.proxy.transport.MultipathConnections;
import net.hybridproxy.proxy.transport.Transport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code accept-on-event-loops}: one listening socket per worker loop in an SO_REUSEPORT group, each loop serving
 * what it accepts; the default, one socket on the accept loop. Plain TCP and MPTCP listeners on epoll and io_uring,
 * real sockets on loopback.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AcceptOnEventLoopsTest {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    private static final int LOOPS = 2;
    private static final int CONNECTIONS = 64;

    private final List<EventLoopGroup> groups = new ArrayList<>();
    private final List<Channel> bound = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        bound.forEach(Channel::close);
        for (EventLoopGroup group : groups) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void epollTcpListenersOnEveryLoopEachServeWhatTheyAccept() throws Exception {
        everyLoopServesWhatItAccepts(Transport.EPOLL, Transport::tcpServer);
    }

    @Test
    void epollMptcpListenersOnEveryLoopEachServeWhatTheyAccept() throws Exception {
        everyLoopServesWhatItAccepts(Transport.EPOLL, Transport::mptcpServer);
    }

    @Test
    void ioUringMptcpListenersOnEveryLoopEachServeWhatTheyAccept() throws Exception {
        everyLoopServesWhatItAccepts(Transport.IO_URING, Transport::mptcpServer);
    }

    /** Another group, or another process, on a port in use is refused as a single listener would be. */
    @Test
    void aSecondGroupOnTheSameAddressIsRefused() throws Exception {
        RoleContext context = context(Transport.EPOLL, true);
        List<Channel> first = context.bindListener(Transport.EPOLL.tcpServer(), new EchoHandler(),
                new InetSocketAddress(LOOPBACK, 0));
        bound.addAll(first);
        InetSocketAddress taken = (InetSocketAddress) first.getFirst().localAddress();
        assertThrows(ChannelException.class,
                () -> bound.addAll(context.bindListener(Transport.EPOLL.tcpServer(), new EchoHandler(), taken)));
    }

    @Test
    void byDefaultOneListenerOnTheAcceptLoop() throws Exception {
        assumeAvailable(Transport.EPOLL);
        RoleContext context = context(Transport.EPOLL, false);
        List<Channel> listeners = context.bindListener(Transport.EPOLL.tcpServer(), new EchoHandler(),
                new InetSocketAddress(LOOPBACK, 0));
        bound.addAll(listeners);
        assertEquals(1, listeners.size());
        assertTrue(context.acceptGroup().next() == listeners.getFirst().eventLoop(), "on the accept loop");
        echoes((InetSocketAddress) listeners.getFirst().localAddress(), 4);
    }

    private void everyLoopServesWhatItAccepts(Transport transport,
                                              Function<Transport, ChannelFactory<ServerSocketChannel>> factory)
            throws Exception {
        assumeAvailable(transport);
        RoleContext context = context(transport, true);
        Map<EventLoop, AtomicInteger> acceptedBy = new ConcurrentHashMap<>();
        Set<String> crossed = ConcurrentHashMap.newKeySet();
        EchoHandler echo = new EchoHandler() {
            @Override
            public void channelActive(ChannelHandlerContext ctx) {
                Channel child = ctx.channel();
                if (child.parent().eventLoop() != child.eventLoop()) {
                    crossed.add(child.toString());
                }
                acceptedBy.computeIfAbsent(child.eventLoop(), l -> new AtomicInteger()).incrementAndGet();
                super.channelActive(ctx);
            }
        };
        List<Channel> listeners = context.bindListener(factory.apply(transport), echo,
                new InetSocketAddress(LOOPBACK, 0));
        bound.addAll(listeners);

        assertEquals(LOOPS, listeners.size(), "one listener per worker loop");
        Set<EventLoop> loops = ConcurrentHashMap.newKeySet();
        listeners.forEach(l -> loops.add(l.eventLoop()));
        assertEquals(LOOPS, loops.size(), "each listener on a loop of its own");
        InetSocketAddress address = (InetSocketAddress) listeners.getFirst().localAddress();
        listeners.forEach(l -> assertEquals(address, l.localAddress(), "one address for the group"));

        echoes(address, CONNECTIONS);
        assertTrue(crossed.isEmpty(), "connections served on another loop than their listener's: " + crossed);
        // The kernel hashes each connection's addresses: 64 source ports all on one of two sockets would be 2^-63.
        assertEquals(loops, acceptedBy.keySet(), "every loop accepted some: " + acceptedBy);
        assertEquals(CONNECTIONS, acceptedBy.values().stream().mapToInt(AtomicInteger::get).sum());
    }

    /** {@code count} connections one after another, each echoing a few bytes back. */
    private static void echoes(InetSocketAddress address, int count) throws Exception {
        for (int i = 0; i < count; i++) {
            try (Socket client = new Socket()) {
                client.connect(address, 5_000);
                client.setSoTimeout(10_000);
                OutputStream out = client.getOutputStream();
                InputStream in = client.getInputStream();
                byte[] sent = ("hello " + i).getBytes();
                out.write(sent);
                byte[] back = in.readNBytes(sent.length);
                assertEquals(new String(sent), new String(back), "echo of connection " + i);
            }
        }
    }

    private RoleContext context(Transport transport, boolean acceptOnEventLoops) throws Exception {
        assumeAvailable(transport);
        AppConfig config = ConfigLoader.parseString("""
                hybridproxy {
                  role = sidecar
                  sidecar.upstream = "127.0.0.1:9"
                  accept-on-event-loops = %s
                }
                """.formatted(acceptOnEventLoops));
        EventLoopGroup accept = transport.newEventLoopGroup(1, "accept-test");
        EventLoopGroup workers = transport.newEventLoopGroup(LOOPS, "accept-test-io");
        groups.add(accept);
        groups.add(workers);
        return new RoleContext(config, transport, accept, workers, new ProxyCounters(1000),
                new MultipathConnections());
    }

    private static void assumeAvailable(Transport transport) {
        assumeTrue(transport.isAvailable(),
                () -> transport.label() + " unavailable here: " + transport.unavailabilityCause().orElse(""));
    }

    /** Reads (AUTO_READ is off on relaying listeners' children) and writes every byte back. */
    @ChannelHandler.Sharable
    private static class EchoHandler extends ChannelInboundHandlerAdapter {
        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            ctx.read();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ctx.writeAndFlush(msg);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.read();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof io.netty.channel.socket.ChannelInputShutdownEvent) {
                ctx.close();
            }
        }
    }
}
