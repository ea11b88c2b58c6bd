package net.hybridproxy.proxy.role;

import net.hybridproxy.engine.auth.ConvertAuthenticator;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.convert.ConvertErrorCode;
import net.hybridproxy.engine.convert.ConvertMessage;
import net.hybridproxy.proxy.testing.NetNs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A concentrator process ({@code run --config FILE}, as an operator runs it) in a private namespace, stopped with
 * SIGTERM while downloads run, and reloaded with SIGHUP while one runs. The destination is a paced download server
 * in the test: each connection sends its 8-byte seed, then receives 5 s of the bytes that seed generates, which the
 * client checks one by one.
 */
class ConcentratorLifecycleNetnsTest {
    private static final InetAddress LISTEN = InetAddress.ofLiteral("198.18.0.1");
    private static final InetAddress SERVER = InetAddress.ofLiteral("198.18.0.2");
    private static final InetAddress CLIENT = InetAddress.ofLiteral("198.18.0.3");
    private static final int PORT = 5100;
    private static final int SECOND_PORT = 5200;
    private static final int DOWNLOAD_PORT = 7000;
    private static final int DENIED_PORT = 7001;
    private static final int ADMIN_PORT = 9191;
    private static final int CHUNK = 16 * 1024;
    private static final int CHUNKS = 50; // one every 100 ms: 5 s, 800 KiB
    private static final SecureRandom RANDOM = new SecureRandom();

    private NetNs ns;
    private Path dir;
    private Process concentrator;
    private final List<ServerSocket> servers = new ArrayList<>();
    private final ExecutorService io = Executors.newVirtualThreadPerTaskExecutor();

    @BeforeEach
    void start() throws Exception {
        String reason = NetNs.skipReason();
        Assumptions.assumeTrue(reason == null, reason);
        ns = NetNs.create("lifecycle");
        for (InetAddress a : List.of(LISTEN, SERVER, CLIENT)) {
            ns.ip("addr", "add", a.getHostAddress() + "/32", "dev", "lo");
        }
        dir = Files.createTempDirectory("hybridproxy-lifecycle");
        for (int port : List.of(DOWNLOAD_PORT, DENIED_PORT)) {
            ServerSocket server = ns.call(() -> new ServerSocket(port, 200, SERVER));
            servers.add(server);
            Thread.ofVirtual().start(() -> serve(server));
        }
    }

    @AfterEach
    void stop() throws Exception {
        if (concentrator != null) {
            concentrator.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        for (ServerSocket s : servers) {
            s.close();
        }
        io.shutdownNow();
        if (ns != null) {
            ns.close();
        }
    }

    @Test
    void sigtermLetsFiftyRunningDownloadsFinishVerifiedAndAcceptsNoNewConnection() throws Exception {
        Path config = writeConfig(List.of(PORT), List.of(RunningConcentrator.KEY_A), "");
        launch(config);
        CountDownLatch answered = new CountDownLatch(50);
        List<Future<Long>> downloads = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            downloads.add(io.submit(() -> download(PORT, RunningConcentrator.KEY_A, answered)));
        }
        assertTrue(answered.await(20, TimeUnit.SECONDS), "50 downloads did not start");
        Thread.sleep(500);
        long stopAt = System.nanoTime();
        concentrator.destroy(); // SIGTERM

        // Within moments: not ready, and no new connection is accepted.
        awaitTrue(() -> readiness().contains("503"), "readiness turns 503");
        awaitTrue(() -> refusesConnections(PORT), "listener closes");
        for (Future<Long> d : downloads) {
            assertEquals((long) CHUNK * CHUNKS, d.get(30, TimeUnit.SECONDS), "a download was cut");
        }
        assertTrue(concentrator.waitFor(20, TimeUnit.SECONDS), "the drained process did not exit");
        double seconds = (System.nanoTime() - stopAt) / 1e9;
        System.out.printf("drain: 50 downloads of %d KiB finished verified; process exited %.1f s after SIGTERM%n",
                CHUNK * CHUNKS / 1024, seconds);
        assertTrue(seconds < 15, "exit took " + seconds + " s");
    }

    @Test
    void sighupAppliesKeysPolicyAndListenersWithoutDroppingAConnection() throws Exception {
        Path config = writeConfig(List.of(PORT), List.of(RunningConcentrator.KEY_A), "");
        launch(config);
        CountDownLatch answered = new CountDownLatch(1);
        Future<Long> running = io.submit(() -> download(PORT, RunningConcentrator.KEY_A, answered));
        assertTrue(answered.await(10, TimeUnit.SECONDS));
        assertEquals(Optional.of(ConvertErrorCode.NOT_AUTHORIZED), requestOnce(PORT, RunningConcentrator.KEY_B,
                DOWNLOAD_PORT), "cpe-b is unknown before the reload");
        assertEquals(Optional.empty(), requestOnce(PORT, RunningConcentrator.KEY_A, DENIED_PORT));
        assertTrue(refusesConnections(SECOND_PORT));

        writeConfig(List.of(PORT, SECOND_PORT), List.of(RunningConcentrator.KEY_A, RunningConcentrator.KEY_B),
                "deny-ports = [\"" + DENIED_PORT + "\"]");
        new ProcessBuilder("kill", "-HUP", Long.toString(concentrator.pid())).start().waitFor();
        awaitTrue(() -> log().contains("configuration reloaded (SIGHUP)"), "reload logged");
        assertTrue(log().contains("applied [concentrator"), log());

        assertEquals(Optional.empty(), requestOnce(SECOND_PORT, RunningConcentrator.KEY_B, DOWNLOAD_PORT),
                "the new key on the new listener");
        assertEquals(Optional.of(ConvertErrorCode.NOT_AUTHORIZED), requestOnce(PORT, RunningConcentrator.KEY_A,
                DENIED_PORT), "the new policy");
        assertEquals((long) CHUNK * CHUNKS, running.get(20, TimeUnit.SECONDS), "the connection open across the reload");
        assertTrue(concentrator.isAlive());
    }

    @Test
    void aSighupDuringStartIsAppliedOnceStartedAndNeverEndsTheProcess() throws Exception {
        Path config = writeConfig(List.of(PORT), List.of(RunningConcentrator.KEY_A), "");
        launch(config, "starting concentrator");
        // As early as the process says anything: a reload sent while it is still starting (systemd's ExecReload
        // racing a restart). SIGHUP's default action would end it.
        new ProcessBuilder("kill", "-HUP", Long.toString(concentrator.pid())).start().waitFor();
        awaitTrue(() -> log().contains("admin server on"), "concentrator start");
        awaitTrue(() -> log().contains("configuration reloaded (SIGHUP)"), "reload logged");
        assertTrue(concentrator.isAlive(), log());
        assertEquals(Optional.empty(), requestOnce(PORT, RunningConcentrator.KEY_A, DOWNLOAD_PORT), log());
    }

    /**
     * Started under {@code nohup} (or any parent that ignores SIGHUP), the process inherits SIGHUP ignored and the JVM
     * never delivers it: the concentrator says so once at start, naming the admin API's reload, survives a SIGHUP,
     * and that reload applies the new configuration. Without SIGHUP ignored there is no such warning.
     */
    @Test
    void aSighupIgnoredSinceStartIsReportedAndTheAdminReloadStillWorks() throws Exception {
        Path config = writeConfig(List.of(PORT), List.of(RunningConcentrator.KEY_A), "");
        launch(config, "admin server on", "trap '' HUP; exec \"$0\" \"$@\"");
        String warning = log().lines().filter(l -> l.contains("SIGHUP is ignored")).findFirst().orElse("");
        assertTrue(warning.contains("WARN") && warning.contains("POST /api/v1/reload"), log());
        assertEquals(1, log().lines().filter(l -> l.contains("SIGHUP is ignored")).count(), log());

        writeConfig(List.of(PORT), List.of(RunningConcentrator.KEY_A), "deny-ports = [\"" + DENIED_PORT + "\"]");
        new ProcessBuilder("kill", "-HUP", Long.toString(concentrator.pid())).start().waitFor();
        // What the warning is about: the signal neither reloads nor ends the process. The admin reload is asked
        // after it, so its own log line proves the signal had its chance.
        String answer = admin("POST", "/api/v1/reload");
        assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
        assertTrue(concentrator.isAlive(), log());
        assertFalse(log().contains("configuration reloaded (SIGHUP)"), log());
        assertEquals(Optional.of(ConvertErrorCode.NOT_AUTHORIZED), requestOnce(PORT, RunningConcentrator.KEY_A,
                DENIED_PORT), "the configuration reloaded through the admin API");

        // The same process started normally (SIGHUP at its default): no warning.
        concentrator.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        launch(config);
        assertFalse(log().contains("SIGHUP is ignored"), log());
    }

    // ---- the concentrator process ----

    private Path writeConfig(List<Integer> ports, List<CpeKey> keys, String destinations) throws IOException {
        StringBuilder keyList = new StringBuilder();
        for (CpeKey k : keys) {
            keyList.append("{ id = ").append(k.id()).append(", key = \"hex:")
                    .append(java.util.HexFormat.of().formatHex(k.secret())).append("\" }\n");
        }
        return Files.writeString(dir.resolve("concentrator.conf"), """
                hybridproxy {
                  role = concentrator
                  shutdown-grace-period = 20s
                  path-manager.manage-endpoints = false
                  admin.bind = "127.0.0.1:%d"
                  concentrator {
                    listen = [%s]
                    keys = [
                %s    ]
                    destinations { allow = ["%s/32"], %s }
                    fast-open-queue = 0
                  }
                }
                """.formatted(ADMIN_PORT, String.join(", ", ports.stream()
                        .map(p -> "\"" + LISTEN.getHostAddress() + ":" + p + "\"").toList()), keyList,
                SERVER.getHostAddress(), destinations));
    }

    private void launch(Path config) throws Exception {
        launch(config, "admin server on");
    }

    /** Starts the concentrator and returns once its log holds {@code line}. */
    private void launch(Path config, String line) throws Exception {
        launch(config, line, null);
    }

    /**
     * As {@link #launch(Path, String)}; with {@code shell} set, the JVM is started by {@code sh -c shell java ARGS...}
     * (the script ends with {@code exec "$0" "$@"}), e.g. to start it with a signal disposition of the shell's.
     * Without, SIGHUP is set to its default first ({@code env --default-signal}): a build started under
     * {@code nohup} would otherwise hand its ignored SIGHUP down to the concentrator, which a shell cannot undo
     * (POSIX: signals ignored on entry to a non-interactive shell cannot be reset), and the reload tests would test
     * the build's parent instead of the appliance.
     */
    private void launch(Path config, String line, String shell) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", ns.name()));
        command.addAll(shell == null ? List.of("env", "--default-signal=HUP") : List.of("sh", "-c", shell));
        command.addAll(List.of(java, "--enable-native-access=ALL-UNNAMED",
                "-Xmx256m", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"),
                "net.hybridproxy.proxy.cli.Main", "run", "--config", config.toString()));
        concentrator = new ProcessBuilder(command)
                .redirectErrorStream(true).redirectOutput(dir.resolve("concentrator.log").toFile()).start();
        awaitTrue(() -> log().contains(line), "concentrator log line: " + line);
    }

    private String log() {
        try {
            return Files.readString(dir.resolve("concentrator.log"));
        } catch (IOException e) {
            return "";
        }
    }

    // ---- clients ----

    private Socket connect(int port) throws Exception {
        Socket s = ns.call(() -> {
            Socket socket = new Socket();
            socket.bind(new InetSocketAddress(CLIENT, 0));
            return socket;
        });
        s.connect(new InetSocketAddress(LISTEN, port), 5_000);
        s.setSoTimeout(15_000);
        return s;
    }

    private static byte[] request(CpeKey key, int destinationPort) {
        InetSocketAddress destination = new InetSocketAddress(SERVER, destinationPort);
        byte[] nonce = new byte[ConvertAuthenticator.NONCE_BYTES];
        RANDOM.nextBytes(nonce);
        return ConvertMessage.connect(destination, Optional.of(ConvertAuthenticator.prove(key, destination,
                System.currentTimeMillis(), nonce))).encode();
    }

    /** One request's Error TLV code, or empty when it was accepted. */
    private Optional<ConvertErrorCode> requestOnce(int port, CpeKey key, int destinationPort) throws Exception {
        try (Socket s = connect(port)) {
            s.getOutputStream().write(request(key, destinationPort));
            return RunningConcentrator.readAnswer(s.getInputStream()).errorTlv()
                    .map(e -> ConvertErrorCode.fromCode(e.code()).orElseThrow());
        }
    }

    /** A 5 s download through the concentrator, checked byte by byte; returns the bytes received. */
    private long download(int port, CpeKey key, CountDownLatch answered) throws Exception {
        try (Socket s = connect(port)) {
            OutputStream out = s.getOutputStream();
            out.write(request(key, DOWNLOAD_PORT));
            ConvertMessage answer = RunningConcentrator.readAnswer(s.getInputStream());
            if (answer.errorTlv().isPresent()) {
                throw new IOException("refused: " + answer);
            }
            long seed = RANDOM.nextLong();
            new DataOutputStream(out).writeLong(seed);
            answered.countDown();
            SplittableRandom expected = new SplittableRandom(seed);
            InputStream in = s.getInputStream();
            byte[] buffer = new byte[CHUNK];
            long received = 0;
            int n;
            while ((n = in.read(buffer)) > 0) {
                for (int i = 0; i < n; i++) {
                    if (buffer[i] != (byte) expected.nextInt()) {
                        throw new IOException("byte " + (received + i) + " differs");
                    }
                }
                received += n;
            }
            return received;
        }
    }

    /** The destination: reads an 8-byte seed, then sends CHUNKS chunks of its bytes, one every 100 ms. */
    private void serve(ServerSocket server) {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                Thread.ofVirtual().start(() -> {
                    try (s) {
                        byte[] seedBytes = s.getInputStream().readNBytes(8);
                        if (seedBytes.length < 8) {
                            return; // a connection that closed before asking for anything (a reachability probe)
                        }
                        long seed = ByteBuffer.wrap(seedBytes).getLong();
                        SplittableRandom bytes = new SplittableRandom(seed);
                        OutputStream out = s.getOutputStream();
                        byte[] chunk = new byte[CHUNK];
                        for (int c = 0; c < CHUNKS; c++) {
                            for (int i = 0; i < CHUNK; i++) {
                                chunk[i] = (byte) bytes.nextInt();
                            }
                            out.write(chunk);
                            Thread.sleep(100);
                        }
                    } catch (IOException | InterruptedException ignored) {
                        // the client went away: its own check reports it
                    }
                });
            } catch (IOException e) {
                return;
            }
        }
    }

    private boolean refusesConnections(int port) {
        try (Socket ignored = connect(port)) {
            return false;
        } catch (ConnectException e) {
            return true;
        } catch (Exception e) {
            return false;
        }
    }

    /** The admin server's readiness answer, asked from inside the namespace. */
    private String readiness() {
        return admin("GET", "/health/ready");
    }

    /** The admin server's whole answer to {@code method path} (a POST marked as not from a web page). */
    private String admin(String method, String path) {
        try {
            return ns.call(() -> {
                try (Socket s = new Socket(InetAddress.ofLiteral("127.0.0.1"), ADMIN_PORT)) {
                    s.getOutputStream().write((method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            + (method.equals("POST") ? "X-Hybridproxy-Admin: 1\r\nContent-Length: 0\r\n" : "")
                            + "Connection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                    return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                }
            });
        } catch (Exception e) {
            return e.toString();
        }
    }

    private static void awaitTrue(java.util.function.BooleanSupplier condition, String what) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(what + " within 30 s");
            }
            Thread.sleep(50);
        }
    }

}
