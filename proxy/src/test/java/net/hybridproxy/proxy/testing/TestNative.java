package net.hybridproxy.proxy.testing;

import net.hybridproxy.proxy.nativeio.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.net.Inet4Address;
import java.net.InetAddress;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * The libc calls tests need beyond the production native layer: entering a network namespace and driving a
 * plain blocking TCP/MPTCP socket (listen, connect, accept).
 */
public final class TestNative {
    public static final int CLONE_NEWNET = 0x40000000;
    private static final int O_RDONLY = 0;
    private static final int O_CLOEXEC = 0x80000;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CALL_STATE.varHandle(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));

    private static final MethodHandle OPEN = bind("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SETNS = bind("setns", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle LISTEN = bind("listen", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle CONNECT =
            bind("connect", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle ACCEPT =
            bind("accept", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));

    private TestNative() {
    }

    private static MethodHandle bind(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), fd,
                Linker.Option.captureCallState("errno"));
    }

    private static int check(int rc, MemorySegment state, String call) throws NativeException {
        if (rc < 0) {
            throw new NativeException(call, (int) ERRNO.get(state, 0L));
        }
        return rc;
    }

    public static int open(String path) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            return check((int) OPEN.invokeExact(state, arena.allocateFrom(path), O_RDONLY | O_CLOEXEC), state,
                    "open " + path);
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Moves the calling thread (only it) into the namespace behind {@code fd}. */
    public static void setns(int fd, int nstype) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            check((int) SETNS.invokeExact(state, fd, nstype), state, "setns");
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void listen(int fd, int backlog) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            check((int) LISTEN.invokeExact(state, fd, backlog), state, "listen");
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void connect(int fd, InetAddress address, int port) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment sa = sockaddrIn(arena, address, port);
            check((int) CONNECT.invokeExact(state, fd, sa, (int) sa.byteSize()), state, "connect");
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int accept(int fd) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            return check((int) ACCEPT.invokeExact(state, fd, MemorySegment.NULL, MemorySegment.NULL), state,
                    "accept");
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** struct sockaddr_in (IPv4 only: the tests use 198.18.0.0/15). */
    public static MemorySegment sockaddrIn(Arena arena, InetAddress address, int port) {
        if (!(address instanceof Inet4Address)) {
            throw new IllegalArgumentException("IPv4 only: " + address);
        }
        MemorySegment sa = arena.allocate(16);
        sa.set(ValueLayout.JAVA_SHORT, 0, (short) 2);
        sa.set(ValueLayout.JAVA_BYTE, 2, (byte) (port >>> 8));
        sa.set(ValueLayout.JAVA_BYTE, 3, (byte) port);
        MemorySegment.copy(address.getAddress(), 0, sa, ValueLayout.JAVA_BYTE, 4, 4);
        return sa;
    }
}
