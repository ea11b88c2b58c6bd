package net.hybridproxy.loadtest.lab.emu;

import java.util.random.RandomGenerator;

/**
 * The decision core of one link direction, with no threads, clocks or I/O: given the arrival time and size of a
 * packet it says when the packet leaves the far end of the link, or that it is dropped. Times are nanoseconds on
 * the caller's monotonic clock, passed in as {@code now}.
 *
 * <p>The model, in order: a blackhole drops everything; random loss drops a packet with the configured
 * probability; a rate limiter serialises packets back to back at line rate behind a FIFO of
 * {@link Impairment#effectiveQueueLimit()} bytes, tail-dropping what does not fit; then the packet propagates for
 * the one-way delay plus a uniformly distributed jitter. Departure times never decrease, so jitter never reorders.
 *
 * <p>Not thread-safe: one reader thread owns it. Configuration changes take effect from the next packet; packets
 * already scheduled keep their times, as on a real line whose delay changes under traffic.
 */
public final class LinkSchedule {
    /** Returned by {@link #admit} for a dropped packet. */
    public static final long DROP = Long.MIN_VALUE;

    private final RandomGenerator random;
    private Impairment impairment;
    private boolean blackhole;
    /** When the rate limiter finishes serialising the last admitted packet. */
    private long serialisedUntil = Long.MIN_VALUE;
    private long lastDue = Long.MIN_VALUE;

    private long admitted;
    private long admittedBytes;
    private long lossDrops;
    private long queueDrops;
    private long blackholeDrops;

    public LinkSchedule(Impairment impairment, RandomGenerator random) {
        this.impairment = impairment;
        this.random = random;
    }

    public void configure(Impairment next) {
        this.impairment = next;
    }

    public Impairment impairment() {
        return impairment;
    }

    public void blackhole(boolean on) {
        this.blackhole = on;
    }

    public boolean blackholed() {
        return blackhole;
    }

    /** When a packet of {@code bytes} arriving at {@code now} leaves the link, or {@link #DROP}. */
    public long admit(long now, int bytes) {
        if (blackhole) {
            blackholeDrops++;
            return DROP;
        }
        Impairment imp = impairment;
        if (imp.lossPpm() > 0 && random.nextLong(1_000_000) < imp.lossPpm()) {
            lossDrops++;
            return DROP;
        }
        long departure;
        if (imp.rateLimited()) {
            long start = Math.max(now, serialisedUntil);
            long queuedBytes = start > now ? (start - now) * imp.rateKbit() / 8_000_000 : 0;
            if (queuedBytes + bytes > imp.effectiveQueueLimit()) {
                queueDrops++;
                return DROP;
            }
            // kbit/s -> ns per byte: 8 bits * 1e9 ns / (rate * 1000 bit/s)
            departure = start + bytes * 8_000_000L / imp.rateKbit();
            serialisedUntil = departure;
        } else {
            departure = now;
        }
        long delay = imp.delayMicros() * 1000;
        if (imp.jitterMicros() > 0) {
            long j = imp.jitterMicros() * 1000;
            delay = Math.max(0, delay + random.nextLong(-j, j + 1));
        }
        long due = Math.max(departure + delay, lastDue);
        lastDue = due;
        admitted++;
        admittedBytes += bytes;
        return due;
    }

    public long admitted() {
        return admitted;
    }

    public long lossDrops() {
        return lossDrops;
    }

    public long queueDrops() {
        return queueDrops;
    }

    public long blackholeDrops() {
        return blackholeDrops;
    }
}
