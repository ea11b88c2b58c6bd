package net.hybridproxy.proxy.metrics;

import net.hybridproxy.admin.ApplianceStatus;

import java.util.List;

/**
 * What an engine's periodic subflow sampling publishes for the meters and the status API: each engine reads its
 * own state in its own way (the kernel engine with MPTCP_FULL_INFO on a sampler thread, the userspace engine on
 * each session's event loop) and readers only ever see the latest finished pass.
 */
public interface SubflowSampler {
    /** The latest pass. */
    SubflowSnapshot snapshot();

    /** Data the multipath level sent again, typically on another subflow; cumulative. */
    long reinjectedBytes();

    /** Connections or sessions whose read failed; cumulative. */
    long sampleErrors();

    /**
     * The latest pass: when, the busiest subflows, and what it cost.
     *
     * @param connections connections (kernel engine) or sessions (userspace engine) read in that pass
     */
    record SubflowSnapshot(long sampledAtMillis, List<ApplianceStatus.SubflowStatusView> subflows, int subflowsOmitted,
                           int connections, long durationNanos) {
        public static SubflowSnapshot empty(long nowMillis) {
            return new SubflowSnapshot(nowMillis, List.of(), 0, 0, 0);
        }
    }
}
