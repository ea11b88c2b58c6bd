package net.hybridproxy.admin;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The admin server over real HTTP on loopback: routing, status codes, token, body validation and bounds. The
 * backend here is a small in-test data source; the proxy module tests the same server wired to a running
 * appliance.
 */
class AdminServerTest {
    private static final String TOKEN = "0123456789abcdef-test";
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final List<String> actions = new ArrayList<>();
    private final AtomicBoolean ready = new AtomicBoolean(true);
    private AdminServer server;

    private AdminServer start(String token) throws Exception {
        return start(token, List.of());
    }

    private AdminServer start(String token, List<String> allowedHosts) throws Exception {
        registry.counter("hybridproxy.test.events").increment(3);
        AdminBackend backend = new AdminBackend(registry,
                () -> new ApplianceStatus("cpe", "kernel", "epoll", 5, 1_000, List.of(
                        new ApplianceStatus.UplinkStatusView("dsl", "dsl0", "198.18.10.1", "primary", "active", true, "up",
                                1, 0.012, 10, 1000, 2000, 0, 1, 0, 0, 0, 0)),
                        List.of(), 0, new ApplianceStatus.Connections(1, 10, 2, 0, 0, 0, 0, 5, 6), List.of()),
                () -> new Readiness(List.of(new Readiness.Condition("uplinks", ready.get(), "dsl usable"))),
                (uplink, action, reason) -> {
                    if (!uplink.equals("dsl")) {
                        throw AdminException.notFound("no uplink named " + uplink);
                    }
                    actions.add(uplink + " " + action + " " + reason);
                    return "done";
                },
                () -> new ConfigReload.ReloadResult(List.of("admin.token"), List.of("relay.idle-timeout")));
        server = new AdminServer(new AdminSettings(new InetSocketAddress("127.0.0.1", 0), token, allowedHosts),
                backend).start();
        return server;
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private HttpResponse<String> get(String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri(path)).GET();
        if (headers.length > 0) {
            b.headers(headers);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** A POST as the documented command-line use sends it: with the header a web page cannot send. */
    private HttpResponse<String> post(String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri(path)).POST(HttpRequest.BodyPublishers.ofString(body))
                .header("X-Hybridproxy-Admin", "1");
        if (headers.length > 0) {
            b.headers(headers);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** A request written by hand, so that Host and Origin are exactly what a browser would send; the status line. */
    private String raw(String method, String path, String... headerLines) throws Exception {
        try (java.net.Socket s = new java.net.Socket("127.0.0.1", server.address().getPort())) {
            StringBuilder request = new StringBuilder(method + " " + path + " HTTP/1.1\r\n");
            for (String line : headerLines) {
                request.append(line).append("\r\n");
            }
            request.append("Content-Length: 0\r\nConnection: close\r\n\r\n");
            s.getOutputStream().write(request.toString().getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            String answer = new String(s.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            return answer.substring(0, answer.indexOf("\r\n"));
        }
    }

    // ---- browsers: CSRF and DNS rebinding against the default loopback server without a token ----

    @Test
    void aCrossSiteFormPostCannotActOnUplinks() throws Exception {
        start("");
        String host = "Host: 127.0.0.1:" + server.address().getPort();
        // What <form method=post action=http://127.0.0.1:9190/api/v1/uplinks/dsl/drain> sends from another site.
        assertEquals("HTTP/1.1 403 Forbidden", raw("POST", "/api/v1/uplinks/dsl/drain", host,
                "Origin: http://evil.example", "Content-Type: application/x-www-form-urlencoded"));
        // The same without Origin (older browsers, some redirects): still no non-simple header, still refused.
        assertEquals("HTTP/1.1 403 Forbidden", raw("POST", "/api/v1/uplinks/dsl/drain", host,
                "Content-Type: text/plain"));
        assertEquals("HTTP/1.1 403 Forbidden", raw("POST", "/api/v1/reload", host));
        assertTrue(actions.isEmpty(), "a cross-site request must not act: " + actions);
        // A client that sends the header (curl, scripts) acts.
        assertEquals("HTTP/1.1 200 OK", raw("POST", "/api/v1/uplinks/dsl/drain", host, "X-Hybridproxy-Admin: 1"));
        assertEquals(1, actions.size());
    }

    @Test
    void dnsRebindingCannotReadTheStatus() throws Exception {
        start("");
        int port = server.address().getPort();
        // evil.example re-resolved to 127.0.0.1: the browser sends the attacker's name as the Host.
        assertEquals("HTTP/1.1 403 Forbidden", raw("GET", "/api/v1/status", "Host: evil.example:" + port));
        assertEquals("HTTP/1.1 403 Forbidden", raw("GET", "/metrics", "Host: evil.example"));
        assertEquals("HTTP/1.1 403 Forbidden", raw("GET", "/api/v1/status", "Host: 127.0.0.1.evil.example"));
        assertEquals("HTTP/1.1 200 OK", raw("GET", "/api/v1/status", "Host: 127.0.0.1:" + port));
        assertEquals("HTTP/1.1 200 OK", raw("GET", "/api/v1/status", "Host: [::1]:" + port));
        assertEquals("HTTP/1.1 200 OK", raw("GET", "/api/v1/status", "Host: localhost:" + port));
        // The probes carry no data and are asked for by orchestrators under any name.
        assertEquals("HTTP/1.1 200 OK", raw("GET", "/health/live", "Host: evil.example"));
    }

    @Test
    void theStatusPageItselfIsSameOriginAndWorks() throws Exception {
        start("");
        String origin = "127.0.0.1:" + server.address().getPort();
        assertEquals("HTTP/1.1 200 OK", raw("GET", "/api/v1/status", "Host: " + origin, "Origin: http://" + origin));
        assertEquals("HTTP/1.1 403 Forbidden", raw("GET", "/api/v1/status", "Host: " + origin,
                "Origin: http://localhost:1"));
    }

    @Test
    void anOperatorMayNameTheHostsTheAdminServerAnswersTo() throws Exception {
        start("", List.of("cpe-17.example.net"));
        assertEquals("HTTP/1.1 200 OK", raw("GET", "/api/v1/status", "Host: cpe-17.example.net:9190"));
        assertEquals("HTTP/1.1 403 Forbidden", raw("GET", "/api/v1/status", "Host: other.example.net"));
    }

    private URI uri(String path) {
        return URI.create("http://127.0.0.1:" + server.address().getPort() + path);
    }

    @Test
    void metricsAreServedInPrometheusTextFormat() throws Exception {
        start("");
        HttpResponse<String> r = get("/metrics");
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("text/plain; version=0.0.4"));
        assertTrue(r.body().contains("hybridproxy_test_events_total 3.0"), r.body());
    }

    @Test
    void unknownPathIs404AndWrongMethodIs405WithAllow() throws Exception {
        start("");
        HttpResponse<String> missing = get("/nope");
        assertEquals(404, missing.statusCode());
        assertEquals("{\"error\":\"no such path: /nope\"}", missing.body());
        HttpResponse<String> wrong = post("/metrics", "");
        assertEquals(405, wrong.statusCode());
        assertEquals("GET", wrong.headers().firstValue("allow").orElseThrow());
        HttpResponse<String> getOnPost = get("/api/v1/reload");
        assertEquals(405, getOnPost.statusCode());
        assertEquals("POST", getOnPost.headers().firstValue("allow").orElseThrow());
    }

    @Test
    void aTokenIsRequiredExceptForProbesAndThePage() throws Exception {
        start(TOKEN);
        assertEquals(401, get("/metrics").statusCode());
        HttpResponse<String> wrong = get("/api/v1/status", "Authorization", "Bearer not-the-token-at-all");
        assertEquals(401, wrong.statusCode());
        assertEquals("Bearer realm=\"hybridproxy-admin\"", wrong.headers().firstValue("www-authenticate")
                .orElseThrow());
        assertEquals(401, post("/api/v1/uplinks/dsl/drain", "").statusCode());
        assertTrue(actions.isEmpty(), "an unauthorised request must not act");
        assertEquals(200, get("/metrics", "Authorization", "Bearer " + TOKEN).statusCode());
        assertEquals(200, get("/health/live").statusCode());
        assertEquals(200, get("/health/ready").statusCode());
        assertEquals(200, get("/").statusCode());
    }

    @Test
    void readinessIs503WithTheFailingCheckExplained() throws Exception {
        start("");
        ready.set(false);
        HttpResponse<String> r = get("/health/ready");
        assertEquals(503, r.statusCode());
        assertEquals("{\"ready\":false,\"checks\":[{\"name\":\"uplinks\",\"ok\":false,\"detail\":\"dsl usable\"}]}",
                r.body());
    }

    @Test
    void statusIsJsonWithNullForMissingFigures() throws Exception {
        start("");
        HttpResponse<String> r = get("/api/v1/status");
        assertEquals(200, r.statusCode());
        assertEquals("application/json", r.headers().firstValue("content-type").orElseThrow());
        assertTrue(r.body().startsWith("{\"role\":\"cpe\",\"engine\":\"kernel\",\"transport\":\"epoll\""), r.body());
        assertTrue(r.body().contains("\"srttSeconds\":0.012"), r.body());
        // The server samples its history from the start; two samples make the first interval.
        assertTrue(r.body().contains("\"history\":{\"intervalSeconds\":5,\"uplinks\":["), r.body());
        assertTrue(r.body().contains("\"mptcpFallbacks\":0,\"mptcpImpaired\":false,\"mptcpDetail\":\"\""),
                r.body());
    }

    @Test
    void uplinkActionsValidateTheirBody() throws Exception {
        start("");
        HttpResponse<String> ok = post("/api/v1/uplinks/dsl/drain", "{\"reason\":\"line maintenance\"}");
        assertEquals(200, ok.statusCode(), ok.body());
        assertEquals("{\"uplink\":\"dsl\",\"action\":\"drain\",\"result\":\"done\"}", ok.body());
        assertEquals(List.of("dsl DRAIN line maintenance"), actions);

        assertEquals(200, post("/api/v1/uplinks/dsl/backup", "").statusCode());
        HttpResponse<String> badJson = post("/api/v1/uplinks/dsl/disable", "{\"reason\": ");
        assertEquals(400, badJson.statusCode());
        assertTrue(badJson.body().contains("malformed JSON"), badJson.body());
        HttpResponse<String> unknownField = post("/api/v1/uplinks/dsl/disable", "{\"force\":true}");
        assertEquals(400, unknownField.statusCode());
        assertTrue(unknownField.body().contains("unknown field \\\"force\\\""), unknownField.body());
        assertEquals(400, post("/api/v1/uplinks/dsl/disable", "[1,2]").statusCode());
        assertEquals(400, post("/api/v1/uplinks/dsl/disable", "{\"reason\":5}").statusCode());
        HttpResponse<String> unknownAction = post("/api/v1/uplinks/dsl/explode", "");
        assertEquals(404, unknownAction.statusCode());
        assertTrue(unknownAction.body().contains("drain, disable, enable or backup"), unknownAction.body());
        HttpResponse<String> unknownUplink = post("/api/v1/uplinks/wifi/enable", "");
        assertEquals(404, unknownUplink.statusCode());
        assertEquals("{\"error\":\"no uplink named wifi\"}", unknownUplink.body());
        assertEquals(2, actions.size());
    }

    @Test
    void reloadAnswersWhatWasAppliedAndWhatNeedsARestart() throws Exception {
        start("");
        HttpResponse<String> r = post("/api/v1/reload", "");
        assertEquals(200, r.statusCode());
        assertEquals("{\"applied\":[\"admin.token\"],\"needsRestart\":[\"relay.idle-timeout\"]}", r.body());
        assertEquals(400, post("/api/v1/reload", "{\"dryRun\":true}").statusCode());
    }

    @Test
    void anOversizedBodyIsRefusedWithoutReachingTheBackend() throws Exception {
        start("");
        String huge = "{\"reason\":\"" + "x".repeat(AdminServer.MAX_REQUEST_BYTES) + "\"}";
        HttpResponse<String> r = post("/api/v1/uplinks/dsl/drain", huge);
        assertEquals(413, r.statusCode());
        assertTrue(actions.isEmpty());
    }

    @Test
    void garbageOnTheSocketGetsA400AndNoStackTrace() throws Exception {
        start("");
        try (Socket s = new Socket("127.0.0.1", server.address().getPort())) {
            OutputStream out = s.getOutputStream();
            out.write("THIS IS NOT HTTP\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            String answer = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(answer.startsWith("HTTP/1.1 400"), answer);
            assertFalse(answer.contains("Exception"), answer);
        }
    }

    @Test
    void theStatusPageLoadsNothingFromElsewhere() throws Exception {
        start("");
        HttpResponse<String> page = get("/");
        assertEquals(200, page.statusCode());
        assertTrue(page.headers().firstValue("content-security-policy").orElseThrow().startsWith("default-src 'none'"));
        String html = page.body();
        assertFalse(html.matches("(?s).*(src|href)\\s*=\\s*\"(https?:)?//.*"), "external reference in the page");
        assertFalse(html.contains("@import"), "external style in the page");
        assertTrue(html.contains("fetch(\"/api/v1/status\""));
    }

    @Test
    void aNonLoopbackBindNeedsAToken() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new AdminSettings(new InetSocketAddress("0.0.0.0", 9190), ""));
        assertTrue(e.getMessage().contains("not a loopback address"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> new AdminSettings(new InetSocketAddress("0.0.0.0", 9190), "short"));
        new AdminSettings(new InetSocketAddress("0.0.0.0", 9190), TOKEN);
        new AdminSettings(new InetSocketAddress("::1", 9190), "");
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrder() throws Exception {
        start("");
        try (Socket s = new Socket("127.0.0.1", server.address().getPort())) {
            String two = "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /health/live HTTP/1.1\r\nHost: x\r\n"
                    + "Connection: close\r\n\r\n";
            s.getOutputStream().write(two.getBytes(StandardCharsets.US_ASCII));
            String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            int status = answer.indexOf("\"role\":\"cpe\"");
            int live = answer.indexOf("{\"status\":\"live\"}");
            assertTrue(status > 0 && live > status, answer);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}
