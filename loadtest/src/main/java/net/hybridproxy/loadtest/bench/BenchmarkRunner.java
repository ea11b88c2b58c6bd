package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.bench.Systems.Running;
import net.hybridproxy.loadtest.bench.Systems.SystemUnderTest;
import net.hybridproxy.loadtest.lab.ApplianceLauncher;
import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.HybridAccessLab.Link;
import net.hybridproxy.loadtest.lab.JavaLauncher;
import net.hybridproxy.loadtest.lab.LabProcess;
import net.hybridproxy.loadtest.lab.Netns;
import net.hybridproxy.loadtest.lab.Stalls;
import net.hybridproxy.loadtest.loadgen.BulkOptions;
import net.hybridproxy.loadtest.loadgen.BulkResult;
import net.hybridproxy.loadtest.loadgen.HoldOptions;
import net.hybridproxy.loadtest.loadgen.HoldResult;
import net.hybridproxy.loadtest.loadgen.LoadClient;
import net.hybridproxy.loadtest.loadgen.LoadServer;
import net.hybridproxy.loadtest.loadgen.LoadTarget;
import net.hybridproxy.loadtest.loadgen.TtfbOptions;
import net.hybridproxy.loadtest.loadgen.TtfbResult;
import net.hybridproxy.loadtest.loadgen.Workload;
import net.hybridproxy.loadtest.tool.ToolCommandLine;
import net.hybridproxy.loadtest.tool.ToolJson;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

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
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Runs every system on every scenario of a suite in one lab run, systems interleaved within each scenario so that
 * machine noise hits them alike, and writes {@code results.json}, {@code results.md} and SVG plots.
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
    /** How much of a download's start the progress lines show at the early timeline's grain (10 ms). */
    private static final int EARLY_RAMP_MS = 400;
    /** Objects fetched by the 32-client setup-rate measurement: a few seconds per system. */
    private static final int SETUP_OBJECTS = 800;
    /** New connections whose per-connection CPU and system calls the proxies are charged with (setupCost). */
    private static final int SETUP_COST_OBJECTS = 1000;
    /**
     * Unmeasured objects, at the same 32 clients, before the setup rate is measured. With 100, a JVM-based system was
     * measured while its JIT compilers still ran: in a 2-core lab the concentrator's C1 and C2 threads used as much
     * CPU as its event loops during the measurement, and the kernel engine's rate was 0.33-0.37 x shadowsocks';
     * after 1500 the same run gave 0.77 x (docs/decisions.md). A running appliance has compiled these paths long
     * ago, so the steady state is what an operator gets; every system gets the same warm-up.
     */
    private static final int SETUP_WARMUP_OBJECTS = 1500;
    /** New connections straight to each load server before a scenario's first system ({@link #warmLoadServers}). */
    private static final int LOAD_SERVER_WARMUP_OBJECTS = 3000;
    /** The stall series: downloads per system and scenario, and the stall that fails a download. */
    static final int SERIES_DOWNLOADS = 20;
    static final long SERIES_STALL_LIMIT_MS = 200;
    /**
     * The load server's congestion control for one run (e.g. {@code cubic}); unset, it inherits the host's default.
     * Set in the server's namespace only, so the appliances' own senders keep theirs.
     */
    static final String SERVER_CC_VARIABLE = "HYBRIDPROXY_LAB_SERVER_CC";
    /**
     * The concentrator's per-uplink route congestion control for one run instead of the lab's recommended one
     * ({@link HybridAccessLab.Builder#concentratorCongestionControl}): {@code none} (every uplink on the host's
     * default), or {@code link=algorithm} pairs such as {@code dsl=cubic,lte=bbr}; a link left out keeps the default.
     */
    static final String CONC_ROUTE_CC_VARIABLE = "HYBRIDPROXY_LAB_CONC_ROUTE_CC";
    /**
     * Longest wait for the server's line of the warm-up download after its client returned: immediate when it went
     * well; a stalled one was seen torn down by the proxies about 3 s after its client gave up.
     */
    private static final Duration WARMUP_VERDICT_WAIT = Duration.ofSeconds(20);
    /** The unmeasured warm-up download every proxy gets first. */
    private static final long WARMUP_MS = 1500;
    /**
     * Suite "steady": the warm-up and the measured download, ms. CPU per GB is a steady-state figure: at 75 Mbit/s a
     * method of a JVM's per-frame path reaches C2's thresholds only after seconds of traffic and C2 then takes
     * seconds per method on a loaded machine, so a short warm-up charges the measured download for compiling it.
     * 20 s of warm-up, then 20 s measured; each row also says what the compiler threads still took in the window.
     */
    static final long STEADY_MS = 20_000;
    private static final BulkOptions WARMUP = BulkOptions.timed(false, WARMUP_MS).withTimeouts(60_000, 3_000);
    private static final List<String> LOADGEN_JVM = List.of("-Xmx512m", "-XX:+UseSerialGC", "-Xshare:auto",
            "--enable-native-access=ALL-UNNAMED");

    private final long durationMs;
    private final Path out;

    /**
     * The unmeasured warm-up download, ms (--warmup-ms): 1.5 s by default; steady-state CPU figures want longer, so
     * that the JIT's compiler threads are done before the measured download starts.
     */
    private long warmupMs = WARMUP_MS;
    /**
     * Whether each row also measures the setup rate and TTFB (not in suite "steady", which is about CPU and RSS, nor
     * with --bulk-only, which is about the download alone).
     */
    private boolean measureSetup = true;
    /**
     * Suite "setup": each row is the setup rate and the cost per connection only (no download, no TTFB), so that a
     * round of two systems takes about a minute and {@code --repeat N} makes the rate a series.
     */
    private boolean setupOnly;
    /** Suite "steady": CPU by thread group and system calls per GB over the measured download. */
    private boolean measureSteadyCost;

    /** Downloads per system in the stall series (suite "stalls"); 0 for the other suites. */
    private final int series;
    /**
     * Rounds per scenario (--repeat): every system measured once per round, systems alternating, each round on a
     * freshly started system. One steady run's CPU per GB moved by 15-20 % between quiet runs of the same code
     * (docs/decisions.md), more than most changes measured with it; the report gives each system's median and spread
     * over the rounds and the ratios between systems of the same round.
     */
    private int repeat = 1;

    BenchmarkRunner(long durationMs, Path out) {
        this(durationMs, out, 0);
    }

    BenchmarkRunner(long durationMs, Path out, int series) {
        this.durationMs = durationMs;
        this.out = out;
        this.series = series;
    }

    public static void main(String[] args) {
        ToolCommandLine.exit(new BenchmarkCommand(), args);
    }

    /** The command line; {@code bin/benchmark} passes the suite and the output directory. */
    @Command(name = "BenchmarkRunner", mixinStandardHelpOptions = true,
            description = "Side-by-side benchmark of the proxies in the namespace lab (needs root).",
            exitCodeListHeading = "%nExit codes:%n", exitCodeList = {"0:results written", "1:the run failed",
                    "2:usage error"})
    static final class BenchmarkCommand implements Callable<Integer> {
        @Option(names = "--suite", defaultValue = "quick", paramLabel = "quick|full|stalls|steady|setup",
                description = "which scenarios and systems (default: ${DEFAULT-VALUE})")
        String suite;

        @Option(names = "--scenarios", split = ",", paramLabel = "NAME", description = "only these scenarios")
        List<String> scenarios;

        @Option(names = "--systems", split = ",", paramLabel = "NAME", description = "only these systems")
        List<String> systems;

        @Option(names = "--duration-ms", description = "measured download (default: " + STEADY_MS + " for steady,"
                + " 10000 for full and stalls, 3000 otherwise)")
        Long durationMs;

        @Option(names = "--downloads", defaultValue = "" + SERIES_DOWNLOADS,
                description = "stalls suite: downloads per system (default: ${DEFAULT-VALUE})")
        int downloads;

        @Option(names = "--out", paramLabel = "DIR", description = "results directory (default: target/bench/SUITE)")
        Path out;

        @Option(names = "--repeat", defaultValue = "1", paramLabel = "N",
                description = "measure each scenario N times, systems alternating, each round on freshly started"
                        + " systems; the report adds medians and spreads (default: ${DEFAULT-VALUE})")
        int repeat;

        @Option(names = "--warmup-ms", description = "the unmeasured warm-up download before each measured one"
                + " (default: " + STEADY_MS + " for steady, " + WARMUP_MS + " otherwise); steady-state CPU figures"
                + " want longer, so that the JIT's compilers are done")
        Long warmupMs;

        @Option(names = "--bulk-only", description = "measure the download alone: no TTFB, setup rate or setup"
                + " cost (a quick round then takes about half a minute per system instead of three; for --repeat series"
                + " of goodput ratios)")
        boolean bulkOnly;

        @Override
        public Integer call() throws IOException {
            if (!List.of("quick", "full", "stalls", "steady", "setup").contains(suite)) {
                throw new IllegalArgumentException("unknown suite " + suite
                        + "; known: quick, full, stalls, steady, setup");
            }
            boolean stalls = suite.equals("stalls");
            boolean steady = suite.equals("steady");
            boolean setup = suite.equals("setup");
            List<Scenario> chosenScenarios = scenarios != null ? scenarios.stream().map(Scenario::byName).toList()
                    : stalls ? Scenario.STALL_SERIES : steady ? Scenario.STEADY : setup ? Scenario.SETUP
                    : suite.equals("full") ? Scenario.FULL : Scenario.QUICK;
            List<SystemUnderTest> chosenSystems = systems != null ? systems.stream().map(Systems::byName).toList()
                    : stalls ? List.of(Systems.HYBRIDPROXY)
                    : setup ? List.of(Systems.SHADOWSOCKS, Systems.HYBRIDPROXY) : Systems.ALL;
            long duration = durationMs != null ? durationMs : steady ? STEADY_MS
                    : suite.equals("full") || stalls ? 10_000 : 3_000;
            Path dir = out != null ? out : Path.of("target", "bench", suite);
            Files.createDirectories(dir);
            BenchmarkRunner runner = new BenchmarkRunner(duration, dir, stalls ? downloads : 0);
            runner.warmupMs = warmupMs != null ? warmupMs : steady ? STEADY_MS : WARMUP_MS;
            runner.measureSetup = !steady && !bulkOnly;
            runner.measureSteadyCost = steady;
            runner.setupOnly = setup;
            if (repeat < 1 || (repeat > 1 && stalls)) {
                throw new IllegalArgumentException("--repeat takes N >= 1, and the stalls suite repeats by --downloads");
            }
            runner.repeat = repeat;
            BenchmarkReport report = runner.run(suite, chosenScenarios, chosenSystems);
            Report.write(report, dir);
            System.out.println(Files.readString(dir.resolve("results.md")));
            System.out.println("written: " + dir.toAbsolutePath());
            return ToolCommandLine.OK;
        }
    }

    BenchmarkReport run(String suite, List<Scenario> scenarios, List<SystemUnderTest> systems) throws IOException {
        BenchmarkReport.MachineInfo machine = Machine.describe();
        List<BenchmarkRow> rows = new ArrayList<>();
        for (Scenario scenario : scenarios) {
            rows.addAll(runScenario(scenario, systems));
        }
        return new BenchmarkReport(suite, LocalDate.now().toString(), machine, durationMs, rows,
                Machine.loadAverage());
    }

    /** Applies {@link #CONC_ROUTE_CC_VARIABLE}'s value to the lab's builder. */
    static void concentratorCongestionControl(HybridAccessLab.Builder builder, String value) {
        List<Link> uplinks = List.of(Link.DSL, Link.LTE);
        if (value.strip().equals("none")) {
            uplinks.forEach(link -> builder.concentratorCongestionControl(link, null));
            return;
        }
        for (String entry : value.strip().split(",")) {
            String[] linkAndAlgorithm = entry.strip().split("=", 2);
            Link link = uplinks.stream().filter(l -> l.ifname().equals(linkAndAlgorithm[0].strip())).findFirst()
                    .orElse(null);
            if (link == null || linkAndAlgorithm.length != 2 || linkAndAlgorithm[1].isBlank()) {
                throw new IllegalArgumentException(CONC_ROUTE_CC_VARIABLE + ": expected none or dsl=<algorithm>,"
                        + " lte=<algorithm> pairs; got \"" + entry.strip() + "\"");
            }
            builder.concentratorCongestionControl(link, linkAndAlgorithm[1]);
        }
    }

    private List<BenchmarkRow> runScenario(Scenario scenario, List<SystemUnderTest> systems) throws IOException {
        List<BenchmarkRow> rows = new ArrayList<>();
        System.err.println("== scenario " + scenario.name() + ": " + scenario.title());
        HybridAccessLab.Builder builder = HybridAccessLab.builder()
                .impairment(Link.DSL, scenario.dsl()).impairment(Link.LTE, scenario.lte());
        if (scenario.unlimited()) {
            builder.emulation(HybridAccessLab.Emulation.NONE);
        }
        String routeCongestionControl = System.getenv(CONC_ROUTE_CC_VARIABLE);
        if (routeCongestionControl != null && !routeCongestionControl.isBlank()) {
            concentratorCongestionControl(builder, routeCongestionControl);
            System.err.println("   concentrator's route congestion control: " + routeCongestionControl.strip());
        }
        try (HybridAccessLab lab = builder.build()) {
            for (Netns ns : List.of(lab.client(), lab.cpe(), lab.conc(), lab.server())) {
                ns.sysctl("net.mptcp.enabled", "1");
            }
            String serverCongestionControl = System.getenv(SERVER_CC_VARIABLE);
            if (serverCongestionControl != null && !serverCongestionControl.isBlank()) {
                // Every namespace inherits the host's default (BBR here); content servers run CUBIC (the Linux
                // default) as often as BBR, so a stall that only one of them shows is looked at with both. Per route
                // (congctl), because a namespace other than the host's may only default to the host's allowed
                // algorithms (net.ipv4.tcp_allowed_congestion_control, EPERM otherwise), which the lab leaves alone.
                String cc = serverCongestionControl.strip();
                // The srv link's connected route (the lab gives every link a /24), replaced by itself plus congctl.
                String server = HybridAccessLab.SERVER_ADDR;
                String srvSubnet = server.substring(0, server.lastIndexOf('.')) + ".0/24";
                lab.server().ip("route", "replace", srvSubnet, "dev", "srv", "proto", "kernel", "scope", "link",
                        "src", server, "congctl", cc);
                lab.server().ip("route", "replace", "default", "via", HybridAccessLab.CONC_SRV_ADDR, "dev", "srv",
                        "congctl", cc);
                System.err.println("   load server congestion control: " + cc + " (per route)");
            }
            if (scenario.fault() == Scenario.Fault.STRIP_MPTCP_ON_DSL) {
                lab.stripMptcpOption(Link.DSL, true);
            }
            LabProcess plain = startLoadServer(lab, Systems.PLAIN_PORT, false);
            LabProcess mptcp = startLoadServer(lab, Systems.MPTCP_PORT, true);
            for (LabProcess server : List.of(plain, mptcp)) {
                // As generous as an appliance's start (a JVM at load average 35-45 took over 30 s).
                server.awaitStdoutLine(l -> l.startsWith("LISTENING "), ApplianceLauncher.READY_WITHIN);
            }
            if (measureSetup && series == 0) {
                warmLoadServers(lab);
            }
            // System configs are scratch: kept out of the results directory, which may be committed.
            Path work = Files.createDirectories(Path.of(System.getProperty("java.io.tmpdir"),
                    "hybridproxy-bench-" + ProcessHandle.current().pid(), scenario.name()));
            for (int round = 1; round <= repeat; round++) {
                for (SystemUnderTest system : systems) {
                    BenchmarkRow.RowBuilder row = new BenchmarkRow.RowBuilder(scenario.name(), system.name());
                    row.round = repeat > 1 ? round : null;
                    row.scenarioTitle = scenario.title();
                    row.systemTitle = system.title();
                    row.linkSumMbit = scenario.unlimited() ? null : scenario.linkSumMbit();
                    if (system.unavailableReason().isPresent()) {
                        row.skipped = system.unavailableReason().get();
                        rows.add(row.build());
                        continue;
                    }
                    System.err.println("-- " + scenario.name() + " / " + system.name()
                            + (repeat > 1 ? " (round " + round + " of " + repeat + ")" : ""));
                    Running running = null;
                    try {
                        running = system.start(lab, work);
                        if (series > 0) {
                            measureSeries(lab, running, series, row);
                        } else if (setupOnly) {
                            measureSetupOnly(lab, running, row);
                        } else {
                            measure(lab, scenario, running, running.endToEndMptcp() ? mptcp : plain, row);
                        }
                    } catch (RuntimeException | IOException e) {
                        row.error = e.getClass().getSimpleName() + ": " + firstLine(e.getMessage());
                        e.printStackTrace();
                    } finally {
                        if (running != null) {
                            try {
                                running.stop();
                            } catch (RuntimeException e) {
                                row.teardownError = firstLine(e.getMessage());
                            }
                        }
                        lab.blackhole(Link.DSL, false);
                    }
                    BenchmarkRow done = row.build();
                    System.err.println("   " + ToolJson.line(done.summary()));
                    rows.add(done);
                }
            }
        }
        return rows;
    }

    /**
     * Unmeasured new connections straight to both load servers (no proxy in the path) before the first system runs.
     * The servers are JVMs started with the scenario's lab and shared by its systems in turn: without this, the first
     * system's TTFB and setup runs met a server still compiling its connection path (its compiler threads taking CPU
     * from the proxies on a 2-core machine) and the later systems a compiled one, which the order of --systems
     * decided.
     */
    private void warmLoadServers(HybridAccessLab lab) {
        for (boolean mptcp : new boolean[] {false, true}) {
            LoadTarget target = LoadTarget.of(HybridAccessLab.SERVER_ADDR + ":"
                    + (mptcp ? Systems.MPTCP_PORT : Systems.PLAIN_PORT)).withMptcp(mptcp);
            TtfbResult warm = HybridAccessLab.runLoadClient(lab.client(), CLIENT_TIMEOUT,
                    loadGenerator(), LOADGEN_JVM, target,
                    TtfbOptions.of(LOAD_SERVER_WARMUP_OBJECTS, 32, 10_000));
            System.err.println("   load server warm-up, " + (mptcp ? "MPTCP" : "TCP") + ": "
                    + warm.connectionsPerSecond() + " connections/s" + (warm.ok() ? "" : " (some failed)"));
        }
    }

    private LabProcess startLoadServer(HybridAccessLab lab, int port, boolean mptcp) {
        List<String> args = new ArrayList<>(List.of("--listen", "0.0.0.0:" + port));
        if (mptcp) {
            args.add("--mptcp");
        }
        List<String> cmd = new ArrayList<>(loadGenerator());
        List<String> jvm = new ArrayList<>(LOADGEN_JVM);
        jvm.addAll(SeriesTrace.loadServerJvmOptions(port));
        cmd.addAll(JavaLauncher.command(jvm, LoadServer.class.getName(), args.toArray(String[]::new)));
        // Not waited for here: both servers' JVMs start side by side.
        return lab.server().startLogged("loadserver-" + port, cmd.toArray(String[]::new));
    }

    private void measure(HybridAccessLab lab, Scenario scenario, Running running, LabProcess server,
                         BenchmarkRow.RowBuilder row) {
        if (scenario.holdConnections() > 0) {
            // A relay holds two descriptors per connection; ask for no more than the descriptor limit allows.
            long possible = (Machine.openFileHardLimit() - 1000) / 2;
            int connections = (int) Math.min(scenario.holdConnections(), possible);
            row.holdConnectionsRequested = scenario.holdConnections();
            HoldResult hold = client(lab, running, new HoldOptions(connections, 500, 3000, 120_000));
            row.hold = hold;
            row.ok = hold.ok();
            if (!running.proxies().isEmpty()) {
                row.peakRssBytes = ProcessStats.of(running.proxyPids()).peakRssBytes();
            }
            return;
        }
        Map<String, Long> poolBeforeDownloads = setupCounters(lab, running);
        if (!running.proxies().isEmpty()) {
            // Every proxy gets the same short unmeasured download first, so a JIT-compiled one is not charged for
            // compiling its hot paths while natively compiled ones are measured warm.
            int warmupLinesBefore = server.stdoutLines().size();
            client(lab, running, warmupMs == WARMUP_MS ? WARMUP
                    : BulkOptions.timed(false, warmupMs).withTimeouts(60_000, 3_000));
            // The server's line for the warm-up must be in before the measured download starts: a warm-up that
            // stalled ends on the server only once the proxies tear it down, seconds after its client gave up, and
            // that late line was taken for the measured download's verdict. It is kept in the row, not hidden.
            String warmup = awaitServerVerdict(server, warmupLinesBefore, WARMUP_VERDICT_WAIT);
            row.warmupServerVerdict = warmup == null
                    ? "none within " + WARMUP_VERDICT_WAIT.toSeconds() + " s of the client's end" : warmup;
        }
        Map<String, Long> countersBefore = running.proxies().isEmpty() ? Map.of()
                : EngineCounters.settled(lab.cpe(), lab.conc());
        CounterSampler sampler = CounterSampler.start(lab.cpe());
        ProcessStats before = ProcessStats.of(running.proxyPids());
        List<ProcessStats> beforeEach = running.proxyPids().stream().map(p -> ProcessStats.of(List.of(p))).toList();
        List<Double> jitBefore = running.proxyPids().stream().map(ProcessStats::compilerCpuSeconds).toList();
        double loadBefore = Machine.loadAverage();
        // Steady state: CPU by thread group and system calls, per GB (what a per-byte change moves).
        ConnectionCost steadyCost = measureSteadyCost && !running.proxies().isEmpty()
                ? ConnectionCost.start(running.proxies()) : null;
        int serverLinesBefore = server.stdoutLines().size();
        BulkOptions download = measuredDownload();
        if (scenario.offeredFractionOfDsl() > 0) {
            download = download.withRateKbit(Math.round(scenario.dsl().rateKbit() * scenario.offeredFractionOfDsl()));
        }
        double[] blackholeAt = {-1};
        ExecutorService faults = Executors.newSingleThreadExecutor();
        if (scenario.fault() == Scenario.Fault.BLACKHOLE_DSL) {
            faults.execute(() -> {
                if (intoTheDownload(sampler, Scenario.BLACKHOLE_AT)) {
                    lab.blackhole(Link.DSL, true);
                    blackholeAt[0] = LoadClient.uptimeSeconds();
                }
            });
        }
        if (scenario.fault() == Scenario.Fault.LTE_COLLAPSE) {
            faults.execute(() -> {
                if (intoTheDownload(sampler, Scenario.BLACKHOLE_AT)) {
                    lab.setRate(Link.LTE, Scenario.COLLAPSED_LTE_MBIT);
                    if (sleepFor(Scenario.COLLAPSE_FOR)) {
                        lab.setRate(Link.LTE, scenario.lte().rateMbit());
                    }
                }
            });
        }
        BulkResult bulk;
        try {
            bulk = client(lab, running, download);
        } finally {
            faults.shutdownNow();
        }
        ProcessStats after = ProcessStats.of(running.proxyPids());
        Map<String, Double> steadyCostPerGB = steadyCost == null ? null
                : steadyCost.per(Math.max(1, bulk.verifiedBytes()) / 1e9);
        List<ProcessStats> afterEach = running.proxyPids().stream().map(p -> ProcessStats.of(List.of(p))).toList();
        List<Double> jitAfter = running.proxyPids().stream().map(ProcessStats::compilerCpuSeconds).toList();
        row.loadAverage = List.of(loadBefore, Machine.loadAverage());
        List<CounterSampler.Sample> samples = sampler.stop();
        if (!countersBefore.isEmpty()) {
            row.engineCounters = EngineCounters.growth(countersBefore, EngineCounters.settled(lab.cpe(), lab.conc()));
        }
        String verdict = awaitServerVerdict(server, serverLinesBefore, Duration.ofSeconds(5));
        if (verdict == null) {
            verdict = bulk.ok()
                    ? "no verdict: bytes checked by the client only; its digest sent after the server's FIN never"
                    + " arrived (half-close not relayed)"
                    : "no verdict: the stream did not finish";
        }

        long verified = bulk.verifiedBytes();
        row.ok = bulk.ok();
        row.outcomes = bulk.outcomes();
        row.serverVerdict = verdict;
        row.goodputMbps = round(bulk.goodputMbps(), 1);
        row.verifiedBytes = verified;
        row.unverifiedBytes = bulk.unverifiedBytes();
        long sent = sentBytes(verdict);
        row.bytesLost = sent >= 0 ? Math.max(0, sent - verified) : null;
        if (!running.proxies().isEmpty()) {
            double cpu = after.cpuSeconds() - before.cpuSeconds();
            row.proxyCpuSeconds = round(cpu, 2);
            Map<String, Double> cpuEach = new LinkedHashMap<>();
            Map<String, Double> jitEach = new LinkedHashMap<>();
            for (int i = 0; i < running.proxies().size(); i++) {
                cpuEach.put(running.proxies().get(i).label(), round(afterEach.get(i).cpuSeconds()
                        - beforeEach.get(i).cpuSeconds(), 2));
                jitEach.put(running.proxies().get(i).label(), round(jitAfter.get(i) - jitBefore.get(i), 2));
            }
            row.proxyCpuSecondsByProcess = cpuEach;
            row.jitCpuSecondsByProcess = jitEach;
            row.cpuSecondsPerGB = verified > 0 ? round(cpu / (verified / 1e9), 2) : null;
            row.steadyCostPerGB = verified > 0 ? steadyCostPerGB : null;
        }
        long[] goodput = bulk.timelineBytes();
        double startUptime = bulk.startUptimeSeconds();
        row.goodputTimeline = Arrays.stream(goodput).mapToDouble(b -> round(b * 8 / (TIMELINE_MS / 1000.0) / 1e6, 2))
                .toArray();
        row.uplinkTimeline = CounterSampler.timeline(samples, startUptime);
        row.longestStallMs = Stalls.longestMs(goodput);
        // The ramp, one download's worth of the series' figure: where a short download's ratio is won or lost.
        row.seriesFirstTwoSecondsMbps = List.of(round(SeriesTrace.firstSecondsMbps(bulk), 1));
        System.err.println("   " + SeriesTrace.ramp(bulk));
        System.err.println("   " + SeriesTrace.earlyRamp(bulk, EARLY_RAMP_MS));
        if (!poolBeforeDownloads.isEmpty()) {
            // Which connection carried the download (a pool hit or a fresh one), and what the pool closed meanwhile.
            System.err.println("   warm pool over the warm-up and the measured download: " + EngineCounters.growth(
                    poolBeforeDownloads, setupCounters(lab)));
        }
        CounterSampler.Sample first = samples.getFirst();
        CounterSampler.Sample last = samples.getLast();
        long dslBytes = last.dslRx() - first.dslRx();
        long lteBytes = last.lteRx() - first.lteRx();
        row.lteShare = dslBytes + lteBytes > 0 ? round((double) lteBytes / (dslBytes + lteBytes), 3) : null;
        if (blackholeAt[0] > 0) {
            double atSeconds = blackholeAt[0] - startUptime;
            row.blackholeAtSeconds = round(atSeconds, 2);
            double surviving = scenario.lte().rateMbit();
            // The server stops sending durationMs after the request reached it; the first goodput bucket marks that.
            int firstByte = 0;
            while (firstByte < goodput.length && goodput[firstByte] == 0) {
                firstByte++;
            }
            double sendingUntil = firstByte * TIMELINE_MS / 1000.0 + durationMs / 1000.0;
            double stall = longestStall(goodput, atSeconds, sendingUntil, surviving * 0.1);
            row.failoverStallSeconds = round(stall, 2);
            row.recovered = deliveredAfter(goodput, atSeconds + stall) > 0;
        } else if (scenario.fault() != Scenario.Fault.BLACKHOLE_DSL && measureSetup) {
            // The first byte on a lab that has not seen a burst yet: the reference for the same measurement after the
            // setup run below (a user's burst is followed by single requests too; both must be fast).
            Map<String, Double> ttfbCpu = new LinkedHashMap<>();
            TtfbResult fresh = measureTtfb(lab, running, "before burst", ttfbCpu);
            row.ttfbBeforeBurstP50Ms = fresh.ttfb().p50Ms();
            measureSetupRate(lab, running, row);
            // 200 unmeasured objects first: the JIT-compiled systems' connection-setup paths are then compiled, as
            // they are in a running appliance (40 left them interpreted and added ~20 ms to every first byte). The
            // setup-rate run above has compiled most of them already; this also refills a warm pool it emptied.
            OptionalDouble dslRtt = lab.dslRoundTripMs(Systems.directTarget(), LOADGEN_JVM);
            row.dslRttMs = dslRtt.isPresent() ? dslRtt.getAsDouble() : null;
            // The same counters as over the setup run: which uplink carried the first bytes (the LTE share of a
            // run of single 10 kB objects says whether the kernel's scheduler put them on the slower path), and the
            // warm pool's takes.
            Map<String, Long> ttfbLinksBefore = SetupRunCounters.read(lab);
            Map<String, Long> setupCountersBefore = setupCounters(lab, running);
            TtfbResult ttfb = measureTtfb(lab, running, "after burst", ttfbCpu);
            row.ttfbCounters = setupRunGrowth(lab, ttfbLinksBefore, setupCountersBefore);
            row.ttfbProxyCpuSeconds = ttfbCpu.isEmpty() ? null : ttfbCpu;
            row.ttfbOk = ttfb.ok() && fresh.ok();
            row.ttfbP50Ms = ttfb.ttfb().p50Ms();
            row.ttfbP99Ms = ttfb.ttfb().p99Ms();
            row.connectionsPerSecond = round(ttfb.connectionsPerSecond(), 1);
        }
        if (!running.proxies().isEmpty()) {
            row.peakRssBytes = ProcessStats.of(running.proxyPids()).peakRssBytes();
            row.peakRssBytesByProcess = ProcessStats.peakRssEach(
                    running.proxies().stream().map(LabProcess::label).toList(), running.proxyPids());
        }
    }

    /**
     * Setup rate under load: 32 clients at once, a new connection per 10 kB object (as ApacheBench -c 32), measured
     * after SETUP_WARMUP_OBJECTS unmeasured ones, every system alike (see SETUP_WARMUP_OBJECTS); then each proxy
     * process's cost per connection over a further run.
     */
    private void measureSetupRate(HybridAccessLab lab, Running running, BenchmarkRow.RowBuilder row) {
        Map<String, Long> linksBefore = SetupRunCounters.read(lab);
        Map<String, Long> poolBefore = setupCounters(lab, running);
        TtfbResult setup = client(lab, running, TtfbOptions.of(SETUP_OBJECTS, 32, 10_000)
                .withWarmup(SETUP_WARMUP_OBJECTS));
        row.setupRunCounters = setupRunGrowth(lab, linksBefore, poolBefore);
        row.setupOk = setup.ok();
        row.setupPerSecond32 = round(setup.connectionsPerSecond(), 1);
        // The rate is the count over the time until the last connection finished, so one slow connection (a SYN
        // or a segment retransmitted after a timeout) lowers it as much as CPU does: say how the time was spread.
        System.err.println("   setup run: " + setup.count() + " connections at " + setup.concurrency()
                + " clients, " + row.setupPerSecond32 + "/s; each (connect to last byte) p50 " + setup.total().p50Ms()
                + " ms, p99 " + setup.total().p99Ms() + " ms, max " + setup.total().maxMs() + " ms; connect p99 "
                + setup.connect().p99Ms() + " ms, max " + setup.connect().maxMs() + " ms; first byte p99 "
                + setup.ttfb().p99Ms() + " ms, max " + setup.ttfb().maxMs() + " ms");
        if (!running.proxies().isEmpty()) {
            row.setupCost = measureSetupCost(lab, running, row.scenario + "-" + row.system
                    + (row.round != null ? "-round" + row.round : ""));
        }
    }

    /** Suite "setup": the setup rate and the cost per connection alone, with the load average around them. */
    private void measureSetupOnly(HybridAccessLab lab, Running running, BenchmarkRow.RowBuilder row) {
        double loadBefore = Machine.loadAverage();
        measureSetupRate(lab, running, row);
        row.ok = row.setupOk;
        row.loadAverage = List.of(loadBefore, Machine.loadAverage());
        if (!running.proxies().isEmpty()) {
            row.peakRssBytes = ProcessStats.of(running.proxyPids()).peakRssBytes();
            row.peakRssBytesByProcess = ProcessStats.peakRssEach(
                    running.proxies().stream().map(LabProcess::label).toList(), running.proxyPids());
        }
    }

    /**
     * The stall series: {@code downloads} consecutive single-connection downloads of {@code durationMs} each, every
     * one judged by the stall criterion ({@link Stalls}); the row keeps each download's goodput and longest stall.
     */
    private void measureSeries(HybridAccessLab lab, Running running, int downloads, BenchmarkRow.RowBuilder row) {
        if (!running.proxies().isEmpty()) {
            client(lab, running, warmupMs == WARMUP_MS ? WARMUP
                    : BulkOptions.timed(false, warmupMs).withTimeouts(60_000, 3_000));
        }
        List<Double> goodputs = new ArrayList<>();
        List<Long> stalls = new ArrayList<>();
        List<Double> ramps = new ArrayList<>();
        List<Long> firstBytes = new ArrayList<>();
        List<Double> fromFirstByte = new ArrayList<>();
        boolean allOk = true;
        double loadBefore = Machine.loadAverage();
        for (int i = 0; i < downloads; i++) {
            SeriesTrace.snapshot(lab, running, "before");
            Map<String, Long> senderBefore = SenderCounters.read(lab.conc());
            Map<String, Long> poolBefore = setupCounters(lab, running);
            BulkResult bulk;
            Runnable stopSampling = SeriesTrace.during(lab);
            try {
                bulk = client(lab, running, measuredDownload());
            } finally {
                stopSampling.run();
            }
            SeriesTrace.snapshot(lab, running, "after");
            SenderCounters sender = SenderCounters.growth(senderBefore, SenderCounters.read(lab.conc()));
            SeriesTrace.timeline(bulk);
            allOk &= bulk.ok();
            goodputs.add(round(bulk.goodputMbps(), 1));
            Stalls.Stall longest = Stalls.longest(bulk.timelineBytes());
            stalls.add(longest.lengthMs());
            ramps.add(round(SeriesTrace.firstSecondsMbps(bulk), 1));
            firstBytes.add(SeriesTrace.firstByteMs(bulk));
            fromFirstByte.add(round(SeriesTrace.goodputFromFirstByteMbps(bulk), 1));
            // Whether the download started on a ready connection of the warm pool, and what the pool closed.
            Map<String, Long> pool = poolBefore.isEmpty() ? null : EngineCounters.growth(poolBefore, setupCounters(lab));
            System.err.println("   download " + (i + 1) + ": " + goodputs.getLast() + " Mb/s, longest stall "
                    + stalls.getLast() + " ms" + (longest.lengthMs() == 0 ? ""
                    : " at " + longest.startAfterFirstByteMs() + " ms after the first byte")
                    + ", " + SeriesTrace.ramp(bulk) + "; " + sender.describe()
                    + (pool == null ? "" : "; warm pool " + pool) + "; " + SeriesTrace.earlyRamp(bulk, EARLY_RAMP_MS));
        }
        List<Long> sortedStalls = stalls.stream().sorted().toList();
        List<Double> sortedGoodput = goodputs.stream().sorted().toList();
        row.ok = allOk;
        row.downloads = downloads;
        row.goodputMbps = sortedGoodput.get(sortedGoodput.size() / 2);
        row.seriesGoodputMbps = goodputs;
        row.seriesLongestStallMs = stalls;
        row.seriesFirstTwoSecondsMbps = ramps;
        row.seriesFirstByteMs = firstBytes;
        row.seriesGoodputFromFirstByteMbps = fromFirstByte;
        row.loadAverage = List.of(loadBefore, Machine.loadAverage());
        row.longestStallMs = sortedStalls.getLast();
        row.medianStallMs = sortedStalls.get(sortedStalls.size() / 2);
        row.downloadsWithStallOver200Ms = stalls.stream().filter(ms -> ms >= SERIES_STALL_LIMIT_MS).count();
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

    /** The measured download: one connection for {@code durationMs}, up to a minute to drain. */
    private BulkOptions measuredDownload() {
        return BulkOptions.timed(false, durationMs).withTimeouts(60_000, 5_000);
    }

    /** What grew over the setup-rate run: the kernel's counters for every system, the warm pool's if there is one. */
    /** The appliances' setup counter families (the warm pool's among them), empty for a system without proxies. */
    private static Map<String, Long> setupCounters(HybridAccessLab lab, Running running) {
        return running.proxies().isEmpty() ? Map.of() : setupCounters(lab);
    }

    private static Map<String, Long> setupCounters(HybridAccessLab lab) {
        return EngineCounters.read(lab.cpe(), lab.conc(), EngineCounters.SETUP_FAMILIES);
    }

    private static Map<String, Long> setupRunGrowth(HybridAccessLab lab, Map<String, Long> linksBefore,
                                                    Map<String, Long> poolBefore) {
        Map<String, Long> out = new TreeMap<>();
        Map<String, Long> links = EngineCounters.growth(linksBefore, SetupRunCounters.read(lab));
        if (links != null) {
            out.putAll(links);
        }
        if (!poolBefore.isEmpty()) {
            Map<String, Long> pool = EngineCounters.growth(poolBefore,
                    setupCounters(lab));
            if (pool != null) {
                out.putAll(pool);
            }
        }
        return out.isEmpty() ? null : out;
    }

    /**
     * 40 measured new connections at 4 clients after 200 unmeasured ones; each proxy process's CPU seconds over the
     * whole run go to {@code cpu} as "process phase".
     */
    private TtfbResult measureTtfb(HybridAccessLab lab, Running running, String phase, Map<String, Double> cpu) {
        List<ProcessStats> before = running.proxyPids().stream().map(p -> ProcessStats.of(List.of(p))).toList();
        TtfbResult ttfb = client(lab, running, TtfbOptions.of(40, 4, 10_000).withWarmup(200));
        for (int i = 0; i < running.proxies().size(); i++) {
            double used = ProcessStats.of(List.of(running.proxyPids().get(i))).cpuSeconds() - before.get(i).cpuSeconds();
            cpu.put(running.proxies().get(i).label() + " " + phase, round(used, 2));
        }
        return ttfb;
    }

    /**
     * The proxies' cost per connection ({@link ConnectionCost}) over {@link #SETUP_COST_OBJECTS} new connections at
     * 32 clients, made after the setup-rate run so that every process is as warm as it gets; the run's own rate is
     * reported too but is not the setup rate (its load client JVM starts cold).
     */
    private Map<String, Double> measureSetupCost(HybridAccessLab lab, Running running, String rowName) {
        double loadBefore = Machine.loadAverage();
        ConnectionCost cost = ConnectionCost.start(running.proxies());
        Optional<CostProfile> profile = CostProfile.startIfAsked(running.proxies(), rowName);
        TtfbResult run = client(lab, running, TtfbOptions.of(SETUP_COST_OBJECTS, 32, 10_000));
        Map<String, Double> out = new LinkedHashMap<>(cost.perConnection(SETUP_COST_OBJECTS));
        profile.ifPresent(p -> p.stop(SETUP_COST_OBJECTS));
        out.put("connections", (double) SETUP_COST_OBJECTS);
        out.put("connections/s", round(run.connectionsPerSecond(), 1));
        out.put("load average before", loadBefore);
        out.put("load average after", Machine.loadAverage());
        System.err.println("   setup cost per connection: " + out);
        return out;
    }

    /** Runs one load client workload in the client namespace, against the system's entry point. */
    private <R> R client(HybridAccessLab lab, Running running, Workload<R> workload) {
        LoadTarget target = LoadTarget.of(running.target()).withMptcp(running.endToEndMptcp());
        return HybridAccessLab.runLoadClient(lab.client(), CLIENT_TIMEOUT,
                loadGenerator(), LOADGEN_JVM, target, workload);
    }

    /**
     * What the load client and server run behind: the open-file limit, and the priority of a process that stands
     * for another machine ({@link HybridAccessLab#OTHER_MACHINES_NICENESS}). At nice 0 on a machine at load 30-60
     * the client, which checks and hashes every byte, was the slowest reader in the path: in the stall series its
     * socket advertised a zero window (the cpe's LAN socket rwnd-limited for up to 90 % of its busy time, persist
     * timer running, megabytes unsent) while the proxies held megabytes for it, for every system alike
     * (docs/decisions.md); the series measured the client's share of the CPU, not the systems.
     */
    private static List<String> loadGenerator() {
        return List.of("nice", "-n", String.valueOf(HybridAccessLab.OTHER_MACHINES_NICENESS),
                "prlimit", Machine.nofileOption(), "--");
    }

    /** The first {@code DONE op=DOWN} line the server prints after line {@code linesBefore}, or null. */
    private static String awaitServerVerdict(LabProcess server, int linesBefore, Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        while (System.nanoTime() < deadline) {
            List<String> lines = server.stdoutLines();
            for (int i = Math.min(linesBefore, lines.size()); i < lines.size(); i++) {
                if (lines.get(i).startsWith("DONE op=DOWN")) {
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

    /**
     * Waits for the measured download's first 64 KiB at the cpe, then for {@code delay}: the fault lands that far into
     * the transfer, whatever the load client's JVM start took. False if the download never began or the wait was cut.
     */
    private static boolean intoTheDownload(CounterSampler sampler, Duration delay) {
        try {
            return sampler.awaitReceived(64 * 1024, Duration.ofSeconds(30)) && sleepFor(delay);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static boolean sleepFor(Duration delay) {
        try {
            Thread.sleep(delay);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
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
