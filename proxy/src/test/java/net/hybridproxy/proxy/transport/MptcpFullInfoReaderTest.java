package net.hybridproxy.proxy.transport;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.unix.UnixChannel;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The subflow sampler reads MPTCP_FULL_INFO on its own thread from channels the event loops close. A closed channel's
 * descriptor number is reused by the next socket the process opens; reading the closed channel must then give
 * nothing, not the new socket's figures. Real epoll MPTCP sockets over loopback.
 */
class MptcpFullInfoReaderTest {
    @Test
    void aClosedChannelIsNotReadThroughItsDescriptorNumberNowUsedByAnotherSocket() throws Exception {
        assumeTrue(Epoll.isAvailable(), "epoll is not available here");
        Transport transport = Transport.EPOLL;
        EventLoopGroup group = transport.newEventLoopGroup(1, "full-info-test");
        try (MptcpFullInfo.Reader reader = new MptcpFullInfo.Reader()) {
            Channel server = new ServerBootstrap().group(group).channelFactory(transport.mptcpServer())
                    .childHandler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                        }
                    })
                    .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
            Channel first = connect(group, transport, server);
            int number = ((UnixChannel) first).fd().intValue();
            assertTrue(reader.read(first).isPresent(), "an open MPTCP connection has figures");
            first.close().sync();

            Channel second = connect(group, transport, server);
            assumeTrue(((UnixChannel) second).fd().intValue() == number,
                    "the next socket did not take the closed one's descriptor number here");
            assertTrue(reader.read(first).isEmpty(), "the closed channel read another socket's figures");
            MptcpFullInfo secondsFigures = reader.read(second).orElseThrow();
            assertTrue(!secondsFigures.subflows().isEmpty(), secondsFigures.toString());
        } finally {
            group.shutdownGracefully().sync();
        }
    }

    private static Channel connect(EventLoopGroup group, Transport transport, Channel server) throws Exception {
        return new Bootstrap().group(group).channelFactory(transport.mptcpClient())
                .handler(new ChannelInboundHandlerAdapter()).connect(server.localAddress()).sync().channel();
    }
}
