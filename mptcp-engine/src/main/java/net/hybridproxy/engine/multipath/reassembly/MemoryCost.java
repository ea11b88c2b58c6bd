package net.hybridproxy.engine.multipath.reassembly;

/**
 * What holding bytes really costs on the heap of a 64-bit JVM with compressed references (the default below
 * 32 GiB of heap): a {@code byte[]} has a 16-byte header and is padded to 8 bytes; a {@code TreeMap} entry is
 * 40 bytes and its boxed {@code Long} key 16; an {@code ArrayDeque} slot 4. A one-byte piece held out of order
 * therefore costs 24 + 56 = 80 bytes: the budget counts the 80, not the 1.
 */
public final class MemoryCost {

    /** A TreeMap entry and its boxed Long key. */
    public static final int TREE_ENTRY = 40 + 16;

    private MemoryCost() {
    }

    /** Heap bytes of a {@code byte[]} of {@code length}. */
    public static long array(long length) {
        return (16 + length + 7) & ~7L;
    }
}
