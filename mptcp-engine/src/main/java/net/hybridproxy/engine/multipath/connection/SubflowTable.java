package net.hybridproxy.engine.multipath.connection;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.random.RandomGenerator;
import net.hybridproxy.engine.multipath.frame.AddAddr;
import net.hybridproxy.engine.multipath.frame.MpPrio;
import net.hybridproxy.engine.multipath.frame.Ping;
import net.hybridproxy.engine.multipath.frame.Pong;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.frame.SubflowReset;
import net.hybridproxy.engine.multipath.mib.Mib;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import net.hybridproxy.engine.multipath.mib.UplinkJudgements;
import net.hybridproxy.engine.multipath.pm.PathManager;
import net.hybridproxy.engine.multipath.pm.ProbePolicy;
import net.hybridproxy.engine.multipath.pm.Uplink;
import net.hybridproxy.engine.multipath.subflow.Subflow;
import net.hybridproxy.engine.multipath.subflow.SubflowEstimates;
import net.hybridproxy.engine.multipath.subflow.SubflowState;

/**
 * A session's subflows (quinn-proto's {@code paths.rs}, Linux {@code subflow.c} with the path manager glue of
 * {@code pm.c}): which exist and in which slot, their probes and stalls, what a failed or stalled one carried and
 * must be reinjected, how they close, and the cpe's uplink administration (priority, pause, disable) over the
 * {@link PathManager}.
 */
final class SubflowTable {

    private final Session session;
    private final SessionConfig config;
    private final ProbePolicy probes;
    private final Mib mib;
    private final RandomGenerator random;
    private final PathManager pathManager;
    private final Map<Long, Subflow> subflows = new LinkedHashMap<>();
    /**
     * The table's subflows in the map's order, as an array replaced (never changed) whenever the map changes: the
     * transmit and timer paths walk the subflows several times per frame sent, and a walk over an array allocates no
     * iterator (the launcher's C1-compiled code does not remove one). A walk sees the table as it was when it began,
     * whatever the loop body removes.
     */
    private Subflow[] inOrder = new Subflow[0];
    /** Cpe: subflows requested towards an address the concentrator announced and not attached yet. */
    private final Set<Long> towardsAnnounced = new HashSet<>();
    /** What each uplink's subflows were judged to be, by rule, over the session's life (bounded by the uplinks). */
    private final Map<String, UplinkJudgements> judgementsByUplink = new LinkedHashMap<>();
    private long nextSubflowId;

    SubflowTable(Session session, SessionConfig config, Mib mib, RandomGenerator random, PathManager pathManager) {
        this.session = session;
        this.config = config;
        this.probes = config.probes();
        this.mib = mib;
        this.random = random;
        this.pathManager = pathManager;
    }

    Subflow get(long id) {
        return subflows.get(id);
    }

    Collection<Subflow> all() {
        return subflows.values();
    }

    private void put(Subflow subflow) {
        subflows.put(subflow.id(), subflow);
        inOrder = subflows.values().toArray(Subflow[]::new);
    }

    private void remove(Subflow subflow) {
        subflows.remove(subflow.id());
        inOrder = subflows.values().toArray(Subflow[]::new);
    }

    /** The subflows in the table's order, a snapshot {@link #inOrder}: read it, never write it. */
    Subflow[] inOrder() {
        return inOrder;
    }

    /** Per uplink, what its subflows were judged to be and by which rule (a live view, for metrics). */
    Map<String, UplinkJudgements> judgementsByUplink() {
        return judgementsByUplink;
    }

    private void judged(Subflow subflow, UplinkJudgements.Rule kind) {
        judgementsByUplink.computeIfAbsent(subflow.uplink(), u -> new UplinkJudgements()).record(kind);
    }

    int size() {
        return subflows.size();
    }

    // ------------------------------------------------------------------ opening

    /** Concentrator: a subflow whose handshake the endpoint completed; null if no slot is free. */
    Subflow attachNew(int addressId, SubflowPriority priority, long now) {
        int slot = freeSlot();
        if (slot < 0) {
            mib.increment(MibCounter.JOIN_REFUSED_LIMIT);
            return null;
        }
        long id = nextSubflowId++;
        Subflow subflow = new Subflow(id, slot, addressId, "address-" + addressId, priority, SubflowState.ATTACHED);
        put(subflow);
        if (id == 0) {
            session.addresses.queueFirstAnnouncements(subflow); // ahead of the PING that confirms the session
        }
        attach(subflow, now);
        return subflow;
    }

    void attach(Subflow subflow, long now) {
        // The session's version is known by now (the capable handshake chose it): its frames may be that large.
        subflow.reader().acceptDataPayload(session.maxDataPayload());
        subflow.state(SubflowState.ATTACHED);
        subflow.attachedAt(now);
        subflow.nextProbeAt(now);
        towardsAnnounced.remove(subflow.id());
        session.addresses.subflowAttached();
        if (session.role() == Session.Side.CONCENTRATOR) {
            // The first probe goes out at once: on the initial subflow it is the frame that tells
            // the cpe its CAPABLE_ACK verified, and that it may join (docs/userspace-protocol.md §4.2).
            long value = random.nextLong();
            subflow.queueControl(new Ping(value));
            subflow.probeSent(value, now);
        }
        mib.increment(MibCounter.SUBFLOWS_ATTACHED);
        session.events.add(new SessionEvent.SubflowAttached(subflow.id(), subflow.uplink()));
    }

    /** Cpe: asks the adapter for a subflow over every uplink the path manager says is due. */
    void requestDue(long now) {
        if (pathManager == null) {
            return;
        }
        for (Uplink uplink : pathManager.due(now)) {
            int slot = freeSlot();
            if (slot < 0) {
                return;
            }
            long id = nextSubflowId++;
            Subflow subflow = new Subflow(id, slot, uplink.addressId(), uplink.name(),
                    pathManager.priority(uplink.name()), SubflowState.CONNECTING);
            subflow.nextProbeAt(Long.MAX_VALUE);
            put(subflow);
            pathManager.opening(uplink.name());
            // The session's first subflows go to the configured address; joins to the one announced, if any.
            AddAddr target = session.isEstablished() ? session.addresses.joinTarget() : null;
            if (target != null) {
                towardsAnnounced.add(id);
            }
            session.events.add(new SessionEvent.SubflowRequested(id, uplink.name(),
                    target == null ? null : target.address(), target == null ? 0 : target.port()));
        }
    }

    /**
     * Cpe: the concentrator announced where joins go. Subflows opened towards the initial address that have not
     * sent their JOIN_SYN yet are closed and requested again towards the announced one, without counting as a
     * failure of their uplink.
     */
    void redirectJoins(long now) {
        for (Subflow subflow : inOrder) {
            boolean unused = subflow.state() == SubflowState.CONNECTING
                    || subflow.state() == SubflowState.WAITING_FOR_SESSION;
            if (!unused || towardsAnnounced.contains(subflow.id())) {
                continue;
            }
            subflow.state(SubflowState.CLOSED);
            remove(subflow);
            subflow.markBookkept();
            pathManager.released(subflow.uplink());
            session.events.add(new SessionEvent.SubflowClose(subflow.id(), ResetReason.ADMINISTRATIVELY_PROHIBITED,
                    "its join goes to the address the concentrator announced"));
        }
        requestDue(now);
    }

    /** Cpe: the path manager's next reconnect, {@code Long.MAX_VALUE} without one. */
    long nextReconnect() {
        return pathManager == null ? Long.MAX_VALUE : pathManager.nextTimeout();
    }

    private int freeSlot() {
        if (subflows.size() >= config.maxSubflows()) {
            return -1;
        }
        long used = 0;
        for (Subflow s : inOrder) {
            used |= 1L << s.slot();
        }
        for (int slot = 0; slot < 64; slot++) {
            if ((used & (1L << slot)) == 0) {
                return slot;
            }
        }
        return -1;
    }

    // ------------------------------------------------------------------ handshakes

    /**
     * cpe: when the subflow's unanswered CAPABLE_SYN or JOIN_SYN is given up, {@code Long.MAX_VALUE} if it has none.
     * A join gets the handshake timeout, the bound the concentrator applies to the same handshake. A capable
     * handshake gets half of it: the other subflows wait for it, silent, and the concentrator counts their
     * handshake timeout from its accept too, so the CAPABLE_SYN that starts over on one of them must arrive while
     * that subflow is still inside the concentrator's bound.
     */
    private long handshakeDeadline(Subflow s) {
        return switch (s.state()) {
            case CAPABLE_SENT -> s.handshakeSentAt() + config.handshakeTimeout().toNanos() / 2;
            case JOIN_SENT -> s.handshakeSentAt() + config.handshakeTimeout().toNanos();
            default -> Long.MAX_VALUE;
        };
    }

    /** cpe: when the earliest unanswered CAPABLE_SYN or JOIN_SYN is given up, for the timer table. */
    long nextHandshakeDeadline() {
        long next = Long.MAX_VALUE;
        for (Subflow s : inOrder) {
            next = Math.min(next, handshakeDeadline(s));
        }
        return next;
    }

    /**
     * cpe: resets every subflow whose CAPABLE_SYN or JOIN_SYN went unanswered past its deadline. A concentrator
     * whose process froze keeps its TCP connections up (its kernel still answers keepalives), so without a bound
     * the session would wait for an answer forever: no stream could open, and a join would hold its uplink's
     * slot. A capable subflow given up lets the handshake start over on another waiting subflow (another uplink,
     * possibly another replica behind a balancer); the path manager reconnects this one after its backoff.
     * Returns whether it gave one up.
     */
    boolean handleHandshakeTimers(long now) {
        boolean changed = false;
        for (Subflow s : inOrder) {
            if (now >= handshakeDeadline(s)) {
                mib.increment(MibCounter.HANDSHAKES_TIMED_OUT);
                fail(s, ResetReason.UNACCEPTABLE_PERFORMANCE, (s.state() == SubflowState.CAPABLE_SENT
                        ? "CAPABLE_SYN" : "JOIN_SYN") + " not answered in time", now);
                changed = true;
            }
        }
        return changed;
    }

    // ------------------------------------------------------------------ probes and stalls

    /** The earliest time a subflow needs attention (a probe to send, a stall, a close), for the timer table. */
    long nextProbeDeadline() {
        long next = Long.MAX_VALUE;
        for (Subflow s : inOrder) {
            if (s.state().isAttached()) {
                next = Math.min(next, probeDeadline(s));
            }
        }
        return next;
    }

    private long probeDeadline(Subflow s) {
        if (!s.probeOutstanding()) {
            return s.nextProbeAt();
        }
        if (s.state() == SubflowState.STALLED) {
            return s.stalledSince() + probes.closeAfter();
        }
        // A probe's answer can be late on a path that works: a lost PING or PONG waits for TCP's retransmission (a
        // lost PONG, the last segment on an idle connection, for its retransmission timeout, at least 200 ms plus
        // the RTT), which on a lossy LTE path at 0.5 % loss happened every few seconds and each time declared a busy
        // path stalled and moved everything it carried onto DSL. A path shows it is alive without the probe too:
        // bytes arrive on it, or its TCP connection delivers what it was handed. The stall timeout runs from the
        // later of the probe and the last such sign, so a blackhole (no byte either way) is declared as soon as
        // before, a stall timeout after the path went silent.
        return Math.max(s.probeSentAt(), s.progressAt())
                + probes.stallTimeout(s.probeRttNanos(), s.probeRttVarNanos());
    }

    /** Notes, for every attached subflow, whether its connection delivered more since the last look. */
    void noteProgress(long now) {
        for (Subflow s : inOrder) {
            if (s.state().isAttached()) {
                s.noteProgress(now);
            }
        }
    }

    /**
     * Sends the probes due, declares unanswered ones stalled, closes subflows stalled too long; returns whether it
     * queued a probe or changed a subflow's state (when not, the adapter needs no pass over the session).
     */
    boolean handleProbeTimers(long now) {
        noteProgress(now);
        boolean changed = false;
        for (Subflow s : inOrder) {
            if (!s.state().isAttached() || subflows.get(s.id()) != s || now < probeDeadline(s)) {
                continue;
            }
            changed = true;
            if (!s.probeOutstanding()) {
                long value = random.nextLong();
                if (s.queueControl(new Ping(value))) {
                    s.probeSent(value, now);
                }
            } else if (s.state() == SubflowState.STALLED) {
                mib.increment(MibCounter.SUBFLOW_STALL_CLOSES);
                fail(s, ResetReason.UNACCEPTABLE_PERFORMANCE, "stalled for " + probes.closeAfter() / 1_000_000 + " ms",
                        now);
            } else {
                stall(s, now);
            }
        }
        return changed;
    }

    void onPong(Subflow subflow, Pong pong, long now, long probeInterval) {
        if (!subflow.probeOutstanding() || pong.value() != subflow.probeValue()) {
            return;
        }
        subflow.probeAnswered(now);
        subflow.nextProbeAt(now + probeInterval);
        if (subflow.state() == SubflowState.STALLED) {
            subflow.state(SubflowState.ATTACHED);
            subflow.stalledSince(-1);
            mib.increment(MibCounter.SUBFLOW_RECOVERIES);
            session.events.add(new SessionEvent.SubflowRecovered(subflow.id(), subflow.uplink()));
        }
    }

    private void stall(Subflow subflow, long now) {
        subflow.state(SubflowState.STALLED);
        subflow.stalledSince(now);
        mib.increment(MibCounter.SUBFLOW_STALLS);
        judged(subflow, UplinkJudgements.Rule.STALL);
        session.events.add(new SessionEvent.SubflowStalled(subflow.id(), subflow.uplink()));
        reinject(subflow);
    }

    /**
     * Reinjects what a path that stopped delivering holds, long before its probes would declare it stalled (engine
     * issue items 2 and 3), judged from its TCP connection's own state (what the peer's TCP acknowledged and SACKed)
     * and from the data in-order delivery waits for, not from a rate estimate (which swung with the event loop's
     * lag in the lab). An attached subflow is <em>late</em> when
     * <ul>
     * <li>it is <em>silent</em>: it holds undelivered bytes and its connection has delivered none (SACKed ones
     *     count), received no acknowledgement and no byte for {@link #silenceAfter} (a blackhole), or</li>
     * <li>a stream's oldest unacknowledged segment, the one in-order delivery waits for, was last handed to it, its
     *     TCP connection has not delivered it, its deadline passed (1.5 times the time the connection needed, by
     *     its own congestion window and RTT, for what it held when the segment was handed, and at least
     *     {@link #LATE_HEAD_MIN_RTTS} minimum RTTs), and the peer's TCP has not received what was sent after it
     *     (a collapsed rate: the segment waits in a queue);</li>
     * </ul>
     * while another attached subflow is neither. Everything the late subflow's connection has not delivered is then
     * reinjected (TCP delivers in order: what it was handed after the late segment is behind it), and it gets no new
     * data until it delivered what it held.
     *
     * <p>An overdue segment whose successors the peer's TCP already holds (SACKed) is a <em>hole</em> TCP is
     * repairing, usually a lost retransmission waiting for the retransmission timeout: the path delivers, and only
     * the hole blocks. Then just the head (at most what TCP presumes lost, {@link #HOLE_REINJECTION_MIN_BYTES} at
     * least) is reinjected, and the path keeps its data and its share ({@code HOLE_REINJECTIONS}).
     */
    void reinjectFromLatePaths(long now) {
        for (Subflow s : inOrder) {
            if (s.state() == SubflowState.ATTACHED) {
                s.sampleMinRtt(now);
                s.noteProgress(now);
                askForSenderRestart(s, now);
            }
        }
        for (Subflow s : inOrder) {
            if (s.state() != SubflowState.ATTACHED || s.heldBack() || actOnCollapse(s, now)) {
                continue;
            }
            Lateness lateness = lateness(s, now);
            if (lateness == Lateness.ON_TIME || (!config.lateReinjection() && lateness != Lateness.SILENT)) {
                // Without late reinjection only the silence rule acts: a path holding DATA that delivered nothing
                // and heard nothing, TCP repairing no hole, is a blackhole (issue item 3: the probes' stall timeout,
                // 200-700 ms, is too slow for it).
                continue;
            }
            long healthy = 0;
            for (Subflow other : inOrder) {
                if (other != s && other.state() == SubflowState.ATTACHED && !other.heldBack()
                        && lateness(other, now) == Lateness.ON_TIME) {
                    healthy |= 1L << other.slot();
                }
            }
            if (healthy == 0) {
                continue;
            }
            long delivered = s.tcpDelivered();
            if (lateness == Lateness.HOLE || lateness == Lateness.HEAD_QUEUED) {
                boolean hole = lateness == Lateness.HOLE;
                long bound = hole ? Math.min(HOLE_REINJECTION_MAX_BYTES, Math.max(HOLE_REINJECTION_MIN_BYTES,
                        s.estimates().lostBytes() + s.estimates().retransBytes())) : HOLE_REINJECTION_MIN_BYTES;
                long queued = 0;
                for (Stream stream : session.streams.all()) {
                    boolean head = hole ? stream.send.headIsHoleOn(s.slot(), delivered, s.tcpReceived())
                            : stream.send.headLateOn(s.slot(), delivered, now);
                    if (head) {
                        long bytes = stream.send.reinjectHead(s.slot(), delivered, healthy, bound);
                        queueReinjected(stream, bytes);
                        queued += bytes;
                    }
                }
                if (queued > 0) {
                    mib.increment(MibCounter.HOLE_REINJECTIONS);
                    judged(s, hole ? UplinkJudgements.Rule.HOLE : UplinkJudgements.Rule.HEAD_QUEUED);
                }
                continue;
            }
            s.lateReinjectionAt(now);
            s.holdUntilDelivered();
            mib.increment(MibCounter.LATE_REINJECTIONS);
            judged(s, lateness == Lateness.SILENT ? UplinkJudgements.Rule.SILENT : UplinkJudgements.Rule.HEAD_OVERDUE);
            for (Stream stream : session.streams.all()) {
                queueReinjected(stream, stream.send.reinjectUndelivered(s.slot(), delivered, healthy));
            }
        }
    }

    /**
     * The collapse rule, with {@code late-reinjection} (engine issue item 2: LTE falling from 60
     * to 3 Mbit/s for 3 s while DSL carries 20; without it in-order delivery ran at LTE's collapsed rate for the
     * whole collapse, docs/decisions.md, eighth pass, and with the lab's queue kept as time, 200 ms at the collapsed
     * rate, at 0-6 Mbit/s in the simulator: what LTE held beyond its shrunken queue was lost, and its
     * retransmissions waited for backed-off timeouts; tenth pass). A subflow's rate collapsed when its TCP connection's delivery
     * rate ({@code tcpi_delivered}) stayed below a quarter of its recent peak over several samples while it kept
     * acknowledging ({@link net.hybridproxy.engine.multipath.subflow.DeliveredRateFilter#collapsed}), and another
     * attached subflow, not itself suspect or collapsed, delivers faster now. Then
     * <ul>
     * <li>it gets little new data until its rate or its RTT recovers (suspect: {@code TransmitAssembly.lateRoom}),
     *     and</li>
     * <li>if the segment in-order delivery waits for is on it, undelivered, what it holds moves, oldest first, as
     *     far as the faster path can deliver it sooner counting that path's own backlog: the faster path carries
     *     its rate times the time the collapsed one needs for what it holds, less what it holds itself. The
     *     collapsed subflow is held back until it delivered what it held (TCP delivers in order: what follows the
     *     head on it waits behind it).</li>
     * </ul>
     * A collapse is judged ({@code collapsed}) once per episode, when a path that was not suspect is found collapsed;
     * each move of what it holds counts in {@code LATE_REINJECTIONS}. The holes and queued heads of the other
     * late-path rules stay with {@code late-reinjection} (their costs: docs/decisions.md, seventh and eighth passes).
     * RFC 8684 leaves scheduling and reinjection to the implementation; the receiver uses whichever copy arrives
     * first (docs/userspace-protocol.md §7).
     *
     * @return whether the rule acted (the other rules need not look at {@code s} this pass)
     */
    private boolean actOnCollapse(Subflow s, long now) {
        var rate = s.deliveredRate();
        boolean collapsed = rate.collapsed();
        // A collapsed rate leaves a queue behind it (the RTT grows with what waits); a loss-based sender that cut
        // its window after losses (Reno-like subflows on a lossy LTE) delivers less with its queue drained.
        long minRtt = s.minRtt().minRttNanos();
        if (!collapsed || s.silentFor(now) > silenceAfter(s) || minRtt <= 0
                || s.estimates().srttNanos() < COLLAPSE_MIN_RTTS * minRtt) {
            return false;
        }
        // What follows a collapse (askForSenderRestart) is watched whether or not the rule may move data.
        s.collapseSeen();
        if (!config.lateReinjection() && !config.collapseReinjection()) {
            // Off by default until a quiet lab run shows no judgement on loss-free links: the simulator never judges
            // them collapsed, by default or with late reinjection (CollapseScenarioTest), but the lab could not
            // confirm it (docs/decisions.md, tenth and eleventh passes). It has a key of its own, collapse-reinjection:
            // the rest of late reinjection (overdue heads, holes, queued heads) cost the lab's lossy paths.
            return false;
        }
        long collapsedRate = Math.max(1, rate.bytesPerSecond());
        double needsSeconds = (double) s.backlogBytes() / collapsedRate;
        long healthy = 0;
        long budget = 0;
        for (Subflow other : inOrder) {
            if (other == s || other.state() != SubflowState.ATTACHED || other.heldBack()
                    || other.suspect(TransmitAssembly.SUSPECT_CLEAR_MIN_RTTS) || other.deliveredRate().collapsed()
                    || lateness(other, now) != Lateness.ON_TIME) {
                continue;
            }
            long otherRate = currentRate(other);
            if (otherRate <= FASTER_BY * collapsedRate) {
                continue;
            }
            healthy |= 1L << other.slot();
            budget = Math.max(budget, (long) (otherRate * needsSeconds) - other.backlogBytes());
        }
        if (healthy == 0) {
            return false; // nowhere better to go: the path is what there is
        }
        long delivered = s.tcpDelivered();
        if (!s.suspect(TransmitAssembly.SUSPECT_CLEAR_MIN_RTTS)) {
            // One judgement per episode: a path stays collapsed over many passes (the ninth pass's lab row counted
            // 27 for one collapse, each move and each return to suspicion).
            judged(s, UplinkJudgements.Rule.COLLAPSED);
        }
        s.markSuspect();
        boolean blocks = false;
        for (Stream stream : session.streams.all()) {
            blocks |= stream.send.headUndeliveredOn(s.slot(), delivered);
        }
        if (!blocks || budget < HOLE_REINJECTION_MIN_BYTES) {
            return true;
        }
        s.lateReinjectionAt(now);
        s.holdUntilDelivered();
        mib.increment(MibCounter.LATE_REINJECTIONS);
        long left = budget;
        for (Stream stream : session.streams.all()) {
            if (left <= 0) {
                break;
            }
            long queued = stream.send.reinjectUndelivered(s.slot(), delivered, healthy, left);
            queueReinjected(stream, queued);
            left -= queued;
        }
        return true;
    }

    /**
     * After a collapse (engine issue item 2), asks the adapter to restart the congestion control of a subflow whose
     * own TCP sender keeps the collapsed rate: its queue drained (smoothed RTT at most {@link #RESTART_BELOW_MIN_RTTS}
     * minimum RTTs) and for a minimum RTT at least its socket held bytes with room in its congestion window, yet its
     * delivery rate has not come back ({@link SessionEvent.SubflowRestartCongestionControl}). In the lab every
     * system's LTE subflow stayed at the collapsed 3 Mbit/s for 2.2 s after the link was back at 60 and needed
     * another 1.2 s to climb: Linux BBR had taken the collapse's losses at a steady rate for a token-bucket
     * policer and paced at that rate for 48 round trips (docs/decisions.md, "the LTE collapse, twelfth pass").
     * A sender that finds the rate on its own (CUBIC filling its queue, BBR probing) is never asked: its rate
     * comes back first and closes the episode. Once per collapse: a path found collapsed again opens another.
     */
    private void askForSenderRestart(Subflow s, long now) {
        if (!s.collapseOpen()) {
            return;
        }
        if (s.deliveredRate().recovered()) {
            s.collapseClosed();
            return;
        }
        long minRtt = s.minRtt().minRttNanos();
        long limitedFor = s.senderLimitedFor(now, RESTART_BELOW_MIN_RTTS);
        // Held back or not: a subflow held until it delivered what it held (the collapse rule) delivers that at the
        // rate its sender keeps; in the lab that was 1.4 s of held bytes at 2.9 Mbit/s after the link was back.
        if (minRtt <= 0 || limitedFor < minRtt) {
            return;
        }
        s.collapseClosed();
        judged(s, UplinkJudgements.Rule.SENDER_LIMITED);
        session.events.add(new SessionEvent.SubflowRestartCongestionControl(s.id(), s.uplink()));
    }

    /**
     * A subflow's queue has drained when its smoothed RTT is at most this many minimum RTTs. In the lab, LTE paced at
     * the collapsed rate still ran 1.3-1.4 minimum RTTs (66-70 ms of 50) while the link was collapsed, and 1.01-1.05
     * once it was back: a restart before the link is back would only learn the collapsed rate again.
     */
    static final double RESTART_BELOW_MIN_RTTS = 1.2;

    /**
     * A path's delivery rate now: its latest {@code tcpi_delivered} sample, else its congestion window per smoothed
     * RTT, bytes per second.
     */
    private static long currentRate(Subflow s) {
        long sampled = s.deliveredRate().bytesPerSecond();
        if (sampled > 0) {
            return sampled;
        }
        SubflowEstimates e = s.estimates();
        return e.srttNanos() <= 0 ? 0 : (long) (e.cwndBytes() * 1e9 / e.srttNanos());
    }

    /** A collapsed path's smoothed RTT is at least this many minimum RTTs (its queue drains at the collapsed rate). */
    static final int COLLAPSE_MIN_RTTS = 2;
    /** Another path takes a collapsed path's data only if it delivers at least this many times faster now. */
    static final int FASTER_BY = 2;

    private void queueReinjected(Stream stream, long queued) {
        if (queued > 0) {
            mib.add(MibCounter.REINJECTED_BYTES, queued);
            session.transmit.scheduleSend(stream);
        }
    }

    /** What {@link #reinjectFromLatePaths} finds a subflow to be. */
    private enum Lateness {
        ON_TIME,
        /** Silent while holding DATA (a blackhole): everything it holds moves. */
        SILENT,
        /** The segment in-order delivery waits for sits behind its queue (a collapsed rate): everything it holds moves. */
        HEAD_OVERDUE,
        /** The segment in-order delivery waits for is a hole its TCP repairs while the path delivers. */
        HOLE,
        /**
         * The segment in-order delivery waits for is overdue behind a queue on a path that delivers at its usual
         * rate: the queue grew, the path did not collapse. Only the head moves, as for a hole.
         */
        HEAD_QUEUED
    }

    private Lateness lateness(Subflow s, long now) {
        SubflowEstimates e = s.estimates();
        if (e.srttNanos() <= 0) {
            return Lateness.ON_TIME;
        }
        // Silent while the peer's TCP holds data beyond a hole TCP is repairing: everything after the hole arrived
        // and the connection has nothing left to send but the repair (its retransmission lost, it waits for the
        // timeout). The path is not dead; the hole, and what TCP holds hostage behind it, is what in-order delivery
        // waits for. A blackhole has nothing SACKed to show.
        boolean silent = s.silentFor(now) > silenceAfter(s);
        long delivered = s.tcpDelivered();
        if (silent && !holdsData(s, delivered)) {
            // What the connection holds is control frames only (the cpe's DATA_ACKs and PONGs during a download): a
            // silence there reinjects nothing, and judging it late would hold back the path's next DATA and count a
            // judgement of a path that carries none. Its probes still declare a blackhole stalled.
            silent = false;
        }
        boolean repairing = e.repairingLoss() && e.sackedBytes() > 0;
        if (silent && !repairing) {
            return Lateness.SILENT;
        }
        if (!silent && !config.lateReinjection()) {
            // Without late reinjection no segment gets a deadline (TransmitAssembly), so no head is overdue, and a
            // hole is judged only on a silent path: the streams need not be looked at, on every pass, per subflow.
            return Lateness.ON_TIME;
        }
        long received = s.tcpReceived();
        Lateness found = Lateness.ON_TIME;
        for (Stream stream : session.streams.all()) {
            boolean overdue = stream.send.headLateOn(s.slot(), delivered, now);
            if (stream.send.headIsHoleOn(s.slot(), delivered, received)) {
                if (overdue || silent) {
                    found = Lateness.HOLE;
                }
            } else if (overdue) {
                if (rateFell(s)) {
                    return Lateness.HEAD_OVERDUE;
                }
                found = Lateness.HEAD_QUEUED;
            }
        }
        return found;
    }

    /**
     * Whether {@code s}'s connection delivers at less than {@link #LATE_RATE_FRACTION} of its recent peak, by TCP's
     * own count of what the peer received ({@code tcpi_delivered}, SACKed segments included); true while no rate is
     * known (an adapter that does not report the count, or the first RTTs). An overdue segment behind a queue that
     * drains at the path's usual rate is not late: the queue grew (a loss-free DSL filling its 50 ms buffer in slow
     * start, a 200 ms LTE queue), the path did not collapse, and the segment arrives as fast as the rate allows; in
     * the lab, and in the simulator once its links had the lab's queues, such paths were judged late several times
     * per lossy download and a tenth of the bytes went twice. A collapsed rate drains its queue at the new rate.
     */
    private static boolean rateFell(Subflow s) {
        return s.deliveredRate().peakBytesPerSecond() == 0 || s.deliveredRate().fellBelow(LATE_RATE_FRACTION);
    }

    /** A head segment overdue on a path delivering at less than this share of its recent peak rate is late. */
    static final double LATE_RATE_FRACTION = 0.25;

    /** Whether {@code s}'s connection holds DATA its TCP has not delivered ({@code delivered}), of any stream. */
    private boolean holdsData(Subflow s, long delivered) {
        for (Stream stream : session.streams.all()) {
            if (stream.send.holdsUndeliveredOn(s.slot(), delivered)) {
                return true;
            }
        }
        return false;
    }

    /**
     * How long a connection holding data may deliver nothing before it counts as silent: a TCP connection with data
     * in flight hears an acknowledgement about once per RTT at least (its smoothed RTT includes the bottleneck's
     * queue), so 1.5 smoothed RTTs, and {@link #SILENCE_MIN_RTTS} minimum RTTs, and at least
     * {@link #SILENCE_FLOOR_NANOS} (delayed ACKs, a short RTT).
     */
    private static long silenceAfter(Subflow s) {
        long srtt = s.estimates().srttNanos();
        return Math.max(SILENCE_FLOOR_NANOS, Math.max(srtt + srtt / 2, SILENCE_MIN_RTTS * s.minRtt().minRttNanos()));
    }

    static final long SILENCE_FLOOR_NANOS = 60_000_000L;
    static final int SILENCE_MIN_RTTS = 3;
    /** A segment is not late before this many of its subflow's minimum RTTs (see {@link #lateAt}). */
    static final int LATE_HEAD_MIN_RTTS = 3;
    /** The least a hole's reinjection moves: one DATA frame's worth, whatever TCP says it presumes lost. */
    static final long HOLE_REINJECTION_MIN_BYTES = 16 * 1024;
    /**
     * The most a hole's reinjection moves at once: what TCP presumes lost can be a whole window behind a deep queue
     * (the lab's 200 ms LTE queue), and only the oldest of it blocks in-order delivery; the next head is judged
     * again once this copy is acknowledged.
     */
    static final long HOLE_REINJECTION_MAX_BYTES = 64 * 1024;

    /**
     * When a segment handed to {@code s} now, with {@code aheadBytes} held by its connection before it, is late if
     * that connection has not delivered it: after twice the time the connection needs for them by its own estimate
     * (a congestion window per smoothed RTT), and at least {@link #LATE_HEAD_MIN_RTTS} minimum RTTs;
     * {@code Long.MAX_VALUE} while the adapter does not know its TCP state.
     */
    static long lateAt(Subflow s, long aheadBytes, long now) {
        SubflowEstimates e = s.estimates();
        if (e.srttNanos() <= 0 || e.cwndBytes() <= 0) {
            return Long.MAX_VALUE;
        }
        long needed = (long) ((double) e.srttNanos() * (aheadBytes + e.cwndBytes()) / e.cwndBytes());
        // Before the filter's first sample (the first segments of a session) the smoothed RTT stands in for it: with no
        // floor, a segment handed into an empty connection was due after 1.5 RTTs and a loss repaired by fast
        // retransmit in slow start (two RTTs) was taken for lateness.
        long minRtt = s.minRtt().minRttNanos() > 0 ? s.minRtt().minRttNanos() : e.srttNanos();
        return now + Math.max(needed + needed / 2, LATE_HEAD_MIN_RTTS * minRtt);
    }

    /** Queues what {@code failed} carried and nobody else did for sending on the other subflows. */
    private void reinject(Subflow failed) {
        long live = 0;
        for (Subflow s : inOrder) {
            if (s != failed && s.state() == SubflowState.ATTACHED) {
                live |= 1L << s.slot();
            }
        }
        for (Stream stream : session.streams.all()) {
            long queued = stream.send.reinject(failed.slot(), live);
            if (queued > 0) {
                mib.add(MibCounter.REINJECTED_BYTES, queued);
                session.transmit.scheduleSend(stream);
            }
        }
        failed.redundantCopies().clear();
    }

    /** The slowest attached subflow's smoothed RTT (0 without one). */
    long slowestRttNanos() {
        return slowestRttNanos(false);
    }

    /**
     * The slowest attached subflow's RTT, 0 without one: its smoothed RTT, or with {@code receiverEstimates} the
     * larger of that and its receiving side's estimate of the data's RTT ({@code tcpi_rcv_rtt}). The latter is the
     * receive autotuning period with {@link SessionConfig#receivePeriodFromReceiverRtt()}: Linux's
     * {@code tcp_rcv_space_adjust()} measures what the application copied per {@code rcv_rtt_est}, and kernel MPTCP's
     * {@code mptcp_rcv_space_adjust()} per "highest rtt estimate of the subflows in use" (the largest of their
     * {@code rcv_rtt_est}). The smoothed RTT alone is the RTT of what this end sends: on a download's receiver, its
     * small upstream frames, which miss the queue the data waits in on the way down (docs/decisions.md, lossy paths,
     * ninth and tenth passes).
     */
    long slowestRttNanos(boolean receiverEstimates) {
        long slowest = 0;
        for (Subflow s : inOrder) {
            if (s.state() == SubflowState.ATTACHED) {
                long rtt = s.srttNanos(probes.minStall());
                slowest = Math.max(slowest, receiverEstimates ? Math.max(rtt, s.estimates().rcvRttNanos()) : rtt);
            }
        }
        return slowest;
    }

    // ------------------------------------------------------------------ closing

    /** Closes a subflow because of what it carried or did: a SUBFLOW_RESET goes out first. */
    void fail(Subflow subflow, ResetReason reason, String why, long now) {
        if (subflow.state() == SubflowState.CLOSING || subflow.state() == SubflowState.CLOSED) {
            return;
        }
        reinject(subflow);
        subflow.control().clear();
        subflow.queueControl(new SubflowReset(reason, reason != ResetReason.ADMINISTRATIVELY_PROHIBITED
                && reason != ResetReason.PROTOCOL_ERROR));
        subflow.state(SubflowState.CLOSING);
        subflow.redundantCopies().clear();
        subflow.closeReason(reason, why);
        closedBookkeeping(subflow, now);
    }

    /** The adapter reported the TCP connection gone. */
    void closed(Subflow subflow, long now) {
        if (subflow.state() != SubflowState.CLOSED) {
            reinject(subflow);
            subflow.state(SubflowState.CLOSED);
            remove(subflow);
            closedBookkeeping(subflow, now);
        }
        remove(subflow);
    }

    /** Forgets a subflow whose reset frame was written or received, and tells the adapter to close it. */
    void forget(Subflow subflow, ResetReason reason, String why) {
        if (subflow.state() != SubflowState.CLOSING) {
            reinject(subflow);
        }
        subflow.state(SubflowState.CLOSED);
        remove(subflow);
        session.events.add(new SessionEvent.SubflowClose(subflow.id(), reason,
                subflow.closeWhy() != null ? subflow.closeWhy() : why));
    }

    /** Path manager bookkeeping after a subflow is gone or going; then the session's. */
    void closedBookkeeping(Subflow subflow, long now) {
        if (subflow.bookkept()) {
            return;
        }
        subflow.markBookkept();
        boolean joinFailed = towardsAnnounced.remove(subflow.id());
        if (pathManager != null) {
            long attachedFor = subflow.attachedAt() >= 0 ? now - subflow.attachedAt() : -1;
            pathManager.closed(subflow.uplink(), attachedFor, now);
        }
        boolean anyLeft = subflows.values().stream().anyMatch(s -> s != subflow && s.state().isAttached());
        if (joinFailed && !anyLeft) {
            session.addresses.announcedAddressFailed();
        }
        session.subflowGone(anyLeft, now);
    }

    /** The session ended: every subflow closes, after the reset or FAST_CLOSE already queued on it. */
    void closeAll(String reason, ResetReason resetReason) {
        for (Subflow subflow : inOrder) {
            if (subflow.state() == SubflowState.CLOSING) {
                continue; // its reset is already queued
            }
            if (subflow.control().isEmpty() || subflow.state() == SubflowState.CONNECTING) {
                subflow.state(SubflowState.CLOSED);
                remove(subflow);
                session.events.add(new SessionEvent.SubflowClose(subflow.id(), resetReason, reason));
            } else {
                subflow.queueControl(new SubflowReset(resetReason, false));
                subflow.state(SubflowState.CLOSING);
            }
        }
    }

    // ------------------------------------------------------------------ uplink administration (cpe)

    void setPriority(Subflow subflow, SubflowPriority priority) {
        if (subflow.state().isAttached()) {
            subflow.priority(priority);
            subflow.queueControl(new MpPrio(priority));
        }
    }

    void setUplinkPriority(String uplink, SubflowPriority priority) {
        requirePathManager().priority(uplink, priority);
        for (Subflow subflow : inOrder) {
            if (subflow.uplink().equals(uplink)) {
                if (subflow.state().isAttached()) {
                    setPriority(subflow, priority);
                } else {
                    subflow.priority(priority);
                }
            }
        }
    }

    void setUplinkPaused(String uplink, boolean paused, long now) {
        requirePathManager().paused(uplink, paused);
        if (!paused) {
            requestDue(now);
        }
    }

    int closeUplink(String uplink, long now) {
        requirePathManager();
        int closed = 0;
        for (Subflow subflow : inOrder) {
            if (!subflow.uplink().equals(uplink) || subflows.get(subflow.id()) != subflow) {
                continue;
            }
            if (subflow.state() == SubflowState.CONNECTING) {
                // No TCP connection yet: forget it; the adapter closes the connection if it still completes.
                subflow.state(SubflowState.CLOSED);
                remove(subflow);
                closedBookkeeping(subflow, now);
                session.events.add(new SessionEvent.SubflowClose(subflow.id(),
                        ResetReason.ADMINISTRATIVELY_PROHIBITED, "uplink " + uplink + " disabled"));
            } else {
                fail(subflow, ResetReason.ADMINISTRATIVELY_PROHIBITED, "uplink " + uplink + " disabled", now);
            }
            closed++;
        }
        return closed;
    }

    private PathManager requirePathManager() {
        if (pathManager == null) {
            throw new IllegalStateException("only a cpe's session manages uplinks");
        }
        return pathManager;
    }

    List<Session.SubflowInfo> infos() {
        List<Session.SubflowInfo> out = new ArrayList<>(subflows.size());
        for (Subflow s : inOrder) {
            out.add(new Session.SubflowInfo(s.id(), s.uplink(), s.priority(), s.state(), s.probeRttNanos(),
                    s.bytesSent(), s.bytesReceived(), s.dataBytesSent()));
        }
        return out;
    }
}
