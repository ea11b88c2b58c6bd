package net.hybridproxy.engine.multipath.pm;

/**
 * When to probe a subflow and when to give up on it: the health half of the path manager.
 *
 * <p>A subflow is probed every {@code activeInterval} while the session has streams, every
 * {@code idleInterval} otherwise (a metered LTE uplink should not pay for probes nobody needs).
 * A probe unanswered for the stall timeout marks the subflow stalled; the timeout is
 * {@code multiplier} times the smoothed probe RTT plus four times its variation (RFC 6298's
 * shape), clamped to [{@code minStall}, {@code maxStall}], so a 15 ms DSL line is declared
 * stalled in {@code minStall} and a loaded 70 ms LTE line is not declared stalled merely for
 * being loaded. With the defaults (100 ms, 200..700 ms) a blackhole is detected in at most
 * 0.8 s, well under a second.
 *
 * @param activeInterval nanoseconds between probes while streams exist
 * @param idleInterval   nanoseconds between probes otherwise
 * @param multiplier     stall timeout in smoothed RTTs
 * @param minStall       lower clamp of the stall timeout, nanoseconds
 * @param maxStall       upper clamp of the stall timeout, nanoseconds
 * @param closeAfter     nanoseconds stalled after which the subflow is closed and re-established
 */
public record ProbePolicy(long activeInterval, long idleInterval, int multiplier, long minStall, long maxStall,
                          long closeAfter) {

    public ProbePolicy {
        if (activeInterval <= 0 || idleInterval < activeInterval || multiplier < 1 || minStall <= 0
                || maxStall < minStall || closeAfter < maxStall) {
            throw new IllegalArgumentException("probe policy " + activeInterval + ", " + idleInterval + ", "
                    + multiplier + ", " + minStall + ".." + maxStall + ", close after " + closeAfter);
        }
    }

    /** The stall timeout for a subflow with this smoothed probe RTT and variation (0 if unknown). */
    public long stallTimeout(long smoothedRtt, long rttVar) {
        if (smoothedRtt <= 0) {
            return maxStall;
        }
        long timeout = multiplier * smoothedRtt + 4 * rttVar;
        return Math.max(minStall, Math.min(maxStall, timeout));
    }
}
