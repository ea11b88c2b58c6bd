package net.hybridproxy.proxy.metrics;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufAllocatorMetric;
import io.netty.buffer.ByteBufAllocatorMetricProvider;
import net.hybridproxy.engine.convert.ConvertErrorCode;
import net.hybridproxy.proxy.role.AdmissionRefusal;
import net.hybridproxy.proxy.role.ProxyCounters;

import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Process-wide connection metrics, the same for every engine. Every meter also carries the registry's common
 * labels {@code role} and {@code engine}. Exported (Prometheus names):
 * <ul>
 *   <li>{@code hybridproxy_connections_active} (gauge): connections admitted and not yet closed;</li>
 *   <li>{@code hybridproxy_connections_max} (gauge): the configured {@code max-connections};</li>
 *   <li>{@code hybridproxy_connections_total} (counter): connections admitted since start;</li>
 *   <li>{@code hybridproxy_connections_refused_total{reason}} (counter): {@code limit}: refused at the connection
 *       limit; {@code convert_reply_timeout} (cpe): admitted, but reset because the concentrator's Convert reply did
 *       not come within {@code cpe.convert-reply-timeout};</li>
 *   <li>{@code hybridproxy_connection_setup_seconds} (histogram): from accepting a client connection to relaying
 *       its first byte, i.e. including the outbound handshake (and on a concentrator, reading the Convert
 *       request); buckets 1 ms to 10 s;</li>
 *   <li>{@code hybridproxy_relayed_bytes_total{direction="upstream"|"downstream"}} (counter): payload relayed,
 *       counted as it passes; upstream is client to server;</li>
 *   <li>{@code hybridproxy_convert_errors_total{code, error}} (counter): RFC 8803 Error TLVs sent (concentrator)
 *       or received (cpe), by numeric code and its name, e.g. {@code code="32", error="not_authorized"};</li>
 *   <li>{@code hybridproxy_auth_failures_total} (counter): CPEs refused by source CIDR or key proof;</li>
 *   <li>{@code hybridproxy_policy_denials_total} (counter): destinations refused by policy;</li>
 *   <li>{@code hybridproxy_mptcp_fallbacks_total} (counter): MPTCP connections that fell back to plain TCP;</li>
 *   <li>{@code hybridproxy_netty_memory_used_bytes{type="direct"|"heap"}} (gauge): memory Netty's default buffer
 *       allocator holds from the system (direct: its chunks, which Netty 4.2 mallocs itself, so neither the JVM's
 *       direct-memory pool nor native memory tracking count them) or from the Java heap, in use or cached.</li>
 * </ul>
 */
public final class ProcessMetrics implements MeterBinder {
    private static final Duration[] SETUP_BUCKETS = {
            Duration.ofMillis(1), Duration.ofMillis(2), Duration.ofMillis(5), Duration.ofMillis(10),
            Duration.ofMillis(25), Duration.ofMillis(50), Duration.ofMillis(100), Duration.ofMillis(250),
            Duration.ofMillis(500), Duration.ofSeconds(1), Duration.ofMillis(2500), Duration.ofSeconds(5),
            Duration.ofSeconds(10)};

    private final ProxyCounters counters;

    public ProcessMetrics(ProxyCounters counters) {
        this.counters = counters;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        Gauge.builder("hybridproxy.connections.active", counters, ProxyCounters::active)
                .description("Connections admitted and not yet closed").register(registry);
        Gauge.builder("hybridproxy.connections.max", counters, ProxyCounters::maxConnections)
                .description("Configured connection limit (max-connections)").register(registry);
        FunctionCounter.builder("hybridproxy.connections", counters, ProxyCounters::accepted)
                .description("Connections admitted since start").register(registry);
        String refusedHelp = "Connections refused or reset before relaying, by reason: limit (max-connections "
                + "reached), convert_reply_timeout (cpe: no Convert reply within cpe.convert-reply-timeout)";
        FunctionCounter.builder("hybridproxy.connections.refused", counters, ProxyCounters::refusedOverLimit)
                .tag("reason", "limit").description(refusedHelp).register(registry);
        FunctionCounter.builder("hybridproxy.connections.refused", counters, ProxyCounters::convertReplyTimeouts)
                .tag("reason", "convert_reply_timeout").description(refusedHelp).register(registry);
        Timer setup = Timer.builder("hybridproxy.connection.setup")
                .description("Time from accepting a client connection to relaying, outbound handshake included")
                .serviceLevelObjectives(SETUP_BUCKETS)
                .minimumExpectedValue(Duration.ofMillis(1))
                .maximumExpectedValue(Duration.ofSeconds(10))
                .register(registry);
        counters.onSetupLatency(nanos -> setup.record(nanos, TimeUnit.NANOSECONDS));
        FunctionCounter.builder("hybridproxy.relayed", counters, ProxyCounters::bytesUpstream)
                .baseUnit("bytes").tag("direction", "upstream")
                .description("Payload bytes relayed, client to server").register(registry);
        FunctionCounter.builder("hybridproxy.relayed", counters, ProxyCounters::bytesDownstream)
                .baseUnit("bytes").tag("direction", "downstream")
                .description("Payload bytes relayed, server to client").register(registry);
        for (ConvertErrorCode code : ConvertErrorCode.values()) {
            FunctionCounter.builder("hybridproxy.convert.errors", counters, c -> c.convertErrors(code))
                    .tag("code", String.valueOf(code.code()))
                    .tag("error", code.name().toLowerCase(Locale.ROOT))
                    .description("RFC 8803 Convert errors sent or received, by code").register(registry);
        }
        for (AdmissionRefusal reason : AdmissionRefusal.values()) {
            FunctionCounter.builder("hybridproxy.admission.refusals", counters, c -> c.admissionRefusals(reason))
                    .tag("reason", reason.label())
                    .description("Connections the concentrator refused or closed to keep one source or cpe key "
                            + "from taking service away from others (deadlines and fair-share quotas)")
                    .register(registry);
        }
        FunctionCounter.builder("hybridproxy.auth.failures", counters, ProxyCounters::authFailures)
                .description("Connections refused for failed CPE authentication (source CIDR or key proof)")
                .register(registry);
        FunctionCounter.builder("hybridproxy.self.loops.refused", counters, ProxyCounters::selfLoopsRefused)
                .description("cpe connections refused because they were addressed to the cpe itself").register(registry);
        FunctionCounter.builder("hybridproxy.relay.receive.stalls.unblocked", counters,
                        c -> net.hybridproxy.proxy.relay.RelaySession.receiveStallsUnblocked())
                .description("Relayed MPTCP sockets whose kernel receive path had stopped for good (more held than "
                        + "the receive buffer, none readable in order) and was unblocked by a larger receive buffer")
                .register(registry);
        FunctionCounter.builder("hybridproxy.policy.denials", counters, ProxyCounters::policyDenials)
                .description("Destinations refused by the destination policy").register(registry);
        FunctionCounter.builder("hybridproxy.mptcp.fallbacks", counters, ProxyCounters::mptcpFallbacks)
                .description("MPTCP connections that fell back to plain TCP").register(registry);
        if (ByteBufAllocator.DEFAULT instanceof ByteBufAllocatorMetricProvider provider) {
            ByteBufAllocatorMetric netty = provider.metric();
            Gauge.builder("hybridproxy.netty.memory.used", netty, ByteBufAllocatorMetric::usedDirectMemory)
                    .baseUnit("bytes").tag("type", "direct")
                    .description("Direct memory Netty's default allocator holds (malloc'd chunks, in use or cached)")
                    .register(registry);
            Gauge.builder("hybridproxy.netty.memory.used", netty, ByteBufAllocatorMetric::usedHeapMemory)
                    .baseUnit("bytes").tag("type", "heap")
                    .description("Heap memory Netty's default allocator holds (chunks, in use or cached)")
                    .register(registry);
        }
    }
}
