package net.hybridproxy.proxy.transport;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertNotNull;

/** A listener on the loopback address, on an event loop of its own, that queues the connections it accepts. */
final class AcceptingLoopbackListener implements AutoCloseable {
    private final EventLoopGroup group;
    private final BlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();
    private Channel channel;

    /** Binds with {@code factory} on a new loop of {@code transport}; the loop is shut down if the bind fails. */
    AcceptingLoopbackListener(Transport transport, ChannelFactory<ServerSocketChannel> factory) throws Exception {
        group = transport.newEventLoopGroup(1, "loopback-listener");
        try {
            channel = new ServerBootstrap().group(group).channelFactory(factory)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            accepted.add(ch);
                            ch.pipeline().addLast(new ChannelInboundHandlerAdapter());
                        }
                    })
                    .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
        } catch (Exception | Error e) {
            close();
            throw e;
        }
    }

    Channel channel() {
        return channel;
    }

    /** The next connection accepted, within 10 s. */
    Channel nextAccepted() throws InterruptedException {
        Channel child = accepted.poll(10, TimeUnit.SECONDS);
        assertNotNull(child, "nothing accepted");
        return child;
    }

    @Override
    public void close() throws InterruptedException {
        if (channel != null) {
            channel.close().sync();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
}
