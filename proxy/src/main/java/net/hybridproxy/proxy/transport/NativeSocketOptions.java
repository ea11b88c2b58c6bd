package net.hybridproxy.proxy.transport;

import io.netty.channel.Channel;
import io.netty.channel.unix.UnixChannel;
import net.hybridproxy.proxy.nativeio.Errno;
import net.hybridproxy.proxy.nativeio.Libc;
import net.hybridproxy.proxy.nativeio.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteOrder;
import java.util.Optional;

import static net.hybridproxy.proxy.nativeio.SocketConstants.AF_INET;
import static net.hybridproxy.proxy.nativeio.SocketConstants.AF_INET6;
import static net.hybridproxy.proxy.nativeio.SocketConstants.IPV6_TRANSPARENT;
import static net.hybridproxy.proxy.nativeio.SocketConstants.IP_TRANSPARENT;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SOL_IP;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SOL_IPV6;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SOL_SOCKET;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SOL_TCP;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SO_DOMAIN;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SO_ORIGINAL_DST;
import static net.hybridproxy.proxy.nativeio.SocketConstants.TCP_CONGESTION;
import static net.hybridproxy.proxy.nativeio.SocketConstants.TCP_FASTOPEN;
import static net.hybridproxy.proxy.nativeio.SocketConstants.TCP_FASTOPEN_CONNECT;
import static net.hybridproxy.proxy.nativeio.SocketConstants.TCP_IS_MPTCP;

/**
 * Socket options set and read through FFM on the channel's descriptor, so that they behave the same on epoll and
 * io_uring and on MPTCP sockets (where several of Netty's own option paths would touch options MPTCP rejects).
 */
public final class NativeSocketOptions {
    private NativeSocketOptions() {
    }

    static int fd(Channel channel) {
        return ((UnixChannel) channel).fd().intValue();
    }

    public static int family(Channel channel) throws NativeException {
        return Libc.getsockoptInt(fd(channel), SOL_SOCKET, SO_DOMAIN);
    }

    /**
     * IP_TRANSPARENT (and IPV6_TRANSPARENT on IPv6 sockets): lets a listener accept connections TPROXY steered to
     * it for addresses that are not local. Needs CAP_NET_ADMIN.
     */
    public static void setTransparent(Channel channel) throws NativeException {
        int fd = fd(channel);
        if (family(channel) == AF_INET6) {
            Libc.setsockoptInt(fd, SOL_IPV6, IPV6_TRANSPARENT, 1);
        }
        Libc.setsockoptInt(fd, SOL_IP, IP_TRANSPARENT, 1);
    }

    /**
     * Keepalive probes after {@code idleSeconds} of silence, then every {@code idleSeconds} (SO_KEEPALIVE must be on).
     * On an MPTCP socket the kernel applies them to every subflow.
     */
    public static void setKeepaliveIdle(Channel channel, int idleSeconds) throws NativeException {
        int fd = fd(channel);
        Libc.setsockoptInt(fd, SOL_TCP, net.hybridproxy.proxy.nativeio.SocketConstants.TCP_KEEPIDLE, idleSeconds);
        Libc.setsockoptInt(fd, SOL_TCP, net.hybridproxy.proxy.nativeio.SocketConstants.TCP_KEEPINTVL, idleSeconds);
    }

    /** TCP_KEEPIDLE alone: the first probe after {@code idleSeconds} of silence; the probe interval is left as it is. */
    public static void setKeepaliveIdleOnly(Channel channel, int idleSeconds) throws NativeException {
        Libc.setsockoptInt(fd(channel), SOL_TCP, net.hybridproxy.proxy.nativeio.SocketConstants.TCP_KEEPIDLE,
                idleSeconds);
    }

    /**
     * TCP_NODELAY and SO_KEEPALIVE on a listener, before it binds. Linux copies both into every socket it accepts
     * (TCP and MPTCP alike: the accepted socket, and for MPTCP its first subflow, are clones of the listener's;
     * {@code RelayTransportSuite} reads them back from accepted sockets), so the children need no setsockopt of
     * their own.
     */
    public static void setNoDelayAndKeepaliveInherited(Channel listener) throws NativeException {
        int fd = fd(listener);
        Libc.setsockoptInt(fd, SOL_TCP, net.hybridproxy.proxy.nativeio.SocketConstants.TCP_NODELAY, 1);
        Libc.setsockoptInt(fd, SOL_SOCKET, net.hybridproxy.proxy.nativeio.SocketConstants.SO_KEEPALIVE, 1);
    }

    /**
     * TCP_CONGESTION on a listener. The kernel keeps it on the listener's socket (for MPTCP, on the listener's own
     * subflow), and every connection or subflow it accepts is a copy of that socket, so the children keep the
     * algorithm without a setsockopt of their own. The kernel answers ENOENT for an algorithm it lacks and EPERM for
     * one outside {@code net.ipv4.tcp_allowed_congestion_control} without CAP_NET_ADMIN.
     */
    public static void setCongestionControl(Channel listener, String algorithm) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            Libc.setsockopt(fd(listener), SOL_TCP, TCP_CONGESTION, arena.allocateFrom(algorithm));
        }
    }

    /** Linux's {@code TCP_CA_NAME_MAX}: a congestion control's name with its terminating NUL fits. */
    private static final int CONGESTION_CONTROL_NAME_MAX = 16;
    /** Always permitted ({@code TCP_CONG_NON_RESTRICTED}), and without state of its own to initialise. */
    private static final String RENO = "reno";

    /** The connection's congestion control algorithm (TCP_CONGESTION). */
    public static String congestionControl(Channel channel) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment name = arena.allocate(CONGESTION_CONTROL_NAME_MAX + 1);
            Libc.getsockopt(fd(channel), SOL_TCP, TCP_CONGESTION, name.asSlice(0, CONGESTION_CONTROL_NAME_MAX));
            return name.getString(0);
        }
    }

    /**
     * Initialises a connection's congestion control again with the same algorithm: Linux BBR back in STARTUP, its
     * bandwidth filter and policer state ({@code lt_use_bw}) cleared. {@code tcp_set_congestion_control()}
     * (net/ipv4/tcp_cong.c) returns at once when asked for the algorithm the socket already has ("No change asking
     * for existing value"), and only a change runs {@code tcp_reinit_congestion_control()} and with it the
     * algorithm's {@code init}; so the socket goes to reno and back. The window and the RTT estimates stay. A
     * socket on reno has nothing to restart (empty); a route's {@code congctl lock} refuses the first switch
     * (EPERM) and leaves the socket as it was. If the switch back fails (the algorithm not in
     * {@code net.ipv4.tcp_allowed_congestion_control} and no CAP_NET_ADMIN: only a route's unlocked {@code congctl}
     * gives a socket such an algorithm) the socket stays on reno and the error says so.
     *
     * @return the algorithm restarted, empty if the socket was on reno
     */
    public static Optional<String> restartCongestionControl(Channel channel) throws NativeException {
        String algorithm = congestionControl(channel);
        if (algorithm.equals(RENO)) {
            return Optional.empty();
        }
        int fd = fd(channel);
        try (Arena arena = Arena.ofConfined()) {
            Libc.setsockopt(fd, SOL_TCP, TCP_CONGESTION, arena.allocateFrom(RENO));
            try {
                Libc.setsockopt(fd, SOL_TCP, TCP_CONGESTION, arena.allocateFrom(algorithm));
            } catch (NativeException e) {
                throw new NativeException("setsockopt(TCP_CONGESTION, " + algorithm + ") after reno; the connection "
                        + "stays on reno", e.errno());
            }
        }
        return Optional.of(algorithm);
    }

    /** TCP_FASTOPEN on a listener with the given queue length (Linux 6.2+ for MPTCP listeners). */
    public static void setFastOpenListener(Channel channel, int queueLength) throws NativeException {
        Libc.setsockoptInt(fd(channel), SOL_TCP, TCP_FASTOPEN, queueLength);
    }

    /**
     * TCP_FASTOPEN_CONNECT: connect() returns at once and the first write goes out in the SYN when the kernel holds
     * a Fast Open cookie for the peer; otherwise the kernel does an ordinary handshake. Returns false when the
     * kernel refuses the option (no Fast Open for this socket type), so the caller just connects normally.
     */
    public static boolean trySetFastOpenConnect(Channel channel) {
        try {
            Libc.setsockoptInt(fd(channel), SOL_TCP, TCP_FASTOPEN_CONNECT, 1);
            return true;
        } catch (NativeException e) {
            return false;
        }
    }

    /** The bytes the socket holds for reading now ({@code FIONREAD}); 0 when that cannot be read. */
    public static int bytesToRead(Channel channel) {
        try {
            return Libc.bytesToRead(fd(channel));
        } catch (NativeException e) {
            return 0;
        }
    }

    /** Whether the channel is a kernel socket whose descriptor these options can reach (not NIO, not a stream). */
    public static boolean isKernelSocket(Channel channel) {
        return channel instanceof UnixChannel;
    }

    /**
     * Whether the connection really runs MPTCP. 0 means the peer did not answer MP_CAPABLE (or a middlebox
     * stripped it) and the kernel fell back to plain TCP; a plain TCP socket also reports 0.
     */
    public static boolean isMptcp(Channel channel) {
        try {
            return Libc.getsockoptInt(fd(channel), SOL_TCP, TCP_IS_MPTCP) == 1;
        } catch (NativeException e) {
            if (e.errno() == Errno.ENOPROTOOPT) {
                return false; // kernel older than 5.16, or a plain socket on such a kernel
            }
            return false;
        }
    }

    /**
     * The destination the client asked for before netfilter's REDIRECT/DNAT rewrote it (SO_ORIGINAL_DST for IPv4,
     * IP6T_SO_ORIGINAL_DST for IPv6; both are option 80).
     */
    public static InetSocketAddress originalDestination(Channel channel) throws NativeException {
        int fd = fd(channel);
        int family = family(channel);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment sockaddr = arena.allocate(28);
            if (family == AF_INET6) {
                try {
                    Libc.getsockopt(fd, SOL_IPV6, SO_ORIGINAL_DST, sockaddr);
                    return decodeSockaddr(sockaddr);
                } catch (NativeException e) {
                    // An IPv4 client on a dual-stack socket was redirected by the IPv4 NAT table.
                    if (e.errno() != Errno.ENOENT && e.errno() != Errno.ENOPROTOOPT) {
                        throw e;
                    }
                }
            }
            Libc.getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, sockaddr);
            return decodeSockaddr(sockaddr);
        }
    }

    /** Decodes a kernel sockaddr_in or sockaddr_in6. */
    public static InetSocketAddress decodeSockaddr(MemorySegment sockaddr) {
        int family = sockaddr.get(ValueLayout.JAVA_SHORT, 0) & 0xffff;
        int port = Short.toUnsignedInt(sockaddr.get(ValueLayout.JAVA_SHORT.withOrder(ByteOrder.BIG_ENDIAN), 2));
        byte[] address;
        if (family == AF_INET) {
            address = sockaddr.asSlice(4, 4).toArray(ValueLayout.JAVA_BYTE);
        } else if (family == AF_INET6) {
            address = sockaddr.asSlice(8, 16).toArray(ValueLayout.JAVA_BYTE);
        } else {
            throw new IllegalArgumentException("unexpected address family " + family);
        }
        try {
            return new InetSocketAddress(InetAddress.getByAddress(address), port);
        } catch (UnknownHostException e) {
            throw new AssertionError(e); // only thrown for a wrong-length array
        }
    }
}
