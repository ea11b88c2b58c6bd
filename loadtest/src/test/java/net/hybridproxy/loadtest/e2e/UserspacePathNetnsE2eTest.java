package net.hybridproxy.loadtest.e2e;

import net.hybridproxy.loadtest.lab.ApplianceLauncher;
import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.HybridAccessLab.Link;
import net.hybridproxy.loadtest.lab.InterfaceCounters;
import net.hybridproxy.loadtest.lab.LabException;
import net.hybridproxy.loadtest.lab.LabProcess;
import net.hybridproxy.loadtest.lab.Netns;
import net.hybridproxy.loadtest.lab.TrafficResult;
import net.hybridproxy.proxy.testing.NamespaceForwarder;
import net.hybridproxy.proxy.testing.Promtool;
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
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The userspace engine end to end, black-box, in network namespaces, configured as an operator would
 * ({@code engine = userspace}): client → cpe (TPROXY capture) → dsl 40 Mb/s 20 ms + lte 30 Mb/s 50 ms → concentrator
 * → server. It checks what the userspace engine exists for: byte-exact transfers both ways, an aggregate well
 * above the best single link, no loss of that aggregate when a middlebox strips the MPTCP option on the DSL path
 * (the userspace engine carries no TCP option), and no lost byte when the DSL path turns into a blackhole
 * mid-transfer. The admin servers' scrapes account for the bytes moved, per uplink, and pass promtool.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class UserspacePathNetnsE2eTest {
    private static final long MIB = 1024 * 1024;
    private static final long BULK = 48 * MIB;
    private static final String KEY = "hex:00112233445566778899aabbccddeeff";
    private static final int USERSPACE_PORT = 5101;
    private static final double DSL_MBIT = 40;
    private static final double LTE_MBIT = 30;
    /** The userspace engine's sampler runs this often here (it reads engine counters and gauges on each pass). */
    private static final Duration SAMPLE_INTERVAL = Duration.ofSeconds(1);

    private HybridAccessLab lab;
    private LabProcess concentrator;
    private LabProcess cpe;
    private Path configs;
    private double unstrippedDownMbps;
    private double bestSingleLinkMbps;
    private Map<String, Double> cpeBefore;
    private Map<String, Double> cpeAfter;
    private Map<String, Double> concentratorBefore;
    private Map<String, Double> concentratorAfter;

    @BeforeAll
    void startLabAndAppliances() throws Exception {
        String skip = HybridAccessLab.skipReason();
        Assumptions.assumeTrue(skip == null, skip);
        lab = HybridAccessLab.builder()
                .rate(Link.DSL, DSL_MBIT).rtt(Link.DSL, Duration.ofMillis(20))
                .rate(Link.LTE, LTE_MBIT).rtt(Link.LTE, Duration.ofMillis(50))
                .uplinkPolicyRouting(false) // the cpe must install its own
                .build();
        configs = Files.createTempDirectory("hybridproxy-userspace-e2e");
        Path concentratorConf = write("concentrator.conf", """
                hybridproxy {
                  role = concentrator
                  engine = userspace
                  admin.sample-interval = %s
                  concentrator {
                    userspace-listen = ["[::]:%d"]
                    authorized-cidrs = ["198.18.10.0/24", "198.18.20.0/24"]
                    keys = [{ id = "cpe-e2e", key = "%s" }]
                  }
                }
                """.formatted(SAMPLE_INTERVAL.toMillis() + "ms", USERSPACE_PORT, KEY));
        Path cpeConf = write("cpe.conf", """
                hybridproxy {
                  role = cpe
                  engine = userspace
                  admin.sample-interval = %s
                  uplinks = [
                    { name = dsl, interface = dsl, address = "%s", gateway = "%s" }
                    { name = lte, interface = lte, address = "%s", gateway = "%s" }
                  ]
                  cpe {
                    concentrator = "%s:%d"
                    install-capture-rules = true
                    listeners = [{ name = lan, mode = tproxy, bind = "0.0.0.0:12345", interface = lan,
                                   ports = ["5001"] }]
                    key-id = "cpe-e2e"
                    key = "%s"
                  }
                }
                """.formatted(SAMPLE_INTERVAL.toMillis() + "ms", HybridAccessLab.CPE_DSL_ADDR, HybridAccessLab.CONC_DSL_ADDR,
                HybridAccessLab.CPE_LTE_ADDR, HybridAccessLab.CONC_LTE_ADDR, HybridAccessLab.SERVICE_ADDR,
                USERSPACE_PORT, KEY));
        lab.startTrafficServer(lab.server(), HybridAccessLab.TRAFFIC_PORT);
        concentrator = startAppliance(lab.conc(), concentratorConf, "concentrator listening (userspace multipath)");
        cpe = startAppliance(lab.cpe(), cpeConf, "cpe listener lan");
        // Both uplinks of every cpe session joined: two sessions (one per event loop) over dsl and lte.
        cpe.awaitStdoutLine(line -> line.contains("subflow") && line.contains("over lte attached"),
                Duration.ofSeconds(20));
    }

    @AfterAll
    void stopEverything() throws IOException {
        if (lab != null) {
            lab.close();
        }
    }

    @Test
    @Order(1)
    void bulkTransfersAreByteExactAndAggregateBothUplinks() {
        // The best single link, measured the same way: dsl alone (lte blackholed, so its subflows stall and the
        // session carries everything over dsl), through the same proxy pair on the same machine.
        lab.blackhole(Link.LTE, true);
        TrafficResult dslAlone;
        try {
            dslAlone = transfer("--down", BULK / 2);
        } finally {
            lab.blackhole(Link.LTE, false);
        }
        assertTrue(dslAlone.ok(), () -> "dsl-only download: " + dslAlone + "\n" + logs());
        cpe.awaitStdoutLine(line -> line.contains("over lte recovered") || line.contains("over lte attached"),
                Duration.ofSeconds(20));

        InterfaceCounters dslBefore = lab.counters(Link.DSL);
        InterfaceCounters lteBefore = lab.counters(Link.LTE);
        settledScrapes(true);

        TrafficResult up = transfer("--up", BULK);
        TrafficResult down = transfer("--down", BULK);
        settledScrapes(false);

        assertTrue(up.ok(), () -> "upload: " + up + "\n" + logs());
        assertTrue(down.ok(), () -> "download: " + down + "\n" + logs());
        assertEquals(HybridAccessLab.CONC_SRV_ADDR, up.peerIpSeenByServer(), "upload bypassed the proxy");

        InterfaceCounters dsl = lab.counters(Link.DSL).since(dslBefore);
        InterfaceCounters lte = lab.counters(Link.LTE).since(lteBefore);
        long dslBytes = dsl.txBytes() + dsl.rxBytes();
        long lteBytes = lte.txBytes() + lte.rxBytes();
        String figures = "upload " + up.mbps() + " Mb/s, download " + down.mbps() + " Mb/s, dsl alone "
                + dslAlone.mbps() + " Mb/s; dsl " + dslBytes / MIB
                + " MiB, lte " + lteBytes / MIB + " MiB of " + 2 * BULK / MIB + " MiB payload";
        System.out.println("userspace e2e (dsl " + DSL_MBIT + " Mb/s 20 ms + lte " + LTE_MBIT + " Mb/s 50 ms): "
                + figures);
        assertTrue(up.mbps() >= 1.5 * dslAlone.mbps(), "upload does not aggregate: " + figures);
        assertTrue(down.mbps() >= 1.5 * dslAlone.mbps(), "download does not aggregate: " + figures);
        // Stalls: a 100 ms interval after the first second under 10 % of the mean; 500 ms is generous for CI.
        assertTrue(down.longestStallMs() < 500, "download stalled for " + down.longestStallMs() + " ms: " + figures
                + "\n" + down.result());
        assertTrue(lteBytes >= 2 * BULK / 5, "lte carried too little: " + figures);
        unstrippedDownMbps = down.mbps();
        bestSingleLinkMbps = dslAlone.mbps();
    }

    /**
     * The cpe's per-uplink counters account for the 48 MiB each way of the first test (differences of scrapes
     * taken just before and after those two transfers, with nothing else running):
     * <ul>
     *   <li>upload, on the sender: the engine's first transmissions ({@code data_bytes_sent} minus what the uplinks
     *       carried again) are the payload plus the RFC 8803 Convert messages of the two connections (under 1 KiB);
     *       the subflows' sent bytes are those DATA payloads plus a 16-byte header per DATA frame (the scheduler
     *       decisions count the frames) plus control frames: DATA_ACKs for the download, PINGs and PONGs;</li>
     *   <li>download, on the receiver: the subflows' received bytes are the payload delivered plus duplicates (the
     *       concentrator's reinjections that arrived twice) plus the same framing and control.</li>
     * </ul>
     * Bound for framing and control together: 2% of the payload. Why: a full DATA frame carries 16384 bytes with
     * 16 bytes of header (0.1%); frames are at least 1 KiB unless a stream has less waiting (1.6% at worst);
     * control is about one 32-byte DATA_ACK per DATA frame received and a probe per subflow per second. The
     * upload's framing is also checked against the counted frames (at least 16 bytes each).
     */
    @Test
    @Order(2)
    void perUplinkCountersAddUpToTheTransferredBytesAndPassPromtool() throws Exception {
        Assumptions.assumeTrue(cpeAfter != null, "needs the transfers of the first test");
        double sent = 0;
        double received = 0;
        double reinjected = 0;
        double dataFrames = 0;
        Map<String, Double> sentBy = new HashMap<>();
        Map<String, Double> receivedBy = new HashMap<>();
        for (String uplink : List.of("dsl", "lte", "other")) {
            String u = "uplink=\"" + uplink + "\"";
            sentBy.put(uplink, delta(cpeBefore, cpeAfter, "hybridproxy_uplink_sent_bytes_total", u));
            receivedBy.put(uplink, delta(cpeBefore, cpeAfter, "hybridproxy_uplink_received_bytes_total", u));
            sent += sentBy.get(uplink);
            received += receivedBy.get(uplink);
            reinjected += delta(cpeBefore, cpeAfter, "hybridproxy_uplink_reinjected_bytes_total", u);
            for (String reason : List.of("new", "reinjection", "opportunistic", "redundant")) {
                dataFrames += delta(cpeBefore, cpeAfter, "hybridproxy_scheduler_decisions_total", u,
                        "reason=\"" + reason + "\"");
            }
        }
        double dataBytesSent = delta(cpeBefore, cpeAfter, "hybridproxy_userspace_bytes_total",
                "kind=\"data_bytes_sent\"");
        double duplicates = delta(cpeBefore, cpeAfter, "hybridproxy_userspace_bytes_total",
                "kind=\"duplicate_bytes_received\"");
        double delivered = delta(cpeBefore, cpeAfter, "hybridproxy_userspace_bytes_total",
                "kind=\"data_bytes_delivered\"");
        double concentratorSent = delta(concentratorBefore, concentratorAfter, "hybridproxy_uplink_sent_bytes_total",
                "uplink=\"other\"");
        double firstTransmissions = dataBytesSent - reinjected;
        String figures = "payload " + BULK + " each way; cpe subflows sent " + (long) sent + " " + sentBy
                + ", DATA payload " + (long) dataBytesSent + " in " + (long) dataFrames + " frames, of which carried "
                + "again " + (long) reinjected + "; cpe subflows received " + (long) received + " " + receivedBy
                + ", duplicates " + (long) duplicates + ", delivered " + (long) delivered
                + "; concentrator subflows sent " + (long) concentratorSent;
        System.out.println("userspace e2e per-uplink counters: " + figures);

        double convertMessages = 1024;
        double bound = 0.02 * BULK;
        assertTrue(firstTransmissions >= BULK && firstTransmissions <= BULK + convertMessages, figures);
        double framingAndControlUp = sent - dataBytesSent;
        assertTrue(framingAndControlUp >= 16 * dataFrames, "every DATA frame has its 16-byte header: " + figures);
        assertTrue(framingAndControlUp <= bound, "upload overhead above 2%: " + figures);
        double framingAndControlDown = received - delivered - duplicates;
        assertTrue(delivered >= BULK && delivered <= BULK + convertMessages, figures);
        assertTrue(framingAndControlDown >= 0 && framingAndControlDown <= bound, "download overhead: " + figures);
        // Probes keep flowing between the two appliances' scrapes: a few KiB of slack.
        assertTrue(received <= concentratorSent + 4096, "the cpe read more than the concentrator wrote: " + figures);
        for (String uplink : List.of("dsl", "lte")) {
            assertTrue(sentBy.get(uplink) >= BULK / 10 && receivedBy.get(uplink) >= BULK / 10,
                    uplink + " carried no real share: " + figures);
        }
        assertEquals(0, sentBy.get("other") + receivedBy.get("other"), "every subflow has a configured uplink");

        Assumptions.assumeTrue(Promtool.available(), "needs promtool (Debian package prometheus)");
        assertEquals("", Promtool.checkMetrics(scrape(lab.cpe())), "promtool on the userspace cpe's scrape");
        assertEquals("", Promtool.checkMetrics(scrape(lab.conc())), "promtool on the userspace concentrator's scrape");
    }

    /** One dashboard serves both engines: every metric it queries is exported by the userspace pair too. */
    @Test
    @Order(2)
    void everyMetricTheDashboardQueriesIsExportedByTheUserspaceEngine() throws Exception {
        Set<String> exported = new TreeSet<>();
        for (String scrape : List.of(scrape(lab.cpe()), scrape(lab.conc()))) {
            for (String sample : samples(scrape).keySet()) {
                exported.add(sample.replaceAll("\\{.*", ""));
            }
        }
        Matcher m = Pattern.compile("\\bhybridproxy_[a-z0-9_]+")
                .matcher(Files.readString(Path.of("..", "deploy", "grafana", "hybridproxy.json")));
        Set<String> missing = new TreeSet<>();
        while (m.find()) {
            if (!exported.contains(m.group())) {
                missing.add(m.group());
            }
        }
        assertTrue(missing.isEmpty(), "the dashboard queries metrics the userspace engine does not export: " + missing);
        assertTrue(exported.contains("hybridproxy_uplink_srtt_seconds"), exported.toString());
    }

    @Test
    @Order(4)
    void strippingTheMptcpOptionOnDslChangesNothing() {
        Assumptions.assumeTrue(unstrippedDownMbps > 0, "needs the unstripped measurement of the first test");
        lab.stripMptcpOption(Link.DSL, true);
        try {
            // Fresh subflows meet the middlebox too: restart nothing, the warm ones carry on, and any reconnect
            // would pass it as well (no TCP option to strip).
            TrafficResult down = transfer("--down", BULK);
            assertTrue(down.ok(), () -> "download through the stripping middlebox: " + down + "\n" + logs());
            System.out.println("userspace e2e with the MPTCP option stripped on dsl: download " + down.mbps()
                    + " Mb/s (unstripped " + unstrippedDownMbps + ")");
            assertTrue(down.mbps() >= 1.5 * bestSingleLinkMbps,
                    "stripping the MPTCP option collapsed the aggregate: " + down.mbps() + " Mb/s");
            assertTrue(down.mbps() >= 0.85 * unstrippedDownMbps, "stripping cost more than noise: "
                    + down.mbps() + " vs " + unstrippedDownMbps + " Mb/s");
        } finally {
            lab.stripMptcpOption(Link.DSL, false);
        }
    }

    @Test
    @Order(5)
    void aDslBlackholeMidTransferLosesNoByte() throws Exception {
        CompletableFuture<TrafficResult> download = CompletableFuture.supplyAsync(() -> transfer("--down", BULK));
        Thread.sleep(2_000);
        lab.blackhole(Link.DSL, true);
        TrafficResult down;
        try {
            down = download.get(120, TimeUnit.SECONDS);
        } finally {
            lab.blackhole(Link.DSL, false);
        }
        TrafficResult result = down;
        assertTrue(result.ok(), () -> "download across a dsl blackhole: " + result + "\n" + logs());
        System.out.println("userspace e2e with dsl blackholed after 2 s: download " + result.mbps() + " Mb/s");
        cpe.awaitStdoutLine(line -> line.contains("over dsl stalled"), Duration.ofSeconds(5));
    }

    private TrafficResult transfer(String direction, long bytes) {
        try {
            return lab.runTrafficClient(lab.client(), Duration.ofSeconds(60), "--connect",
                    HybridAccessLab.SERVER_ADDR + ":" + HybridAccessLab.TRAFFIC_PORT, direction, String.valueOf(bytes));
        } catch (LabException e) {
            throw new AssertionError(direction + " " + bytes + " bytes failed: " + e.getMessage().lines().findFirst()
                    .orElse("") + "\n" + logs(), e);
        }
    }

    /**
     * The admin API covers the userspace engine: the status shows its uplinks, subflows and sessions, the cpe is
     * ready on its sessions, and the uplink actions act on them: backup sends MP_PRIO and moves new data off the
     * uplink, disable closes its subflows and opens none, enable brings them back.
     */
    @Test
    @Order(3)
    void statusReadinessAndUplinkActionsCoverTheUserspaceEngine() throws Exception {
        Map<String, Double> metrics = samples(scrape(lab.cpe()));
        int sessions = (int) value(metrics, "hybridproxy_userspace_sessions_established", "engine=\"userspace\"");
        assertTrue(sessions >= 1, "established sessions: " + sessions);
        String status = admin(lab.cpe(), "GET", "/api/v1/status", 200);
        assertTrue(status.contains("\"engine\":\"userspace\"") && status.contains("\"sessions\":{\"sessions\":"
                + sessions + ",\"established\":" + sessions + ",") && status.contains("\"uplink\":\"lte\""), status);
        String ready = admin(lab.cpe(), "GET", "/health/ready", 200);
        assertTrue(ready.contains("userspace sessions") && ready.contains("established"), ready);

        double prioBefore = value(samples(scrape(lab.conc())), "hybridproxy_userspace_events_total",
                "event=\"mp_prio_received\"");
        String backup = admin(lab.cpe(), "POST", "/api/v1/uplinks/lte/backup", 200);
        assertTrue(backup.contains("lte active -> backup"), backup);
        awaitMetric(lab.conc(), "hybridproxy_userspace_events_total", "event=\"mp_prio_received\"",
                v -> v >= prioBefore + sessions, "one MP_PRIO per cpe session reached the concentrator");
        settledScrapes(true);
        assertTrue(transfer("--up", 8 * MIB).ok());
        settledScrapes(false);
        double lteNewFrames = delta(cpeBefore, cpeAfter, "hybridproxy_scheduler_decisions_total",
                "uplink=\"lte\"", "reason=\"new\"");
        double dslNewFrames = delta(cpeBefore, cpeAfter, "hybridproxy_scheduler_decisions_total",
                "uplink=\"dsl\"", "reason=\"new\"");
        assertEquals(0, lteNewFrames, "lte is backup while dsl works (dsl took " + dslNewFrames + " frames)");
        assertEquals(1, value(cpeAfter, "hybridproxy_uplink_admin_state", "uplink=\"lte\"", "state=\"backup\""));

        String disable = admin(lab.cpe(), "POST", "/api/v1/uplinks/lte/disable", 200);
        assertTrue(disable.contains("backup -> disabled") && disable.contains("(" + sessions + " closed)"), disable);
        awaitMetric(lab.cpe(), "hybridproxy_uplink_subflows", "uplink=\"lte\"", v -> v == 0,
                "no subflow over a disabled uplink");
        assertTrue(transfer("--down", 4 * MIB).ok(), "dsl alone carries on");
        assertEquals(0, value(samples(scrape(lab.cpe())), "hybridproxy_uplink_subflows", "uplink=\"lte\""),
                "the path manager reopened nothing over lte");

        String enable = admin(lab.cpe(), "POST", "/api/v1/uplinks/lte/enable", 200);
        assertTrue(enable.contains("disabled -> active"), enable);
        awaitMetric(lab.cpe(), "hybridproxy_uplink_subflows", "uplink=\"lte\"", v -> v == sessions,
                "lte rejoined every session");
        String concentratorAction = admin(lab.conc(), "POST", "/api/v1/uplinks/lte/drain", 404);
        assertTrue(concentratorAction.contains("no uplink named"), concentratorAction);
    }

    private void awaitMetric(Netns ns, String name, String label, java.util.function.DoublePredicate ok,
                             String what) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        double last;
        do {
            last = value(samples(scrape(ns)), name, label);
            if (ok.test(last)) {
                return;
            }
            Thread.sleep(200);
        } while (System.nanoTime() < deadline);
        throw new AssertionError(what + ": " + name + "{" + label + "} is " + last + "\n" + logs());
    }

    private static String admin(Netns ns, String method, String path, int expectedStatus) throws Exception {
        try (NamespaceForwarder admin = new NamespaceForwarder(ns.name(), new InetSocketAddress("127.0.0.1", 9190))) {
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                            URI.create(admin.baseUri() + path)).method(method, HttpRequest.BodyPublishers.noBody())
                    .header("X-Hybridproxy-Admin", "1").build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(expectedStatus, r.statusCode(), method + " " + path + ": " + r.body());
            return r.body();
        }
    }

    /** Scrapes of both appliances once the sampler has run twice since the last bytes moved. */
    private void settledScrapes(boolean before) {
        try {
            Thread.sleep(2 * SAMPLE_INTERVAL.toMillis() + 500);
            Map<String, Double> cpeNow = samples(scrape(lab.cpe()));
            Map<String, Double> concentratorNow = samples(scrape(lab.conc()));
            if (before) {
                cpeBefore = cpeNow;
                concentratorBefore = concentratorNow;
            } else {
                cpeAfter = cpeNow;
                concentratorAfter = concentratorNow;
            }
        } catch (Exception e) {
            throw new AssertionError("scrape failed: " + e + "\n" + logs(), e);
        }
    }

    private static String scrape(Netns ns) throws Exception {
        return admin(ns, "GET", "/metrics", 200);
    }

    /** Every sample of a scrape, by its name and labels as written. */
    private static Map<String, Double> samples(String scrape) {
        Map<String, Double> samples = new HashMap<>();
        for (String line : scrape.split("\n")) {
            if (!line.startsWith("#") && !line.isBlank()) {
                int space = line.lastIndexOf(' ');
                samples.put(line.substring(0, space), Double.parseDouble(line.substring(space + 1)));
            }
        }
        return samples;
    }

    /** How much the one sample named {@code name} with all of {@code labels} grew between two scrapes. */
    private static double delta(Map<String, Double> before, Map<String, Double> after, String name,
                                String... labels) {
        return value(after, name, labels) - value(before, name, labels);
    }

    private static double value(Map<String, Double> samples, String name, String... labels) {
        List<Map.Entry<String, Double>> found = samples.entrySet().stream()
                .filter(e -> e.getKey().startsWith(name + "{"))
                .filter(e -> List.of(labels).stream().allMatch(e.getKey()::contains)).toList();
        assertEquals(1, found.size(), () -> name + " " + List.of(labels) + ": " + found);
        return found.getFirst().getValue();
    }

    private static LabProcess startAppliance(Netns ns, Path config, String readyLine) {
        return ApplianceLauncher.start(ns, config, readyLine);
    }

    private String logs() {
        return "--- concentrator ---\n" + concentrator.stdout() + "\n--- cpe ---\n" + cpe.stdout();
    }

    private Path write(String name, String content) throws IOException {
        return Files.writeString(configs.resolve(name), content);
    }
}
