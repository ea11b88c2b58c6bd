package net.hybridproxy.proxy.transport;

import io.netty.channel.Channel;
import io.netty.channel.unix.UnixChannel;
import net.hybridproxy.proxy.nativeio.Libc;
import net.hybridproxy.proxy.nativeio.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static net.hybridproxy.proxy.nativeio.SocketConstants.MPTCP_FULL_INFO;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SOL_MPTCP;

/**
 * One MPTCP connection's state in a single consistent read: {@code getsockopt(SOL_MPTCP, MPTCP_FULL_INFO)}
 * (Linux 6.5+), which returns the connection's {@code struct mptcp_info} and, for every subflow, its
 * {@code struct mptcp_subflow_info} (id and addresses) and {@code struct tcp_info}, all taken under the socket
 * lock. Reading MPTCP_TCPINFO and MPTCP_SUBFLOW_ADDRS separately could pair one subflow's counters with another's
 * addresses when a subflow closes in between.
 *
 * <p>{@code struct mptcp_full_info} carries two user-space pointers ({@code subflow_info} and {@code tcp_info}) to
 * arrays the kernel fills, so the arrays are native memory we allocate and whose addresses we put in the request;
 * Netty's getOption cannot express that. Sizes are negotiated: we state the element sizes we understand and the
 * kernel copies {@code min(ours, its own)} per element, so older and newer kernels both work.
 *
 * <p>A {@link Reader} owns its buffers and is reused for every connection it reads, so sampling thousands of
 * connections allocates nothing per connection. A reader is not thread-safe; use one per sampling thread.
 */
public record MptcpFullInfo(MptcpConnectionInfo connection, List<MptcpSubflowInfo> subflows) {
    /** The kernel allows 8 additional subflows per connection; 16 leaves room and bounds the buffers. */
    static final int MAX_SUBFLOWS = 16;
    // struct mptcp_full_info: six u32 sizes/counts, two u64 user pointers, then struct mptcp_info.
    private static final int FULL_INFO_HEADER = 40;
    /** struct mptcp_info up to mptcpi_last_ack_recv (Linux 6.10); older kernels fill less and zero the rest. */
    private static final int MPTCP_INFO_SIZE = 96;
    /** struct mptcp_subflow_info: u32 id, 4 bytes padding, two 128-byte sockaddr_storage unions. */
    private static final int SUBFLOW_INFO_SIZE = 264;
    /** struct tcp_info up to and including tcpi_bytes_retrans (offset 208). */
    private static final int TCP_INFO_SIZE = 216;

    /**
     * Connection-level figures from {@code struct mptcp_info}.
     *
     * @param bytesRetransmitted data sent again at the MPTCP level, typically on another subflow (reinjection)
     */
    public record MptcpConnectionInfo(long token, int subflows, boolean fallback, long bytesSent, long bytesReceived,
                                      long bytesAcked, long bytesRetransmitted) {
    }

    /**
     * One subflow: the kernel's subflow id (unique within the connection), its addresses, and the tcp_info figures
     * we export. {@code state} is the TCP state number (1 = ESTABLISHED, see {@link #stateName}).
     */
    public record MptcpSubflowInfo(int id, InetSocketAddress local, InetSocketAddress remote, int state, long bytesSent,
                                   long bytesAcked, long bytesReceived, long bytesRetransmitted, int rttMicros,
                                   int congestionWindow) {
    }

    /** Reads one connection. Convenience for occasional reads (the demo); samplers keep a {@link Reader}. */
    public static MptcpFullInfo read(Channel channel) throws NativeException {
        try (Reader reader = new Reader()) {
            return reader.read(channel).orElseThrow(() -> new NativeException("getsockopt(MPTCP_FULL_INFO)",
                    net.hybridproxy.proxy.nativeio.Errno.EBADF));
        }
    }

    /** TCP state names as {@code ss} prints them. */
    public static String stateName(int state) {
        return switch (state) {
            case 1 -> "established";
            case 2 -> "syn-sent";
            case 3 -> "syn-recv";
            case 4 -> "fin-wait-1";
            case 5 -> "fin-wait-2";
            case 6 -> "time-wait";
            case 7 -> "close";
            case 8 -> "close-wait";
            case 9 -> "last-ack";
            case 10 -> "listen";
            case 11 -> "closing";
            default -> "unknown";
        };
    }

    /** Reusable native buffers for MPTCP_FULL_INFO reads. */
    public static final class Reader implements AutoCloseable {
        private final Arena arena = Arena.ofConfined();
        private final MemorySegment full = arena.allocate(FULL_INFO_HEADER + MPTCP_INFO_SIZE, 8);
        private final MemorySegment subflowInfos = arena.allocate((long) MAX_SUBFLOWS * SUBFLOW_INFO_SIZE, 8);
        private final MemorySegment tcpInfos = arena.allocate((long) MAX_SUBFLOWS * TCP_INFO_SIZE, 8);

        /**
         * Reads the channel's connection, or empty when the channel's descriptor was closed while we read (its
         * number may then belong to another socket, so the figures are discarded).
         *
         * <p>Safe from any thread: Netty marks a descriptor closed before it calls close(2), so if the descriptor
         * is still marked open after getsockopt returned, the number still named this channel's socket during the
         * call.
         */
        public Optional<MptcpFullInfo> read(Channel channel) throws NativeException {
            var fd = ((UnixChannel) channel).fd();
            if (!fd.isOpen()) {
                return Optional.empty();
            }
            full.fill((byte) 0);
            full.set(ValueLayout.JAVA_INT, 4, TCP_INFO_SIZE);      // size_tcpinfo_user
            full.set(ValueLayout.JAVA_INT, 12, SUBFLOW_INFO_SIZE); // size_sfinfo_user
            full.set(ValueLayout.JAVA_INT, 20, MAX_SUBFLOWS);      // size_arrays_user
            full.set(ValueLayout.JAVA_LONG, 24, subflowInfos.address());
            full.set(ValueLayout.JAVA_LONG, 32, tcpInfos.address());
            Libc.getsockopt(fd.intValue(), SOL_MPTCP, MPTCP_FULL_INFO, full);
            if (!fd.isOpen()) {
                return Optional.empty();
            }
            int tcpInfoSize = full.get(ValueLayout.JAVA_INT, 4);     // min(ours, the kernel's)
            int subflowInfoSize = full.get(ValueLayout.JAVA_INT, 12);
            int count = Math.min(full.get(ValueLayout.JAVA_INT, 16), MAX_SUBFLOWS);
            MemorySegment info = full.asSlice(FULL_INFO_HEADER);
            MptcpConnectionInfo connection = new MptcpConnectionInfo(
                    Integer.toUnsignedLong(info.get(ValueLayout.JAVA_INT, 12)),
                    Byte.toUnsignedInt(info.get(ValueLayout.JAVA_BYTE, 0)),
                    (info.get(ValueLayout.JAVA_INT, 8) & 1) != 0, // MPTCP_INFO_FLAG_FALLBACK
                    info.get(ValueLayout.JAVA_LONG, 56),
                    info.get(ValueLayout.JAVA_LONG, 64),
                    info.get(ValueLayout.JAVA_LONG, 72),
                    info.get(ValueLayout.JAVA_LONG, 48));
            List<MptcpSubflowInfo> subflows = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                MemorySegment sf = subflowInfos.asSlice((long) i * subflowInfoSize, SUBFLOW_INFO_SIZE);
                MemorySegment tcp = tcpInfos.asSlice((long) i * tcpInfoSize, TCP_INFO_SIZE);
                subflows.add(new MptcpSubflowInfo(
                        sf.get(ValueLayout.JAVA_INT_UNALIGNED, 0),
                        decodeOrNull(sf.asSlice(8, 128)),
                        decodeOrNull(sf.asSlice(136, 128)),
                        Byte.toUnsignedInt(tcp.get(ValueLayout.JAVA_BYTE, 0)),
                        tcp.get(ValueLayout.JAVA_LONG_UNALIGNED, 200),
                        tcp.get(ValueLayout.JAVA_LONG_UNALIGNED, 120),
                        tcp.get(ValueLayout.JAVA_LONG_UNALIGNED, 128),
                        tcp.get(ValueLayout.JAVA_LONG_UNALIGNED, 208),
                        tcp.get(ValueLayout.JAVA_INT_UNALIGNED, 68),
                        tcp.get(ValueLayout.JAVA_INT_UNALIGNED, 80)));
            }
            return Optional.of(new MptcpFullInfo(connection, subflows));
        }

        private static InetSocketAddress decodeOrNull(MemorySegment sockaddr) {
            try {
                return NativeSocketOptions.decodeSockaddr(sockaddr);
            } catch (IllegalArgumentException e) {
                return null; // AF_UNSPEC: a subflow torn down between the kernel's two reads
            }
        }

        @Override
        public void close() {
            arena.close();
        }
    }
}
