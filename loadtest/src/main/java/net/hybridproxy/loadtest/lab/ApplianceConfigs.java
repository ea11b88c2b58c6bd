package net.hybridproxy.loadtest.lab;

import java.util.List;
import java.util.stream.Collectors;

/**
 * Appliance configuration files for the lab's topology: a concentrator on the conc namespace and a cpe capturing
 * the client's TCP transparently (TPROXY) on its LAN interface, with both uplinks. Written the way an operator
 * writes them (see {@code configs/} and {@code reference.conf}).
 */
public final class ApplianceConfigs {
    /** The pre-shared key both ends of the lab use unless a test means to get it wrong. */
    public static final String KEY = "hex:00112233445566778899aabbccddeeff";

    private ApplianceConfigs() {
    }

    /**
     * A concentrator listening on {@code listen} that accepts the cpe's uplink subnets with key {@code keyId};
     * {@code extra} is spliced into its {@code concentrator} block (e.g. a destination policy), or empty.
     */
    public static String concentrator(String listen, String keyId, String extra) {
        return concentrator("kernel", listen, keyId, extra);
    }

    /** The same for {@code engine} ("kernel" or "userspace"): the userspace engine has a listener of its own. */
    public static String concentrator(String engine, String listen, String keyId, String extra) {
        return """
                hybridproxy {
                  role = concentrator
                  engine = %s
                  concentrator {
                    %s = ["%s"]
                    authorized-cidrs = ["198.18.10.0/24", "198.18.20.0/24"]
                    keys = [{ id = "%s", key = "%s" }]
                    %s
                  }
                }
                """.formatted(engine, engine.equals("kernel") ? "listen" : "userspace-listen", listen, keyId, KEY,
                extra);
    }

    /**
     * A cpe with both lab uplinks that captures the client's connections to {@code ports} on its LAN interface and
     * carries them to {@code concentrator}. With {@code installRoutes} false the lab's own per-uplink routing is
     * used instead of the appliance's.
     */
    public static String cpe(String concentrator, String keyId, boolean installRoutes, List<Integer> ports) {
        return cpe("kernel", concentrator, keyId, installRoutes, ports);
    }

    /** The same for {@code engine} ("kernel" or "userspace"). */
    public static String cpe(String engine, String concentrator, String keyId, boolean installRoutes,
                             List<Integer> ports) {
        String portList = ports.stream().map(p -> "\"" + p + "\"").collect(Collectors.joining(", "));
        return """
                hybridproxy {
                  role = cpe
                  engine = %s
                  uplinks = [
                    { name = dsl, interface = dsl, address = "%s", gateway = "%s" }
                    { name = lte, interface = lte, address = "%s", gateway = "%s" }
                  ]
                  path-manager { install-routes = %s }
                  cpe {
                    concentrator = "%s"
                    install-capture-rules = true
                    listeners = [{ name = lan, mode = tproxy, bind = "0.0.0.0:12345", interface = lan,
                                   ports = [%s] }]
                    key-id = "%s"
                    key = "%s"
                  }
                }
                """.formatted(engine, HybridAccessLab.CPE_DSL_ADDR, HybridAccessLab.CONC_DSL_ADDR,
                HybridAccessLab.CPE_LTE_ADDR, HybridAccessLab.CONC_LTE_ADDR, installRoutes, concentrator, portList,
                keyId, KEY);
    }
}
