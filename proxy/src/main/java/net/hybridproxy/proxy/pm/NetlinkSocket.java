package net.hybridproxy.proxy.pm;

import net.hybridproxy.proxy.nativeio.Errno;
import net.hybridproxy.proxy.nativeio.Libc;
import net.hybridproxy.proxy.nativeio.NativeException;
import net.hybridproxy.proxy.nativeio.SocketConstants;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.Optional;

/**
 * A blocking NETLINK_GENERIC socket. It belongs to the network namespace of the thread that opened it, whichever
 * thread later uses it. Not thread-safe: each owner serialises its own use.
 */
final class NetlinkSocket implements AutoCloseable {
    /** Kernel netlink dumps are capped at 32 KiB per datagram; twice that leaves room and detects anything odd. */
    static final int RECEIVE_BUFFER = 64 * 1024;

    private static final int SO_RCVTIMEO = 20;
    private static final int MSG_TRUNC = 0x20;
    private static final int SO_ATTACH_FILTER = 26;
    /** Classic BPF opcodes (linux/bpf_common.h): BPF_LD|BPF_B|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K. */
    private static final int BPF_LD_B_ABS = 0x30;
    private static final int BPF_JEQ_K = 0x15;
    private static final int BPF_RET_K = 0x06;
    /** sizeof(struct nlmsghdr): where a generic netlink message's command byte is. */
    private static final int NLMSG_HDRLEN = 16;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment receiveBuffer = arena.allocate(RECEIVE_BUFFER);
    private final MemorySegment kernelAddress;
    private final int fd;
    private volatile boolean closed;

    private NetlinkSocket(int fd) {
        this.fd = fd;
        // struct sockaddr_nl { sa_family_t nl_family; u16 nl_pad; u32 nl_pid; u32 nl_groups; }: pid 0 is the kernel.
        this.kernelAddress = arena.allocate(12);
        kernelAddress.set(ValueLayout.JAVA_SHORT, 0, (short) SocketConstants.AF_NETLINK);
    }

    /**
     * Opens a socket and asks for extended acks (error strings) and capped acks (errors do not echo our whole
     * request). Both are best effort: kernels without them still report the errno.
     */
    static NetlinkSocket open(Duration receiveTimeout) throws IOException {
        int fd = Libc.socket(SocketConstants.AF_NETLINK, SocketConstants.SOCK_RAW | SocketConstants.SOCK_CLOEXEC,
                SocketConstants.NETLINK_GENERIC);
        NetlinkSocket socket = new NetlinkSocket(fd);
        try {
            socket.bindToKernelAssignedPort();
            socket.optionalOption(SocketConstants.NETLINK_EXT_ACK);
            socket.optionalOption(NetlinkConstants.NETLINK_CAP_ACK);
            socket.setReceiveTimeout(receiveTimeout);
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
        return socket;
    }

    /**
     * Binds with nl_pid 0 so the kernel assigns a port id now. Sending would do this implicitly, but a socket that
     * only listens to multicast never sends, and the kernel skips unbound (port 0) sockets when broadcasting.
     */
    private void bindToKernelAssignedPort() throws NativeException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment self = a.allocate(12);
            self.set(ValueLayout.JAVA_SHORT, 0, (short) SocketConstants.AF_NETLINK);
            Libc.bind(fd, self);
        }
    }

    private void optionalOption(int option) throws NativeException {
        try {
            Libc.setsockoptInt(fd, SocketConstants.SOL_NETLINK, option, 1);
        } catch (NativeException e) {
            if (e.errno() != Errno.ENOPROTOOPT) {
                throw e;
            }
        }
    }

    private void setReceiveTimeout(Duration timeout) throws NativeException {
        try (Arena a = Arena.ofConfined()) {
            // struct timeval { long tv_sec; long tv_usec; } on LP64.
            MemorySegment tv = a.allocate(16);
            tv.set(ValueLayout.JAVA_LONG, 0, timeout.toSeconds());
            tv.set(ValueLayout.JAVA_LONG, 8, timeout.toNanosPart() / 1000L);
            Libc.setsockopt(fd, SocketConstants.SOL_SOCKET, SO_RCVTIMEO, tv);
        }
    }

    /** Asks for a bigger receive queue, so bursts of multicast events are less likely to be dropped. */
    void requestReceiveBuffer(int bytes) throws NativeException {
        Libc.setsockoptInt(fd, SocketConstants.SOL_SOCKET, SocketConstants.SO_RCVBUF, bytes);
    }

    /**
     * Has the kernel drop every datagram whose first generic-netlink command is not one of {@code commands}, before
     * it is queued: a multicast listener that needs a few of a group's message types then neither wakes up nor
     * copies the rest. A classic BPF socket filter ({@code SO_ATTACH_FILTER}), which netlink runs on each broadcast
     * copy for each socket ({@code do_one_broadcast} → {@code sk_filter}); attach it before joining a group, so
     * nothing unfiltered is queued in between. The program reads the command byte right after the 16-byte
     * {@code nlmsghdr} (the start of {@code struct genlmsghdr}); a datagram too short to have one is dropped, as a
     * read past the end makes a classic BPF program return 0.
     */
    void acceptOnlyCommands(int... commands) throws NativeException {
        if (commands.length == 0 || commands.length > 255) {
            throw new IllegalArgumentException("between 1 and 255 commands: " + commands.length);
        }
        // struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }: load the byte, one equality test per command
        // jumping to "accept" on a match, then "drop" and "accept".
        int instructions = commands.length + 3;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment program = a.allocate(8L * instructions, 8);
            filterInstruction(program, 0, BPF_LD_B_ABS, 0, 0, NLMSG_HDRLEN);
            for (int i = 0; i < commands.length; i++) {
                // Jump offsets count from the next instruction; "accept" is the last one.
                filterInstruction(program, i + 1, BPF_JEQ_K, commands.length - i, 0, commands[i]);
            }
            filterInstruction(program, commands.length + 1, BPF_RET_K, 0, 0, 0);
            filterInstruction(program, commands.length + 2, BPF_RET_K, 0, 0, 0xFFFF_FFFF);
            // struct sock_fprog { unsigned short len; struct sock_filter *filter; } on LP64: the pointer at 8.
            MemorySegment fprog = a.allocate(16, 8);
            fprog.set(ValueLayout.JAVA_SHORT, 0, (short) instructions);
            fprog.set(ValueLayout.ADDRESS, 8, program);
            Libc.setsockopt(fd, SocketConstants.SOL_SOCKET, SO_ATTACH_FILTER, fprog);
        }
    }

    private static void filterInstruction(MemorySegment program, int index, int code, int jumpIfTrue,
                                          int jumpIfFalse, int k) {
        long at = 8L * index;
        program.set(ValueLayout.JAVA_SHORT, at, (short) code);
        program.set(ValueLayout.JAVA_BYTE, at + 2, (byte) jumpIfTrue);
        program.set(ValueLayout.JAVA_BYTE, at + 3, (byte) jumpIfFalse);
        program.set(ValueLayout.JAVA_INT, at + 4, k);
    }

    void joinGroup(int groupId) throws NativeException {
        Libc.setsockoptInt(fd, SocketConstants.SOL_NETLINK, SocketConstants.NETLINK_ADD_MEMBERSHIP, groupId);
    }

    void send(byte[] message) throws IOException {
        ensureOpen();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment data = a.allocate(message.length);
            MemorySegment.copy(message, 0, data, ValueLayout.JAVA_BYTE, 0, message.length);
            long sent = Libc.sendto(fd, data, 0, kernelAddress);
            if (sent != message.length) {
                throw new IOException("netlink sendto wrote " + sent + " of " + message.length + " bytes");
            }
        }
    }

    /**
     * Receives one datagram. Throws {@link NativeException} with EAGAIN when the receive timeout expires and
     * ENOBUFS when the kernel had to drop messages because our queue was full.
     */
    byte[] receive() throws IOException {
        ensureOpen();
        return received(Libc.recv(fd, receiveBuffer, MSG_TRUNC));
    }

    /**
     * As {@link #receive()}, for a reader that wakes up at every receive timeout only to check whether it should
     * stop: the timeout (EAGAIN) and a signal (EINTR) give empty rather than an exception, which the JVM would build
     * with a whole stack trace ten times a second per process. Other failures still throw {@link NativeException}
     * (ENOBUFS: the kernel dropped messages).
     */
    Optional<byte[]> receiveUnlessTimedOut() throws IOException {
        ensureOpen();
        long n = Libc.recvOrNegativeErrno(fd, receiveBuffer, MSG_TRUNC);
        if (n == -Errno.EAGAIN || n == -Errno.EINTR) {
            return Optional.empty();
        }
        if (n < 0) {
            throw new NativeException("recv", (int) -n);
        }
        return Optional.of(received(n));
    }

    /**
     * The datagram {@code recv} put in the receive buffer, {@code n} bytes by its count. MSG_TRUNC makes recv return
     * the datagram's real size, so a truncated read cannot pass for a whole one.
     */
    private byte[] received(long n) throws MalformedNetlinkMessageException {
        if (n > RECEIVE_BUFFER) {
            throw new MalformedNetlinkMessageException(
                    "netlink datagram of " + n + " bytes exceeds the " + RECEIVE_BUFFER + "-byte receive buffer");
        }
        return receiveBuffer.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
    }

    private void ensureOpen() throws IOException {
        if (closed) {
            throw new IOException("netlink socket is closed");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            Libc.close(fd);
        } catch (NativeException ignored) {
            // Nothing useful to do: the descriptor is gone either way.
        } finally {
            arena.close();
        }
    }
}
