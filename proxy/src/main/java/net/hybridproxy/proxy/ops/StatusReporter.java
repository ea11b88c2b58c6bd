package net.hybridproxy.proxy.ops;

import net.hybridproxy.admin.ApplianceStatus;
import net.hybridproxy.admin.StatusSource;
import net.hybridproxy.engine.convert.ConvertErrorCode;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.metrics.FailoverLog;
import net.hybridproxy.proxy.metrics.SubflowSampler;
import net.hybridproxy.proxy.metrics.UplinkStats;
import net.hybridproxy.proxy.metrics.UserspaceStats;
import net.hybridproxy.proxy.role.ProxyCounters;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * The appliance's status for the admin API, assembled from what the counters, the latest subflow sample and the
 * event consumer already hold: answering costs a copy, never a kernel read.
 */
public final class StatusReporter implements StatusSource {
    private final Supplier<AppConfig> config;
    private final String transport;
    private final ProxyCounters counters;
    private final UplinkStats stats;
    private final SubflowSampler sampler;
    private final FailoverLog failovers;
    private final UplinkController uplinks;
    private final UserspaceStats userspace;
    private volatile Supplier<List<net.hybridproxy.proxy.upstream.ConcentratorSelector.Health>> concentrators = List::of;
    private final long startedNanos = System.nanoTime();

    public StatusReporter(Supplier<AppConfig> config, String transport, ProxyCounters counters, UplinkStats stats,
                          SubflowSampler sampler, FailoverLog failovers, UplinkController uplinks) {
        this(config, transport, counters, stats, sampler, failovers, uplinks, null);
    }

    /**
     * @param userspace the userspace engine's figures, for the sessions summary; null where it does not run
     */
    public StatusReporter(Supplier<AppConfig> config, String transport, ProxyCounters counters, UplinkStats stats,
                          SubflowSampler sampler, FailoverLog failovers, UplinkController uplinks,
                          UserspaceStats userspace) {
        this.userspace = userspace;
        this.config = config;
        this.transport = transport;
        this.counters = counters;
        this.stats = stats;
        this.sampler = sampler;
        this.failovers = failovers;
        this.uplinks = uplinks;
    }

    @Override
    public ApplianceStatus status() {
        AppConfig c = config.get();
        SubflowSampler.SubflowSnapshot sample = sampler.snapshot();
        List<ApplianceStatus.UplinkStatusView> rows = new ArrayList<>();
        for (AppConfig.UplinkConfig u : c.uplinks()) {
            rows.add(row(u.name(), u.interfaceName(), u.address().getHostAddress(),
                    u.role().name().toLowerCase(Locale.ROOT), uplinks.adminState(u.name()), uplinks.usability(u.name())));
        }
        UplinkStats.UplinkCounters other = stats.byName(UplinkStats.OTHER);
        if (other.subflowsOpened() > 0 || other.bytesSent() > 0 || other.gauges().subflows() > 0) {
            // Subflows from addresses that are no configured uplink (e.g. every subflow on a concentrator).
            rows.add(row(UplinkStats.OTHER, "-", "-", "-", "active", null));
        }
        long convertErrors = 0;
        for (ConvertErrorCode code : ConvertErrorCode.values()) {
            convertErrors += counters.convertErrors(code);
        }
        ApplianceStatus.Connections connections = new ApplianceStatus.Connections(counters.active(),
                counters.maxConnections(), counters.accepted(), counters.refusedOverLimit(), counters.mptcpFallbacks(),
                counters.authFailures(), convertErrors, counters.bytesUpstream(), counters.bytesDownstream());
        return new ApplianceStatus(c.role().name().toLowerCase(Locale.ROOT), c.engine().name().toLowerCase(Locale.ROOT),
                transport, (System.nanoTime() - startedNanos) / 1_000_000_000L, sample.sampledAtMillis(), rows,
                sample.subflows(), sample.subflowsOmitted(), connections, failovers.recent(), sessions(),
                c.role() == AppConfig.ApplianceRole.CONCENTRATOR ? counters.cpes().rows() : List.of(),
                concentrators.get().stream().map(h -> new ApplianceStatus.ConcentratorHealth(h.name(), h.address(),
                        h.up(), h.active(), h.lastFailure())).toList());
    }

    /** A cpe's concentrator list with health and the active one (empty on other roles). */
    public StatusReporter withConcentrators(
            Supplier<List<net.hybridproxy.proxy.upstream.ConcentratorSelector.Health>> health) {
        this.concentrators = health;
        return this;
    }

    private ApplianceStatus.SessionsStatusView sessions() {
        if (userspace == null) {
            return null;
        }
        UserspaceStats.Sessions s = userspace.sessions();
        return new ApplianceStatus.SessionsStatusView(s.sessions(), s.established(), s.streams(),
                s.reorderBufferBytes(), s.overflowBudgetUsed());
    }

    private ApplianceStatus.UplinkStatusView row(String name, String iface, String address, String role,
                                                 String adminState, String unusable) {
        UplinkStats.UplinkCounters s = stats.byName(name);
        UplinkStats.Gauges g = s.gauges();
        return new ApplianceStatus.UplinkStatusView(name, iface, address, role, adminState, unusable == null,
                unusable == null ? "up" : unusable, g.subflows(), g.srttSeconds(), g.cwndSegments(), s.bytesSent(),
                s.bytesReceived(), s.bytesRetransmitted(), s.subflowsOpened(), s.subflowsClosed(), s.joinFailures(),
                s.failovers(), s.mptcpFallbacks());
    }
}
