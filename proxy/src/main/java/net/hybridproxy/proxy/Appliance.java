package net.hybridproxy.proxy;

import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.channel.EventLoopGroup;
import net.hybridproxy.admin.AdminBackend;
import net.hybridproxy.admin.AdminException;
import net.hybridproxy.admin.ConfigReload;
import net.hybridproxy.admin.Readiness;
import net.hybridproxy.admin.AdminServer;
import net.hybridproxy.admin.AdminSettings;
import net.hybridproxy.proxy.capture.CaptureRules;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.metrics.FailoverLog;
import net.hybridproxy.proxy.metrics.KernelSubflowSampler;
import net.hybridproxy.proxy.metrics.ProcessMetrics;
import net.hybridproxy.proxy.metrics.SubflowLifecycle;
import net.hybridproxy.proxy.metrics.UplinkMetrics;
import net.hybridproxy.proxy.metrics.UserspaceMetrics;
import net.hybridproxy.proxy.metrics.UserspaceStats;
import net.hybridproxy.proxy.metrics.UplinkStats;
import net.hybridproxy.proxy.ops.ConfigReloader;
import net.hybridproxy.proxy.ops.FileDescriptorBudget;
import net.hybridproxy.proxy.ops.ReadinessProbe;
import net.hybridproxy.proxy.ops.StatusReporter;
import net.hybridproxy.proxy.ops.UplinkController;
import net.hybridproxy.proxy.pm.ConnectionTable;
import net.hybridproxy.proxy.pm.KernelPathManager;
import net.hybridproxy.proxy.pm.MptcpEventMonitor;
import net.hybridproxy.proxy.role.ConcentratorRole;
import net.hybridproxy.proxy.role.CpeRole;
import net.hybridproxy.proxy.role.ProxyCounters;
import net.hybridproxy.proxy.role.Role;
import net.hybridproxy.proxy.role.RoleContext;
import net.hybridproxy.proxy.role.SidecarRole;
import net.hybridproxy.proxy.transport.MptcpSockets;
import net.hybridproxy.proxy.transport.MultipathConnections;
import net.hybridproxy.proxy.transport.Transport;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One running appliance: checks the kernel, prepares the host (MPTCP endpoints, policy routing, capture rules),
 * starts the role's listeners, its metrics and the admin server, and undoes its host changes on {@link #close()}.
 * Start-up work that talks to the kernel runs here, on the starting thread, never on an event loop.
 */
public final class Appliance implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("hybridproxy");

    private final AtomicReference<AppConfig> config;
    private final Optional<Path> configFile;
    private final Transport transport;
    private final ProxyCounters counters;
    private final MultipathConnections multipathChannels = new MultipathConnections();
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final UplinkStats uplinkStats;
    private final FailoverLog failovers = new FailoverLog();
    private final KernelSubflowSampler sampler;
    private final UserspaceStats userspaceStats;
    private final UplinkController uplinkController;
    private EventLoopGroup acceptGroup;
    private EventLoopGroup workerGroup;
    private volatile Role role;
    private Optional<KernelPathManager> pathManager = Optional.empty();
    private volatile Optional<CaptureRules> captureRules = Optional.empty();
    private Optional<MptcpEventMonitor> eventMonitor = Optional.empty();
    private Optional<AdminServer> adminServer = Optional.empty();
    private ConfigReloader reloader;
    /** Set when a graceful drain starts: readiness fails first, so load balancers stop sending. */
    private volatile boolean draining;
    private JvmGcMetrics gcMetrics;

    public Appliance(AppConfig config) {
        this(config, Optional.empty());
    }

    /** @param configFile where {@code config} was loaded from, re-read by {@code POST /api/v1/reload} */
    public Appliance(AppConfig config, Optional<Path> configFile) {
        this.config = new AtomicReference<>(config);
        this.configFile = configFile;
        this.transport = Transport.select(config.transport());
        this.counters = new ProxyCounters(FileDescriptorBudget.connectionLimit(FileDescriptorBudget.currentLimit(),
                config));
        this.uplinkStats = new UplinkStats(config.uplinks());
        this.sampler = new KernelSubflowSampler(multipathChannels, uplinkStats, config.admin().sampleInterval(),
                counters.cpes());
        this.userspaceStats = new UserspaceStats(config.uplinks().stream().map(AppConfig.UplinkConfig::name).toList(),
                failovers, config.admin().sampleInterval());
        userspaceStats.onAuthFailures(counters::addAuthFailures);
        counters.onMptcpFallback(local -> uplinkStats.forLocalAddress(local).mptcpFallback());
        this.uplinkController = new UplinkController(config);
    }

    /** A reload's new bypass rules: the capture table replaced in one transaction, the routing adjusted. */
    private synchronized void replaceCaptureRules(AppConfig next) throws Exception {
        if (captureRules.isEmpty()) {
            return; // the operator manages the firewall (cpe.install-capture-rules = false)
        }
        CaptureRules rules = new CaptureRules(next);
        rules.install(captureRules);
        captureRules = Optional.of(rules);
        LOG.log(Level.INFO, "replaced capture rules: " + next.cpe().orElseThrow().bypass().size() + " bypass rules");
    }

    public Appliance start() throws Exception {
        AppConfig config = this.config.get();
        java.util.OptionalLong nofile = FileDescriptorBudget.currentLimit();
        if (nofile.isPresent()) {
            FileDescriptorBudget.Verdict fds = FileDescriptorBudget.assess(nofile.getAsLong(), config);
            if (fds.fatal()) {
                throw new IllegalStateException(fds.message());
            }
            if (!fds.message().isEmpty()) {
                LOG.log(Level.WARNING, fds.message());
            }
        }
        // Every role has one MPTCP side (even the sidecar), so the kernel engine must work before anything binds.
        if (config.engine() == AppConfig.Engine.KERNEL) {
            if (!transport.canCarryMptcp()) {
                throw new IllegalStateException("the kernel MPTCP engine needs the io_uring or epoll transport, but "
                        + "only NIO is available here (" + Transport.IO_URING.unavailabilityCause().orElse("") + "; "
                        + Transport.EPOLL.unavailabilityCause().orElse("") + ")");
            }
            MptcpSockets.probe();
        }
        LOG.log(Level.INFO, "starting " + config.role().name().toLowerCase() + " on the " + transport.label()
                + " transport, " + (config.engine() == AppConfig.Engine.KERNEL ? "kernel MPTCP" : "userspace multipath")
                + " engine");
        bindMetrics(config);
        pathManager = KernelPathManager.prepare(config);
        uplinkController.start();
        if (config.role() == AppConfig.ApplianceRole.CPE) {
            // Whatever this start's configuration says: a blackhole left by a killed run must not outlive it.
            java.util.List<String> leftovers = CaptureRules.removeLeftovers();
            if (!leftovers.isEmpty()) {
                LOG.log(Level.WARNING, "removed capture rules an earlier run left behind (it did not exit cleanly): "
                        + leftovers);
            }
        }
        if (config.cpe().map(AppConfig.Cpe::installCaptureRules).orElse(false)) {
            CaptureRules rules = new CaptureRules(config);
            if (!rules.isEmpty()) {
                rules.install();
                captureRules = Optional.of(rules);
                LOG.log(Level.INFO, "installed capture rules (nftables table inet " + CaptureRules.TABLE + ")");
            }
        }
        startEventMonitor(config);
        acceptGroup = transport.newEventLoopGroup(1, "hybridproxy-accept");
        workerGroup = transport.newEventLoopGroup(config.eventLoopThreads(), "hybridproxy-io");
        RoleContext context = new RoleContext(config, transport, acceptGroup, workerGroup, counters, multipathChannels,
                userspaceStats);
        role = switch (config.role()) {
            case CPE -> new CpeRole(context);
            case CONCENTRATOR -> new ConcentratorRole(context);
            case SIDECAR -> new SidecarRole(context);
        };
        role.start();
        reloader = new ConfigReloader(configFile, this.config, uplinkController,
                token -> adminServer.ifPresent(s -> s.updateToken(token)),
                this::replaceCaptureRules,
                next -> {
                    if (role instanceof ConcentratorRole concentrator) {
                        concentrator.reconfigure(next);
                    }
                },
                next -> {
                    if (role instanceof CpeRole cpe) {
                        cpe.concentrators().reconfigure(next.concentrators(), next.healthCheck());
                    }
                });
        if (role instanceof CpeRole cpe) {
            cpe.userspace().ifPresent(uplinkController::useUserspace);
            cpe.concentrators().bindTo(registry);
            cpe.bindWarmPoolMetrics(registry);
        }
        sampler.start();
        if (config.admin().enabled()) {
            startAdmin(config);
        }
        return this;
    }

    private void bindMetrics(AppConfig config) {
        registry.config().commonTags("role", config.role().name().toLowerCase(Locale.ROOT),
                "engine", config.engine().name().toLowerCase(Locale.ROOT));
        // Two of Micrometer's system meters break Prometheus naming rules (promtool flags "system_cpu_count" and
        // "process_cpu_time_ns_total"); the same facts are in process_cpu_usage and the host's node exporter.
        registry.config().meterFilter(MeterFilter.deny(id -> id.getName().equals("system.cpu.count")
                || id.getName().equals("process.cpu.time")));
        new ProcessMetrics(counters).bindTo(registry);
        // One set of per-uplink names for both engines (one dashboard). A kernel concentrator that also serves
        // userspace cpes exports the userspace engine's figures beside the kernel's, labelled engine="userspace".
        if (config.engine() == AppConfig.Engine.USERSPACE) {
            new UplinkMetrics(userspaceStats.uplinks(), userspaceStats, uplinkController).bindTo(registry);
            new UserspaceMetrics(userspaceStats, Tags.empty()).bindTo(registry);
        } else {
            new UplinkMetrics(uplinkStats, sampler, uplinkController).bindTo(registry);
            if (servesUserspace(config)) {
                Tags userspace = Tags.of("engine", "userspace");
                new UplinkMetrics(userspaceStats.uplinks(), userspaceStats, uplinkController, userspace)
                        .bindTo(registry);
                new UserspaceMetrics(userspaceStats, userspace).bindTo(registry);
            }
        }
        new JvmMemoryMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        gcMetrics = new JvmGcMetrics();
        gcMetrics.bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        new FileDescriptorMetrics().bindTo(registry);
    }

    private static boolean servesUserspace(AppConfig config) {
        return config.concentrator().map(c -> !c.userspaceListen().isEmpty()).orElse(false);
    }

    /**
     * Subflow lifecycle counters come from the kernel's mptcp_pm events. Without them (no event group, no
     * permission) the appliance still relays and samples; the lifecycle counters then stay at zero and the log
     * says why.
     */
    private void startEventMonitor(AppConfig config) {
        if (config.engine() != AppConfig.Engine.KERNEL) {
            return;
        }
        boolean serverSide = switch (config.role()) {
            case CPE -> false;
            case CONCENTRATOR -> true;
            case SIDECAR -> config.sidecar().orElseThrow().mode() == AppConfig.SidecarMode.MPTCP_TO_TCP;
        };
        ConnectionTable table = new ConnectionTable(Math.max(1, config.maxConnections()));
        try {
            eventMonitor = Optional.of(MptcpEventMonitor.open(new SubflowLifecycle(table, uplinkStats, failovers,
                    serverSide, System::nanoTime, System::currentTimeMillis), SubflowLifecycle.EVENTS_USED));
        } catch (IOException | RuntimeException e) {
            LOG.log(Level.WARNING, "no MPTCP path-manager events (" + e.getMessage() + "): subflow lifecycle "
                    + "metrics (joins, closes, failovers) will stay at zero");
        }
    }

    private void startAdmin(AppConfig config) throws InterruptedException {
        AdminSettings settings = new AdminSettings(config.admin().bind(), config.admin().token(),
                config.admin().allowedHosts());
        ReadinessProbe probe = new ReadinessProbe(this.config::get, () -> role, uplinkController, multipathChannels,
                transport, workerGroup, userspaceStats);
        AdminBackend backend = new AdminBackend(registry,
                (config.engine() == AppConfig.Engine.USERSPACE
                        ? new StatusReporter(this.config::get, transport.label(), counters, userspaceStats.uplinks(),
                        userspaceStats, failovers, uplinkController, userspaceStats)
                        : new StatusReporter(this.config::get, transport.label(), counters, uplinkStats, sampler,
                        failovers, uplinkController, servesUserspace(config) ? userspaceStats : null))
                        .withConcentrators(() -> role instanceof CpeRole cpe ? cpe.concentrators().health()
                                : java.util.List.of()),
                () -> draining ? new Readiness(java.util.List.of(new Readiness.Condition("draining", false,
                        "shutting down: not accepting new connections"))) : probe.check(),
                uplinkController,
                reloader);
        adminServer = Optional.of(new AdminServer(settings, backend).start());
    }

    public Role role() {
        return role;
    }

    /**
     * Graceful drain (SIGTERM): readiness fails at once, the listeners close, and open connections may finish for
     * up to {@code shutdown-grace-period}; returns when none is left or the period is over. {@link #close()} then
     * closes whatever remains.
     */
    public void drain() throws InterruptedException {
        Duration grace = config.get().shutdownGracePeriod();
        draining = true;
        if (role == null) {
            return;
        }
        role.stopAccepting();
        int open = counters.active();
        LOG.log(Level.INFO, "draining: not ready, listeners closed; " + open + " connections may finish within "
                + grace.toSeconds() + " s");
        long deadline = System.nanoTime() + grace.toNanos();
        while (counters.active() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        int left = counters.active();
        LOG.log(left == 0 ? Level.INFO : Level.WARNING, left == 0 ? "drained: every connection finished"
                : "grace period over: closing " + left + " connections still open");
    }

    /** Re-reads the configuration file (SIGHUP; the same as {@code POST /api/v1/reload}). */
    public ConfigReload.ReloadResult reload() throws AdminException {
        if (reloader == null) {
            throw AdminException.conflict("not started");
        }
        return reloader.reload();
    }

    public ProxyCounters counters() {
        return counters;
    }

    /** Open MPTCP-side channels, for sampling per-subflow state. */
    public MultipathConnections multipathChannels() {
        return multipathChannels;
    }

    public Transport transport() {
        return transport;
    }

    public Optional<KernelPathManager> pathManager() {
        return pathManager;
    }

    public PrometheusMeterRegistry registry() {
        return registry;
    }

    @Override
    public void close() {
        adminServer.ifPresent(AdminServer::close);
        if (role != null) {
            role.close();
        }
        if (workerGroup != null) {
            workerGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        }
        if (acceptGroup != null) {
            acceptGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        }
        sampler.close();
        eventMonitor.ifPresent(MptcpEventMonitor::close);
        uplinkController.close();
        captureRules.ifPresent(CaptureRules::remove);
        pathManager.ifPresent(KernelPathManager::close);
        if (gcMetrics != null) {
            gcMetrics.close();
        }
        registry.close();
    }
}
