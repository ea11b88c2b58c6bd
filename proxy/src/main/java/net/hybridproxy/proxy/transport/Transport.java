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
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import net.hybridproxy.proxy.config.AppConfig.TransportPreference;

import java.util.Optional;
import java.util.function.Supplier;

/**
 * The Netty transport this process runs on, and the channel factories for plain TCP and MPTCP sockets on it.
 *
 * <p>Automatic selection prefers epoll, then io_uring, then NIO (plain TCP only). epoll comes first because with
 * Netty 4.2.18 an io_uring channel that <em>connects</em> an MPTCP socket breaks its relay: the accepted peer
 * channel on the same ring sees an end of stream the client never sent, and the FIN that follows is lost
 * (reproduced by {@code IoUringMptcpOutboundRelayTest}). Accepted MPTCP sockets on io_uring relay correctly, so
 * io_uring stays selectable explicitly where no outbound MPTCP connection is made. epoll is also the faster of the
 * two for the relay itself: {@code loadtest}'s {@code TransportComparison} (plain TCP, where both work) measured
 * 4.3 Gb/s on epoll against 2.9 on io_uring at the same CPU per gigabyte (docs/decisions.md, "Transport").
 */
public enum Transport {
    IO_URING("io_uring", IoUringSocketChannel::new, IoUringServerSocketChannel::new),
    EPOLL("epoll", EpollSocketChannel::new, EpollServerSocketChannel::new),
    NIO("nio", NioSocketChannel::new, NioServerSocketChannel::new);

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
        return this == EPOLL;
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
            case IO_URING -> IoUringIoHandler.newFactory();
            case EPOLL -> EpollIoHandler.newFactory();
            case NIO -> NioIoHandler.newFactory();
        };
        return new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory(name, true), handler);
    }

    /** Plain TCP client channels. */
    public ChannelFactory<SocketChannel> tcpClient() {
        return newSocket::get;
    }

    /** Plain TCP listener channels. */
    public ChannelFactory<ServerSocketChannel> tcpServer() {
        return newServerSocket::get;
    }

    /** MPTCP client channels; each socket is swapped for an MPTCP one before registration. */
    public ChannelFactory<SocketChannel> mptcpClient() {
        requireMptcpCapable();
        if (!canConnectMptcp()) {
            throw new IllegalStateException("outbound MPTCP connections need the epoll transport: " + label
                    + " loses stream events on them with this Netty version (set transport = epoll or auto)");
        }
        return () -> {
            SocketChannel channel = newSocket.get();
            swap(channel);
            return channel;
        };
    }

    /** MPTCP listener channels; accepted children of an MPTCP listener are MPTCP (or fallen-back) sockets. */
    public ChannelFactory<ServerSocketChannel> mptcpServer() {
        requireMptcpCapable();
        return () -> {
            ServerSocketChannel channel = newServerSocket.get();
            swap(channel);
            return channel;
        };
    }

    private void requireMptcpCapable() {
        if (!canCarryMptcp()) {
            throw new IllegalStateException("the NIO transport cannot create MPTCP sockets: "
                    + "use io_uring or epoll (native transports need Linux x86_64)");
        }
    }

    private static void swap(io.netty.channel.Channel channel) {
        try {
            MptcpSockets.replaceWithMptcp(channel);
        } catch (MptcpUnavailableException e) {
            channel.unsafe().closeForcibly();
            throw new ChannelException(e.getMessage(), e);
        }
    }
}
