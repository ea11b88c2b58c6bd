package net.hybridproxy.engine.multipath.pm;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;

/**
 * The cpe's path manager: keeps the configured number of warm subflows over every uplink and
 * re-establishes lost ones with exponential backoff. The counterpart of Linux
 * {@code net/mptcp/pm_netlink.c}'s in-kernel path manager, reduced to decisions: it never opens a
 * socket, it tells the session which uplink needs a subflow and when.
 *
 * <p>Backoff: the first retry after a failure waits {@code initialBackoff}, each further failure
 * doubles the wait up to {@code maxBackoff}. A subflow that stayed attached for
 * {@code stableAfter} clears its uplink's failure count, so a link that flaps once a day
 * reconnects fast, and a dead link is retried only every {@code maxBackoff}.
 */
public final class PathManager {

    private static final class ManagedUplink {
        final Uplink uplink;
        SubflowPriority priority;
        boolean paused;
        int open;
        int failures;
        long nextAttemptAt;

        ManagedUplink(Uplink uplink) {
            this.uplink = uplink;
            this.priority = uplink.priority();
        }
    }

    private final Map<String, ManagedUplink> uplinks = new LinkedHashMap<>();
    private final long initialBackoff;
    private final long maxBackoff;
    private final long stableAfter;

    /**
     * @param uplinks        the cpe's uplinks; names and address ids distinct
     * @param initialBackoff nanoseconds before the first retry
     * @param maxBackoff     nanoseconds between retries at most
     * @param stableAfter    nanoseconds attached after which a subflow's uplink counts as healthy again
     */
    public PathManager(List<Uplink> uplinks, long initialBackoff, long maxBackoff, long stableAfter) {
        if (uplinks.isEmpty()) {
            throw new IllegalArgumentException("a cpe needs at least one uplink");
        }
        boolean[] ids = new boolean[256];
        for (Uplink uplink : uplinks) {
            if (this.uplinks.putIfAbsent(uplink.name(), new ManagedUplink(uplink)) != null) {
                throw new IllegalArgumentException("two uplinks are named '" + uplink.name() + "'");
            }
            if (ids[uplink.addressId()]) {
                throw new IllegalArgumentException("two uplinks have address id " + uplink.addressId());
            }
            ids[uplink.addressId()] = true;
        }
        if (initialBackoff <= 0 || maxBackoff < initialBackoff || stableAfter < 0) {
            throw new IllegalArgumentException("backoff " + initialBackoff + ".." + maxBackoff + ", stable after "
                    + stableAfter);
        }
        this.initialBackoff = initialBackoff;
        this.maxBackoff = maxBackoff;
        this.stableAfter = stableAfter;
    }

    /** The uplinks that need one more subflow now; the caller opens one per entry and calls {@link #opening}. */
    public List<Uplink> due(long now) {
        List<Uplink> due = new ArrayList<>();
        for (ManagedUplink state : uplinks.values()) {
            if (!state.paused && state.open < state.uplink.subflows() && now >= state.nextAttemptAt) {
                due.add(state.uplink);
            }
        }
        return due;
    }

    /** A subflow over {@code uplink} is being opened. */
    public void opening(String uplink) {
        state(uplink).open++;
    }

    /**
     * A subflow over {@code uplink} is gone.
     *
     * @param attachedFor how long it was attached, nanoseconds (negative if it never was)
     */
    public void closed(String uplink, long attachedFor, long now) {
        ManagedUplink state = state(uplink);
        state.open = Math.max(0, state.open - 1);
        if (attachedFor >= stableAfter) {
            state.failures = 0;
        }
        long backoff = initialBackoff;
        for (int i = 0; i < state.failures && backoff < maxBackoff; i++) {
            backoff = Math.min(maxBackoff, backoff * 2);
        }
        state.failures++;
        state.nextAttemptAt = now + backoff;
    }

    /**
     * A subflow over {@code uplink} that was being opened is given up for a reason that is no failure of the
     * uplink (its join goes elsewhere): it may be replaced at once.
     */
    public void released(String uplink) {
        ManagedUplink state = state(uplink);
        state.open = Math.max(0, state.open - 1);
    }

    /** The earliest time an uplink will be due, or {@code Long.MAX_VALUE}. */
    public long nextTimeout() {
        long next = Long.MAX_VALUE;
        for (ManagedUplink state : uplinks.values()) {
            if (!state.paused && state.open < state.uplink.subflows()) {
                next = Math.min(next, state.nextAttemptAt);
            }
        }
        return next;
    }

    /** The configured uplink of that name. */
    public Uplink uplink(String name) {
        return state(name).uplink;
    }

    /** The priority new subflows over {@code uplink} start with: configured, or changed by the operator. */
    public SubflowPriority priority(String uplink) {
        return state(uplink).priority;
    }

    public void priority(String uplink, SubflowPriority priority) {
        state(uplink).priority = Objects.requireNonNull(priority, "priority");
    }

    /** A paused uplink gets no new subflow (the operator drains or disables it); its open ones are left alone. */
    public void paused(String uplink, boolean paused) {
        state(uplink).paused = paused;
    }

    /** Consecutive failures of an uplink since it was last stable. */
    public int failures(String uplink) {
        return state(uplink).failures;
    }

    private ManagedUplink state(String name) {
        return Objects.requireNonNull(uplinks.get(name), () -> "no uplink named '" + name + "'");
    }
}
