package net.hybridproxy.loadtest.e2e;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Paces a flood's threads together to a rate: each attempt takes the next slot and sleeps until it is due. Paced, not
 * flat out: on the lab's two cores an unpaced attacker in the same machine takes the CPU the legitimate cpe and the
 * concentrator need, which measures the test machine, not the appliance under attack.
 */
final class FloodPace {
    private final long intervalNanos;
    private final AtomicLong nextSlot;

    /** {@code perSecond} attempts a second over all threads, the first slot at {@code startNanos}. */
    FloodPace(double perSecond, long startNanos) {
        this.intervalNanos = (long) (1e9 / perSecond);
        this.nextSlot = new AtomicLong(startNanos);
    }

    /** Waits for this attempt's slot. */
    void awaitSlot() throws InterruptedException {
        long due = nextSlot.getAndAdd(intervalNanos) - System.nanoTime();
        if (due > 0) {
            Thread.sleep(due / 1_000_000, (int) (due % 1_000_000));
        }
    }
}
