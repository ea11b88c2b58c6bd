package net.hybridproxy.proxy.pm;

import net.hybridproxy.proxy.exec.Command;

import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * Source-based policy routing per uplink: {@code ip rule add from ADDRESS lookup TABLE} and a default route in
 * TABLE through the uplink. Without it, a subflow bound to the LTE address would still leave by the main table's
 * default route (DSL) and the second path would not exist. Installed with iproute2 at start (never on an event
 * loop); idempotent, and {@link #remove()} deletes exactly what {@link #install()} added.
 */
public final class UplinkRouting {
    /** One uplink's route; {@code gateway} is null on point-to-point links. */
    public record UplinkRoute(String name, String interfaceName, InetAddress address, InetAddress gateway, int table,
                              int priority) {
    }

    private final List<UplinkRoute> routes;

    public UplinkRouting(List<UplinkRoute> routes) {
        this.routes = List.copyOf(routes);
    }

    public void install() throws IOException {
        for (UplinkRoute r : routes) {
            try {
                Command.run(routeCommand(r, "replace"), null);
                // Delete first so a restart never stacks a second copy of the rule.
                while (Command.runIgnoringFailure(ruleCommand(r, "del")).exitCode() == 0) {
                    // removed one stale copy
                }
                Command.run(ruleCommand(r, "add"), null);
            } catch (IOException e) {
                throw new IOException("uplink " + r.name() + ": cannot install its policy routing: " + e.getMessage(), e);
            }
        }
    }

    public void remove() {
        for (UplinkRoute r : routes) {
            Command.runIgnoringFailure(ruleCommand(r, "del"));
            Command.runIgnoringFailure(routeCommand(r, "del"));
        }
    }

    public String describe() {
        StringBuilder s = new StringBuilder();
        for (UplinkRoute r : routes) {
            s.append(String.join(" ", routeCommand(r, "replace"))).append('\n');
            s.append(String.join(" ", ruleCommand(r, "add"))).append('\n');
        }
        return s.toString();
    }

    private static String family(UplinkRoute r) {
        return r.address() instanceof Inet6Address ? "-6" : "-4";
    }

    static List<String> routeCommand(UplinkRoute r, String verb) {
        List<String> c = new ArrayList<>(List.of("ip", family(r), "route", verb, "default"));
        if (r.gateway() != null) {
            c.addAll(List.of("via", r.gateway().getHostAddress()));
        }
        c.addAll(List.of("dev", r.interfaceName(), "table", String.valueOf(r.table())));
        return c;
    }

    static List<String> ruleCommand(UplinkRoute r, String verb) {
        return List.of("ip", family(r), "rule", verb, "from", r.address().getHostAddress(), "lookup",
                String.valueOf(r.table()), "priority", String.valueOf(r.priority()));
    }
}
