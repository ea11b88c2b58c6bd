package net.hybridproxy.proxy.transport;

import io.netty.channel.Channel;
import io.netty.channel.unix.UnixChannel;
import net.hybridproxy.proxy.nativeio.Libc;
import net.hybridproxy.proxy.nativeio.NativeException;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Optional;

import static net.hybridproxy.proxy.nativeio.SocketConstants.SOL_TCP;
import static net.hybridproxy.proxy.nativeio.SocketConstants.TCP_INFO;
import static net.hybridproxy.proxy.nativeio.SocketConstants.TCP_NOTSENT_LOWAT;

/**
 * The few fields of a plain TCP socket's {@code struct tcp_info} (getsockopt(SOL_TCP, TCP_INFO)) a multipath
 * scheduler needs, and TCP_NOTSENT_LOWAT, on the native transports. NIO exposes no descriptor: there both return
 * nothing and the caller falls back to what the channel itself knows.
 *
 * @param rttMicros        tcpi_rtt, smoothed RTT in microseconds
 * @param rttVarMicros     tcpi_rttvar
 * @param congestionWindow tcpi_snd_cwnd in bytes (segments times tcpi_snd_mss)
 * @param unackedBytes     tcpi_unacked in bytes (segments times the MSS)
 * @param notSentBytes     tcpi_notsent_bytes
 * @param cwndSegments     tcpi_snd_cwnd, in segments (what the per-uplink cwnd gauge reports)
 * @param bytesRetransmitted tcpi_bytes_retrans (Linux 4.19+), or -1 when the kernel does not report it
 * @param sackedBytes      tcpi_sacked in bytes: SACKed above the cumulative acknowledgement
 * @param lostBytes        tcpi_lost in bytes: presumed lost, a loss repair is under way
 * @param retransBytes     tcpi_retrans in bytes: retransmitted and not yet acknowledged
 * @param lastAckRecvMillis tcpi_last_ack_recv: milliseconds since the last acknowledgement arrived
 * @param deliveredBytes   tcpi_delivered in bytes (Linux 4.18+; SACKed segments included), or 0 when the kernel does
 *                         not report it
 * @param rcvRttMicros     tcpi_rcv_rtt: the receiving side's estimate of the data's RTT in microseconds (with TCP
 *                         timestamps, from the time an acknowledgement left to the data it drew, the queue included),
 *                         0 before a sample
 */
public record TcpInfo(long rttMicros, long rttVarMicros, long congestionWindow, long unackedBytes,
                      long notSentBytes, long cwndSegments, long bytesRetransmitted, long sackedBytes,
                      long lostBytes, long retransBytes, long lastAckRecvMillis, long deliveredBytes,
                      long rcvRttMicros) {
    /** Offsets in struct tcp_info (include/uapi/linux/tcp.h); every field we need ends before byte 148. */
    private static final int SIZE = 148;
    /** ...and tcpi_bytes_retrans, when the kernel has it, ends at 216. */
    private static final int SIZE_WITH_BYTES_RETRANS = 216;
    private static final int BYTES_RETRANS = 208;
    private static final int SND_MSS = 16;
    private static final int UNACKED = 24;
    private static final int SACKED = 28;
    private static final int LOST = 32;
    private static final int RETRANS = 36;
    private static final int LAST_ACK_RECV = 56;
    /** tcpi_delivered, a u32 count of segments (Linux 4.18+), inside the 216 bytes read with tcpi_bytes_retrans. */
    private static final int DELIVERED = 192;
    private static final int RTT = 68;
    private static final int RTTVAR = 72;
    private static final int SND_CWND = 80;
    private static final int RCV_RTT = 92;
    private static final int NOTSENT_BYTES = 144;
    /**
     * Each event loop reads TCP_INFO of its subflows hundreds of times a second; a profile of a 70 Mbit/s download
     * put 7 % of the event loops' time in this method when every read opened an arena and allocated its buffers.
     */
    private static final ThreadLocal<Libc.SockoptScratch> SCRATCH =
            ThreadLocal.withInitial(() -> new Libc.SockoptScratch(SIZE_WITH_BYTES_RETRANS));

    /** Reads the socket's TCP_INFO, or nothing on NIO or when the socket is already gone. */
    public static Optional<TcpInfo> read(Channel channel) {
        if (!(channel instanceof UnixChannel unix) || !channel.isOpen()) {
            return Optional.empty();
        }
        try {
            Libc.SockoptScratch scratch = SCRATCH.get();
            int length = scratch.getsockopt(unix.fd().intValue(), SOL_TCP, TCP_INFO);
            MemorySegment info = scratch.buffer();
            if (length < SIZE) {
                return Optional.empty(); // a kernel older than 4.6 has no tcpi_notsent_bytes
            }
            long mss = Integer.toUnsignedLong(info.get(ValueLayout.JAVA_INT, SND_MSS));
            long cwnd = Integer.toUnsignedLong(info.get(ValueLayout.JAVA_INT, SND_CWND));
            boolean recent = length >= SIZE_WITH_BYTES_RETRANS;
            return Optional.of(new TcpInfo(
                    Integer.toUnsignedLong(info.get(ValueLayout.JAVA_INT, RTT)),
                    Integer.toUnsignedLong(info.get(ValueLayout.JAVA_INT, RTTVAR)),
                    cwnd * mss,
                    Integer.toUnsignedLong(info.get(ValueLayout.JAVA_INT, UNACKED)) * mss,
                    Integer.toUnsignedLong(info.get(ValueLayout.JAVA_INT, NOTSENT_BYTES)),
                    cwnd,
                    recent ? info.get(ValueLayout.JAVA_LONG_UNALIGNED, BYTES_RETRANS) : -1,
                    Integer.toUnsignedLong(info.get(ValueLayout.JAVA_INT, SACKED)) * mss,
                    Integer.toUnsignedLong(info.get(ValueLayout.JAVA_INT, LOST)) * mss,
                    Integer.toUnsignedLong(info.get(ValueLayout.JAVA_INT, RETRANS)) * mss,
                    Integer.toUnsignedLong(info.get(ValueLayout.JAVA_INT, LAST_ACK_RECV)),
                    recent ? Integer.toUnsignedLong(info.get(ValueLayout.JAVA_INT, DELIVERED)) * mss : 0,
                    Integer.toUnsignedLong(info.get(ValueLayout.JAVA_INT, RCV_RTT))));
        } catch (NativeException e) {
            return Optional.empty();
        }
    }

    /**
     * TCP_NOTSENT_LOWAT: the socket reports itself full once this many bytes wait unsent in it, so bytes stay in
     * user space where a scheduler can still send them over another path. Returns false on NIO or if refused.
     */
    public static boolean trySetNotSentLowWatermark(Channel channel, int bytes) {
        if (!(channel instanceof UnixChannel unix)) {
            return false;
        }
        try {
            Libc.setsockoptInt(unix.fd().intValue(), SOL_TCP, TCP_NOTSENT_LOWAT, bytes);
            return true;
        } catch (NativeException e) {
            return false;
        }
    }
}
