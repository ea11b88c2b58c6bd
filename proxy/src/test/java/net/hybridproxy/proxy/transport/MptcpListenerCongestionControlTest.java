package net.hybridproxy.proxy.transport;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import net.hybridproxy.proxy.nativeio.Errno;
import net.hybridproxy.proxy.nativeio.NativeException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The concentrator's {@code mptcp-congestion-control}: TCP_CONGESTION set once on an MPTCP listener reaches the
 * connections it accepts, read back from the kernel on the accepted socket.
 */
class MptcpListenerCongestionControlTest {
    private EventLoopGroup group;
    private Channel listener;
    private final BlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();

    @BeforeEach
    void bindAnMptcpListener() throws Exception {
        Transport transport = Transport.EPOLL;
        assumeTrue(transport.isAvailable(),
                () -> "epoll unavailable here: " + transport.unavailabilityCause().orElse(""));
        group = transport.newEventLoopGroup(1, "congestion-control-test");
        try {
            listener = new ServerBootstrap().group(group).channelFactory(transport.mptcpServer())
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            accepted.add(ch);
                            ch.pipeline().addLast(new ChannelInboundHandlerAdapter());
                        }
                    })
                    .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
        } catch (ChannelException e) {
            assumeTrue(false, () -> "no kernel MPTCP here: " + e.getMessage());
        }
    }

    @AfterEach
    void close() throws Exception {
        if (listener != null) {
            listener.close().sync();
        }
        if (group != null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void anAcceptedConnectionHasTheListenersAlgorithm() throws Exception {
        // reno is built into every kernel and always allowed, and is not the default anywhere that matters.
        NativeSocketOptions.setCongestionControl(listener, "reno");
        assertEquals("reno", NativeSocketOptions.congestionControl(listener));
        try (Socket client = new Socket()) {
            client.connect(listener.localAddress(), 5_000);
            Channel child = accepted.poll(10, TimeUnit.SECONDS);
            assertNotNull(child, "nothing accepted");
            assertEquals("reno", NativeSocketOptions.congestionControl(child));
        }
    }

    @Test
    void anAlgorithmTheKernelLacksIsRefused() {
        NativeException e = assertThrows(NativeException.class,
                () -> NativeSocketOptions.setCongestionControl(listener, "no_such_cc"));
        assertEquals(Errno.ENOENT, e.errno());
    }
}
