package net.hybridproxy.proxy.metrics;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.MeterBinder;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import net.hybridproxy.engine.multipath.mib.UplinkJudgements;
import net.hybridproxy.engine.multipath.mib.UplinkSends;

/**
 * What the userspace engine exports beyond the per-uplink names every engine shares ({@link UplinkMetrics}, bound
 * with this engine's {@link UserspaceStats}): what the kernel engine cannot observe from user space. Exported
 * (Prometheus names; {@code uplink} is a configured uplink's name or {@code other}; on a process without
 * configured uplinks, a concentrator, the address id the cpe's join named, {@code address-1} to {@code address-8}
 * (a cpe numbers its uplinks from 1 in configuration order), {@code address-0} for a session's first subflow, or
 * {@code other}):
 * <ul>
 *   <li>{@code hybridproxy_userspace_path_judgements_total{uplink, rule}} (counter): times the uplink's subflows
 *       were judged by the late-path detector or the probes (docs/userspace-protocol.md §7): rule {@code silent}
 *       (held DATA and heard nothing), {@code head_overdue} (the segment in-order delivery waits for sat in its
 *       queue), {@code hole} (that segment was a hole its TCP repairs; reinjected alone) or {@code stall} (a probe
 *       unanswered for the stall timeout);</li>
 *   <li>{@code hybridproxy_uplink_reinjected_bytes_total{uplink}} (counter): payload the uplink's subflows carried
 *       that had been sent before (reinjection after a subflow failed or stalled, opportunistic retransmission,
 *       redundant copies);</li>
 *   <li>{@code hybridproxy_scheduler_decisions_total{uplink, reason}} (counter): DATA frames the scheduler put on
 *       the uplink; reason is new, reinjection, opportunistic or redundant;</li>
 *   <li>{@code hybridproxy_reorder_buffer_bytes} (gauge): received bytes held out of order, all sessions;</li>
 *   <li>{@code hybridproxy_lte_budget_used_bytes} (gauge): overflow bytes the primary-first scheduler counted
 *       against its budget in the current period, summed over sessions (0 with another scheduler);</li>
 *   <li>{@code hybridproxy_userspace_subflow_closes_total{uplink, reason}} (counter): attached subflows that
 *       closed, by RFC 8684 reset reason (sent or received) or {@code connection_closed} (the TCP connection
 *       closed under it);</li>
 *   <li>{@code hybridproxy_userspace_events_total{event}} and {@code hybridproxy_userspace_bytes_total{kind}}
 *       (counters): the engine's own counters (its MIB: {@code MibCounter}, one label value each), e.g.
 *       {@code event="subflow_protocol_errors"} (subflows closed for a malformed frame),
 *       {@code event="capable_proof_failed"}, {@code kind="duplicate_bytes_received"};</li>
 *   <li>{@code hybridproxy_userspace_wait_seconds_total{kind}} (counter, seconds): the engine's three wait times,
 *       summed over streams: {@code head}, {@code window}, {@code send_buffer} ({@link #waitKind});</li>
 *   <li>{@code hybridproxy_userspace_sessions}, {@code _sessions_established}, {@code hybridproxy_userspace_streams}
 *       (gauges) from the latest pass.</li>
 * </ul>
 */
public final class UserspaceMetrics implements MeterBinder {
    private final UserspaceStats stats;
    private final Tags tags;

    /** @param tags added to every meter (see {@link UplinkMetrics#UplinkMetrics(UplinkStats, SubflowSampler, UplinkMetrics.UplinkState, Tags)}) */
    public UserspaceMetrics(UserspaceStats stats, Tags tags) {
        this.stats = stats;
        this.tags = tags;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        for (String uplink : stats.pathLabels()) {
            FunctionCounter.builder("hybridproxy.uplink.reinjected", stats, s -> s.reinjectedBytes(uplink))
                    .baseUnit("bytes").tags(tags).tag("uplink", uplink)
                    .description("Payload the uplink's subflows carried that had been sent before").register(registry);
            for (UplinkSends.Kind kind : UplinkSends.Kind.values()) {
                FunctionCounter.builder("hybridproxy.scheduler.decisions", stats, s -> s.sendFrames(uplink, kind))
                        .tags(tags).tag("uplink", uplink).tag("reason", UserspaceStats.label(kind))
                        .description("DATA frames the scheduler put on the uplink, by why").register(registry);
            }
            for (UplinkJudgements.Rule kind : UplinkJudgements.Rule.values()) {
                FunctionCounter.builder("hybridproxy.userspace.path.judgements", stats, s -> s.judgements(uplink, kind))
                        .tags(tags).tag("uplink", uplink).tag("rule", UserspaceStats.label(kind))
                        .description("Times the uplink's subflows were judged late, a hole or stalled, by rule")
                        .register(registry);
            }
            for (String reason : UserspaceStats.CLOSE_REASONS) {
                FunctionCounter.builder("hybridproxy.userspace.subflow.closes", stats,
                                s -> s.subflowCloses(uplink, reason))
                        .tags(tags).tag("uplink", uplink).tag("reason", reason)
                        .description("Attached subflows that closed, by reset reason").register(registry);
            }
        }
        Gauge.builder("hybridproxy.reorder.buffer", stats, s -> s.sessions().reorderBufferBytes())
                .baseUnit("bytes").tags(tags).description("Received bytes held out of order, all sessions")
                .register(registry);
        Gauge.builder("hybridproxy.lte.budget.used", stats, s -> s.sessions().overflowBudgetUsed())
                .baseUnit("bytes").tags(tags)
                .description("Overflow bytes counted against the primary-first budget in the current period")
                .register(registry);
        Gauge.builder("hybridproxy.userspace.sessions", stats, s -> s.sessions().sessions())
                .tags(tags).description("Userspace multipath sessions, established or in handshake").register(registry);
        Gauge.builder("hybridproxy.userspace.sessions.established", stats, s -> s.sessions().established())
                .tags(tags).description("Established userspace multipath sessions").register(registry);
        Gauge.builder("hybridproxy.userspace.streams", stats, s -> s.sessions().streams())
                .tags(tags).description("Open streams (proxied connections) over all sessions").register(registry);
        for (MibCounter counter : MibCounter.values()) {
            String waitKind = waitKind(counter);
            if (waitKind != null) {
                // A time, not a count of events: in seconds, as Prometheus' base unit, so that rate() of it reads as
                // the share of wall time streams spent waiting.
                FunctionCounter.builder("hybridproxy.userspace.wait", stats, s -> s.mib(counter) / 1e9)
                        .baseUnit("seconds").tags(tags).tag("kind", waitKind)
                        .description("Time streams waited, summed over streams: head (received data held for the"
                                + " segment in-order delivery needs), window (written data held by the peer's receive"
                                + " window), send_buffer (the application's writes refused by a full send buffer)")
                        .register(registry);
                continue;
            }
            boolean bytes = counter.name().contains("BYTES");
            FunctionCounter.builder(bytes ? "hybridproxy.userspace.bytes" : "hybridproxy.userspace.events", stats,
                            s -> s.mib(counter))
                    .baseUnit(bytes ? "bytes" : null).tags(tags)
                    .tag(bytes ? "kind" : "event", UserspaceStats.label(counter))
                    .description(bytes ? "The userspace engine's byte counters" : "The userspace engine's event counters")
                    .register(registry);
        }
    }

    /** The {@code kind} label of a counter of nanoseconds waited, or null for a counter of events or bytes. */
    static String waitKind(MibCounter counter) {
        return switch (counter) {
            case HEAD_WAIT_NANOS -> "head";
            case WINDOW_LIMITED_NANOS -> "window";
            case SEND_BUFFER_LIMITED_NANOS -> "send_buffer";
            default -> null;
        };
    }
}
