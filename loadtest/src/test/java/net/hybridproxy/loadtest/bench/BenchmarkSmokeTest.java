package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.lab.HybridAccessLab;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The benchmark runner's smoke scenario, as CI runs it: lab up (emulated DSL and LTE), the project in kernel mode
 * carrying a short verified download and small objects, lab down, nothing left behind. Checks correctness, not
 * speed.
 */
class BenchmarkSmokeTest {

    @Test
    void aShortVerifiedDownloadGoesThroughTheProjectAndTheLabLeavesNothingBehind() throws Exception {
        String skip = HybridAccessLab.skipReason();
        Assumptions.assumeTrue(skip == null, skip);
        Path out = Files.createDirectories(Path.of("target", "bench-smoke"));
        String runPrefix = "hpx" + ProcessHandle.current().pid() + "-";

        BenchmarkReport report = Report.write(new BenchmarkRunner(2000, out).run("smoke", List.of(Scenario.EQUAL),
                List.of(Systems.HYBRIDPROXY)), out);

        BenchmarkRow row = report.results().getFirst();
        String verdict = String.valueOf(row.serverVerdict());
        assertEquals(Boolean.TRUE, row.ok(), () -> "download not verified: " + row);
        assertTrue(verdict.contains("result=MATCH"), verdict);
        // The server saw the concentrator, not the client: the bytes went through the proxy pair.
        assertTrue(verdict.contains("peer=" + HybridAccessLab.CONC_SRV_ADDR + ":"), verdict);
        assertEquals(0L, row.bytesLost());
        assertEquals(Boolean.TRUE, row.ttfbOk(), () -> "small objects failed: " + row);
        assertEquals(Boolean.TRUE, row.setupOk(), () -> "objects failed with 32 clients at once: " + row);
        assertTrue(row.dslRttMs() != null && row.dslRttMs() >= 20, () -> "no DSL round trip measured: " + row);
        assertTrue(row.ttfbBeforeBurstP50Ms() != null, () -> "no TTFB before the setup run: " + row);
        // Every TTFB connection asked the cpe's warm pool, and the benchmark counted the answers.
        assertTrue(row.ttfbCounters() != null && row.ttfbCounters().entrySet().stream()
                .filter(e -> e.getKey().startsWith("cpe cpe_warm_pool_takes")).mapToLong(e -> e.getValue()).sum()
                == 240, () -> "warm-pool takes during the TTFB run: " + row.ttfbCounters());
        // The setup run's counters: every one of its connections asked the pool, and the kernel counted the
        // cpe's MPTCP handshakes (at least one per LAN connection that missed the pool, one per refill otherwise).
        assertTrue(row.setupRunCounters() != null && row.setupRunCounters().entrySet().stream()
                .filter(e -> e.getKey().startsWith("cpe cpe_warm_pool_takes")).mapToLong(e -> e.getValue()).sum()
                == 2300 && row.setupRunCounters().getOrDefault("cpe MPCapableSYNTX", 0L) > 0,
                () -> "setup-run counters: " + row.setupRunCounters());
        // Both appliances were charged with CPU for the per-connection cost run (JVMs spend well over 0.01 ms each).
        assertTrue(row.setupCost() != null && row.setupCost().entrySet().stream()
                .filter(e -> e.getKey().endsWith(" cpu ms") && e.getValue() > 0.01).count() == 2,
                () -> "per-connection cost: " + row.setupCost());
        assertTrue(row.longestStallMs() != null, () -> "no stall figure: " + row);
        double lteShare = row.lteShare();
        assertTrue(lteShare > 0.05 && lteShare < 0.95, "both uplinks should carry the download: " + row);
        assertTrue(Files.readString(out.resolve("results.md")).contains("| equal | hybridproxy |"));

        assertEquals(List.of(), HybridAccessLab.namespacesWithPrefix(runPrefix), "namespaces left behind");
        List<String> children = ProcessHandle.current().descendants()
                .filter(ProcessHandle::isAlive)
                .map(p -> p.info().commandLine().orElse("?"))
                .filter(c -> c.contains("net.hybridproxy") || c.contains("ip netns"))
                .toList();
        assertEquals(List.of(), children, "processes left behind");
    }
}
