package net.hybridproxy.proxy.role;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.unix.UnixChannel;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.ConfigLoader;
import net.hybridproxy.proxy.config.InvalidConfigException;
import net.hybridproxy.proxy.nativeio.Libc;
import net.hybridproxy.proxy.transport.MultipathConnections;
import net.hybridproxy.proxy.transport.Transport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code relay.first-read-size}: a relayed connection's first read takes a whole 10 kB answer the kernel already
 * holds, instead of Netty's 2 KiB and the rest one loop pass later. Real sockets on loopback, epoll.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class RelayFirstReadTest {
    private static final int ANSWER = 10_000;

    private final List<EventLoopGroup> groups = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (EventLoopGroup group : groups) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void anOutboundConnectionReadsAWholeTenKilobyteAnswerAtOnceByDefault() throws Exception {
        assertEquals(ANSWER, firstReadOfAnAnswer(""));
    }

    @Test
    void theSettingBoundsTheFirstRead() throws Exception {
        assertEquals(2048, firstReadOfAnAnswer("relay.first-read-size = 2KiB"));
    }

    @Test
    void acceptedConnectionsReadWithTheSameSizing() throws Exception {
        RoleContext context = context("");
        ServerBootstrap server = context.serverBootstrap(Transport.EPOLL.tcpServer());
        Object allocator = server.config().childOptions().get(ChannelOption.RCVBUF_ALLOCATOR);
        assertTrue(allocator instanceof AdaptiveRecvByteBufAllocator, String.valueOf(allocator));
        assertEquals(16 * 1024, ((AdaptiveRecvByteBufAllocator) allocator).newHandle().guess());
    }

    @Test
    void aSizeOutsideNettysBoundsIsRefusedWithTheKeyNamed() {
        InvalidConfigException tooSmall = assertThrows(InvalidConfigException.class,
                () -> config("relay.first-read-size = 32B"));
        assertTrue(tooSmall.getMessage().contains("relay.first-read-size"), tooSmall.getMessage());
        assertThrows(InvalidConfigException.class, () -> config("relay.first-read-size = 128KiB"));
    }

    /**
     * Connects through the role's outbound bootstrap (AUTO_READ off, as the relay runs) to a server that sends
     * {@link #ANSWER} bytes at once, waits until the kernel holds all of them, then asks for one read.
     */
    private int firstReadOfAnAnswer(String setting) throws Exception {
        RoleContext context = context(setting);
        try (ServerSocket listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture<Integer> firstRead = new CompletableFuture<>();
            Channel channel = context.outboundBootstrap(context.workerGroup().next(), Transport.EPOLL.tcpClient())
                    .handler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                            ByteBuf buf = (ByteBuf) msg;
                            firstRead.complete(buf.readableBytes());
                            buf.release();
                        }
                    })
                    .connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), listener.getLocalPort()))
                    .sync().channel();
            try (Socket accepted = listener.accept()) {
                OutputStream out = accepted.getOutputStream();
                out.write(new byte[ANSWER]);
                out.flush();
                int fd = ((UnixChannel) channel).fd().intValue();
                while (Libc.bytesToRead(fd) < ANSWER) {
                    Thread.onSpinWait();
                }
                channel.read();
                return firstRead.get(10, TimeUnit.SECONDS);
            } finally {
                channel.close().sync();
            }
        }
    }

    private RoleContext context(String setting) throws Exception {
        assumeTrue(Transport.EPOLL.isAvailable(), () -> "epoll unavailable here: "
                + Transport.EPOLL.unavailabilityCause().orElse(""));
        EventLoopGroup accept = Transport.EPOLL.newEventLoopGroup(1, "first-read-accept");
        EventLoopGroup workers = Transport.EPOLL.newEventLoopGroup(1, "first-read-io");
        groups.add(accept);
        groups.add(workers);
        return new RoleContext(config(setting), Transport.EPOLL, accept, workers, new ProxyCounters(1000),
                new MultipathConnections());
    }

    private static AppConfig config(String setting) throws InvalidConfigException {
        return ConfigLoader.parseString("""
                hybridproxy {
                  role = sidecar
                  sidecar.upstream = "127.0.0.1:9"
                  %s
                }
                """.formatted(setting));
    }
}
