package net.hybridproxy.engine.multipath.connection;

import java.util.Arrays;

/**
 * Every timer of a session in one table: a fixed array indexed by {@link SessionTimer}, {@link #next()} the earliest
 * (quinn-proto's {@code connection/timer.rs}). The session keeps each entry current after every call and the
 * adapter arms one OS timer for {@link Session#pollTimeout()}, which is {@link #next()}.
 */
final class TimerTable {

    /** What a session waits for. */
    enum SessionTimer {
        /** Concentrator: a session without subflows is closed when this expires (its orphan timeout). */
        ORPHAN,
        /** The earliest probe to send, probe to declare unanswered (stall), or stalled subflow to close. */
        PROBES,
        /** Cpe: the path manager's next reconnect attempt. */
        RECONNECT,
        /** Cpe: the earliest CAPABLE_SYN or JOIN_SYN to give up as unanswered. */
        HANDSHAKE,
        /** Version 3: the earliest large DATA frame being read that becomes overdue (Session#LARGE_FRAME_OVERDUE_NANOS). */
        LARGE_FRAME
    }

    private static final SessionTimer[] TIMERS = SessionTimer.values();

    private final long[] deadlines = new long[TIMERS.length];

    TimerTable() {
        Arrays.fill(deadlines, Long.MAX_VALUE);
    }

    void set(SessionTimer timer, long at) {
        deadlines[timer.ordinal()] = at;
    }

    void stop(SessionTimer timer) {
        deadlines[timer.ordinal()] = Long.MAX_VALUE;
    }

    long get(SessionTimer timer) {
        return deadlines[timer.ordinal()];
    }

    boolean isSet(SessionTimer timer) {
        return deadlines[timer.ordinal()] != Long.MAX_VALUE;
    }

    /** Whether {@code timer} is set and due at {@code now}. */
    boolean expired(SessionTimer timer, long now) {
        long at = deadlines[timer.ordinal()];
        return at != Long.MAX_VALUE && now >= at;
    }

    /** The earliest deadline, {@code Long.MAX_VALUE} when nothing is set. */
    long next() {
        long next = Long.MAX_VALUE;
        for (long at : deadlines) {
            next = Math.min(next, at);
        }
        return next;
    }

    void stopAll() {
        Arrays.fill(deadlines, Long.MAX_VALUE);
    }
}
