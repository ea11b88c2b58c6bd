package net.hybridproxy.loadtest.e2e;

import net.hybridproxy.loadtest.lab.ApplianceConfigs;
import net.hybridproxy.loadtest.lab.ApplianceLauncher;
import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.HybridAccessLab.Link;
import net.hybridproxy.loadtest.lab.LabProcess;
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

    private HybridAccessLab lab;
    private LabEcho echo;
    private LabProcess concentrator;
    private LabProcess cpe;
    private Path concentratorConf;
    private Path cpeConf;
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
        concentratorConf = Files.writeString(configs.resolve("conc.conf"), ApplianceConfigs.concentrator(engine(),
                "[::]:" + CONCENTRATOR_PORT, "cpe-e2e", "").replace("role = concentrator",
                "role = concentrator\n  shutdown-grace-period = 3s"));
        cpeConf = Files.writeString(configs.resolve("cpe.conf"), ApplianceConfigs.cpe(engine(),
                HybridAccessLab.SERVICE_ADDR + ":" + CONCENTRATOR_PORT, "cpe-e2e", true, List.of(ECHO_PORT)));
        concentrator = ApplianceLauncher.start(lab.conc(), concentratorConf, concentratorReady());
        cpe = ApplianceLauncher.start(lab.cpe(), cpeConf, "cpe listener lan");
        awaitWorking(Duration.ofSeconds(30));
    }

    @AfterAll
    void stopLab() throws Exception {
        threads.shutdownNow();
        if (echo != null) {
            echo.close();
        }
        if (lab != null) {
            lab.close();
        }
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

    /** Retries a verified 1 MiB transfer until one succeeds; returns the seconds it took. */
    private double awaitWorking(Duration limit) throws Exception {
        long start = System.nanoTime();
        Exception last = null;
        while (System.nanoTime() - start < limit.toNanos()) {
            try {
                echo.verifiedTransfer(MIB);
                return (System.nanoTime() - start) / 1e9;
            } catch (Exception e) {
                last = e;
                Thread.sleep(200);
            }
        }
        throw new AssertionError("no working connection within " + limit + ": " + last + "\n--- concentrator ---\n"
                + concentrator.stdout() + "\n--- cpe ---\n" + cpe.stdout(), last);
    }
}
