package net.hybridproxy.engine.multipath.sched;

import java.util.List;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;

/**
 * {@code primary-first}: fill the primary uplinks (DSL) and spill onto overflow uplinks (LTE)
 * only while every usable primary is saturated (has no room for the next chunk), optionally
 * within a byte budget per period.
 *
 * <p>The budget counts only spill-over: bytes sent on overflow subflows while a primary was
 * usable. When no primary is usable (DSL down), overflow subflows carry everything regardless of
 * the budget: an operator's byte budget is there to bound the cost of a boost, not to cut a
 * household off during an outage. Backups follow RFC 8684's rule as everywhere else.
 */
public final class PrimaryFirstScheduler implements Scheduler {

    public static final String NAME = "primary-first";

    private final long budgetBytes;
    private final long periodNanos;
    private long periodStart = Long.MIN_VALUE;
    private long used;

    /**
     * @param budgetBytes spill-over bytes allowed per period, or {@code Long.MAX_VALUE} for no budget
     * @param periodNanos the budget period, more than zero
     */
    public PrimaryFirstScheduler(long budgetBytes, long periodNanos) {
        if (budgetBytes < 0 || periodNanos <= 0) {
            throw new IllegalArgumentException("budget " + budgetBytes + " bytes per " + periodNanos + " ns");
        }
        this.budgetBytes = budgetBytes;
        this.periodNanos = periodNanos;
    }

    /** No budget: spill whenever the primaries are saturated. */
    public PrimaryFirstScheduler() {
        this(Long.MAX_VALUE, Long.MAX_VALUE);
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int pick(List<SubflowView> subflows, int chunkBytes, long pendingBytes, long now) {
        boolean primaryUsable = false;
        for (SubflowView view : subflows) {
            primaryUsable |= view.priority() == SubflowPriority.PRIMARY;
        }
        int primary = Candidates.lowestRtt(subflows, chunkBytes, v -> v.priority() == SubflowPriority.PRIMARY);
        if (primary >= 0) {
            return primary;
        }
        if (primaryUsable) {
            rollPeriod(now);
            if (used + chunkBytes > budgetBytes) {
                return -1;
            }
            return Candidates.lowestRtt(subflows, chunkBytes, v -> v.priority() == SubflowPriority.OVERFLOW);
        }
        int overflow = Candidates.lowestRtt(subflows, chunkBytes, v -> v.priority() == SubflowPriority.OVERFLOW);
        if (overflow >= 0) {
            return overflow;
        }
        boolean overflowUsable = subflows.stream().anyMatch(v -> v.priority() == SubflowPriority.OVERFLOW);
        return overflowUsable ? -1 : Candidates.lowestRtt(subflows, chunkBytes, v -> true);
    }

    @Override
    public void sent(SubflowView chosen, int bytes, boolean primaryUsable, long now) {
        if (chosen.priority() == SubflowPriority.OVERFLOW && primaryUsable) {
            rollPeriod(now);
            used += bytes;
        }
    }

    /** Reads without rolling the period, so asking never shifts the period's boundaries. */
    @Override
    public long budgetUsed(long now) {
        return periodStart != Long.MIN_VALUE && now - periodStart < periodNanos ? used : 0;
    }

    private void rollPeriod(long now) {
        if (periodStart == Long.MIN_VALUE || now - periodStart >= periodNanos) {
            periodStart = now;
            used = 0;
        }
    }
}
