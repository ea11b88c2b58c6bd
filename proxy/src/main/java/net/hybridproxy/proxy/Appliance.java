package net.hybridproxy.proxy;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.concurrent.GlobalEventExecutor;
import net.hybridproxy.proxy.capture.CaptureRules;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.pm.KernelPathManager;
import net.hybridproxy.proxy.role.ConcentratorRole;
import net.hybridproxy.proxy.role.CpeRole;
import net.hybridproxy.proxy.role.ProxyCounters;
import net.hybridproxy.proxy.role.Role;
import net.hybridproxy.proxy.role.RoleContext;
import net.hybridproxy.proxy.role.SidecarRole;
import net.hybridproxy.proxy.transport.MptcpSockets;
import net.hybridproxy.proxy.transport.Transport;

import java.lang.System.Logger.Level;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * One running appliance: checks the kernel, prepares the host (MPTCP endpoints, policy routing, capture rules),
 * starts the role's listeners, and undoes its host changes on {@link #close()}. Start-up work that talks to the
 * kernel runs here, on the starting thread, never on an event loop.
 */
public final class Appliance implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("hybridproxy");

    private final AppConfig config;
    private final Transport transport;
    private final ProxyCounters counters;
    private final ChannelGroup multipathChannels = new DefaultChannelGroup("multipath", GlobalEventExecutor.INSTANCE);
    private EventLoopGroup acceptGroup;
    private EventLoopGroup workerGroup;
    private Role role;
    private Optional<KernelPathManager> pathManager = Optional.empty();
    private Optional<CaptureRules> captureRules = Optional.empty();

    public Appliance(AppConfig config) {
        this.config = config;
        this.transport = Transport.select(config.transport());
        this.counters = new ProxyCounters(config.maxConnections());
    }

    public Appliance start() throws Exception {
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
        pathManager = KernelPathManager.prepare(config);
        if (config.cpe().map(AppConfig.Cpe::installCaptureRules).orElse(false)) {
            CaptureRules rules = new CaptureRules(config.cpe().orElseThrow());
            if (!rules.isEmpty()) {
                rules.install();
                captureRules = Optional.of(rules);
                LOG.log(Level.INFO, "installed capture rules (nftables table inet " + CaptureRules.TABLE + ")");
            }
        }
        acceptGroup = transport.newEventLoopGroup(1, "hybridproxy-accept");
        workerGroup = transport.newEventLoopGroup(config.eventLoopThreads(), "hybridproxy-io");
        RoleContext context = new RoleContext(config, transport, acceptGroup, workerGroup, counters, multipathChannels);
        role = switch (config.role()) {
            case CPE -> new CpeRole(context);
            case CONCENTRATOR -> new ConcentratorRole(context);
            case SIDECAR -> new SidecarRole(context);
        };
        role.start();
        return this;
    }

    public Role role() {
        return role;
    }

    public ProxyCounters counters() {
        return counters;
    }

    /** Open MPTCP-side channels, for sampling per-subflow state. */
    public ChannelGroup multipathChannels() {
        return multipathChannels;
    }

    public Transport transport() {
        return transport;
    }

    public Optional<KernelPathManager> pathManager() {
        return pathManager;
    }

    @Override
    public void close() {
        if (role != null) {
            role.close();
        }
        if (workerGroup != null) {
            workerGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        }
        if (acceptGroup != null) {
            acceptGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        }
        captureRules.ifPresent(CaptureRules::remove);
        pathManager.ifPresent(KernelPathManager::close);
    }
}
