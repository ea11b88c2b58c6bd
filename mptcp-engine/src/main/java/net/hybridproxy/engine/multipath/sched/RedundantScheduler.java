package net.hybridproxy.engine.multipath.sched;

import java.util.List;

/**
 * {@code redundant}: every chunk goes on the lowest-RTT subflow with room, and a copy on every
 * other usable subflow; whichever arrives first is delivered, the receiver drops the rest by data
 * sequence number. Trades bandwidth for latency and loss resilience: for small latency-critical
 * flows (gaming, VoIP signalling), never for bulk.
 */
public final class RedundantScheduler implements Scheduler {

    public static final String NAME = "redundant";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int pick(List<SubflowView> subflows, int chunkBytes, long pendingBytes, long now) {
        return Candidates.lowestRttFitting(subflows, chunkBytes);
    }

    @Override
    public boolean redundant() {
        return true;
    }
}
