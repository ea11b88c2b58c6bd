package net.hybridproxy.proxy.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigResolveOptions;
import net.hybridproxy.admin.AdminSettings;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.multipath.sched.Schedulers;
import net.hybridproxy.engine.policy.Cidr;
import net.hybridproxy.engine.policy.PortRange;
import net.hybridproxy.proxy.config.AppConfig.Bypass;
import net.hybridproxy.proxy.config.AppConfig.Concentrator;
import net.hybridproxy.proxy.config.AppConfig.Cpe;
import net.hybridproxy.proxy.config.AppConfig.DestinationRules;
import net.hybridproxy.proxy.config.AppConfig.KeyRef;
import net.hybridproxy.proxy.config.AppConfig.ListenerConfig;
import net.hybridproxy.proxy.config.AppConfig.ListenerMode;
import net.hybridproxy.proxy.config.AppConfig.PathManagerConfig;
import net.hybridproxy.proxy.config.AppConfig.Relay;
import net.hybridproxy.proxy.config.AppConfig.ApplianceRole;
import net.hybridproxy.proxy.config.AppConfig.Sidecar;
import net.hybridproxy.proxy.config.AppConfig.UplinkConfig;
import net.hybridproxy.proxy.logging.LogFormat;
import net.hybridproxy.proxy.logging.LogLevel;
import net.hybridproxy.proxy.logging.LogSettings;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Loads a HOCON file over {@code reference.conf} and validates it completely before anything starts. Every
 * failure names the key (with the file and line where HOCON knows it) and says why, in one line.
 */
public final class ConfigLoader {
    private static final String ROOT = "hybridproxy";
    private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9_-]{0,15}");
    private static final Pattern INTERFACE = Pattern.compile("[A-Za-z0-9_.:@-]{1,15}");

    private ConfigLoader() {
    }

    public static AppConfig load(Path file) throws InvalidConfigException {
        if (!Files.isReadable(file)) {
            throw new InvalidConfigException(file + ": cannot read the configuration file");
        }
        Config parsed;
        try {
            parsed = ConfigFactory.parseFile(file.toFile(), ConfigParseOptions.defaults().setAllowMissing(false));
        } catch (ConfigException e) {
            throw new InvalidConfigException(e.getMessage());
        }
        return fromConfig(parsed);
    }

    public static AppConfig parseString(String hocon) throws InvalidConfigException {
        try {
            return fromConfig(ConfigFactory.parseString(hocon));
        } catch (ConfigException e) {
            throw new InvalidConfigException(e.getMessage());
        }
    }

    static AppConfig fromConfig(Config site) throws InvalidConfigException {
        Config merged;
        try {
            merged = site.withFallback(ConfigFactory.defaultReference(ConfigLoader.class.getClassLoader()))
                    .resolve(ConfigResolveOptions.defaults());
        } catch (ConfigException e) {
            throw new InvalidConfigException(e.getMessage());
        }
        rejectUnknownKeys(site);
        try {
            return build(merged.getConfig(ROOT));
        } catch (ConfigException e) {
            // Typesafe's messages already carry "file: line: path: problem".
            throw new InvalidConfigException(e.getMessage());
        }
    }

    /** A misspelt key would otherwise be ignored silently and its default used instead. */
    private static void rejectUnknownKeys(Config site) throws InvalidConfigException {
        Config reference = ConfigFactory.defaultReference(ConfigLoader.class.getClassLoader());
        for (var entry : site.entrySet()) {
            String key = entry.getKey();
            if (!key.startsWith(ROOT + ".")) {
                throw InvalidConfigException.at(key, "unknown key (every key lives under '" + ROOT + "')");
            }
            if (!reference.hasPathOrNull(key)) {
                throw InvalidConfigException.at(key, "unknown key" + origin(site, key));
            }
        }
    }

    private static String origin(Config config, String key) {
        var origin = config.getValue(key).origin();
        return origin.lineNumber() > 0 ? " (" + origin.description() + ")" : "";
    }

    private static AppConfig build(Config c) throws InvalidConfigException {
        ApplianceRole role = enumValue(c, "role", ApplianceRole.class, "cpe, concentrator or sidecar");
        AppConfig.Engine engine = enumValue(c, "engine", AppConfig.Engine.class, "kernel or userspace");
        AppConfig.TransportPreference transport =
                enumValue(c, "transport", AppConfig.TransportPreference.class, "auto, io_uring, epoll or nio");
        int threads = intInRange(c, "event-loop-threads", 0, 1024);
        boolean acceptOnEventLoops = c.getBoolean("accept-on-event-loops");
        int maxConnections = intInRange(c, "max-connections", 1, 10_000_000);
        List<UplinkConfig> uplinks = uplinks(c);
        PathManagerConfig pathManager = pathManager(c);
        Relay relay = relay(c);
        AppConfig.Admin admin = admin(c);
        Optional<Cpe> cpe = Optional.empty();
        Optional<Concentrator> concentrator = Optional.empty();
        Optional<Sidecar> sidecar = Optional.empty();
        switch (role) {
            case CPE -> {
                cpe = Optional.of(cpe(c.getConfig("cpe")));
                if (uplinks.isEmpty()) {
                    throw InvalidConfigException.at(key("uplinks"),
                            "a cpe needs at least one uplink (name, interface, address)");
                }
            }
            case CONCENTRATOR -> concentrator = Optional.of(concentrator(c.getConfig("concentrator")));
            case SIDECAR -> sidecar = Optional.of(sidecar(c.getConfig("sidecar")));
        }
        if (!pathManager.announce().isEmpty() && role != ApplianceRole.CONCENTRATOR) {
            throw InvalidConfigException.at(key("path-manager.announce"), "only a concentrator announces addresses");
        }
        if (!pathManager.allowJoinInitialAddress() && role != ApplianceRole.CONCENTRATOR) {
            throw InvalidConfigException.at(key("path-manager.allow-join-initial-address"),
                    "only a concentrator refuses joins to its initial address");
        }
        if (!pathManager.allowJoinInitialAddress() && pathManager.announce().isEmpty()) {
            throw InvalidConfigException.at(key("path-manager.allow-join-initial-address"),
                    "false leaves joins nowhere to go: announce this replica's own address in path-manager.announce");
        }
        AppConfig.Userspace userspace = userspace(c);
        checkEngine(engine, role, cpe, concentrator);
        if (cpe.isPresent()) {
            checkBypass(cpe.get(), uplinks, pathManager, engine);
        }
        if (engine == AppConfig.Engine.USERSPACE && uplinks.size() * userspace.subflowsPerUplink() > 8) {
            throw InvalidConfigException.at(key("userspace.subflows-per-uplink"), uplinks.size() + " uplinks x "
                    + userspace.subflowsPerUplink() + " subflows exceeds the 8 subflows a session may have");
        }
        return new AppConfig(role, engine, transport, threads, acceptOnEventLoops, maxConnections, uplinks,
                pathManager, relay, admin, cpe, concentrator, sidecar, userspace, log(c),
                positiveDuration(c, "", "shutdown-grace-period"));
    }

    private static void checkBypass(Cpe cpe, List<UplinkConfig> uplinks, PathManagerConfig pathManager, AppConfig.Engine engine)
            throws InvalidConfigException {
        for (int i = 0; i < cpe.bypass().size(); i++) {
            Bypass rule = cpe.bypass().get(i);
            String at = key("cpe.bypass[" + i + "]");
            if (uplinks.stream().noneMatch(u -> u.name().equals(rule.uplink()))) {
                throw InvalidConfigException.at(at + ".uplink", "no uplink named '" + rule.uplink() + "' (uplinks: "
                        + uplinks.stream().map(UplinkConfig::name).toList() + ")");
            }
            if (rule.action() == AppConfig.BypassAction.DIRECT && !pathManager.installRoutes()) {
                throw InvalidConfigException.at(at + ".action", "direct leaves by the uplink's own routing table,"
                        + " which the cpe installs only with path-manager.install-routes = true");
            }
            if (cpe.listeners().stream().allMatch(l -> l.mode() == ListenerMode.EXPLICIT)) {
                throw InvalidConfigException.at(at, "bypass rules act on captured LAN traffic: they need a tproxy or"
                        + " redirect listener");
            }
        }
        if (cpe.bypass().stream().anyMatch(r -> r.action() == AppConfig.BypassAction.PROXY)) {
            // Each transparent listener gets one more port per uplink for connections pinned to that uplink.
            Set<InetSocketAddress> taken = new HashSet<>();
            cpe.listeners().forEach(l -> taken.add(l.bind()));
            for (ListenerConfig l : cpe.listeners()) {
                if (l.mode() == ListenerMode.EXPLICIT) {
                    continue;
                }
                for (int u = 0; u < uplinks.size(); u++) {
                    InetSocketAddress pinned = l.pinnedBind(u);
                    if (pinned.getPort() > 65535 || !taken.add(pinned)) {
                        throw InvalidConfigException.at(key("cpe.listeners"), "listener " + l.name() + " pins its"
                                + " uplink " + uplinks.get(u).name() + "'s connections on port " + pinned.getPort()
                                + ", which is taken or out of range; move the listener's port");
                    }
                }
            }
        }
    }

    private static List<UplinkConfig> uplinks(Config c) throws InvalidConfigException {
        List<UplinkConfig> result = new ArrayList<>();
        Set<String> names = new HashSet<>();
        Set<InetAddress> addresses = new HashSet<>();
        List<? extends Config> entries = c.getConfigList("uplinks");
        for (int i = 0; i < entries.size(); i++) {
            Config u = entries.get(i);
            String at = key("uplinks[" + i + "]");
            allowOnly(u, at, "name", "interface", "address", "gateway", "role");
            String name = requiredString(u, at, "name");
            if (!NAME.matcher(name).matches()) {
                throw InvalidConfigException.at(at + ".name",
                        "'" + name + "' must be 1-16 lowercase letters, digits, '-' or '_' (it becomes a metric label)");
            }
            if (!names.add(name)) {
                throw InvalidConfigException.at(at + ".name", "duplicate uplink name '" + name + "'");
            }
            String iface = requiredString(u, at, "interface");
            if (!INTERFACE.matcher(iface).matches()) {
                throw InvalidConfigException.at(at + ".interface", "'" + iface + "' is not a Linux interface name");
            }
            InetAddress address = literalAddress(requiredString(u, at, "address"), at + ".address");
            if (!addresses.add(address)) {
                throw InvalidConfigException.at(at + ".address", "two uplinks share " + address.getHostAddress());
            }
            Optional<InetAddress> gateway = u.hasPath("gateway")
                    ? Optional.of(literalAddress(u.getString("gateway"), at + ".gateway")) : Optional.empty();
            AppConfig.UplinkRole uplinkRole = u.hasPath("role")
                    ? enumText(u.getString("role"), at + ".role", AppConfig.UplinkRole.class, "primary, overflow or backup")
                    : AppConfig.UplinkRole.PRIMARY;
            result.add(new UplinkConfig(name, iface, address, gateway, uplinkRole));
        }
        if (!result.isEmpty() && result.stream().allMatch(u -> u.role() == AppConfig.UplinkRole.BACKUP)) {
            throw InvalidConfigException.at(key("uplinks"), "every uplink is a backup; at least one must be primary");
        }
        return List.copyOf(result);
    }

    private static PathManagerConfig pathManager(Config c) throws InvalidConfigException {
        Config p = c.getConfig("path-manager");
        String at = "path-manager.";
        List<InetAddress> announce = new ArrayList<>();
        for (String a : p.getStringList("announce")) {
            announce.add(literalAddress(a, key(at + "announce")));
        }
        return new PathManagerConfig(p.getBoolean("manage-endpoints"), p.getBoolean("install-routes"),
                intInRange(p, at, "route-table-base", 1, 252 - 16),
                intInRange(p, at, "rule-priority", 1, 32765),
                intInRange(p, at, "max-subflows", 0, 8),
                intInRange(p, at, "max-add-addr-accepted", 0, 8),
                List.copyOf(announce), p.getBoolean("allow-join-initial-address"),
                intInRange(p, at, "announce-port", 0, 65535));
    }

    /** Netty's adaptive read sizing's bounds, which {@code relay.first-read-size} must lie between. */
    public static final int FIRST_READ_MIN_BYTES = 64;
    public static final int FIRST_READ_MAX_BYTES = 64 * 1024;

    private static Relay relay(Config c) throws InvalidConfigException {
        Config r = c.getConfig("relay");
        Duration connect = positiveDuration(r, "relay.", "connect-timeout");
        Duration idle = positiveDuration(r, "relay.", "idle-timeout");
        long high = r.getBytes("write-buffer-high-water-mark");
        long low = r.getBytes("write-buffer-low-water-mark");
        if (high < 8 * 1024 || high > 64L * 1024 * 1024) {
            throw InvalidConfigException.at(key("relay.write-buffer-high-water-mark"), "must be between 8KiB and 64MiB");
        }
        if (low <= 0 || low >= high) {
            throw InvalidConfigException.at(key("relay.write-buffer-low-water-mark"),
                    "must be positive and below write-buffer-high-water-mark (" + high + " bytes)");
        }
        long firstRead = r.getBytes("first-read-size");
        if (firstRead < FIRST_READ_MIN_BYTES || firstRead > FIRST_READ_MAX_BYTES) {
            throw InvalidConfigException.at(key("relay.first-read-size"), "must be between 64B and 64KiB");
        }
        return new Relay(connect, idle, (int) high, (int) low, (int) firstRead);
    }

    private static LogSettings log(Config c) throws InvalidConfigException {
        Config l = c.getConfig("log");
        LogLevel level;
        LogFormat format;
        try {
            level = LogLevel.parse(l.getString("level"));
        } catch (IllegalArgumentException e) {
            throw InvalidConfigException.at(key("log.level"), e.getMessage());
        }
        try {
            format = LogFormat.parse(l.getString("format"));
        } catch (IllegalArgumentException e) {
            throw InvalidConfigException.at(key("log.format"), e.getMessage());
        }
        return new LogSettings(level, format, intInRange(l, "log.", "connection-lines-per-second", 0, 100_000));
    }

    private static AppConfig.Admin admin(Config c) throws InvalidConfigException {
        Config a = c.getConfig("admin");
        String at = "admin.";
        InetSocketAddress bind = endpoint(a, at, "bind");
        String token = a.getIsNull("token") ? "" : a.getString("token");
        String problem = AdminSettings.problem(bind, token);
        if (problem != null) {
            throw InvalidConfigException.at(key(at + (token.isEmpty() ? "bind" : "token")), problem);
        }
        Duration sample = positiveDuration(a, at, "sample-interval");
        if (sample.compareTo(Duration.ofMillis(100)) < 0 || sample.compareTo(Duration.ofMinutes(5)) > 0) {
            throw InvalidConfigException.at(key(at + "sample-interval"), "must be between 100ms and 5m");
        }
        List<String> allowedHosts = a.getStringList("allowed-hosts");
        for (String host : allowedHosts) {
            if (!AdminSettings.isHostName(host)) {
                throw InvalidConfigException.at(key(at + "allowed-hosts"), "'" + host
                        + "' is not a host name (letters, digits, '-' and '.'; no port)");
            }
        }
        return new AppConfig.Admin(a.getBoolean("enabled"), bind, token, sample, List.copyOf(allowedHosts));
    }

    private static Cpe cpe(Config c) throws InvalidConfigException {
        String at = "cpe.";
        List<AppConfig.UpstreamConcentrator> concentrators = concentrators(c, at);
        AppConfig.HealthCheck healthCheck = healthCheck(c.getConfig("health-check"), at + "health-check.");
        List<ListenerConfig> listeners = new ArrayList<>();
        Set<String> names = new HashSet<>();
        List<? extends Config> entries = c.getConfigList("listeners");
        if (entries.isEmpty()) {
            throw InvalidConfigException.at(key(at + "listeners"), "a cpe needs at least one LAN listener");
        }
        for (int i = 0; i < entries.size(); i++) {
            Config l = entries.get(i);
            String lat = key(at + "listeners[" + i + "]");
            allowOnly(l, lat, "name", "mode", "bind", "destination", "interface", "ports");
            String name = requiredString(l, lat, "name");
            if (!NAME.matcher(name).matches() || !names.add(name)) {
                throw InvalidConfigException.at(lat + ".name", "'" + name + "' must be a unique short lowercase label");
            }
            ListenerMode mode = enumText(requiredString(l, lat, "mode"), lat + ".mode", ListenerMode.class,
                    "tproxy, redirect or explicit");
            InetSocketAddress bind = endpointText(requiredString(l, lat, "bind"), lat + ".bind");
            Optional<InetSocketAddress> destination = l.hasPath("destination")
                    ? Optional.of(endpointText(l.getString("destination"), lat + ".destination")) : Optional.empty();
            if (mode == ListenerMode.EXPLICIT && destination.isEmpty()) {
                throw InvalidConfigException.at(lat + ".destination", "an explicit listener needs a destination");
            }
            if (mode != ListenerMode.EXPLICIT && destination.isPresent()) {
                throw InvalidConfigException.at(lat + ".destination",
                        "only explicit listeners have a fixed destination; " + mode.name().toLowerCase(Locale.ROOT)
                                + " takes the client's original destination");
            }
            Optional<String> iface = l.hasPath("interface") ? Optional.of(l.getString("interface")) : Optional.empty();
            List<String> ports = l.hasPath("ports") ? l.getStringList("ports") : List.of();
            for (String port : ports) {
                parsePortRange(port, lat + ".ports");
            }
            listeners.add(new ListenerConfig(name, mode, bind, destination, iface, List.copyOf(ports)));
        }
        boolean installCapture = c.getBoolean("install-capture-rules");
        if (installCapture) {
            for (int i = 0; i < listeners.size(); i++) {
                ListenerConfig l = listeners.get(i);
                if (l.mode() != ListenerMode.EXPLICIT && l.captureInterface().isEmpty()) {
                    throw InvalidConfigException.at(key(at + "listeners[" + i + "].interface"),
                            "install-capture-rules needs the LAN interface to capture on");
                }
            }
        }
        Optional<KeyRef> keyRef = optionalKey(c, at);
        Config pool = c.getConfig("warm-pool");
        allowOnly(pool, key(at + "warm-pool"), "size", "max-idle", "max-size");
        Duration maxIdle = positiveDuration(pool, at + "warm-pool.", "max-idle");
        if (maxIdle.compareTo(Duration.ofSeconds(1)) < 0 || maxIdle.compareTo(Duration.ofSeconds(25)) > 0) {
            // The concentrator closes a connection that has sent nothing for 30 s (first-byte timeout).
            throw InvalidConfigException.at(key(at + "warm-pool.max-idle"), "must be between 1s and 25s");
        }
        int size = intInRange(pool, at + "warm-pool.", "size", 0, 32);
        // The concentrator holds at most max-pending-per-source (64 by default) connections per source that have
        // sent nothing yet; the pool's, plus those opened when it runs dry, must stay below that.
        int maxSize = intInRange(pool, at + "warm-pool.", "max-size", 0, 48);
        if (maxSize < size) {
            throw InvalidConfigException.at(key(at + "warm-pool.max-size"), "must be at least warm-pool.size ("
                    + size + ")");
        }
        AppConfig.WarmPoolConfig warmPool = new AppConfig.WarmPoolConfig(size, maxIdle, maxSize);
        return new Cpe(concentrators, healthCheck, List.copyOf(listeners), c.getBoolean("fast-open"), installCapture,
                keyRef, warmPool, bypass(c.getConfigList("bypass"), at), positiveDuration(c, at, "convert-reply-timeout"));
    }

    /** Enough for a primary and its backups; bounds the metrics' concentrator label and the probes sent. */
    static final int MAX_CONCENTRATORS = 8;

    /**
     * {@code cpe.concentrators} (a priority list of "host:port" strings or {name, address} objects) or the older
     * {@code cpe.concentrator} (one address): exactly one of them.
     */
    private static List<AppConfig.UpstreamConcentrator> concentrators(Config c, String at)
            throws InvalidConfigException {
        boolean single = c.hasPath("concentrator");
        List<? extends com.typesafe.config.ConfigValue> list = c.getList("concentrators");
        if (single && !list.isEmpty()) {
            throw InvalidConfigException.at(key(at + "concentrators"), "set either cpe.concentrator (one address) or "
                    + "cpe.concentrators (a priority list), not both; move the address into the list");
        }
        if (single) {
            return List.of(new AppConfig.UpstreamConcentrator("0", endpoint(c, at, "concentrator")));
        }
        if (list.isEmpty()) {
            throw InvalidConfigException.at(key(at + "concentrators"), "missing: set cpe.concentrators = "
                    + "[\"host:port\", ...] (priority order) or cpe.concentrator = \"host:port\"");
        }
        if (list.size() > MAX_CONCENTRATORS) {
            throw InvalidConfigException.at(key(at + "concentrators"), list.size() + " concentrators; at most "
                    + MAX_CONCENTRATORS);
        }
        List<AppConfig.UpstreamConcentrator> result = new ArrayList<>();
        Set<String> names = new HashSet<>();
        Set<InetSocketAddress> addresses = new HashSet<>();
        for (int i = 0; i < list.size(); i++) {
            String eat = key(at + "concentrators[" + i + "]");
            com.typesafe.config.ConfigValue v = list.get(i);
            String name;
            InetSocketAddress address;
            if (v.valueType() == com.typesafe.config.ConfigValueType.STRING) {
                name = String.valueOf(i);
                address = endpointText((String) v.unwrapped(), eat);
            } else if (v.valueType() == com.typesafe.config.ConfigValueType.OBJECT) {
                Config entry = ((com.typesafe.config.ConfigObject) v).toConfig();
                allowOnly(entry, eat, "name", "address");
                name = entry.hasPath("name") ? entry.getString("name") : String.valueOf(i);
                address = endpointText(requiredString(entry, eat, "address"), eat + ".address");
            } else {
                throw InvalidConfigException.at(eat, "expected \"host:port\" or { name = ..., address = "
                        + "\"host:port\" }");
            }
            if (!NAME.matcher(name).matches() || !names.add(name)) {
                throw InvalidConfigException.at(eat + ".name", "'" + name + "' must be a unique short lowercase label");
            }
            if (!addresses.add(address)) {
                throw InvalidConfigException.at(eat, Endpoint.format(address) + " is listed twice");
            }
            result.add(new AppConfig.UpstreamConcentrator(name, address));
        }
        return List.copyOf(result);
    }

    private static AppConfig.HealthCheck healthCheck(Config h, String at) throws InvalidConfigException {
        allowOnly(h, key(at.substring(0, at.length() - 1)), "interval", "timeout", "failures", "recoveries",
                "fail-back-after");
        Duration interval = positiveDuration(h, at, "interval");
        Duration timeout = positiveDuration(h, at, "timeout");
        if (interval.compareTo(Duration.ofMillis(100)) < 0 || interval.compareTo(Duration.ofMinutes(5)) > 0) {
            throw InvalidConfigException.at(key(at + "interval"), "must be between 100ms and 5m");
        }
        if (timeout.compareTo(interval) > 0) {
            throw InvalidConfigException.at(key(at + "timeout"), "must not exceed the interval ("
                    + interval.toMillis() + " ms): probes would pile up");
        }
        Duration failBack = h.getDuration("fail-back-after");
        if (failBack.isNegative()) {
            throw InvalidConfigException.at(key(at + "fail-back-after"), "must not be negative");
        }
        return new AppConfig.HealthCheck(interval, timeout, intInRange(h, at, "failures", 1, 100),
                intInRange(h, at, "recoveries", 1, 100), failBack);
    }

    private static final Pattern MAC = Pattern.compile("[0-9a-f]{2}(:[0-9a-f]{2}){5}");

    private static List<Bypass> bypass(List<? extends Config> entries, String at) throws InvalidConfigException {
        List<Bypass> rules = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (int i = 0; i < entries.size(); i++) {
            Config b = entries.get(i);
            String bat = key(at + "bypass[" + i + "]");
            allowOnly(b, bat, "name", "destinations", "ports", "sources", "source-macs", "action", "uplink");
            String name = requiredString(b, bat, "name");
            if (!NAME.matcher(name).matches() || !names.add(name)) {
                throw InvalidConfigException.at(bat + ".name", "'" + name + "' must be a unique short lowercase label");
            }
            List<Cidr> destinations = cidrs(b, bat, "destinations");
            List<PortRange> ports = new ArrayList<>();
            for (String p : b.hasPath("ports") ? b.getStringList("ports") : List.<String>of()) {
                try {
                    ports.add(PortRange.parse(p));
                } catch (IllegalArgumentException e) {
                    throw InvalidConfigException.at(bat + ".ports", e.getMessage());
                }
            }
            List<Cidr> sources = cidrs(b, bat, "sources");
            List<String> macs = new ArrayList<>();
            for (String mac : b.hasPath("source-macs") ? b.getStringList("source-macs") : List.<String>of()) {
                String normal = mac.trim().toLowerCase(Locale.ROOT).replace('-', ':');
                if (!MAC.matcher(normal).matches()) {
                    throw InvalidConfigException.at(bat + ".source-macs", "'" + mac
                            + "' is not a MAC address (six hex pairs, e.g. 02:00:5e:10:00:01)");
                }
                macs.add(normal);
            }
            if (destinations.isEmpty() && ports.isEmpty() && sources.isEmpty() && macs.isEmpty()) {
                throw InvalidConfigException.at(bat, "a bypass rule needs at least one of destinations, ports,"
                        + " sources or source-macs (a rule matching everything would disable the proxy)");
            }
            AppConfig.BypassAction action = enumText(requiredString(b, bat, "action"), bat + ".action",
                    AppConfig.BypassAction.class, "direct or proxy");
            rules.add(new Bypass(name, destinations, ports, sources, macs, action, requiredString(b, bat, "uplink")));
        }
        return List.copyOf(rules);
    }

    private static List<Cidr> cidrs(Config c, String at, String name) throws InvalidConfigException {
        List<Cidr> result = new ArrayList<>();
        for (String text : c.hasPath(name) ? c.getStringList(name) : List.<String>of()) {
            try {
                result.add(Cidr.parse(text));
            } catch (IllegalArgumentException e) {
                throw InvalidConfigException.at(at + "." + name, e.getMessage());
            }
        }
        return result;
    }

    private static Optional<KeyRef> optionalKey(Config c, String at) throws InvalidConfigException {
        boolean hasId = c.hasPath("key-id");
        boolean hasKey = c.hasPath("key");
        if (hasId != hasKey) {
            throw InvalidConfigException.at(key(at + (hasId ? "key" : "key-id")), "key-id and key go together");
        }
        if (!hasId) {
            return Optional.empty();
        }
        return Optional.of(keyRef(c.getString("key-id"), c.getString("key"), key(at + "key")));
    }

    private static KeyRef keyRef(String id, String secretText, String at) throws InvalidConfigException {
        try {
            CpeKey key = new CpeKey(id, CpeKey.parseSecret(secretText));
            return new KeyRef(key.id(), key.secret());
        } catch (IllegalArgumentException e) {
            throw InvalidConfigException.at(at, e.getMessage());
        }
    }

    private static Concentrator concentrator(Config c) throws InvalidConfigException {
        String at = "concentrator.";
        List<InetSocketAddress> listen = new ArrayList<>();
        for (String l : c.getStringList("listen")) {
            listen.add(endpointText(l, key(at + "listen")));
        }
        List<InetSocketAddress> userspaceListen = new ArrayList<>();
        for (String l : c.getStringList("userspace-listen")) {
            userspaceListen.add(endpointText(l, key(at + "userspace-listen")));
        }
        if (listen.isEmpty() && userspaceListen.isEmpty()) {
            throw InvalidConfigException.at(key(at + "listen"), "a concentrator needs at least one listener");
        }
        List<String> cidrs = c.getStringList("authorized-cidrs");
        for (String cidr : cidrs) {
            parseCidr(cidr, key(at + "authorized-cidrs"));
        }
        List<KeyRef> keys = new ArrayList<>();
        Set<String> ids = new HashSet<>();
        List<? extends Config> keyEntries = c.getConfigList("keys");
        for (int i = 0; i < keyEntries.size(); i++) {
            Config k = keyEntries.get(i);
            String kat = key(at + "keys[" + i + "]");
            allowOnly(k, kat, "id", "key");
            KeyRef ref = keyRef(requiredString(k, kat, "id"), requiredString(k, kat, "key"), kat);
            if (!ids.add(ref.id())) {
                throw InvalidConfigException.at(kat + ".id", "duplicate key id '" + ref.id() + "'");
            }
            keys.add(ref);
        }
        if (cidrs.isEmpty() && keys.isEmpty()) {
            throw InvalidConfigException.at(key(at + "authorized-cidrs"),
                    "set authorized-cidrs and/or keys: without either this concentrator would be an open proxy");
        }
        Config d = c.getConfig("destinations");
        DestinationRules rules = new DestinationRules(d.getStringList("allow"), d.getStringList("deny"),
                d.getStringList("allow-ports"), d.getStringList("deny-ports"));
        for (String cidr : rules.allow()) {
            parseCidr(cidr, key(at + "destinations.allow"));
        }
        for (String cidr : rules.deny()) {
            parseCidr(cidr, key(at + "destinations.deny"));
        }
        for (String p : rules.allowPorts()) {
            parsePortRange(p, key(at + "destinations.allow-ports"));
        }
        for (String p : rules.denyPorts()) {
            parsePortRange(p, key(at + "destinations.deny-ports"));
        }
        return new Concentrator(List.copyOf(listen), List.copyOf(cidrs), List.copyOf(keys),
                positiveDuration(c, at, "max-clock-skew"), intInRange(c, at, "replay-cache-size", 16, 16_777_216),
                rules, intInRange(c, at, "fast-open-queue", 0, 65535), List.copyOf(userspaceListen),
                admission(c, at), sendBuffer(c, at, "mptcp-send-buffer"),
                congestionControl(c, at, "mptcp-congestion-control"));
    }

    /**
     * Empty (the host's default), or the name of a congestion control module: what TCP_CONGESTION takes, at most 15
     * characters (TCP_CA_NAME_MAX is 16 with the NUL). Whether this kernel has it is found when the listener is bound.
     */
    private static String congestionControl(Config c, String at, String name) throws InvalidConfigException {
        String value = c.getString(name).strip();
        if (!value.isEmpty() && !value.matches("[a-z0-9_]{1,15}")) {
            throw InvalidConfigException.at(key(at + name),
                    "must be empty (the host's default) or a congestion control name such as cubic or bbr");
        }
        return value;
    }

    /** 0 (the kernel's autotuning), or a size the kernel accepts for SO_SNDBUF without clamping it silently. */
    private static int sendBuffer(Config c, String at, String name) throws InvalidConfigException {
        long bytes = c.getBytes(name);
        if (bytes != 0 && (bytes < 64L << 10 || bytes > 64L << 20)) {
            throw InvalidConfigException.at(key(at + name), "must be 0 (kernel autotuning) or between 64KiB and 64MiB");
        }
        return (int) bytes;
    }

    private static AppConfig.Admission admission(Config c, String at) throws InvalidConfigException {
        return new AppConfig.Admission(positiveDuration(c, at, "first-byte-timeout"),
                positiveDuration(c, at, "convert-header-timeout"),
                intInRange(c, at, "max-pending-per-source", 1, 1_000_000),
                intInRange(c, at, "max-connections-per-source", 1, 10_000_000),
                intInRange(c, at, "max-connections-per-key", 1, 10_000_000),
                positiveDuration(c, at, "refusal-log-interval"));
    }

    private static AppConfig.Userspace userspace(Config c) throws InvalidConfigException {
        Config u = c.getConfig("userspace");
        String at = "userspace.";
        String scheduler = u.getString("scheduler");
        if (!Schedulers.NAMES.contains(scheduler)) {
            throw InvalidConfigException.at(key(at + "scheduler"), "'" + scheduler + "' is not one of "
                    + String.join(", ", Schedulers.NAMES));
        }
        Optional<Long> budget = Optional.empty();
        if (u.hasPath("overflow-budget")) {
            long bytes = u.getBytes("overflow-budget");
            if (bytes < 0) {
                throw InvalidConfigException.at(key(at + "overflow-budget"), "must not be negative");
            }
            budget = Optional.of(bytes);
        }
        long queue = u.getBytes("subflow-send-queue");
        if (queue < 16 * 1024 || queue > 16L * 1024 * 1024) {
            throw InvalidConfigException.at(key(at + "subflow-send-queue"), "must be between 16KiB and 16MiB");
        }
        return new AppConfig.Userspace(scheduler, intInRange(u, at, "subflows-per-uplink", 1, 8), budget,
                positiveDuration(u, at, "overflow-budget-period"), positiveDuration(u, at, "session-start-timeout"),
                positiveDuration(u, at, "session-restart-delay"), (int) queue,
                intInRange(u, at, "max-sessions", 1, 1_000_000), intInRange(u, at, "max-sessions-per-key", 1, 1_000_000),
                intInRange(u, at, "max-pending-handshakes", 1, 1_000_000),
                intInRange(u, at, "max-pending-handshakes-per-source", 1, 1_000_000),
                bytesInRange(u, at, "session-memory", 1L << 20, 1L << 40),
                bytesInRange(u, at, "process-memory", 1L << 20, 1L << 44), u.getBoolean("late-reinjection"),
                intInRange(u, at, "receive-window-periods", 2, 16), u.getBoolean("receive-period-from-receiver-rtt"),
                u.getBoolean("large-frames"), u.getBoolean("collapse-reinjection"),
                u.getBoolean("warm-stream-windows"), u.getBoolean("restart-congestion-control-after-collapse"),
                intInRange(u, at, "warm-session-connections", 0, 65_536));
    }

    private static long bytesInRange(Config c, String at, String name, long min, long max)
            throws InvalidConfigException {
        long bytes = c.getBytes(name);
        if (bytes < min || bytes > max) {
            throw InvalidConfigException.at(key(at + name), "must be between " + min + " and " + max + " bytes");
        }
        return bytes;
    }

    /** What each engine needs that the role's own block does not check. */
    private static void checkEngine(AppConfig.Engine engine, ApplianceRole role, Optional<Cpe> cpe,
                                    Optional<Concentrator> concentrator) throws InvalidConfigException {
        if (engine != AppConfig.Engine.USERSPACE) {
            return;
        }
        switch (role) {
            case CPE -> {
                if (cpe.orElseThrow().key().isEmpty()) {
                    throw InvalidConfigException.at(key("cpe.key-id"), "the userspace engine authenticates its "
                            + "session with the cpe's pre-shared key: set cpe.key-id and cpe.key");
                }
            }
            case CONCENTRATOR -> {
                Concentrator conc = concentrator.orElseThrow();
                if (conc.userspaceListen().isEmpty()) {
                    throw InvalidConfigException.at(key("concentrator.userspace-listen"),
                            "engine = userspace needs at least one userspace listener");
                }
                if (conc.keys().isEmpty()) {
                    throw InvalidConfigException.at(key("concentrator.keys"), "userspace sessions are "
                            + "authenticated with the cpes' pre-shared keys: configure at least one");
                }
            }
            case SIDECAR -> throw InvalidConfigException.at(key("engine"), "the sidecar bridges an application's "
                    + "MPTCP socket, which only the kernel engine provides");
        }
    }

    private static Sidecar sidecar(Config c) throws InvalidConfigException {
        String at = "sidecar.";
        AppConfig.SidecarMode mode = enumText(c.getString("mode"), key(at + "mode"), AppConfig.SidecarMode.class,
                "mptcp-to-tcp or tcp-to-mptcp");
        return new Sidecar(mode, endpoint(c, at, "listen"), endpoint(c, at, "upstream"));
    }

    // ---- small typed readers; each failure names the full key ----

    private static String key(String relative) {
        return ROOT + "." + relative;
    }

    private static void allowOnly(Config entry, String at, String... allowed) throws InvalidConfigException {
        Set<String> ok = Set.of(allowed);
        for (var e : entry.root().keySet()) {
            if (!ok.contains(e)) {
                throw InvalidConfigException.at(at + "." + e, "unknown key (allowed: " + String.join(", ", allowed) + ")");
            }
        }
    }

    private static String requiredString(Config c, String at, String name) throws InvalidConfigException {
        if (!c.hasPath(name)) {
            throw InvalidConfigException.at(at + "." + name, "missing");
        }
        return c.getString(name);
    }

    private static <E extends Enum<E>> E enumValue(Config c, String name, Class<E> type, String expected)
            throws InvalidConfigException {
        if (!c.hasPath(name)) {
            throw InvalidConfigException.at(key(name), "missing (expected " + expected + ")");
        }
        return enumText(c.getString(name), key(name), type, expected);
    }

    private static <E extends Enum<E>> E enumText(String text, String at, Class<E> type, String expected)
            throws InvalidConfigException {
        try {
            return Enum.valueOf(type, text.trim().toUpperCase(Locale.ROOT).replace('-', '_'));
        } catch (IllegalArgumentException e) {
            throw InvalidConfigException.at(at, "'" + text + "' is not one of " + expected);
        }
    }

    private static int intInRange(Config c, String name, int min, int max) throws InvalidConfigException {
        return intInRange(c, "", name, min, max);
    }

    private static int intInRange(Config c, String at, String name, int min, int max) throws InvalidConfigException {
        int value = c.getInt(name);
        if (value < min || value > max) {
            throw InvalidConfigException.at(key(at + name), value + " is outside " + min + "-" + max);
        }
        return value;
    }

    private static Duration positiveDuration(Config c, String at, String name) throws InvalidConfigException {
        Duration d = c.getDuration(name);
        if (d.isNegative() || d.isZero()) {
            throw InvalidConfigException.at(key(at + name), "must be a positive duration such as 10s");
        }
        return d;
    }

    private static InetSocketAddress endpoint(Config c, String at, String name) throws InvalidConfigException {
        if (!c.hasPath(name)) {
            throw InvalidConfigException.at(key(at + name), "missing (expected host:port)");
        }
        return endpointText(c.getString(name), key(at + name));
    }

    private static InetSocketAddress endpointText(String text, String at) throws InvalidConfigException {
        try {
            return Endpoint.parse(text);
        } catch (IllegalArgumentException e) {
            throw InvalidConfigException.at(at, e.getMessage());
        }
    }

    private static InetAddress literalAddress(String text, String at) throws InvalidConfigException {
        if (!text.matches("[0-9a-fA-F:.]+")) {
            throw InvalidConfigException.at(at, "'" + text + "' is not an IP address literal");
        }
        try {
            return Endpoint.address(text);
        } catch (IllegalArgumentException e) {
            throw InvalidConfigException.at(at, e.getMessage());
        }
    }

    private static void parseCidr(String text, String at) throws InvalidConfigException {
        try {
            Cidr.parse(text);
        } catch (IllegalArgumentException e) {
            throw InvalidConfigException.at(at, e.getMessage());
        }
    }

    private static void parsePortRange(String text, String at) throws InvalidConfigException {
        try {
            PortRange.parse(text);
        } catch (IllegalArgumentException e) {
            throw InvalidConfigException.at(at, e.getMessage());
        }
    }
}
