package net.hybridproxy.proxy.capture;

import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.AppConfig.Listener;
import net.hybridproxy.proxy.config.AppConfig.ListenerMode;
import net.hybridproxy.proxy.exec.Command;

import java.net.Inet6Address;
import java.util.ArrayList;
import java.util.List;

/**
 * The nftables ruleset and fwmark routing that steer LAN TCP into the CPE's transparent listeners.
 *
 * <p>TPROXY: a prerouting rule in the mangle slot marks the packet and hands the socket lookup to our
 * IP_TRANSPARENT listener; the mark routes the packet to the local stack ({@code ip rule fwmark M lookup T} with
 * {@code local default dev lo} in T), because the destination is not one of our addresses. REDIRECT: a dstnat rule
 * rewrites the destination to our listener, and the listener recovers the original with SO_ORIGINAL_DST.
 *
 * <p>Everything lives in one table, {@code inet hybridproxy}, so removal is one command and never touches rules
 * that belong to the operator.
 *
 * <p>Crash leftovers: a cpe killed with SIGKILL or by the OOM killer cannot remove its rules, and LAN TCP would stay
 * steered into a listener that no longer exists. The table {@link #install()} creates carries {@link #MARKER} as
 * its comment, so the next start ({@link #removeLeftovers()}, whatever that start's configuration says) and
 * {@code hybridproxy cleanup} can tell it from a table an operator created from {@code check}'s printout, which
 * they leave alone.
 */
public final class CaptureRules {
    public static final String TABLE = "hybridproxy";
    /** Packet mark and routing table for TPROXY'd packets; chosen clear of common firewall marks and tables. */
    static final int TPROXY_MARK = 0x4850;
    static final int TPROXY_TABLE = 250;
    static final int TPROXY_RULE_PRIORITY = 9000;

    /** The comment on a table this process installed (and so may remove after a crash). */
    public static final String MARKER = "installed by the hybridproxy cpe; removed at exit, reconciled at start";

    private final List<Listener> listeners;

    public CaptureRules(AppConfig.Cpe cpe) {
        this.listeners = cpe.listeners().stream().filter(l -> l.mode() != ListenerMode.EXPLICIT).toList();
    }

    public boolean isEmpty() {
        return listeners.isEmpty();
    }

    /** The nft script, also printed by {@code check} for operators who manage their own firewall. */
    public String nftScript() {
        return nftScript(false);
    }

    private String nftScript(boolean marked) {
        StringBuilder s = new StringBuilder();
        s.append("table inet ").append(TABLE).append(" {\n");
        if (marked) {
            s.append("  comment \"").append(MARKER).append("\"\n");
        }
        s.append("  chain prerouting {\n    type filter hook prerouting priority mangle; policy accept;\n");
        for (Listener l : listeners) {
            if (l.mode() == ListenerMode.TPROXY) {
                String family = l.bind().getAddress() instanceof Inet6Address ? "ip6" : "ip";
                s.append("    iifname \"").append(l.captureInterface().orElseThrow()).append("\" meta l4proto tcp")
                        .append(ports(l)).append(" fib daddr type != local")
                        .append(" tproxy ").append(family).append(" to :").append(l.bind().getPort())
                        .append(" meta mark set ").append(TPROXY_MARK).append(" accept\n");
            }
        }
        s.append("  }\n");
        s.append("  chain dstnat {\n    type nat hook prerouting priority dstnat; policy accept;\n");
        for (Listener l : listeners) {
            if (l.mode() == ListenerMode.REDIRECT) {
                s.append("    iifname \"").append(l.captureInterface().orElseThrow()).append("\" meta l4proto tcp")
                        .append(ports(l)).append(" fib daddr type != local redirect to :")
                        .append(l.bind().getPort()).append("\n");
            }
        }
        s.append("  }\n}\n");
        return s.toString();
    }

    private static String ports(Listener l) {
        if (l.capturePorts().isEmpty()) {
            return "";
        }
        return " th dport { " + String.join(", ", l.capturePorts()) + " }";
    }

    /**
     * Removes what an earlier run of the cpe installed and could not remove (it was killed): the marked table, and
     * with it the TPROXY fwmark rules and their local route. A table without the marker is the operator's and is
     * left alone. Returns what was removed, empty when nothing was left.
     */
    public static List<String> removeLeftovers() {
        Command.Result listed = Command.runIgnoringFailure(List.of("nft", "list", "table", "inet", TABLE));
        if (listed.exitCode() != 0 || !listed.output().contains(MARKER)) {
            return List.of();
        }
        List<String> removed = new ArrayList<>();
        if (Command.runIgnoringFailure(List.of("nft", "delete", "table", "inet", TABLE)).exitCode() == 0) {
            removed.add("nft table inet " + TABLE);
        }
        for (List<String> c : tproxyRouting(false)) {
            if (Command.runIgnoringFailure(c).exitCode() == 0) {
                removed.add(String.join(" ", c.subList(1, c.size())));
            }
        }
        return removed;
    }

    private boolean hasTproxy() {
        return listeners.stream().anyMatch(l -> l.mode() == ListenerMode.TPROXY);
    }

    /** The routing commands TPROXY needs, as argument vectors for {@code ip}. */
    List<List<String>> routingCommands(boolean add) {
        return hasTproxy() ? tproxyRouting(add) : List.of();
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

    /** Installs the table (replacing an older copy of it) and the TPROXY routing. Needs CAP_NET_ADMIN. */
    public void install() throws Exception {
        remove();
        Command.run(List.of("nft", "-f", "-"), nftScript(true));
        for (List<String> c : routingCommands(true)) {
            if (c.contains("rule")) {
                Command.runIgnoringFailure(withVerb(c, "del")); // keep exactly one copy of the rule
            }
            Command.run(c, null);
        }
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
