package net.hybridproxy.loadtest.e2e;

import net.hybridproxy.engine.convert.ConvertDecoder;
import net.hybridproxy.engine.convert.ConvertErrorCode;
import net.hybridproxy.engine.convert.ConvertMessage;
import net.hybridproxy.engine.convert.ConvertProtocolException;
import net.hybridproxy.engine.convert.DecodeResult;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.lang.management.ManagementFactory;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicBoolean;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * The replay flood's generator, as lean as an attacker's own C program: one thread (inside the attacker's namespace)
 * drives non-blocking sockets with epoll through raw system calls. Per proof: {@code socket}, {@code setsockopt}
 * (SO_LINGER 0), {@code connect}, {@code write} of bytes built beforehand (at once when the handshake has already
 * completed, else on EPOLLOUT), one edge-triggered {@code epoll_ctl} registration, {@code read} of the answer into
 * the connection's slot of one native buffer, and {@code close}, which resets the connection (no TIME_WAIT for tens of
 * thousands of connections). No Netty, no java.net socket, no thread, buffer or object per connection but the
 * decoded answer.
 *
 * <p>It replaced 64 virtual threads on blocking {@code java.net.Socket}s, which cost the test JVM about 0.9 ms of CPU
 * per proof: at 2 200 proofs/s nearly two cores, so the test measured the attacker's CPU contending with the
 * appliances rather than what a flood costs the concentrator (docs/decisions.md, "Replay-cache flood").
 */
final class ProofFlood {
    private static final int AF_INET = 2;
    private static final int SOCK_STREAM = 1;
    private static final int SOCK_NONBLOCK = 0x800;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int SOL_SOCKET = 1;
    private static final int SO_LINGER = 13;
    private static final int EPOLL_CLOEXEC = 0x80000;
    private static final int EPOLL_CTL_ADD = 1;
    private static final int EPOLLIN = 0x1;
    private static final int EPOLLOUT = 0x4;
    private static final int EPOLLERR = 0x8;
    private static final int EPOLLHUP = 0x10;
    private static final int EPOLLRDHUP = 0x2000;
    private static final int EPOLLET = 1 << 31;
    private static final int EAGAIN = 11;
    private static final int EINPROGRESS = 115;
    /** struct epoll_event is packed on x86-64: a 32-bit event mask, then 64 bits of user data. */
    private static final int EVENT_BYTES = 12;
    private static final int MAX_EVENTS = 256;
    /** RFC 8803 §4.1: a Convert message is at most 255 32-bit words. */
    private static final int ANSWER_BYTES = 1020;
    /** A connection unanswered for this long fails the flood, as the blocking sockets' read timeout did. */
    private static final long ANSWER_TIMEOUT_NANOS = 10_000_000_000L;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle SOCKET = bind("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT,
            JAVA_INT));
    private static final MethodHandle SETSOCKOPT = bind("setsockopt", FunctionDescriptor.of(JAVA_INT, JAVA_INT,
            JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle CONNECT = bind("connect", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS,
            JAVA_INT));
    private static final MethodHandle WRITE = bind("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS,
            JAVA_LONG));
    private static final MethodHandle READ = bind("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS,
            JAVA_LONG));
    private static final MethodHandle CLOSE = bind("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle EPOLL_CREATE1 = bind("epoll_create1", FunctionDescriptor.of(JAVA_INT,
            JAVA_INT));
    private static final MethodHandle EPOLL_CTL = bind("epoll_ctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT,
            JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle EPOLL_WAIT = bind("epoll_wait", FunctionDescriptor.of(JAVA_INT, JAVA_INT,
            ADDRESS, JAVA_INT, JAVA_INT));

    private final InetSocketAddress target;
    private final byte[][] proofs;
    private final double perSecond;
    private final int maxInFlight;

    private volatile long accepted;
    private volatile long exceeded;
    private volatile long otherAnswers;
    private volatile long lastAnswerNanos;
    private volatile long threadId = -1;
    /** The flooding thread's CPU time when it finished, or -1 while it runs. */
    private volatile long finalCpuNanos = -1;

    /**
     * {@code perSecond} connections a second, each carrying the next of {@code proofs} (round robin), at most
     * {@code maxInFlight} open at a time.
     */
    ProofFlood(InetSocketAddress target, byte[][] proofs, double perSecond, int maxInFlight) {
        if (!(target.getAddress() instanceof Inet4Address)) {
            throw new IllegalArgumentException("IPv4 only: " + target);
        }
        this.target = target;
        this.proofs = proofs;
        this.perSecond = perSecond;
        this.maxInFlight = maxInFlight;
    }

    /** Answers without an Error TLV: proofs the concentrator admitted. */
    long accepted() {
        return accepted;
    }

    /** Answers with Resource Exceeded: proofs refused because the key's replay window was full. */
    long exceeded() {
        return exceeded;
    }

    /** Every answer read, whatever it said. */
    long answered() {
        return accepted + exceeded + otherAnswers;
    }

    long lastAnswerNanos() {
        return lastAnswerNanos;
    }

    /**
     * The CPU time (user and system) of the flooding thread so far: the attacker's own cost, including the kernel's
     * receive processing of the concentrator's side, which a veth pair charges to the sender.
     */
    long cpuNanos() {
        long done = finalCpuNanos;
        if (done >= 0 || threadId < 0) {
            return Math.max(done, 0);
        }
        return Math.max(0, ManagementFactory.getThreadMXBean().getThreadCpuTime(threadId));
    }

    /**
     * Floods from the calling thread, which must be in the attacker's network namespace, paced from
     * {@code startNanos} (a connection behind its slot is opened at once, as the paced threads caught up before),
     * until {@code stop} is set. A connection that fails or goes unanswered fails the flood.
     */
    void run(long startNanos, AtomicBoolean stop) throws IOException {
        threadId = Thread.currentThread().threadId();
        try (Arena arena = Arena.ofConfined()) {
            Calls calls = new Calls(arena);
            MemorySegment address = arena.allocate(16);
            address.set(JAVA_SHORT, 0, (short) AF_INET);
            address.set(JAVA_BYTE, 2, (byte) (target.getPort() >>> 8));
            address.set(JAVA_BYTE, 3, (byte) target.getPort());
            MemorySegment.copy(target.getAddress().getAddress(), 0, address, JAVA_BYTE, 4, 4);
            MemorySegment linger = arena.allocate(8); // struct linger { l_onoff = 1, l_linger = 0 }
            linger.set(JAVA_INT, 0, 1);
            MemorySegment[] proofBytes = new MemorySegment[proofs.length];
            for (int i = 0; i < proofs.length; i++) {
                proofBytes[i] = arena.allocateFrom(JAVA_BYTE, proofs[i]);
            }
            MemorySegment answers = arena.allocate((long) ANSWER_BYTES * maxInFlight);
            MemorySegment events = arena.allocate((long) EVENT_BYTES * MAX_EVENTS);
            MemorySegment registration = arena.allocate(EVENT_BYTES);
            byte[] answer = new byte[ANSWER_BYTES];

            // Per slot (the epoll user data): its descriptor (-1 when free), whether its proof is written yet, the
            // answer's bytes so far, the proof it carries and when it was opened.
            int[] fd = new int[maxInFlight];
            boolean[] written = new boolean[maxInFlight];
            int[] got = new int[maxInFlight];
            int[] proof = new int[maxInFlight];
            long[] opened = new long[maxInFlight];
            int[] free = new int[maxInFlight];
            int freeCount = maxInFlight;
            for (int i = 0; i < maxInFlight; i++) {
                fd[i] = -1;
                free[i] = maxInFlight - 1 - i;
            }
            long intervalNanos = (long) (1e9 / perSecond);
            long nextDue = startNanos;
            long nextProof = 0;
            int epoll = calls.check(calls.epollCreate1(EPOLL_CLOEXEC), "epoll_create1");
            try {
                while (!stop.get()) {
                    long now = System.nanoTime();
                    while (freeCount > 0 && now - nextDue >= 0) {
                        int slot = free[--freeCount];
                        int p = (int) (nextProof++ % proofs.length);
                        int s = calls.check(calls.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
                                "socket");
                        fd[slot] = s;
                        proof[slot] = p;
                        got[slot] = 0;
                        opened[slot] = now;
                        calls.check(calls.setsockopt(s, SOL_SOCKET, SO_LINGER, linger, 8), "setsockopt SO_LINGER");
                        if (calls.connect(s, address, 16) < 0 && calls.errno() != EINPROGRESS) {
                            throw new IOException("connect to " + target + ": errno " + calls.errno());
                        }
                        // On a veth pair the handshake usually completes inside connect(): write at once, and wait
                        // for EPOLLOUT only when it has not.
                        written[slot] = writeProof(calls, s, proofBytes[p]);
                        registration.set(JAVA_INT_UNALIGNED, 0, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
                        registration.set(JAVA_LONG_UNALIGNED, 4, slot);
                        calls.check(calls.epollCtl(epoll, EPOLL_CTL_ADD, s, registration), "epoll_ctl");
                        nextDue += intervalNanos;
                    }
                    int timeoutMillis = freeCount == 0 ? 10
                            : (int) Math.min(10, Math.max(0, (nextDue - System.nanoTime() + 999_999) / 1_000_000));
                    int n = calls.epollWait(epoll, events, MAX_EVENTS, timeoutMillis);
                    if (n < 0) {
                        continue; // EINTR
                    }
                    for (int i = 0; i < n; i++) {
                        int mask = events.get(JAVA_INT_UNALIGNED, (long) i * EVENT_BYTES);
                        int slot = (int) events.get(JAVA_LONG_UNALIGNED, (long) i * EVENT_BYTES + 4);
                        int s = fd[slot];
                        if (s < 0) {
                            continue;
                        }
                        if (!written[slot]) {
                            if ((mask & (EPOLLERR | EPOLLHUP)) != 0) {
                                throw new IOException("connect to " + target + " failed (epoll events 0x"
                                        + Integer.toHexString(mask) + ")");
                            }
                            if ((mask & EPOLLOUT) == 0 || !writeProof(calls, s, proofBytes[proof[slot]])) {
                                continue;
                            }
                            written[slot] = true;
                        }
                        MemorySegment buffer = answers.asSlice((long) slot * ANSWER_BYTES, ANSWER_BYTES);
                        if (readAnswer(calls, s, buffer, slot, got, answer)) {
                            calls.close(s);
                            fd[slot] = -1;
                            free[freeCount++] = slot;
                        }
                    }
                    long now2 = System.nanoTime();
                    for (int slot = 0; slot < maxInFlight; slot++) {
                        if (fd[slot] >= 0 && now2 - opened[slot] > ANSWER_TIMEOUT_NANOS) {
                            throw new IOException("no answer within 10 s (" + got[slot] + " bytes so far)");
                        }
                    }
                }
            } finally {
                for (int s : fd) {
                    if (s >= 0) {
                        calls.close(s);
                    }
                }
                calls.close(epoll);
                finalCpuNanos = ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
            }
        }
    }

    /** Writes the whole proof; false when the connection is not established yet. */
    private static boolean writeProof(Calls calls, int s, MemorySegment proof) throws IOException {
        long n = calls.write(s, proof, proof.byteSize());
        if (n < 0) {
            if (calls.errno() == EAGAIN) {
                return false;
            }
            throw new IOException("write: errno " + calls.errno());
        }
        if (n != proof.byteSize()) {
            throw new IOException("short write of a proof: " + n + " of " + proof.byteSize() + " bytes");
        }
        return true;
    }

    /** Reads what has arrived of the answer; true once it is complete and counted. */
    private boolean readAnswer(Calls calls, int s, MemorySegment buffer, int slot, int[] got, byte[] answer)
            throws IOException {
        while (true) {
            long n = calls.read(s, buffer.asSlice(got[slot]), ANSWER_BYTES - got[slot]);
            if (n < 0) {
                if (calls.errno() == EAGAIN) {
                    return false;
                }
                throw new IOException("read of an answer: errno " + calls.errno());
            }
            if (n == 0) {
                throw new IOException("closed after " + got[slot] + " bytes of an answer");
            }
            got[slot] += (int) n;
            // The header's second byte is the message's length in 32-bit words (RFC 8803 §4.1).
            int length = got[slot] >= 2 ? 4 * Byte.toUnsignedInt(buffer.get(JAVA_BYTE, 1)) : Integer.MAX_VALUE;
            if (got[slot] >= length) {
                MemorySegment.copy(buffer, JAVA_BYTE, 0, answer, 0, length);
                count(answer, length);
                return true;
            }
        }
    }

    private void count(byte[] answer, int length) throws IOException {
        DecodeResult result;
        try {
            result = ConvertDecoder.decode(ByteBuffer.wrap(answer, 0, length));
        } catch (ConvertProtocolException e) {
            throw new IOException("an answer the attacker cannot decode: " + e.getMessage(), e);
        }
        if (!(result instanceof DecodeResult.Decoded decoded)) {
            throw new IOException("an answer of " + length + " bytes that does not decode");
        }
        ConvertMessage message = decoded.message();
        if (message.errorTlv().isEmpty()) {
            accepted++;
        } else if (message.errorTlv().get().code() == ConvertErrorCode.RESOURCE_EXCEEDED.code()) {
            exceeded++;
        } else {
            otherAnswers++;
        }
        lastAnswerNanos = System.nanoTime();
    }

    private static MethodHandle bind(String name, FunctionDescriptor descriptor) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), descriptor,
                Linker.Option.captureCallState("errno"));
    }

    /** The system calls, with errno captured into one segment the flood's thread reuses for every call. */
    private static final class Calls {
        private final MemorySegment state;

        Calls(Arena arena) {
            this.state = arena.allocate(CALL_STATE);
        }

        int errno() {
            return (int) ERRNO.get(state, 0L);
        }

        int check(int rc, String call) throws IOException {
            if (rc < 0) {
                throw new IOException(call + ": errno " + errno());
            }
            return rc;
        }

        int socket(int domain, int type, int protocol) {
            try {
                return (int) SOCKET.invokeExact(state, domain, type, protocol);
            } catch (Throwable t) {
                throw new AssertionError(t);
            }
        }

        int setsockopt(int s, int level, int name, MemorySegment value, int length) {
            try {
                return (int) SETSOCKOPT.invokeExact(state, s, level, name, value, length);
            } catch (Throwable t) {
                throw new AssertionError(t);
            }
        }

        int connect(int s, MemorySegment address, int length) {
            try {
                return (int) CONNECT.invokeExact(state, s, address, length);
            } catch (Throwable t) {
                throw new AssertionError(t);
            }
        }

        long write(int s, MemorySegment data, long length) {
            try {
                return (long) WRITE.invokeExact(state, s, data, length);
            } catch (Throwable t) {
                throw new AssertionError(t);
            }
        }

        long read(int s, MemorySegment buffer, long length) {
            try {
                return (long) READ.invokeExact(state, s, buffer, length);
            } catch (Throwable t) {
                throw new AssertionError(t);
            }
        }

        void close(int s) {
            try {
                int ignored = (int) CLOSE.invokeExact(state, s); // nothing to do about a failed close here
            } catch (Throwable t) {
                throw new AssertionError(t);
            }
        }

        int epollCreate1(int flags) {
            try {
                return (int) EPOLL_CREATE1.invokeExact(state, flags);
            } catch (Throwable t) {
                throw new AssertionError(t);
            }
        }

        int epollCtl(int epoll, int op, int s, MemorySegment event) {
            try {
                return (int) EPOLL_CTL.invokeExact(state, epoll, op, s, event);
            } catch (Throwable t) {
                throw new AssertionError(t);
            }
        }

        int epollWait(int epoll, MemorySegment events, int max, int timeoutMillis) {
            try {
                return (int) EPOLL_WAIT.invokeExact(state, epoll, events, max, timeoutMillis);
            } catch (Throwable t) {
                throw new AssertionError(t);
            }
        }
    }
}
