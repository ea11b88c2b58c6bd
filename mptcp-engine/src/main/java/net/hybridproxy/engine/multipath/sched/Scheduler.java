package net.hybridproxy.engine.multipath.sched;

import java.util.List;

/**
 * Decides which subflow carries the next chunk of stream data. The counterpart of Linux
 * {@code net/mptcp/sched.c}'s {@code get_send}.
 *
 * <p>The session asks once per chunk, with views of the usable subflows (attached, not stalled)
 * whatever their space; a scheduler returns one that has room for {@code chunkBytes}, or -1 to
 * wait (nothing has room, or waiting for a better subflow beats using a worse one now). A
 * scheduler instance belongs to one session and may keep state (round-robin position, budgets);
 * it never sees a clock other than {@code now}.
 */
public interface Scheduler {

    /** The name used in configuration. */
    String name();

    /**
     * @param subflows     the usable subflows, in a stable order
     * @param chunkBytes   the size of the chunk, frame header included
     * @param pendingBytes all bytes waiting to be scheduled in the session (for ECF's estimate)
     * @param now          the current time, nanoseconds
     * @return the index in {@code subflows} to send on, or -1 to wait
     */
    int pick(List<SubflowView> subflows, int chunkBytes, long pendingBytes, long now);

    /** Called after a chunk of {@code bytes} went on {@code chosen}, for schedulers that keep budgets. */
    default void sent(SubflowView chosen, int bytes, boolean primaryUsable, long now) {
    }

    /** Overflow bytes counted against a budget in the period that contains {@code now}; 0 without a budget. */
    default long budgetUsed(long now) {
        return 0;
    }

    /** Whether every chunk should also be copied to every other usable subflow. */
    default boolean redundant() {
        return false;
    }
}
