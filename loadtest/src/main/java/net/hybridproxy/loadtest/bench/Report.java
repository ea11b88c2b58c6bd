package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.loadgen.HoldResult;
import net.hybridproxy.loadtest.tool.ToolCommandLine;
import net.hybridproxy.loadtest.tool.ToolJson;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/**
 * Turns the runner's rows into {@code results.json}, {@code results.md} (one table, every figure) and SVG plots:
 * {@code goodput.svg} (bars per system, grouped by scenario; {@code goodput-unlimited.svg} for the unlimited links)
 * and {@code failover-<system>.svg} (per-uplink download rate through the DSL blackhole). Adds the ratios, which need every row of a scenario.
 */
@Command(name = "Report", mixinStandardHelpOptions = true,
        description = "Re-renders results.md and the plots from a directory's results.json.")
final class Report implements Callable<Integer> {
    private static final String PROJECT = "hybridproxy";
    private static final String[] COLOURS = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#9c755f"};

    @Parameters(paramLabel = "DIR", arity = "0..1", defaultValue = ".", description = "holds results.json")
    Path dir;

    public static void main(String[] args) {
        ToolCommandLine.exit(new Report(), args);
    }

    @Override
    public Integer call() throws IOException {
        write(read(dir), dir);
        return ToolCommandLine.OK;
    }

    /** A directory's {@code results.json}. */
    static BenchmarkReport read(Path dir) throws IOException {
        return ToolJson.read(BenchmarkReport.class, Files.readString(dir.resolve("results.json")));
    }

    /** Writes the report with its ratios added; returns what was written. */
    static BenchmarkReport write(BenchmarkReport raw, Path dir) throws IOException {
        BenchmarkReport report = raw.withResults(addRatios(raw.results()));
        List<BenchmarkRow> rows = report.results();
        Files.writeString(dir.resolve("results.json"), ToolJson.pretty(report));
        Files.writeString(dir.resolve("results.md"), markdown(report));
        // Rate-limited scenarios and the unlimited one differ by two orders of magnitude: one scale would flatten
        // every bar but the unlimited ones, so they get a plot each.
        // Connection-count scenarios measure no goodput and stay out of both.
        Set<String> holdScenarios = new LinkedHashSet<>();
        rows.stream().filter(r -> r.hold() != null).forEach(r -> holdScenarios.add(r.scenario()));
        List<BenchmarkRow> limited = rows.stream()
                .filter(r -> r.linkSumMbit() != null && !holdScenarios.contains(r.scenario())).toList();
        List<BenchmarkRow> unlimited = rows.stream()
                .filter(r -> r.linkSumMbit() == null && !holdScenarios.contains(r.scenario())).toList();
        Files.writeString(dir.resolve("goodput.svg"), goodputBars(limited));
        if (!unlimited.isEmpty()) {
            Files.writeString(dir.resolve("goodput-unlimited.svg"), goodputBars(unlimited));
        }
        for (BenchmarkRow row : rows) {
            if (row.blackholeAtSeconds() != null && row.uplinkTimeline() != null) {
                Files.writeString(dir.resolve("failover-" + row.system() + ".svg"), failoverPlot(row));
            }
        }
        return report;
    }

    /** Goodput as a share of the link sum, and against the best system that is not this project. */
    static List<BenchmarkRow> addRatios(List<BenchmarkRow> rows) {
        // Per round with --repeat: a ratio compares systems measured minutes apart, not across the whole run.
        Map<String, Double> bestPeer = new LinkedHashMap<>();
        for (BenchmarkRow r : rows) {
            if (r.goodputMbps() != null && !r.system().startsWith(PROJECT)) {
                bestPeer.merge(r.scenario() + "#" + r.round(), r.goodputMbps(), Math::max);
            }
        }
        List<BenchmarkRow> out = new ArrayList<>();
        for (BenchmarkRow r : rows) {
            Double g = r.goodputMbps();
            if (g == null) {
                out.add(r);
                continue;
            }
            Double toSum = r.linkSumMbit() != null && r.linkSumMbit() > 0
                    ? BenchmarkRunner.round(g / r.linkSumMbit(), 2) : null;
            Double best = bestPeer.get(r.scenario() + "#" + r.round());
            Double toBest = best != null && best > 0 ? BenchmarkRunner.round(g / best, 2) : null;
            out.add(r.withRatios(toSum, toBest));
        }
        return out;
    }

    static String markdown(BenchmarkReport report) {
        BenchmarkReport.MachineInfo m = report.machine();
        StringBuilder sb = new StringBuilder();
        sb.append("# Benchmark results: ").append(report.suite()).append(" suite, ").append(report.date())
                .append("\n\n");
        sb.append("Machine: ").append(m.cores()).append(" cores (").append(m.cpu()).append("), ")
                .append(m.memoryGiB()).append(" GiB, kernel ").append(m.kernel()).append(", Java ")
                .append(m.java()).append("; 1-minute load average ").append(m.loadAverage1m())
                .append(" at start, ").append(report.loadAverageAtEnd()).append(" at end. Download ")
                .append(report.downloadMs()).append(" ms on one connection per system; systems interleaved"
                        + " within each scenario.\n\n");
        sb.append("| scenario | system | goodput Mb/s | × link sum | × best peer | failover stall s | longest stall ms"
                + " | bytes lost | TTFB p50/p99 ms | setup /s | CPU s/GB | peak RSS MiB | LTE share | notes |\n");
        sb.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for (BenchmarkRow r : report.results()) {
            sb.append("| ").append(r.scenario()).append(" | ").append(r.system())
                    .append(r.round() == null ? "" : " (round " + r.round() + ")").append(" | ");
            if (r.skipped() != null) {
                sb.append("| | | | | | | | | | | ").append(r.skipped()).append(" |\n");
                continue;
            }
            sb.append(fmt(r.goodputMbps())).append(" | ").append(fmt(r.ratioToLinkSum())).append(" | ")
                    .append(fmt(r.ratioToBestPeer())).append(" | ").append(fmt(r.failoverStallSeconds()))
                    .append(" | ").append(r.longestStallMs() != null ? String.valueOf(r.longestStallMs()) : "")
                    .append(" | ").append(bytes(r.bytesLost())).append(" | ");
            if (r.ttfbP50Ms() != null) {
                sb.append(fmt(r.ttfbP50Ms())).append(" / ").append(fmt(r.ttfbP99Ms()));
            }
            Object setup = r.hold() != null ? (Object) r.hold().connectionsPerSecond() : r.setupPerSecond32();
            sb.append(" | ").append(fmt(setup));
            sb.append(" | ").append(fmt(r.cpuSecondsPerGB())).append(" | ")
                    .append(r.peakRssBytes() != null ? fmt(r.peakRssBytes() / 1048576.0) : "")
                    .append(" | ").append(r.lteShare() != null ? fmt(r.lteShare() * 100) + " %" : "")
                    .append(" | ").append(notes(r)).append(" |\n");
        }
        sb.append("\nGoodput counts only bytes verified against the pattern and the server's SHA-256. Failover stall:"
                + " longest run of 100 ms intervals after the blackhole below 10 % of the LTE rate. Longest stall:"
                + " longest run of 100 ms intervals, after the download's first second, below 10 % of its mean"
                + " goodput. Setup /s: new connections per second, a 10 kB object each, 32 clients at once (in the held-"
                + "connections scenario: connections opened per second, 500 at once). Bytes lost: bytes the"
                + " server sent that the client did not verify (blank when the stream never ended, so the server"
                + " could not say what it sent). × best peer: against the best system that is not"
                + " this project. CPU and RSS are the proxy processes' (none for direct and kernel MPTCP).\n");
        seriesSummary(report.results(), sb);
        perProcess(report.results(), sb);
        repeatSummary(report.results(), sb);
        setupSeries(report.results(), sb);
        steadyCost(report.results(), sb);
        setupCost(report.results(), sb);
        return sb.toString();
    }

    /**
     * The stall series as distributions, one line per system and scenario: what a ratio "in the same run" and "no
     * stall of 200 ms or more" are judged by. Each of this project's systems gets the ratio of its median download to
     * each peer's median download, so a claim against one peer is not hidden behind the best one.
     */
    private static void seriesSummary(List<BenchmarkRow> rows, StringBuilder sb) {
        List<BenchmarkRow> series = rows.stream()
                .filter(r -> r.seriesGoodputMbps() != null && !r.seriesGoodputMbps().isEmpty()).toList();
        if (series.isEmpty()) {
            return;
        }
        sb.append("\nPer download, each system's series (p10: the 10th percentile, nearest rank, so the worst"
                + " download of 10 and the second worst of 20; p90 likewise; × peer: this median over the peer's"
                + " median, same run; from the first byte: verified bytes over the time from the first byte to the"
                + " last, without the wait for the first byte):\n\n"
                + "| scenario | system | downloads | goodput median / p10 / worst Mb/s | median × peer"
                + " | from the first byte: median Mb/s, × peer | first byte median / worst ms"
                + " | longest stall median / p90 / worst ms | ≥ 200 ms | load average start → end |\n"
                + "|---|---|---:|---|---|---|---|---|---:|---|\n");
        for (BenchmarkRow r : series) {
            List<BenchmarkRow> peers = series.stream()
                    .filter(p -> p.scenario().equals(r.scenario()) && !p.system().startsWith(PROJECT)).toList();
            List<Double> goodput = r.seriesGoodputMbps();
            List<Double> fromFirst = r.seriesGoodputFromFirstByteMbps();
            List<Long> firstByte = r.seriesFirstByteMs();
            List<Long> stalls = r.seriesLongestStallMs();
            sb.append("| ").append(r.scenario()).append(" | ").append(r.system()).append(" | ")
                    .append(goodput.size()).append(" | ")
                    .append(fmt(percentile(goodput, 50))).append(" / ").append(fmt(percentile(goodput, 10)))
                    .append(" / ").append(fmt(percentile(goodput, 0))).append(" | ")
                    .append(r.system().startsWith(PROJECT) ? ratios(goodput, peers, BenchmarkRow::seriesGoodputMbps)
                            : "").append(" | ");
            if (fromFirst != null && !fromFirst.isEmpty()) {
                sb.append(fmt(percentile(fromFirst, 50)));
                String toPeers = r.system().startsWith(PROJECT)
                        ? ratios(fromFirst, peers, BenchmarkRow::seriesGoodputFromFirstByteMbps) : "";
                sb.append(toPeers.isEmpty() ? "" : "; " + toPeers);
            }
            sb.append(" | ");
            if (firstByte != null && !firstByte.isEmpty()) {
                sb.append(millis(percentile(firstByte, 50))).append(" / ").append(millis(percentile(firstByte, 100)));
            }
            sb.append(" | ").append(stalls == null ? "" : millis(percentile(stalls, 50)) + " / "
                    + millis(percentile(stalls, 90)) + " / " + millis(percentile(stalls, 100)))
                    .append(" | ").append(r.downloadsWithStallOver200Ms() == null ? "" : r.downloadsWithStallOver200Ms())
                    .append(" | ")
                    .append(r.loadAverage() != null ? r.loadAverage().stream().map(Report::fmt)
                            .collect(Collectors.joining(" → ")) : "").append(" |\n");
        }
    }

    private static String millis(double ms) {
        return String.valueOf(Math.round(ms));
    }

    /** "0.99 × shadowsocks, 1.02 × haproxy": this series' median over each peer's, for the peers that have one. */
    private static String ratios(List<? extends Number> mine, List<BenchmarkRow> peers,
                                 java.util.function.Function<BenchmarkRow, List<? extends Number>> figure) {
        double median = percentile(mine, 50);
        List<String> out = new ArrayList<>();
        for (BenchmarkRow peer : peers) {
            List<? extends Number> theirs = figure.apply(peer);
            if (theirs != null && !theirs.isEmpty() && percentile(theirs, 50) > 0) {
                out.add(fmt(median / percentile(theirs, 50)) + " × " + peer.system());
            }
        }
        return String.join(", ", out);
    }

    /**
     * The nearest-rank percentile of a series (0 is its smallest value, 100 its largest); the median of an even
     * count is the upper of the two middle values, as the row's own median is.
     */
    static double percentile(List<? extends Number> values, int percent) {
        List<Double> sorted = values.stream().map(Number::doubleValue).sorted().toList();
        if (percent == 50) {
            return sorted.get(sorted.size() / 2);
        }
        int rank = (int) Math.ceil(percent / 100.0 * sorted.size());
        return sorted.get(Math.clamp(rank - 1, 0, sorted.size() - 1));
    }

    /**
     * With {@code --repeat N}: each system's goodput, ramp, longest stall and CPU per GB over the rounds (median,
     * smallest and largest), and for each of this project's systems its goodput over each peer's and its CPU per GB
     * over every other system's, taken round by round (the two were measured minutes apart) and then summarised the
     * same way. One run's ratio moved by ±3 % (goodput, one 5 s download) and 15-20 % (CPU per GB) between quiet
     * runs; a claim about a ratio is a claim about the median of several.
     */
    static void repeatSummary(List<BenchmarkRow> rows, StringBuilder sb) {
        List<BenchmarkRow> rounds = rows.stream()
                .filter(r -> r.round() != null && r.skipped() == null && r.goodputMbps() != null).toList();
        if (rounds.isEmpty()) {
            return;
        }
        sb.append("\nOver the rounds (--repeat; median, then smallest–largest; ratios taken within each round, this"
                + " system's goodput over each peer's and its CPU per GB over each other system's; first 2 s: mean"
                + " goodput over the 2 s after the first byte):\n\n"
                + "| scenario | system | rounds | goodput Mb/s median (min–max) | goodput × peer, median (min–max);"
                + " per round | first 2 s Mb/s median (min–max) | longest stall ms median / worst"
                + " | CPU s/GB median (min–max) | CPU per GB × other system, median (min–max)"
                + " | load average, first → last round |\n"
                + "|---|---|---:|---|---|---|---|---|---|---|\n");
        for (Map.Entry<String, Map<String, List<BenchmarkRow>>> scenario
                : Rounds.byScenarioAndSystem(rounds).entrySet()) {
            for (Map.Entry<String, List<BenchmarkRow>> system : scenario.getValue().entrySet()) {
                List<BenchmarkRow> mine = system.getValue();
                List<Double> cpu = mine.stream().map(BenchmarkRow::cpuSecondsPerGB).filter(v -> v != null).toList();
                List<Double> goodput = mine.stream().map(BenchmarkRow::goodputMbps).filter(v -> v != null).toList();
                List<Double> ramp = mine.stream().map(BenchmarkRow::seriesFirstTwoSecondsMbps)
                        .filter(v -> v != null && v.size() == 1).map(List::getFirst).toList();
                List<Long> stalls = mine.stream().map(BenchmarkRow::longestStallMs).filter(v -> v != null).toList();
                List<String> goodputRatios = new ArrayList<>();
                List<String> cpuRatios = List.of();
                if (system.getKey().startsWith(PROJECT)) {
                    for (Map.Entry<String, List<BenchmarkRow>> peer : scenario.getValue().entrySet()) {
                        if (peer.getKey().startsWith(PROJECT)) {
                            continue; // goodput against the peers only
                        }
                        List<Double> perRound = Rounds.ratiosWithinRounds(mine, peer.getValue(),
                                BenchmarkRow::goodputMbps);
                        if (!perRound.isEmpty()) {
                            goodputRatios.add(Rounds.spread(perRound) + " × " + peer.getKey() + "; "
                                    + perRound.stream().map(Report::fmt).collect(Collectors.joining(", ")));
                        }
                    }
                    cpuRatios = Rounds.ratiosToOthers(system.getKey(), scenario.getValue(),
                            BenchmarkRow::cpuSecondsPerGB);
                }
                sb.append("| ").append(scenario.getKey()).append(" | ").append(system.getKey()).append(" | ")
                        .append(mine.size()).append(" | ").append(goodput.isEmpty() ? "" : Rounds.spread(goodput))
                        .append(" | ").append(String.join("; ", goodputRatios)).append(" | ")
                        .append(ramp.isEmpty() ? "" : Rounds.spread(ramp)).append(" | ")
                        .append(stalls.isEmpty() ? "" : millis(percentile(stalls, 50)) + " / "
                                + millis(percentile(stalls, 100))).append(" | ")
                        .append(cpu.isEmpty() ? "" : Rounds.spread(cpu)).append(" | ")
                        .append(String.join("; ", cpuRatios)).append(" | ")
                        .append(Rounds.loadFirstToLast(mine))
                        .append(" |\n");
            }
        }
    }


    /**
     * With {@code --repeat N}, the setup rate as a series (suite "setup", and any suite that measures it): each system's
     * 32-client rate and its processes' CPU ms and system calls per new connection over the rounds (median, smallest
     * and largest), and for each of this project's systems its rate and its processes' summed CPU per connection over
     * every other system's, taken round by round. On a 2-core machine the rate is bounded by CPU per connection, and
     * one run's rate moved by ±20 % between runs of the same build an hour apart (docs/decisions.md).
     */
    static void setupSeries(List<BenchmarkRow> rows, StringBuilder sb) {
        List<BenchmarkRow> rounds = rows.stream()
                .filter(r -> r.round() != null && r.skipped() == null && r.setupPerSecond32() != null).toList();
        if (rounds.isEmpty()) {
            return;
        }
        sb.append("\nSetup over the rounds (--repeat; median, then smallest–largest; ratios taken within each round;"
                + " CPU and system calls per connection over the cost run's new connections, per process and summed"
                + " over the system's processes):\n\n"
                + "| scenario | system | rounds | setup /s | setup /s × other system | CPU ms per connection"
                + " | CPU per connection × other system | syscalls per connection | load average, first → last"
                + " round |\n|---|---|---:|---|---|---|---|---|---|\n");
        for (Map.Entry<String, Map<String, List<BenchmarkRow>>> scenario
                : Rounds.byScenarioAndSystem(rounds).entrySet()) {
            for (Map.Entry<String, List<BenchmarkRow>> system : scenario.getValue().entrySet()) {
                List<BenchmarkRow> mine = system.getValue();
                boolean ours = system.getKey().startsWith(PROJECT);
                List<String> rateRatios = ours ? Rounds.ratiosToOthers(system.getKey(), scenario.getValue(),
                        BenchmarkRow::setupPerSecond32) : List.of();
                List<String> cpuRatios = ours ? Rounds.ratiosToOthers(system.getKey(), scenario.getValue(),
                        Report::setupCpuMs) : List.of();
                sb.append("| ").append(scenario.getKey()).append(" | ").append(system.getKey()).append(" | ")
                        .append(mine.size()).append(" | ")
                        .append(Rounds.spread(mine.stream().map(BenchmarkRow::setupPerSecond32).toList()))
                        .append(" | ").append(String.join("; ", rateRatios)).append(" | ")
                        .append(setupCostSpread(mine, " cpu ms")).append(" | ")
                        .append(String.join("; ", cpuRatios)).append(" | ")
                        .append(setupCostSpread(mine, " syscalls")).append(" | ").append(Rounds.loadFirstToLast(mine))
                        .append(" |\n");
            }
        }
    }

    /** A row's CPU ms per new connection summed over its processes ("cpe" + "concentrator"), or null. */
    static Double setupCpuMs(BenchmarkRow r) {
        return setupCostSum(r, " cpu ms");
    }

    /** The sum of a row's setup-cost figures whose key ends in {@code suffix} (one per process), or null. */
    private static Double setupCostSum(BenchmarkRow r, String suffix) {
        if (r.setupCost() == null) {
            return null;
        }
        double sum = 0;
        boolean any = false;
        for (Map.Entry<String, Double> e : r.setupCost().entrySet()) {
            if (e.getKey().endsWith(suffix)) {
                sum += e.getValue();
                any = true;
            }
        }
        return any ? sum : null;
    }

    /**
     * "cpe 1.1 (1.0–1.2); concentrator 0.9 (0.8–1.0); sum 2.0 (1.8–2.2)": each process's setup-cost figure ending in
     * {@code suffix} over the rounds, plus the processes' sum when there are several.
     */
    private static String setupCostSpread(List<BenchmarkRow> rows, String suffix) {
        Map<String, List<Double>> byProcess = new LinkedHashMap<>();
        List<Double> sums = new ArrayList<>();
        for (BenchmarkRow r : rows) {
            Double sum = setupCostSum(r, suffix);
            if (sum == null) {
                continue;
            }
            sums.add(sum);
            r.setupCost().forEach((key, value) -> {
                if (key.endsWith(suffix)) {
                    byProcess.computeIfAbsent(key.substring(0, key.length() - suffix.length()),
                            k -> new ArrayList<>()).add(value);
                }
            });
        }
        List<String> parts = new ArrayList<>();
        byProcess.forEach((process, values) -> parts.add(process + " " + Rounds.spread(values)));
        if (byProcess.size() > 1) {
            parts.add("sum " + Rounds.spread(sums));
        }
        return String.join("; ", parts);
    }

    /**
     * Suite "steady": each proxy process's CPU per GB by thread group (event loops, the collector, the compilers, the
     * rest) and its system calls per GB ({@link ConnectionCost}); with --repeat, the median of each figure over the
     * rounds.
     */
    static void steadyCost(List<BenchmarkRow> rows, StringBuilder sb) {
        List<BenchmarkRow> measured = rows.stream().filter(r -> r.steadyCostPerGB() != null).toList();
        if (measured.isEmpty()) {
            return;
        }
        sb.append("\nPer GB verified over the measured download (CPU ms by thread group, groups under 3 % of a"
                + " process summed as other threads; system calls counted by perf; with --repeat, the median of each"
                + " figure over the rounds):\n\n| scenario | system | rounds | per GB |\n|---|---|---:|---|\n");
        Map<String, List<BenchmarkRow>> bySystem = new LinkedHashMap<>();
        for (BenchmarkRow r : measured) {
            bySystem.computeIfAbsent(r.scenario() + " | " + r.system(), k -> new ArrayList<>()).add(r);
        }
        for (Map.Entry<String, List<BenchmarkRow>> e : bySystem.entrySet()) {
            Map<String, List<Double>> figures = new LinkedHashMap<>();
            for (BenchmarkRow r : e.getValue()) {
                r.steadyCostPerGB().forEach((k, v) -> figures.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
            }
            String text = figures.entrySet().stream()
                    .map(f -> f.getKey() + " " + fmt(Math.round(percentile(f.getValue(), 50))))
                    .collect(Collectors.joining("; "));
            sb.append("| ").append(e.getKey()).append(" | ").append(e.getValue().size()).append(" | ").append(text)
                    .append(" |\n");
        }
    }

    /**
     * What each proxy process spent per new connection ({@link ConnectionCost}): counters that stay comparable when
     * the machine is loaded, where the setup rate does not.
     */
    private static void setupCost(List<BenchmarkRow> rows, StringBuilder sb) {
        List<BenchmarkRow> measured = rows.stream().filter(r -> r.setupCost() != null).toList();
        if (measured.isEmpty()) {
            return;
        }
        sb.append("\nPer new connection (").append(fmt(measured.getFirst().setupCost().get("connections")))
                .append(" at 32 clients after the setup-rate run; every thread's CPU, and system calls counted by"
                        + " perf):\n\n| scenario | system | per connection | load average start → end |\n"
                        + "|---|---|---|---|\n");
        for (BenchmarkRow r : measured) {
            String figures = r.setupCost().entrySet().stream()
                    .filter(e -> !e.getKey().startsWith("connections") && !e.getKey().startsWith("load average"))
                    .map(e -> e.getKey() + " " + fmt(e.getValue())).collect(Collectors.joining("; "));
            sb.append("| ").append(r.scenario()).append(" | ").append(r.system()).append(" | ").append(figures)
                    .append(" | ").append(fmt(r.setupCost().get("load average before"))).append(" → ")
                    .append(fmt(r.setupCost().get("load average after"))).append(" |\n");
        }
    }

    /**
     * Each proxy process's share of the measured download: CPU seconds, those of its JIT compiler threads, CPU per GB
     * without them, and its own peak RSS (a memory target is per JVM); with the load average the window saw.
     */
    private static void perProcess(List<BenchmarkRow> rows, StringBuilder sb) {
        // Rows written before the compiler threads were measured keep their results.md as it was.
        List<BenchmarkRow> measured = rows.stream()
                .filter(r -> r.proxyCpuSecondsByProcess() != null && r.jitCpuSecondsByProcess() != null).toList();
        if (measured.isEmpty()) {
            return;
        }
        sb.append("\n| scenario | system | process | CPU s | of which JIT compilers s | CPU s/GB without them"
                + " | peak RSS MiB | load average start → end |\n|---|---|---|---:|---:|---:|---:|---|\n");
        for (BenchmarkRow r : measured) {
            for (Map.Entry<String, Double> e : r.proxyCpuSecondsByProcess().entrySet()) {
                Double jit = r.jitCpuSecondsByProcess().get(e.getKey());
                Long rss = r.peakRssBytesByProcess() != null ? r.peakRssBytesByProcess().get(e.getKey()) : null;
                Double perGb = jit != null && r.verifiedBytes() != null && r.verifiedBytes() > 0
                        ? (e.getValue() - jit) / (r.verifiedBytes() / 1e9) : null;
                sb.append("| ").append(r.scenario()).append(" | ").append(r.system()).append(" | ").append(e.getKey())
                        .append(" | ").append(fmt(e.getValue())).append(" | ").append(fmt(jit)).append(" | ")
                        .append(fmt(perGb)).append(" | ").append(rss != null ? fmt(rss / 1048576.0) : "")
                        .append(" | ").append(r.loadAverage() != null ? r.loadAverage().stream().map(Report::fmt)
                                .collect(Collectors.joining(" → ")) : "").append(" |\n");
            }
        }
    }

    private static String notes(BenchmarkRow r) {
        List<String> n = new ArrayList<>();
        if (r.error() != null) {
            n.add("error: " + r.error());
        }
        if (Boolean.FALSE.equals(r.recovered())) {
            n.add("never recovered while the server was sending");
        }
        if (Boolean.FALSE.equals(r.ok()) && r.outcomes() != null) {
            n.add("transfer not verified: " + r.outcomes());
        }
        if (r.serverVerdict() != null && !r.serverVerdict().contains("result=MATCH")) {
            n.add("server: " + r.serverVerdict());
        }
        HoldResult h = r.hold();
        if (h != null) {
            n.add(h.verified() + "/" + h.connections() + " connections verified, " + h.errors() + " errors, "
                    + fmt(h.connectionsPerSecond()) + " conn/s");
            if (r.holdConnectionsRequested() != null && r.holdConnectionsRequested() != h.connections()) {
                n.add(r.holdConnectionsRequested() + " asked for: the open-file limit allows a relay no more");
            }
        }
        if (r.seriesLongestStallMs() != null) {
            n.add(r.downloads() + " downloads: longest stall per download " + r.seriesLongestStallMs() + " ms; "
                    + r.downloadsWithStallOver200Ms() + " with a stall of 200 ms or more; goodput "
                    + r.seriesGoodputMbps() + " Mb/s"
                    + (r.seriesFirstTwoSecondsMbps() == null ? ""
                            : "; first 2 s after the first byte " + r.seriesFirstTwoSecondsMbps() + " Mb/s"));
        }
        if (Boolean.FALSE.equals(r.ttfbOk())) {
            n.add("some small objects failed");
        }
        if (r.ttfbP50Ms() != null && r.dslRttMs() != null && r.dslRttMs() > 0) {
            n.add("TTFB p50 " + fmt(r.ttfbP50Ms() / r.dslRttMs()) + " × the DSL RTT measured next to it ("
                    + fmt(r.dslRttMs()) + " ms)");
        }
        if (r.ttfbBeforeBurstP50Ms() != null) {
            n.add("TTFB p50 before the setup run " + fmt(r.ttfbBeforeBurstP50Ms()) + " ms");
        }
        if (r.ttfbCounters() != null && !r.ttfbCounters().isEmpty()) {
            n.add("during the TTFB run: " + r.ttfbCounters().entrySet().stream()
                    .map(e -> e.getKey() + " " + e.getValue()).collect(Collectors.joining(", ")));
        }
        if (r.setupRunCounters() != null && !r.setupRunCounters().isEmpty()) {
            n.add("during the setup run: " + r.setupRunCounters().entrySet().stream()
                    .map(e -> e.getKey() + " " + e.getValue()).collect(Collectors.joining(", ")));
        }
        return String.join("; ", n).replace("|", "/");
    }

    static String fmt(Object v) {
        if (v instanceof Number n) {
            double d = n.doubleValue();
            return d >= 100 ? String.format(Locale.ROOT, "%.0f", d) : String.format(Locale.ROOT, "%.2f", d);
        }
        return v == null ? "" : v.toString();
    }

    private static String bytes(Long v) {
        if (v == null) {
            return "";
        }
        long b = v;
        return b == 0 ? "0" : b < 1 << 20 ? (b >> 10) + " KiB" : fmt(b / 1048576.0) + " MiB";
    }

    // ------------------------------------------------------------------ SVG

    static String goodputBars(List<BenchmarkRow> rows) {
        Set<String> scenarios = new LinkedHashSet<>();
        Set<String> systems = new LinkedHashSet<>();
        double max = 1;
        for (BenchmarkRow r : rows) {
            scenarios.add(r.scenario());
            systems.add(r.system());
            if (r.goodputMbps() != null) {
                max = Math.max(max, r.goodputMbps());
            }
        }
        List<String> sys = new ArrayList<>(systems);
        int barW = 16;
        int groupW = sys.size() * barW + 30;
        int left = 60;
        int top = 40;
        int plotH = 300;
        int width = left + scenarios.size() * groupW + 220;
        int height = top + plotH + 60;
        double scale = niceCeiling(max);
        StringBuilder s = svgStart(width, height, "Goodput per system and scenario (Mb/s, one verified download)");
        axis(s, left, top, plotH, scale, scenarios.size() * groupW);
        int gi = 0;
        for (String sc : scenarios) {
            int gx = left + gi * groupW + 15;
            for (BenchmarkRow r : rows) {
                if (!r.scenario().equals(sc) || r.goodputMbps() == null) {
                    continue;
                }
                double g = r.goodputMbps();
                int si = sys.indexOf(r.system());
                double h = g / scale * plotH;
                s.append(String.format(Locale.ROOT,
                        "<rect x='%d' y='%.1f' width='%d' height='%.1f' fill='%s'><title>%s %s: %.1f Mb/s</title></rect>\n",
                        gx + si * barW, top + plotH - h, barW - 2, h, COLOURS[si % COLOURS.length], sc, r.system(), g));
            }
            if (rows.stream().anyMatch(r -> r.scenario().equals(sc) && r.linkSumMbit() != null)) {
                double sum = rows.stream().filter(r -> r.scenario().equals(sc))
                        .map(BenchmarkRow::linkSumMbit).filter(x -> x != null)
                        .mapToDouble(Double::doubleValue).findFirst().orElse(0);
                double y = top + plotH - sum / scale * plotH;
                s.append(String.format(Locale.ROOT, "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#333' "
                        + "stroke-dasharray='4 3'><title>link sum %.0f Mb/s</title></line>\n", gx - 4,
                        gx + sys.size() * barW, y, y, sum));
            }
            s.append(String.format(Locale.ROOT, "<text x='%d' y='%d' font-size='12' text-anchor='middle'>%s</text>\n",
                    gx + sys.size() * barW / 2, top + plotH + 18, esc(sc)));
            gi++;
        }
        legend(s, left + scenarios.size() * groupW + 10, top, sys);
        s.append(String.format(Locale.ROOT, "<text x='%d' y='%d' font-size='11'>dashed: sum of the link rates</text>\n",
                left, top + plotH + 40));
        return s.append("</svg>\n").toString();
    }

    static String failoverPlot(BenchmarkRow row) {
        UplinkTimeline tl = row.uplinkTimeline();
        List<Double> t = tl.seconds();
        List<Double> dsl = tl.dslMbps();
        List<Double> lte = tl.lteMbps();
        double[] goodput = row.goodputTimeline() == null ? new double[0] : row.goodputTimeline();
        double tmax = t.stream().mapToDouble(Number::doubleValue).max().orElse(1);
        double vmax = 1;
        for (List<Double> series : List.of(dsl, lte)) {
            vmax = Math.max(vmax, series.stream().mapToDouble(Number::doubleValue).max().orElse(0));
        }
        for (double g : goodput) {
            vmax = Math.max(vmax, g);
        }
        double scale = niceCeiling(vmax);
        int left = 60;
        int top = 40;
        int plotW = 640;
        int plotH = 260;
        StringBuilder s = svgStart(left + plotW + 160, top + plotH + 60, "Download through a DSL blackhole: "
                + row.system() + " (Mb/s over seconds)");
        axis(s, left, top, plotH, scale, plotW);
        polyline(s, t.stream().mapToDouble(Number::doubleValue).toArray(),
                dsl.stream().mapToDouble(Number::doubleValue).toArray(), left, top, plotW, plotH, tmax, scale, COLOURS[0]);
        polyline(s, t.stream().mapToDouble(Number::doubleValue).toArray(),
                lte.stream().mapToDouble(Number::doubleValue).toArray(), left, top, plotW, plotH, tmax, scale, COLOURS[1]);
        double[] gt = new double[goodput.length];
        for (int i = 0; i < gt.length; i++) {
            gt[i] = (i + 1) * 0.1;
        }
        polyline(s, gt, goodput, left, top, plotW, plotH, tmax, scale, "#222");
        if (row.blackholeAtSeconds() != null) {
            double x = left + row.blackholeAtSeconds() / tmax * plotW;
            s.append(String.format(Locale.ROOT, "<line x1='%.1f' x2='%.1f' y1='%d' y2='%d' stroke='#e15759' "
                    + "stroke-dasharray='5 3'/><text x='%.1f' y='%d' font-size='11' fill='#e15759'>DSL blackholed</text>\n",
                    x, x, top, top + plotH, x + 4, top + 12));
        }
        for (int sec = 0; sec <= (int) tmax; sec++) {
            s.append(String.format(Locale.ROOT, "<text x='%.1f' y='%d' font-size='10' text-anchor='middle'>%d</text>\n",
                    left + sec / tmax * plotW, top + plotH + 14, sec));
        }
        legend(s, left + plotW + 10, top, List.of("DSL (cpe rx)", "LTE (cpe rx)"));
        s.append(String.format(Locale.ROOT, "<rect x='%d' y='%d' width='10' height='10' fill='#222'/>"
                + "<text x='%d' y='%d' font-size='12'>verified goodput</text>\n", left + plotW + 10, top + 40,
                left + plotW + 26, top + 49));
        return s.append("</svg>\n").toString();
    }

    private static void polyline(StringBuilder s, double[] xs, double[] ys, int left, int top, int plotW, int plotH,
                                 double xmax, double ymax, String colour) {
        StringBuilder pts = new StringBuilder();
        for (int i = 0; i < Math.min(xs.length, ys.length); i++) {
            if (xs[i] < 0 || xs[i] > xmax) {
                continue;
            }
            pts.append(String.format(Locale.ROOT, "%.1f,%.1f ", left + xs[i] / xmax * plotW,
                    top + plotH - Math.min(ys[i], ymax) / ymax * plotH));
        }
        s.append("<polyline fill='none' stroke-width='1.5' stroke='").append(colour).append("' points='")
                .append(pts.toString().strip()).append("'/>\n");
    }

    private static StringBuilder svgStart(int width, int height, String title) {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
                + "font-family='sans-serif'>\n<rect width='100%%' height='100%%' fill='white'/>\n", width, height));
        s.append("<text x='10' y='20' font-size='14' font-weight='bold'>").append(esc(title)).append("</text>\n");
        return s;
    }

    private static void axis(StringBuilder s, int left, int top, int plotH, double max, int plotW) {
        for (int i = 0; i <= 4; i++) {
            double v = max * i / 4;
            double y = top + plotH - plotH * i / 4.0;
            s.append(String.format(Locale.ROOT, "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#ddd'/>"
                    + "<text x='%d' y='%.1f' font-size='10' text-anchor='end'>%.0f</text>\n", left, left + plotW, y, y,
                    left - 4, y + 3, v));
        }
    }

    private static void legend(StringBuilder s, int x, int y, List<String> names) {
        for (int i = 0; i < names.size(); i++) {
            s.append(String.format(Locale.ROOT, "<rect x='%d' y='%d' width='10' height='10' fill='%s'/>"
                    + "<text x='%d' y='%d' font-size='12'>%s</text>\n", x, y + i * 18, COLOURS[i % COLOURS.length],
                    x + 16, y + i * 18 + 9, esc(names.get(i))));
        }
    }

    private static double niceCeiling(double v) {
        double magnitude = Math.pow(10, Math.floor(Math.log10(v)));
        for (double step : new double[] {1, 2, 2.5, 5, 10}) {
            if (step * magnitude >= v) {
                return step * magnitude;
            }
        }
        return 10 * magnitude;
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&apos;");
    }
}
