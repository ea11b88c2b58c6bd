package net.hybridproxy.loadtest.lab.emu;

import net.hybridproxy.proxy.nativeio.NativeException;
import org.HdrHistogram.Recorder;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * One direction of an emulated link: a reader thread takes packets from the ingress TUN device, asks the
 * {@link LinkSchedule} when each may leave, and appends it to a ring of preallocated native slots; a writer thread
 * sleeps until the oldest packet is due and writes it to the egress TUN device. Single producer, single consumer,
 * FIFO: departure times never decrease, so the writer only ever waits for the head.
 *
 * <p>Memory is bounded: the ring has a fixed number of slots; a packet that finds it full is dropped and counted
 * ({@code ringDrops}), which only happens if the configured delay times the rate exceeds the ring, a sizing error
 * reported in {@link #stats()}.
 *
 * <p>The writer records how late each packet actually left compared with its due time. That lateness is the jitter
 * the emulator itself adds on top of the configured one, reported as percentiles.
 */
final class DelayLine {
    /** Writes due within this window go out in the same wake-up: sleeping for less costs more than it saves. */
    private static final long EARLY_WRITE_NANOS = 20_000;

    private final String name;
    private final Tun ingress;
    private final Tun egress;
    private final LinkSchedule schedule;
    private final int slotSize;
    private final int slots;
    private final MemorySegment ring;
    private final long[] due;
    private final int[] length;
    /** Next slot the reader fills; published with release semantics after the slot is complete. */
    private final AtomicLong tail = new AtomicLong();
    /** Next slot the writer sends. */
    private final AtomicLong head = new AtomicLong();
    private final Recorder lateness = new Recorder(3);
    private final Object configLock = new Object();
    private volatile Impairment pendingConfig;
    private volatile Boolean pendingBlackhole;
    private volatile Thread writerThread;
    private volatile boolean writerWaiting;
    private volatile long ringDrops;
    private volatile long writeErrors;
    private volatile long writtenPackets;
    private volatile long writtenBytes;

    DelayLine(String name, Tun ingress, Tun egress, LinkSchedule schedule, int slotSize, int slots, Arena arena) {
        this.name = name;
        this.ingress = ingress;
        this.egress = egress;
        this.schedule = schedule;
        this.slotSize = slotSize;
        this.slots = slots;
        this.ring = arena.allocate((long) slotSize * slots, 64);
        this.due = new long[slots];
        this.length = new int[slots];
    }

    void start() {
        writerThread = Thread.ofPlatform().daemon().name(name + "-writer").start(this::writeLoop);
        Thread.ofPlatform().daemon().name(name + "-reader").start(this::readLoop);
    }

    /** Applied by the reader before its next packet, so the schedule stays single-threaded. */
    void configure(Impairment impairment) {
        synchronized (configLock) {
            pendingConfig = impairment;
        }
    }

    void blackhole(boolean on) {
        pendingBlackhole = on;
    }

    private void readLoop() {
        try (Arena arena = Arena.ofConfined()) {
            Tun.Io io = ingress.io(arena);
            while (true) {
                long t = tail.get();
                MemorySegment slot = ring.asSlice((t % slots) * slotSize, slotSize);
                int n = io.read(slot);
                long now = System.nanoTime();
                applyPendingChanges();
                long when = schedule.admit(now, n);
                if (when == LinkSchedule.DROP) {
                    continue;
                }
                if (t - head.getAcquire() >= slots - 1) {
                    ringDrops++;
                    continue;
                }
                int index = (int) (t % slots);
                due[index] = when;
                length[index] = n;
                // A volatile store, not a release store: the read of writerWaiting below must not be reordered
                // before it (store-load), or a writer that has just announced it is parking would miss this packet
                // and leave it until the next one arrives.
                tail.set(t + 1);
                if (writerWaiting) {
                    LockSupport.unpark(writerThread);
                }
            }
        } catch (NativeException e) {
            System.err.println(name + ": reader stopped: " + e.getMessage());
            System.exit(3);
        }
    }

    private void applyPendingChanges() {
        if (pendingConfig != null) {
            synchronized (configLock) {
                schedule.configure(pendingConfig);
                pendingConfig = null;
            }
        }
        Boolean bh = pendingBlackhole;
        if (bh != null) {
            pendingBlackhole = null;
            schedule.blackhole(bh);
        }
    }

    private void writeLoop() {
        if (!Tun.setTimerSlack(1_000)) {
            System.err.println(name + ": cannot lower the timer slack; expect up to 50 µs more lateness");
        }
        try (Arena arena = Arena.ofConfined()) {
            Tun.Io io = egress.io(arena);
            while (true) {
                long h = head.get();
                if (h == tail.getAcquire()) {
                    writerWaiting = true;
                    if (h == tail.get()) {
                        LockSupport.park(this);
                    }
                    writerWaiting = false;
                    continue;
                }
                int index = (int) (h % slots);
                long wait = due[index] - System.nanoTime();
                if (wait > EARLY_WRITE_NANOS) {
                    LockSupport.parkNanos(this, wait - EARLY_WRITE_NANOS / 2);
                    continue;
                }
                long late = -wait;
                int n = length[index];
                int errno = io.write(ring.asSlice((long) index * slotSize, n), n);
                if (errno != 0) {
                    writeErrors++;
                } else {
                    writtenPackets++;
                    writtenBytes += n;
                }
                lateness.recordValue(Math.max(0, late / 1000));
                head.setRelease(h + 1);
            }
        }
    }

    /**
     * Counters and the emulator's own lateness since the previous call. Called from the control thread: the
     * schedule's counters are plain fields of the reader thread, so a value may be a packet or two old, which is fine
     * for statistics.
     */
    EmulatorStats.DirectionStats stats() {
        var h = lateness.getIntervalHistogram();
        return new EmulatorStats.DirectionStats(name, schedule.admitted(), writtenPackets, writtenBytes,
                schedule.lossDrops(), schedule.queueDrops(), schedule.blackholeDrops(), ringDrops, writeErrors,
                h.getValueAtPercentile(50), h.getValueAtPercentile(99), h.getValueAtPercentile(99.9), h.getMaxValue(),
                h.getTotalCount());
    }
}
