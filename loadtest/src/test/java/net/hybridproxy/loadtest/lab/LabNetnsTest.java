package net.hybridproxy.loadtest.lab;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import net.hybridproxy.loadtest.lab.HybridAccessLab.Direction;
import net.hybridproxy.loadtest.lab.HybridAccessLab.Link;
import net.hybridproxy.loadtest.loadgen.HoldOptions;
import net.hybridproxy.loadtest.loadgen.HoldResult;
import net.hybridproxy.loadtest.loadgen.LoadServer;
import net.hybridproxy.loadtest.loadgen.LoadTarget;
import net.hybridproxy.loadtest.loadgen.RequestResponseOptions;
import net.hybridproxy.loadtest.loadgen.RequestResponseResult;
import net.hybridproxy.loadtest.loadgen.TtfbOptions;
import net.hybridproxy.loadtest.loadgen.TtfbResult;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Smoke test of the namespace lab with plain routed TCP (no proxy): client to server through
 * cpe and conc over the dsl link, verified by SHA-256. Needs root, ip and nft; skipped otherwise.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class LabNetnsTest {
    private static final long PAYLOAD = 32L * 1024 * 1024;
    private static final Duration TRANSFER_TIMEOUT = Duration.ofSeconds(60);

    private HybridAccessLab lab;
    private String target;

    @BeforeAll
    void up() {
        String skip = HybridAccessLab.skipReason();
        Assumptions.assumeTrue(skip == null, skip);
        lab = HybridAccessLab.builder().build();
        lab.startTrafficServer(lab.server(), HybridAccessLab.TRAFFIC_PORT);
        target = HybridAccessLab.SERVER_ADDR + ":" + HybridAccessLab.TRAFFIC_PORT;
    }

    @AfterAll
    void down() {
        if (lab != null) {
            lab.close();
        }
    }

    @Test
    @Order(1)
    void topologyIsAsDocumented() {
        assertEquals("1", lab.cpe().sysctl("net.ipv4.ip_forward"));
        assertEquals("1", lab.conc().sysctl("net.ipv4.ip_forward"));
        String cpeRoutes = lab.cpe().ip("route", "show").stdout();
        assertTrue(cpeRoutes.contains("default via " + HybridAccessLab.CONC_DSL_ADDR + " dev dsl"), cpeRoutes);
        assertTrue(lab.conc().ip("addr", "show", "dev", "lo").stdout().contains(HybridAccessLab.SERVICE_ADDR + "/32"));
        assertEquals(200, lab.impairment(Link.DSL, Direction.UP).rateMbit());
        assertEquals(100, lab.impairment(Link.LTE, Direction.DOWN).rateMbit());
        if (lab.emulation() == HybridAccessLab.Emulation.TUN) {
            // Both ends of each uplink are the emulator's TUN devices, moved into place and renamed.
            assertTrue(lab.cpe().ip("-d", "link", "show", "dsl").stdout().contains("tun"));
            assertTrue(lab.conc().ip("-d", "link", "show", "lte").stdout().contains("tun"));
            assertTrue(Netns.list().contains(lab.prefix() + "emu"), Netns.list().toString());
        }
        Map<String, Long> mptcp = lab.cpe().mptcpExtCounters();
        assertTrue(mptcp.containsKey("MPCapableSYNTX"), mptcp.keySet().toString());
        assertTrue(lab.cpe().tcpExtCounters().containsKey("TCPTimeouts"));
    }

    @Test
    @Order(2)
    void serviceAddressIsReachableFromEachUplinkAddressOverThatUplink() {
        lab.startTrafficServer(lab.conc(), 5002);
        String service = HybridAccessLab.SERVICE_ADDR + ":5002";
        for (Link uplink : List.of(Link.DSL, Link.LTE)) {
            InterfaceCounters before = lab.counters(uplink);
            TrafficResult r = lab.runTrafficClient(lab.cpe(), TRANSFER_TIMEOUT,
                    "--connect", service, "--bind", uplink.addressA(), "--up", String.valueOf(4 << 20));
            long grew = lab.counters(uplink).since(before).txBytes();
            assertTrue(r.ok(), r.line());
            assertEquals(uplink.addressA(), r.peerIpSeenByServer(), r.line());
            assertTrue(grew >= 4 << 20, uplink + " tx grew by " + grew);
        }
    }

    @Test
    @Order(3)
    void routedUploadIsIntactAndCrossesDsl() {
        InterfaceCounters before = lab.counters(Link.DSL);
        TrafficResult r = lab.runTrafficClient(lab.client(), TRANSFER_TIMEOUT,
                "--connect", target, "--up", String.valueOf(PAYLOAD));
        InterfaceCounters grew = lab.counters(Link.DSL).since(before);
        System.out.println("routed up: " + r.line());
        assertTrue(r.ok() && r.exitCode() == 0, r.line());
        assertEquals(PAYLOAD, r.transferred());
        // Plain routing keeps the client's address end to end (a proxy would change this).
        assertEquals(HybridAccessLab.CLIENT_ADDR, r.peerIpSeenByServer());
        assertTrue(grew.txBytes() >= PAYLOAD, "dsl tx grew by " + grew.txBytes());
    }

    @Test
    @Order(4)
    void routedDownloadIsIntactAndCrossesDsl() {
        InterfaceCounters before = lab.counters(Link.DSL);
        TrafficResult r = lab.runTrafficClient(lab.client(), TRANSFER_TIMEOUT,
                "--connect", target, "--down", String.valueOf(PAYLOAD), "--seed", "7");
        InterfaceCounters grew = lab.counters(Link.DSL).since(before);
        System.out.println("routed down: " + r.line());
        assertTrue(r.ok() && r.exitCode() == 0, r.line());
        assertEquals(PAYLOAD, r.transferred());
        assertTrue(grew.rxBytes() >= PAYLOAD, "dsl rx grew by " + grew.rxBytes());
        // The server checks the client's GOT digest after its own half-close and logs the verdict.
        LabProcess server = lab.server().processes().getFirst();
        String conn = server.awaitStdoutLine(l -> l.contains("op=DOWN") && l.contains("sent=" + PAYLOAD),
                Duration.ofSeconds(10));
        assertTrue(conn.contains("result=MATCH") && conn.contains("peer=" + HybridAccessLab.CLIENT_ADDR + ":"), conn);
    }

    @Test
    @Order(5)
    void rateAndLinkStateChangeAtRuntime() {
        lab.setRate(Link.LTE, 20);
        assertEquals(20, lab.impairment(Link.LTE, Direction.UP).rateMbit());
        String service = HybridAccessLab.SERVICE_ADDR + ":5002";
        lab.linkDown(Link.LTE);
        TrafficResult down = lab.runTrafficClient(lab.cpe(), TRANSFER_TIMEOUT, "--connect", service,
                "--bind", HybridAccessLab.CPE_LTE_ADDR, "--up", "1000", "--connect-timeout-ms", "2000");
        assertFalse(down.ok(), down.line());
        lab.linkUp(Link.LTE);
        // The per-source route was flushed with the device and must have been restored.
        assertTrue(lab.cpe().ip("route", "show", "table", "20").stdout().contains("dev lte"));
        TrafficResult up = lab.runTrafficClient(lab.cpe(), TRANSFER_TIMEOUT, "--connect", service,
                "--bind", HybridAccessLab.CPE_LTE_ADDR, "--up", String.valueOf(2 << 20));
        assertTrue(up.ok(), up.line());
        assertTrue(up.mbps() < 25, "lte shaped to 20 Mbit/s but measured " + up.mbps());
        lab.setRate(Link.LTE, 100);
    }

    @Test
    @Order(6)
    void blackholedDslFailsNewTransferAndRecovers() {
        lab.blackhole(Link.DSL, true);
        try {
            long t0 = System.nanoTime();
            TrafficResult r = lab.runTrafficClient(lab.client(), Duration.ofSeconds(30),
                    "--connect", target, "--up", "65536", "--connect-timeout-ms", "3000", "--timeout-ms", "5000");
            double secs = (System.nanoTime() - t0) / 1e9;
            assertFalse(r.ok(), r.line());
            assertEquals(1, r.exitCode(), r.line());
            assertEquals("timeout", r.outcome(), r.line());
            assertTrue(secs < 15, "failure took " + secs + " s");
        } finally {
            lab.blackhole(Link.DSL, false);
        }
        TrafficResult again = lab.runTrafficClient(lab.client(), TRANSFER_TIMEOUT,
                "--connect", target, "--up", "65536");
        assertTrue(again.ok(), again.line());
    }

    @Test
    @Order(7)
    void requestResponseAndHeldConnectionsCrossTheLabVerified() {
        LoadTarget routed = LoadTarget.of(target);
        for (boolean fresh : new boolean[] {false, true}) {
            RequestResponseResult rr = HybridAccessLab.runLoadClient(lab.client(), TRANSFER_TIMEOUT, List.of(),
                    JavaLauncher.DEFAULT_JVM_ARGS, routed, new RequestResponseOptions(4, 20_000, 1500, fresh));
            System.out.println("routed request/response: " + rr);
            assertTrue(rr.ok(), rr::toString);
            // Every request waits at least one round trip of the emulated links.
            assertTrue(rr.latency().p50Ms() > 0 && rr.latency().count() >= 4, rr::toString);
        }
        HoldResult hold = HybridAccessLab.runLoadClient(lab.client(), TRANSFER_TIMEOUT, List.of(),
                JavaLauncher.DEFAULT_JVM_ARGS, routed, new HoldOptions(300, 50, 1000, 30_000));
        System.out.println("routed held connections: " + hold);
        assertTrue(hold.ok(), hold::toString);
        assertEquals(300, hold.stillOpenAfterHold());
    }

    @Test
    @Order(8)
    void theStrippingMiddleboxMakesMptcpFallBackOnThatPathOnly() {
        LabProcess server = lab.conc().startLogged("mptcp-server", JavaLauncher.command(JavaLauncher.DEFAULT_JVM_ARGS,
                LoadServer.class.getName(), "--listen", HybridAccessLab.SERVICE_ADDR + ":5301", "--mptcp")
                .toArray(String[]::new));
        server.awaitStdoutLine(l -> l.startsWith("LISTENING "), Duration.ofSeconds(30));
        assertEquals(1, mptcpHandshakesAtConc(Link.DSL), "an MPTCP connection over dsl must start as MPTCP");
        lab.stripMptcpOption(Link.DSL, true);
        try {
            assertEquals(0, mptcpHandshakesAtConc(Link.DSL), "the option must not reach the concentrator over dsl");
            assertEquals(1, mptcpHandshakesAtConc(Link.LTE), "lte is not affected");
        } finally {
            lab.stripMptcpOption(Link.DSL, false);
        }
        server.close();
    }

    /** Opens one MPTCP connection from the cpe's address on {@code uplink}; returns the MP_CAPABLE SYNs conc saw. */
    private long mptcpHandshakesAtConc(Link uplink) {
        long before = lab.conc().mptcpExtCounters().getOrDefault("MPCapableSYNRX", 0L);
        TtfbResult r = HybridAccessLab.runLoadClient(lab.cpe(), Duration.ofSeconds(60), List.of(),
                JavaLauncher.DEFAULT_JVM_ARGS, LoadTarget.of(HybridAccessLab.SERVICE_ADDR + ":5301")
                        .withBind(uplink.addressA()).withMptcp(true), TtfbOptions.of(1, 1, 1000));
        assertTrue(r.ok(), r::toString);
        return lab.conc().mptcpExtCounters().getOrDefault("MPCapableSYNRX", 0L) - before;
    }

    /**
     * The lab's concentrator route to the cpe's DSL address carries the recommended algorithm, locked: every subflow
     * the concentrator sends over DSL uses it, whether it is the connection's first subflow or one that joins (MPTCP
     * gives a joining subflow the connection's algorithm unless the route locks it), and the LTE subflow keeps the
     * host's default. Read from the concentrator's subflows while a download runs, for either uplink first.
     */
    @Test
    @Order(9)
    void theConcentratorsDslSubflowsTakeTheRoutesAlgorithmWhicheverUplinkConnectsFirst() throws Exception {
        String dslAlgorithm = lab.concentratorCongestionControl().get(Link.DSL);
        assertEquals(HybridAccessLab.RECOMMENDED_DSL_CONGESTION_CONTROL, dslAlgorithm);
        String hostDefault = lab.conc().sysctl("net.ipv4.tcp_congestion_control");
        Assumptions.assumeFalse(dslAlgorithm.equals(hostDefault),
                () -> "the host's default is already " + hostDefault + "; nothing tells the route's apart");
        int port = 5302;
        LabProcess server = lab.conc().startLogged("mptcp-cc-server", JavaLauncher.command(
                JavaLauncher.DEFAULT_JVM_ARGS, LoadServer.class.getName(),
                "--listen", HybridAccessLab.SERVICE_ADDR + ":" + port, "--mptcp").toArray(String[]::new));
        server.awaitStdoutLine(l -> l.startsWith("LISTENING "), Duration.ofSeconds(30));
        lab.cpe().ip("mptcp", "limits", "set", "subflow", "2", "add_addr_accepted", "2");
        lab.conc().ip("mptcp", "limits", "set", "subflow", "2", "add_addr_accepted", "2");
        try {
            for (Link first : List.of(Link.LTE, Link.DSL)) {
                Link joining = first == Link.DSL ? Link.LTE : Link.DSL;
                lab.cpe().ip("mptcp", "endpoint", "flush");
                lab.cpe().ip("mptcp", "endpoint", "add", joining.addressA(), "dev", joining.ifname(), "subflow");
                LabProcess client = lab.cpe().startLogged("mptcp-cc-client-" + first.ifname(),
                        HybridAccessLab.loadClientCommand("bulk", "--connect", HybridAccessLab.SERVICE_ADDR + ":"
                                + port, "--mptcp", "--bind", first.addressA(), "--direction", "down",
                                "--duration-ms", "4000"));
                try {
                    Map<String, String> byPeer = Map.of();
                    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
                    while (byPeer.size() < 2 && System.nanoTime() < deadline) {
                        Thread.sleep(200);
                        byPeer = subflowAlgorithmsByPeer(lab.conc(), port);
                    }
                    String seen = first.ifname() + " first: " + byPeer;
                    System.out.println("concentrator's subflows, " + seen);
                    assertEquals(dslAlgorithm, byPeer.get(Link.DSL.addressA()), seen);
                    assertEquals(hostDefault, byPeer.get(Link.LTE.addressA()), seen);
                } finally {
                    client.close();
                }
            }
        } finally {
            lab.cpe().ip("mptcp", "endpoint", "flush");
            server.close();
        }
    }

    /** Each established TCP socket's peer address to its congestion control, for local port {@code port}. */
    private static Map<String, String> subflowAlgorithmsByPeer(Netns ns, int port) {
        List<String> algorithms = List.of(ns.sysctl("net.ipv4.tcp_available_congestion_control").split("\\s+"));
        Map<String, String> byPeer = new java.util.HashMap<>();
        String peer = null;
        for (String line : ns.exec("ss", "-tniH", "state", "established", "( sport = :" + port + " )").stdout()
                .lines().toList()) {
            if (!line.isBlank() && !Character.isWhitespace(line.charAt(0))) {
                String[] columns = line.strip().split("\\s+");
                String address = columns[columns.length - 1];
                // "[::ffff:198.18.10.1]:40000" from a dual-stack listener, "198.18.10.1:40000" otherwise.
                peer = address.substring(0, address.lastIndexOf(':')).replace("[", "").replace("]", "")
                        .replace("::ffff:", "");
            } else if (peer != null) {
                for (String token : line.strip().split("\\s+")) {
                    if (algorithms.contains(token)) {
                        byPeer.put(peer, token);
                    }
                }
            }
        }
        return byPeer;
    }

    @Test
    @Order(10)
    void closeRemovesEveryNamespaceAndProcess() {
        String runPrefix = "hpx" + ProcessHandle.current().pid() + "-";
        List<LabProcess> procs = lab.server().processes();
        lab.close();
        lab.close(); // idempotent
        assertEquals(List.of(), HybridAccessLab.namespacesWithPrefix(runPrefix));
        procs.forEach(p -> assertFalse(p.isAlive(), p + " survived close"));
    }

    @Test
    @Order(11)
    void leftoversOfDeadRunsAreRemovedButLiveRunsAreNot() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        String stale = "hpx" + gone.pid() + "-1-cpe";
        String live = "hpx" + ProcessHandle.current().pid() + "-999-cpe";
        try (Netns staleNs = Netns.create(stale); Netns liveNs = Netns.create(live)) {
            // A process left behind by the crashed run would pin the namespace; it must die too.
            LabProcess orphan = staleNs.start("sleep", "600");
            List<String> removed = HybridAccessLab.removeStaleNamespaces();
            assertTrue(removed.contains(stale), removed.toString());
            assertFalse(removed.contains(live), removed.toString());
            assertFalse(Netns.list().contains(stale));
            assertTrue(Netns.list().contains(liveNs.name()));
            assertTrue(orphan.waitFor(Duration.ofSeconds(5)) != 0);
        }
        assertFalse(Netns.list().contains(live));
    }
}
