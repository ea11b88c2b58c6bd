package net.hybridproxy.loadtest.e2e;

import net.hybridproxy.loadtest.lab.ApplianceConfigs;
import net.hybridproxy.loadtest.lab.ApplianceLauncher;
import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.HybridAccessLab.Link;
import net.hybridproxy.loadtest.lab.JavaLauncher;
import net.hybridproxy.loadtest.lab.LabProcess;
import net.hybridproxy.loadtest.lab.Netns;
import net.hybridproxy.loadtest.lab.Teardown;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fault matrix of docs/operations.md for one engine, in the namespace lab: each fault, then the outcome it
 * should have, with every transfer checked byte for byte (an echo of random bytes). Subclasses pick the engine.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
abstract class FaultMatrixNetnsSuite {
    private static final int CONCENTRATOR_PORT = 5100;
    private static final int ECHO_PORT = 7007;
    private static final int MIB = 1024 * 1024;
    /**
     * Idle connections held through cpe and concentrator. CI holds 1000 (more than the 512 a userspace cpe with two
     * event loops could hold before the session receive budget stopped counting initial windows);
     * {@code -Dhybridproxy.idle-connections=10000} runs the full figure of docs/operations.md.
     */
    private static final int IDLE_CONNECTIONS = Integer.getInteger("hybridproxy.idle-connections", 1000);
    /** Resident memory an idle relayed connection may add to a process, the bound docs/operations.md states. */
    private static final long IDLE_BYTES_PER_CONNECTION = 64 * 1024;
    /** The fd-exhaustion run: a concentrator allowed this many open files, with this max-connections. */
    private static final int LOW_OPEN_FILES = 800;
    private static final int LOW_MAX_CONNECTIONS = 500;

    private HybridAccessLab lab;
    private LabEcho echo;
    private LabProcess concentrator;
    private LabProcess cpe;
    private Path concentratorConf;
    private Path cpeConf;
    private Path lowOpenFilesConf;
    private long normalSetupNanos;
    private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();

    /** "kernel" or "userspace". */
    abstract String engine();

    private String concentratorReady() {
        return engine().equals("kernel") ? "concentrator listening (MPTCP)" : "concentrator listening (userspace";
    }

    @BeforeAll
    void startLab() throws Exception {
        String skip = HybridAccessLab.skipReason();
        Assumptions.assumeTrue(skip == null, skip);
        lab = HybridAccessLab.builder().rate(Link.DSL, 100).rate(Link.LTE, 50).uplinkPolicyRouting(false).build();
        echo = new LabEcho(lab, ECHO_PORT);
        Path configs = Files.createTempDirectory("hybridproxy-faults");
        // One cpe holding the idle connections: its key and its address may hold them all (quotas 2048 and 4096).
        String idleQuota = "max-connections-per-key = " + Math.max(2048, IDLE_CONNECTIONS + 100)
                + "\nmax-connections-per-source = " + Math.max(4096, IDLE_CONNECTIONS + 100);
        String concentratorText = ApplianceConfigs.concentrator(engine(), "[::]:" + CONCENTRATOR_PORT, "cpe-e2e",
                idleQuota).replace("role = concentrator", "role = concentrator\n  shutdown-grace-period = 3s");
        lowOpenFilesConf = Files.writeString(configs.resolve("conc-low-fd.conf"), ApplianceConfigs.concentrator(
                engine(), "[::]:" + CONCENTRATOR_PORT, "cpe-e2e", "").replace("role = concentrator",
                "role = concentrator\n  max-connections = " + LOW_MAX_CONNECTIONS));
        // A userspace cpe carries at most 1024 streams per session, one session per event loop: the full idle run
        // needs more loops than this machine's two cores give by default.
        String cpeText = ApplianceConfigs.cpe(engine(), HybridAccessLab.SERVICE_ADDR + ":" + CONCENTRATOR_PORT,
                "cpe-e2e", true, List.of(ECHO_PORT));
        if (engine().equals("userspace") && IDLE_CONNECTIONS > 1800) {
            cpeText = cpeText.replace("role = cpe", "role = cpe\n  event-loop-threads = " + (IDLE_CONNECTIONS / 900 + 1));
        }
        if (IDLE_CONNECTIONS > 9000) { // room for the new connections made beside them (max-connections is 10 000)
            cpeText = cpeText.replace("role = cpe", "role = cpe\n  max-connections = " + (IDLE_CONNECTIONS + 500));
            concentratorText = concentratorText.replace("role = concentrator", "role = concentrator\n  max-connections = "
                    + (IDLE_CONNECTIONS + 500));
        }
        cpeConf = Files.writeString(configs.resolve("cpe.conf"), cpeText);
        concentratorConf = Files.writeString(configs.resolve("conc.conf"), concentratorText);
        concentrator = ApplianceLauncher.start(lab.conc(), concentratorConf, concentratorReady());
        cpe = ApplianceLauncher.start(lab.cpe(), cpeConf, "cpe listener lan");
        awaitWorking(Duration.ofSeconds(30));
        echo.medianSetupNanos(); // warm up
        normalSetupNanos = echo.medianSetupNanos();
    }

    @AfterAll
    void stopLab() throws Exception {
        Teardown.closeAll(threads::shutdownNow, echo, lab);
    }

    @Test
    @Order(1)
    void destinationUnreachableResetsTheClientAndHarmsNothingElse() throws Exception {
        long started = System.nanoTime();
        // On the server's subnet, nobody answers ARP: the concentrator's connect fails with "no route to host".
        try (Socket s = echo.connect("198.18.30.99", ECHO_PORT)) {
            s.getOutputStream().write(1);
            int got;
            try {
                got = s.getInputStream().read();
            } catch (IOException reset) {
                got = -1;
            }
            assertTrue(got == -1, "an unreachable destination answered");
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        System.out.printf("fault matrix (%s): destination unreachable: client reset after %.1f s%n", engine(), seconds);
        assertTrue(seconds < 15, seconds + " s");
        echo.verifiedTransfer(MIB);
    }

    @Test
    @Order(2)
    void aDslFlapAt1HzFor10sCorruptsNothing() throws Exception {
        Future<?> transfer = threads.submit(() -> {
            echo.verifiedTransfer(48 * MIB);
            return null;
        });
        long started = System.nanoTime();
        for (int i = 0; i < 10; i++) {
            lab.linkDown(Link.DSL);
            Thread.sleep(500);
            lab.linkUp(Link.DSL);
            Thread.sleep(500);
        }
        transfer.get(120, TimeUnit.SECONDS);
        System.out.printf("fault matrix (%s): 48 MiB echoed byte-exact across 10 DSL flaps, %.1f s%n", engine(),
                (System.nanoTime() - started) / 1e9);
        echo.verifiedTransfer(MIB);
    }

    @Test
    @Order(3)
    void aConcentratorRestartIsFollowedByWorkingConnections() throws Exception {
        concentrator.stop(Duration.ofSeconds(10)); // SIGTERM: drain, then exit
        long stopped = System.nanoTime();
        concentrator = ApplianceLauncher.start(lab.conc(), concentratorConf, concentratorReady());
        double restart = (System.nanoTime() - stopped) / 1e9;
        double recovered = awaitWorking(Duration.ofSeconds(30));
        System.out.printf("fault matrix (%s): concentrator restarted in %.1f s; the cpe's connections worked %.1f s "
                + "after it listened%n", engine(), restart, recovered);
    }

    @Test
    @Order(4)
    void aCpeKilledAndRestartedCleansUpAndWorks() throws Exception {
        cpe.stop(Duration.ZERO); // SIGKILL: no shutdown hook, capture rules left behind
        cpe = ApplianceLauncher.start(lab.cpe(), cpeConf, "cpe listener lan");
        assertTrue(cpe.stdout().contains("removed capture rules an earlier run left behind"), cpe.stdout());
        double recovered = awaitWorking(Duration.ofSeconds(30));
        System.out.printf("fault matrix (%s): cpe killed and restarted; working %.1f s after it listened%n", engine(),
                recovered);
    }

    /**
     * Idle connections through cpe and concentrator: each process's resident memory grows by a bounded amount per
     * connection, and new connections keep working (within twice their normal setup time) while they are held.
     */
    @Test
    @Order(5)
    void idleConnectionsCostBoundedMemoryAndNewConnectionsStillWork() throws Exception {
        long cpeBefore = cpe.memoryStatusBytes("VmRSS");
        long concentratorBefore = concentrator.memoryStatusBytes("VmRSS");
        try (LabProcess holder = startHolder()) {
            long[] opened = open(holder, IDLE_CONNECTIONS, 64, 30_000);
            assertEquals(IDLE_CONNECTIONS, opened[0], "idle connections held (" + opened[1] + " failed)\n" + logs());
            echo.verifiedTransfer(MIB);
            long setup = echo.medianSetupNanos();
            long cpeRss = cpe.memoryStatusBytes("VmRSS");
            long concentratorRss = concentrator.memoryStatusBytes("VmRSS");
            System.out.printf("fault matrix (%s): %d idle connections opened in %.1f s; RSS cpe %d -> %d MiB (peak %d), "
                            + "concentrator %d -> %d MiB (peak %d); new connection setup %.1f ms (normal %.1f ms)%n",
                    engine(), IDLE_CONNECTIONS, opened[2] / 1e3, cpeBefore >> 20, cpeRss >> 20,
                    cpe.memoryStatusBytes("VmHWM") >> 20, concentratorBefore >> 20, concentratorRss >> 20,
                    concentrator.memoryStatusBytes("VmHWM") >> 20, setup / 1e6, normalSetupNanos / 1e6);
            long bound = (long) IDLE_CONNECTIONS * IDLE_BYTES_PER_CONNECTION;
            assertTrue(cpeRss - cpeBefore <= bound, "cpe grew " + ((cpeRss - cpeBefore) >> 20) + " MiB");
            assertTrue(concentratorRss - concentratorBefore <= bound,
                    "concentrator grew " + ((concentratorRss - concentratorBefore) >> 20) + " MiB");
            assertTrue(setup <= 2 * Math.max(normalSetupNanos, 10_000_000L),
                    "setup " + setup / 1e6 + " ms next to the idle connections, normal " + normalSetupNanos / 1e6);
            holder.request("close", Duration.ofMinutes(2));
        }
        echo.verifiedTransfer(MIB);
    }

    /**
     * A concentrator whose RLIMIT_NOFILE is below what max-connections needs (it starts with a warning), driven past
     * it: the connections beyond what it can hold are refused, counted and logged; the process lives on, a transfer
     * running meanwhile stays byte-exact, and once connections close new ones work again.
     */
    @Test
    @Order(6)
    void runningOutOfFileDescriptorsRefusesTheExcessAndRecovers() throws Exception {
        concentrator.stop(Duration.ofSeconds(10));
        concentrator = ApplianceLauncher.startWithOpenFiles(lab.conc(), lowOpenFilesConf, concentratorReady(),
                LOW_OPEN_FILES);
        try {
            assertTrue(concentrator.stdout().contains("RLIMIT_NOFILE is " + LOW_OPEN_FILES), concentrator.stdout());
            awaitWorking(Duration.ofSeconds(30));
            Future<?> transfer = threads.submit(() -> {
                echo.verifiedTransfer(16 * MIB);
                return null;
            });
            long[] opened;
            try (LabProcess holder = startHolder()) {
                opened = open(holder, LOW_MAX_CONNECTIONS + 100, 32, 5_000);
                assertTrue(concentrator.isAlive(), "the concentrator died\n" + logs());
                // The holder sees a refusal as soon as the cpe resets its connection; the concentrator's counters
                // are read by a scrape that may come a moment earlier than the last of them is counted.
                String scrape = LabMetrics.scrape(lab.conc());
                for (int i = 0; i < 50 && LabMetrics.sum(scrape, "hybridproxy_connections_refused_total") < opened[1];
                     i++) {
                    Thread.sleep(100);
                    scrape = LabMetrics.scrape(lab.conc());
                }
                System.out.printf("fault matrix (%s): RLIMIT_NOFILE %d: %d connections held, %d refused in %.1f s; "
                                + "counted: %s%n", engine(), LOW_OPEN_FILES, opened[0], opened[1], opened[2] / 1e3,
                        refusalCounters(scrape));
                assertTrue(opened[1] > 0, "nothing refused: the limit was not reached");
                assertTrue(opened[0] > 0, "nothing held");
                // Refused as over the (descriptor-bounded) connection limit: answered, counted and logged; not left
                // in the listen backlog nor answered with a network failure (what EMFILE did).
                assertTrue(LabMetrics.sum(scrape, "hybridproxy_connections_refused_total") >= opened[1],
                        "refusals not counted: " + refusalCounters(scrape));
                assertEquals(0, LabMetrics.sum(scrape, "hybridproxy_convert_errors_total", "code=\"65\""),
                        "network failures answered: " + refusalCounters(scrape));
                assertTrue(concentrator.stdout().contains("connection limit ("), "no refusal logged\n" + logs());
                awaitTransfer(transfer);
                holder.request("close", Duration.ofMinutes(2));
            }
            double recovered = awaitWorking(Duration.ofSeconds(30));
            try (LabProcess holder = startHolder()) {
                long[] again = open(holder, 50, 16, 10_000);
                assertEquals(50, again[0], "after the connections closed, " + again[1] + " of 50 still refused");
            }
            System.out.printf("fault matrix (%s): working %.1f s after the held connections closed%n", engine(),
                    recovered);
            if (engine().equals("kernel")) {
                // What the descriptor clamp promises: the excess refused, never accept() failing with EMFILE, which
                // pauses the listener a second at a time while connections (the cpe's ready ones too) wait in its
                // queue. Refused connections lingering beyond the descriptors the clamp left did that.
                assertFalse(concentrator.stdout().contains("Too many open files"),
                        "the concentrator ran out of descriptors after all\n" + diagnostics());
                awaitWarmPoolRefilled();
            }
        } finally {
            concentrator.stop(Duration.ofSeconds(10));
            concentrator = ApplianceLauncher.start(lab.conc(), concentratorConf, concentratorReady());
            awaitWorking(Duration.ofSeconds(30));
        }
    }

    /**
     * A soak, not run by default ({@code -Dhybridproxy.fd-cycles=N} runs it): the descriptor exhaustion of
     * {@link #runningOutOfFileDescriptorsRefusesTheExcessAndRecovers} N times on one concentrator, each cycle a
     * transfer beside 600 connections from {@code -Dhybridproxy.fd-cycle-parallel} (default 32) threads, then the
     * recovery; it prints each cycle's recovery time and fails on the first cycle that does not recover or in which
     * accept() ran out of descriptors. The recovery failed once in a clean-clone CI run and never in 50 cycles here;
     * this is how to look for it again (docs/decisions.md).
     */
    @Test
    @Order(7)
    void descriptorExhaustionCycles() throws Exception {
        int cycles = Integer.getInteger("hybridproxy.fd-cycles", 0);
        Assumptions.assumeTrue(cycles > 0, "a soak: -Dhybridproxy.fd-cycles=N runs it");
        concentrator.stop(Duration.ofSeconds(10));
        concentrator = ApplianceLauncher.startWithOpenFiles(lab.conc(), lowOpenFilesConf, concentratorReady(),
                LOW_OPEN_FILES);
        try {
            awaitWorking(Duration.ofSeconds(30));
            for (int cycle = 1; cycle <= cycles; cycle++) {
                Future<?> transfer = threads.submit(() -> {
                    echo.verifiedTransfer(16 * MIB);
                    return null;
                });
                long[] opened;
                try (LabProcess holder = startHolder()) {
                    opened = open(holder, LOW_MAX_CONNECTIONS + 100, Integer.getInteger("hybridproxy.fd-cycle-parallel",
                            32), 5_000);
                    awaitTransfer(transfer);
                    holder.request("close", Duration.ofMinutes(2));
                }
                double recovered = awaitWorking(Duration.ofSeconds(30));
                System.out.printf("fault matrix (%s): descriptor exhaustion cycle %d: %d held, %d refused; working "
                        + "%.1f s after the close%n", engine(), cycle, opened[0], opened[1], recovered);
                if (engine().equals("kernel")) {
                    assertFalse(concentrator.stdout().contains("Too many open files"), "cycle " + cycle
                            + ": accept() ran out of descriptors\n" + diagnostics());
                    awaitWarmPoolRefilled();
                }
            }
        } finally {
            concentrator.stop(Duration.ofSeconds(10));
            concentrator = ApplianceLauncher.start(lab.conc(), concentratorConf, concentratorReady());
            awaitWorking(Duration.ofSeconds(30));
        }
    }

    /**
     * The cpe's warm pool holds its configured size again (8 ready connections; the lab's cpe keeps the default):
     * refused and lost ready connections during the exhaustion put its shares in back-off, from which each must come
     * back by itself (a retry a second).
     */
    private void awaitWarmPoolRefilled() throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        long ready;
        while ((ready = LabMetrics.sum(LabMetrics.scrape(lab.cpe()), "hybridproxy_cpe_warm_pool_ready")) < 8) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the cpe's warm pool holds " + ready + " ready connections of 8, 15 s after "
                        + "the concentrator served again\n" + diagnostics());
            }
            Thread.sleep(200);
        }
    }

    /** The transfer run beside the exhaustion: byte-exact, or a failure that shows both appliances' state. */
    private void awaitTransfer(Future<?> transfer) throws Exception {
        try {
            transfer.get(120, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new AssertionError("the transfer beside the exhaustion failed: " + e + "\n" + diagnostics(), e);
        }
    }

    private LabProcess startHolder() {
        return lab.client().startControlled("idle-holder", JavaLauncher.command(JavaLauncher.DEFAULT_JVM_ARGS,
                IdleConnectionHolder.class.getName(), HybridAccessLab.CLIENT_ADDR, HybridAccessLab.SERVER_ADDR,
                String.valueOf(ECHO_PORT)).toArray(String[]::new));
    }

    /** {held, failed, millis} after the holder opened {@code count} more connections. */
    private static long[] open(LabProcess holder, int count, int parallel, int timeoutMillis) {
        String reply = holder.request("open " + count + " " + parallel + " " + timeoutMillis, Duration.ofMinutes(15));
        long[] figures = new long[3];
        for (String field : reply.substring(3).split(" ")) {
            String[] kv = field.split("=");
            int i = List.of("held", "failed", "millis").indexOf(kv[0]);
            figures[i] = Long.parseLong(kv[1]);
        }
        return figures;
    }

    private static String refusalCounters(String scrape) {
        return scrape.lines().filter(l -> !l.startsWith("#") && (l.contains("refus") || l.contains("accept_errors")
                || l.contains("convert_errors")) && !l.endsWith(" 0.0")).toList().toString();
    }

    private String logs() {
        String c = concentrator.stdout();
        String p = cpe.stdout();
        return "--- concentrator (log tail) ---\n" + c.substring(Math.max(0, c.length() - 8000))
                + "\n--- cpe (log tail) ---\n" + p.substring(Math.max(0, p.length() - 8000));
    }

    /**
     * Retries a verified 1 MiB transfer until one succeeds; returns the seconds it took. The attempts that failed are
     * printed (when each ended and why), so a slow recovery says whether clients were refused quickly or hung.
     */
    private double awaitWorking(Duration limit) throws Exception {
        long start = System.nanoTime();
        Exception last = null;
        List<String> failed = new java.util.ArrayList<>();
        while (System.nanoTime() - start < limit.toNanos()) {
            try {
                echo.verifiedTransfer(MIB);
                double seconds = (System.nanoTime() - start) / 1e9;
                if (!failed.isEmpty()) {
                    System.out.printf("fault matrix (%s): working after %.1f s; attempts before: %s%n", engine(),
                            seconds, failed);
                }
                return seconds;
            } catch (Exception e) {
                last = e;
                failed.add(String.format("%.1f s %s", (System.nanoTime() - start) / 1e9, e));
                Thread.sleep(200);
            }
        }
        throw new AssertionError("no working connection within " + limit + ": " + last + "; attempts: " + failed
                + "\n" + diagnostics(), last);
    }

    /**
     * What a failed recovery leaves to look at: both appliances' log tails, their connection, refusal and warm-pool
     * meters, and the sockets in each namespace (a listener's Recv-Q is its accept queue: connections the kernel
     * completed that the appliance has not accepted).
     */
    private String diagnostics() {
        StringBuilder out = new StringBuilder(logs());
        for (var side : List.of(java.util.Map.entry("concentrator", lab.conc()), java.util.Map.entry("cpe", lab.cpe()))) {
            out.append("\n--- ").append(side.getKey()).append(" meters ---\n");
            try {
                LabMetrics.scrape(side.getValue()).lines().filter(l -> !l.startsWith("#") && (l.contains("warm_pool")
                        || l.contains("refus") || l.contains("accept") || l.contains("convert_errors")
                        || l.contains("connections_active") || l.contains("open_fds"))).forEach(l -> out.append(l).append('\n'));
            } catch (Exception e) {
                out.append("scrape failed: ").append(e).append('\n');
            }
            out.append("--- ").append(side.getKey()).append(" sockets (ss -tanH state summary, listeners) ---\n");
            var sockets = side.getValue().tryExec(Duration.ofSeconds(10), "ss", "-tanH");
            java.util.Map<String, Long> states = new java.util.TreeMap<>();
            sockets.stdout().lines().map(l -> l.split("\\s+")[0]).forEach(st -> states.merge(st, 1L, Long::sum));
            out.append(states).append('\n');
            out.append(side.getValue().tryExec(Duration.ofSeconds(10), "ss", "-ltnH").stdout());
            // Where a hung connection's bytes wait: a connection with bytes queued on either side, with its TCP and
            // MPTCP state (window, cwnd, unacked, the MPTCP level's send and receive sequence), at most 20 of each.
            out.append(queuedTcpSockets(side.getKey(), side.getValue()));
            out.append("--- ").append(side.getKey()).append(" MPTCP sockets with bytes queued (ss -MniH) ---\n");
            out.append(queuedSockets(side.getValue().tryExec(Duration.ofSeconds(10), "ss", "-MnimH").stdout()));
        }
        // The ends of the path: the echo server's sockets and the LAN client's. An echo server that stopped reading
        // shows a full Recv-Q on its side with nothing queued in the appliances; the appliances then hold no bytes.
        for (var end : List.of(java.util.Map.entry("server", lab.server()), java.util.Map.entry("client", lab.client()))) {
            out.append(queuedTcpSockets(end.getKey(), end.getValue()));
        }
        out.append("--- this JVM's echo server threads (virtual) ---\n").append(echoThreads());
        // Whether each connected socket of an appliance is in an event loop's epoll set, and for what: a relay that
        // stopped reading shows EPOLLIN missing on a socket with bytes to read; a lost registration shows none.
        for (var side : List.of(java.util.Map.entry(concentrator, lab.conc()), java.util.Map.entry(cpe, lab.cpe()))) {
            out.append("--- ").append(side.getKey()).append(" connected sockets and their epoll interest ---\n");
            String ss = side.getValue().tryExec(Duration.ofSeconds(10), "ss", "-tneH", "state", "established").stdout()
                    + side.getValue().tryExec(Duration.ofSeconds(10), "ss", "-MneH").stdout();
            out.append(epollInterest(side.getKey().pid(), ss));
            // The MPTCP receive path's counters since the namespace was made (out-of-order queueing, pruning).
            out.append("--- ").append(side.getKey()).append(" MPTCP counters (nstat -asz MPTcp*) ---\n");
            side.getValue().tryExec(Duration.ofSeconds(10), "nstat", "-asz").stdout().lines()
                    .filter(l -> l.startsWith("MPTcp") && !l.matches("\\S+\\s+0\\s.*"))
                    .forEach(l -> out.append(l).append('\n'));
        }
        for (LabProcess appliance : List.of(concentrator, cpe)) {
            out.append("--- ").append(appliance).append(" threads (event loops and acceptors) ---\n")
                    .append(threadsOf(appliance));
        }
        return out.toString();
    }

    /** A heading and the established TCP sockets of {@code ns} with bytes queued ({@link #queuedSockets}). */
    private static String queuedTcpSockets(String name, Netns ns) {
        return "--- " + name + " established TCP sockets with bytes queued (ss -tniH) ---\n" + queuedSockets(
                ns.tryExec(Duration.ofSeconds(10), "ss", "-tnimH", "state", "established").stdout());
    }

    /**
     * The entries of {@code ss -i} output (a socket line, then its indented detail line) whose Recv-Q or Send-Q is not
     * zero, at most 20. With {@code state established} ss leaves the state column out, so the queues are the first two
     * numbers of the socket line either way.
     */
    private static String queuedSockets(String ss) {
        StringBuilder kept = new StringBuilder();
        int count = 0;
        String socket = null;
        for (String line : ss.split("\n")) {
            if (!line.startsWith(" ") && !line.startsWith("\t")) {
                socket = line;
                continue;
            }
            if (socket == null) {
                continue;
            }
            String[] queues = socket.trim().replaceFirst("^[A-Z-]+\\s+", "").split("\\s+");
            if (queues.length > 1 && (!(queues[0].equals("0") && queues[1].equals("0")) || unacknowledged(line))
                    && count++ < 20) {
                kept.append(socket).append('\n').append(line).append('\n');
            }
            socket = null;
        }
        return kept.isEmpty() ? "(none)\n" : kept.toString();
    }

    /**
     * Each socket line of {@code ss} ({@code -e}: with its inode) followed by the process's descriptor for that socket
     * and the events each epoll set of the process waits for on it, from {@code /proc/PID/fdinfo} (epoll(7): an
     * epoll descriptor's fdinfo lists every registered descriptor as {@code tfd: N events: MASK}). A subflow has no
     * descriptor of its own. At most 80 sockets.
     */
    private static String epollInterest(long pid, String ss) {
        try {
            java.util.Map<String, String> fdByInode = new java.util.HashMap<>();
            List<String> epolls = new java.util.ArrayList<>();
            try (var fds = Files.list(Path.of("/proc", String.valueOf(pid), "fd"))) {
                for (Path fd : (Iterable<Path>) fds::iterator) {
                    String target;
                    try {
                        target = Files.readSymbolicLink(fd).toString();
                    } catch (IOException closedMeanwhile) {
                        continue;
                    }
                    if (target.startsWith("socket:[")) {
                        fdByInode.put(target.substring(8, target.length() - 1), fd.getFileName().toString());
                    } else if (target.contains("eventpoll")) {
                        epolls.add(fd.getFileName().toString());
                    }
                }
            }
            java.util.Map<String, String> interest = new java.util.HashMap<>();
            for (String epoll : epolls) {
                for (String line : Files.readAllLines(Path.of("/proc", String.valueOf(pid), "fdinfo", epoll))) {
                    String[] f = line.trim().split("\\s+");
                    if (f.length >= 4 && f[0].equals("tfd:") && f[2].equals("events:")) {
                        interest.merge(f[1], "epoll " + epoll + " events 0x" + f[3] + " " + epollEvents(f[3]),
                                (a, b) -> a + "; " + b);
                    }
                }
            }
            StringBuilder out = new StringBuilder();
            int count = 0;
            java.util.regex.Pattern inode = java.util.regex.Pattern.compile("\\bino:(\\d+)");
            for (String line : ss.split("\n")) {
                var m = inode.matcher(line);
                if (!m.find() || count++ >= 80) {
                    continue;
                }
                String fd = fdByInode.get(m.group(1));
                out.append(line.replaceAll("\\s+", " ").trim()).append("\n    -> ")
                        .append(fd == null ? "no descriptor (a subflow, or not this process's)"
                                : "fd " + fd + ": " + interest.getOrDefault(fd, "in no epoll set"))
                        .append('\n');
            }
            return out.isEmpty() ? "(none)\n" : out.toString();
        } catch (IOException | RuntimeException e) {
            return "cannot read /proc/" + pid + ": " + e + "\n";
        }
    }

    private static String epollEvents(String hexMask) {
        int mask = Integer.parseInt(hexMask, 16);
        List<String> names = new java.util.ArrayList<>();
        String[] known = {"IN", "PRI", "OUT", "ERR", "HUP"};
        for (int bit = 0; bit < known.length; bit++) {
            if ((mask & (1 << bit)) != 0) {
                names.add(known[bit]);
            }
        }
        if ((mask & 0x2000) != 0) {
            names.add("RDHUP");
        }
        if ((mask & (1 << 31)) != 0) {
            names.add("ET");
        }
        return names.toString();
    }

    /**
     * The stacks of this JVM's threads that run the echo server and the verified transfers (virtual threads, which
     * only {@code jcmd Thread.dump_to_file} lists): a transfer or echo parked in a socket read or write shows here.
     */
    private static String echoThreads() {
        try {
            Path dump = Files.createTempFile("fault-matrix-threads", ".txt");
            Files.delete(dump);
            Process jcmd = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                    String.valueOf(ProcessHandle.current().pid()), "Thread.dump_to_file", dump.toString())
                    .redirectErrorStream(true).start();
            jcmd.getInputStream().readAllBytes();
            jcmd.waitFor(30, TimeUnit.SECONDS);
            StringBuilder kept = new StringBuilder();
            for (String thread : Files.readString(dump).split("\n\n")) {
                if (thread.contains("EchoServer") || thread.contains("LabEcho")) {
                    kept.append(thread).append("\n\n");
                }
            }
            Files.deleteIfExists(dump);
            return kept.isEmpty() ? "(none)\n" : kept.toString();
        } catch (IOException | InterruptedException e) {
            return "jcmd failed: " + e + "\n";
        }
    }

    /** An MPTCP socket's detail line whose data level still has bytes unacknowledged (its Send-Q does not show them). */
    private static boolean unacknowledged(String detail) {
        var written = java.util.regex.Pattern.compile("write_seq:(\\w+) snd_una:(\\w+)").matcher(detail);
        return written.find() && !written.group(1).equals(written.group(2));
    }

    /** The stacks of an appliance's Netty threads (jcmd Thread.print): a blocked event loop shows here. */
    private static String threadsOf(LabProcess appliance) {
        try {
            Process jcmd = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                    String.valueOf(appliance.pid()), "Thread.print").redirectErrorStream(true).start();
            String dump = new String(jcmd.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            jcmd.waitFor(30, TimeUnit.SECONDS);
            StringBuilder kept = new StringBuilder();
            for (String thread : dump.split("\n\n")) {
                if (thread.startsWith("\"") && (thread.contains("EventLoop") || thread.contains("accept")
                        || thread.contains("hybridproxy") || thread.contains("Io"))) {
                    kept.append(thread).append("\n\n");
                }
            }
            return kept.toString();
        } catch (IOException | InterruptedException e) {
            return "jcmd failed: " + e + "\n";
        }
    }
}
