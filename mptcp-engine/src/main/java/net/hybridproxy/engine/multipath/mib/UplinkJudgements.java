package net.hybridproxy.engine.multipath.mib;

/**
 * What a session judged one uplink's subflows to be, by the rule that fired, cumulative since the session started
 * (docs/userspace-protocol.md §7). The session-wide {@link MibCounter#LATE_REINJECTIONS},
 * {@link MibCounter#HOLE_REINJECTIONS} and {@link MibCounter#SUBFLOW_STALLS} say that a rule fired; these say on
 * which path and which rule, which is what an operator (or a benchmark) needs to tell a misjudged healthy path from
 * a collapsed one. Not thread-safe: owned by the session's thread, like {@link Mib}.
 */
public final class UplinkJudgements {

    /** The rule that fired; a fixed vocabulary (it becomes a metric label). */
    public enum Rule {
        /** Late: it held undelivered DATA, and its TCP connection delivered nothing and heard nothing for too long. */
        SILENT,
        /** Late: the segment in-order delivery waits for was overdue on it and sat in its queue (a collapsed rate). */
        HEAD_OVERDUE,
        /** The segment in-order delivery waits for was overdue on it as a hole its TCP repairs: reinjected alone. */
        HOLE,
        /**
         * The segment in-order delivery waits for was overdue on it behind a queue while it delivered at its usual
         * rate (a queue grew, the rate did not collapse): reinjected alone.
         */
        HEAD_QUEUED,
        /** A probe went unanswered for the stall timeout. */
        STALL,
        /**
         * Its delivery rate collapsed (several samples below a quarter of its peak, still acknowledging) while
         * another path delivered faster: what blocked in-order delivery on it moved, and it gets little new data
         * until its rate recovers. Acts with late reinjection.
         */
        COLLAPSED,
        /**
         * After a collapse its queue drained (RTT near its minimum) but its rate stayed low while bytes waited in its
         * socket with room in its window: its TCP sender holds the collapsed rate on its own (Linux BBR's policer
         * model), and the adapter was asked to restart its congestion control
         * ({@code SessionEvent.SubflowRestartCongestionControl}).
         */
        SENDER_LIMITED
    }

    private final long[] counts = new long[Rule.values().length];

    public void record(Rule rule) {
        counts[rule.ordinal()]++;
    }

    public long count(Rule rule) {
        return counts[rule.ordinal()];
    }
}
