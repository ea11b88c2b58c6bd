package net.hybridproxy.loadtest.e2e;

import net.hybridproxy.loadtest.lab.ApplianceConfigs;
import net.hybridproxy.loadtest.lab.ApplianceLauncher;
import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.HybridAccessLab.Link;
import net.hybridproxy.loadtest.lab.LabProcess;
import net.hybridproxy.loadtest.lab.Teardown;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.net.Socket;
import java.net.SocketTimeoutException;
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
 * A concentrator that accepts the cpe's connection (kernel engine: a new or a warm-pool MPTCP connection; userspace
 * engine: a stream of an established session) and never sends the Convert reply: the LAN client is reset after
 * {@code cpe.convert-reply-timeout} instead of being held until {@code relay.idle-timeout} (2 h), the concentrator
 * connection is reset too, the timeout is counted, logged once per interval, and marks the concentrator down.
 *
 * <p>The concentrator here is real and otherwise healthy; what keeps it silent is its own connect to a destination
 * whose SYNs are dropped (an nftables rule in the server namespace), bounded by a {@code relay.connect-timeout} of
 * 120 s set above the cpe's bound of 3 s on purpose. With the defaults the concentrator answers first (Destination
 * Unreachable after its 10 s, within the cpe's 20 s): reference.conf says why the bound is what it is.
 */
class ConvertReplyTimeoutNetnsTest {
    private static final int CONCENTRATOR_PORT = 5100;
    private static final int ECHO_PORT = 7007;
    /** A destination port whose SYNs the server namespace drops. */
    private static final int SILENT_PORT = 7009;
    /**
     * The cpe's bound here. Short, so the test is short, but not shorter: on a loaded two-core machine a cold
     * concentrator's reply to an ordinary echo took more than 2 s once, and the bound did its job on it.
     */
    private static final Duration BOUND = Duration.ofSeconds(3);
    /** Parallel LAN connections to the silent destination: more than the kernel cpe's warm pool holds (8). */
    private static final int CLIENTS = 12;

    @ParameterizedTest
    @ValueSource(strings = {"kernel", "userspace"})
    void aConcentratorThatNeverRepliesResetsTheClientAfterTheBound(String engine) throws Exception {
        String skip = HybridAccessLab.skipReason();
        Assumptions.assumeTrue(skip == null, skip);
        HybridAccessLab lab = HybridAccessLab.builder().rate(Link.DSL, 100).rate(Link.LTE, 50)
                .uplinkPolicyRouting(false).build();
        ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
        LabEcho echo = null;
        try {
            echo = new LabEcho(lab, ECHO_PORT);
            lab.server().exec("nft", "add", "table", "inet", "silent");
            lab.server().exec("nft", "add", "chain", "inet", "silent", "input", "{", "type", "filter", "hook", "input",
                    "priority", "0", ";", "}");
            lab.server().exec("nft", "add", "rule", "inet", "silent", "input", "tcp", "dport",
                    String.valueOf(SILENT_PORT), "drop");
            Path dir = Files.createTempDirectory("hybridproxy-convert-reply");
            Path concentratorConf = Files.writeString(dir.resolve("conc.conf"), ApplianceConfigs.concentrator(engine,
                    "[::]:" + CONCENTRATOR_PORT, "cpe-e2e", "") + "hybridproxy.relay.connect-timeout = 120s\n");
            Path cpeConf = Files.writeString(dir.resolve("cpe.conf"), ApplianceConfigs.cpe(engine,
                    HybridAccessLab.SERVICE_ADDR + ":" + CONCENTRATOR_PORT, "cpe-e2e", true,
                    List.of(ECHO_PORT, SILENT_PORT)) + "hybridproxy.cpe.convert-reply-timeout = " + BOUND.toMillis()
                    + "ms\n");
            LabProcess concentrator = ApplianceLauncher.start(lab.conc(), concentratorConf, engine.equals("kernel")
                    ? "concentrator listening (MPTCP)" : "concentrator listening (userspace");
            LabProcess cpe = ApplianceLauncher.start(lab.cpe(), cpeConf, "cpe listener lan");
            awaitEcho(echo);
            if (engine.equals("kernel")) {
                Thread.sleep(1000); // the warm pool fills
            }

            // Counted from here: a cold concentrator on a loaded machine may miss the test's short bound for one of the
            // echoes above too (which is the bound doing its job).
            long timeoutsBefore = LabMetrics.sum(LabMetrics.scrape(lab.cpe()), "hybridproxy_connections_refused_total",
                    "reason=\"convert_reply_timeout\"");
            long linesBefore = timeoutLines(cpe);
            burst(echo, threads, CLIENTS, engine, "first burst", cpe, concentrator);

            String scrape = LabMetrics.scrape(lab.cpe());
            assertEquals(timeoutsBefore + CLIENTS, LabMetrics.sum(scrape, "hybridproxy_connections_refused_total",
                    "reason=\"convert_reply_timeout\""), () -> scrape + logs(cpe, concentrator));
            assertEquals(0, LabMetrics.sum(scrape, "hybridproxy_cpe_concentrator_up"),
                    "two reply timeouts in a row mark the concentrator down\n" + scrape);
            if (engine.equals("kernel")) {
                System.out.printf("convert reply timeout (kernel): warm pool takes hit=%d miss=%d%n",
                        LabMetrics.sum(scrape, "hybridproxy_cpe_warm_pool_takes_total", "outcome=\"hit\""),
                        LabMetrics.sum(scrape, "hybridproxy_cpe_warm_pool_takes_total", "outcome=\"miss"));
                assertTrue(LabMetrics.sum(scrape, "hybridproxy_cpe_warm_pool_takes_total", "outcome=\"hit\"") > 0,
                        "a warm-pool connection's wait was bounded too\n" + scrape);
            }
            // At most one WARN line for the burst (one per 10 s per concentrator; none if one was written for an echo
            // above less than 10 s before, whose next line will carry the count), not one per client.
            long lines = timeoutLines(cpe) - linesBefore;
            assertTrue(lines <= 1, () -> lines + " lines\n" + logs(cpe, concentrator));
            assertTrue(timeoutLines(cpe) > 0, () -> logs(cpe, concentrator));
            // Again, with the timeout's own code paths warm in the cpe (the first burst's timings include their
            // first run, which on a loaded machine costs seconds of a starved fresh JVM).
            burst(echo, threads, 4, engine, "second burst", cpe, concentrator);
            // The concentrator side was reset too: the concentrator gives up its connects to the silent destination
            // instead of keeping them for its 120 s.
            awaitNoConnectsToTheSilentDestination(lab, cpe, concentrator);
            // The concentrator is still used (none better is configured) and serves the next client.
            awaitEcho(echo);
        } finally {
            LabEcho opened = echo;
            Teardown.closeAll(threads::shutdownNow, opened, lab);
        }
    }

    /** {@code clients} parallel LAN connections to the silent destination: each reset after the bound, not held. */
    private static void burst(LabEcho echo, ExecutorService threads, int clients, String engine, String name,
                              LabProcess cpe, LabProcess concentrator) throws Exception {
        List<Future<Double>> waits = new ArrayList<>();
        for (int i = 0; i < clients; i++) {
            waits.add(threads.submit(() -> secondsUntilClosed(echo)));
        }
        List<Double> seconds = new ArrayList<>();
        for (Future<Double> wait : waits) {
            seconds.add(wait.get(90, TimeUnit.SECONDS));
        }
        System.out.printf("convert reply timeout (%s), %s: %d clients reset after %s s (bound %d ms, from before "
                + "each client's connect)%n", engine, name, clients, seconds.stream()
                .map(s -> String.format("%.2f", s)).toList(), BOUND.toMillis());
        for (double s : seconds) {
            assertTrue(s >= BOUND.toMillis() / 1000.0 * 0.9, "reset after " + s + " s, before the bound");
            assertTrue(s < 20, "reset after " + s + " s\n" + logs(cpe, concentrator));
        }
    }

    /** A LAN connection to the silent destination: sends a byte, then waits; the seconds until it was closed. */
    private static double secondsUntilClosed(LabEcho echo) throws Exception {
        long start = System.nanoTime();
        try (Socket s = echo.connect(HybridAccessLab.SERVER_ADDR, SILENT_PORT)) {
            s.setSoTimeout(60_000);
            s.getOutputStream().write(1);
            try {
                int got = s.getInputStream().read();
                assertEquals(-1, got, "the silent destination answered");
            } catch (SocketTimeoutException held) {
                throw new AssertionError("the client was still held after 60 s", held);
            } catch (IOException reset) {
                // a reset: what the bound does
            }
        }
        return (System.nanoTime() - start) / 1e9;
    }

    private static long timeoutLines(LabProcess cpe) {
        return cpe.stdoutLines().stream().filter(l -> l.contains("no Convert reply from the concentrator")).count();
    }

    private static void awaitEcho(LabEcho echo) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (true) {
            try {
                echo.verifiedTransfer(1024);
                return;
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(200);
            }
        }
    }

    private static void awaitNoConnectsToTheSilentDestination(HybridAccessLab lab, LabProcess cpe,
                                                              LabProcess concentrator) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        String pending;
        while (!(pending = lab.conc().tryExec(Duration.ofSeconds(10), "ss", "-tnH", "state", "syn-sent", "dst",
                HybridAccessLab.SERVER_ADDR + ":" + SILENT_PORT).stdout().strip()).isEmpty()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the concentrator still connects to the silent destination:\n" + pending
                        + logs(cpe, concentrator));
            }
            Thread.sleep(200);
        }
    }

    private static String logs(LabProcess cpe, LabProcess concentrator) {
        String c = concentrator.stdout();
        String p = cpe.stdout();
        return "\n--- concentrator (log tail) ---\n" + c.substring(Math.max(0, c.length() - 6000))
                + "\n--- cpe (log tail) ---\n" + p.substring(Math.max(0, p.length() - 6000));
    }
}
