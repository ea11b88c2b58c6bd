package net.hybridproxy.proxy.metrics;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.MeterBinder;

import java.util.function.ToDoubleFunction;

/**
 * Per-uplink multipath metrics. The label {@code uplink} is a configured uplink's name, or {@code other} for
 * subflows from any other local address. The names are the contract for every engine: the kernel engine fills
 * them from MPTCP_FULL_INFO and mptcp_pm events; the userspace engine is to export the same names from its own
 * state, so one dashboard serves both. Exported (Prometheus names):
 * <ul>
 *   <li>{@code hybridproxy_uplink_subflows{uplink}} (gauge): open subflows in the latest sample;</li>
 *   <li>{@code hybridproxy_uplink_srtt_seconds{uplink}} (gauge): mean smoothed RTT of those subflows (NaN when
 *       none);</li>
 *   <li>{@code hybridproxy_uplink_cwnd_segments{uplink}} (gauge): their mean congestion window, in segments;</li>
 *   <li>{@code hybridproxy_uplink_sent_bytes_total{uplink}} (counter): bytes sent on its subflows, retransmissions
 *       included (tcpi_bytes_sent);</li>
 *   <li>{@code hybridproxy_uplink_received_bytes_total{uplink}} (counter): bytes received in order on its
 *       subflows (tcpi_bytes_received);</li>
 *   <li>{@code hybridproxy_uplink_retransmitted_bytes_total{uplink}} (counter): TCP retransmissions on its
 *       subflows (tcpi_bytes_retrans);</li>
 *   <li>{@code hybridproxy_uplink_subflows_opened_total{uplink}} and {@code _closed_total} (counters);</li>
 *   <li>{@code hybridproxy_uplink_join_attempts_total{uplink}} (counter): additional subflows tried (MP_JOIN);</li>
 *   <li>{@code hybridproxy_uplink_join_failures_total{uplink, reason}} (counter): reason is timeout, refused,
 *       reset, unreachable, mptcp_reset, closed or error;</li>
 *   <li>{@code hybridproxy_uplink_failovers_total{uplink}} (counter): subflows lost with an error while their
 *       connection continued on other uplinks;</li>
 *   <li>{@code hybridproxy_uplink_mptcp_fallbacks_total{uplink}} (counter): connections whose first subflow left by
 *       the uplink and fell back to plain TCP (an MPTCP option stripped or refused on that path);</li>
 *   <li>{@code hybridproxy_uplink_usable{uplink}} (gauge): 1 when the interface is up with its address and the
 *       uplink is not disabled;</li>
 *   <li>{@code hybridproxy_uplink_admin_state{uplink, state}} (gauge): 1 for the current state of active,
 *       backup, draining, disabled; 0 for the others;</li>
 *   <li>{@code hybridproxy_reinjected_bytes_total} (counter): data the MPTCP level sent again (typically on
 *       another subflow after a loss or a subflow failure); per process, since the kernel does not say which
 *       subflow carried the copy;</li>
 *   <li>{@code hybridproxy_subflow_sample_duration_seconds} (gauge): how long the latest sampling pass took;</li>
 *   <li>{@code hybridproxy_subflow_sampled_connections} (gauge): connections read in that pass;</li>
 *   <li>{@code hybridproxy_subflow_sample_errors_total} (counter): connections whose read failed.</li>
 * </ul>
 */
public final class UplinkMetrics implements MeterBinder {
    /** Admin states in the order the status page lists them. */
    private static final String[] ADMIN_STATES = {"active", "backup", "draining", "disabled"};

    private final UplinkStats stats;
    private final SubflowSampler sampler;
    private final UplinkState state;
    private final Tags tags;

    /** What the uplink controller knows about each uplink, for the state gauges. */
    public interface UplinkState {
        boolean usable(String uplink);

        String adminState(String uplink);
    }

    public UplinkMetrics(UplinkStats stats, SubflowSampler sampler, UplinkState state) {
        this(stats, sampler, state, Tags.empty());
    }

    /**
     * @param tags added to every meter, e.g. {@code engine=userspace} for a concentrator's userspace listeners
     *             when the process's engine (a common tag) is kernel
     */
    public UplinkMetrics(UplinkStats stats, SubflowSampler sampler, UplinkState state, Tags tags) {
        this.stats = stats;
        this.sampler = sampler;
        this.state = state;
        this.tags = tags;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        for (UplinkStats.UplinkCounters u : stats.all()) {
            String name = u.name();
            gauge(registry, "hybridproxy.uplink.subflows", null, u, x -> x.gauges().subflows(),
                    "Open subflows on the uplink in the latest sample");
            gauge(registry, "hybridproxy.uplink.srtt", "seconds", u, x -> x.gauges().srttSeconds(),
                    "Mean smoothed RTT of the uplink's open subflows");
            gauge(registry, "hybridproxy.uplink.cwnd", "segments", u, x -> x.gauges().cwndSegments(),
                    "Mean congestion window of the uplink's open subflows");
            counter(registry, "hybridproxy.uplink.sent", "bytes", u, Uplinks.SENT,
                    "Bytes sent on the uplink's subflows, retransmissions included");
            counter(registry, "hybridproxy.uplink.received", "bytes", u, Uplinks.RECEIVED,
                    "Bytes received in order on the uplink's subflows");
            counter(registry, "hybridproxy.uplink.retransmitted", "bytes", u, Uplinks.RETRANSMITTED,
                    "TCP retransmissions on the uplink's subflows");
            counter(registry, "hybridproxy.uplink.subflows.opened", null, u, Uplinks.OPENED,
                    "Subflows established on the uplink");
            counter(registry, "hybridproxy.uplink.subflows.closed", null, u, Uplinks.CLOSED,
                    "Established subflows on the uplink that closed");
            counter(registry, "hybridproxy.uplink.join.attempts", null, u, Uplinks.JOIN_ATTEMPTS,
                    "Additional subflows (MP_JOIN) tried on the uplink");
            counter(registry, "hybridproxy.uplink.failovers", null, u, Uplinks.FAILOVERS,
                    "Subflows lost with an error while their connection continued on other uplinks");
            counter(registry, "hybridproxy.uplink.mptcp.fallbacks", null, u, Uplinks.MPTCP_FALLBACKS,
                    "Connections whose first subflow left by the uplink and fell back to plain TCP");
            for (UplinkStats.JoinFailure reason : UplinkStats.JoinFailure.values()) {
                FunctionCounter.builder("hybridproxy.uplink.join.failures", u, x -> x.joinFailures.get(reason).sum())
                        .tags(tags).tag("uplink", name).tag("reason", reason.label())
                        .description("Additional subflows (MP_JOIN) that failed, by reason").register(registry);
            }
            if (!name.equals(UplinkStats.OTHER)) {
                Gauge.builder("hybridproxy.uplink.usable", state, s -> s.usable(name) ? 1 : 0).tags(tags).tag("uplink", name)
                        .description("1 when the uplink's interface is up with its address and it is not disabled")
                        .register(registry);
                for (String adminState : ADMIN_STATES) {
                    Gauge.builder("hybridproxy.uplink.admin.state", state,
                                    s -> adminState.equals(s.adminState(name)) ? 1 : 0)
                            .tags(tags).tag("uplink", name).tag("state", adminState)
                            .description("1 for the uplink's current administrative state").register(registry);
                }
            }
        }
        FunctionCounter.builder("hybridproxy.reinjected", sampler, SubflowSampler::reinjectedBytes)
                .baseUnit("bytes").tags(tags)
                .description("Data the MPTCP level sent again, typically on another subflow").register(registry);
        Gauge.builder("hybridproxy.subflow.sample.duration", sampler, s -> s.snapshot().durationNanos() / 1e9)
                .baseUnit("seconds").tags(tags).description("Duration of the latest per-subflow sampling pass")
                .register(registry);
        Gauge.builder("hybridproxy.subflow.sampled.connections", sampler, s -> s.snapshot().connections())
                .tags(tags).description("Connections read in the latest per-subflow sampling pass").register(registry);
        FunctionCounter.builder("hybridproxy.subflow.sample.errors", sampler, SubflowSampler::sampleErrors)
                .tags(tags).description("Connections whose per-subflow read failed").register(registry);
    }

    private enum Uplinks {
        SENT, RECEIVED, RETRANSMITTED, OPENED, CLOSED, JOIN_ATTEMPTS, FAILOVERS, MPTCP_FALLBACKS;

        long of(UplinkStats.UplinkCounters u) {
            return switch (this) {
                case SENT -> u.bytesSent();
                case RECEIVED -> u.bytesReceived();
                case RETRANSMITTED -> u.bytesRetransmitted();
                case OPENED -> u.subflowsOpened();
                case CLOSED -> u.subflowsClosed();
                case JOIN_ATTEMPTS -> u.joinAttempts();
                case FAILOVERS -> u.failovers();
                case MPTCP_FALLBACKS -> u.mptcpFallbacks();
            };
        }
    }

    private void gauge(MeterRegistry registry, String name, String unit, UplinkStats.UplinkCounters u,
                       ToDoubleFunction<UplinkStats.UplinkCounters> value, String description) {
        Gauge.builder(name, u, value).baseUnit(unit).tags(tags).tag("uplink", u.name()).description(description)
                .register(registry);
    }

    private void counter(MeterRegistry registry, String name, String unit, UplinkStats.UplinkCounters u,
                         Uplinks which, String description) {
        FunctionCounter.builder(name, u, which::of).baseUnit(unit).tags(tags).tag("uplink", u.name())
                .description(description).register(registry);
    }
}
