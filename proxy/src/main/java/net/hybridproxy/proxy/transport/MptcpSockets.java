package net.hybridproxy.proxy.transport;

import io.netty.channel.Channel;
import io.netty.channel.unix.UnixChannel;
import net.hybridproxy.proxy.nativeio.Libc;
import net.hybridproxy.proxy.nativeio.NativeException;

import static net.hybridproxy.proxy.nativeio.SocketConstants.AF_INET6;
import static net.hybridproxy.proxy.nativeio.SocketConstants.IPPROTO_MPTCP;
import static net.hybridproxy.proxy.nativeio.SocketConstants.IPV6_V6ONLY;
import static net.hybridproxy.proxy.nativeio.SocketConstants.O_CLOEXEC;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SOCK_CLOEXEC;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SOCK_NONBLOCK;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SOCK_STREAM;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SOL_IPV6;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SOL_SOCKET;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SOL_TCP;
import static net.hybridproxy.proxy.nativeio.SocketConstants.TCP_NODELAY;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SO_DOMAIN;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SO_PROTOCOL;

/**
 * Turns a freshly created, unregistered Netty epoll or io_uring channel into an MPTCP one.
 *
 * <p>No Netty release can ask for IPPROTO_MPTCP. Netty's own sockets are created in the channel constructor, so
 * before the channel is registered we create {@code socket(family, SOCK_STREAM, IPPROTO_MPTCP)} in the same address
 * family Netty chose and {@code dup3()} it over Netty's descriptor: the descriptor number Netty holds now refers to
 * the MPTCP socket, and Netty's TCP socket is released by that same call. Netty owns the descriptor afterwards;
 * this class never closes it. (The fd-taking constructors are no alternative: epoll's marks an unconnected fd
 * active at registration, and io_uring has none.)
 */
public final class MptcpSockets {
    /**
     * The address family Netty gives each channel class's sockets when made by the class's no-argument constructor,
     * read once per class: that family follows the process-wide IPv6 preference, so the answer never changes. Saves
     * one getsockopt(SO_DOMAIN) on every MPTCP connection the cpe opens.
     */
    private static final ClassValue<int[]> FAMILY = new ClassValue<>() {
        @Override
        protected int[] computeValue(Class<?> type) {
            return new int[] {-1};
        }
    };

    /**
     * For {@link #replaceWithMptcp(Channel, boolean, int)}: the channel was made by its class's no-argument
     * constructor, so its family is the class's ({@link #FAMILY}).
     */
    static final int FAMILY_OF_CLASS = -1;

    private MptcpSockets() {
    }

    /** Replaces the channel's socket with an MPTCP socket of the same family. Call before registration. */
    public static void replaceWithMptcp(Channel channel) throws MptcpUnavailableException {
        replaceWithMptcp(channel, false);
    }

    /**
     * As {@link #replaceWithMptcp(Channel)}; with {@code noDelay}, the MPTCP socket gets TCP_NODELAY before it
     * takes the descriptor's place. Netty's TCP channels turn Nagle off on the socket they create, which the swap
     * discards, so a client socket would otherwise need the option again once it is a channel's.
     */
    public static void replaceWithMptcp(Channel channel, boolean noDelay) throws MptcpUnavailableException {
        replaceWithMptcp(channel, noDelay, FAMILY_OF_CLASS);
    }

    /**
     * As {@link #replaceWithMptcp(Channel, boolean)}, for a channel whose socket's address family the caller chose
     * ({@code AF_INET} or {@code AF_INET6}), or {@link #FAMILY_OF_CLASS} for one made by its class's no-argument
     * constructor. A channel made with an explicit family must say so: the per-class answer is only true of the
     * no-argument constructor's sockets.
     */
    static void replaceWithMptcp(Channel channel, boolean noDelay, int knownFamily) throws MptcpUnavailableException {
        if (!(channel instanceof UnixChannel unix)) {
            throw new IllegalArgumentException("MPTCP needs an epoll or io_uring channel, not " + channel.getClass());
        }
        if (channel.isRegistered()) {
            throw new IllegalStateException("the socket must be replaced before the channel is registered");
        }
        int fd = unix.fd().intValue();
        int temporary = -1;
        try {
            int family = knownFamily == FAMILY_OF_CLASS ? familyOf(channel.getClass(), fd) : knownFamily;
            temporary = Libc.socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_MPTCP);
            if (family == AF_INET6) {
                // Netty chose IPv6 because the host prefers it; keep IPv4 reachable through mapped addresses.
                Libc.setsockoptInt(temporary, SOL_IPV6, IPV6_V6ONLY, 0);
            }
            if (noDelay) {
                Libc.setsockoptInt(temporary, SOL_TCP, TCP_NODELAY, 1);
            }
            Libc.dup3(temporary, fd, O_CLOEXEC);
        } catch (NativeException e) {
            throw MptcpUnavailableException.from(e);
        } finally {
            if (temporary >= 0) {
                closeQuietly(temporary);
            }
        }
    }

    private static int familyOf(Class<?> type, int fd) throws NativeException {
        int[] known = FAMILY.get(type);
        int family = known[0];
        if (family < 0) {
            family = Libc.getsockoptInt(fd, SOL_SOCKET, SO_DOMAIN);
            // A benign race: two threads may both read it, and both read the same value.
            known[0] = family;
        }
        return family;
    }

    /** Whether the kernel lets this process create MPTCP sockets at all; the failure explains why not. */
    public static void probe() throws MptcpUnavailableException {
        int fd;
        try {
            fd = Libc.socket(net.hybridproxy.proxy.nativeio.SocketConstants.AF_INET,
                    SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_MPTCP);
        } catch (NativeException e) {
            throw MptcpUnavailableException.from(e);
        }
        closeQuietly(fd);
    }

    private static void closeQuietly(int fd) {
        try {
            Libc.close(fd);
        } catch (NativeException ignored) {
            // The descriptor was created by us a moment ago; close can only fail with EINTR/EIO, and either way
            // the kernel has released it.
        }
    }
}
