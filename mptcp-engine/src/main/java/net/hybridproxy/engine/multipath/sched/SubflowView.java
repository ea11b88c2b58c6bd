package net.hybridproxy.engine.multipath.sched;

import net.hybridproxy.engine.multipath.frame.SubflowPriority;

/**
 * What a scheduler sees of one usable subflow (attached, not stalled): everything it needs and
 * nothing it could change.
 *
 * @param id           the subflow's id
 * @param slot         its mask bit
 * @param priority     primary, overflow or backup
 * @param srttNanos    smoothed RTT (TCP's if known, else the probe RTT)
 * @param rttVarNanos  RTT variation (probe-based; 0 if unknown)
 * @param cwndBytes    congestion window, 0 if unknown
 * @param inflightBytes bytes in flight at TCP level
 * @param notSentBytes bytes queued in the socket, not yet sent
 * @param spaceBytes   bytes the engine may hand it now (after any penalty)
 * @param penalised    whether it was penalised for blocking the receive window
 */
public record SubflowView(long id, int slot, SubflowPriority priority, long srttNanos, long rttVarNanos,
                          long cwndBytes, long inflightBytes, long notSentBytes, long spaceBytes, boolean penalised) {

    /** Whether a chunk of {@code bytes} (frame header included) fits now. */
    public boolean fits(long bytes) {
        return spaceBytes >= bytes;
    }

    /** The same view after {@code bytes} more were handed to it. */
    public SubflowView afterSending(long bytes) {
        return new SubflowView(id, slot, priority, srttNanos, rttVarNanos, cwndBytes, inflightBytes,
                notSentBytes + bytes, Math.max(0, spaceBytes - bytes), penalised);
    }

    /**
     * Estimated time until a byte handed over now arrives: the queue ahead of it drained at the
     * rate the window allows, plus half an RTT. Used by the heterogeneity-aware scheduler.
     */
    public double deliveryDelayNanos() {
        double rate = cwndBytes > 0 ? (double) cwndBytes / Math.max(1, srttNanos) : 0;
        double queueing = rate > 0 ? notSentBytes / rate : 0;
        return queueing + srttNanos / 2.0;
    }
}
