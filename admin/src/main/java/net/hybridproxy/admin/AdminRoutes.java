package net.hybridproxy.admin;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The admin API: which path and method do what, who may ask, and the exact answer, independent of Netty. Every
 * outcome is a {@link Response} with a JSON (or page, or metrics) body; nothing here lets an exception or a stack
 * trace reach the client.
 *
 * <pre>
 * GET  /                                   status page (no token: it carries no data, its script asks for it)
 * GET  /health/live                        200 while the process serves requests (no token)
 * GET  /health/ready                       200 ready, 503 not ready; JSON lists each check (no token)
 * GET  /metrics                            Prometheus text format 0.0.4
 * GET  /api/v1/status                      JSON status
 * POST /api/v1/uplinks/{name}/{action}     action = drain | disable | enable | backup
 * POST /api/v1/reload                      re-read the configuration file
 * </pre>
 *
 * Unknown path: 404. Known path, wrong method: 405 with {@code Allow}. Missing or wrong token: 401. A POST body
 * that is not a JSON object of known fields: 400. Busy work queue: 503.
 *
 * <p>Browsers: a web page the operator happens to visit must neither act nor read. Everything but the health
 * probes is refused (403) when it carries an {@code Origin} other than the server's own (a cross-site request), and,
 * without a token, when its {@code Host} is a name other than {@code localhost} or one of
 * {@code admin.allowed-hosts} (DNS rebinding: a name the attacker controls, resolved to 127.0.0.1). Every POST must
 * carry a header a page cannot send without a CORS preflight, which this server never grants: the bearer token's
 * {@code Authorization}, or {@value #CSRF_HEADER} (any value) when no token is set. A form or a simple
 * {@code fetch} therefore cannot drain an uplink.
 */
final class AdminRoutes {
    private static final System.Logger LOG = System.getLogger("hybridproxy.admin");
    private static final Pattern UPLINK_ACTION = Pattern.compile("/api/v1/uplinks/([^/]+)/([^/]+)");
    private static final int MAX_REASON_CHARS = 200;
    static final String JSON = "application/json";
    /** What {@code PrometheusMeterRegistry.scrape()} renders: the text exposition format 0.0.4. */
    static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";

    /** The header that marks a POST as not sent by a web page (a "non-simple" header needs a CORS preflight). */
    static final String CSRF_HEADER = "X-Hybridproxy-Admin";

    /**
     * @param host         the Host header, null when absent
     * @param origin       the Origin header, null when absent
     * @param csrfHeader   whether {@link #CSRF_HEADER} was sent
     */
    record Request(String method, String path, String authorization, String body, String host, String origin,
                   boolean csrfHeader) {
        /** A request from a non-browser client on loopback (tests). */
        Request(String method, String path, String authorization, String body) {
            this(method, path, authorization, body, "127.0.0.1", null, true);
        }
    }

    record Response(int status, String contentType, String body, Map<String, String> headers) {
        static Response json(int status, String body) {
            return new Response(status, JSON, body, Map.of());
        }

        static Response error(int status, String message) {
            return json(status, StatusJson.message("error", message));
        }
    }

    /** What to do for a request: answer at once, or run {@code action} on the work thread ({@code blocking}). */
    record RoutedRequest(boolean blocking, Supplier<Response> action) {
        static RoutedRequest now(Response response) {
            return new RoutedRequest(false, () -> response);
        }
    }

    private record Route(String method, String path, boolean needsToken, boolean blocking, Handler handler) {
        boolean matchesPath(String requestPath) {
            return path.equals(requestPath)
                    || path.equals("/api/v1/uplinks/*/*") && UPLINK_ACTION.matcher(requestPath).matches();
        }
    }

    @FunctionalInterface
    private interface Handler {
        Response handle(Request request) throws AdminException;
    }

    private final AdminBackend backend;
    private final Supplier<AdminSettings> settings;
    private final List<Route> routes = new ArrayList<>();

    AdminRoutes(AdminBackend backend, Supplier<AdminSettings> settings, String statusPage, UplinkHistory history) {
        this.backend = backend;
        this.settings = settings;
        routes.add(new Route("GET", "/", false, false, r -> new Response(200, "text/html; charset=utf-8",
                statusPage, Map.of("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; "
                        + "style-src 'unsafe-inline'; connect-src 'self'; img-src data:"))));
        routes.add(new Route("GET", "/health/live", false, false,
                r -> Response.json(200, StatusJson.message("status", "live"))));
        routes.add(new Route("GET", "/health/ready", false, true, r -> {
            Readiness readiness = backend.readiness().check();
            return Response.json(readiness.ready() ? 200 : 503, StatusJson.readiness(readiness));
        }));
        routes.add(new Route("GET", "/metrics", true, true,
                r -> new Response(200, PROMETHEUS_TEXT, backend.registry().scrape(), Map.of())));
        routes.add(new Route("GET", "/api/v1/status", true, true,
                r -> Response.json(200, StatusJson.status(backend.status().status(), history.series()))));
        routes.add(new Route("POST", "/api/v1/uplinks/*/*", true, true, this::uplinkAction));
        routes.add(new Route("POST", "/api/v1/reload", true, true, r -> {
            requireEmptyObject(r.body(), Set.of());
            ConfigReload.ReloadResult result = backend.reload().reload();
            LOG.log(System.Logger.Level.INFO, "configuration reloaded through the admin API: applied "
                    + result.applied() + ", needs restart " + result.needsRestart());
            return Response.json(200, StatusJson.reload(result));
        }));
    }

    RoutedRequest route(Request request) {
        String path = request.path();
        List<Route> onPath = routes.stream().filter(r -> r.matchesPath(path)).toList();
        if (onPath.isEmpty()) {
            return RoutedRequest.now(Response.error(404, "no such path: " + truncate(path)));
        }
        Route route = onPath.stream().filter(r -> r.method().equals(request.method())).findFirst().orElse(null);
        if (route == null) {
            Set<String> allowed = new LinkedHashSet<>();
            onPath.forEach(r -> allowed.add(r.method()));
            String allow = String.join(", ", allowed);
            return RoutedRequest.now(new Response(405, JSON, StatusJson.message("error", request.method() + " is not "
                    + "allowed on " + truncate(path) + "; use " + allow), Map.of("Allow", allow)));
        }
        if (!path.startsWith("/health/")) {
            String refusal = browserRefusal(request);
            if (refusal != null) {
                return RoutedRequest.now(Response.error(403, refusal));
            }
        }
        if (route.needsToken() && !authorized(request.authorization())) {
            return RoutedRequest.now(new Response(401, JSON, StatusJson.message("error",
                    "missing or wrong bearer token (send Authorization: Bearer TOKEN)"),
                    Map.of("WWW-Authenticate", "Bearer realm=\"hybridproxy-admin\"")));
        }
        return new RoutedRequest(route.blocking(), () -> run(route, request));
    }

    private Response run(Route route, Request request) {
        try {
            return route.handler().handle(request);
        } catch (AdminException e) {
            return Response.error(e.status(), e.getMessage());
        } catch (RuntimeException e) {
            // A bug or an unexpected host failure: the operator gets a clear line, the log gets the trace.
            LOG.log(System.Logger.Level.ERROR, "admin request " + request.method() + " " + request.path()
                    + " failed", e);
            return Response.error(500, "internal error while handling " + request.method() + " " + request.path()
                    + ": " + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()));
        }
    }

    private Response uplinkAction(Request request) throws AdminException {
        Matcher m = UPLINK_ACTION.matcher(request.path());
        if (!m.matches()) {
            throw AdminException.notFound("no such path: " + truncate(request.path()));
        }
        String uplink = m.group(1);
        UplinkAction action = UplinkAction.fromPathSegment(m.group(2)).orElseThrow(() -> AdminException.notFound(
                "unknown uplink action '" + truncate(m.group(2)) + "' (drain, disable, enable or backup)"));
        Map<String, Object> body = requireEmptyObject(request.body(), Set.of("reason"));
        Object reasonValue = body.getOrDefault("reason", "");
        if (!(reasonValue instanceof String reason) || reason.length() > MAX_REASON_CHARS) {
            throw AdminException.badRequest("\"reason\" must be a string of at most " + MAX_REASON_CHARS
                    + " characters");
        }
        String done = backend.uplinks().apply(uplink, action, reason);
        LOG.log(System.Logger.Level.INFO, "uplink " + uplink + ": " + action.pathSegment() + " through the admin API"
                + (reason.isEmpty() ? "" : " (" + reason + ")") + ": " + done);
        return Response.json(200, StatusJson.uplinkAction(uplink, action, done));
    }

    /**
     * An empty body is an empty object. Anything else must be a JSON object whose members are all in
     * {@code allowed}: a misspelt field is an error, not silently ignored.
     */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> requireEmptyObject(String body, Set<String> allowed) throws AdminException {
        if (body.isBlank()) {
            return Map.of();
        }
        Object parsed;
        try {
            parsed = AdminJson.parse(body);
        } catch (AdminJson.MalformedJsonException e) {
            throw AdminException.badRequest(e.getMessage());
        }
        if (!(parsed instanceof Map<?, ?> map)) {
            throw AdminException.badRequest("the request body must be a JSON object");
        }
        for (Object key : map.keySet()) {
            if (!allowed.contains(key)) {
                throw AdminException.badRequest("unknown field \"" + truncate((String) key) + "\""
                        + (allowed.isEmpty() ? " (this request takes none)" : " (allowed: " + allowed + ")"));
            }
        }
        return (Map<String, Object>) map;
    }

    private boolean authorized(String authorization) {
        String token = settings.get().token();
        if (token.isEmpty()) {
            return true;
        }
        if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return false;
        }
        byte[] offered = authorization.substring(7).trim().getBytes(StandardCharsets.UTF_8);
        // Constant-time: the comparison must not tell an attacker how many leading bytes were right.
        return MessageDigest.isEqual(offered, token.getBytes(StandardCharsets.UTF_8));
    }

    /** Null when a browser could not have been made to send {@code request} by another site, else why. */
    private String browserRefusal(Request request) {
        String host = request.host();
        if (host == null || host.isBlank()) {
            return "a Host header is required";
        }
        if (request.origin() != null && !sameOrigin(request.origin(), host)) {
            return "cross-origin request refused (Origin " + truncate(request.origin()) + ", Host " + truncate(host)
                    + ")";
        }
        AdminSettings current = settings.get();
        if (current.token().isEmpty() && !trustedHost(hostName(host), current.allowedHosts())) {
            return "Host " + truncate(host) + " is not an address, localhost or one of admin.allowed-hosts "
                    + "(refused against DNS rebinding)";
        }
        if (request.method().equals("POST") && request.authorization() == null && !request.csrfHeader()) {
            return "a POST needs the Authorization header or " + CSRF_HEADER + ": 1 (refused against cross-site "
                    + "requests)";
        }
        return null;
    }

    private static boolean sameOrigin(String origin, String host) {
        String prefix = "http://";
        return origin.regionMatches(true, 0, prefix, 0, prefix.length())
                && origin.substring(prefix.length()).equalsIgnoreCase(host.strip());
    }

    /** The name or address in a Host header, without its port and brackets. */
    static String hostName(String host) {
        String h = host.strip();
        if (h.startsWith("[")) {
            int end = h.indexOf(']');
            return end < 0 ? h : h.substring(1, end);
        }
        int colon = h.indexOf(':');
        return colon >= 0 && colon == h.lastIndexOf(':') ? h.substring(0, colon) : h;
    }

    private static final Pattern DOTTED_QUAD = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");

    static boolean trustedHost(String name, List<String> allowedHosts) {
        if (name.equalsIgnoreCase("localhost") || allowedHosts.stream().anyMatch(name::equalsIgnoreCase)) {
            return true;
        }
        if (name.indexOf(':') >= 0 || DOTTED_QUAD.matcher(name).matches()) {
            try {
                java.net.InetAddress.ofLiteral(name); // a literal, never a DNS lookup
                return true;
            } catch (IllegalArgumentException e) {
                return false;
            }
        }
        return false;
    }

    /** Request text echoed in answers is cut short, so a huge path cannot make a huge error. */
    private static String truncate(String s) {
        return s.length() <= 100 ? s : s.substring(0, 100) + "...";
    }
}
