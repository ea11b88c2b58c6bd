package net.hybridproxy.proxy.capture;

import net.hybridproxy.engine.policy.Cidr;
import net.hybridproxy.engine.policy.PortRange;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.AppConfig.Bypass;
import net.hybridproxy.proxy.config.AppConfig.BypassAction;
import net.hybridproxy.proxy.config.AppConfig.ListenerConfig;
import net.hybridproxy.proxy.config.AppConfig.ListenerMode;
import net.hybridproxy.proxy.exec.Command;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The nftables ruleset and fwmark routing that steer LAN TCP into the CPE's transparent listeners, and the bypass
 * rules that keep some traffic away from them.
 *
 * <p>TPROXY: a prerouting rule in the mangle slot marks the packet and hands the socket lookup to our
 * IP_TRANSPARENT listener; the mark routes the packet to the local stack ({@code ip rule fwmark M lookup T} with
 * {@code local default dev lo} in T), because the destination is not one of our addresses. REDIRECT: a dstnat rule
 * rewrites the destination to our listener, and the listener recovers the original with SO_ORIGINAL_DST.
 *
 * <p>Bypass ({@code cpe.bypass}), first match wins, ahead of the capture rules: {@code direct} marks the packets
 * with the uplink's mark, an {@code ip rule fwmark} sends them to that uplink's own routing table (the one the path
 * manager installs for its subflows), and a postrouting rule source-NATs them to the uplink's address; the dstnat
 * chain lets them pass untouched. {@code proxy} captures the connection into the listener's pinned port for that
 * uplink ({@link ListenerConfig#pinnedBind}), where the cpe opens one plain TCP path over that uplink only.
 *
 * <p>Everything lives in one table, {@code inet hybridproxy}, so removal is one command and never touches rules
 * that belong to the operator; installing replaces the table in one nft transaction, so a reload never leaves a
 * moment without capture.
 *
 * <p>Crash leftovers: a cpe killed with SIGKILL or by the OOM killer cannot remove its rules, and LAN TCP would stay
 * steered into a listener that no longer exists. The table {@link #install()} creates carries {@link #MARKER} as
 * its comment, so the next start ({@link #removeLeftovers()}, whatever that start's configuration says) and
 * {@code hybridproxy cleanup} can tell it from a table an operator created from {@code check}'s printout, which
 * they leave alone. The comment also names the installing process: a table whose cpe still runs is no leftover
 * (a second cpe process on the host, or {@code cleanup} run while the cpe is up, must not tear its capture down).
 */
public final class CaptureRules {
    public static final String TABLE = "hybridproxy";
    /** Packet mark and routing table for TPROXY'd packets; chosen clear of common firewall marks and tables. */
    static final int TPROXY_MARK = 0x4850;
    static final int TPROXY_TABLE = 250;
    static final int TPROXY_RULE_PRIORITY = 9000;
    /** Direct bypass: mark {@code DIRECT_MARK + uplink index}, looked up before the TPROXY rule. */
    static final int DIRECT_MARK = 0x4860;
    static final int DIRECT_MARK_MASK = 0xfffffff0;
    static final int DIRECT_RULE_PRIORITY = 8990;
    /** Uplinks a direct bypass can name: the marks 0x4860 to 0x486f. */
    private static final int MAX_DIRECT_UPLINKS = 16;

    /** The comment on a table this process installed (and so may remove after a crash). */
    private static final String MARKER = "installed by the hybridproxy cpe; removed at exit, reconciled at start";
    private static final String OWNER = "; pid ";
    private static final java.util.regex.Pattern OWNER_PID =
            java.util.regex.Pattern.compile(java.util.regex.Pattern.quote(OWNER) + "(\\d+)");

    private final List<ListenerConfig> listeners;
    private final List<Bypass> bypass;
    private final List<AppConfig.UplinkConfig> uplinks;
    private final int routeTableBase;

    public CaptureRules(AppConfig config) {
        AppConfig.Cpe cpe = config.cpe().orElseThrow();
        this.listeners = cpe.listeners().stream().filter(l -> l.mode() != ListenerMode.EXPLICIT).toList();
        this.bypass = cpe.bypass();
        this.uplinks = config.uplinks();
        this.routeTableBase = config.pathManager().routeTableBase();
    }

    public boolean isEmpty() {
        return listeners.isEmpty();
    }

    /** The nft script, also printed by {@code check} for operators who manage their own firewall. */
    String nftScript() {
        return nftScript(false);
    }

    private String nftScript(boolean marked) {
        StringBuilder s = new StringBuilder();
        s.append("table inet ").append(TABLE).append(" {\n");
        if (marked) {
            s.append("  comment \"").append(MARKER).append(OWNER).append(ProcessHandle.current().pid())
                    .append("\"\n");
        }
        s.append("  chain prerouting {\n    type filter hook prerouting priority mangle; policy accept;\n");
        for (Bypass rule : bypass) {
            int uplink = uplinkIndex(rule.uplink());
            if (rule.action() == BypassAction.DIRECT) {
                boolean ipv4 = uplinks.get(uplink).address() instanceof Inet4Address;
                for (String match : matches(rule, ipv4 ? "ip" : "ip6", false)) {
                    s.append("    ").append(lanInterfaces()).append("meta nfproto ")
                            .append(ipv4 ? "ipv4" : "ipv6").append(match).append(" meta mark set ")
                            .append(hex(DIRECT_MARK + uplink)).append(" accept comment \"bypass ")
                            .append(rule.name()).append(": direct via ").append(rule.uplink()).append("\"\n");
                }
            } else {
                for (ListenerConfig l : listeners) {
                    if (l.mode() == ListenerMode.TPROXY) {
                        for (String match : matches(rule, family(l), true)) {
                            s.append("    ").append(tproxy(l, match, l.pinnedBind(uplink).getPort()))
                                    .append(" comment \"bypass ").append(rule.name()).append(": proxy via ")
                                    .append(rule.uplink()).append("\"\n");
                        }
                    }
                }
            }
        }
        for (ListenerConfig l : listeners) {
            if (l.mode() == ListenerMode.TPROXY) {
                s.append("    ").append(tproxy(l, ports(l.capturePorts()), l.bind().getPort())).append('\n');
            }
        }
        s.append("  }\n");
        s.append("  chain dstnat {\n    type nat hook prerouting priority dstnat; policy accept;\n");
        if (hasDirect()) {
            s.append("    meta mark & ").append(hex(DIRECT_MARK_MASK)).append(" == ").append(hex(DIRECT_MARK))
                    .append(" accept comment \"direct bypass is not captured\"\n");
        }
        for (Bypass rule : bypass) {
            if (rule.action() == BypassAction.PROXY) {
                for (ListenerConfig l : listeners) {
                    if (l.mode() == ListenerMode.REDIRECT) {
                        for (String match : matches(rule, family(l), true)) {
                            s.append("    ").append(redirect(l, match, l.pinnedBind(uplinkIndex(rule.uplink()))
                                    .getPort())).append(" comment \"bypass ").append(rule.name())
                                    .append(": proxy via ").append(rule.uplink()).append("\"\n");
                        }
                    }
                }
            }
        }
        for (ListenerConfig l : listeners) {
            if (l.mode() == ListenerMode.REDIRECT) {
                s.append("    ").append(redirect(l, ports(l.capturePorts()), l.bind().getPort())).append('\n');
            }
        }
        s.append("  }\n");
        if (hasDirect()) {
            s.append("  chain srcnat {\n    type nat hook postrouting priority srcnat; policy accept;\n");
            for (int i : directUplinks()) {
                s.append("    meta mark ").append(hex(DIRECT_MARK + i)).append(" oifname \"")
                        .append(uplinks.get(i).interfaceName()).append("\" masquerade\n");
            }
            s.append("  }\n");
        }
        s.append("}\n");
        return s.toString();
    }

    private static String tproxy(ListenerConfig l, String match, int port) {
        return "iifname \"" + l.captureInterface().orElseThrow() + "\" meta l4proto tcp" + match
                + " fib daddr type != local tproxy " + family(l) + " to :" + port + " meta mark set "
                + hex(TPROXY_MARK) + " accept";
    }

    private static String redirect(ListenerConfig l, String match, int port) {
        return "iifname \"" + l.captureInterface().orElseThrow() + "\" meta l4proto tcp" + match
                + " fib daddr type != local redirect to :" + port;
    }

    private static String family(ListenerConfig l) {
        return l.bind().getAddress() instanceof Inet6Address ? "ip6" : "ip";
    }

    /**
     * The rule's criteria as nft match expressions for one address family: none when the rule names addresses and
     * none of them is of that family (the rule cannot match there). {@code tcpOnly}: the caller already matched
     * TCP, so ports need no protocol of their own.
     */
    private static List<String> matches(Bypass rule, String family, boolean tcpOnly) {
        boolean ipv4 = family.equals("ip");
        List<Cidr> destinations = rule.destinations().stream().filter(c -> c.isIpv4() == ipv4).toList();
        List<Cidr> sources = rule.sources().stream().filter(c -> c.isIpv4() == ipv4).toList();
        if (!rule.destinations().isEmpty() && destinations.isEmpty()
                || !rule.sources().isEmpty() && sources.isEmpty()) {
            return List.of();
        }
        StringBuilder m = new StringBuilder();
        if (!rule.ports().isEmpty() && !tcpOnly) {
            m.append(" meta l4proto { tcp, udp }");
        }
        if (!sources.isEmpty()) {
            m.append(' ').append(family).append(" saddr ").append(set(sources));
        }
        if (!destinations.isEmpty()) {
            m.append(' ').append(family).append(" daddr ").append(set(destinations));
        }
        m.append(ports(rule.ports().stream().map(PortRange::toString).toList()));
        if (!rule.sourceMacs().isEmpty()) {
            m.append(" ether saddr ").append(set(rule.sourceMacs()));
        }
        return List.of(m.toString());
    }

    private static String set(List<?> values) {
        return "{ " + values.stream().map(String::valueOf).collect(Collectors.joining(", ")) + " }";
    }

    private static String ports(List<String> ports) {
        return ports.isEmpty() ? "" : " th dport " + set(ports);
    }

    private String lanInterfaces() {
        Set<String> names = new LinkedHashSet<>();
        listeners.forEach(l -> l.captureInterface().ifPresent(names::add));
        return names.isEmpty() ? "" : "iifname " + set(names.stream().map(n -> "\"" + n + "\"").toList()) + " ";
    }

    private int uplinkIndex(String name) {
        for (int i = 0; i < uplinks.size(); i++) {
            if (uplinks.get(i).name().equals(name)) {
                return i;
            }
        }
        throw new IllegalArgumentException("no uplink named " + name); // the config loader checked it
    }

    private boolean hasDirect() {
        return !directUplinks().isEmpty();
    }

    private Set<Integer> directUplinks() {
        Set<Integer> result = new LinkedHashSet<>();
        for (Bypass rule : bypass) {
            if (rule.action() == BypassAction.DIRECT) {
                result.add(uplinkIndex(rule.uplink()));
            }
        }
        return result;
    }

    /**
     * Removes what an earlier run of the cpe installed and could not remove (it was killed): the marked table, and
     * with it the TPROXY fwmark rules and their local route and the direct bypass fwmark rules. A table without the
     * marker is the operator's and is left alone, and so is one whose installing process still runs. Returns what was
     * removed, empty when nothing was left.
     */
    public static List<String> removeLeftovers() {
        Command.Result listed = Command.runIgnoringFailure(List.of("nft", "list", "table", "inet", TABLE));
        if (listed.exitCode() != 0 || !listed.output().contains(MARKER)) {
            return List.of();
        }
        java.util.regex.Matcher owner = OWNER_PID.matcher(listed.output());
        if (owner.find() && ProcessHandle.of(Long.parseLong(owner.group(1))).map(ProcessHandle::isAlive).orElse(false)) {
            return List.of(); // its cpe is running: no leftover
        }
        List<String> removed = new ArrayList<>();
        if (Command.runIgnoringFailure(List.of("nft", "delete", "table", "inet", TABLE)).exitCode() == 0) {
            removed.add("nft table inet " + TABLE);
        }
        List<List<String>> routing = new ArrayList<>(tproxyRouting(false));
        for (int i = 0; i < MAX_DIRECT_UPLINKS; i++) {
            for (String family : List.of("-4", "-6")) {
                routing.add(List.of("ip", family, "rule", "del", "fwmark", String.valueOf(DIRECT_MARK + i),
                        "priority", String.valueOf(DIRECT_RULE_PRIORITY)));
            }
        }
        for (List<String> c : routing) {
            if (Command.runIgnoringFailure(c).exitCode() == 0) {
                removed.add(String.join(" ", c.subList(1, c.size())));
            }
        }
        return removed;
    }

    private boolean hasTproxy() {
        return listeners.stream().anyMatch(l -> l.mode() == ListenerMode.TPROXY);
    }

    private static String hex(int value) {
        return "0x" + Integer.toHexString(value);
    }

    /** The routing commands TPROXY and direct bypass need, as argument vectors for {@code ip}. */
    List<List<String>> routingCommands(boolean add) {
        List<List<String>> commands = new ArrayList<>(hasTproxy() ? tproxyRouting(add) : List.of());
        for (int i : directUplinks()) {
            String family = uplinks.get(i).address() instanceof Inet4Address ? "-4" : "-6";
            commands.add(List.of("ip", family, "rule", add ? "add" : "del", "fwmark", String.valueOf(DIRECT_MARK + i),
                    "lookup", String.valueOf(routeTableBase + i), "priority", String.valueOf(DIRECT_RULE_PRIORITY)));
        }
        return commands;
    }

    private static List<List<String>> tproxyRouting(boolean add) {
        List<List<String>> commands = new ArrayList<>();
        for (String family : List.of("-4", "-6")) {
            commands.add(List.of("ip", family, "rule", add ? "add" : "del", "fwmark", String.valueOf(TPROXY_MARK),
                    "lookup", String.valueOf(TPROXY_TABLE), "priority", String.valueOf(TPROXY_RULE_PRIORITY)));
            commands.add(List.of("ip", family, "route", add ? "replace" : "del", "local", "default", "dev", "lo",
                    "table", String.valueOf(TPROXY_TABLE)));
        }
        return commands;
    }

    /** Shell commands equivalent to {@link #install()}, for documentation and {@code check}. */
    public String describe() {
        StringBuilder s = new StringBuilder("nft -f - <<'EOF'\n").append(nftScript()).append("EOF\n");
        for (List<String> c : routingCommands(true)) {
            s.append(String.join(" ", c)).append('\n');
        }
        return s.toString();
    }

    /**
     * Installs the table, replacing an older copy of it in the same nft transaction (so capture never lapses, which
     * is what a reload relies on), and the routing. Needs CAP_NET_ADMIN.
     *
     * @param previous the rules installed before, whose routing this set no longer needs is removed (empty at
     *                 start); routing both need is left in place, so TPROXY'd packets always find their route
     */
    public void install(Optional<CaptureRules> previous) throws Exception {
        if (previous.isPresent()) {
            List<List<String>> kept = routingCommands(false);
            previous.get().routingCommands(false).stream().filter(c -> !kept.contains(c))
                    .forEach(Command::runIgnoringFailure);
        }
        String replace = "table inet " + TABLE + "\ndelete table inet " + TABLE + "\n" + nftScript(true);
        Command.run(List.of("nft", "-f", "-"), replace);
        for (List<String> c : routingCommands(true)) {
            if (c.contains("rule")) {
                Command.runIgnoringFailure(withVerb(c, "del")); // keep exactly one copy of the rule
            }
            Command.run(c, null);
        }
    }

    /** Installs the rules on a host that has none of ours yet (start). */
    public void install() throws Exception {
        remove();
        install(Optional.empty());
    }

    /** Removes what {@link #install()} added; absent pieces are not an error. */
    public void remove() {
        Command.runIgnoringFailure(List.of("nft", "delete", "table", "inet", TABLE));
        for (List<String> c : routingCommands(false)) {
            Command.runIgnoringFailure(c);
        }
    }

    private static List<String> withVerb(List<String> command, String verb) {
        List<String> copy = new ArrayList<>(command);
        copy.set(3, verb);
        return copy;
    }
}
