package net.hybridproxy.proxy.ops;

import net.hybridproxy.admin.AdminException;
import net.hybridproxy.admin.ConfigReload;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.ConfigLoader;
import net.hybridproxy.proxy.config.InvalidConfigException;
import net.hybridproxy.proxy.logging.Logging;

import java.lang.reflect.RecordComponent;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * {@code POST /api/v1/reload}: re-reads the file the process was started with, validates all of it, and applies
 * what can change without touching established connections:
 * <ul>
 *   <li>{@code admin.token} (rotation without a restart);</li>
 *   <li>{@code uplinks[*].role} when the uplinks are otherwise unchanged: endpoint backup flags are updated in
 *       place (MP_PRIO on existing subflows), respecting uplinks an operator drained, disabled or backed up;</li>
 *   <li>{@code path-manager.max-subflows} and {@code max-add-addr-accepted}: the kernel limits, which apply to
 *       subflows opened from then on;</li>
 *   <li>{@code log.*};</li>
 *   <li>{@code cpe.bypass} when the rest of the cpe block is unchanged: the nftables table is replaced in one
 *       transaction; connections already open keep their path;</li>
 *   <li>the concentrator's kernel-engine listeners, authorized CIDRs, keys, clock skew, replay cache size and
 *       destination policy, together, when nothing else in its block changed: new connections see them, existing
 *       ones go on (see {@code ConcentratorRole.reconfigure});</li>
 *   <li>{@code shutdown-grace-period}, read when a drain starts.</li>
 * </ul>
 * Every other change (uplink addresses, the userspace engine, admission quotas, relay settings, ...) is reported
 * under {@code needsRestart} and left as it was, so a reload never half-applies a change the running listeners and
 * connections cannot take. The environment's {@code HYBRIDPROXY_LOG} and {@code HYBRIDPROXY_LOG_FORMAT} still win
 * over the file's {@code log.*}, as at start. An invalid file changes nothing and answers 400 with the loader's
 * message. SIGHUP runs the same reload.
 */
public final class ConfigReloader implements ConfigReload {
    static final String CONCENTRATOR_RELOADABLE =
            "concentrator (listen, authorized-cidrs, keys, max-clock-skew, replay-cache-size, destinations)";
    private final Optional<Path> file;
    private final AtomicReference<AppConfig> current;
    private final UplinkController uplinks;
    private final Consumer<String> tokenUpdate;
    private final BypassUpdate bypassUpdate;
    private final ConcentratorUpdate concentratorUpdate;
    private final Consumer<AppConfig.Cpe> cpeConcentratorsUpdate;
    /** What a cpe's reload applied when its concentrator list or health check changed. */
    static final String CPE_CONCENTRATORS = "cpe.concentrators";

    /** Replaces the installed capture and bypass rules with the ones a configuration implies. */
    @FunctionalInterface
    public interface BypassUpdate {
        void apply(AppConfig next) throws Exception;
    }

    /** Applies a reloaded concentrator block to the running role. */
    @FunctionalInterface
    public interface ConcentratorUpdate {
        void apply(AppConfig.Concentrator next) throws Exception;
    }

    /** For a process with neither bypass rules nor a concentrator to update (tests, tools). */
    public ConfigReloader(Optional<Path> file, AtomicReference<AppConfig> current, UplinkController uplinks,
                          Consumer<String> tokenUpdate) {
        this(file, current, uplinks, tokenUpdate, next -> {
            throw new IllegalStateException("no capture rules to replace");
        }, next -> {
            throw new IllegalStateException("no concentrator to reconfigure");
        });
    }

    public ConfigReloader(Optional<Path> file, AtomicReference<AppConfig> current, UplinkController uplinks,
                          Consumer<String> tokenUpdate, BypassUpdate bypassUpdate,
                          ConcentratorUpdate concentratorUpdate) {
        this(file, current, uplinks, tokenUpdate, bypassUpdate, concentratorUpdate, next -> {
            throw new IllegalStateException("no concentrator list to replace");
        });
    }

    /**
     * @param cpeConcentratorsUpdate a cpe's new concentrator list and health check (cpe.concentrators,
     *                               cpe.health-check), applied to new connections at once
     */
    public ConfigReloader(Optional<Path> file, AtomicReference<AppConfig> current, UplinkController uplinks,
                          Consumer<String> tokenUpdate, BypassUpdate bypassUpdate,
                          ConcentratorUpdate concentratorUpdate, Consumer<AppConfig.Cpe> cpeConcentratorsUpdate) {
        this.cpeConcentratorsUpdate = cpeConcentratorsUpdate;
        this.file = file;
        this.current = current;
        this.uplinks = uplinks;
        this.tokenUpdate = tokenUpdate;
        this.bypassUpdate = bypassUpdate;
        this.concentratorUpdate = concentratorUpdate;
    }

    @Override
    public synchronized ReloadResult reload() throws AdminException {
        Path path = file.orElseThrow(() -> AdminException.conflict(
                "this appliance was not started from a configuration file; nothing to reload"));
        AppConfig next;
        try {
            next = ConfigLoader.load(path);
        } catch (InvalidConfigException e) {
            throw AdminException.badRequest("invalid configuration, nothing applied: " + e.getMessage());
        }
        AppConfig before = current.get();
        List<String> applied = new ArrayList<>();
        List<String> needsRestart = new ArrayList<>();
        for (RecordComponent component : AppConfig.class.getRecordComponents()) {
            String key = keyOf(component.getName());
            Object a = value(component, before);
            Object b = value(component, next);
            if (sameValue(a, b)) {
                continue;
            }
            switch (component.getName()) {
                case "admin" -> {
                    AppConfig.Admin x = before.admin();
                    AppConfig.Admin y = next.admin();
                    if (x.enabled() != y.enabled() || !x.bind().equals(y.bind())
                            || !x.sampleInterval().equals(y.sampleInterval())) {
                        needsRestart.add("admin (enabled, bind, sample-interval)");
                    }
                    if (!x.token().equals(y.token())) {
                        applied.add("admin.token");
                    }
                }
                case "uplinks" -> {
                    if (sameExceptRoles(before.uplinks(), next.uplinks())) {
                        applied.add("uplinks[*].role");
                    } else {
                        needsRestart.add(key);
                    }
                }
                case "pathManager" -> {
                    AppConfig.PathManagerConfig x = before.pathManager();
                    AppConfig.PathManagerConfig y = next.pathManager();
                    if (x.maxSubflows() != y.maxSubflows() || x.maxAddAddrAccepted() != y.maxAddAddrAccepted()) {
                        applied.add("path-manager limits");
                    }
                    AppConfig.PathManagerConfig limitsOnly = new AppConfig.PathManagerConfig(x.manageEndpoints(),
                            x.installRoutes(), x.routeTableBase(), x.rulePriority(), y.maxSubflows(),
                            y.maxAddAddrAccepted(), x.announce(), x.allowJoinInitialAddress(), x.announcePort());
                    if (!limitsOnly.equals(y)) {
                        needsRestart.add(key + " (other than the limits)");
                    }
                }
                case "log" -> applied.add("log");
                case "cpe" -> {
                    AppConfig.Cpe x = before.cpe().orElseThrow();
                    AppConfig.Cpe y = next.cpe().orElseThrow();
                    if (!sameValue(x.withBypass(y.bypass()).withConcentrators(y.concentrators(), y.healthCheck()), y)) {
                        needsRestart.add(key + " (other than bypass, concentrators, health-check)");
                    } else {
                        if (!x.concentrators().equals(y.concentrators()) || !x.healthCheck().equals(y.healthCheck())) {
                            applied.add(CPE_CONCENTRATORS);
                        }
                        if (!sameValue(x.bypass(), y.bypass())) {
                            if (!pinsAnUplink(x) && pinsAnUplink(y)) {
                                // The pinned listeners are opened at start, only when some rule needs them.
                                needsRestart.add("cpe.bypass (the first action = proxy rule opens listeners)");
                            } else {
                                applied.add("cpe.bypass");
                            }
                        }
                    }
                }
                case "concentrator" -> {
                    AppConfig.Concentrator x = before.concentrator().orElseThrow();
                    AppConfig.Concentrator y = next.concentrator().orElseThrow();
                    if (x.userspaceListen().equals(y.userspaceListen()) && x.fastOpenQueue() == y.fastOpenQueue()
                            && x.admission().equals(y.admission())
                            && (y.userspaceListen().isEmpty() || x.keys().equals(y.keys()))) {
                        applied.add(CONCENTRATOR_RELOADABLE);
                    } else {
                        needsRestart.add(key + " (userspace-listen, or keys with userspace-listen, fast-open-queue, "
                                + "admission: nothing of the block was applied)");
                    }
                }
                case "shutdownGracePeriod" -> applied.add(key);
                default -> needsRestart.add(key);
            }
        }
        AppConfig effective = effective(before, next, applied);
        if (!applied.isEmpty()) {
            try {
                if (applied.contains("log")) {
                    Logging.configure(next.log().withEnvironment(System.getenv()));
                }
                if (applied.contains(CONCENTRATOR_RELOADABLE)) {
                    concentratorUpdate.apply(next.concentrator().orElseThrow());
                }
                if (applied.contains("admin.token")) {
                    tokenUpdate.accept(next.admin().token());
                }
                if (applied.contains("cpe.bypass")) {
                    bypassUpdate.apply(next);
                }
                if (applied.contains(CPE_CONCENTRATORS)) {
                    cpeConcentratorsUpdate.accept(next.cpe().orElseThrow());
                }
                if ((applied.contains("uplinks[*].role") || applied.contains("path-manager limits"))
                        && effective.pathManager().manageEndpoints() && effective.role() == AppConfig.ApplianceRole.CPE) {
                    uplinks.reconcileEndpoints(effective, uplinks.states());
                }
            } catch (Exception e) {
                throw new AdminException(500, "reload failed while applying " + applied + ": " + e.getMessage(), e);
            }
            uplinks.configReloaded(effective);
            current.set(effective);
        }
        return new ReloadResult(applied, needsRestart);
    }

    /** The running configuration with only the applied parts taken from the new file. */
    private static AppConfig effective(AppConfig before, AppConfig next, List<String> applied) {
        AppConfig.Admin admin = applied.contains("admin.token")
                ? new AppConfig.Admin(before.admin().enabled(), before.admin().bind(), next.admin().token(),
                before.admin().sampleInterval(), before.admin().allowedHosts())
                : before.admin();
        List<AppConfig.UplinkConfig> uplinkList = applied.contains("uplinks[*].role") ? next.uplinks() : before.uplinks();
        AppConfig.PathManagerConfig pm = applied.contains("path-manager limits")
                ? new AppConfig.PathManagerConfig(before.pathManager().manageEndpoints(),
                before.pathManager().installRoutes(), before.pathManager().routeTableBase(),
                before.pathManager().rulePriority(), next.pathManager().maxSubflows(),
                next.pathManager().maxAddAddrAccepted(), before.pathManager().announce(),
                before.pathManager().allowJoinInitialAddress(), before.pathManager().announcePort())
                : before.pathManager();
        return new AppConfig(before.role(), before.engine(), before.transport(), before.eventLoopThreads(),
                before.acceptOnEventLoops(), before.maxConnections(), uplinkList, pm, before.relay(), admin,
                before.cpe().map(c -> applied.contains("cpe.bypass") ? c.withBypass(next.cpe().orElseThrow().bypass())
                        : c).map(c -> applied.contains(CPE_CONCENTRATORS) ? c.withConcentrators(
                        next.cpe().orElseThrow().concentrators(), next.cpe().orElseThrow().healthCheck()) : c),
                applied.contains(CONCENTRATOR_RELOADABLE) ? next.concentrator() : before.concentrator(),
                before.sidecar(), before.userspace(), applied.contains("log") ? next.log() : before.log(),
                next.shutdownGracePeriod());
    }

    private static boolean pinsAnUplink(AppConfig.Cpe cpe) {
        return cpe.bypass().stream().anyMatch(b -> b.action() == AppConfig.BypassAction.PROXY);
    }

    private static boolean sameExceptRoles(List<AppConfig.UplinkConfig> a, List<AppConfig.UplinkConfig> b) {
        if (a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            AppConfig.UplinkConfig x = a.get(i);
            AppConfig.UplinkConfig y = b.get(i);
            if (!x.name().equals(y.name()) || !x.interfaceName().equals(y.interfaceName())
                    || !x.address().equals(y.address()) || !x.gateway().equals(y.gateway())) {
                return false;
            }
        }
        return true;
    }

    /** Deep equality for configuration values: records by component, byte arrays (key secrets) by content. */
    static boolean sameValue(Object a, Object b) {
        if (a == b) {
            return true;
        }
        if (a == null || b == null || a.getClass() != b.getClass()) {
            return false;
        }
        if (a instanceof byte[] x) {
            return Arrays.equals(x, (byte[]) b);
        }
        if (a instanceof Optional<?> x) {
            return sameValue(x.orElse(null), ((Optional<?>) b).orElse(null));
        }
        if (a instanceof List<?> x) {
            List<?> y = (List<?>) b;
            if (x.size() != y.size()) {
                return false;
            }
            for (int i = 0; i < x.size(); i++) {
                if (!sameValue(x.get(i), y.get(i))) {
                    return false;
                }
            }
            return true;
        }
        if (a.getClass().isRecord()) {
            for (RecordComponent c : a.getClass().getRecordComponents()) {
                if (!sameValue(value(c, a), value(c, b))) {
                    return false;
                }
            }
            return true;
        }
        return Objects.equals(a, b);
    }

    private static Object value(RecordComponent component, Object record) {
        try {
            return component.getAccessor().invoke(record);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot read " + component.getName(), e);
        }
    }

    /** Record component name to the HOCON key it comes from, e.g. maxConnections to max-connections. */
    private static String keyOf(String component) {
        return component.replaceAll("([A-Z])", "-$1").toLowerCase(java.util.Locale.ROOT);
    }
}
