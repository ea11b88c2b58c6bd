package net.hybridproxy.proxy.transport;

import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelException;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.SocketProtocolFamily;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringBufferRingConfig;
import io.netty.channel.uring.IoUringChannelOption;
import io.netty.channel.uring.IoUringFixedBufferRingAllocator;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringIoHandlerConfig;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import net.hybridproxy.proxy.config.AppConfig.TransportPreference;
import net.hybridproxy.proxy.nativeio.SocketConstants;

import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * The Netty transport this process runs on, and the channel factories for plain TCP and MPTCP sockets on it.
 *
 * <p>Automatic selection prefers epoll, then io_uring, then NIO (plain TCP only): epoll is the faster of the two
 * native transports for the relay ({@code loadtest}'s {@code TransportComparison} measured 4.3 Gb/s on epoll
 * against 2.9 on io_uring at the same CPU per gigabyte; docs/decisions.md, "Transport").
 *
 * <p>io_uring and outbound MPTCP: with Netty 4.2.18 an io_uring channel reading an MPTCP socket the default way (one
 * recv at a time, armed with {@code IORING_RECVSEND_POLL_FIRST} whenever the completion lacks
 * {@code IORING_CQE_F_SOCK_NONEMPTY}, which MPTCP sockets never set) stops reading while data waits in the socket
 * ({@code loadtest/repro/iouring-mptcp}). Outbound MPTCP channels on io_uring therefore read through a provided-buffer
 * ring ({@link #MPTCP_READ_BUFFER_GROUP}, multishot recv), which the same reproducer and
 * {@code IoUringMptcpOutboundRelayTest} show relaying correctly.
 */
public enum Transport {
    IO_URING("io_uring", IoUringSocketChannel::new, IoUringServerSocketChannel::new),
    EPOLL("epoll", EpollSocketChannel::new, EpollServerSocketChannel::new),
    NIO("nio", NioSocketChannel::new, NioServerSocketChannel::new);

    /**
     * The provided-buffer ring each io_uring event loop keeps for its outbound MPTCP channels: 64 buffers of 16 KiB
     * (1 MiB per loop, bounded), refilled by Netty as the relay releases them.
     */
    static final short MPTCP_READ_BUFFER_GROUP = 1;
    private static final short MPTCP_READ_BUFFERS = 64;
    private static final int MPTCP_READ_BUFFER_BYTES = 16 * 1024;

    private final String label;
    private final Supplier<SocketChannel> newSocket;
    private final Supplier<ServerSocketChannel> newServerSocket;

    Transport(String label, Supplier<SocketChannel> newSocket, Supplier<ServerSocketChannel> newServerSocket) {
        this.label = label;
        this.newSocket = newSocket;
        this.newServerSocket = newServerSocket;
    }

    public String label() {
        return label;
    }

    public boolean isAvailable() {
        return unavailabilityCause().isEmpty();
    }

    /** Why this transport cannot run here, if it cannot. */
    public Optional<String> unavailabilityCause() {
        Throwable cause = switch (this) {
            case IO_URING -> IoUring.isAvailable() ? null : IoUring.unavailabilityCause();
            case EPOLL -> Epoll.isAvailable() ? null : Epoll.unavailabilityCause();
            case NIO -> null;
        };
        return Optional.ofNullable(cause).map(t -> String.valueOf(t.getMessage() != null ? t.getMessage() : t));
    }

    /** Only the native transports expose the descriptor that MPTCP sockets are swapped into. */
    public boolean canCarryMptcp() {
        return this != NIO;
    }

    /** Whether this transport relays correctly over MPTCP connections it opens itself (see the class comment). */
    public boolean canConnectMptcp() {
        return this != NIO;
    }

    public static Transport select(TransportPreference preference) {
        return switch (preference) {
            case AUTO -> EPOLL.isAvailable() ? EPOLL : IO_URING.isAvailable() ? IO_URING : NIO;
            case IO_URING -> require(IO_URING);
            case EPOLL -> require(EPOLL);
            case NIO -> NIO;
        };
    }

    private static Transport require(Transport transport) {
        transport.unavailabilityCause().ifPresent(cause -> {
            throw new IllegalStateException("transport " + transport.label + " was requested but is unavailable: "
                    + cause);
        });
        return transport;
    }

    public EventLoopGroup newEventLoopGroup(int threads, String name) {
        IoHandlerFactory handler = switch (this) {
            case IO_URING -> IoUringIoHandler.newFactory(new IoUringIoHandlerConfig()
                    .setBufferRingConfig(IoUringBufferRingConfig.builder()
                            .bufferGroupId(MPTCP_READ_BUFFER_GROUP)
                            .bufferRingSize(MPTCP_READ_BUFFERS)
                            .batchSize(MPTCP_READ_BUFFERS / 4)
                            .allocator(new IoUringFixedBufferRingAllocator(MPTCP_READ_BUFFER_BYTES))
                            .build()));
            case EPOLL -> EpollIoHandler.newFactory();
            case NIO -> NioIoHandler.newFactory();
        };
        return new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory(name, true), handler);
    }

    /** Plain TCP client channels. */
    public ChannelFactory<SocketChannel> tcpClient() {
        return newSocket::get;
    }

    /**
     * Plain TCP client channels for a connection to {@code remote}: on epoll an IPv4 socket when {@code remote} is an
     * IPv4 address, otherwise as {@link #tcpClient()}. The no-argument channels are IPv6 sockets on a host that
     * prefers IPv6 (Netty follows the JDK's preference), which reach IPv4 peers through mapped addresses at the cost
     * of an {@code IPV6_V6ONLY} setsockopt per socket and mapped-address conversions in every address Netty reads
     * back. io_uring's channel has no family constructor in Netty 4.2.18, so it keeps the default.
     */
    public ChannelFactory<SocketChannel> tcpClient(InetSocketAddress remote) {
        return ipv4Socket(remote) ? Transport::newIpv4EpollSocket : newSocket::get;
    }

    /** Plain TCP listener channels. */
    public ChannelFactory<ServerSocketChannel> tcpServer() {
        return newServerSocket::get;
    }

    /** MPTCP client channels; each socket is swapped for an MPTCP one before registration. */
    public ChannelFactory<SocketChannel> mptcpClient() {
        requireMptcpCapable();
        return () -> mptcpClientChannel(newSocket.get(), MptcpSockets.FAMILY_OF_CLASS);
    }

    /**
     * MPTCP client channels for a connection to {@code remote}: IPv4 sockets for an IPv4 address on epoll, for the
     * reason {@link #tcpClient(InetSocketAddress)} gives (here it saves the setsockopt twice: on Netty's socket and
     * on the MPTCP socket swapped in), otherwise as {@link #mptcpClient()}.
     */
    public ChannelFactory<SocketChannel> mptcpClient(InetSocketAddress remote) {
        requireMptcpCapable();
        if (!ipv4Socket(remote)) {
            return mptcpClient();
        }
        return () -> mptcpClientChannel(newIpv4EpollSocket(), SocketConstants.AF_INET);
    }

    private SocketChannel mptcpClientChannel(SocketChannel channel, int family) {
        if (this == IO_URING) {
            // See the class comment: the default recv path stops reading MPTCP sockets.
            channel.config().setOption(IoUringChannelOption.IO_URING_BUFFER_GROUP_ID, MPTCP_READ_BUFFER_GROUP);
        }
        swap(channel, true, family);
        return channel;
    }

    private boolean ipv4Socket(InetSocketAddress remote) {
        return this == EPOLL && remote.getAddress() instanceof Inet4Address;
    }

    private static SocketChannel newIpv4EpollSocket() {
        return new EpollSocketChannel(SocketProtocolFamily.INET);
    }

    /** MPTCP listener channels; accepted children of an MPTCP listener are MPTCP (or fallen-back) sockets. */
    public ChannelFactory<ServerSocketChannel> mptcpServer() {
        requireMptcpCapable();
        return () -> {
            ServerSocketChannel channel = newServerSocket.get();
            swap(channel, false, MptcpSockets.FAMILY_OF_CLASS);
            return channel;
        };
    }

    private void requireMptcpCapable() {
        if (!canCarryMptcp()) {
            throw new IllegalStateException("the NIO transport cannot create MPTCP sockets: "
                    + "use io_uring or epoll (native transports need Linux x86_64)");
        }
    }

    private static void swap(io.netty.channel.Channel channel, boolean noDelay, int family) {
        try {
            MptcpSockets.replaceWithMptcp(channel, noDelay, family);
        } catch (MptcpUnavailableException e) {
            channel.unsafe().closeForcibly();
            throw new ChannelException(e.getMessage(), e);
        }
    }
}
