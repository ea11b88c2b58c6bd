package net.hybridproxy.proxy.pm;

import net.hybridproxy.proxy.exec.Command;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Source-based policy routing for uplinks, so that a subflow bound to an uplink's address leaves through that
 * uplink: per uplink, a default route in its own table and a rule "from ADDRESS lookup TABLE" at a fixed priority.
 *
 * <p>Runs iproute2's {@code ip} with a timeout rather than speaking rtnetlink, because these are a handful of
 * commands at startup and {@link #describe()} can then show operators exactly what runs. {@link #install()} is
 * idempotent: the route uses {@code replace}, and the kernel refuses an identical rule with EEXIST, which counts
 * as already installed (there is no window without the rule, unlike delete-then-add). {@link #remove()} deletes
 * exactly those routes and rules, and treats "already gone" as success.
 *
 * <p>Blocking: run on the startup thread. Changes apply to the network namespace {@code ip} runs in.
 */
public final class PolicyRouting {
    /** Between the local table's rule (0) and main (32766), clear of the low numbers other tools tend to use. */
    static final int DEFAULT_RULE_PRIORITY = 1000;
    private static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(5);
    private static final Pattern INTERFACE_NAME = Pattern.compile("[A-Za-z0-9_.:@-]{1,15}");

    /**
     * @param name          the uplink's name in the configuration, used in error messages
     * @param interfaceName the uplink's interface
     * @param address       the uplink's local address: traffic from it uses the uplink's table
     * @param gateway       next hop, or null for point-to-point links (e.g. an LTE wwan interface)
     * @param table         routing table id, not one of the kernel's own (0, 253 default, 254 main, 255 local)
     */
    public record UplinkRoutes(String name, String interfaceName, InetAddress address, InetAddress gateway, int table) {
        public UplinkRoutes {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(address, "address");
            if (interfaceName == null || !INTERFACE_NAME.matcher(interfaceName).matches()) {
                throw new IllegalArgumentException("uplink " + name + ": bad interface name " + interfaceName);
            }
            if (gateway != null && (gateway instanceof Inet4Address) != (address instanceof Inet4Address)) {
                throw new IllegalArgumentException("uplink " + name + ": gateway " + gateway.getHostAddress()
                        + " is not in the same address family as " + address.getHostAddress());
            }
            if (table <= 0 || table == 253 || table == 254 || table == 255) {
                throw new IllegalArgumentException("uplink " + name + ": table " + table
                        + " is reserved; use a dedicated table id (1..252 or 256 and above)");
            }
        }

        boolean ipv4() {
            return address instanceof Inet4Address;
        }
    }

    private final List<String> ipCommand;
    private final List<UplinkRoutes> uplinks;
    private final int rulePriority;
    private final Duration timeout;

    public PolicyRouting(List<UplinkRoutes> uplinks) {
        this(List.of("ip"), uplinks, DEFAULT_RULE_PRIORITY, DEFAULT_TIMEOUT);
    }

    /**
     * @param ipCommand    how to run iproute2, e.g. {@code ["ip"]} or {@code ["ip", "-n", "ns1"]}
     * @param rulePriority the priority of every uplink rule (1..32765)
     * @param timeout      per command
     */
    public PolicyRouting(List<String> ipCommand, List<UplinkRoutes> uplinks, int rulePriority, Duration timeout) {
        if (ipCommand.isEmpty()) {
            throw new IllegalArgumentException("ipCommand is empty");
        }
        if (rulePriority < 1 || rulePriority > 32765) {
            throw new IllegalArgumentException("rule priority must be 1..32765: " + rulePriority);
        }
        this.ipCommand = List.copyOf(ipCommand);
        this.uplinks = List.copyOf(uplinks);
        this.rulePriority = rulePriority;
        this.timeout = Objects.requireNonNull(timeout, "timeout");
        for (int i = 0; i < this.uplinks.size(); i++) {
            for (int j = i + 1; j < this.uplinks.size(); j++) {
                UplinkRoutes a = this.uplinks.get(i);
                UplinkRoutes b = this.uplinks.get(j);
                if (a.table() == b.table() && a.ipv4() == b.ipv4()) {
                    throw new IllegalArgumentException("uplinks " + a.name() + " and " + b.name()
                            + " share routing table " + a.table());
                }
            }
        }
    }

    /** Installs every uplink's route and rule; safe to run again. */
    public void install() throws IOException {
        for (UplinkRoutes u : uplinks) {
            run(u, routeArgs(u, "replace"));
            // The kernel rejects an identical rule with EEXIST: it is already there, which is what we want.
            run(u, ruleArgs(u, "add"), "File exists");
        }
    }

    /** Deletes exactly the routes and rules {@link #install()} creates; missing ones are not an error. */
    public void remove() throws IOException {
        IOException first = null;
        for (UplinkRoutes u : uplinks) {
            // Keep going after a failure so one broken uplink does not leave the others' rules behind.
            try {
                run(u, ruleArgs(u, "del"), "No such file or directory");
            } catch (IOException e) {
                first = first == null ? e : first;
            }
            try {
                run(u, routeArgs(u, "del"), "No such process", "FIB table does not exist");
            } catch (IOException e) {
                first = first == null ? e : first;
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /** The commands {@link #install()} runs, in order, one shell command per line (for docs and --dry-run). */
    public List<String> describe() {
        List<String> out = new ArrayList<>();
        for (UplinkRoutes u : uplinks) {
            out.add(String.join(" ", command(routeArgs(u, "replace"))));
            out.add(String.join(" ", command(ruleArgs(u, "add"))));
        }
        return out;
    }

    /** The commands {@link #remove()} runs. */
    public List<String> describeRemoval() {
        List<String> out = new ArrayList<>();
        for (UplinkRoutes u : uplinks) {
            out.add(String.join(" ", command(ruleArgs(u, "del"))));
            out.add(String.join(" ", command(routeArgs(u, "del"))));
        }
        return out;
    }

    private static List<String> routeArgs(UplinkRoutes u, String verb) {
        List<String> args = new ArrayList<>(List.of(u.ipv4() ? "-4" : "-6", "route", verb, "default"));
        if (u.gateway() != null) {
            args.add("via");
            args.add(u.gateway().getHostAddress());
        }
        args.addAll(List.of("dev", u.interfaceName(), "table", Integer.toString(u.table())));
        return args;
    }

    private List<String> ruleArgs(UplinkRoutes u, String verb) {
        return List.of(u.ipv4() ? "-4" : "-6", "rule", verb, "from", u.address().getHostAddress(),
                "lookup", Integer.toString(u.table()), "priority", Integer.toString(rulePriority));
    }

    private List<String> command(List<String> args) {
        List<String> cmd = new ArrayList<>(ipCommand);
        cmd.addAll(args);
        return cmd;
    }

    /** Runs one ip command; a failure whose output contains one of {@code tolerated} counts as success. */
    private void run(UplinkRoutes u, List<String> args, String... tolerated) throws IOException {
        List<String> cmd = command(args);
        Command.Result result;
        try {
            result = Command.execute(cmd, null, timeout);
        } catch (IOException e) {
            throw new IOException("uplink " + u.name() + ": " + e.getMessage(), e);
        }
        if (result.succeeded()) {
            return;
        }
        String text = result.output().strip();
        for (String ok : tolerated) {
            if (text.contains(ok)) {
                return;
            }
        }
        throw new IOException("uplink " + u.name() + ": " + String.join(" ", cmd) + " failed (exit "
                + result.exitCode() + "): " + text);
    }
}
