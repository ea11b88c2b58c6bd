package net.hybridproxy.proxy.upstream;

import net.hybridproxy.proxy.config.AppConfig.HealthCheck;
import net.hybridproxy.proxy.config.AppConfig.UpstreamConcentrator;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Which of the cpe's concentrators new connections go to: the health of each (from active probes and from what
 * connections and sessions report) and the choice that follows from it. Deterministic: no clock, no sockets; every
 * method takes {@code now} (nanoseconds on any monotonic scale) and returns the switch it caused, if any.
 *
 * <p>The rules, in the order an operator reads them (docs/operations.md, "Backup concentrators"):
 * <ul>
 *   <li>A concentrator is <em>up</em> or <em>down</em>. All start up, so a cpe starts on its primary at once.</li>
 *   <li>{@code failures} consecutive failed probes or timed-out connections mark it down. A refused connection
 *       (an RST to the SYN: nothing listens there, the process is gone) marks it down at once: waiting for a
 *       second proof would only fail more clients.</li>
 *   <li>{@code failures} consecutive connections whose Convert reply never came ({@code cpe.convert-reply-timeout})
 *       mark it down too. Only a Convert reply clears that count, not a connect or a probe: a hung process's kernel
 *       still completes both (its listen backlog accepts), so they prove nothing about it.</li>
 *   <li>{@code recoveries} consecutive successful probes mark a down concentrator up; a successful connection
 *       only clears the failure count (it cannot tell a flapping concentrator from a healthy one). A single
 *       concentrator is probed only while it is down ({@link #probeTargets}).</li>
 *   <li>When the active concentrator is down, new connections go at once to the first one (priority order) that
 *       is up. With none up, the active one stays: nothing better can be done, and probes keep running.</li>
 *   <li>When one ahead of the active concentrator has been up for {@code failBackAfter}, new connections return
 *       to the first such one (fail back after a hold-down).</li>
 * </ul>
 * Thread-safe: connections on every event loop report here.
 */
public final class ConcentratorSelector {

    /** What new connections use now, and the generation of the list it comes from (reloads start a new one). */
    public record Choice(int index, UpstreamConcentrator concentrator, long generation) {
    }

    /**
     * A change of the active concentrator.
     *
     * @param from     the one used until now (null after a reload removed it)
     * @param to       the one used from now on
     * @param leftDown whether the one left is down (failover), rather than merely behind a healthy higher priority
     *                 (fail back) or removed by a reload: what it still carries is cut only when it is down
     * @param reason   why, for the log line
     */
    public record Switch(Choice from, Choice to, boolean leftDown, String reason) {
    }

    /** One concentrator as the status page and the metrics show it. */
    public record Health(int index, String name, String address, boolean up, boolean active, String lastFailure,
                         long probeFailures) {
    }

    private static final class TrackedConcentrator {
        final UpstreamConcentrator concentrator;
        boolean up = true;
        int consecutiveFailures;
        int consecutiveSuccesses;
        long upSince;
        String lastFailure = "";
        long probeFailures;
        int consecutiveReplyTimeouts;

        TrackedConcentrator(UpstreamConcentrator concentrator) {
            this.concentrator = concentrator;
        }
    }

    private List<TrackedConcentrator> entries;
    private HealthCheck policy;
    private int active;
    private long generation;
    private long switches;
    /** Whether any reply timed out since start, so that {@link #replied} takes the lock only then. */
    private volatile boolean replyTimeoutsCounted;

    public ConcentratorSelector(List<UpstreamConcentrator> concentrators, HealthCheck policy, long now) {
        install(concentrators, policy, now, List.of());
    }

    /** What new connections use now. */
    public synchronized Choice choice() {
        return choice(active);
    }

    /** Times the active concentrator changed since start. */
    public synchronized long switches() {
        return switches;
    }

    /**
     * What the next probe round connects to. With a list of two or more, every concentrator: a backup must be known
     * healthy before it is needed, and a primary before new connections fail back to it. With a single
     * concentrator, only while it is down: while it is up, every connection reports its failures and there is
     * nothing to switch to, so probes would only add a connect per interval per cpe at the concentrator; once
     * down, nothing else would ever mark it up again (a successful connection only clears the failure count), and
     * its {@code up} gauge, its status row and any alert on them would stay down after the concentrator is back.
     */
    public synchronized List<Choice> probeTargets() {
        List<Choice> targets = new ArrayList<>();
        for (int i = 0; i < entries.size(); i++) {
            if (entries.size() > 1 || !entries.get(i).up) {
                targets.add(choice(i));
            }
        }
        return targets;
    }

    /** The concentrators as configured now. */
    public synchronized List<Choice> all() {
        List<Choice> all = new ArrayList<>();
        for (int i = 0; i < entries.size(); i++) {
            all.add(choice(i));
        }
        return all;
    }

    public synchronized List<Health> health() {
        List<Health> rows = new ArrayList<>();
        for (int i = 0; i < entries.size(); i++) {
            TrackedConcentrator e = entries.get(i);
            rows.add(new Health(i, e.concentrator.name(), net.hybridproxy.proxy.config.Endpoint.format(
                    e.concentrator.address()), e.up, i == active, e.lastFailure, e.probeFailures));
        }
        return rows;
    }

    /** A probe of {@code of} ended: connected ({@code failure} empty) or not (why). */
    public synchronized Optional<Switch> probed(Choice of, Optional<String> failure, long now) {
        TrackedConcentrator e = entry(of);
        if (e == null) {
            return Optional.empty();
        }
        if (failure.isPresent()) {
            e.probeFailures++;
            fail(e, failure.get(), false, now);
        } else {
            e.consecutiveFailures = 0;
            e.consecutiveSuccesses++;
            if (!e.up && e.consecutiveSuccesses >= policy.recoveries()) {
                e.up = true;
                e.upSince = now;
                e.lastFailure = "";
            }
        }
        return select(now);
    }

    /**
     * A connection (or session subflow) to {@code of} could not be opened.
     *
     * @param refused whether the concentrator's host answered with a reset (nothing listens): down at once
     */
    public synchronized Optional<Switch> connectFailed(Choice of, String why, boolean refused, long now) {
        TrackedConcentrator e = entry(of);
        if (e == null) {
            return Optional.empty();
        }
        fail(e, why, refused, now);
        return select(now);
    }

    /** A connection to {@code of} was opened: its failure count starts again. */
    public synchronized void connected(Choice of) {
        TrackedConcentrator e = entry(of);
        if (e != null) {
            e.consecutiveFailures = 0;
        }
    }

    /**
     * A connection to {@code of} was established but its Convert reply did not come in time: counts toward
     * {@code failures} in a row of its own, which connects and probes do not clear (see the class comment).
     */
    public synchronized Optional<Switch> replyTimedOut(Choice of, String why, long now) {
        TrackedConcentrator e = entry(of);
        if (e == null) {
            return Optional.empty();
        }
        e.consecutiveReplyTimeouts++;
        e.lastFailure = why;
        if (e.up && e.consecutiveReplyTimeouts >= policy.failures()) {
            e.up = false;
            e.consecutiveSuccesses = 0;
        }
        replyTimeoutsCounted = true;
        return select(now);
    }

    /** A Convert reply came from {@code of}: its count of reply timeouts starts again. */
    public void replied(Choice of) {
        if (!replyTimeoutsCounted) {
            return; // the common case, without the lock: no reply ever timed out
        }
        synchronized (this) {
            TrackedConcentrator e = entry(of);
            if (e != null) {
                e.consecutiveReplyTimeouts = 0;
            }
        }
    }

    /** Time passed: a higher-priority concentrator may have been up long enough to fail back to. */
    public synchronized Optional<Switch> tick(long now) {
        return select(now);
    }

    /**
     * A reload's new list. A concentrator still listed at the same address keeps its health; a new one starts up.
     * The active concentrator is chosen again by the rules, except that a healthy one that stays listed is not
     * left for a higher-priority newcomer before the hold-down.
     */
    public synchronized Optional<Switch> reconfigure(List<UpstreamConcentrator> concentrators, HealthCheck next,
                                                     long now) {
        Choice before = choice();
        List<TrackedConcentrator> old = entries;
        install(concentrators, next, now, old);
        int kept = -1;
        for (int i = 0; i < entries.size(); i++) {
            if (entries.get(i).concentrator.address().equals(before.concentrator().address())) {
                kept = i;
            }
        }
        active = kept >= 0 ? kept : 0;
        Optional<Switch> rules = select(now);
        if (rules.isPresent()) {
            return Optional.of(new Switch(kept >= 0 ? before : null, rules.get().to(), rules.get().leftDown(),
                    rules.get().reason()));
        }
        if (kept < 0) {
            switches++;
            return Optional.of(new Switch(null, choice(), false, "reload: " + before.concentrator().name()
                    + " is no longer listed"));
        }
        return Optional.empty();
    }

    private void install(List<UpstreamConcentrator> concentrators, HealthCheck next, long now, List<TrackedConcentrator> old) {
        if (concentrators.isEmpty()) {
            throw new IllegalArgumentException("no concentrator");
        }
        this.policy = Objects.requireNonNull(next, "policy");
        List<TrackedConcentrator> fresh = new ArrayList<>();
        for (UpstreamConcentrator c : concentrators) {
            TrackedConcentrator e = new TrackedConcentrator(c);
            // Up "for ever": a cpe starts on its primary without a hold-down.
            e.upSince = now - next.failBackAfter().toNanos();
            for (TrackedConcentrator o : old) {
                if (o.concentrator.address().equals(c.address())) {
                    e.up = o.up;
                    e.upSince = o.upSince;
                    e.consecutiveFailures = o.consecutiveFailures;
                    e.consecutiveSuccesses = o.consecutiveSuccesses;
                    e.lastFailure = o.lastFailure;
                    e.probeFailures = o.probeFailures;
                    e.consecutiveReplyTimeouts = o.consecutiveReplyTimeouts;
                }
            }
            fresh.add(e);
        }
        entries = fresh;
        generation++;
    }

    private void fail(TrackedConcentrator e, String why, boolean definitive, long now) {
        e.consecutiveSuccesses = 0;
        e.consecutiveFailures++;
        e.lastFailure = why;
        if (e.up && (definitive || e.consecutiveFailures >= policy.failures())) {
            e.up = false;
        }
    }

    private Optional<Switch> select(long now) {
        TrackedConcentrator current = entries.get(active);
        int next = active;
        String reason = null;
        if (!current.up) {
            for (int i = 0; i < entries.size(); i++) {
                if (entries.get(i).up) {
                    next = i;
                    reason = current.concentrator.name() + " is down (" + current.lastFailure + ")";
                    break;
                }
            }
        } else {
            for (int i = 0; i < active; i++) {
                TrackedConcentrator e = entries.get(i);
                if (e.up && now - e.upSince >= policy.failBackAfter().toNanos()) {
                    next = i;
                    reason = "fail back: " + e.concentrator.name() + " has been up for "
                            + (now - e.upSince) / 1_000_000 + " ms (fail-back-after "
                            + policy.failBackAfter().toMillis() + " ms)";
                    break;
                }
            }
        }
        if (next == active) {
            return Optional.empty();
        }
        Choice from = choice(active);
        active = next;
        switches++;
        return Optional.of(new Switch(from, choice(active), !current.up, reason));
    }

    private TrackedConcentrator entry(Choice of) {
        if (of.generation() != generation || of.index() >= entries.size()) {
            return null; // reported against a list a reload replaced
        }
        return entries.get(of.index());
    }

    private Choice choice(int index) {
        return new Choice(index, entries.get(index).concentrator, generation);
    }
}
