package net.hybridproxy.loadtest.lab.emu;

import net.hybridproxy.proxy.nativeio.Libc;
import net.hybridproxy.proxy.nativeio.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A layer-3 TUN device opened through {@code /dev/net/tun}, bound with the FFM API: the emulator reads the packets
 * the kernel routes into the device and writes packets the kernel then receives as if they had arrived on it.
 *
 * <p>Opened with {@code IFF_TUN | IFF_NO_PI}: every read returns exactly one IP packet with no extra header, and
 * every write must be exactly one IP packet. The device is not persistent, so it disappears when the descriptor is
 * closed, which is what makes a killed emulator clean up after itself.
 *
 * <p>Reads and writes block. Each descriptor is used by one thread, which owns a {@link Io} holding the
 * per-call errno capture buffer, so the hot path allocates nothing.
 */
public final class Tun implements AutoCloseable {
    /** {@code IFF_TUN} from {@code linux/if_tun.h}: IP packets, no Ethernet header. */
    static final short IFF_TUN = 0x0001;
    /** {@code IFF_NO_PI}: no 4-byte packet-information prefix on reads and writes. */
    static final short IFF_NO_PI = 0x1000;
    /** {@code TUNSETIFF = _IOW('T', 202, int)}. */
    static final long TUNSETIFF = 0x400454caL;
    /** {@code struct ifreq} is 40 bytes on 64-bit Linux: a 16-byte name, then a union whose first member is flags. */
    private static final int IFREQ_SIZE = 40;
    private static final int IFNAMSIZ = 16;
    private static final int O_RDWR = 2;
    private static final int O_CLOEXEC = 0x80000;
    private static final int EINTR = 4;
    /** {@code PR_SET_TIMERSLACK} from {@code linux/prctl.h}. */
    private static final int PR_SET_TIMERSLACK = 29;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle OPEN = bind("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    /** ioctl(2) is variadic after the request number. */
    private static final MethodHandle IOCTL = bind("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle READ = bind("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE = bind("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    /** prctl(2) is variadic after the option. */
    private static final MethodHandle PRCTL = bind("prctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG), Linker.Option.firstVariadicArg(1));

    private final String name;
    private final int fd;
    private volatile boolean closed;

    private Tun(String name, int fd) {
        this.name = name;
        this.fd = fd;
    }

    private static MethodHandle bind(String function, FunctionDescriptor descriptor, Linker.Option... extra) {
        Linker.Option[] options = new Linker.Option[extra.length + 1];
        options[0] = Linker.Option.captureCallState("errno");
        System.arraycopy(extra, 0, options, 1, extra.length);
        return LINKER.downcallHandle(LINKER.defaultLookup().find(function).orElseThrow(), descriptor, options);
    }

    /** Creates (or attaches to) the TUN device {@code name} in the calling thread's network namespace. */
    public static Tun open(String name) throws NativeException {
        byte[] nameBytes = name.getBytes(StandardCharsets.US_ASCII);
        if (nameBytes.length == 0 || nameBytes.length >= IFNAMSIZ) {
            throw new IllegalArgumentException("interface name must be 1.." + (IFNAMSIZ - 1) + " bytes: " + name);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int fd = (int) OPEN.invokeExact(state, arena.allocateFrom("/dev/net/tun"), O_RDWR | O_CLOEXEC);
            if (fd < 0) {
                throw new NativeException("open /dev/net/tun", errno(state));
            }
            MemorySegment ifreq = arena.allocate(IFREQ_SIZE);
            MemorySegment.copy(nameBytes, 0, ifreq, ValueLayout.JAVA_BYTE, 0, nameBytes.length);
            ifreq.set(ValueLayout.JAVA_SHORT, IFNAMSIZ, (short) (IFF_TUN | IFF_NO_PI));
            int rc = (int) IOCTL.invokeExact(state, fd, TUNSETIFF, ifreq);
            if (rc < 0) {
                int errno = errno(state);
                Libc.close(fd);
                throw new NativeException("ioctl TUNSETIFF " + name, errno);
            }
            return new Tun(name, fd);
        } catch (NativeException | IllegalArgumentException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * Lowers the calling thread's timer slack to {@code nanos}. The default 50 µs slack lets the kernel defer a
     * timed wake-up by that much, which would show up as delay-line jitter. Returns false if the kernel refused.
     */
    public static boolean setTimerSlack(long nanos) {
        try (Arena arena = Arena.ofConfined()) {
            return (int) PRCTL.invokeExact(arena.allocate(CALL_STATE), PR_SET_TIMERSLACK, nanos) == 0;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public String name() {
        return name;
    }

    /** Per-thread call state: one per reading or writing thread. */
    public Io io(Arena arena) {
        return new Io(arena.allocate(CALL_STATE));
    }

    /** Blocking packet I/O on this device from one thread. */
    public final class Io {
        private final MemorySegment state;

        private Io(MemorySegment state) {
            this.state = state;
        }

        /** Reads one packet into {@code buffer}; returns its length. Retries on EINTR. */
        public int read(MemorySegment buffer) throws NativeException {
            while (true) {
                long n;
                try {
                    n = (long) READ.invokeExact(state, fd, buffer, buffer.byteSize());
                } catch (Throwable t) {
                    throw new AssertionError(t);
                }
                if (n >= 0) {
                    return (int) n;
                }
                int errno = errno(state);
                if (errno != EINTR) {
                    throw new NativeException("read " + name, errno);
                }
            }
        }

        /**
         * Writes one packet; returns the errno on failure (0 on success) rather than throwing, because a device
         * that is administratively down answers EIO and the emulator simply drops the packet, as a dead line would.
         */
        public int write(MemorySegment packet, int length) {
            while (true) {
                long n;
                try {
                    n = (long) WRITE.invokeExact(state, fd, packet, (long) length);
                } catch (Throwable t) {
                    throw new AssertionError(t);
                }
                if (n >= 0) {
                    return 0;
                }
                int errno = errno(state);
                if (errno != EINTR) {
                    return errno;
                }
            }
        }
    }

    private static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    @Override
    public void close() throws NativeException {
        if (!closed) {
            closed = true;
            Libc.close(fd);
        }
    }

    @Override
    public String toString() {
        return "tun " + name;
    }
}
