package net.hybridproxy.engine.multipath.connection;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
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
 *
 * <p>On a concentrator the sessions of one cpe key also share a slice of the process budget ({@link #forKey}), so
 * that one subscriber (or one leaked key) running many sessions at their budget cannot leave the others none: a
 * reservation must then fit the session's budget, its key's share and the process budget.
 */
public final class MemoryBudget {

    private final long limit;
    private final AtomicLong used = new AtomicLong();
    /** The process budget this key share also reserves from; null for the process budget itself. */
    private final MemoryBudget parent;
    private final long keyShare;
    /** One share per key that authenticated: bounded by the configured keys. */
    private final ConcurrentMap<String, MemoryBudget> byKey = new ConcurrentHashMap<>();

    /** @param limit bytes all sessions may hold together; each key may hold all of it */
    public MemoryBudget(long limit) {
        this(limit, limit);
    }

    /**
     * @param limit    bytes all sessions may hold together
     * @param keyShare bytes the sessions of one cpe key may hold together (at most {@code limit})
     */
    public MemoryBudget(long limit, long keyShare) {
        this(limit, keyShare, null);
    }

    private MemoryBudget(long limit, long keyShare, MemoryBudget parent) {
        if (limit < 1 || keyShare < 1) {
            throw new IllegalArgumentException("memory budget " + limit + " and key share " + keyShare
                    + " must be positive");
        }
        this.limit = limit;
        this.keyShare = Math.min(keyShare, limit);
        this.parent = parent;
    }

    /** The share of this process budget that the sessions of cpe key {@code keyId} hold together. */
    MemoryBudget forKey(String keyId) {
        if (parent != null) {
            throw new IllegalStateException("a key's share has no shares of its own");
        }
        return byKey.computeIfAbsent(keyId, id -> new MemoryBudget(keyShare, keyShare, this));
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
                if (parent != null && !parent.tryReserve(bytes)) {
                    used.addAndGet(-bytes);
                    return false;
                }
                return true;
            }
        }
    }

    /** Reserves {@code bytes} whether or not they fit (memory already allocated). */
    void force(long bytes) {
        used.addAndGet(bytes);
        if (parent != null) {
            parent.force(bytes);
        }
    }

    void release(long bytes) {
        used.addAndGet(-bytes);
        if (parent != null) {
            parent.release(bytes);
        }
    }

    /** Bytes left before the limit, or before the process budget's when that is nearer (0 when over either). */
    long available() {
        long own = Math.max(0, limit - used.get());
        return parent == null ? own : Math.min(own, parent.available());
    }

    /** Bytes reserved by all sessions (of this key, for a key's share). */
    public long used() {
        return used.get();
    }

    public long limit() {
        return limit;
    }
}
