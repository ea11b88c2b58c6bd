package net.hybridproxy.loadtest.e2e;

import net.hybridproxy.loadtest.lab.ApplianceConfigs;
import net.hybridproxy.loadtest.lab.ApplianceLauncher;
import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.HybridAccessLab.Link;
import net.hybridproxy.loadtest.lab.InterfaceCounters;
import net.hybridproxy.loadtest.lab.LabProcess;
import net.hybridproxy.loadtest.lab.TrafficResult;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A bypass rule with action = proxy under the userspace engine: the matched connection is a stream of the cpe's
 * session like any other, but its bytes go over the named uplink's subflows only, both ways (upload: the cpe's
 * scheduler; download: the concentrator, told by the DATA frames' P flag). The uplinks' interface counters say where
 * the bytes went; a connection no rule matches still uses both uplinks. The kernel engine's rules are shown by
 * {@code BypassNetnsE2eTest}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class UserspaceBypassNetnsE2eTest {
    private static final long MIB = 1024 * 1024;
    private static final long PAYLOAD = 8 * MIB;
    private static final int CONCENTRATOR_PORT = 5101;
    private static final int PINNED_RULE = 5014;

    private HybridAccessLab lab;
    private LabProcess concentrator;
    private LabProcess cpe;

    @BeforeAll
    void startLabAndAppliances() throws Exception {
        String skip = HybridAccessLab.skipReason();
        Assumptions.assumeTrue(skip == null, skip);
        lab = HybridAccessLab.builder().rate(Link.DSL, 100).rate(Link.LTE, 100).uplinkPolicyRouting(false).build();
        for (int port : List.of(HybridAccessLab.TRAFFIC_PORT, PINNED_RULE)) {
            lab.startTrafficServer(lab.server(), port);
        }
        Path configs = Files.createTempDirectory("hybridproxy-userspace-bypass");
        Path concentratorConf = Files.writeString(configs.resolve("concentrator.conf"),
                ApplianceConfigs.concentrator("userspace", "[::]:" + CONCENTRATOR_PORT, "cpe-bypass", ""));
        Path cpeConf = Files.writeString(configs.resolve("cpe.conf"), ApplianceConfigs.cpe("userspace",
                HybridAccessLab.SERVICE_ADDR + ":" + CONCENTRATOR_PORT, "cpe-bypass", true,
                List.of(HybridAccessLab.TRAFFIC_PORT, PINNED_RULE)) + """
                hybridproxy.cpe.bypass = [
                  { name = pinned, ports = ["%d"], action = proxy, uplink = lte }
                ]
                """.formatted(PINNED_RULE));
        concentrator = ApplianceLauncher.start(lab.conc(), concentratorConf, "concentrator listening");
        cpe = ApplianceLauncher.start(lab.cpe(), cpeConf, "cpe listener lan@lte");
        awaitSessions();
    }

    /**
     * Every session of the cpe established, and one unmatched transfer through: on a loaded machine a first session
     * may miss the concentrator's handshake deadline and be replaced, and the measured transfers must not race that.
     */
    private void awaitSessions() throws InterruptedException {
        String started = cpe.awaitStdoutLine(l -> l.contains("userspace engine: "), Duration.ofSeconds(30));
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("userspace engine: (\\d+) sessions").matcher(started);
        assertTrue(m.find(), started);
        int sessions = Integer.parseInt(m.group(1));
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (cpe.stdoutLines().stream().filter(l -> l.contains("session established")).count() < sessions) {
            assertTrue(System.nanoTime() < deadline, () -> "sessions not established:\n" + cpe.stdout());
            Thread.sleep(100);
        }
        for (int attempt = 0; attempt < 5; attempt++) {
            TrafficResult warmUp = lab.runTrafficClient(lab.client(), Duration.ofSeconds(30), "--connect",
                    HybridAccessLab.SERVER_ADDR + ":" + HybridAccessLab.TRAFFIC_PORT, "--up", String.valueOf(MIB));
            if (warmUp.ok()) {
                return;
            }
            Thread.sleep(1000);
        }
        throw new AssertionError("no warm-up transfer went through:\n" + cpe.stdout());
    }

    @AfterAll
    void stopEverything() {
        if (lab != null) {
            lab.close();
        }
    }

    /** What each uplink carried during one transfer, in the transfer's direction (tx upload, rx download). */
    private record Carried(TrafficResult result, long dsl, long lte) {
        String describe() {
            return result + "; dsl carried " + dsl + " B, lte " + lte + " B";
        }
    }

    private Carried transfer(int port, String direction) {
        InterfaceCounters dslBefore = lab.counters(Link.DSL);
        InterfaceCounters lteBefore = lab.counters(Link.LTE);
        TrafficResult result = lab.runTrafficClient(lab.client(), Duration.ofSeconds(60), "--connect",
                HybridAccessLab.SERVER_ADDR + ":" + port, "--" + direction, String.valueOf(PAYLOAD));
        InterfaceCounters dsl = lab.counters(Link.DSL).since(dslBefore);
        InterfaceCounters lte = lab.counters(Link.LTE).since(lteBefore);
        boolean up = direction.equals("up");
        Carried carried = new Carried(result, up ? dsl.txBytes() : dsl.rxBytes(), up ? lte.txBytes() : lte.rxBytes());
        assertTrue(result.ok(), () -> carried.describe() + "\n" + cpe.stdout() + "\n" + concentrator.stdout());
        System.out.println("userspace bypass e2e :" + port + " " + direction + ": " + carried.describe());
        return carried;
    }

    @Test
    void aProxyRuleKeepsTheProxyButCarriesTheConnectionOverOneUplinkBothWays() {
        for (String direction : List.of("up", "down")) {
            Carried pinned = transfer(PINNED_RULE, direction);
            if (direction.equals("up")) {
                // Only an upload learns the address the server saw (its verdict line names it).
                assertEquals(HybridAccessLab.CONC_SRV_ADDR, pinned.result().peerIpSeenByServer(),
                        "not proxied: " + pinned.describe());
            }
            assertTrue(pinned.lte() >= PAYLOAD, () -> "lte did not carry the payload: " + pinned.describe());
            // The session's control frames (DATA_ACKs of the other direction, probes) still use dsl: next to nothing.
            assertTrue(pinned.dsl() < PAYLOAD / 20, () -> "dsl carried a share: " + pinned.describe());

            Carried unmatched = transfer(HybridAccessLab.TRAFFIC_PORT, direction);
            assertTrue(unmatched.dsl() > PAYLOAD / 10 && unmatched.lte() > PAYLOAD / 10,
                    () -> "an unmatched connection should use both uplinks: " + unmatched.describe());
        }
    }
}
