package net.hybridproxy.engine.admission;

import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * At most {@code limit} held permits per key (a source address, a cpe key id, a session's key): the unit of
 * fairness. One key at its limit is refused while every other key is unaffected, which a single global counter
 * cannot give. Keys with no permit held take no memory, so the map holds only keys in use.
 *
 * <p>Thread-safe and lock-free for distinct keys (one {@link ConcurrentHashMap} bin per key). A {@link Permit} is
 * released at most once however often {@link Permit#release()} is called, from whichever thread: callers can release
 * on every path that might end the holder's life without counting how many of them ran.
 *
 * @param <K> the key; equal keys share a quota
 */
public final class Quota<K> {
    private final String name;
    private final int limit;
    private final ConcurrentHashMap<K, Integer> held = new ConcurrentHashMap<>();

    /**
     * @param name  what is counted, for messages ("pending Convert headers per source")
     * @param limit permits per key, at least 1
     */
    public Quota(String name, int limit) {
        this.name = Objects.requireNonNull(name, "name");
        if (limit < 1) {
            throw new IllegalArgumentException(name + ": limit " + limit + " must be at least 1");
        }
        this.limit = limit;
    }

    /** A permit for {@code key}, or empty when {@code key} already holds {@code limit} permits. */
    public Optional<Permit> tryAcquire(K key) {
        Objects.requireNonNull(key, "key");
        boolean[] granted = {false};
        held.compute(key, (k, count) -> {
            int now = count == null ? 0 : count;
            if (now >= limit) {
                return count;
            }
            granted[0] = true;
            return now + 1;
        });
        return granted[0] ? Optional.of(new Permit(key)) : Optional.empty();
    }

    /** Permits {@code key} holds right now. */
    public int held(K key) {
        return held.getOrDefault(key, 0);
    }

    /** Keys holding at least one permit right now. */
    int keysInUse() {
        return held.size();
    }

    public int limit() {
        return limit;
    }

    public String name() {
        return name;
    }

    private void release(K key) {
        held.computeIfPresent(key, (k, count) -> count <= 1 ? null : count - 1);
    }

    @Override
    public String toString() {
        return name + " (limit " + limit + ")";
    }

    /** One unit of a key's quota; {@link #release()} returns it, once. */
    public final class Permit {
        private final K key;
        private final AtomicBoolean released = new AtomicBoolean();

        private Permit(K key) {
            this.key = key;
        }

        public K key() {
            return key;
        }

        /** Returns the permit to its key's quota; later calls do nothing. */
        public void release() {
            if (released.compareAndSet(false, true)) {
                Quota.this.release(key);
            }
        }
    }
}
