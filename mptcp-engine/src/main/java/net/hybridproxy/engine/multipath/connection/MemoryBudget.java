package net.hybridproxy.engine.multipath.connection;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The memory all sessions of a process may hold together, in bytes of heap actually allocated (buffers, their
 * object headers and the bookkeeping around them, see {@link MemoryCost}), not in payload bytes.
 *
 * <p>The one part of the engine shared between threads (sessions run on different event loops), so it is a
 * lock-free counter. Each session also has a budget of its own ({@link SessionConfig#sessionMemoryBudget()}); a
 * reservation must fit both. What does not fit is refused or slowed: a stream's writes are taken only while its
 * send buffer can grow, a window opens only as far as memory allows, a new stream is refused, and a peer whose
 * frames cost more than the window it was given (one-byte frames) has that stream reset.
 */
public final class MemoryBudget {

    private final long limit;
    private final AtomicLong used = new AtomicLong();

    /** @param limit bytes all sessions may hold together */
    public MemoryBudget(long limit) {
        if (limit < 1) {
            throw new IllegalArgumentException("memory budget " + limit + " must be positive");
        }
        this.limit = limit;
    }

    /** A budget that never refuses (tests, tools). */
    public static MemoryBudget unlimited() {
        return new MemoryBudget(Long.MAX_VALUE / 4);
    }

    /** Reserves {@code bytes} if they fit. */
    boolean tryReserve(long bytes) {
        while (true) {
            long now = used.get();
            if (now + bytes > limit) {
                return false;
            }
            if (used.compareAndSet(now, now + bytes)) {
                return true;
            }
        }
    }

    /** Reserves {@code bytes} whether or not they fit (memory already allocated). */
    void force(long bytes) {
        used.addAndGet(bytes);
    }

    void release(long bytes) {
        used.addAndGet(-bytes);
    }

    /** Bytes left before the limit (0 when over it). */
    long available() {
        return Math.max(0, limit - used.get());
    }

    /** Bytes reserved by all sessions. */
    public long used() {
        return used.get();
    }

    public long limit() {
        return limit;
    }
}
