package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.bench.Systems.Running;
import net.hybridproxy.loadtest.bench.Systems.SystemUnderTest;
import net.hybridproxy.loadtest.lab.ExecResult;
import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.HybridAccessLab.Link;
import net.hybridproxy.loadtest.lab.JavaLauncher;
import net.hybridproxy.loadtest.lab.Json;
import net.hybridproxy.loadtest.lab.LabProcess;
import net.hybridproxy.loadtest.lab.Stalls;
import net.hybridproxy.loadtest.lab.Netns;
import net.hybridproxy.loadtest.loadgen.LoadClient;
import net.hybridproxy.loadtest.loadgen.LoadServer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Runs every system on every scenario of a suite in one lab run, systems interleaved within each scenario so that
 * machine noise hits them alike, and writes {@code results.json}, {@code results.md} and SVG plots.
 *
 * <pre>
 * BenchmarkRunner [--suite quick|full] [--scenarios a,b] [--systems x,y] [--out DIR] [--duration-ms N]
 * </pre>
 *
 * <p>Per scenario and system: for a proxy, an unmeasured 1.5 s warm-up download; then one download for
 * {@code --duration-ms} on a single connection, every byte verified
 * (goodput counts verified bytes only), with the uplinks' counters sampled every 100 ms; proxy CPU seconds over
 * that download; then 10 kB objects over new connections for TTFB; peak RSS of the proxy processes at the end.
 * Needs root.
 */
public final class BenchmarkRunner {
    private static final Duration CLIENT_TIMEOUT = Duration.ofMinutes(3);
    private static final int TIMELINE_MS = 100;
    /** Objects fetched by the 32-client setup-rate measurement: a few seconds per system. */
    private static final int SETUP_OBJECTS = 800;
    /** The stall series: downloads per system and scenario, and the stall that fails a download. */
    static final int SERIES_DOWNLOADS = 20;
    static final long SERIES_STALL_LIMIT_MS = 200;
    /**
     * Longest wait for the server's line of the warm-up download after its client returned: immediate when it went
     * well; a stalled one was seen torn down by the proxies about 3 s after its client gave up.
     */
    private static final Duration WARMUP_VERDICT_WAIT = Duration.ofSeconds(20);
    private static final List<String> LOADGEN_JVM = List.of("-Xmx512m", "-XX:+UseSerialGC", "-Xshare:auto",
            "--enable-native-access=ALL-UNNAMED");

    private final long durationMs;
    private final Path out;

    /**
     * The unmeasured warm-up download, ms (--warmup-ms): 1.5 s by default; steady-state CPU figures want longer, so
     * that the JIT's compiler threads are done before the measured download starts.
     */
    private long warmupMs = 1500;

    /** Downloads per system in the stall series (suite "stalls"); 0 for the other suites. */
    private final int series;

    BenchmarkRunner(long durationMs, Path out) {
        this(durationMs, out, 0);
    }

    BenchmarkRunner(long durationMs, Path out, int series) {
        this.durationMs = durationMs;
        this.out = out;
        this.series = series;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = Options.parse(args);
        String suite = opts.getOrDefault("suite", "quick");
        boolean stalls = suite.equals("stalls");
        List<Scenario> scenarios = opts.containsKey("scenarios")
                ? Arrays.stream(opts.get("scenarios").split(",")).map(Scenario::byName).toList()
                : stalls ? Scenario.STALL_SERIES : suite.equals("full") ? Scenario.FULL : Scenario.QUICK;
        List<SystemUnderTest> systems = opts.containsKey("systems")
                ? Arrays.stream(opts.get("systems").split(",")).map(Systems::byName).toList()
                : stalls ? List.of(Systems.HYBRIDPROXY) : Systems.ALL;
        long duration = Long.parseLong(opts.getOrDefault("duration-ms",
                suite.equals("full") || stalls ? "10000" : "3000"));
        int series = stalls ? Integer.parseInt(opts.getOrDefault("downloads", String.valueOf(SERIES_DOWNLOADS))) : 0;
        Path out = Path.of(opts.getOrDefault("out", "target/bench/" + suite));
        Files.createDirectories(out);
        BenchmarkRunner runner = new BenchmarkRunner(duration, out, series);
        runner.warmupMs = Long.parseLong(opts.getOrDefault("warmup-ms", "1500"));
        Map<String, Object> report = runner.run(suite, scenarios, systems);
        Report.write(report, out);
        System.out.println(Files.readString(out.resolve("results.md")));
        System.out.println("written: " + out.toAbsolutePath());
    }

    Map<String, Object> run(String suite, List<Scenario> scenarios, List<SystemUnderTest> systems) throws IOException {
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("suite", suite);
        report.put("date", LocalDate.now().toString());
        report.put("machine", Machine.describe());
        report.put("downloadMs", durationMs);
        List<Map<String, Object>> rows = new ArrayList<>();
        for (Scenario scenario : scenarios) {
            rows.addAll(runScenario(scenario, systems));
        }
        report.put("results", rows);
        report.put("loadAverageAtEnd", Machine.loadAverage());
        return report;
    }

    private List<Map<String, Object>> runScenario(Scenario scenario, List<SystemUnderTest> systems) throws IOException {
        List<Map<String, Object>> rows = new ArrayList<>();
        System.err.println("== scenario " + scenario.name() + ": " + scenario.title());
        HybridAccessLab.Builder builder = HybridAccessLab.builder()
                .impairment(Link.DSL, scenario.dsl()).impairment(Link.LTE, scenario.lte());
        if (scenario.unlimited()) {
            builder.emulation(HybridAccessLab.Emulation.NONE);
        }
        try (HybridAccessLab lab = builder.build()) {
            for (Netns ns : List.of(lab.client(), lab.cpe(), lab.conc(), lab.server())) {
                ns.sysctl("net.mptcp.enabled", "1");
            }
            if (scenario.fault() == Scenario.Fault.STRIP_MPTCP_ON_DSL) {
                lab.stripMptcpOption(Link.DSL, true);
            }
            LabProcess plain = startLoadServer(lab, Systems.PLAIN_PORT, false);
            LabProcess mptcp = startLoadServer(lab, Systems.MPTCP_PORT, true);
            for (LabProcess server : List.of(plain, mptcp)) {
                server.awaitStdoutLine(l -> l.startsWith("LISTENING "), Duration.ofSeconds(30));
            }
            // System configs are scratch: kept out of the results directory, which may be committed.
            Path work = Files.createDirectories(Path.of(System.getProperty("java.io.tmpdir"),
                    "hybridproxy-bench-" + ProcessHandle.current().pid(), scenario.name()));
            for (SystemUnderTest system : systems) {
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("scenario", scenario.name());
                row.put("scenarioTitle", scenario.title());
                row.put("system", system.name());
                row.put("systemTitle", system.title());
                row.put("linkSumMbit", scenario.unlimited() ? null : scenario.linkSumMbit());
                if (system.unavailableReason().isPresent()) {
                    row.put("skipped", system.unavailableReason().get());
                    rows.add(row);
                    continue;
                }
                System.err.println("-- " + scenario.name() + " / " + system.name());
                Running running = null;
                try {
                    running = system.start(lab, work);
                    if (series > 0) {
                        measureSeries(lab, running, series, row);
                    } else {
                        measure(lab, scenario, running, running.endToEndMptcp() ? mptcp : plain, row);
                    }
                } catch (RuntimeException | IOException e) {
                    row.put("error", e.getClass().getSimpleName() + ": " + firstLine(e.getMessage()));
                    e.printStackTrace();
                } finally {
                    if (running != null) {
                        try {
                            running.stop();
                        } catch (RuntimeException e) {
                            row.put("teardownError", firstLine(e.getMessage()));
                        }
                    }
                    lab.blackhole(Link.DSL, false);
                }
                System.err.println("   " + Json.write(summary(row)));
                rows.add(row);
            }
        }
        return rows;
    }

    private static Map<String, Object> summary(Map<String, Object> row) {
        Map<String, Object> s = new LinkedHashMap<>(row);
        s.remove("uplinkTimeline");
        s.remove("goodputTimeline");
        s.remove("scenarioTitle");
        s.remove("systemTitle");
        return s;
    }

    private LabProcess startLoadServer(HybridAccessLab lab, int port, boolean mptcp) {
        List<String> args = new ArrayList<>(List.of("--listen", "0.0.0.0:" + port));
        if (mptcp) {
            args.add("--mptcp");
        }
        List<String> cmd = new ArrayList<>(List.of("prlimit", Machine.nofileOption(), "--"));
        cmd.addAll(JavaLauncher.command(LOADGEN_JVM, LoadServer.class.getName(), args.toArray(String[]::new)));
        // Not waited for here: both servers' JVMs start side by side.
        return lab.server().startLogged("loadserver-" + port, cmd.toArray(String[]::new));
    }

    private void measure(HybridAccessLab lab, Scenario scenario, Running running, LabProcess server,
                         Map<String, Object> row) {
        if (scenario.holdConnections() > 0) {
            // A relay holds two descriptors per connection; ask for no more than the descriptor limit allows.
            long possible = (Machine.openFileHardLimit() - 1000) / 2;
            int connections = (int) Math.min(scenario.holdConnections(), possible);
            row.put("holdConnectionsRequested", scenario.holdConnections());
            Map<String, Object> hold = client(lab, running, "hold", "--connections",
                    String.valueOf(connections), "--concurrency", "500", "--duration-ms", "3000",
                    "--timeout-ms", "120000");
            row.put("hold", hold);
            row.put("ok", hold.get("ok"));
            if (!running.proxies().isEmpty()) {
                row.put("peakRssBytes", ProcessStats.of(running.proxyPids()).peakRssBytes());
            }
            return;
        }
        if (!running.proxies().isEmpty()) {
            // Every proxy gets the same short unmeasured download first, so a JIT-compiled one is not charged for
            // compiling its hot paths while natively compiled ones are measured warm.
            int warmupLinesBefore = server.stdoutLines().size();
            client(lab, running, "bulk", "--direction", "down", "--connections", "1", "--duration-ms",
                    String.valueOf(warmupMs),
                    "--idle-ms", "3000");
            // The server's line for the warm-up must be in before the measured download starts: a warm-up that
            // stalled ends on the server only once the proxies tear it down, seconds after its client gave up, and
            // that late line was taken for the measured download's verdict. It is kept in the row, not hidden.
            String warmup = awaitServerVerdict(server, warmupLinesBefore, WARMUP_VERDICT_WAIT);
            row.put("warmupServerVerdict", warmup == null
                    ? "none within " + WARMUP_VERDICT_WAIT.toSeconds() + " s of the client's end" : warmup);
        }
        CounterSampler sampler = CounterSampler.start(lab.cpe());
        ProcessStats before = ProcessStats.of(running.proxyPids());
        List<ProcessStats> beforeEach = running.proxyPids().stream().map(p -> ProcessStats.of(List.of(p))).toList();
        int serverLinesBefore = server.stdoutLines().size();
        List<String> bulkArgs = new ArrayList<>(List.of("--direction", "down", "--connections", "1", "--duration-ms",
                String.valueOf(durationMs), "--timeline-ms", String.valueOf(TIMELINE_MS), "--grace-ms", "60000",
                "--idle-ms", "5000"));
        if (scenario.offeredFractionOfDsl() > 0) {
            bulkArgs.addAll(List.of("--rate-kbit",
                    String.valueOf(Math.round(scenario.dsl().rateKbit() * scenario.offeredFractionOfDsl()))));
        }
        double[] blackholeAt = {-1};
        ScheduledExecutorService faults = Executors.newSingleThreadScheduledExecutor();
        if (scenario.fault() == Scenario.Fault.BLACKHOLE_DSL) {
            // Counted from launching the client; the client's JVM start is well under the delay.
            faults.schedule(() -> {
                lab.blackhole(Link.DSL, true);
                blackholeAt[0] = LoadClient.uptimeSeconds();
            }, Scenario.BLACKHOLE_AT.toMillis() + 700, TimeUnit.MILLISECONDS);
        }
        if (scenario.fault() == Scenario.Fault.LTE_COLLAPSE) {
            long at = Scenario.BLACKHOLE_AT.toMillis() + 700;
            faults.schedule(() -> lab.setRate(Link.LTE, Scenario.COLLAPSED_LTE_MBIT), at, TimeUnit.MILLISECONDS);
            faults.schedule(() -> lab.setRate(Link.LTE, scenario.lte().rateMbit()),
                    at + Scenario.COLLAPSE_FOR.toMillis(), TimeUnit.MILLISECONDS);
        }
        Map<String, Object> bulk;
        try {
            bulk = client(lab, running, "bulk", bulkArgs.toArray(String[]::new));
        } finally {
            faults.shutdownNow();
        }
        ProcessStats after = ProcessStats.of(running.proxyPids());
        List<ProcessStats> afterEach = running.proxyPids().stream().map(p -> ProcessStats.of(List.of(p))).toList();
        List<CounterSampler.Sample> samples = sampler.stop();
        String verdict = awaitServerVerdict(server, serverLinesBefore, Duration.ofSeconds(5));
        if (verdict == null) {
            verdict = Boolean.TRUE.equals(bulk.get("ok"))
                    ? "no verdict: bytes checked by the client only; its digest sent after the server's FIN never"
                    + " arrived (half-close not relayed)"
                    : "no verdict: the stream did not finish";
        }

        long verified = ((Number) bulk.get("verifiedBytes")).longValue();
        row.put("ok", bulk.get("ok"));
        row.put("outcomes", bulk.get("outcomes"));
        row.put("serverVerdict", verdict);
        row.put("goodputMbps", round(((Number) bulk.get("goodputMbps")).doubleValue(), 1));
        row.put("verifiedBytes", verified);
        row.put("unverifiedBytes", bulk.get("unverifiedBytes"));
        long sent = sentBytes(verdict);
        row.put("bytesLost", sent >= 0 ? Math.max(0, sent - verified) : null);
        if (!running.proxies().isEmpty()) {
            double cpu = after.cpuSeconds() - before.cpuSeconds();
            Map<String, Double> cpuEach = new LinkedHashMap<>();
            for (int i = 0; i < running.proxies().size(); i++) {
                cpuEach.put(running.proxies().get(i).label(), round(afterEach.get(i).cpuSeconds()
                        - beforeEach.get(i).cpuSeconds(), 2));
            }
            row.put("proxyCpuSecondsByProcess", cpuEach);
            row.put("proxyCpuSeconds", round(cpu, 2));
            row.put("cpuSecondsPerGB", verified > 0 ? round(cpu / (verified / 1e9), 2) : null);
        }
        long[] goodput = toLongs(bulk.get("timelineBytes"));
        double startUptime = ((Number) bulk.get("startUptimeSeconds")).doubleValue();
        row.put("goodputTimeline", Arrays.stream(goodput).mapToDouble(b -> round(b * 8 / (TIMELINE_MS / 1000.0) / 1e6, 2))
                .toArray());
        row.put("uplinkTimeline", CounterSampler.timeline(samples, startUptime));
        row.put("longestStallMs", Stalls.longestMs(goodput));
        CounterSampler.Sample first = samples.getFirst();
        CounterSampler.Sample last = samples.getLast();
        long dslBytes = last.dslRx() - first.dslRx();
        long lteBytes = last.lteRx() - first.lteRx();
        row.put("lteShare", dslBytes + lteBytes > 0 ? round((double) lteBytes / (dslBytes + lteBytes), 3) : null);
        if (blackholeAt[0] > 0) {
            double atSeconds = blackholeAt[0] - startUptime;
            row.put("blackholeAtSeconds", round(atSeconds, 2));
            double surviving = scenario.lte().rateMbit();
            // The server stops sending durationMs after the request reached it; the first goodput bucket marks that.
            int firstByte = 0;
            while (firstByte < goodput.length && goodput[firstByte] == 0) {
                firstByte++;
            }
            double sendingUntil = firstByte * TIMELINE_MS / 1000.0 + durationMs / 1000.0;
            double stall = longestStall(goodput, atSeconds, sendingUntil, surviving * 0.1);
            row.put("failoverStallSeconds", round(stall, 2));
            row.put("recovered", deliveredAfter(goodput, atSeconds + stall) > 0);
        } else if (scenario.fault() != Scenario.Fault.BLACKHOLE_DSL) {
            // 200 unmeasured objects first: the JIT-compiled systems' connection-setup paths are then compiled, as
            // they are in a running appliance (40 left them interpreted and added ~20 ms to every first byte).
            Map<String, Object> ttfb = client(lab, running, "ttfb", "--count", "40", "--concurrency", "4", "--size",
                    "10000", "--warmup", "200");
            row.put("ttfbOk", ttfb.get("ok"));
            row.put("ttfbP50Ms", ((Map<?, ?>) ttfb.get("ttfb")).get("p50Ms"));
            row.put("ttfbP99Ms", ((Map<?, ?>) ttfb.get("ttfb")).get("p99Ms"));
            row.put("connectionsPerSecond", round(((Number) ttfb.get("connectionsPerSecond")).doubleValue(), 1));
            // Setup rate under load: 32 clients at once, a new connection per 10 kB object (as ApacheBench -c 32).
            Map<String, Object> setup = client(lab, running, "ttfb", "--count", String.valueOf(SETUP_OBJECTS),
                    "--concurrency", "32", "--size", "10000", "--warmup", "100");
            row.put("setupOk", setup.get("ok"));
            row.put("setupPerSecond32", round(((Number) setup.get("connectionsPerSecond")).doubleValue(), 1));
        }
        if (!running.proxies().isEmpty()) {
            row.put("peakRssBytes", ProcessStats.of(running.proxyPids()).peakRssBytes());
            row.put("peakRssBytesByProcess", ProcessStats.peakRssEach(
                    running.proxies().stream().map(LabProcess::label).toList(), running.proxyPids()));
        }
    }

    /**
     * The stall series: {@code downloads} consecutive single-connection downloads of {@code durationMs} each, every
     * one judged by the stall criterion ({@link Stalls}); the row keeps each download's goodput and longest stall.
     */
    private void measureSeries(HybridAccessLab lab, Running running, int downloads, Map<String, Object> row) {
        if (!running.proxies().isEmpty()) {
            client(lab, running, "bulk", "--direction", "down", "--connections", "1", "--duration-ms",
                    String.valueOf(warmupMs),
                    "--idle-ms", "3000");
        }
        List<Double> goodputs = new ArrayList<>();
        List<Long> stalls = new ArrayList<>();
        boolean allOk = true;
        for (int i = 0; i < downloads; i++) {
            Map<String, Object> bulk = client(lab, running, "bulk", "--direction", "down", "--connections", "1",
                    "--duration-ms", String.valueOf(durationMs), "--timeline-ms", String.valueOf(TIMELINE_MS),
                    "--grace-ms", "60000", "--idle-ms", "5000");
            allOk &= Boolean.TRUE.equals(bulk.get("ok"));
            goodputs.add(round(((Number) bulk.get("goodputMbps")).doubleValue(), 1));
            stalls.add(Stalls.longestMs(toLongs(bulk.get("timelineBytes"))));
            System.err.println("   download " + (i + 1) + ": " + goodputs.getLast() + " Mb/s, longest stall "
                    + stalls.getLast() + " ms");
        }
        List<Long> sortedStalls = stalls.stream().sorted().toList();
        List<Double> sortedGoodput = goodputs.stream().sorted().toList();
        row.put("ok", allOk);
        row.put("downloads", downloads);
        row.put("goodputMbps", sortedGoodput.get(sortedGoodput.size() / 2));
        row.put("seriesGoodputMbps", goodputs);
        row.put("seriesLongestStallMs", stalls);
        row.put("longestStallMs", sortedStalls.getLast());
        row.put("medianStallMs", sortedStalls.get(sortedStalls.size() / 2));
        row.put("downloadsWithStallOver200Ms", stalls.stream().filter(ms -> ms >= SERIES_STALL_LIMIT_MS).count());
    }

    /**
     * The longest run of timeline buckets from {@code fromSeconds} up to {@code untilSeconds} (when the server
     * stopped sending) in which goodput stayed below {@code thresholdMbit}, in seconds. A transfer that never
     * recovers stalls until the end of the sending period.
     */
    static double longestStall(long[] bytesPerBucket, double fromSeconds, double untilSeconds, double thresholdMbit) {
        int from = (int) Math.floor(fromSeconds * 1000 / TIMELINE_MS);
        int until = (int) Math.min(bytesPerBucket.length - 1, Math.floor(untilSeconds * 1000 / TIMELINE_MS));
        int longest = 0;
        int current = 0;
        for (int i = Math.max(0, from); i <= until; i++) {
            double mbit = bytesPerBucket[i] * 8 / (TIMELINE_MS / 1000.0) / 1e6;
            current = mbit < thresholdMbit ? current + 1 : 0;
            longest = Math.max(longest, current);
        }
        return longest * TIMELINE_MS / 1000.0;
    }

    /** Bytes in the timeline from {@code seconds} on. */
    static long deliveredAfter(long[] bytesPerBucket, double seconds) {
        long sum = 0;
        for (int i = (int) Math.ceil(seconds * 1000 / TIMELINE_MS); i < bytesPerBucket.length; i++) {
            sum += bytesPerBucket[Math.max(0, i)];
        }
        return sum;
    }

    private Map<String, Object> client(HybridAccessLab lab, Running running, String mode, String... args) {
        List<String> cmd = new ArrayList<>(List.of("prlimit", Machine.nofileOption(), "--"));
        List<String> clientArgs = new ArrayList<>(List.of(mode, "--connect", running.target()));
        clientArgs.addAll(List.of(args));
        if (running.endToEndMptcp()) {
            clientArgs.add("--mptcp");
        }
        cmd.addAll(JavaLauncher.command(LOADGEN_JVM, LoadClient.class.getName(), clientArgs.toArray(String[]::new)));
        ExecResult r = lab.client().tryExec(CLIENT_TIMEOUT, cmd.toArray(String[]::new));
        List<String> json = r.stdout().lines().filter(l -> l.startsWith("{")).toList();
        if (json.isEmpty()) {
            throw new IllegalStateException("load client " + mode + " printed no result: " + r.describe());
        }
        return Json.parseObject(json.getLast());
    }

    /** The first {@code DONE op=BULKDOWN} line the server prints after line {@code linesBefore}, or null. */
    private static String awaitServerVerdict(LabProcess server, int linesBefore, Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        while (System.nanoTime() < deadline) {
            List<String> lines = server.stdoutLines();
            for (int i = Math.min(linesBefore, lines.size()); i < lines.size(); i++) {
                if (lines.get(i).startsWith("DONE op=BULKDOWN")) {
                    return lines.get(i);
                }
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        return null;
    }

    private static long sentBytes(String verdict) {
        for (String word : verdict.split(" ")) {
            if (word.startsWith("sent=")) {
                return Long.parseLong(word.substring(5));
            }
        }
        return -1;
    }

    private static long[] toLongs(Object list) {
        return ((List<?>) list).stream().mapToLong(o -> ((Number) o).longValue()).toArray();
    }

    static double round(double v, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        String t = s.strip();
        int nl = t.indexOf('\n');
        return nl < 0 ? t : t.substring(0, nl);
    }
}
