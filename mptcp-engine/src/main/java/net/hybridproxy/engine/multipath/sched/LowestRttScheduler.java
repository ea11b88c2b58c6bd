package net.hybridproxy.engine.multipath.sched;

import java.util.List;

/**
 * {@code lowest-rtt}, the default: the subflow with the lowest smoothed RTT among those with room,
 * as the Linux kernel's default scheduler does. Backups are used only when nothing else is.
 */
public final class LowestRttScheduler implements Scheduler {

    public static final String NAME = "lowest-rtt";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int pick(List<SubflowView> subflows, int chunkBytes, long pendingBytes, long now) {
        return Candidates.lowestRttFitting(subflows, chunkBytes);
    }
}
