package net.hybridproxy.loadtest.e2e;

import net.hybridproxy.loadtest.lab.ApplianceConfigs;
import net.hybridproxy.loadtest.lab.ApplianceLauncher;
import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.HybridAccessLab.Link;
import net.hybridproxy.loadtest.lab.InterfaceCounters;
import net.hybridproxy.loadtest.lab.LabProcess;
import net.hybridproxy.loadtest.lab.Netns;
import net.hybridproxy.loadtest.lab.TrafficResult;
import net.hybridproxy.proxy.testing.NamespaceForwarder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The kernel-MPTCP data path end to end, black-box, in network namespaces:
 * client → cpe (nftables TPROXY capture, installed by the appliance) → dsl + lte (tbf-limited) → concentrator →
 * server. The appliance processes run exactly as an operator runs them ({@code run --config FILE}); the
 * assertions read what the kernel and the links say, as the kernel's own MPTCP selftests do.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class KernelPathNetnsE2eTest {
    private static final long MIB = 1024 * 1024;
    private static final long BULK = 64 * MIB;
    private static final int CONCENTRATOR_PORT = 5100;
    private static final int REFUSING_PORT = 5003;
    private static final int DENIED_PORT = 5002;
    private static final int WRONG_KEY_LISTENER_PORT = 12400;
    /**
     * No stall (Stalls: a 100 ms interval after the first second under 10 % of the mean) this long. Generous against
     * the emulator's own scheduling on a busy 2-core CI machine; the benchmark's stall series holds the 200 ms bar.
     */
    private static final long STALL_LIMIT_MS = 500;

    private HybridAccessLab lab;
    private LabProcess concentrator;
    private LabProcess cpe;
    private Path configs;

    @BeforeAll
    void startLabAndAppliances() throws Exception {
        String skip = HybridAccessLab.skipReason();
        Assumptions.assumeTrue(skip == null, skip);
        lab = HybridAccessLab.builder()
                .rate(Link.DSL, 200).rate(Link.LTE, 100)
                .uplinkPolicyRouting(false) // the cpe must install its own
                .build();
        configs = Files.createTempDirectory("hybridproxy-e2e");
        Path concentratorConf = write("concentrator.conf", ApplianceConfigs.concentrator("[::]:" + CONCENTRATOR_PORT,
                "cpe-e2e", "destinations.deny-ports = [\"" + DENIED_PORT + "\"]"));
        // The cpe installs its own per-uplink routing here (the lab does not), so the test proves that it does.
        Path cpeConf = write("cpe.conf", ApplianceConfigs.cpe(HybridAccessLab.SERVICE_ADDR + ":" + CONCENTRATOR_PORT,
                "cpe-e2e", true, List.of(HybridAccessLab.TRAFFIC_PORT, DENIED_PORT, REFUSING_PORT)));
        lab.startTrafficServer(lab.server(), HybridAccessLab.TRAFFIC_PORT);
        lab.startTrafficServer(lab.server(), DENIED_PORT);
        concentrator = startAppliance(lab.conc(), concentratorConf, "concentrator listening");
        cpe = startAppliance(lab.cpe(), cpeConf, "cpe listener lan");
    }

    @AfterAll
    void stopEverything() throws IOException {
        if (lab != null) {
            lab.close();
        }
    }

    @Test
    @Order(1)
    void bulkTransfersThroughTransparentCaptureAreByteExactAndUseBothUplinks() {
        InterfaceCounters dslBefore = lab.counters(Link.DSL);
        InterfaceCounters lteBefore = lab.counters(Link.LTE);
        Map<String, Long> concBefore = lab.conc().mptcpExtCounters();

        TrafficResult up = transfer("--up", BULK);
        TrafficResult down = transfer("--down", BULK);

        assertTrue(up.ok(), () -> "upload: " + up + "\n" + logs());
        assertTrue(down.ok(), () -> "download: " + down + "\n" + logs());
        // The server saw the concentrator, not the client: the bytes went through the proxy pair.
        assertEquals(HybridAccessLab.CONC_SRV_ADDR, up.peerIpSeenByServer(), "upload bypassed the proxy");

        Map<String, Long> concAfter = lab.conc().mptcpExtCounters();
        assertTrue(delta(concBefore, concAfter, "MPCapableSYNRX") >= 2, "no MP_CAPABLE handshake: " + concAfter);
        assertTrue(delta(concBefore, concAfter, "MPJoinAckRx") >= 2, "no MP_JOIN subflow: " + concAfter);

        long payload = 2 * BULK;
        InterfaceCounters dsl = lab.counters(Link.DSL).since(dslBefore);
        InterfaceCounters lte = lab.counters(Link.LTE).since(lteBefore);
        long dslBytes = dsl.txBytes() + dsl.rxBytes();
        long lteBytes = lte.txBytes() + lte.rxBytes();
        String shares = "dsl " + dslBytes / MIB + " MiB, lte " + lteBytes / MIB + " MiB of " + payload / MIB
                + " MiB payload; upload " + up.mbps() + " Mb/s, download " + down.mbps() + " Mb/s";
        System.out.println("e2e link shares: " + shares);
        assertTrue(dslBytes + lteBytes >= payload, "links carried less than the payload: " + shares);
        assertTrue(dslBytes >= payload / 10, "dsl carried no real share: " + shares);
        assertTrue(lteBytes >= payload / 10, "lte carried no real share: " + shares);
        // The lab runs with net.ipv4.tcp_fastopen=3, as `check` recommends: on a kernel whose MPTCP fast open
        // collapses, the download would crawl at about 1 Mb/s with stalls between bursts (docs/decisions.md).
        assertTrue(down.mbps() >= 0.2 * 300, "download collapsed: " + shares);
        assertTrue(down.longestStallMs() < STALL_LIMIT_MS, "download stalled for " + down.longestStallMs()
                + " ms: " + shares);
    }

    /**
     * The per-uplink counters (read by the admin servers from MPTCP_FULL_INFO) account for the 64 MiB each way of
     * the first test. A sender's subflows carry every payload byte once plus what its MPTCP level reinjected (sent
     * again on another subflow), so each direction is checked on its sender: upload on the cpe, download on the
     * concentrator; the receiving cpe sees each byte at least once and at most once more per reinjected byte.
     */
    @Test
    @Order(2)
    void perUplinkByteCountersAddUpToTheTransferredBytes() throws Exception {
        String cpeScrape = scrape(lab.cpe());
        String concScrape = scrape(lab.conc());
        double cpeSent = 0;
        double cpeReceived = 0;
        for (String uplink : List.of("dsl", "lte")) {
            cpeSent += metric(cpeScrape, "hybridproxy_uplink_sent_bytes_total", uplink)
                    - metric(cpeScrape, "hybridproxy_uplink_retransmitted_bytes_total", uplink);
            cpeReceived += metric(cpeScrape, "hybridproxy_uplink_received_bytes_total", uplink);
        }
        // The concentrator knows no uplinks: all of its subflows count as "other".
        double concSent = metric(concScrape, "hybridproxy_uplink_sent_bytes_total", "other")
                - metric(concScrape, "hybridproxy_uplink_retransmitted_bytes_total", "other");
        double cpeReinjected = metric(cpeScrape, "hybridproxy_reinjected_bytes_total", null);
        double concReinjected = metric(concScrape, "hybridproxy_reinjected_bytes_total", null);
        double lteReceived = metric(cpeScrape, "hybridproxy_uplink_received_bytes_total", "lte");
        String figures = "payload per direction " + BULK + "; upload: cpe subflows sent " + (long) cpeSent
                + ", cpe reinjected " + (long) cpeReinjected + "; download: concentrator subflows sent "
                + (long) concSent + ", concentrator reinjected " + (long) concReinjected + ", cpe subflows received "
                + (long) cpeReceived + " (lte " + (long) lteReceived + ")";
        System.out.println("e2e per-uplink counters: " + figures);
        long headers = 64 * 1024; // Convert messages and the few bytes of the other tests' connections
        assertTrue(cpeSent >= BULK && cpeSent <= BULK + cpeReinjected + headers, figures);
        assertTrue(concSent >= BULK && concSent <= BULK + concReinjected + headers, figures);
        assertTrue(cpeReceived >= BULK && cpeReceived <= BULK + concReinjected + headers, figures);
        assertTrue(lteReceived >= BULK / 10, "lte carried no real share: " + figures);
    }

    private static String scrape(Netns ns) throws Exception {
        try (NamespaceForwarder admin = new NamespaceForwarder(ns.name(), new InetSocketAddress("127.0.0.1", 9190))) {
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create(admin.baseUri() + "/metrics")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            return r.body();
        }
    }

    /** A sample's value; {@code uplink} null for a metric without that label. */
    private static double metric(String scrape, String name, String uplink) {
        String prefix = name + "{";
        for (String line : scrape.split("\n")) {
            if (line.startsWith(prefix) && (uplink == null || line.contains("uplink=\"" + uplink + "\""))) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        throw new AssertionError("no " + name + " for " + uplink + " in the scrape:\n" + scrape);
    }

    @Test
    @Order(2)
    void theCpeInstalledItsOwnPolicyRoutingForEachUplink() {
        String rules = lab.cpe().exec("ip", "rule", "show").stdout();
        assertTrue(rules.contains("from " + HybridAccessLab.CPE_DSL_ADDR + " lookup"), rules);
        assertTrue(rules.contains("from " + HybridAccessLab.CPE_LTE_ADDR + " lookup"), rules);
        String endpoints = lab.cpe().exec("ip", "mptcp", "endpoint", "show").stdout();
        assertTrue(endpoints.contains(HybridAccessLab.CPE_LTE_ADDR) && endpoints.contains("subflow"), endpoints);
    }

    @Test
    @Order(3)
    void aRefusingDestinationResetsTheClientAndTheConcentratorAnswersConnectionReset() throws Exception {
        TrafficResult refused = lab.runTrafficClient(lab.client(), Duration.ofSeconds(30), "--connect",
                HybridAccessLab.SERVER_ADDR + ":" + REFUSING_PORT, "--up", "1024", "--expect-refused");
        assertTrue(refused.ok(), () -> refused + "\n" + logs());
        awaitLog(concentrator, "with Connection Reset (96)");
    }

    @Test
    @Order(4)
    void theDestinationPolicyIsEnforced() throws Exception {
        TrafficResult denied = lab.runTrafficClient(lab.client(), Duration.ofSeconds(30), "--connect",
                HybridAccessLab.SERVER_ADDR + ":" + DENIED_PORT, "--up", "1024", "--expect-refused");
        assertTrue(denied.ok(), () -> denied + "\n" + logs());
        awaitLog(concentrator, "denied");
    }

    @Test
    @Order(5)
    void aCpeWithoutTheRightKeyIsRejected() throws Exception {
        Path impostorConf = write("impostor.conf", """
                hybridproxy {
                  role = cpe
                  uplinks = [{ name = dsl, interface = dsl, address = "%s" }]
                  path-manager { manage-endpoints = false, install-routes = false }
                  admin.enabled = false
                  cpe {
                    concentrator = "%s:%d"
                    listeners = [{ name = impostor, mode = explicit, bind = "%s:%d", destination = "%s:5001" }]
                    key-id = "cpe-e2e"
                    key = "hex:ffeeddccbbaa99887766554433221100"
                  }
                }
                """.formatted(HybridAccessLab.CPE_DSL_ADDR, HybridAccessLab.SERVICE_ADDR, CONCENTRATOR_PORT,
                HybridAccessLab.CPE_LAN_ADDR, WRONG_KEY_LISTENER_PORT, HybridAccessLab.SERVER_ADDR));
        try (LabProcess impostor = startAppliance(lab.cpe(), impostorConf, "cpe listener impostor")) {
            TrafficResult rejected = lab.runTrafficClient(lab.client(), Duration.ofSeconds(30), "--connect",
                    HybridAccessLab.CPE_LAN_ADDR + ":" + WRONG_KEY_LISTENER_PORT, "--up", "1024", "--expect-refused");
            assertTrue(rejected.ok(), () -> rejected + "\n" + impostor.stdout() + "\n" + logs());
            awaitLog(concentrator, "authentication failed");
            awaitLog(impostor, "refused by concentrator: Not Authorized (32)");
        }
    }

    /**
     * A middlebox stripping MPTCP's options on DSL (where the cpe's first subflows leave): connections fall back
     * to plain TCP and still work, and the status API flags DSL, with the figures behind the flag, within one
     * history interval. LTE is not flagged.
     */
    @Test
    @Order(6)
    void anUplinkWhosePathStripsMptcpIsFlagged() throws Exception {
        lab.stripMptcpOption(Link.DSL, true);
        try {
            // Connections opened before the stripping began (a warm pool's) are MPTCP already; keep connecting
            // until new ones, opened through the stripping path, have fallen back and the next history sample has
            // seen them. Bounded: at most 20 small uploads over at most 30 s.
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            String dsl = "";
            for (int i = 0; i < 20 && System.nanoTime() < deadline; i++) {
                TrafficResult up = transfer("--up", 64 * 1024);
                assertTrue(up.ok(), () -> "a stripped path must still carry traffic: " + up + "\n" + logs());
                dsl = uplinkStatus(lab.cpe(), "dsl");
                if (dsl.contains("\"mptcpImpaired\":true")) {
                    break;
                }
                Thread.sleep(1000);
            }
            assertTrue(dsl.contains("\"mptcpImpaired\":true"), dsl);
            assertTrue(dsl.contains("connections fell back to plain TCP"), dsl);
            assertTrue(!dsl.contains("\"mptcpFallbacks\":0,"), dsl);
            String lte = uplinkStatus(lab.cpe(), "lte");
            assertTrue(lte.contains("\"mptcpImpaired\":false"), lte);
            assertTrue(scrape(lab.cpe()).lines().anyMatch(l -> l.startsWith("hybridproxy_uplink_mptcp_fallbacks_total{")
                    && l.contains("uplink=\"dsl\"") && !l.endsWith(" 0.0")), "no fallback metric for dsl");
        } finally {
            lab.stripMptcpOption(Link.DSL, false);
        }
    }

    /** One uplink's object in the cpe's {@code /api/v1/status} (uplink objects hold no nested object). */
    private static String uplinkStatus(Netns ns, String uplink) throws Exception {
        try (NamespaceForwarder admin = new NamespaceForwarder(ns.name(), new InetSocketAddress("127.0.0.1", 9190))) {
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create(admin.baseUri() + "/api/v1/status")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            int start = r.body().indexOf("{\"name\":\"" + uplink + "\"");
            assertTrue(start >= 0, r.body());
            return r.body().substring(start, r.body().indexOf('}', start) + 1);
        }
    }

    private TrafficResult transfer(String direction, long bytes) {
        return lab.runTrafficClient(lab.client(), Duration.ofSeconds(120), "--connect",
                HybridAccessLab.SERVER_ADDR + ":" + HybridAccessLab.TRAFFIC_PORT, direction, String.valueOf(bytes));
    }

    private static LabProcess startAppliance(Netns ns, Path config, String readyLine) {
        return ApplianceLauncher.start(ns, config, readyLine);
    }

    private static void awaitLog(LabProcess process, String text) {
        process.awaitStdoutLine(line -> line.contains(text), Duration.ofSeconds(10));
    }

    private String logs() {
        return "--- concentrator ---\n" + concentrator.stdout() + "\n--- cpe ---\n" + cpe.stdout();
    }

    private Path write(String name, String content) throws IOException {
        return Files.writeString(configs.resolve(name), content);
    }

    private static long delta(Map<String, Long> before, Map<String, Long> after, String key) {
        return after.getOrDefault(key, 0L) - before.getOrDefault(key, 0L);
    }
}
