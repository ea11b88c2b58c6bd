package net.hybridproxy.engine.multipath.mib;

import java.util.EnumMap;
import java.util.Map;

/** A set of {@link MibCounter}s. Not thread-safe: one per session or endpoint, read by its thread. */
public final class Mib {

    private final long[] values = new long[MibCounter.values().length];

    public void increment(MibCounter counter) {
        values[counter.ordinal()]++;
    }

    public void add(MibCounter counter, long amount) {
        values[counter.ordinal()] += amount;
    }

    public long get(MibCounter counter) {
        return values[counter.ordinal()];
    }

    /** A copy of every counter, for export. */
    public Map<MibCounter, Long> snapshot() {
        Map<MibCounter, Long> copy = new EnumMap<>(MibCounter.class);
        for (MibCounter counter : MibCounter.values()) {
            copy.put(counter, values[counter.ordinal()]);
        }
        return copy;
    }
}
