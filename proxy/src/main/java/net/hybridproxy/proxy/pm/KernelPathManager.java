package net.hybridproxy.proxy.pm;

import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.AppConfig.UplinkConfig;
import net.hybridproxy.proxy.config.AppConfig.UplinkRole;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The appliance's use of the kernel path manager at start: the configured uplinks (CPE) or announced addresses
 * (concentrator) become the kernel's MPTCP endpoints and limits, and each CPE uplink gets source-based policy
 * routing so its subflows leave by its own interface. {@link #close()} removes the routes it installed; endpoints
 * stay (harmless without the process, and the next start reconciles them).
 */
public final class KernelPathManager implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("hybridproxy.pm");

    private final Optional<PolicyRouting> routing;

    private KernelPathManager(Optional<PolicyRouting> routing) {
        this.routing = routing;
    }

    /** Does what the configuration asks of the kernel; empty when it asks nothing. Needs CAP_NET_ADMIN. */
    public static Optional<KernelPathManager> prepare(AppConfig config) throws IOException {
        AppConfig.PathManagerConfig pm = config.pathManager();
        List<DesiredEndpoint> desired = desiredEndpoints(config);
        // The userspace engine's subflows are plain TCP: no kernel endpoints, only the per-uplink routes.
        boolean manageEndpoints = pm.manageEndpoints() && config.engine() == AppConfig.Engine.KERNEL
                && (!desired.isEmpty() || config.role() != AppConfig.ApplianceRole.SIDECAR);
        if (manageEndpoints) {
            try (MptcpPathManagerClient client = MptcpPathManagerClient.open()) {
                ReconcileReport report = new EndpointReconciler(client)
                        .reconcile(desired, new MptcpLimits(pm.maxSubflows(), pm.maxAddAddrAccepted()));
                LOG.log(Level.INFO, "MPTCP endpoints: " + report);
            }
        }
        if (!pm.allowJoinInitialAddress() && config.engine() == AppConfig.Engine.KERNEL) {
            refuseJoinsToInitialAddress();
        }
        Optional<PolicyRouting> routing = Optional.empty();
        if (pm.installRoutes() && config.role() == AppConfig.ApplianceRole.CPE) {
            PolicyRouting policy = policyRouting(config);
            policy.install();
            routing = Optional.of(policy);
            LOG.log(Level.INFO, "policy routing installed for " + config.uplinks().size() + " uplinks");
        }
        return manageEndpoints || routing.isPresent() ? Optional.of(new KernelPathManager(routing)) : Optional.empty();
    }

    /**
     * Sets MP_CAPABLE's C flag on the connections this network namespace accepts, so that peers join only the
     * announced addresses. A per-namespace sysctl, not a netlink attribute: the kernel reads it when it builds the
     * MP_CAPABLE SYN/ACK. Read-only /proc/sys (an unprivileged container) fails with a message saying where to set
     * it instead (a Kubernetes pod's securityContext.sysctls).
     */
    static void refuseJoinsToInitialAddress() throws IOException {
        Path sysctl = Path.of("/proc/sys/net/mptcp/allow_join_initial_addr_port");
        if (!Files.exists(sysctl)) {
            throw new IOException("this kernel has no net.mptcp.allow_join_initial_addr_port (MPTCP's C flag needs 5.17+)");
        }
        if (Files.readString(sysctl).strip().equals("0")) {
            LOG.log(Level.INFO, "MP_CAPABLE C flag already set (net.mptcp.allow_join_initial_addr_port = 0)");
            return;
        }
        try {
            Files.writeString(sysctl, "0");
        } catch (IOException e) {
            throw new IOException("cannot set net.mptcp.allow_join_initial_addr_port = 0 (" + e.getMessage()
                    + "): set it for this network namespace before start (e.g. a pod's securityContext.sysctls)", e);
        }
        LOG.log(Level.INFO, "MP_CAPABLE C flag set: peers join only announced addresses");
    }

    public static List<DesiredEndpoint> desiredEndpoints(AppConfig config) {
        List<DesiredEndpoint> desired = new ArrayList<>();
        if (config.role() == AppConfig.ApplianceRole.CPE) {
            for (UplinkConfig uplink : config.uplinks()) {
                // "subflow": the kernel opens an extra subflow from this address on every connection.
                // "backup": that subflow carries data only when no non-backup subflow can (RFC 8684 MP_PRIO).
                Set<EndpointFlag> flags = uplink.role() == UplinkRole.BACKUP
                        ? EnumSet.of(EndpointFlag.SUBFLOW, EndpointFlag.BACKUP) : EnumSet.of(EndpointFlag.SUBFLOW);
                desired.add(new DesiredEndpoint(uplink.name(), uplink.address(), uplink.interfaceName(), flags));
            }
        }
        for (var address : config.pathManager().announce()) {
            // "signal": announced to peers with ADD_ADDR so they can join towards it.
            desired.add(new DesiredEndpoint("announce", address, null, EnumSet.of(EndpointFlag.SIGNAL),
                    config.pathManager().announcePort()));
        }
        return desired;
    }

    public static PolicyRouting policyRouting(AppConfig config) {
        List<PolicyRouting.UplinkRoutes> routes = new ArrayList<>();
        AppConfig.PathManagerConfig pm = config.pathManager();
        for (int i = 0; i < config.uplinks().size(); i++) {
            UplinkConfig u = config.uplinks().get(i);
            routes.add(new PolicyRouting.UplinkRoutes(u.name(), u.interfaceName(), u.address(), u.gateway().orElse(null),
                    pm.routeTableBase() + i));
        }
        // One priority for all uplink rules: their "from" selectors never overlap, so order among them is moot.
        return new PolicyRouting(List.of("ip"), routes, pm.rulePriority(), java.time.Duration.ofSeconds(10));
    }

    /** The host changes {@link #prepare} would make, as text for {@code check}. */
    public static String describe(AppConfig config) {
        StringBuilder s = new StringBuilder();
        if (config.pathManager().manageEndpoints() && config.engine() == AppConfig.Engine.KERNEL) {
            AppConfig.PathManagerConfig pm = config.pathManager();
            s.append("# MPTCP endpoints (reconciled over netlink; equivalent ip commands)\n");
            s.append("ip mptcp endpoint flush\n");
            for (DesiredEndpoint d : desiredEndpoints(config)) {
                s.append("ip mptcp endpoint add ").append(d.address().getHostAddress());
                if (d.port() != 0) {
                    s.append(" port ").append(d.port());
                }
                if (d.interfaceName() != null) {
                    s.append(" dev ").append(d.interfaceName());
                }
                d.flags().forEach(f -> s.append(' ').append(f.name().toLowerCase()));
                s.append("   # ").append(d.uplinkName()).append('\n');
            }
            s.append("ip mptcp limits set subflows ").append(pm.maxSubflows()).append(" add_addr_accepted ")
                    .append(pm.maxAddAddrAccepted()).append('\n');
        }
        if (!config.pathManager().allowJoinInitialAddress() && config.engine() == AppConfig.Engine.KERNEL) {
            s.append("# MP_CAPABLE C flag: joins only to announced addresses\n")
                    .append("sysctl -w net.mptcp.allow_join_initial_addr_port=0\n");
        }
        if (config.pathManager().installRoutes() && config.role() == AppConfig.ApplianceRole.CPE) {
            s.append("# per-uplink source routing\n");
            policyRouting(config).describe().forEach(command -> s.append(command).append('\n'));
        }
        return s.toString();
    }

    /** Empty when the mptcp_pm netlink family answers; otherwise what is wrong. */
    public static Optional<String> probeNetlink() {
        try (MptcpPathManagerClient client = MptcpPathManagerClient.open()) {
            client.limits();
            return Optional.empty();
        } catch (IOException | RuntimeException e) {
            return Optional.of(e.getMessage());
        }
    }

    @Override
    public void close() {
        routing.ifPresent(r -> {
            try {
                r.remove();
            } catch (Exception e) {
                LOG.log(Level.WARNING, "could not remove policy routing: " + e.getMessage());
            }
        });
    }
}
