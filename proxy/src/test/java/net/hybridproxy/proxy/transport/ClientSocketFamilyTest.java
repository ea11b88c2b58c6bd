package net.hybridproxy.proxy.transport;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.unix.UnixChannel;
import net.hybridproxy.proxy.nativeio.Libc;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;

import static net.hybridproxy.proxy.nativeio.SocketConstants.AF_INET;
import static net.hybridproxy.proxy.nativeio.SocketConstants.AF_INET6;
import static net.hybridproxy.proxy.nativeio.SocketConstants.IPPROTO_MPTCP;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SOL_SOCKET;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SOL_TCP;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SO_DOMAIN;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SO_PROTOCOL;
import static net.hybridproxy.proxy.nativeio.SocketConstants.TCP_NODELAY;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The client sockets a connection to an address gets, read back from the kernel: on epoll an IPv4 address gets an
 * IPv4 socket (no IPV6_V6ONLY call, no mapped addresses), plain or MPTCP, and the MPTCP one keeps Nagle off; an IPv6
 * address, and io_uring, get the transport's default. The family cache of the no-argument channels must not be
 * taken in by the IPv4 ones, whichever is made first.
 */
class ClientSocketFamilyTest {
    private static final InetSocketAddress IPV4 = new InetSocketAddress("127.0.0.1", 9);
    private static final InetSocketAddress IPV6 = new InetSocketAddress("::1", 9);

    @Test
    void anIpv4PeerGetsAnIpv4SocketOnEpoll() throws Exception {
        assumeTrue(Transport.EPOLL.isAvailable(), "needs the epoll transport");
        assertEquals(AF_INET, read(Transport.EPOLL.tcpClient(IPV4), fd -> Libc.getsockoptInt(fd, SOL_SOCKET,
                SO_DOMAIN)));
    }

    @Test
    void anIpv4PeerGetsAnIpv4MptcpSocketWithNagleOffOnEpoll() throws Exception {
        assumeTrue(Transport.EPOLL.isAvailable(), "needs the epoll transport");
        MptcpSockets.probe();
        ChannelFactory<SocketChannel> ipv4 = Transport.EPOLL.mptcpClient(IPV4);
        assertEquals(AF_INET, read(ipv4, fd -> Libc.getsockoptInt(fd, SOL_SOCKET, SO_DOMAIN)));
        assertEquals(IPPROTO_MPTCP, read(ipv4, fd -> Libc.getsockoptInt(fd, SOL_SOCKET, SO_PROTOCOL)));
        assertEquals(1, read(ipv4, fd -> Libc.getsockoptInt(fd, SOL_TCP, TCP_NODELAY)));
        // The no-argument channels, made after IPv4 ones, still get the family Netty prefers for them.
        int preferred = io.netty.channel.unix.Socket.isIPv6Preferred() ? AF_INET6 : AF_INET;
        assertEquals(preferred, read(Transport.EPOLL.mptcpClient(),
                fd -> Libc.getsockoptInt(fd, SOL_SOCKET, SO_DOMAIN)));
        assertEquals(IPPROTO_MPTCP, read(Transport.EPOLL.mptcpClient(),
                fd -> Libc.getsockoptInt(fd, SOL_SOCKET, SO_PROTOCOL)));
    }

    /**
     * The subflow sampler matches subflows to uplinks by their local address: over an IPv4 MPTCP socket the kernel
     * reports IPv4 subflow addresses, which must decode to the same addresses as the mapped ones did.
     */
    @Test
    void anIpv4MptcpConnectionsSubflowsReadAsIpv4Addresses() throws Exception {
        assumeTrue(Transport.EPOLL.isAvailable(), "needs the epoll transport");
        MptcpSockets.probe();
        EventLoopGroup group = Transport.EPOLL.newEventLoopGroup(1, "family-test");
        try (MptcpFullInfo.Reader reader = new MptcpFullInfo.Reader()) {
            Channel server = new ServerBootstrap().group(group).channelFactory(Transport.EPOLL.mptcpServer())
                    .childHandler(new ChannelInboundHandlerAdapter())
                    .bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0)).sync().channel();
            InetSocketAddress listening = (InetSocketAddress) server.localAddress();
            Channel client = new Bootstrap().group(group).channelFactory(Transport.EPOLL.mptcpClient(listening))
                    .handler(new ChannelInboundHandlerAdapter()).connect(listening).sync().channel();
            MptcpFullInfo info = reader.read(client).orElseThrow();
            assertFalse(info.subflows().isEmpty(), info.toString());
            for (MptcpFullInfo.MptcpSubflowInfo subflow : info.subflows()) {
                assertEquals(InetAddress.getByName("127.0.0.1"), subflow.local().getAddress(), info.toString());
                assertEquals(listening.getPort(), subflow.remote().getPort(), info.toString());
            }
            client.close().sync();
            server.close().sync();
        } finally {
            group.shutdownGracefully().sync();
        }
    }

    @Test
    void anIpv6PeerGetsTheDefaultSocket() throws Exception {
        assumeTrue(Transport.EPOLL.isAvailable(), "needs the epoll transport");
        int defaultFamily = read(Transport.EPOLL.tcpClient(), fd -> Libc.getsockoptInt(fd, SOL_SOCKET, SO_DOMAIN));
        assumeTrue(defaultFamily == AF_INET6, "this JVM prefers IPv4 sockets; an IPv6 peer could not be reached");
        assertEquals(AF_INET6, read(Transport.EPOLL.tcpClient(IPV6), fd -> Libc.getsockoptInt(fd, SOL_SOCKET,
                SO_DOMAIN)));
    }

    @Test
    void ioUringKeepsItsDefaultForAnIpv4Peer() throws Exception {
        assumeTrue(Transport.IO_URING.isAvailable(), "needs the io_uring transport");
        int defaultFamily = read(Transport.IO_URING.tcpClient(), fd -> Libc.getsockoptInt(fd, SOL_SOCKET, SO_DOMAIN));
        assertEquals(defaultFamily, read(Transport.IO_URING.tcpClient(IPV4), fd -> Libc.getsockoptInt(fd,
                SOL_SOCKET, SO_DOMAIN)));
    }

    @FunctionalInterface
    private interface SocketRead {
        int read(int fd) throws Exception;
    }

    /** Makes an unregistered channel, reads one thing of its socket, and releases it. */
    private static int read(ChannelFactory<SocketChannel> factory, SocketRead read) throws Exception {
        SocketChannel channel = factory.newChannel();
        try {
            return read.read(((UnixChannel) channel).fd().intValue());
        } finally {
            channel.unsafe().closeForcibly();
        }
    }
}
