package net.hybridproxy.proxy.pm;

import net.hybridproxy.proxy.testing.NetNs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class PolicyRoutingTest {
    private NetNs ns;

    @AfterEach
    void tearDown() throws Exception {
        if (ns != null) {
            ns.close();
        }
    }

    private static List<PolicyRouting.UplinkRoutes> uplinks() throws Exception {
        return List.of(
                new PolicyRouting.UplinkRoutes("dsl", "dsl0", InetAddress.getByName("198.18.60.1"),
                        InetAddress.getByName("198.18.60.254"), 101),
                new PolicyRouting.UplinkRoutes("lte", "lte0", InetAddress.getByName("198.18.61.1"), null, 102),
                new PolicyRouting.UplinkRoutes("dsl6", "dsl0", InetAddress.getByName("2001:db8:60::1"),
                        InetAddress.getByName("2001:db8:60::fe"), 101));
    }

    @Test
    void describeShowsTheExactCommands() throws Exception {
        PolicyRouting routing = new PolicyRouting(uplinks());
        assertEquals(List.of(
                "ip -4 route replace default via 198.18.60.254 dev dsl0 table 101",
                "ip -4 rule add from 198.18.60.1 lookup 101 priority 1000",
                "ip -4 route replace default dev lte0 table 102",
                "ip -4 rule add from 198.18.61.1 lookup 102 priority 1000",
                "ip -6 route replace default via 2001:db8:60:0:0:0:0:fe dev dsl0 table 101",
                "ip -6 rule add from 2001:db8:60:0:0:0:0:1 lookup 101 priority 1000"), routing.describe());
        assertEquals("ip -4 rule del from 198.18.60.1 lookup 101 priority 1000", routing.describeRemoval().get(0));
    }

    @Test
    void rejectsReservedTablesMixedFamiliesAndSharedTables() throws Exception {
        InetAddress a = InetAddress.getByName("198.18.60.1");
        assertThrows(IllegalArgumentException.class, () -> new PolicyRouting.UplinkRoutes("dsl", "dsl0", a, null, 254));
        assertThrows(IllegalArgumentException.class,
                () -> new PolicyRouting.UplinkRoutes("dsl", "dsl0", a, InetAddress.getByName("2001:db8::1"), 101));
        assertThrows(IllegalArgumentException.class, () -> new PolicyRouting.UplinkRoutes("dsl", "dsl 0; rm", a, null, 9));
        var shared = assertThrows(IllegalArgumentException.class, () -> new PolicyRouting(List.of(
                new PolicyRouting.UplinkRoutes("dsl", "dsl0", a, null, 101),
                new PolicyRouting.UplinkRoutes("lte", "lte0", InetAddress.getByName("198.18.61.1"), null, 101))));
        assertTrue(shared.getMessage().contains("dsl and lte share routing table 101"));
    }

    private PolicyRouting inNamespace(List<PolicyRouting.UplinkRoutes> uplinks) {
        return new PolicyRouting(List.of("ip", "-n", ns.name()), uplinks, PolicyRouting.DEFAULT_RULE_PRIORITY,
                Duration.ofSeconds(5));
    }

    @Test
    void installIsIdempotentAndRemoveCleansUp() throws Exception {
        String skip = NetNs.skipReason();
        assumeTrue(skip == null, skip);
        ns = NetNs.create("route");
        ns.addLink("dsl0");
        ns.addLink("lte0");
        ns.ip("addr", "add", "198.18.60.1/24", "dev", "dsl0");
        ns.ip("addr", "add", "198.18.61.1/24", "dev", "lte0");
        ns.ip("-6", "addr", "add", "2001:db8:60::1/64", "dev", "dsl0", "nodad");
        PolicyRouting routing = inNamespace(uplinks());

        routing.install();
        routing.install();

        String rules = ns.ip("-4", "rule", "show");
        assertEquals(1, count(rules, "1000:\tfrom 198.18.60.1 lookup 101"), rules);
        assertEquals(1, count(rules, "1000:\tfrom 198.18.61.1 lookup 102"), rules);
        String rules6 = ns.ip("-6", "rule", "show");
        assertEquals(1, count(rules6, "1000:\tfrom 2001:db8:60::1 lookup 101"), rules6);
        assertEquals("default via 198.18.60.254 dev dsl0", ns.ip("-4", "route", "show", "table", "101").strip());
        assertEquals("default dev lte0 scope link", ns.ip("-4", "route", "show", "table", "102").strip());
        assertTrue(ns.ip("-6", "route", "show", "table", "101").contains("default via 2001:db8:60::fe dev dsl0"));

        routing.remove();
        routing.remove(); // already gone: still fine
        assertFalse(ns.ip("-4", "rule", "show").contains("lookup 10"));
        assertFalse(ns.ip("-6", "rule", "show").contains("lookup 101"));
        for (String[] t : new String[][] {{"-4", "101"}, {"-4", "102"}, {"-6", "101"}}) {
            assertTrue(tableIsEmpty(t[0], t[1]), "table " + t[1] + " " + t[0] + " emptied");
        }
        String main = ns.ip("-4", "route", "show");
        assertTrue(main.contains("198.18.60.0/24 dev dsl0"), "remove leaves the main table alone: " + main);
    }

    @Test
    void failuresNameTheUplinkAndShowIpStderr() throws Exception {
        String skip = NetNs.skipReason();
        assumeTrue(skip == null, skip);
        ns = NetNs.create("route");
        PolicyRouting routing = inNamespace(List.of(
                new PolicyRouting.UplinkRoutes("lte", "wwan0", InetAddress.getByName("198.18.61.1"), null, 102)));
        IOException e = assertThrows(IOException.class, routing::install);
        assertTrue(e.getMessage().startsWith("uplink lte: ip -n " + ns.name()
                + " -4 route replace default dev wwan0 table 102 failed (exit "), e.getMessage());
        assertTrue(e.getMessage().contains("Cannot find device \"wwan0\""), e.getMessage());
    }

    /** An emptied table disappears: ip then fails with "FIB table does not exist" instead of printing nothing. */
    private boolean tableIsEmpty(String family, String table) {
        try {
            return ns.ip(family, "route", "show", "table", table).isBlank();
        } catch (IOException e) {
            return e.getMessage().contains("FIB table does not exist");
        }
    }

    private static int count(String haystack, String needle) {
        int n = 0;
        for (int i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + 1)) {
            n++;
        }
        return n;
    }
}
