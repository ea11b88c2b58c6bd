package net.hybridproxy.proxy.transport;

import io.netty.channel.Channel;
import io.netty.channel.unix.UnixChannel;
import net.hybridproxy.proxy.nativeio.Libc;
import net.hybridproxy.proxy.nativeio.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SK_MEMINFO_RCVBUF;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SK_MEMINFO_RMEM_ALLOC;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SK_MEMINFO_VARS;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SOL_SOCKET;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SO_MEMINFO;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SO_RCVBUF;
import static net.hybridproxy.proxy.nativeio.SocketConstants.SO_RCVBUFFORCE;

/**
 * A kernel MPTCP receive path that stopped for good, seen from user space, and the way out of it.
 *
 * <p>The state (found in the namespace lab, docs/decisions.md "An MPTCP receive path that stops for good"): the MPTCP
 * socket holds more memory for reading than its receive buffer allows ({@code SO_MEMINFO}'s rmem_alloc above rcvbuf,
 * at the initial 128 KiB of {@code tcp_rmem}), yet nothing of it is readable in order ({@code SIOCINQ} 0): the
 * bytes it holds are beyond a gap at the data level, and the bytes that fill the gap wait in a subflow's receive
 * queue, which the kernel does not move up while the socket is over its buffer ({@code __mptcp_move_skbs*} and
 * {@code __mptcp_data_ready} stop at "rmem_alloc > rcvbuf"). Nothing readable means no EPOLLIN, so nobody reads,
 * so the buffer never empties: the connection stays silent until its idle timeout, while the subflows go on taking
 * (and acknowledging) the peer's retransmissions.
 *
 * <p>The way out: a receive buffer larger than what is held ({@code SO_RCVBUF}, bounded by {@code net.core.rmem_max}
 * unless the process may use {@code SO_RCVBUFFORCE}), then {@code SIOCINQ}, whose MPTCP implementation moves what the
 * buffer now admits from the subflows before it answers; the gap is filled and the bytes are readable. The buffer
 * stays at that size for the rest of the connection (setting it turns off the kernel's autotuning for this socket),
 * a small price on a connection that would otherwise have hung.
 */
public final class MptcpReceiveStall {
    private MptcpReceiveStall() {
    }

    /**
     * The memory the socket holds for reading (rmem_alloc) when that is more than its receive buffer while nothing is
     * readable in order; 0 when it is not in that state, or not a kernel socket.
     */
    public static int stalledBytes(Channel channel) {
        if (!(channel instanceof UnixChannel unix)) {
            return 0;
        }
        int fd = unix.fd().intValue();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment memory = arena.allocate(JAVA_INT, SK_MEMINFO_VARS);
            Libc.getsockopt(fd, SOL_SOCKET, SO_MEMINFO, memory);
            int held = memory.getAtIndex(JAVA_INT, SK_MEMINFO_RMEM_ALLOC);
            int buffer = memory.getAtIndex(JAVA_INT, SK_MEMINFO_RCVBUF);
            return held > buffer && Libc.bytesToRead(fd) == 0 ? held : 0;
        } catch (NativeException e) {
            return 0;
        }
    }

    /**
     * Gives the socket a receive buffer of twice {@code held} (the kernel doubles the value set, for its bookkeeping;
     * without CAP_NET_ADMIN at most twice {@code net.core.rmem_max}, 416 KiB by default, still above the 128 KiB the
     * stall holds) and lets the kernel move the bytes it now admits up from the subflows. Returns whether the socket
     * has bytes to read afterwards.
     */
    public static boolean unblock(Channel channel, int held) {
        if (!(channel instanceof UnixChannel unix)) {
            return false;
        }
        int fd = unix.fd().intValue();
        try {
            try {
                Libc.setsockoptInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, held);
            } catch (NativeException notPermitted) {
                Libc.setsockoptInt(fd, SOL_SOCKET, SO_RCVBUF, held);
            }
            return Libc.bytesToRead(fd) > 0;
        } catch (NativeException e) {
            return false;
        }
    }
}
