package net.hybridproxy.proxy.pm;

import net.hybridproxy.proxy.nativeio.Libc;
import net.hybridproxy.proxy.testing.NetNs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

import static net.hybridproxy.proxy.pm.ReconcileReport.Action.ADDED;
import static net.hybridproxy.proxy.pm.ReconcileReport.Action.BACKUP_CHANGED;
import static net.hybridproxy.proxy.pm.ReconcileReport.Action.KEPT;
import static net.hybridproxy.proxy.pm.ReconcileReport.Action.REMOVED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Reconciliation against the real kernel in a namespace of its own. */
class EndpointReconcilerKernelTest {
    private NetNs ns;

    @BeforeEach
    void setUp() throws Exception {
        String skip = NetNs.skipReason();
        assumeTrue(skip == null, skip);
        ns = NetNs.create("rec");
        ns.addLink("dsl0");
        ns.addLink("lte0");
        ns.ip("addr", "add", "198.18.30.1/24", "dev", "dsl0");
        ns.ip("addr", "add", "198.18.31.1/24", "dev", "lte0");
    }

    @AfterEach
    void tearDown() throws Exception {
        if (ns != null) {
            ns.close();
        }
    }

    private static List<DesiredEndpoint> desired(boolean lteBackup) throws Exception {
        Set<EndpointFlag> lte = lteBackup ? EnumSet.of(EndpointFlag.SUBFLOW, EndpointFlag.BACKUP)
                : EnumSet.of(EndpointFlag.SUBFLOW);
        return List.of(
                new DesiredEndpoint("dsl", InetAddress.getByName("198.18.30.1"), "dsl0", Set.of(EndpointFlag.SUBFLOW)),
                new DesiredEndpoint("lte", InetAddress.getByName("198.18.31.1"), "lte0", lte));
    }

    @Test
    void reconcileAddsRemovesKeepsAndIsIdempotent() throws Exception {
        ns.run(() -> {
            try (MptcpPathManagerClient pm = MptcpPathManagerClient.open()) {
                // A stale endpoint from an older configuration, and one with the wrong interface binding.
                pm.addEndpoint(MptcpEndpoint.of(InetAddress.getByName("198.18.30.9"), Set.of(EndpointFlag.SIGNAL), 0));
                pm.addEndpoint(MptcpEndpoint.of(InetAddress.getByName("198.18.30.1"), Set.of(EndpointFlag.SUBFLOW), 0));

                EndpointReconciler reconciler = new EndpointReconciler(pm);
                ReconcileReport first = reconciler.reconcile(desired(true), new MptcpLimits(2, 1));
                assertTrue(first.changedAnything());
                assertEquals(2, first.changes(REMOVED).size(), first.toString());
                assertEquals(2, first.changes(ADDED).size(), first.toString());
                assertEquals(new MptcpLimits(2, 1), pm.limits());

                String shown = ns.ip("mptcp", "endpoint", "show");
                assertTrue(shown.contains("198.18.30.1 id ") && shown.contains("subflow dev dsl0"), shown);
                assertTrue(shown.contains("subflow backup dev lte0"), shown);
                assertFalse(shown.contains("198.18.30.9"), shown);
                assertTrue(ns.ip("mptcp", "limits", "show").contains("add_addr_accepted 1 subflows 2"));
                List<MptcpEndpoint> afterFirst = pm.endpoints();

                ReconcileReport second = reconciler.reconcile(desired(true), new MptcpLimits(2, 1));
                assertFalse(second.changedAnything(), second.toString());
                assertEquals(2, second.changes(KEPT).size());
                assertEquals(afterFirst, pm.endpoints(), "ids and flags unchanged by a second run");

                ReconcileReport flip = reconciler.reconcile(desired(false), new MptcpLimits(2, 1));
                assertEquals(1, flip.changes(BACKUP_CHANGED).size(), flip.toString());
                assertEquals(0, flip.changes(ADDED).size(), flip.toString());
                MptcpEndpoint lte = MptcpPathManagerClientKernelTest.find(pm.endpoints(), "198.18.31.1");
                assertFalse(lte.backup());
                assertEquals(MptcpPathManagerClientKernelTest.find(afterFirst, "198.18.31.1").id(), lte.id(),
                        "changed in place, same id");
                assertEquals(Libc.interfaceIndex("lte0"), lte.interfaceIndex());
            }
        });
    }

    @Test
    void missingInterfaceNamesTheUplinkAndChangesNothing() throws Exception {
        ns.run(() -> {
            try (MptcpPathManagerClient pm = MptcpPathManagerClient.open()) {
                pm.addEndpoint(MptcpEndpoint.of(InetAddress.getByName("198.18.30.9"), Set.of(EndpointFlag.SIGNAL), 0));
                List<DesiredEndpoint> wanted = List.of(
                        new DesiredEndpoint("dsl", InetAddress.getByName("198.18.30.1"), "dsl0",
                                Set.of(EndpointFlag.SUBFLOW)),
                        new DesiredEndpoint("lte", InetAddress.getByName("198.18.31.1"), "wwan0",
                                Set.of(EndpointFlag.SUBFLOW)));
                IOException e = assertThrows(IOException.class,
                        () -> new EndpointReconciler(pm).reconcile(wanted, new MptcpLimits(2, 0)));
                assertEquals("uplink lte: interface wwan0 does not exist", e.getMessage());
                assertEquals(1, pm.endpoints().size(), "nothing applied before the error");
            }
        });
    }

    @Test
    void duplicateAddressesAcrossUplinksAreRejected() throws Exception {
        ns.run(() -> {
            try (MptcpPathManagerClient pm = MptcpPathManagerClient.open()) {
                InetAddress a = InetAddress.getByName("198.18.30.1");
                List<DesiredEndpoint> wanted = List.of(
                        new DesiredEndpoint("dsl", a, "dsl0", Set.of(EndpointFlag.SUBFLOW)),
                        new DesiredEndpoint("lte", a, "lte0", Set.of(EndpointFlag.SUBFLOW)));
                var e = assertThrows(IllegalArgumentException.class,
                        () -> new EndpointReconciler(pm).reconcile(wanted, new MptcpLimits(2, 0)));
                assertTrue(e.getMessage().contains("dsl and lte both use address 198.18.30.1"), e.getMessage());
            }
        });
    }

    /** A concentrator replica's announcement with a join port: added with its port, kept as is on the next run. */
    @Test
    void signalEndpointWithAPortIsAddedAndKept() throws Exception {
        ns.run(() -> {
            try (MptcpPathManagerClient pm = MptcpPathManagerClient.open()) {
                // The same address without a port (an earlier configuration) is not the wanted endpoint.
                pm.addEndpoint(MptcpEndpoint.of(InetAddress.getByName("198.18.30.1"), Set.of(EndpointFlag.SIGNAL), 0));
                List<DesiredEndpoint> want = List.of(new DesiredEndpoint("announce",
                        InetAddress.getByName("198.18.30.1"), null, Set.of(EndpointFlag.SIGNAL), 5200));
                EndpointReconciler reconciler = new EndpointReconciler(pm);
                ReconcileReport first = reconciler.reconcile(want, new MptcpLimits(8, 8));
                assertEquals(1, first.changes(REMOVED).size(), first.toString());
                assertEquals(1, first.changes(ADDED).size(), first.toString());
                String shown = ns.ip("mptcp", "endpoint", "show");
                assertTrue(shown.contains("198.18.30.1 port 5200 id ") && shown.contains("signal"), shown);
                ReconcileReport second = reconciler.reconcile(want, new MptcpLimits(8, 8));
                assertFalse(second.changedAnything(), second.toString());
            }
        });
        assertThrows(IllegalArgumentException.class, () -> new DesiredEndpoint("dsl",
                InetAddress.getByName("198.18.30.1"), null, Set.of(EndpointFlag.SUBFLOW), 5200),
                "a port only goes with signal");
    }
}
