package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.tool.ToolJson;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The figures derived from raw measurements (failover stall, ratios) and the results files. */
class ReportTest {
    private static final BenchmarkReport.MachineInfo MACHINE = new BenchmarkReport.MachineInfo(2, "test cpu", 24,
            "6.1", "25", 1.5, 20_000);

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
        List<BenchmarkRow> rows = new ArrayList<>();
        rows.add(row("direct", 40.0).build());
        rows.add(row("mptcp-e2e", 80.0).build());
        rows.add(row("hybridproxy", 60.0).build());
        BenchmarkRow.RowBuilder skipped = row("hybridproxy-userspace", null);
        skipped.skipped = "userspace engine: not yet available";
        rows.add(skipped.build());
        List<BenchmarkRow> withRatios = Report.addRatios(rows);
        assertEquals(0.75, withRatios.get(2).ratioToBestPeer());
        assertEquals(0.6, withRatios.get(2).ratioToLinkSum());
        assertEquals(1.0, withRatios.get(1).ratioToBestPeer());
        assertNull(withRatios.get(3).ratioToBestPeer());

        BenchmarkReport report = new BenchmarkReport("test", "2026-01-01", MACHINE, 3000, withRatios, 2.5);
        String md = Report.markdown(report);
        assertTrue(md.contains("| equal | hybridproxy | 60.00 | 0.60 | 0.75 |"), md);
        assertTrue(md.contains("userspace engine: not yet available"), md);
        assertTrue(Report.goodputBars(withRatios).startsWith("<svg"));
    }

    @Test
    void theProcessTableGivesEachJvmsCpuWithoutItsCompilersAndItsOwnPeakRss() {
        BenchmarkRow.RowBuilder r = row("hybridproxy-userspace", 70.0);
        r.verifiedBytes = 2_000_000_000L;
        r.proxyCpuSecondsByProcess = new java.util.LinkedHashMap<>(java.util.Map.of("cpe", 30.0));
        r.jitCpuSecondsByProcess = java.util.Map.of("cpe", 10.0);
        r.peakRssBytesByProcess = java.util.Map.of("cpe", 150L << 20);
        r.loadAverage = List.of(1.5, 2.25);
        String md = Report.markdown(new BenchmarkReport("steady", "2026-01-01", MACHINE, 20_000, List.of(r.build()),
                2.5));
        // (30 - 10) CPU s over 2 GB.
        assertTrue(md.contains("| equal | hybridproxy-userspace | cpe | 30.00 | 10.00 | 10.00 | 150 | 1.50 → 2.25 |"),
                md);
    }

    @Test
    void aJvmsCompilerThreadsAreFoundByName() {
        // This test runs in a HotSpot JVM whose C1 and C2 threads have compiled something by now.
        double jit = ProcessStats.compilerCpuSeconds(ProcessHandle.current().pid());
        double all = ProcessStats.of(List.of(ProcessHandle.current().pid())).cpuSeconds();
        assertTrue(jit > 0 && jit < all, jit + " of " + all);
        assertEquals(0, ProcessStats.compilerCpuSeconds(Long.MAX_VALUE));
    }

    @Test
    void aReportSurvivesItsJsonFileAndRendersTheSameAfterwards() throws IOException {
        BenchmarkRow.RowBuilder r = row("hybridproxy", 61.5);
        r.goodputTimeline = new double[] {0, 12.5, 60.25};
        r.uplinkTimeline = new UplinkTimeline(List.of(0.1, 0.2), List.of(30.0, 31.5), List.of(20.0, 0.0));
        r.blackholeAtSeconds = 0.15;
        r.outcomes = java.util.Map.of("ok", 1);
        r.serverVerdict = "DONE op=DOWN peer=198.18.0.1:5 sent=9 received=9 result=MATCH";
        BenchmarkReport report = new BenchmarkReport("test", "2026-01-01", MACHINE, 3000, List.of(r.build()), 2.5);
        Path dir = Files.createTempDirectory("report-test");
        BenchmarkReport written = Report.write(report, dir);
        BenchmarkReport read = Report.read(dir);
        assertEquals(ToolJson.line(written), ToolJson.line(read));
        assertEquals(Report.markdown(written), Report.markdown(read));
        assertTrue(Files.exists(dir.resolve("failover-hybridproxy.svg")));
    }

    /**
     * The committed results were written before the rows became records (a map per row): every one still reads, each
     * row renders, and a {@code results.md} rendered with today's table (older ones had fewer columns) comes out the
     * same from the records.
     */
    @Test
    void everyCommittedResultsFileReadsAndRendersItsCommittedMarkdown() throws IOException {
        Path results = Path.of("results");
        List<Path> dirs;
        try (Stream<Path> s = Files.list(results)) {
            dirs = s.filter(d -> Files.exists(d.resolve("results.json"))).sorted().toList();
        }
        assertFalse(dirs.isEmpty(), "no committed results under " + results.toAbsolutePath());
        int identical = 0;
        for (Path dir : dirs) {
            BenchmarkReport report = Report.read(dir);
            assertFalse(report.results().isEmpty(), dir.toString());
            String rendered = Report.markdown(report);
            for (BenchmarkRow row : report.results()) {
                assertTrue(rendered.contains("| " + row.scenario() + " | " + row.system() + " | "), dir + ": " + row);
            }
            String committed = Files.readString(dir.resolve("results.md"));
            String header = rendered.lines().filter(l -> l.startsWith("| scenario |")).findFirst().orElseThrow();
            if (committed.contains(header)) {
                assertEquals(committed, rendered, dir.toString());
                identical++;
            }
        }
        assertTrue(identical > 0, "no committed results.md has today's table");
    }

    @Test
    void theStallSeriesIsSummarisedAsDistributionsWithTheMedianAgainstEachPeer() {
        BenchmarkRow.RowBuilder mine = series("hybridproxy", List.of(50.0, 70.0, 60.0, 40.0, 80.0),
                List.of(100L, 0L, 300L, 100L, 200L));
        mine.seriesGoodputFromFirstByteMbps = List.of(55.0, 75.0, 66.0, 44.0, 88.0);
        mine.seriesFirstByteMs = List.of(100L, 200L, 900L, 100L, 300L);
        mine.loadAverage = List.of(3.0, 4.5);
        BenchmarkRow.RowBuilder ss = series("shadowsocks", List.of(60.0, 60.0, 60.0, 60.0, 60.0),
                List.of(0L, 0L, 0L, 0L, 100L));
        ss.seriesGoodputFromFirstByteMbps = List.of(66.0, 66.0, 66.0, 66.0, 66.0);
        BenchmarkRow.RowBuilder haproxy = series("haproxy", List.of(75.0, 75.0, 75.0, 75.0, 75.0),
                List.of(0L, 0L, 0L, 0L, 0L));
        List<BenchmarkRow> rows = Report.addRatios(List.of(mine.build(), ss.build(), haproxy.build()));
        String md = Report.markdown(new BenchmarkReport("stalls", "2026-01-01", MACHINE, 10_000, rows, 4.5));
        // Median 60 against 60 and 75; p10 of five is the worst; stalls sorted 0 100 100 200 300.
        assertTrue(md.contains("| equal | hybridproxy | 5 | 60.00 / 40.00 / 40.00 | 1.00 × shadowsocks, 0.80 ×"
                + " haproxy | 66.00; 1.00 × shadowsocks | 200 / 900 | 100 / 300 / 300 | 2 | 3.00 → 4.50 |"), md);
        assertTrue(md.contains("| equal | haproxy | 5 | 75.00 / 75.00 / 75.00 |  |  |  | 0 / 0 / 0 | 0 |"),
                md);
        assertEquals(40.0, Report.percentile(List.of(50.0, 70.0, 60.0, 40.0, 80.0), 10));
        assertEquals(80.0, Report.percentile(List.of(50.0, 70.0, 60.0, 40.0, 80.0), 100));
        // Of 20 downloads, p90 is the 18th smallest and p10 the 2nd.
        List<Integer> twenty = java.util.stream.IntStream.rangeClosed(1, 20).boxed().toList();
        assertEquals(18.0, Report.percentile(twenty, 90));
        assertEquals(2.0, Report.percentile(twenty, 10));
    }

    @Test
    void repeatedRoundsGiveMediansSpreadsAndRatiosTakenWithinEachRound() {
        // Round 2 is the noisy one: both systems dearer, their ratio the same as in round 1.
        double[][] cpu = {{20.0, 10.0}, {40.0, 20.0}, {24.0, 16.0}};
        List<BenchmarkRow> rows = new java.util.ArrayList<>();
        for (int round = 1; round <= 3; round++) {
            BenchmarkRow.RowBuilder mine = row("hybridproxy-userspace", 70.0 + round);
            mine.round = round;
            mine.cpuSecondsPerGB = cpu[round - 1][0];
            mine.loadAverage = List.of(round * 1.0, round * 1.5);
            mine.steadyCostPerGB = new java.util.LinkedHashMap<>(java.util.Map.of("cpe cpu ms", 1000.0 * round));
            BenchmarkRow.RowBuilder ss = row("shadowsocks", 60.0 + round);
            ss.round = round;
            ss.cpuSecondsPerGB = cpu[round - 1][1];
            rows.add(mine.build());
            rows.add(ss.build());
        }
        String md = Report.markdown(new BenchmarkReport("steady", "2026-01-01", MACHINE, 20_000,
                Report.addRatios(rows), 2.5));
        // CPU per GB 20, 40, 24: median 24. Ratios per round 2.0, 2.0, 1.5: median 2.0, where the medians' ratio
        // (24 / 16) would say 1.5.
        assertTrue(md.contains("| equal | hybridproxy-userspace | 3 | 72.00 (71.00–73.00) | 1.16 (1.16–1.16)"
                + " × shadowsocks; 1.16, 1.16, 1.16 |  |  | 24.00 (20.00–40.00) | 2.00 (1.50–2.00) × shadowsocks"
                + " | 1.00 → 3.00 |"), md);
        assertTrue(md.contains("| equal | shadowsocks | 3 | 62.00 (61.00–63.00) |  |  |  | 16.00 (10.00–20.00) |  |"),
                md);
        assertTrue(md.contains("| equal | hybridproxy-userspace | 3 | cpe cpu ms 2000 |"), md);
        // The best peer is the same round's: round 3's 73 Mb/s against shadowsocks' 63, not against the best of all.
        BenchmarkRow third = Report.addRatios(rows).get(4);
        assertEquals(3, third.round());
        assertEquals(BenchmarkRunner.round(73.0 / 63.0, 2), third.ratioToBestPeer());
    }

    @Test
    void theSetupSuiteGivesTheRateAndTheCostPerConnectionAsASeriesWithRatiosWithinEachRound() {
        // Round 2 is the slow one for both systems: the rates' ratio per round is 1.2, 1.2, 0.9, median 1.2, where the
        // medians' ratio (270 / 300) would say 0.9.
        double[][] rate = {{360.0, 300.0}, {240.0, 200.0}, {270.0, 300.0}};
        List<BenchmarkRow> rows = new ArrayList<>();
        for (int round = 1; round <= 3; round++) {
            BenchmarkRow.RowBuilder mine = row("hybridproxy", null);
            mine.round = round;
            mine.setupPerSecond32 = rate[round - 1][0];
            mine.loadAverage = List.of(round * 1.0, round * 1.5);
            mine.setupCost = new java.util.LinkedHashMap<>();
            mine.setupCost.put("cpe cpu ms", 1.0 * round);
            mine.setupCost.put("cpe syscalls", 60.0);
            mine.setupCost.put("concentrator cpu ms", 0.8);
            mine.setupCost.put("concentrator syscalls", 50.0);
            mine.setupCost.put("connections", 1000.0);
            BenchmarkRow.RowBuilder ss = row("shadowsocks", null);
            ss.round = round;
            ss.setupPerSecond32 = rate[round - 1][1];
            ss.setupCost = new java.util.LinkedHashMap<>();
            ss.setupCost.put("ss-redir cpu ms", 0.4);
            ss.setupCost.put("ss-server cpu ms", 0.3 + 0.1 * round);
            rows.add(mine.build());
            rows.add(ss.build());
        }
        String md = Report.markdown(new BenchmarkReport("setup", "2026-01-01", MACHINE, 3_000,
                Report.addRatios(rows), 2.5));
        // CPU per connection, summed: 1.8, 2.8, 3.8 against 0.8, 0.9, 1.0; per round 2.25, 3.11, 3.8.
        assertTrue(md.contains("| equal | hybridproxy | 3 | 270 (240–360) | 1.20 (0.90–1.20) × shadowsocks"
                + " | cpe 2.00 (1.00–3.00); concentrator 0.80 (0.80–0.80); sum 2.80 (1.80–3.80)"
                + " | 3.11 (2.25–3.80) × shadowsocks | cpe 60.00 (60.00–60.00); concentrator 50.00 (50.00–50.00);"
                + " sum 110 (110–110) | 1.00 → 3.00 |"), md);
        assertTrue(md.contains("| equal | shadowsocks | 3 | 300 (200–300) |  | ss-redir 0.40 (0.40–0.40);"
                + " ss-server 0.50 (0.40–0.60); sum 0.90 (0.80–1.00) |  |  |  |"), md);
        // Rows without a download have no line in the download rounds' table.
        assertFalse(md.contains("CPU s/GB median"), md);
    }

    @Test
    void repeatedQuickRoundsGiveGoodputRatiosToEachPeerRoundByRoundWithTheRampAndTheLongestStall() {
        // Round 2 ran while the machine was busy: every system slower. Per round, hybridproxy is 0.95, 1.00 and
        // 0.97 x shadowsocks and 1.10, 0.80, 1.20 x haproxy, medians 0.97 and 1.10.
        double[][] goodput = {{76.0, 80.0, 69.1}, {40.0, 40.0, 50.0}, {70.0, 72.2, 58.3}};
        long[][] stall = {{100, 0, 300}, {400, 200, 100}, {0, 100, 0}};
        String[] systems = {"hybridproxy", "shadowsocks", "haproxy"};
        List<BenchmarkRow> rows = new java.util.ArrayList<>();
        for (int round = 1; round <= 3; round++) {
            for (int s = 0; s < systems.length; s++) {
                BenchmarkRow.RowBuilder r = row(systems[s], goodput[round - 1][s]);
                r.scenario = "lossy-lte";
                r.round = round;
                r.longestStallMs = stall[round - 1][s];
                r.seriesFirstTwoSecondsMbps = List.of(10.0 * round + s);
                r.loadAverage = List.of(0.5 * round, 0.5 * round);
                rows.add(r.build());
            }
        }
        String md = Report.markdown(new BenchmarkReport("quick", "2026-01-01", MACHINE, 8_000,
                Report.addRatios(rows), 1.0));
        assertTrue(md.contains("| lossy-lte | hybridproxy | 3 | 70.00 (40.00–76.00) | 0.97 (0.95–1.00) × shadowsocks;"
                + " 0.95, 1.00, 0.97; 1.10 (0.80–1.20) × haproxy; 1.10, 0.80, 1.20 | 20.00 (10.00–30.00) | 100 / 400"
                + " |  |  | 0.50 → 1.50 |"), md);
        assertTrue(md.contains("| lossy-lte | hybridproxy (round 2) | 40.00 |"), md);
        // A peer gets its own spreads, no ratios.
        assertTrue(md.contains("| lossy-lte | shadowsocks | 3 | 72.20 (40.00–80.00) |  | 21.00 (11.00–31.00)"
                + " | 100 / 200 |"), md);
    }

    @Test
    void aRunWithoutRepeatsHasNoRoundsTable() {
        BenchmarkRow.RowBuilder r = row("hybridproxy-userspace", 70.0);
        r.cpuSecondsPerGB = 25.0;
        String md = Report.markdown(new BenchmarkReport("steady", "2026-01-01", MACHINE, 20_000, List.of(r.build()),
                2.5));
        assertFalse(md.contains("Over the rounds"), md);
    }

    private static BenchmarkRow.RowBuilder series(String system, List<Double> goodput, List<Long> stalls) {
        BenchmarkRow.RowBuilder r = row(system, goodput.stream().sorted().toList().get(goodput.size() / 2));
        r.downloads = goodput.size();
        r.seriesGoodputMbps = goodput;
        r.seriesLongestStallMs = stalls;
        r.longestStallMs = stalls.stream().max(Long::compare).orElseThrow();
        r.downloadsWithStallOver200Ms = stalls.stream().filter(ms -> ms >= 200).count();
        return r;
    }

    private static BenchmarkRow.RowBuilder row(String system, Double goodput) {
        BenchmarkRow.RowBuilder r = new BenchmarkRow.RowBuilder("equal", system);
        r.linkSumMbit = 100.0;
        r.goodputMbps = goodput;
        return r;
    }
}
