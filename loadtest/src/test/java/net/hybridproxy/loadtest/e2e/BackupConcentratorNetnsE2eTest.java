package net.hybridproxy.loadtest.e2e;

import net.hybridproxy.loadtest.lab.ApplianceConfigs;
import net.hybridproxy.loadtest.lab.ApplianceLauncher;
import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.LabProcess;
import net.hybridproxy.loadtest.lab.Netns;
import net.hybridproxy.loadtest.lab.Teardown;
import net.hybridproxy.proxy.testing.NetNs;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Backup concentrators (docs/operations.md, "Backup concentrators"): a primary and a backup concentrator at
 * different addresses, and two cpes in the lab's cpe namespace, one per engine, with both in
 * {@code cpe.concentrators}. The primary is killed (SIGKILL), new connections must succeed through the backup within
 * 1 s, the userspace sessions re-establish there; the primary is restarted, and after the hold-down new connections
 * return to it while one opened on the backup keeps going. Every byte is echoed and compared; which concentrator
 * carried a connection is read from the concentrators' own sockets to the echo server.
 *
 * <pre>
 *   client --lan-- cpe (kernel cpe :12000, userspace cpe :12001) ==dsl/lte== conc ──┬── primary 198.18.41.2
 *                                                                                  ├── backup  198.18.42.2
 *                                                                                  └── server (echo)
 * </pre>
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class BackupConcentratorNetnsE2eTest {
    private static final String[] CONCENTRATOR = {"198.18.41.2", "198.18.42.2"};
    private static final String[] NAME = {"primary", "backup"};
    private static final int KERNEL_PORT = 5100;
    private static final int USERSPACE_PORT = 5101;
    private static final int ECHO_PORT = 7011;
    /** The cpes' explicit listeners: the kernel engine's, the userspace engine's. */
    private static final int[] LISTENER = {12000, 12001};
    private static final String[] ENGINE = {"kernel", "userspace"};
    private static final int[] ADMIN_PORT = {9191, 9192};
    private static final int USERSPACE_SESSIONS = 2;
    /** Shorter than the default 30 s to keep the test short; the rule is the same. */
    private static final Duration FAIL_BACK_AFTER = Duration.ofSeconds(3);
    private static final int KIB = 1024;

    private HybridAccessLab lab;
    private LabEcho echo;
    private final List<Netns> namespaces = new ArrayList<>();
    private final Netns[] concentratorNs = new Netns[2];
    private final LabProcess[] concentrators = new LabProcess[2];
    private final Path[] concentratorConf = new Path[2];
    private final LabProcess[] cpes = new LabProcess[2];
    private final Path[] cpeConf = new Path[2];
    private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();

    @BeforeAll
    void startLab() throws Exception {
        String skip = HybridAccessLab.skipReason();
        Assumptions.assumeTrue(skip == null, skip);
        // The lab's own per-uplink routing serves both cpes (neither installs routes: they share the namespace).
        lab = HybridAccessLab.builder().uplinkPolicyRouting(true).build();
        echo = new LabEcho(lab, ECHO_PORT);
        Path configs = Files.createTempDirectory("hybridproxy-backup");
        for (int i = 0; i < 2; i++) {
            Netns ns = Netns.create(lab.prefix() + "bk" + (i + 1));
            namespaces.add(ns);
            concentratorNs[i] = ns;
            ns.ip("link", "set", "lo", "up");
            String hop = "198.18.4" + (i + 1) + ".1";
            String link = "bk" + (i + 1);
            lab.conc().ip("link", "add", link, "type", "veth", "peer", "name", link, "netns", ns.name());
            lab.conc().ip("addr", "add", hop + "/24", "dev", link);
            lab.conc().ip("link", "set", link, "up");
            ns.ip("addr", "add", CONCENTRATOR[i] + "/24", "dev", link);
            ns.ip("link", "set", link, "up");
            ns.ip("route", "add", "default", "via", hop);
            concentratorConf[i] = Files.writeString(configs.resolve("conc" + i + ".conf"),
                    ApplianceConfigs.concentrator("[::]:" + KERNEL_PORT, "cpe-backup",
                            "userspace-listen = [\"[::]:" + USERSPACE_PORT + "\"]"));
            concentrators[i] = ApplianceLauncher.start(ns, concentratorConf[i], "concentrator listening");
        }
        for (int e = 0; e < 2; e++) {
            int port = e == 0 ? KERNEL_PORT : USERSPACE_PORT;
            cpeConf[e] = Files.writeString(configs.resolve("cpe-" + ENGINE[e] + ".conf"), """
                    hybridproxy {
                      role = cpe
                      engine = %s
                      event-loop-threads = %d
                      uplinks = [
                        { name = dsl, interface = dsl, address = "%s", gateway = "%s" }
                        { name = lte, interface = lte, address = "%s", gateway = "%s" }
                      ]
                      path-manager { install-routes = false }
                      admin.bind = "127.0.0.1:%d"
                      cpe {
                        concentrators = [
                          { name = primary, address = "%s:%d" }
                          { name = backup, address = "%s:%d" }
                        ]
                        health-check.fail-back-after = %ds
                        listeners = [{ name = %s, mode = explicit, bind = "%s:%d", destination = "%s:%d" }]
                        key-id = "cpe-backup"
                        key = "%s"
                      }
                    }
                    """.formatted(ENGINE[e], USERSPACE_SESSIONS, HybridAccessLab.CPE_DSL_ADDR,
                    HybridAccessLab.CONC_DSL_ADDR, HybridAccessLab.CPE_LTE_ADDR, HybridAccessLab.CONC_LTE_ADDR,
                    ADMIN_PORT[e], CONCENTRATOR[0], port, CONCENTRATOR[1], port, FAIL_BACK_AFTER.toSeconds(),
                    ENGINE[e], HybridAccessLab.CPE_LAN_ADDR, LISTENER[e], HybridAccessLab.SERVER_ADDR, ECHO_PORT,
                    ApplianceConfigs.KEY));
            cpes[e] = ApplianceLauncher.start(lab.cpe(), cpeConf[e], "cpe listener " + ENGINE[e]);
        }
        awaitLog(cpes[1], "session established", USERSPACE_SESSIONS, Duration.ofSeconds(30));
    }

    @AfterAll
    void stopLab() throws Exception {
        List<AutoCloseable> resources = new ArrayList<>();
        resources.add(threads::shutdownNow);
        for (LabProcess p : cpes) {
            resources.add(p == null ? null : () -> p.stop(Duration.ofSeconds(5)));
        }
        for (LabProcess p : concentrators) {
            resources.add(p == null ? null : () -> p.stop(Duration.ZERO));
        }
        resources.addAll(namespaces);
        resources.add(echo);
        resources.add(lab);
        Teardown.closeAll(resources.toArray(AutoCloseable[]::new));
    }

    @Test
    @Order(1)
    void whileThePrimaryIsUpBothEnginesUseIt() throws Exception {
        for (int e = 0; e < 2; e++) {
            assertEquals(0, verifiedConnectionVia(e, 256 * KIB, 0), ENGINE[e] + " did not use the primary" + logs());
        }
        for (int e = 0; e < 2; e++) {
            long start = System.nanoTime();
            try (Socket s = echo.connect(HybridAccessLab.CPE_LAN_ADDR, LISTENER[e])) {
                s.getOutputStream().write(42);
                assertEquals(42, s.getInputStream().read());
                setupBeforeKill[e] = System.nanoTime() - start;
            }
            String metrics = admin(e, "/metrics");
            assertTrue(metrics.contains("hybridproxy_cpe_concentrator_active{") && activeGauge(metrics, "primary")
                    && !activeGauge(metrics, "backup"), ENGINE[e] + " metrics:\n" + metrics);
            String status = admin(e, "/api/v1/status");
            assertTrue(status.contains("\"concentrators\":[{\"name\":\"primary\""), status);
        }
    }

    @Test
    @Order(2)
    void whenThePrimaryIsKilledNewConnectionsSucceedThroughTheBackupWithinOneSecond() throws Exception {
        long killed = System.nanoTime();
        // SIGKILL: its sockets are closed by the kernel, nothing drains. stop() also waits for the output pumps, so
        // it runs aside; the clock starts when the signal is sent.
        Future<?> kill = threads.submit(() -> concentrators[0].stop(Duration.ZERO));
        while (concentrators[0].isAlive()) {
            Thread.sleep(5);
        }
        long gone = System.nanoTime() - killed;
        // Both engines at once: a new connection every 100 ms for 3 s, each a verified 64 KiB echo after its first
        // byte came back.
        List<List<Future<Attempt>>> attempts = List.of(new ArrayList<>(), new ArrayList<>());
        while (System.nanoTime() - killed < Duration.ofSeconds(3).toNanos()) {
            for (int e = 0; e < 2; e++) {
                int engine = e;
                long started = System.nanoTime() - killed;
                attempts.get(e).add(threads.submit(() -> attempt(engine, started, killed)));
            }
            Thread.sleep(100);
        }
        kill.get(30, TimeUnit.SECONDS);
        for (int e = 0; e < 2; e++) {
            List<Attempt> done = new ArrayList<>();
            for (Future<Attempt> f : attempts.get(e)) {
                done.add(f.get(30, TimeUnit.SECONDS));
            }
            // From which start on every new connection succeeded (through the backup: the primary is gone).
            long allGoodFrom = -1;
            int failed = 0;
            for (int i = done.size() - 1; i >= 0 && done.get(i).via() == 1; i--) {
                allGoodFrom = done.get(i).startedNanos();
            }
            long firstWorking = Long.MAX_VALUE;
            long firstVerified = Long.MAX_VALUE;
            for (Attempt a : done) {
                if (a.via() == 1) {
                    firstWorking = Math.min(firstWorking, a.workingNanos());
                    firstVerified = Math.min(firstVerified, a.doneNanos());
                } else {
                    failed++;
                }
            }
            System.out.printf("backup concentrator (%s): primary killed (SIGKILL, process gone after %.0f ms); every "
                            + "new connection started from %.0f ms on succeeded through the backup; the first one "
                            + "worked (echo) at %.0f ms, its 64 KiB verified at %.0f ms; %d of %d attempts failed "
                            + "(before %.0f ms); a connection's setup through the primary before the kill: %.0f ms%n",
                    ENGINE[e], gone / 1e6, allGoodFrom / 1e6, firstWorking / 1e6, firstVerified / 1e6, failed,
                    done.size(), allGoodFrom / 1e6, setupBeforeKill[e] / 1e6);
            assertTrue(allGoodFrom >= 0 && allGoodFrom <= Duration.ofSeconds(1).toNanos(), ENGINE[e]
                    + ": new connections did not all succeed from 1 s after the kill on: from " + allGoodFrom / 1e6
                    + " ms" + logs());
        }
        // Userspace: every loop's session re-established on the backup.
        awaitLog(cpes[1], "[backup]: session established", USERSPACE_SESSIONS, Duration.ofSeconds(10));
        for (int e = 0; e < 2; e++) {
            assertTrue(cpes[e].stdout().contains("concentrator switch: new connections go to backup"), logs());
            assertTrue(activeGauge(admin(e, "/metrics"), "backup"), ENGINE[e]);
        }
    }

    @Test
    @Order(3)
    void whenThePrimaryComesBackNewConnectionsReturnAfterTheHoldDownAndTheBackupsAreNotCut() throws Exception {
        // A connection on the backup, open across the fail back.
        Socket[] held = new Socket[2];
        for (int e = 0; e < 2; e++) {
            int[] before = settled(e);
            held[e] = echo.connect(HybridAccessLab.CPE_LAN_ADDR, LISTENER[e]);
            echo.verifiedTransfer(held[e], 128 * KIB);
            assertEquals(1, carriedBy(before), ENGINE[e] + ": the held connection is not on the backup");
        }
        concentrators[0] = ApplianceLauncher.start(concentratorNs[0], concentratorConf[0], "concentrator listening");
        long restarted = System.nanoTime();
        for (int e = 0; e < 2; e++) {
            awaitLog(cpes[e], "concentrator switch: new connections go to primary", 1, Duration.ofSeconds(30));
            double after = (System.nanoTime() - restarted) / 1e9;
            System.out.printf("backup concentrator (%s): primary restarted; new connections back on it %.1f s after "
                    + "it listened (hold-down %d s)%n", ENGINE[e], after, FAIL_BACK_AFTER.toSeconds());
            assertTrue(after >= FAIL_BACK_AFTER.toSeconds(), "failed back before the hold-down: " + after + " s");
        }
        awaitLog(cpes[1], "[primary]: session established", USERSPACE_SESSIONS * 2, Duration.ofSeconds(10));
        for (int e = 0; e < 2; e++) {
            assertEquals(0, verifiedConnectionVia(e, 256 * KIB, 2 - e), ENGINE[e] + ": not back on the primary"
                    + logs());
            // The connection opened on the backup still carries bytes both ways, byte-exact.
            echo.verifiedTransfer(held[e], 256 * KIB);
            held[e].close();
            assertTrue(admin(e, "/metrics").contains("hybridproxy_cpe_concentrator_switches_total"), ENGINE[e]);
        }
        // The userspace cpe's retired sessions to the backup end once their last stream has closed.
        awaitLog(cpes[1], "no stream left on this retired session", USERSPACE_SESSIONS, Duration.ofSeconds(10));
    }

    /** Times since the kill: started, first echoed byte back, 64 KiB verified; via 1 (backup) or -1 (failed). */
    @Test
    @Order(4)
    void aReloadAppliesAChangedListToNewConnections() throws Exception {
        for (int e = 0; e < 2; e++) {
            // The backup first now: a SIGHUP moves new connections there, the primary's stay where they are.
            int port = e == 0 ? KERNEL_PORT : USERSPACE_PORT;
            String primary = "{ name = primary, address = \"" + CONCENTRATOR[0] + ":" + port + "\" }";
            String backup = "{ name = backup, address = \"" + CONCENTRATOR[1] + ":" + port + "\" }";
            String conf = Files.readString(cpeConf[e]);
            assertTrue(conf.contains(primary) && conf.contains(backup), conf);
            Files.writeString(cpeConf[e], conf.replace(primary, "@@").replace(backup, primary).replace("@@", backup));
            assertEquals(0, new ProcessBuilder("kill", "-HUP", String.valueOf(cpes[e].pid())).start().waitFor());
            awaitLog(cpes[e], "concentrators reloaded: [backup 198.18.42.2", 1, Duration.ofSeconds(10));
            awaitLog(cpes[e], "concentrator switch: new connections go to backup", 2, Duration.ofSeconds(10));
            assertEquals(1, verifiedConnectionVia(e, 256 * KIB, 0), ENGINE[e] + ": a reload did not move new "
                    + "connections to the new first concentrator" + logs());
        }
    }

    /** Per engine: how long a new connection took to echo its first byte through the primary, before the kill. */
    private final long[] setupBeforeKill = new long[2];

    private record Attempt(long startedNanos, long workingNanos, long doneNanos, int via) {
    }

    /**
     * One new connection after the kill, echoed byte-exact: 1 when it succeeded (the backup is then the only
     * concentrator running), -1 when it failed; and when it was done.
     */
    private Attempt attempt(int engine, long startedNanos, long killed) {
        try (Socket s = echo.connect(HybridAccessLab.CPE_LAN_ADDR, LISTENER[engine])) {
            s.setSoTimeout(5_000);
            s.getOutputStream().write(42);
            if (s.getInputStream().read() != 42) {
                throw new IOException("no echo");
            }
            long working = System.nanoTime() - killed;
            echo.verifiedTransfer(s, 64 * KIB);
            long done = System.nanoTime() - killed;
            // The primary is dead: a connection that works went through the backup.
            return new Attempt(startedNanos, working, done, 1);
        } catch (Exception e) {
            return new Attempt(startedNanos, Long.MAX_VALUE, Long.MAX_VALUE, -1);
        }
    }

    /** A new connection through engine {@code e}'s cpe, echoed byte-exact: the concentrator that carried it. */
    private int verifiedConnectionVia(int e, int bytes, int stillOpen) throws Exception {
        int[] before = settled(stillOpen);
        try (Socket s = echo.connect(HybridAccessLab.CPE_LAN_ADDR, LISTENER[e])) {
            echo.verifiedTransfer(s, bytes);
            return carriedBy(before);
        }
    }

    /**
     * The concentrator that holds one more connection to the echo server than {@code before} (-1: none, 2: both):
     * each concentrator opens its own plain TCP connection to the destination, from its own address.
     */
    private int carriedBy(int[] before) {
        int[] now = toEchoServer();
        int via = -1;
        for (int i = 0; i < 2; i++) {
            if (now[i] > before[i]) {
                via = via == -1 ? i : 2;
            }
        }
        return via;
    }

    /**
     * {@link #toEchoServer()} once only the {@code stillOpen} connections the test holds remain (a connection just
     * closed by its client takes a moment to close at the concentrator too).
     */
    private int[] settled(int stillOpen) throws InterruptedException {
        int[] now = toEchoServer();
        for (int i = 0; i < 50 && now[0] + now[1] != stillOpen; i++) {
            Thread.sleep(100);
            now = toEchoServer();
        }
        return now;
    }

    /** Established connections from each running concentrator to the echo server. */
    private int[] toEchoServer() {
        int[] count = new int[2];
        for (int i = 0; i < 2; i++) {
            if (concentrators[i] == null || !concentrators[i].isAlive()) {
                continue;
            }
            String ss = concentratorNs[i].exec("ss", "-Htn", "state", "established", "( dport = :" + ECHO_PORT
                    + " )").stdout();
            count[i] = (int) ss.lines().filter(l -> !l.isBlank()).count();
        }
        return count;
    }

    private static boolean activeGauge(String metrics, String name) {
        return metrics.lines().anyMatch(l -> l.startsWith("hybridproxy_cpe_concentrator_active{")
                && l.contains("concentrator=\"" + name + "\"") && l.endsWith(" 1.0"));
    }

    /** GET on engine {@code e}'s cpe admin server, from inside the cpe namespace (it listens on loopback there). */
    private String admin(int e, String path) throws Exception {
        return NetNs.existing(lab.cpe().name()).call(() -> {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", ADMIN_PORT[e]), 5_000);
                s.setSoTimeout(10_000);
                OutputStream out = s.getOutputStream();
                out.write(("GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                out.flush();
                InputStream in = s.getInputStream();
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
        });
    }

    private static void awaitLog(LabProcess process, String text, int times, Duration timeout)
            throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            long count = process.stdoutLines().stream().filter(l -> l.contains(text)).count();
            if (count >= times) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("'" + text + "' logged " + count + " times, expected " + times + ":\n"
                        + process.stdout());
            }
            Thread.sleep(50);
        }
    }

    private String logs() {
        StringBuilder s = new StringBuilder();
        for (int e = 0; e < 2; e++) {
            s.append("\n--- ").append(ENGINE[e]).append(" cpe ---\n").append(cpes[e].stdout());
        }
        for (int i = 0; i < 2; i++) {
            s.append("\n--- ").append(NAME[i]).append(" ---\n")
                    .append(concentrators[i] == null ? "" : concentrators[i].stdout());
        }
        return s.toString();
    }
}
