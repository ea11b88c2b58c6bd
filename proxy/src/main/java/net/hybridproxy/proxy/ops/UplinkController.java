package net.hybridproxy.proxy.ops;

import net.hybridproxy.admin.AdminException;
import net.hybridproxy.admin.UplinkAction;
import net.hybridproxy.admin.UplinkControl;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.exec.Command;
import net.hybridproxy.proxy.metrics.UplinkMetrics;
import net.hybridproxy.proxy.pm.DesiredEndpoint;
import net.hybridproxy.proxy.pm.EndpointFlag;
import net.hybridproxy.proxy.pm.EndpointReconciler;
import net.hybridproxy.proxy.pm.KernelPathManager;
import net.hybridproxy.proxy.pm.MptcpLimits;
import net.hybridproxy.proxy.pm.MptcpPathManagerClient;
import net.hybridproxy.proxy.userspace.UserspaceCpe;

import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Uplink actions for the kernel engine, carried out on the kernel's MPTCP path manager (mptcp_pm netlink), and
 * each uplink's administrative state. Exact semantics:
 * <ul>
 *   <li><b>backup</b>: sets the backup flag on the uplink's endpoint ({@code MPTCP_PM_CMD_SET_FLAGS}). Existing
 *       subflows from it are re-prioritised with MP_PRIO, without being closed; the kernel scheduler sends on
 *       backup subflows only when no non-backup subflow can send. New subflows from it start as backup.</li>
 *   <li><b>drain</b>: the endpoint stays, so existing subflows keep running, but new additional subflows from the
 *       uplink's address are refused: an nftables rule (table {@code inet hybridproxy_drain}) answers outgoing
 *       MP_JOIN SYNs from that address with a TCP reset. The in-kernel path manager has no "no new subflows"
 *       flag, and deleting the endpoint would close the existing subflows, hence the rule.</li>
 *   <li><b>disable</b>: deletes the endpoint ({@code MPTCP_PM_CMD_DEL_ADDR}); the kernel closes every subflow
 *       that uses it (connections continue on the other uplinks) and opens none from it.</li>
 *   <li><b>enable</b>: removes any drain rule and restores the endpoint exactly as configured (re-adding it
 *       after disable, clearing a backup flag the configuration does not ask for).</li>
 * </ul>
 * A connection's first subflow follows the main routing table, not the endpoints, so none of these moves it.
 *
 * <p>With the userspace engine ({@link #useUserspace}) the same actions act on the cpe's sessions, every one of
 * them (one per event loop), and on those started later:
 * <ul>
 *   <li><b>backup</b>: the uplink's subflows get priority backup, announced to the concentrator with MP_PRIO;
 *       new subflows over it start as backup;</li>
 *   <li><b>drain</b>: the path manager opens no new subflow over the uplink; existing ones carry on;</li>
 *   <li><b>disable</b>: as drain, and its subflows are closed with a SUBFLOW_RESET (administratively
 *       prohibited); what they carried unacknowledged is reinjected on the others;</li>
 *   <li><b>enable</b>: the configured priority, new subflows opened again.</li>
 * </ul>
 * A concentrator's userspace sessions follow what each cpe does: actions there answer 409.
 * States live in memory: a restart returns to the configuration. They survive a reload.
 */
public final class UplinkController implements UplinkControl, UplinkMetrics.UplinkState {
    static final String DRAIN_TABLE = "hybridproxy_drain";
    private static final int MP_JOIN_SUBTYPE = 1; // RFC 8684 §3.2: MP_JOIN is option subtype 0x1

    /** Administrative states, named as the API and metrics name them. */
    enum AdminState {
        ACTIVE, BACKUP, DRAINING, DISABLED;

        String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private volatile AppConfig config;
    private final Map<String, AdminState> states = Collections.synchronizedMap(new LinkedHashMap<>());
    private volatile UserspaceCpe userspace;

    public UplinkController(AppConfig config) {
        this.config = config;
        for (AppConfig.UplinkConfig u : config.uplinks()) {
            states.put(u.name(), configured(u));
        }
    }

    /** Removes a drain table a previous run may have left behind (a crash skips {@link #close()}). */
    public void start() {
        if (config.role() == AppConfig.ApplianceRole.CPE && config.pathManager().manageEndpoints()) {
            Command.runIgnoringFailure(List.of("nft", "delete", "table", "inet", DRAIN_TABLE));
        }
    }

    /** The cpe's userspace engine, once started: actions then act on its sessions. */
    public void useUserspace(UserspaceCpe engine) {
        this.userspace = engine;
    }

    @Override
    public synchronized String apply(String name, UplinkAction action, String reason) throws AdminException {
        AppConfig.UplinkConfig uplink = config.uplinks().stream().filter(u -> u.name().equals(name)).findFirst()
                .orElseThrow(() -> AdminException.notFound("no uplink named '" + name + "' (configured: "
                        + config.uplinks().stream().map(AppConfig.UplinkConfig::name).toList() + ")"));
        if (config.engine() == AppConfig.Engine.USERSPACE) {
            return applyUserspace(uplink, action);
        }
        if (config.role() != AppConfig.ApplianceRole.CPE || !config.pathManager().manageEndpoints()) {
            throw AdminException.conflict("uplink actions need a cpe that manages its MPTCP endpoints "
                    + "(path-manager.manage-endpoints = true); here another party owns them");
        }
        AdminState before = states.get(name);
        if (action == UplinkAction.DRAIN && before == AdminState.DISABLED) {
            throw AdminException.conflict("uplink " + name + " is disabled: it has no subflows to drain; enable it first");
        }
        AdminState after = switch (action) {
            case DRAIN -> AdminState.DRAINING;
            case DISABLE -> AdminState.DISABLED;
            case BACKUP -> AdminState.BACKUP;
            case ENABLE -> configured(uplink);
        };
        Map<String, AdminState> next = new LinkedHashMap<>(states);
        next.put(name, after);
        try {
            reconcileEndpoints(config, next);
            writeDrainRules(next);
        } catch (IOException e) {
            throw new AdminException(500, "uplink " + name + ": " + action.pathSegment() + " failed: " + e.getMessage(), e);
        }
        states.put(name, after);
        return describe(name, before, after);
    }

    private String applyUserspace(AppConfig.UplinkConfig uplink, UplinkAction action) throws AdminException {
        UserspaceCpe engine = userspace;
        if (config.role() != AppConfig.ApplianceRole.CPE || engine == null) {
            throw AdminException.conflict("uplink actions act on a cpe's sessions; a concentrator's userspace "
                    + "sessions follow what each cpe does");
        }
        String name = uplink.name();
        AdminState before = states.get(name);
        if (action == UplinkAction.DRAIN && before == AdminState.DISABLED) {
            throw AdminException.conflict("uplink " + name + " is disabled: it has no subflows to drain; enable it first");
        }
        AdminState after = action == UplinkAction.ENABLE ? configured(uplink) : switch (action) {
            case DRAIN -> AdminState.DRAINING;
            case DISABLE -> AdminState.DISABLED;
            default -> AdminState.BACKUP;
        };
        SubflowPriority configuredPriority = engine.configuredPriority(name);
        UserspaceCpe.UplinkMode mode = switch (after) {
            case ACTIVE -> new UserspaceCpe.UplinkMode(configuredPriority, false);
            case BACKUP -> new UserspaceCpe.UplinkMode(SubflowPriority.BACKUP, false);
            case DRAINING, DISABLED -> new UserspaceCpe.UplinkMode(configuredPriority, true);
        };
        int closed;
        try {
            closed = engine.applyUplinkMode(name, mode, after == AdminState.DISABLED);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AdminException(503, "uplink " + name + ": interrupted while applying " + action.pathSegment());
        } catch (RuntimeException e) {
            throw new AdminException(500, "uplink " + name + ": " + action.pathSegment() + " failed: " + e.getMessage(), e);
        }
        states.put(name, after);
        return describe(name, before, after) + (after == AdminState.DISABLED ? " (" + closed + " closed)" : "");
    }

    private static String describe(String name, AdminState before, AdminState after) {
        String effect = switch (after) {
            case ACTIVE -> "subflows are opened and used normally";
            case BACKUP -> "subflows are used only when no other uplink can send";
            case DRAINING -> "existing subflows continue, new subflows are refused";
            case DISABLED -> "subflows closed, none will be opened";
        };
        return name + " " + before.label() + " -> " + after.label() + ": " + effect;
    }

    /**
     * Makes the kernel's endpoints match {@code config} with the administrative states applied (disabled uplinks
     * have none, backup ones have the flag), touching only what differs. Also used by reload.
     */
    synchronized void reconcileEndpoints(AppConfig newConfig, Map<String, AdminState> withStates) throws IOException {
        List<DesiredEndpoint> desired = new ArrayList<>();
        for (DesiredEndpoint d : KernelPathManager.desiredEndpoints(newConfig)) {
            AdminState state = withStates.get(d.uplinkName());
            if (state == AdminState.DISABLED) {
                continue;
            }
            Set<EndpointFlag> flags = EnumSet.copyOf(d.flags());
            if (state == AdminState.BACKUP) {
                flags.add(EndpointFlag.BACKUP);
            } else if (state != null) {
                AppConfig.UplinkConfig u = newConfig.uplinks().stream().filter(x -> x.name().equals(d.uplinkName()))
                        .findFirst().orElseThrow();
                if (u.role() != AppConfig.UplinkRole.BACKUP) {
                    flags.remove(EndpointFlag.BACKUP);
                }
            }
            desired.add(new DesiredEndpoint(d.uplinkName(), d.address(), d.interfaceName(), flags));
        }
        AppConfig.PathManagerConfig pm = newConfig.pathManager();
        try (MptcpPathManagerClient client = MptcpPathManagerClient.open()) {
            new EndpointReconciler(client).reconcile(desired, new MptcpLimits(pm.maxSubflows(), pm.maxAddAddrAccepted()));
        }
    }

    /** Replaces the drain table with one rule per draining uplink, atomically; no table when none drains. */
    private void writeDrainRules(Map<String, AdminState> withStates) throws IOException {
        List<AppConfig.UplinkConfig> draining = config.uplinks().stream()
                .filter(u -> withStates.get(u.name()) == AdminState.DRAINING).toList();
        StringBuilder script = new StringBuilder();
        // "add" then "delete" makes the delete valid whether or not the table exists; one nft -f is one transaction.
        script.append("add table inet ").append(DRAIN_TABLE).append('\n');
        script.append("delete table inet ").append(DRAIN_TABLE).append('\n');
        if (!draining.isEmpty()) {
            script.append("table inet ").append(DRAIN_TABLE).append(" {\n  chain output {\n")
                    .append("    type filter hook output priority filter; policy accept;\n");
            for (AppConfig.UplinkConfig u : draining) {
                script.append("    ").append(u.address() instanceof Inet6Address ? "ip6" : "ip").append(" saddr ")
                        .append(u.address().getHostAddress())
                        .append(" tcp flags syn tcp option mptcp subtype ").append(MP_JOIN_SUBTYPE)
                        .append(" reject with tcp reset comment \"drained uplink ").append(u.name()).append("\"\n");
            }
            script.append("  }\n}\n");
        }
        Command.run(List.of("nft", "-f", "-"), script.toString());
    }

    synchronized void configReloaded(AppConfig newConfig) {
        this.config = newConfig;
    }

    /** Current states, for reload. */
    synchronized Map<String, AdminState> states() {
        return new LinkedHashMap<>(states);
    }

    @Override
    public String adminState(String uplink) {
        AdminState s = states.get(uplink);
        return s == null ? "active" : s.label();
    }

    @Override
    public boolean usable(String uplink) {
        return usability(uplink) == null;
    }

    /** Null when usable, else why not. */
    String usability(String name) {
        AppConfig.UplinkConfig uplink = config.uplinks().stream().filter(u -> u.name().equals(name)).findFirst().orElse(null);
        if (uplink == null) {
            return "not configured";
        }
        if (states.get(name) == AdminState.DISABLED) {
            return "disabled through the admin API";
        }
        try {
            NetworkInterface nif = NetworkInterface.getByName(uplink.interfaceName());
            if (nif == null) {
                return "interface " + uplink.interfaceName() + " does not exist";
            }
            if (!nif.isUp()) {
                return "interface " + uplink.interfaceName() + " is down";
            }
            for (InetAddress a : Collections.list(nif.getInetAddresses())) {
                if (a.equals(uplink.address())) {
                    return null;
                }
            }
            return "address " + uplink.address().getHostAddress() + " is not on " + uplink.interfaceName();
        } catch (SocketException e) {
            return "cannot inspect " + uplink.interfaceName() + ": " + e.getMessage();
        }
    }

    /** Removes the drain rules: a stopped appliance must not keep refusing subflows. */
    public void close() {
        if (states.containsValue(AdminState.DRAINING)) {
            Command.runIgnoringFailure(List.of("nft", "delete", "table", "inet", DRAIN_TABLE));
        }
    }

    static AdminState configured(AppConfig.UplinkConfig u) {
        return u.role() == AppConfig.UplinkRole.BACKUP ? AdminState.BACKUP : AdminState.ACTIVE;
    }
}
