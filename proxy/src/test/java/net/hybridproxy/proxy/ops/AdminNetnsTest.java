package net.hybridproxy.proxy.ops;

import net.hybridproxy.proxy.testing.Promtool;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import java.net.Socket;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.function.BooleanSupplier;

import static net.hybridproxy.proxy.ops.RunningAppliances.TOKEN;
import static net.hybridproxy.proxy.ops.RunningAppliances.samples;
import static net.hybridproxy.proxy.ops.RunningAppliances.value;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The admin server of real, running appliances (a cpe and a concentrator as separate processes in a network
 * namespace, see {@link RunningAppliances}): Prometheus scrapes that promtool accepts and whose per-uplink byte
 * counters add up to what was sent, the API's answers to mistakes, uplink actions visible in the kernel's
 * endpoints and nftables, and a reload that rotates the token under a live connection.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AdminNetnsTest {
    private static final long MIB = 1024 * 1024;
    private RunningAppliances pair;

    @BeforeAll
    void start() throws Exception {
        String skip = RunningAppliances.skipReason();
        Assumptions.assumeTrue(skip == null, skip);
        pair = RunningAppliances.start("admin");
    }

    @AfterAll
    void stop() throws Exception {
        if (pair != null) {
            pair.close();
        }
    }

    @Test
    @Order(1)
    void scrapesPassPromtoolAndPerUplinkBytesAddUpToThePayload() throws Exception {
        Assumptions.assumeTrue(Promtool.available(), "needs promtool (Debian package prometheus)");
        long payload = pair.send(32 * MIB) + pair.send(8 * MIB);
        awaitTrue(() -> pair.sinkBytes() == payload, "the destination received " + pair.sinkBytes());

        String cpeScrape = pair.scrapeCpe();
        String concentratorScrape = pair.scrapeConcentrator();
        assertEquals("", Promtool.checkMetrics(cpeScrape), "promtool on the cpe's scrape");
        assertEquals("", Promtool.checkMetrics(concentratorScrape), "promtool on the concentrator's scrape");

        Map<String, Double> cpe = samples(cpeScrape);
        assertEquals(payload, value(cpe, "hybridproxy_relayed_bytes_total", "direction=\"upstream\""));
        assertEquals(2, value(cpe, "hybridproxy_connections_total"));
        assertEquals(2, value(cpe, "hybridproxy_connection_setup_seconds_count"));
        double dsl = uniqueSent(cpe, "dsl");
        double lte = uniqueSent(cpe, "lte");
        double reinjected = value(cpe, "hybridproxy_reinjected_bytes_total");
        String figures = "dsl " + dsl + ", lte " + lte + ", reinjected " + reinjected + ", payload " + payload;
        // Every payload byte left on some subflow; on top: two Convert messages and whatever the MPTCP level
        // reinjected on a second subflow.
        assertTrue(dsl + lte >= payload, figures);
        assertTrue(dsl + lte <= payload + reinjected + 4096, figures);
        assertTrue(dsl > 0 && lte > 0, "both uplinks carried data: " + figures);
        assertTrue(value(cpe, "hybridproxy_uplink_subflows_opened_total", "uplink=\"lte\"") >= 2, cpeScrape);

        // The concentrator's subflows are not on any uplink it knows: they count as "other", and all of the
        // payload arrived there.
        Map<String, Double> concentrator = samples(concentratorScrape);
        double received = value(concentrator, "hybridproxy_uplink_received_bytes_total", "uplink=\"other\"");
        // Data the cpe reinjected may arrive twice (once per subflow), and counts twice.
        assertTrue(received >= payload && received <= payload + reinjected + 4096,
                "concentrator received " + received + "; " + figures);
    }

    /** Bytes the cpe sent on an uplink's subflows, TCP retransmissions taken out. */
    private static double uniqueSent(Map<String, Double> samples, String uplink) {
        return value(samples, "hybridproxy_uplink_sent_bytes_total", "uplink=\"" + uplink + "\"")
                - value(samples, "hybridproxy_uplink_retransmitted_bytes_total", "uplink=\"" + uplink + "\"");
    }

    @Test
    @Order(2)
    void theApiAnswersMistakesWithClearStatusCodes() throws Exception {
        assertEquals(401, pair.get(pair.cpeAdmin, "/metrics", null).statusCode());
        assertEquals(401, pair.get(pair.cpeAdmin, "/api/v1/status", "wrong-token-wrong-token").statusCode());
        HttpResponse<String> missing = pair.get(pair.cpeAdmin, "/api/v2/status", TOKEN);
        assertEquals(404, missing.statusCode());
        HttpResponse<String> method = pair.post(pair.cpeAdmin, "/api/v1/status", "", TOKEN);
        assertEquals(405, method.statusCode());
        HttpResponse<String> badJson = pair.post(pair.cpeAdmin, "/api/v1/uplinks/lte/drain", "{reason:", TOKEN);
        assertEquals(400, badJson.statusCode());
        for (HttpResponse<String> r : new HttpResponse[] {missing, method, badJson}) {
            assertTrue(r.body().startsWith("{\"error\":"), r.body());
            assertFalse(r.body().contains("Exception"), r.body());
        }
        HttpResponse<String> unknown = pair.post(pair.cpeAdmin, "/api/v1/uplinks/wifi/drain", "", TOKEN);
        assertEquals(404, unknown.statusCode());
        assertTrue(unknown.body().contains("no uplink named 'wifi'"), unknown.body());

        assertEquals(200, pair.get(pair.cpeAdmin, "/health/live", null).statusCode());
        HttpResponse<String> ready = pair.get(pair.cpeAdmin, "/health/ready", null);
        assertEquals(200, ready.statusCode(), ready.body());
        assertTrue(ready.body().contains("\"name\":\"concentrator\",\"ok\":true"), ready.body());
        assertEquals(200, pair.get(pair.concentratorAdmin, "/health/ready", null).statusCode());

        HttpResponse<String> status = pair.get(pair.cpeAdmin, "/api/v1/status", TOKEN);
        assertEquals(200, status.statusCode());
        assertTrue(status.body().startsWith("{\"role\":\"cpe\",\"engine\":\"kernel\""), status.body());
        assertTrue(status.body().contains("\"name\":\"lte\",\"interface\":\"lo\",\"address\":\"198.18.0.2\""),
                status.body());
    }

    @Test
    @Order(3)
    void uplinkActionsChangeTheKernelsEndpointsAndRefuseJoinsWhileDraining() throws Exception {
        assertEquals(200, action("lte", "backup").statusCode());
        awaitTrue(() -> endpoints().matches("(?s).*198\\.18\\.0\\.2 id \\d+ subflow backup.*"), endpoints());

        HttpResponse<String> drain = pair.post(pair.cpeAdmin, "/api/v1/uplinks/lte/drain",
                "{\"reason\":\"modem firmware update\"}", TOKEN);
        assertEquals(200, drain.statusCode(), drain.body());
        assertTrue(nft().contains("ip saddr 198.18.0.2 tcp flags syn tcp option mptcp subtype 1 reject"), nft());
        assertTrue(endpoints().contains("198.18.0.2"), "draining keeps the endpoint: " + endpoints());
        double refusedBefore = joinFailures("refused");
        try (Socket open = pair.connect()) {
            // The connection stays open while the kernel tries its lte subflow, so the refused join is reported
            // (the kernel reports subflow failures of established connections only).
            RunningAppliances.write(open, MIB);
            awaitTrue(() -> joinFailures("refused") > refusedBefore, "no refused join counted while draining");
            // Finish the connection before moving on: its bytes must not land in a later test's sink count.
            open.shutdownOutput();
            assertEquals(-1, open.getInputStream().read());
        }

        assertEquals(200, action("lte", "disable").statusCode());
        assertFalse(endpoints().contains("198.18.0.2"), endpoints());
        assertFalse(nft().contains("hybridproxy_drain"), "disable replaces the drain rule");
        HttpResponse<String> drainDisabled = action("lte", "drain");
        assertEquals(409, drainDisabled.statusCode(), drainDisabled.body());

        HttpResponse<String> enable = action("lte", "enable");
        assertEquals(200, enable.statusCode(), enable.body());
        assertTrue(enable.body().contains("disabled -> active"), enable.body());
        assertTrue(endpoints().matches("(?s).*198\\.18\\.0\\.2 id \\d+ subflow dev lo.*"), endpoints());
        assertFalse(endpoints().contains("backup"), endpoints());
        HttpResponse<String> status = pair.get(pair.cpeAdmin, "/api/v1/status", TOKEN);
        assertTrue(status.body().contains("\"name\":\"lte\"") && status.body().contains("\"adminState\":\"active\""),
                status.body());
    }

    @Test
    @Order(4)
    void reloadRotatesTheTokenAndAppliesUplinkRolesWithoutDroppingAConnection() throws Exception {
        long sinkBefore = pair.sinkBytes();
        try (Socket live = pair.connect()) {
            RunningAppliances.write(live, MIB);
            String newToken = "rotated-admin-token-9876543210";
            pair.writeCpeConfig(newToken, "backup");
            HttpResponse<String> reload = pair.post(pair.cpeAdmin, "/api/v1/reload", "", TOKEN);
            assertEquals(200, reload.statusCode(), reload.body());
            assertEquals("{\"applied\":[\"uplinks[*].role\",\"admin.token\"],\"needsRestart\":[]}", reload.body());
            assertEquals(401, pair.get(pair.cpeAdmin, "/metrics", TOKEN).statusCode());
            assertEquals(200, pair.get(pair.cpeAdmin, "/metrics", newToken).statusCode());
            awaitTrue(() -> endpoints().matches("(?s).*198\\.18\\.0\\.2 id \\d+ subflow backup.*"), endpoints());

            pair.writeCpeConfig("short", "backup");
            HttpResponse<String> invalid = pair.post(pair.cpeAdmin, "/api/v1/reload", "", newToken);
            assertEquals(400, invalid.statusCode(), invalid.body());
            assertTrue(invalid.body().contains("admin.token"), invalid.body());
            assertEquals(200, pair.get(pair.cpeAdmin, "/metrics", newToken).statusCode(), "nothing applied");

            RunningAppliances.write(live, MIB);
            live.shutdownOutput();
            assertEquals(-1, live.getInputStream().read());
        }
        awaitTrue(() -> pair.sinkBytes() == sinkBefore + 2 * MIB, () -> "the destination got "
                + (pair.sinkBytes() - sinkBefore) + " bytes from the live connection, not " + 2 * MIB);
    }

    private HttpResponse<String> action(String uplink, String action) throws Exception {
        return pair.post(pair.cpeAdmin, "/api/v1/uplinks/" + uplink + "/" + action, "", TOKEN);
    }

    private double joinFailures(String reason) {
        try {
            return value(samples(pair.scrapeCpe()), "hybridproxy_uplink_join_failures_total", "uplink=\"lte\"",
                    "reason=\"" + reason + "\"");
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private String endpoints() {
        try {
            return pair.ns.ip("mptcp", "endpoint", "show");
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private String nft() {
        try {
            return pair.ns.exec("nft", "list", "ruleset");
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private void awaitTrue(BooleanSupplier condition, String message) throws InterruptedException {
        awaitTrue(condition, () -> message);
    }

    private void awaitTrue(BooleanSupplier condition, java.util.function.Supplier<String> message)
            throws InterruptedException {
        long deadline = System.nanoTime() + 15_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(message.get() + "\n" + pair.logs());
            }
            Thread.sleep(100);
        }
    }
}
