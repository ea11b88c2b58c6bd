package net.hybridproxy.loadtest.e2e;

import net.hybridproxy.loadtest.lab.ApplianceConfigs;
import net.hybridproxy.loadtest.lab.ApplianceLauncher;
import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.HybridAccessLab.Link;
import net.hybridproxy.loadtest.lab.InterfaceCounters;
import net.hybridproxy.loadtest.lab.LabProcess;
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
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cpe's bypass rules in the lab, one kind at a time: where the bytes went is read from the uplinks' interface
 * counters and from the address the server saw (the cpe's uplink address for direct traffic, the concentrator's
 * for proxied traffic). Traffic no rule matches keeps going through the proxy over both uplinks, and a reload
 * moves a rule to the other uplink without a restart.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class BypassNetnsE2eTest {
    private static final long MIB = 1024 * 1024;
    private static final long PAYLOAD = 4 * MIB;
    private static final int CONCENTRATOR_PORT = 5100;
    /** A second server address, for the rule that matches on destination. */
    private static final String OTHER_SERVER_ADDR = "198.18.30.3";
    /** A second client address, for the rule that matches on source. */
    private static final String OTHER_CLIENT_ADDR = "198.18.1.3";
    private static final int PORT_RULE = 5011;
    private static final int MAC_RULE = 5013;
    private static final int PINNED_RULE = 5014;

    private HybridAccessLab lab;
    private LabProcess concentrator;
    private LabProcess cpe;
    private Path cpeConf;
    private String clientMac;

    @BeforeAll
    void startLabAndAppliances() throws Exception {
        String skip = HybridAccessLab.skipReason();
        Assumptions.assumeTrue(skip == null, skip);
        lab = HybridAccessLab.builder().rate(Link.DSL, 100).rate(Link.LTE, 100).uplinkPolicyRouting(false).build();
        lab.server().exec("ip", "addr", "add", OTHER_SERVER_ADDR + "/24", "dev", "srv");
        lab.client().exec("ip", "addr", "add", OTHER_CLIENT_ADDR + "/24", "dev", "lan");
        clientMac = lab.client().exec("cat", "/sys/class/net/lan/address").stdout().trim();
        for (int port : List.of(HybridAccessLab.TRAFFIC_PORT, PORT_RULE, MAC_RULE, PINNED_RULE)) {
            lab.startTrafficServer(lab.server(), port);
        }
        Path configs = Files.createTempDirectory("hybridproxy-bypass");
        Path concentratorConf = Files.writeString(configs.resolve("concentrator.conf"),
                ApplianceConfigs.concentrator("[::]:" + CONCENTRATOR_PORT, "cpe-bypass", ""));
        cpeConf = configs.resolve("cpe.conf");
        writeCpeConfig("dsl");
        concentrator = ApplianceLauncher.start(lab.conc(), concentratorConf, "concentrator listening");
        cpe = ApplianceLauncher.start(lab.cpe(), cpeConf, "cpe listener lan@lte");
    }

    /** The cpe's config: the lab's capture plus one bypass rule of each kind; the port rule leaves by {@code portRuleUplink}. */
    private void writeCpeConfig(String portRuleUplink) throws IOException {
        Files.writeString(cpeConf, ApplianceConfigs.cpe(HybridAccessLab.SERVICE_ADDR + ":" + CONCENTRATOR_PORT,
                "cpe-bypass", true, List.of(HybridAccessLab.TRAFFIC_PORT, PORT_RULE, MAC_RULE, PINNED_RULE)) + """
                hybridproxy.cpe.bypass = [
                  { name = by-destination, destinations = ["%s/32"], action = direct, uplink = lte }
                  { name = by-port, ports = ["%d"], action = direct, uplink = %s }
                  { name = by-source, sources = ["%s/32"], action = direct, uplink = lte }
                  { name = by-mac, source-macs = ["%s"], ports = ["%d"], action = direct, uplink = lte }
                  { name = pinned, ports = ["%d"], action = proxy, uplink = lte }
                ]
                """.formatted(OTHER_SERVER_ADDR, PORT_RULE, portRuleUplink, OTHER_CLIENT_ADDR, clientMac, MAC_RULE,
                PINNED_RULE));
    }

    @AfterAll
    void stopEverything() throws IOException {
        if (lab != null) {
            lab.close();
        }
    }

    /** One upload from the client and what each uplink carried meanwhile. */
    private record BytesByUplink(TrafficResult result, long dslBytes, long lteBytes) {
        String describe() {
            return result + "; dsl carried " + dslBytes + " B, lte " + lteBytes + " B";
        }
    }

    private BytesByUplink upload(String destination, int port, String... extra) {
        InterfaceCounters dslBefore = lab.counters(Link.DSL);
        InterfaceCounters lteBefore = lab.counters(Link.LTE);
        List<String> args = new ArrayList<>(List.of("--connect", destination + ":" + port, "--up",
                String.valueOf(PAYLOAD)));
        args.addAll(List.of(extra));
        TrafficResult result = lab.runTrafficClient(lab.client(), Duration.ofSeconds(60), args.toArray(String[]::new));
        InterfaceCounters dsl = lab.counters(Link.DSL).since(dslBefore);
        InterfaceCounters lte = lab.counters(Link.LTE).since(lteBefore);
        BytesByUplink outcome = new BytesByUplink(result, dsl.txBytes(), lte.txBytes());
        assertTrue(result.ok(), () -> outcome.describe() + "\n" + logs());
        System.out.println("bypass e2e " + destination + ":" + port + " " + List.of(extra) + ": " + outcome.describe());
        return outcome;
    }

    /** All the payload went out {@code uplink}, next to nothing out the other one. */
    private static void carriedBy(String uplink, BytesByUplink o) {
        long on = uplink.equals("dsl") ? o.dslBytes() : o.lteBytes();
        long off = uplink.equals("dsl") ? o.lteBytes() : o.dslBytes();
        assertTrue(on >= PAYLOAD, () -> uplink + " did not carry the payload: " + o.describe());
        assertTrue(off < PAYLOAD / 20, () -> "the other uplink carried a share: " + o.describe());
    }

    @Test
    @Order(1)
    void unmatchedTrafficIsStillProxiedOverBothUplinks() {
        BytesByUplink o = upload(HybridAccessLab.SERVER_ADDR, HybridAccessLab.TRAFFIC_PORT);
        assertEquals(HybridAccessLab.CONC_SRV_ADDR, o.result().peerIpSeenByServer(), o.describe());
        assertTrue(o.dslBytes() >= PAYLOAD / 10 && o.lteBytes() >= PAYLOAD / 10, o.describe());
    }

    @Test
    @Order(2)
    void aDestinationRuleSendsTrafficStraightOutItsUplink() {
        BytesByUplink o = upload(OTHER_SERVER_ADDR, HybridAccessLab.TRAFFIC_PORT);
        assertEquals(HybridAccessLab.CPE_LTE_ADDR, o.result().peerIpSeenByServer(), o.describe());
        carriedBy("lte", o);
    }

    @Test
    @Order(3)
    void aPortRuleSendsTrafficStraightOutItsUplink() {
        BytesByUplink o = upload(HybridAccessLab.SERVER_ADDR, PORT_RULE);
        assertEquals(HybridAccessLab.CPE_DSL_ADDR, o.result().peerIpSeenByServer(), o.describe());
        carriedBy("dsl", o);
    }

    @Test
    @Order(4)
    void aSourceRuleSendsOneDevicesTrafficStraightOutItsUplink() {
        BytesByUplink o = upload(HybridAccessLab.SERVER_ADDR, HybridAccessLab.TRAFFIC_PORT, "--bind", OTHER_CLIENT_ADDR);
        assertEquals(HybridAccessLab.CPE_LTE_ADDR, o.result().peerIpSeenByServer(), o.describe());
        carriedBy("lte", o);
    }

    @Test
    @Order(5)
    void aMacRuleSendsOneDevicesTrafficStraightOutItsUplink() {
        BytesByUplink o = upload(HybridAccessLab.SERVER_ADDR, MAC_RULE);
        assertEquals(HybridAccessLab.CPE_LTE_ADDR, o.result().peerIpSeenByServer(), o.describe());
        carriedBy("lte", o);
    }

    @Test
    @Order(6)
    void aProxyRuleKeepsTheProxyButUsesOneUplinkOnly() {
        BytesByUplink o = upload(HybridAccessLab.SERVER_ADDR, PINNED_RULE);
        assertEquals(HybridAccessLab.CONC_SRV_ADDR, o.result().peerIpSeenByServer(), "not proxied: " + o.describe());
        carriedBy("lte", o);
    }

    @Test
    @Order(7)
    void aReloadMovesARuleToTheOtherUplinkWithoutARestart() throws Exception {
        long pid = cpe.pid();
        writeCpeConfig("lte");
        try (NamespaceForwarder admin = new NamespaceForwarder(lab.cpe().name(),
                new InetSocketAddress("127.0.0.1", 9190))) {
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                            URI.create(admin.baseUri() + "/api/v1/reload"))
                    .header("Content-Type", "application/json").header("X-Hybridproxy-Admin", "1").POST(HttpRequest.BodyPublishers.ofString("{}"))
                    .build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            assertTrue(r.body().contains("\"applied\":[\"cpe.bypass\"]"), r.body());
        }
        BytesByUplink o = upload(HybridAccessLab.SERVER_ADDR, PORT_RULE);
        assertEquals(HybridAccessLab.CPE_LTE_ADDR, o.result().peerIpSeenByServer(), o.describe());
        carriedBy("lte", o);
        assertEquals(pid, cpe.pid(), "the cpe restarted");
        BytesByUplink unmatched = upload(HybridAccessLab.SERVER_ADDR, HybridAccessLab.TRAFFIC_PORT);
        assertEquals(HybridAccessLab.CONC_SRV_ADDR, unmatched.result().peerIpSeenByServer(), unmatched.describe());
    }

    private String logs() {
        return "--- concentrator ---\n" + concentrator.stdout() + "\n--- cpe ---\n" + cpe.stdout();
    }
}
