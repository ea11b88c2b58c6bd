package net.hybridproxy.proxy.nativeio;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The few libc calls the appliance needs that Netty and the JDK do not expose, bound with the FFM API.
 *
 * <p>Every call captures {@code errno} atomically with the call (through {@link Linker.Option#captureCallState}),
 * because anything the JVM does between the native call and a later read of errno could overwrite it.
 * Failures surface as {@link NativeException} with the errno name, never as a raw -1.
 *
 * <p>Which calls may run on an event loop: socket options, socket creation, dup3 and close never wait. {@link #recv}
 * blocks on a blocking socket, so the netlink event monitor calls it on its own thread, never on an event loop.
 */
public final class Libc {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CALL_STATE.varHandle(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    private static final MethodHandle SOCKET = bind("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle DUP3 = bind("dup3", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle CLOSE = bind("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle SETSOCKOPT =
            bind("setsockopt", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle GETSOCKOPT =
            bind("getsockopt", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle BIND = bind("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SENDTO =
            bind("sendto", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle RECV =
            bind("recv", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    /** {@code ioctl(2)} with an int pointer as its third (variadic) argument. */
    private static final MethodHandle IOCTL_INT_POINTER = LINKER.downcallHandle(
            LINKER.defaultLookup().find("ioctl").orElseThrow(() -> new UnsatisfiedLinkError("libc has no ioctl")),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), CAPTURE_ERRNO,
            Linker.Option.firstVariadicArg(2));
    /** FIONREAD (SIOCINQ on a TCP socket): the bytes queued for reading (asm-generic/ioctls.h). */
    private static final long FIONREAD = 0x541B;
    private static final MethodHandle IF_NAMETOINDEX =
            LINKER.downcallHandle(LINKER.defaultLookup().find("if_nametoindex").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, ADDRESS));

    private Libc() {
    }

    private static MethodHandle bind(String name, FunctionDescriptor descriptor) {
        MemorySegment symbol = LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no symbol " + name));
        return LINKER.downcallHandle(symbol, descriptor, CAPTURE_ERRNO);
    }

    /** {@code socket(2)}; returns the new file descriptor. */
    public static int socket(int domain, int type, int protocol) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int fd = (int) SOCKET.invokeExact(state, domain, type, protocol);
            return check(fd, state, "socket");
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** {@code dup3(2)}: makes {@code newFd} refer to the socket behind {@code oldFd}, atomically. */
    public static void dup3(int oldFd, int newFd, int flags) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int rc = (int) DUP3.invokeExact(state, oldFd, newFd, flags);
            check(rc, state, "dup3");
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** {@code close(2)}. Only for descriptors this process created through {@link #socket}. */
    public static void close(int fd) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int rc = (int) CLOSE.invokeExact(state, fd);
            check(rc, state, "close");
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void setsockopt(int fd, int level, int name, MemorySegment value) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            setsockopt(fd, level, name, value, arena.allocate(CALL_STATE));
        }
    }

    /**
     * {@code setsockopt(2)} of an int option. Its native memory (the value and errno's capture state) is the calling
     * thread's own, allocated once ({@link #INT_SCRATCH}): an event loop sets several options on every new
     * connection, and an arena per call costs a malloc and a free per segment and a session to open and close.
     */
    public static void setsockoptInt(int fd, int level, int name, int value) throws NativeException {
        SockoptScratch scratch = INT_SCRATCH.get();
        scratch.buffer.set(JAVA_INT, 0, value);
        setsockopt(fd, level, name, scratch.buffer, scratch.state);
    }

    private static void setsockopt(int fd, int level, int name, MemorySegment value, MemorySegment state)
            throws NativeException {
        int rc;
        try {
            rc = (int) SETSOCKOPT.invokeExact(state, fd, level, name, value, Math.toIntExact(value.byteSize()));
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        if (rc < 0) {
            // The call's name is built only when it failed: this runs on event loops for every new connection.
            throw new NativeException("setsockopt(" + level + ", " + name + ")", (int) ERRNO.get(state, 0L));
        }
    }

    /** One thread's native memory for int socket options (get and set), like {@code TcpInfo}'s for TCP_INFO. */
    private static final ThreadLocal<SockoptScratch> INT_SCRATCH =
            ThreadLocal.withInitial(() -> new SockoptScratch(JAVA_INT.byteSize()));

    /**
     * {@code getsockopt(2)} into {@code buffer}; returns the length the kernel wrote, which may be shorter than
     * the buffer (older kernels know fewer fields).
     */
    public static int getsockopt(int fd, int level, int name, MemorySegment buffer) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            return getsockopt(fd, level, name, buffer, arena.allocate(CALL_STATE), arena.allocate(JAVA_INT));
        }
    }

    private static int getsockopt(int fd, int level, int name, MemorySegment buffer, MemorySegment state,
                                  MemorySegment length) throws NativeException {
        length.set(JAVA_INT, 0, Math.toIntExact(buffer.byteSize()));
        int rc;
        try {
            rc = (int) GETSOCKOPT.invokeExact(state, fd, level, name, buffer, length);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        if (rc < 0) {
            // The call's name is built only when it failed: this runs on event loops hundreds of times a second.
            throw new NativeException("getsockopt(" + level + ", " + name + ")", (int) ERRNO.get(state, 0L));
        }
        return length.get(JAVA_INT, 0);
    }

    /**
     * Native memory for one thread's repeated {@code getsockopt(2)} of one option size (TCP_INFO on an event loop,
     * every few milliseconds per subflow): the option buffer, the length and errno's capture state are allocated once
     * and reused, where {@link #getsockopt(int, int, int, MemorySegment)} opens an arena and allocates twice per
     * call. Confined to the thread that made it; freed when it is unreachable.
     */
    public static final class SockoptScratch {
        private final Thread owner = Thread.currentThread();
        private final MemorySegment buffer;
        private final MemorySegment state;
        private final MemorySegment length;

        public SockoptScratch(long bufferSize) {
            Arena arena = Arena.ofAuto();
            buffer = arena.allocate(bufferSize);
            state = arena.allocate(CALL_STATE);
            length = arena.allocate(JAVA_INT);
        }

        /** {@code getsockopt(2)} into {@link #buffer()}; returns the length the kernel wrote. */
        public int getsockopt(int fd, int level, int name) throws NativeException {
            if (Thread.currentThread() != owner) {
                throw new IllegalStateException("a SockoptScratch is confined to the thread that made it");
            }
            return Libc.getsockopt(fd, level, name, buffer, state, length);
        }

        /** What the last {@link #getsockopt} wrote; valid until the next call. */
        public MemorySegment buffer() {
            return buffer;
        }
    }

    /** {@code getsockopt(2)} of an int option, in the calling thread's own native memory (see {@link #setsockoptInt}). */
    public static int getsockoptInt(int fd, int level, int name) throws NativeException {
        SockoptScratch scratch = INT_SCRATCH.get();
        scratch.getsockopt(fd, level, name);
        return scratch.buffer.get(JAVA_INT, 0);
    }

    public static void bind(int fd, MemorySegment sockaddr) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int rc = (int) BIND.invokeExact(state, fd, sockaddr, Math.toIntExact(sockaddr.byteSize()));
            check(rc, state, "bind");
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** {@code sendto(2)} of the whole segment to {@code address} (may be {@link MemorySegment#NULL}). */
    public static long sendto(int fd, MemorySegment data, int flags, MemorySegment address) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            long rc = (long) SENDTO.invokeExact(state, fd, data, data.byteSize(), flags, address,
                    Math.toIntExact(address.byteSize()));
            return check(rc, state, "sendto");
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** {@code recv(2)} into {@code buffer}; returns the number of bytes received. */
    public static long recv(int fd, MemorySegment buffer, int flags) throws NativeException {
        long rc = recvOrNegativeErrno(fd, buffer, flags);
        if (rc < 0) {
            throw new NativeException("recv", (int) -rc);
        }
        return rc;
    }

    /**
     * {@code recv(2)} into {@code buffer} for a caller to which some failures are routine (a receive timeout's EAGAIN
     * on a socket read in a loop): returns the number of bytes received, or {@code -errno} instead of throwing, so no
     * exception (and no stack trace) is built for them.
     */
    public static long recvOrNegativeErrno(int fd, MemorySegment buffer, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            long rc = (long) RECV.invokeExact(state, fd, buffer, buffer.byteSize(), flags);
            return rc < 0 ? -(int) ERRNO.get(state, 0L) : rc;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * {@code ioctl(fd, FIONREAD)}: the bytes the socket holds for reading now. In the calling thread's own native
     * memory ({@link #setsockoptInt}), as it runs on event loops per connection.
     */
    public static int bytesToRead(int fd) throws NativeException {
        SockoptScratch scratch = INT_SCRATCH.get();
        int rc;
        try {
            rc = (int) IOCTL_INT_POINTER.invokeExact(scratch.state, fd, FIONREAD, scratch.buffer);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        check(rc, scratch.state, "ioctl(FIONREAD)");
        return scratch.buffer.get(JAVA_INT, 0);
    }

    /** {@code if_nametoindex(3)}; 0 when there is no such interface. */
    public static int interfaceIndex(String name) {
        try (Arena arena = Arena.ofConfined()) {
            return (int) IF_NAMETOINDEX.invokeExact(arena.allocateFrom(name));
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    private static int check(int rc, MemorySegment state, String call) throws NativeException {
        if (rc < 0) {
            throw new NativeException(call, (int) ERRNO.get(state, 0L));
        }
        return rc;
    }

    private static long check(long rc, MemorySegment state, String call) throws NativeException {
        if (rc < 0) {
            throw new NativeException(call, (int) ERRNO.get(state, 0L));
        }
        return rc;
    }

}
