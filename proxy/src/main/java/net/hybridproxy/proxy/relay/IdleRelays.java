package net.hybridproxy.proxy.relay;

import io.netty.channel.EventLoop;
import io.netty.util.concurrent.ScheduledFuture;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The relays of one event loop that share an idle timeout, least recently active first, and the one timer that
 * closes those silent for the whole timeout. Replaces an {@code IdleStateHandler} on each side of every relay: two
 * handlers, two scheduled tasks and, because that handler watches writes through their promises, a promise and a
 * listener for every write the relay made. Here a relay's activity is a read on either side (what one side reads
 * the other writes) or its output draining, and it costs a clock read per read and moving the relay to the tail
 * of a list.
 *
 * <p>The list is intrusive (the links live in {@link RelaySession}) so that a relay that ends leaves it at once; the
 * timer is due when the head, the least recently active relay, reaches the timeout, and an early fire (the head was
 * active meanwhile) just re-arms for the new head. Only the loop's own thread touches any of it.
 */
final class IdleRelays {
    /** Per event-loop thread: usually one entry, the configured {@code relay.idle-timeout}. */
    private static final PerLoopAndDuration<IdleRelays> BY_TIMEOUT = new PerLoopAndDuration<>(IdleRelays::new);

    /**
     * How long a relay is silent before its sockets are checked for a kernel MPTCP receive path that stopped for good
     * ({@link RelaySession#unblockStalledReceive}). A relay is checked once or twice per silence, while it has been
     * silent between this and three times this: a stopped receive path makes the relay silent from the moment it
     * stops, and a relay silent for longer has been checked already. Short next to any client's own timeout (the lab's
     * clients give up after 30 s), long next to the gaps of a transfer that is merely slow.
     */
    static final long STALL_CHECK_NANOS = TimeUnit.SECONDS.toNanos(5);

    private final EventLoop loop;
    private final long timeoutNanos;
    private RelaySession head;
    private RelaySession tail;
    private ScheduledFuture<?> check;
    private ScheduledFuture<?> stallCheck;

    private IdleRelays(EventLoop loop, long timeoutNanos) {
        this.loop = loop;
        this.timeoutNanos = timeoutNanos;
    }

    /** The list for {@code timeoutNanos} on {@code loop}; call on that loop. */
    static IdleRelays on(EventLoop loop, long timeoutNanos) {
        return BY_TIMEOUT.on(loop, timeoutNanos);
    }

    /** Starts watching a new relay, active now. */
    void add(RelaySession session, long nowNanos) {
        session.lastActiveNanos = nowNanos;
        session.idleList = this;
        append(session);
        if (check == null) {
            arm(nowNanos);
        }
        if (stallCheck == null) {
            stallCheck = loop.schedule(this::checkStalls, STALL_CHECK_NANOS, TimeUnit.NANOSECONDS);
        }
    }

    /** The relay was active at {@code nowNanos}: it moves to the tail. */
    void touched(RelaySession session, long nowNanos) {
        session.lastActiveNanos = nowNanos;
        if (tail != session) {
            unlink(session);
            append(session);
        }
    }

    /** The relay ended: it leaves the list (the timer, if it is the last, finds the list empty and stops). */
    void remove(RelaySession session) {
        if (session.idleList == this) {
            unlink(session);
            session.idleList = null;
        }
    }

    private void expire() {
        check = null;
        long now = System.nanoTime();
        RelaySession oldest;
        while ((oldest = head) != null && now - oldest.lastActiveNanos >= timeoutNanos) {
            remove(oldest);
            oldest.idle();
        }
        if (head != null) {
            arm(now);
        }
    }

    /**
     * Checks the relays silent for one to three check periods, newest first from the tail (the list is in order of
     * last activity, so the walk stops at the first older one), then re-arms while any relay is left.
     */
    private void checkStalls() {
        stallCheck = null;
        long now = System.nanoTime();
        List<RelaySession> silent = new ArrayList<>();
        for (RelaySession s = tail; s != null; s = s.idlePrevious) {
            long silence = now - s.lastActiveNanos;
            if (silence >= 3 * STALL_CHECK_NANOS) {
                break;
            }
            if (silence >= STALL_CHECK_NANOS) {
                silent.add(s);
            }
        }
        // Collected first: unblocking asks for reads, which may move a relay in the list.
        silent.forEach(RelaySession::unblockStalledReceive);
        if (head != null) {
            stallCheck = loop.schedule(this::checkStalls, STALL_CHECK_NANOS, TimeUnit.NANOSECONDS);
        }
    }

    private void arm(long nowNanos) {
        long due = head.lastActiveNanos + timeoutNanos - nowNanos;
        check = loop.schedule(this::expire, Math.max(0, due), TimeUnit.NANOSECONDS);
    }

    private void append(RelaySession session) {
        session.idlePrevious = tail;
        session.idleNext = null;
        if (tail == null) {
            head = session;
        } else {
            tail.idleNext = session;
        }
        tail = session;
    }

    private void unlink(RelaySession session) {
        RelaySession previous = session.idlePrevious;
        RelaySession next = session.idleNext;
        if (previous == null) {
            head = next;
        } else {
            previous.idleNext = next;
        }
        if (next == null) {
            tail = previous;
        } else {
            next.idlePrevious = previous;
        }
        session.idlePrevious = null;
        session.idleNext = null;
    }
}
