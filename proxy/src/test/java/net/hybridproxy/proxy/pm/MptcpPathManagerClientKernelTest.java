package net.hybridproxy.proxy.pm;

import net.hybridproxy.proxy.nativeio.Errno;
import net.hybridproxy.proxy.nativeio.Libc;
import net.hybridproxy.proxy.testing.NetNs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The client against the real kernel, in a namespace of its own, cross-checked with iproute2. */
class MptcpPathManagerClientKernelTest {
    private NetNs ns;

    @BeforeEach
    void setUp() throws Exception {
        String skip = NetNs.skipReason();
        assumeTrue(skip == null, skip);
        ns = NetNs.create("pm");
        ns.addLink("dsl0");
        ns.addLink("lte0");
        ns.ip("addr", "add", "198.18.20.1/24", "dev", "dsl0");
        ns.ip("addr", "add", "198.18.21.1/24", "dev", "lte0");
        ns.ip("addr", "add", "2001:db8:20::1/64", "dev", "dsl0", "nodad");
    }

    @AfterEach
    void tearDown() throws Exception {
        if (ns != null) {
            ns.close();
        }
    }

    @Test
    void addListDeleteFlushEndpointsMatchesIproute2() throws Exception {
        ns.run(() -> {
            try (MptcpPathManagerClient pm = MptcpPathManagerClient.open()) {
                assertTrue(pm.family().multicastGroup("mptcp_pm_events").isPresent(), pm.family().toString());
                assertEquals(List.of(), pm.endpoints());
                int dsl = Libc.interfaceIndex("dsl0");
                int lte = Libc.interfaceIndex("lte0");
                pm.addEndpoint(new MptcpEndpoint(0, InetAddress.getByName("198.18.20.1"), 0,
                        EnumSet.of(EndpointFlag.SUBFLOW), dsl));
                pm.addEndpoint(new MptcpEndpoint(7, InetAddress.getByName("198.18.21.1"), 0,
                        EnumSet.of(EndpointFlag.SUBFLOW, EndpointFlag.BACKUP), lte));
                pm.addEndpoint(new MptcpEndpoint(0, InetAddress.getByName("2001:db8:20::1"), 4242,
                        EnumSet.of(EndpointFlag.SIGNAL), 0));

                List<MptcpEndpoint> eps = pm.endpoints();
                assertEquals(3, eps.size(), eps.toString());
                MptcpEndpoint first = find(eps, "198.18.20.1");
                assertEquals(Set.of(EndpointFlag.SUBFLOW), first.flags());
                assertEquals(dsl, first.interfaceIndex());
                MptcpEndpoint second = find(eps, "198.18.21.1");
                assertEquals(7, second.id());
                assertEquals(Set.of(EndpointFlag.SUBFLOW, EndpointFlag.BACKUP), second.flags());
                assertEquals(lte, second.interfaceIndex());
                MptcpEndpoint third = find(eps, "2001:db8:20::1");
                assertEquals(4242, third.port());

                String shown = ns.ip("mptcp", "endpoint", "show");
                assertTrue(shown.contains("198.18.20.1 id " + first.id() + " subflow dev dsl0"), shown);
                assertTrue(shown.contains("198.18.21.1 id 7 subflow backup dev lte0"), shown);
                assertTrue(shown.contains("2001:db8:20::1 port 4242 id " + third.id() + " signal"), shown);

                assertEquals(second, pm.endpoint(7).orElseThrow());
                assertTrue(pm.endpoint(200).isEmpty());

                pm.setEndpointBackup(7, false);
                assertEquals(Set.of(EndpointFlag.SUBFLOW), pm.endpoint(7).orElseThrow().flags());
                pm.setEndpointBackup(InetAddress.getByName("198.18.20.1"), true);
                assertTrue(find(pm.endpoints(), "198.18.20.1").backup());
                assertTrue(ns.ip("mptcp", "endpoint", "show").contains("198.18.20.1 id " + first.id()
                        + " subflow backup dev dsl0"));

                pm.deleteEndpoint(7);
                assertEquals(2, pm.endpoints().size());
                assertFalse(ns.ip("mptcp", "endpoint", "show").contains("198.18.21.1"));

                pm.flushEndpoints();
                assertEquals(List.of(), pm.endpoints());
                assertEquals("", ns.ip("mptcp", "endpoint", "show").strip());
            }
        });
    }

    @Test
    void duplicateAddressSurfacesEexistWithCommandAndAddress() throws Exception {
        ns.run(() -> {
            try (MptcpPathManagerClient pm = MptcpPathManagerClient.open()) {
                MptcpEndpoint ep = MptcpEndpoint.of(InetAddress.getByName("198.18.20.1"), Set.of(EndpointFlag.SUBFLOW), 0);
                pm.addEndpoint(ep);
                NetlinkException e = assertThrows(NetlinkException.class, () -> pm.addEndpoint(ep));
                assertEquals(Errno.EEXIST, e.errno());
                assertEquals("MPTCP_PM_CMD_ADD_ADDR", e.command());
                assertTrue(e.getMessage().startsWith("MPTCP_PM_CMD_ADD_ADDR 198.18.20.1 failed: EEXIST"),
                        e.getMessage());
            }
        });
    }

    @Test
    void deletingUnknownIdAndInvalidLimitsCarryKernelText() throws Exception {
        ns.run(() -> {
            try (MptcpPathManagerClient pm = MptcpPathManagerClient.open()) {
                NetlinkException del = assertThrows(NetlinkException.class, () -> pm.deleteEndpoint(99));
                assertTrue(del.getMessage().startsWith("MPTCP_PM_CMD_DEL_ADDR id 99 failed: "), del.getMessage());
                NetlinkException lim = assertThrows(NetlinkException.class, () -> pm.setLimits(new MptcpLimits(9, 0)));
                assertEquals(Errno.EINVAL, lim.errno());
                assertTrue(lim.extAck().isPresent(), "kernel sends an extended-ack message for limits");
            }
        });
    }

    @Test
    void setAndGetLimitsMatchesIproute2() throws Exception {
        ns.run(() -> {
            try (MptcpPathManagerClient pm = MptcpPathManagerClient.open()) {
                pm.setLimits(new MptcpLimits(3, 4));
                assertEquals(new MptcpLimits(3, 4), pm.limits());
                String shown = ns.ip("mptcp", "limits", "show");
                assertTrue(shown.contains("add_addr_accepted 4 subflows 3"), shown);
                ns.ip("mptcp", "limits", "set", "subflows", "1", "add_addr_accepted", "2");
                assertEquals(new MptcpLimits(1, 2), pm.limits());
            }
        });
    }

    /** The kernel here has MPTCP, so the missing-family path is exercised with a family name nobody registers. */
    @Test
    void missingFamilyGivesTheConfiguredAdvice() throws Exception {
        ns.run(() -> {
            try (GenlConnection c = GenlConnection.open(Duration.ofSeconds(2))) {
                IOException e = assertThrows(IOException.class,
                        () -> c.resolveFamily("hpx_no_such_fam", MptcpPathManagerClient.MISSING_FAMILY));
                assertEquals("the kernel has no MPTCP path-manager netlink family: is CONFIG_MPTCP enabled?",
                        e.getMessage());
                assertEquals(Errno.ENOENT, ((NetlinkException) e.getCause()).errno());
            }
        });
    }

    static MptcpEndpoint find(List<MptcpEndpoint> eps, String address) throws Exception {
        InetAddress a = InetAddress.getByName(address);
        return eps.stream().filter(e -> e.address().equals(a)).findFirst()
                .orElseThrow(() -> new AssertionError(address + " not in " + eps));
    }
}
