package net.hybridproxy.loadtest.e2e;

import net.hybridproxy.loadtest.lab.ApplianceLauncher;
import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.HybridAccessLab.Link;
import net.hybridproxy.loadtest.lab.InterfaceCounters;
import net.hybridproxy.loadtest.lab.LabException;
import net.hybridproxy.loadtest.lab.LabProcess;
import net.hybridproxy.loadtest.lab.Netns;
import net.hybridproxy.loadtest.lab.TrafficResult;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The userspace engine end to end, black-box, in network namespaces, configured as an operator would
 * ({@code engine = userspace}): client → cpe (TPROXY capture) → dsl 40 Mb/s 20 ms + lte 30 Mb/s 50 ms → concentrator
 * → server. It checks what the userspace engine exists for: byte-exact transfers both ways, an aggregate well
 * above the best single link, no loss of that aggregate when a middlebox strips the MPTCP option on the DSL path
 * (the userspace engine carries no TCP option), and no lost byte when the DSL path turns into a blackhole
 * mid-transfer.
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

    private HybridAccessLab lab;
    private LabProcess concentrator;
    private LabProcess cpe;
    private Path configs;
    private double unstrippedDownMbps;
    private double bestSingleLinkMbps;

    @BeforeAll
    void startLabAndAppliances() throws Exception {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
                "needs root for network namespaces (runs in CI as root)");
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/sbin/nft")) || Files.isExecutable(Path.of("/sbin/nft")),
                "needs nft (Debian package nftables)");
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
                  concentrator {
                    userspace-listen = ["[::]:%d"]
                    authorized-cidrs = ["198.18.10.0/24", "198.18.20.0/24"]
                    keys = [{ id = "cpe-e2e", key = "%s" }]
                  }
                }
                """.formatted(USERSPACE_PORT, KEY));
        Path cpeConf = write("cpe.conf", """
                hybridproxy {
                  role = cpe
                  engine = userspace
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
                """.formatted(HybridAccessLab.CPE_DSL_ADDR, HybridAccessLab.CONC_DSL_ADDR,
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

        TrafficResult up = transfer("--up", BULK);
        TrafficResult down = transfer("--down", BULK);

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
        assertTrue(lteBytes >= 2 * BULK / 5, "lte carried too little: " + figures);
        unstrippedDownMbps = down.mbps();
        bestSingleLinkMbps = dslAlone.mbps();
    }

    @Test
    @Order(2)
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
    @Order(3)
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
