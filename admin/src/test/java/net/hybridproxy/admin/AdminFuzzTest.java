package net.hybridproxy.admin;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpObject;
import io.netty.util.ReferenceCountUtil;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Coverage-minded fuzzing of everything the admin server parses from the network, with structured jqwik
 * generators: raw bytes and near-HTTP requests through the real pipeline (Netty's bounded HTTP decoder and
 * {@link AdminHandler}), requests through {@link AdminRoutes}, and JSON bodies through {@link AdminJson}.
 * Invariants: nothing throws out of the server, every request gets a well-formed answer with a known status,
 * and no uplink action runs for a request that a browser could have sent cross-site.
 *
 * <p>CI runs jqwik's default 1000 tries per property; {@code -Djqwik.tries.default=1000000} runs a million
 * (docs/operations.md).
 */
class AdminFuzzTest {
    private static final Set<Integer> STATUSES = Set.of(200, 400, 401, 403, 404, 405, 409, 413, 431, 500, 503);
    private final List<String> actions = new ArrayList<>();
    private final AdminRoutes routes = new AdminRoutes(new AdminBackend(
            new PrometheusMeterRegistry(PrometheusConfig.DEFAULT),
            () -> new ApplianceStatus("cpe", "kernel", "epoll", 1, 10, List.of(), List.of(), 0,
                    new ApplianceStatus.Connections(0, 10, 0, 0, 0, 0, 0, 0, 0), List.of()),
            () -> new Readiness(List.of(new Readiness.Condition("ok", true, "fine"))),
            (uplink, action, reason) -> {
                if (!uplink.equals("dsl")) {
                    throw AdminException.notFound("no uplink named " + uplink);
                }
                actions.add(uplink + " " + action);
                return "done";
            },
            () -> new ConfigReload.ReloadResult(List.of(), List.of())),
            () -> new AdminSettings(new InetSocketAddress("127.0.0.1", 9190), ""), "<html></html>",
            new UplinkHistory());

    // ---- JSON ----

    @Property
    void jsonReaderAcceptsOrRefusesAnyText(@ForAll("jsonish") String text) {
        try {
            AdminJson.parse(text);
        } catch (AdminJson.MalformedJsonException expected) {
            // refused with a message: the only allowed failure
        }
    }

    @Provide
    Arbitrary<String> jsonish() {
        Arbitrary<String> atoms = Arbitraries.of("{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\u00e9", "0",
                "-1", "1e999", "1.5e-3", "true", "false", "null", "nul", " ", "\n", "\"reason\"", "\"x\"", "\u0000",
                "\ud800", "é", "9".repeat(400));
        return Arbitraries.oneOf(atoms.list().ofMaxSize(60).map(l -> String.join("", l)),
                Arbitraries.strings().ofMaxLength(200), Arbitraries.strings().withChars("{}[]\",:0123456789truefalsn\\ ")
                        .ofMaxLength(200));
    }

    // ---- routes ----

    @Property
    void everyRouteAnswersWithAKnownStatusAndBrowsersCannotAct(@ForAll("requests") AdminRoutes.Request request) {
        int before = actions.size();
        AdminRoutes.Response response = routes.route(request).action().get();
        assertTrue(STATUSES.contains(response.status()), () -> response.status() + " for " + request);
        if (actions.size() > before) {
            assertEquals("POST", request.method());
            assertTrue(request.csrfHeader() || request.authorization() != null, () -> "acted on " + request);
            assertTrue(request.origin() == null || request.origin().equalsIgnoreCase("http://" + request.host()),
                    () -> "cross-origin request acted: " + request);
        }
    }

    @Provide
    Arbitrary<AdminRoutes.Request> requests() {
        Arbitrary<String> methods = Arbitraries.of("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "get", "");
        Arbitrary<String> paths = Arbitraries.oneOf(
                Arbitraries.of("/", "/metrics", "/health/live", "/health/ready", "/api/v1/status", "/api/v1/reload",
                        "/api/v1/uplinks/dsl/drain", "/api/v1/uplinks/dsl/explode", "/api/v1/uplinks/wifi/enable",
                        "/api/v1/uplinks//drain", "/api/v1/uplinks/dsl/drain/x", "//metrics", "/%2e%2e/metrics"),
                Arbitraries.strings().ofMaxLength(300).map(s -> "/" + s));
        Arbitrary<String> hosts = Arbitraries.oneOf(Arbitraries.of("127.0.0.1:9190", "localhost", "[::1]:9190",
                "evil.example", "127.0.0.1.evil.example", "[::1", "::1", "", "1.2.3.4:x", "0x7f.1"),
                Arbitraries.strings().ofMaxLength(40)).injectNull(0.1);
        Arbitrary<String> origins = Arbitraries.of("http://127.0.0.1:9190", "http://evil.example", "null",
                "https://127.0.0.1:9190", "http://", "").injectNull(0.5);
        Arbitrary<String> authorizations = Arbitraries.of("Bearer x", "Basic y", "", "Bearer ").injectNull(0.6);
        Arbitrary<String> bodies = Arbitraries.oneOf(jsonish(), Arbitraries.of("", "{}", "{\"reason\":\"r\"}"));
        return Combinators.combine(methods, paths, authorizations, bodies, hosts, origins, Arbitraries.of(true, false))
                .as(AdminRoutes.Request::new);
    }

    // ---- HTTP on the wire ----

    @Property
    void anyBytesOnTheWireGetWellFormedAnswersOrAClose(@ForAll("wire") byte[] bytes) {
        EmbeddedChannel channel = new EmbeddedChannel();
        AdminServer.addHandlers(channel.pipeline(), routes, new SameThread());
        try {
            channel.writeInbound(Unpooled.wrappedBuffer(bytes));
            channel.runPendingTasks();
            channel.checkException();
            Object out;
            while ((out = channel.readOutbound()) != null) {
                try {
                    if (out instanceof FullHttpResponse r) {
                        assertTrue(STATUSES.contains(r.status().code()), r.status().toString());
                    } else if (!(out instanceof HttpObject) && !(out instanceof ByteBuf)) {
                        fail("unexpected outbound " + out.getClass());
                    }
                } finally {
                    ReferenceCountUtil.release(out);
                }
            }
        } finally {
            channel.finishAndReleaseAll();
        }
    }

    @Provide
    Arbitrary<byte[]> wire() {
        Arbitrary<String> lines = Arbitraries.of("GET / HTTP/1.1", "POST /api/v1/uplinks/dsl/drain HTTP/1.1",
                "GET /metrics HTTP/1.0", "Host: 127.0.0.1", "Host: evil.example", "Origin: http://evil.example",
                "X-Hybridproxy-Admin: 1", "Content-Length: 5", "Content-Length: -1", "Content-Length: 99999999",
                "Transfer-Encoding: chunked", "Connection: close", "0", "5", "{\"reason\":\"x\"}", "", " ",
                "Expect: 100-continue", "GET " + "/a".repeat(3000) + " HTTP/1.1", "X: " + "y".repeat(9000));
        Arbitrary<byte[]> structured = lines.list().ofMaxSize(20)
                .map(l -> (String.join("\r\n", l) + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
        return Arbitraries.oneOf(structured, Arbitraries.bytes().array(byte[].class).ofMaxSize(2000));
    }

    @Property(tries = 200)
    void oversizedInputIsRefusedNotBuffered(@ForAll @Size(min = 70_000, max = 70_100) byte[] body) {
        anyBytesOnTheWireGetWellFormedAnswersOrAClose(
                ("POST /api/v1/reload HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Hybridproxy-Admin: 1\r\nContent-Length: "
                        + body.length + "\r\n\r\n" + new String(body, StandardCharsets.ISO_8859_1))
                        .getBytes(StandardCharsets.ISO_8859_1));
    }

    /** Runs the handler's blocking work on the channel's own thread, as EmbeddedChannel needs. */
    private static final class SameThread extends AbstractExecutorService {
        @Override
        public void execute(Runnable command) {
            command.run();
        }

        @Override
        public void shutdown() {
        }

        @Override
        public List<Runnable> shutdownNow() {
            return List.of();
        }

        @Override
        public boolean isShutdown() {
            return false;
        }

        @Override
        public boolean isTerminated() {
            return false;
        }

        @Override
        public boolean awaitTermination(long timeout, TimeUnit unit) {
            return true;
        }
    }
}
