package net.hybridproxy.proxy.ops;

import net.hybridproxy.proxy.testing.NamespaceForwarder;
import net.hybridproxy.proxy.testing.NetNs;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A concentrator and a cpe running as separate processes ({@code hybridproxy run --config FILE}, exactly as an
 * operator runs them) in a private network namespace, with a traffic sink as the destination. The namespace has
 * 198.18.0.1 ("dsl"), 198.18.0.2 ("lte") and 198.18.0.3 (the destination) on its loopback interface; the cpe
 * manages its MPTCP endpoints there, so each connection gets a subflow per uplink. Both admin servers listen on
 * the namespace's 127.0.0.1 and are reached through {@link NamespaceForwarder}s.
 */
final class RunningAppliances implements AutoCloseable {
    static final String DSL = "198.18.0.1";
    static final String LTE = "198.18.0.2";
    static final String TARGET = "198.18.0.3";
    static final int CONCENTRATOR_PORT = 5100;
    static final int LISTENER_PORT = 12345;
    static final int TARGET_PORT = 7000;
    static final int CPE_ADMIN_PORT = 9190;
    static final int CONCENTRATOR_ADMIN_PORT = 9191;
    static final String TOKEN = "test-admin-token-0123456789";

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private final List<Process> processes = new ArrayList<>();
    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final AtomicLong sinkBytes = new AtomicLong();
    final NetNs ns;
    final Path dir;
    final Path cpeConfig;
    NamespaceForwarder cpeAdmin;
    NamespaceForwarder concentratorAdmin;

    /** Null when these tests can run here, else why not (for a JUnit assumption). */
    static String skipReason() {
        String reason = NetNs.skipReason();
        if (reason != null) {
            return reason;
        }
        if (!Files.isExecutable(Path.of("/usr/sbin/nft")) && !Files.isExecutable(Path.of("/sbin/nft"))) {
            return "needs nft (Debian package nftables) for the drain action";
        }
        return null;
    }

    private RunningAppliances(NetNs ns, Path dir) {
        this.ns = ns;
        this.dir = dir;
        this.cpeConfig = dir.resolve("cpe.conf");
    }

    static RunningAppliances start(String tag) throws Exception {
        NetNs ns = NetNs.create(tag);
        RunningAppliances pair = new RunningAppliances(ns, Files.createTempDirectory("hybridproxy-" + tag));
        try {
            pair.startAll();
            return pair;
        } catch (Exception | Error e) {
            pair.close();
            throw e;
        }
    }

    private void startAll() throws Exception {
        for (String a : List.of(DSL, LTE, TARGET)) {
            ns.ip("addr", "add", a + "/32", "dev", "lo");
        }
        ServerSocket sink = ns.call(() -> new ServerSocket(TARGET_PORT, 200, InetAddress.getByName(TARGET)));
        closeables.add(sink);
        Thread.ofPlatform().daemon().name("sink").start(() -> acceptLoop(sink));
        Path concentratorConfig = Files.writeString(dir.resolve("concentrator.conf"), """
                hybridproxy {
                  role = concentrator
                  path-manager.manage-endpoints = false
                  admin { bind = "127.0.0.1:%d", sample-interval = 500ms }
                  concentrator {
                    listen = ["%s:%d"]
                    authorized-cidrs = ["198.18.0.0/15"]
                    destinations.allow = ["%s/32"] # the sink shares the concentrator's namespace
                  }
                }
                """.formatted(CONCENTRATOR_ADMIN_PORT, DSL, CONCENTRATOR_PORT, TARGET));
        writeCpeConfig(TOKEN, "primary");
        launch("concentrator", concentratorConfig);
        launch("cpe", cpeConfig);
        cpeAdmin = new NamespaceForwarder(ns, new InetSocketAddress("127.0.0.1", CPE_ADMIN_PORT));
        concentratorAdmin = new NamespaceForwarder(ns, new InetSocketAddress("127.0.0.1", CONCENTRATOR_ADMIN_PORT));
        closeables.add(cpeAdmin);
        closeables.add(concentratorAdmin);
    }

    void writeCpeConfig(String token, String lteRole) throws IOException {
        Files.writeString(cpeConfig, """
                hybridproxy {
                  role = cpe
                  uplinks = [
                    { name = dsl, interface = lo, address = "%s", role = primary }
                    { name = lte, interface = lo, address = "%s", role = %s }
                  ]
                  path-manager.install-routes = false
                  admin { bind = "127.0.0.1:%d", token = "%s", sample-interval = 500ms }
                  cpe {
                    concentrator = "%s:%d"
                    fast-open = false
                    listeners = [{ name = lan, mode = explicit, bind = "%s:%d", destination = "%s:%d" }]
                  }
                }
                """.formatted(DSL, LTE, lteRole, CPE_ADMIN_PORT, token, DSL, CONCENTRATOR_PORT, DSL, LISTENER_PORT,
                TARGET, TARGET_PORT));
    }

    private void launch(String name, Path config) throws Exception {
        Path log = dir.resolve(name + ".log");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder("ip", "netns", "exec", ns.name(), java, "--enable-native-access=ALL-UNNAMED",
                "-Xmx256m", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"),
                "net.hybridproxy.proxy.cli.Main", "run", "--config", config.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        processes.add(p);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            String text = Files.readString(log);
            if (text.contains("admin server on")) {
                return;
            }
            if (!p.isAlive()) {
                throw new IllegalStateException(name + " exited " + p.exitValue() + ":\n" + text);
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException(name + " did not start within 30 s:\n" + Files.readString(log));
    }

    /** Bytes the destination received so far, over all connections. */
    long sinkBytes() {
        return sinkBytes.get();
    }

    private void acceptLoop(ServerSocket sink) {
        while (!sink.isClosed()) {
            try {
                Socket s = sink.accept();
                Thread.ofVirtual().start(() -> drain(s));
            } catch (IOException e) {
                return;
            }
        }
    }

    private void drain(Socket s) {
        byte[] buffer = new byte[65536];
        try (s; InputStream in = s.getInputStream()) {
            int n;
            while ((n = in.read(buffer)) >= 0) {
                sinkBytes.addAndGet(n);
            }
        } catch (IOException ignored) {
            // a reset connection: counted up to where it broke
        }
    }

    /** A client connection through the cpe's listener, opened from inside the namespace. */
    Socket connect() throws Exception {
        Socket s = ns.call(() -> new Socket(InetAddress.getByName(DSL), LISTENER_PORT));
        s.setSoTimeout(30_000);
        return s;
    }

    /** Sends {@code bytes} through the proxy pair on one connection and waits for it to close; returns them. */
    long send(long bytes) throws Exception {
        try (Socket s = connect()) {
            write(s, bytes);
            s.shutdownOutput();
            if (s.getInputStream().read() != -1) {
                throw new IOException("the destination sent data; it only sinks");
            }
        }
        return bytes;
    }

    static void write(Socket s, long bytes) throws IOException {
        byte[] chunk = new byte[65536];
        OutputStream out = s.getOutputStream();
        for (long left = bytes; left > 0; left -= chunk.length) {
            out.write(chunk, 0, (int) Math.min(chunk.length, left));
        }
        out.flush();
    }

    HttpResponse<String> get(NamespaceForwarder admin, String path, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(admin.baseUri() + path)).GET()
                .timeout(Duration.ofSeconds(20));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> post(NamespaceForwarder admin, String path, String body, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(admin.baseUri() + path))
                .POST(HttpRequest.BodyPublishers.ofString(body)).timeout(Duration.ofSeconds(20));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    String scrapeCpe() throws Exception {
        return ok(get(cpeAdmin, "/metrics", TOKEN));
    }

    String cpeStatus() throws Exception {
        return ok(get(cpeAdmin, "/api/v1/status", TOKEN));
    }

    String scrapeConcentrator() throws Exception {
        return ok(get(concentratorAdmin, "/metrics", null));
    }

    private static String ok(HttpResponse<String> r) {
        if (r.statusCode() != 200) {
            throw new AssertionError("HTTP " + r.statusCode() + ": " + r.body());
        }
        return r.body();
    }

    private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[^}]*})?\\s+(\\S+)$");

    /** Samples of a Prometheus text scrape: "name{labels}" to value. */
    static Map<String, Double> samples(String scrape) {
        Map<String, Double> out = new HashMap<>();
        for (String line : scrape.split("\n")) {
            Matcher m = SAMPLE.matcher(line);
            if (!line.startsWith("#") && m.matches()) {
                out.put(m.group(1) + (m.group(2) == null ? "" : m.group(2)), Double.parseDouble(m.group(3)));
            }
        }
        return out;
    }

    /** The value of the sample named {@code name} whose labels include every {@code key="value"} given. */
    static double value(Map<String, Double> samples, String name, String... labels) {
        List<Double> found = new ArrayList<>();
        for (Map.Entry<String, Double> e : samples.entrySet()) {
            String key = e.getKey();
            if (!key.equals(name) && !key.startsWith(name + "{")) {
                continue;
            }
            boolean all = true;
            for (String label : labels) {
                all &= key.contains(label);
            }
            if (all) {
                found.add(e.getValue());
            }
        }
        if (found.size() != 1) {
            throw new AssertionError("expected one sample " + name + " " + List.of(labels) + ", found " + found);
        }
        return found.getFirst();
    }

    String logs() {
        StringBuilder s = new StringBuilder();
        for (String name : List.of("concentrator", "cpe")) {
            try {
                s.append("--- ").append(name).append(" ---\n").append(Files.readString(dir.resolve(name + ".log")));
            } catch (IOException e) {
                s.append("(no ").append(name).append(" log)\n");
            }
        }
        return s.toString();
    }

    @Override
    public void close() throws Exception {
        for (Process p : processes) {
            p.destroy();
        }
        for (Process p : processes) {
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
            }
        }
        for (AutoCloseable c : closeables) {
            try {
                c.close();
            } catch (Exception ignored) {
                // best effort: the namespace goes next and takes everything with it
            }
        }
        ns.close();
    }
}
