package net.hybridproxy.loadtest.bench;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The figures derived from raw measurements: failover stall and the ratios. */
class ReportTest {

    @Test
    void theStallIsTheLongestQuietRunAfterTheFault() {
        // 100 ms buckets; 62 500 bytes per bucket is 5 Mbit/s.
        long[] buckets = {0, 62_500, 62_500, 0, 62_500, 0, 0, 0, 100, 62_500, 62_500};
        assertEquals(0.4, BenchmarkRunner.longestStall(buckets, 0.3, 1.0, 1.0), 1e-9);
        // Quiet buckets before the fault do not count.
        assertEquals(0.1, BenchmarkRunner.longestStall(buckets, 0.8, 1.0, 1.0), 1e-9);
        // A transfer that never comes back stalls until the sender stops.
        long[] dead = {62_500, 62_500, 0, 0, 0, 0};
        assertEquals(0.4, BenchmarkRunner.longestStall(dead, 0.2, 0.5, 1.0), 1e-9);
        assertEquals(0, BenchmarkRunner.deliveredAfter(dead, 0.2));
        assertEquals(100 + 62_500 + 62_500, BenchmarkRunner.deliveredAfter(buckets, 0.8));
    }

    @Test
    void ratiosCompareWithTheLinkSumAndTheBestSystemThatIsNotThisProject() {
        List<Map<String, Object>> rows = new ArrayList<>();
        rows.add(row("direct", 40.0));
        rows.add(row("mptcp-e2e", 80.0));
        rows.add(row("hybridproxy", 60.0));
        Map<String, Object> skipped = row("hybridproxy-userspace", null);
        skipped.put("skipped", "userspace engine: not yet available");
        rows.add(skipped);
        Report.addRatios(rows);
        assertEquals(0.75, rows.get(2).get("ratioToBestPeer"));
        assertEquals(0.6, rows.get(2).get("ratioToLinkSum"));
        assertEquals(1.0, rows.get(1).get("ratioToBestPeer"));
        assertFalse(rows.get(3).containsKey("ratioToBestPeer"));

        Map<String, Object> report = new LinkedHashMap<>();
        report.put("suite", "test");
        report.put("machine", Map.of("cores", 2));
        String md = Report.markdown(report, rows);
        assertTrue(md.contains("| equal | hybridproxy | 60.00 | 0.60 | 0.75 |"), md);
        assertTrue(md.contains("userspace engine: not yet available"), md);
        assertTrue(Report.goodputBars(rows).startsWith("<svg"));
    }

    private static Map<String, Object> row(String system, Double goodput) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("scenario", "equal");
        r.put("system", system);
        r.put("linkSumMbit", 100.0);
        if (goodput != null) {
            r.put("goodputMbps", goodput);
        }
        return r;
    }
}
