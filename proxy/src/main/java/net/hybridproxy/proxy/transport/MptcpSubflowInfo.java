package net.hybridproxy.proxy.transport;

import io.netty.channel.Channel;
import net.hybridproxy.proxy.nativeio.Libc;
import net.hybridproxy.proxy.nativeio.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;

import static net.hybridproxy.proxy.nativeio.SocketConstants.MPTCP_SUBFLOW_ADDRS;
import static net.hybridproxy.proxy.nativeio.SocketConstants.MPTCP_TCPINFO;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SOL_MPTCP;

/**
 * Per-subflow state of one MPTCP socket, read with getsockopt(SOL_MPTCP, MPTCP_TCPINFO / MPTCP_SUBFLOW_ADDRS).
 *
 * <p>Both options return a {@code struct mptcp_subflow_data} header (size_subflow_data, num_subflows, size_kernel,
 * size_user; 4 x u32) followed by one fixed-size element per subflow. We state the element size we understand in
 * size_user; the kernel copies min(size_user, its own size) per element, so older and newer kernels both work.
 */
public final class MptcpSubflowInfo {
    /** Up to this many subflows are read; the kernel allows at most 8 extra subflows per connection. */
    private static final int MAX_SUBFLOWS = 16;
    private static final int HEADER = 16;
    /** Fields of struct tcp_info we use end before offset 216 (tcpi_bytes_retrans is at 208). */
    private static final int TCP_INFO_SIZE = 216;
    /** struct mptcp_subflow_addrs: two sockaddr_storage-sized unions. */
    private static final int ADDRS_SIZE = 256;

    public record Subflow(InetSocketAddress local, InetSocketAddress remote, long bytesSent, long bytesAcked,
                          long bytesReceived, long bytesRetransmitted, int rttMicros, int congestionWindow) {
    }

    private MptcpSubflowInfo() {
    }

    public static List<Subflow> read(Channel channel) throws NativeException {
        int fd = NativeSocketOptions.fd(channel);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = query(fd, MPTCP_TCPINFO, TCP_INFO_SIZE, arena);
            MemorySegment addrs = query(fd, MPTCP_SUBFLOW_ADDRS, ADDRS_SIZE, arena);
            int count = Math.min(Math.min(returned(info), returned(addrs)), MAX_SUBFLOWS);
            List<Subflow> subflows = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                MemorySegment tcp = info.asSlice(HEADER + (long) i * TCP_INFO_SIZE, TCP_INFO_SIZE);
                MemorySegment pair = addrs.asSlice(HEADER + (long) i * ADDRS_SIZE, ADDRS_SIZE);
                subflows.add(new Subflow(
                        NativeSocketOptions.decodeSockaddr(pair.asSlice(0, 128)),
                        NativeSocketOptions.decodeSockaddr(pair.asSlice(128, 128)),
                        tcp.get(ValueLayout.JAVA_LONG_UNALIGNED, 200),
                        tcp.get(ValueLayout.JAVA_LONG_UNALIGNED, 120),
                        tcp.get(ValueLayout.JAVA_LONG_UNALIGNED, 128),
                        tcp.get(ValueLayout.JAVA_LONG_UNALIGNED, 208),
                        tcp.get(ValueLayout.JAVA_INT_UNALIGNED, 68),
                        tcp.get(ValueLayout.JAVA_INT_UNALIGNED, 80)));
            }
            return subflows;
        }
    }

    private static MemorySegment query(int fd, int option, int elementSize, Arena arena) throws NativeException {
        MemorySegment buffer = arena.allocate(HEADER + (long) MAX_SUBFLOWS * elementSize);
        buffer.set(ValueLayout.JAVA_INT, 0, HEADER);       // size_subflow_data
        buffer.set(ValueLayout.JAVA_INT, 4, 0);            // num_subflows: set by the kernel
        buffer.set(ValueLayout.JAVA_INT, 8, 0);            // size_kernel: set by the kernel
        buffer.set(ValueLayout.JAVA_INT, 12, elementSize); // size_user
        Libc.getsockopt(fd, SOL_MPTCP, option, buffer);
        return buffer;
    }

    /** Elements actually present: the kernel's count, capped by what fitted in our buffer. */
    private static int returned(MemorySegment buffer) {
        return buffer.get(ValueLayout.JAVA_INT, 4);
    }
}
