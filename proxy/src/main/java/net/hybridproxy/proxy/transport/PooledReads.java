package net.hybridproxy.proxy.transport;

import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.RecvByteBufAllocator;

/**
 * Read buffers that Netty's pooled allocator can serve from its pool. Netty 4.2's adaptive allocator pools buffers
 * up to its largest size class, 16 896 bytes; above that it pools them only when it is not in its small-memory
 * layout, which it chooses whenever the maximum heap is 512 MiB or less ({@code io.netty.allocator.lowMemory}'s
 * default) — always, with the launcher's heap of at most 128 MiB. A larger buffer is then malloc'd, registered with a
 * cleaner and freed, one by one. Netty's default receive sizing grows reads to 64 KiB, so at 70 Mbit/s a fifth of
 * the cpe's event-loop time went to {@code allocateFallback}, malloc and the cleaner (docs/decisions.md, 2026-11-30,
 * "reads the pool can serve"). Reads capped at a pooled size cost a few more read calls on fast links (Netty's read
 * loop still takes up to 16 per wake-up), never more wake-ups.
 */
public final class PooledReads {
    /** Netty's largest pooled size class (its small-memory layout pools nothing larger). */
    public static final int LARGEST_POOLED = 16_896;
    /** The largest read of a relayed socket: the adaptive sizing's largest step within {@link #LARGEST_POOLED}. */
    public static final int RELAY_MAX = 16 * 1024;

    private static final RecvByteBufAllocator RELAY = new AdaptiveRecvByteBufAllocator(64, 2048, RELAY_MAX);
    private static final RecvByteBufAllocator FRAMES = new FixedRecvByteBufAllocator(LARGEST_POOLED);

    private PooledReads() {
    }

    /**
     * For relayed sockets and stream channels: sized to what was read lately (Netty's adaptive sizing, so a
     * buffer queued for a slow writer holds little more than its bytes), at most {@link #RELAY_MAX}.
     */
    public static RecvByteBufAllocator relay() {
        return RELAY;
    }

    /**
     * For the userspace engine's subflows: one whole frame (at most 16 400 bytes) per read, which is what a
     * subflow's receive low-water mark waits for (a 16 KiB adaptive buffer would split every full DATA frame
     * into two reads). Subflow reads are handed to the session and released at once, so the fixed size holds
     * nothing.
     */
    public static RecvByteBufAllocator frames() {
        return FRAMES;
    }
}
