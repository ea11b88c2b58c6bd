package net.hybridproxy.proxy.transport;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import net.hybridproxy.proxy.nativeio.Libc;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** TCP_INFO read through the per-thread scratch memory, on real epoll sockets over loopback. */
class TcpInfoTest {
    @Test
    void repeatedReadsOnTheLoopAndOffItGiveTheSocketsFigures() throws Exception {
        assumeTrue(Epoll.isAvailable(), "epoll is not available here");
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        try {
            Channel server = new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                        }
                    }).bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
            Channel client = new Bootstrap().group(group).channel(EpollSocketChannel.class)
                    .handler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                        }
                    }).connect(server.localAddress()).sync().channel();
            // On the loop, as the session driver reads it: the same scratch memory serves every read.
            List<TcpInfo> onLoop = client.eventLoop().submit(() -> List.of(TcpInfo.read(client).orElseThrow(),
                    TcpInfo.read(client).orElseThrow(), TcpInfo.read(client).orElseThrow())).get(10, TimeUnit.SECONDS);
            for (TcpInfo info : onLoop) {
                assertTrue(info.cwndSegments() > 0 && info.congestionWindow() >= info.cwndSegments(), info.toString());
                assertEquals(0, info.notSentBytes(), info.toString());
            }
            // The SACK-aware signals the userspace engine's late-path detector reads: what the peer's TCP received
            // (tcpi_delivered, in segments times the MSS) grows with the bytes it acknowledged, nothing is lost on
            // loopback, and an acknowledgement has just arrived.
            client.writeAndFlush(io.netty.buffer.Unpooled.wrappedBuffer(new byte[64 * 1024])).sync();
            TcpInfo acknowledged = TcpInfo.read(client).orElseThrow();
            for (int i = 0; i < 200 && acknowledged.deliveredBytes() < 64 * 1024; i++) {
                Thread.sleep(10);
                acknowledged = TcpInfo.read(client).orElseThrow();
            }
            assertTrue(acknowledged.deliveredBytes() >= 64 * 1024, acknowledged.toString());
            assertEquals(0, acknowledged.lostBytes(), acknowledged.toString());
            assertEquals(0, acknowledged.retransBytes(), acknowledged.toString());
            assertTrue(acknowledged.lastAckRecvMillis() < 5_000, acknowledged.toString());
            // Another thread gets its own scratch memory.
            CompletableFuture<Optional<TcpInfo>> elsewhere = CompletableFuture.supplyAsync(() -> TcpInfo.read(client));
            assertTrue(elsewhere.get(10, TimeUnit.SECONDS).isPresent());
            client.close().sync();
            assertTrue(TcpInfo.read(client).isEmpty(), "a closed socket has no TCP_INFO");
            server.close().sync();
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void scratchMemoryIsConfinedToTheThreadThatMadeIt() throws Exception {
        Libc.SockoptScratch scratch = new Libc.SockoptScratch(8);
        CompletableFuture<Throwable> other = CompletableFuture.supplyAsync(() -> {
            try {
                scratch.getsockopt(0, 0, 0);
                return null;
            } catch (Throwable t) {
                return t;
            }
        });
        assertTrue(other.get(10, TimeUnit.SECONDS) instanceof IllegalStateException);
        // fd 0 of this process is no socket: the failure is a NativeException that names the call.
        var failure = assertThrows(net.hybridproxy.proxy.nativeio.NativeException.class,
                () -> scratch.getsockopt(0, 6, 11));
        assertTrue(failure.getMessage().contains("getsockopt(6, 11)"), failure.getMessage());
    }
}
