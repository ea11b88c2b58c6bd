package net.hybridproxy.proxy.nativeio;

/** Linux socket constants used across the native layer (values from the kernel's UAPI headers, x86_64). */
public final class SocketConstants {
    public static final int AF_INET = 2;
    public static final int AF_INET6 = 10;
    public static final int AF_NETLINK = 16;

    public static final int SOCK_STREAM = 1;
    public static final int SOCK_RAW = 3;
    public static final int SOCK_NONBLOCK = 0x800;
    public static final int SOCK_CLOEXEC = 0x80000;
    public static final int O_CLOEXEC = 0x80000;
    /** MPTCP's protocol number for socket(2); Linux 5.6 and later. */
    public static final int IPPROTO_MPTCP = 262;

    public static final int SOL_SOCKET = 1;
    public static final int SOL_IP = 0;
    public static final int SOL_IPV6 = 41;
    public static final int SOL_TCP = 6;
    /** Seconds of idle before the first keepalive probe, and between probes (linux/tcp.h). */
    public static final int TCP_KEEPIDLE = 4;
    public static final int TCP_KEEPINTVL = 5;
    public static final int SOL_MPTCP = 284;
    public static final int SOL_NETLINK = 270;

    public static final int SO_KEEPALIVE = 9;
    public static final int SO_RCVBUF = 8;
    /** Like SO_RCVBUF, past net.core.rmem_max; needs CAP_NET_ADMIN. */
    public static final int SO_RCVBUFFORCE = 33;
    /** The socket's memory as SK_MEMINFO_VARS u32 values (linux/sock_diag.h): rmem_alloc first, then rcvbuf. */
    public static final int SO_MEMINFO = 55;
    public static final int SK_MEMINFO_RMEM_ALLOC = 0;
    public static final int SK_MEMINFO_RCVBUF = 1;
    public static final int SK_MEMINFO_VARS = 9;
    public static final int TCP_NODELAY = 1;
    public static final int SO_PROTOCOL = 38;
    public static final int SO_DOMAIN = 39;

    public static final int IP_TRANSPARENT = 19;
    public static final int IPV6_V6ONLY = 26;
    public static final int IPV6_TRANSPARENT = 75;
    /** netfilter's getsockopt for the pre-NAT destination (SO_ORIGINAL_DST = IP6T_SO_ORIGINAL_DST = 80). */
    public static final int SO_ORIGINAL_DST = 80;

    public static final int TCP_FASTOPEN = 23;
    public static final int TCP_FASTOPEN_CONNECT = 30;
    /** Linux 5.16+: 1 when the socket is MPTCP and has not fallen back to plain TCP. */
    public static final int TCP_IS_MPTCP = 43;
    public static final int TCP_INFO = 11;
    public static final int TCP_NOTSENT_LOWAT = 25;
    public static final int TCP_CONGESTION = 13;
    public static final int MPTCP_TCPINFO = 2;
    public static final int MPTCP_SUBFLOW_ADDRS = 3;
    public static final int MPTCP_FULL_INFO = 4;

    public static final int NETLINK_GENERIC = 16;
    public static final int NETLINK_ADD_MEMBERSHIP = 1;
    public static final int NETLINK_EXT_ACK = 11;

    private SocketConstants() {
    }
}
