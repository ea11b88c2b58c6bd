package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.loadgen.HoldResult;

import java.util.List;
import java.util.Map;

/**
 * One system on one scenario: what the runner measured. A figure that was not measured (a skipped system, a
 * scenario that does not measure it) is null. The component names are {@code results.json}'s member names.
 *
 * @param linkSumMbit              sum of the downlink rates; null on unlimited links
 * @param skipped                  why the system was not run, or null
 * @param error                    what failed while running it, or null
 * @param ok                       the measured transfer (or the held connections) verified
 * @param warmupServerVerdict      the server's line for the unmeasured warm-up download
 * @param outcomes                 the measured download's stream outcomes
 * @param serverVerdict            the server's line for the measured download
 * @param goodputMbps              verified bytes over the download's time (series: the median download's)
 * @param bytesLost                bytes the server sent that the client did not verify
 * @param goodputTimeline          verified goodput per 100 ms, Mbit/s
 * @param longestStallMs           the longest stall by the lab's criterion (series: the worst download's)
 * @param lteShare                 share of the download's bytes that came over LTE
 * @param blackholeAtSeconds       when DSL was blackholed, seconds from the download's start
 * @param failoverStallSeconds     longest run of 100 ms intervals after the blackhole below 10 % of the LTE rate
 * @param recovered                bytes arrived after the failover stall
 * @param ttfbP50Ms                time to first byte of a 10 kB object on a new connection, median
 * @param connectionsPerSecond     new connections per second of that measurement
 * @param setupPerSecond32         new connections per second with 32 clients at once
 * @param holdConnectionsRequested connections the held-connections scenario asked for
 * @param hold                     the held-connections result
 * @param downloads                stall series: downloads per system
 * @param ratioToLinkSum           goodput over the link sum
 * @param ratioToBestPeer          goodput over the best system that is not this project
 * @param proxyCpuSecondsByProcess each proxy process's CPU seconds over the measured download
 * @param peakRssBytesByProcess    each proxy process's peak RSS (a memory target is per JVM)
 * @param jitCpuSecondsByProcess   of each proxy process's CPU seconds over the measured download, those of its JIT
 *                                 compiler threads (a lower bound; 0 for a process that is not a JVM): what is left
 *                                 of the warm-up's compilation in the window
 * @param loadAverage              the machine's 1-minute load average when the measured download started and ended
 * @param engineCounters           the userspace engine's counters that grew over the measured download, from both
 *                                 appliances' /metrics ({@link EngineCounters}); null for other systems
 * @param dslRttMs                 the DSL path's round trip measured just before the TTFB run: the median TCP connect
 *                                 time from the cpe's namespace to the load server over DSL, plain routed TCP
 * @param ttfbCounters             what grew over the TTFB run after the burst (its warm-up objects included): the
 *                                 bytes over each uplink at the cpe and the MIB counters of the setup run's list,
 *                                 every system; the appliances' warm-pool takes and admission refusals
 * @param ttfbBeforeBurstP50Ms     the same TTFB measurement made before the 32-client setup run (a fresh lab), median
 * @param ttfbProxyCpuSeconds      each proxy process's CPU seconds over each TTFB run, keyed "process before burst"
 *                                 and "process after burst" (the same 240 connections each time)
 * @param seriesFirstTwoSecondsMbps stall series: each download's mean goodput over the 2 s after its first byte (the
 *                                 ramp, which decides short downloads); the other suites: the one measured download's
 * @param setupCost                what each proxy process spent per connection over a separate run of new
 *                                 connections at 32 clients after the setup-rate run (so on warm processes):
 *                                 CPU ms, system calls, CPU ms per thread group ({@link ConnectionCost}), plus the
 *                                 run's "connections", "connections/s" and "load average before/after"
 * @param setupRunCounters         what grew over the 32-client setup-rate run (its warm-up and measured objects), for
 *                                 every system alike: uplink bytes at the cpe and MPTCP/TCP MIB counters in the cpe's
 *                                 and the concentrator's namespaces ({@link SetupRunCounters}), plus, for the kernel
 *                                 engine, the warm pool's takes by outcome
 * @param seriesFirstByteMs        stall series: each download's wait from the client's first connect to its first
 *                                 byte, ms (on a loaded machine mostly the client's and the proxies' scheduling)
 * @param seriesGoodputFromFirstByteMbps stall series: each download's verified bytes over the time from its first
 *                                 byte to its last, Mbit/s (what the links carried, without that wait)
 * @param round                    with {@code --repeat N}: which of the N rounds of the scenario this row is (1..N);
 *                                 null for a run without repeats
 * @param steadyCostPerGB          suite "steady": what each proxy process spent per GB verified over the measured
 *                                 download, by {@link ConnectionCost}: CPU ms (user, system and per thread group:
 *                                 event loops, collector, compilers, the rest) and system calls per GB
 */
record BenchmarkRow(String scenario, String scenarioTitle, String system, String systemTitle, Double linkSumMbit,
                    String skipped, String error, String teardownError, Boolean ok, String warmupServerVerdict,
                    Map<String, Integer> outcomes, String serverVerdict, Double goodputMbps, Long verifiedBytes,
                    Long unverifiedBytes, Long bytesLost, Double proxyCpuSeconds, Double cpuSecondsPerGB,
                    double[] goodputTimeline, UplinkTimeline uplinkTimeline, Long longestStallMs, Double lteShare,
                    Double blackholeAtSeconds, Double failoverStallSeconds, Boolean recovered, Boolean ttfbOk,
                    Double ttfbP50Ms, Double ttfbP99Ms, Double connectionsPerSecond, Boolean setupOk,
                    Double setupPerSecond32, Long peakRssBytes, Integer holdConnectionsRequested, HoldResult hold,
                    Integer downloads, List<Double> seriesGoodputMbps, List<Long> seriesLongestStallMs,
                    Long medianStallMs, Long downloadsWithStallOver200Ms, Double ratioToLinkSum,
                    Double ratioToBestPeer, Map<String, Double> proxyCpuSecondsByProcess,
                    Map<String, Long> peakRssBytesByProcess, Map<String, Double> jitCpuSecondsByProcess,
                    List<Double> loadAverage, Map<String, Long> engineCounters,
                    Double dslRttMs, Map<String, Long> ttfbCounters, Double ttfbBeforeBurstP50Ms,
                    Map<String, Double> ttfbProxyCpuSeconds, List<Double> seriesFirstTwoSecondsMbps,
                    Map<String, Double> setupCost, Map<String, Long> setupRunCounters,
                    List<Long> seriesFirstByteMs, List<Double> seriesGoodputFromFirstByteMbps, Integer round,
                    Map<String, Double> steadyCostPerGB) {

    BenchmarkRow withRatios(Double toLinkSum, Double toBestPeer) {
        RowBuilder b = new RowBuilder(this);
        b.ratioToLinkSum = toLinkSum;
        b.ratioToBestPeer = toBestPeer;
        return b.build();
    }

    /** The row without its long series, for one progress line. */
    BenchmarkRow summary() {
        RowBuilder b = new RowBuilder(this);
        b.goodputTimeline = null;
        b.uplinkTimeline = null;
        b.scenarioTitle = null;
        b.systemTitle = null;
        return b.build();
    }

    /** Collects a row's figures as the runner measures them. */
    static final class RowBuilder {
        String scenario;
        String scenarioTitle;
        String system;
        String systemTitle;
        Double linkSumMbit;
        String skipped;
        String error;
        String teardownError;
        Boolean ok;
        String warmupServerVerdict;
        Map<String, Integer> outcomes;
        String serverVerdict;
        Double goodputMbps;
        Long verifiedBytes;
        Long unverifiedBytes;
        Long bytesLost;
        Double proxyCpuSeconds;
        Double cpuSecondsPerGB;
        double[] goodputTimeline;
        UplinkTimeline uplinkTimeline;
        Long longestStallMs;
        Double lteShare;
        Double blackholeAtSeconds;
        Double failoverStallSeconds;
        Boolean recovered;
        Boolean ttfbOk;
        Double ttfbP50Ms;
        Double ttfbP99Ms;
        Double connectionsPerSecond;
        Boolean setupOk;
        Double setupPerSecond32;
        Long peakRssBytes;
        Integer holdConnectionsRequested;
        HoldResult hold;
        Integer downloads;
        List<Double> seriesGoodputMbps;
        List<Long> seriesLongestStallMs;
        Long medianStallMs;
        Long downloadsWithStallOver200Ms;
        Double ratioToLinkSum;
        Double ratioToBestPeer;
        Map<String, Double> proxyCpuSecondsByProcess;
        Map<String, Long> peakRssBytesByProcess;
        Map<String, Double> jitCpuSecondsByProcess;
        List<Double> loadAverage;
        Map<String, Long> engineCounters;
        Double dslRttMs;
        Map<String, Long> ttfbCounters;
        Double ttfbBeforeBurstP50Ms;
        Map<String, Double> ttfbProxyCpuSeconds;
        List<Double> seriesFirstTwoSecondsMbps;
        Map<String, Double> setupCost;
        Map<String, Long> setupRunCounters;
        List<Long> seriesFirstByteMs;
        List<Double> seriesGoodputFromFirstByteMbps;
        Integer round;
        Map<String, Double> steadyCostPerGB;

        RowBuilder(String scenario, String system) {
            this.scenario = scenario;
            this.system = system;
        }

        RowBuilder(BenchmarkRow r) {
            scenario = r.scenario;
            scenarioTitle = r.scenarioTitle;
            system = r.system;
            systemTitle = r.systemTitle;
            linkSumMbit = r.linkSumMbit;
            skipped = r.skipped;
            error = r.error;
            teardownError = r.teardownError;
            ok = r.ok;
            warmupServerVerdict = r.warmupServerVerdict;
            outcomes = r.outcomes;
            serverVerdict = r.serverVerdict;
            goodputMbps = r.goodputMbps;
            verifiedBytes = r.verifiedBytes;
            unverifiedBytes = r.unverifiedBytes;
            bytesLost = r.bytesLost;
            proxyCpuSeconds = r.proxyCpuSeconds;
            cpuSecondsPerGB = r.cpuSecondsPerGB;
            goodputTimeline = r.goodputTimeline;
            uplinkTimeline = r.uplinkTimeline;
            longestStallMs = r.longestStallMs;
            lteShare = r.lteShare;
            blackholeAtSeconds = r.blackholeAtSeconds;
            failoverStallSeconds = r.failoverStallSeconds;
            recovered = r.recovered;
            ttfbOk = r.ttfbOk;
            ttfbP50Ms = r.ttfbP50Ms;
            ttfbP99Ms = r.ttfbP99Ms;
            connectionsPerSecond = r.connectionsPerSecond;
            setupOk = r.setupOk;
            setupPerSecond32 = r.setupPerSecond32;
            peakRssBytes = r.peakRssBytes;
            holdConnectionsRequested = r.holdConnectionsRequested;
            hold = r.hold;
            downloads = r.downloads;
            seriesGoodputMbps = r.seriesGoodputMbps;
            seriesLongestStallMs = r.seriesLongestStallMs;
            medianStallMs = r.medianStallMs;
            downloadsWithStallOver200Ms = r.downloadsWithStallOver200Ms;
            ratioToLinkSum = r.ratioToLinkSum;
            ratioToBestPeer = r.ratioToBestPeer;
            proxyCpuSecondsByProcess = r.proxyCpuSecondsByProcess;
            peakRssBytesByProcess = r.peakRssBytesByProcess;
            jitCpuSecondsByProcess = r.jitCpuSecondsByProcess;
            loadAverage = r.loadAverage;
            engineCounters = r.engineCounters;
            dslRttMs = r.dslRttMs;
            ttfbCounters = r.ttfbCounters;
            ttfbBeforeBurstP50Ms = r.ttfbBeforeBurstP50Ms;
            ttfbProxyCpuSeconds = r.ttfbProxyCpuSeconds;
            seriesFirstTwoSecondsMbps = r.seriesFirstTwoSecondsMbps;
            setupCost = r.setupCost;
            setupRunCounters = r.setupRunCounters;
            seriesFirstByteMs = r.seriesFirstByteMs;
            seriesGoodputFromFirstByteMbps = r.seriesGoodputFromFirstByteMbps;
            round = r.round;
            steadyCostPerGB = r.steadyCostPerGB;
        }

        BenchmarkRow build() {
            return new BenchmarkRow(scenario, scenarioTitle, system, systemTitle, linkSumMbit, skipped, error,
                    teardownError, ok, warmupServerVerdict, outcomes, serverVerdict, goodputMbps, verifiedBytes,
                    unverifiedBytes, bytesLost, proxyCpuSeconds, cpuSecondsPerGB, goodputTimeline, uplinkTimeline,
                    longestStallMs, lteShare, blackholeAtSeconds, failoverStallSeconds, recovered, ttfbOk, ttfbP50Ms,
                    ttfbP99Ms, connectionsPerSecond, setupOk, setupPerSecond32, peakRssBytes,
                    holdConnectionsRequested, hold, downloads, seriesGoodputMbps, seriesLongestStallMs, medianStallMs,
                    downloadsWithStallOver200Ms, ratioToLinkSum, ratioToBestPeer,
                    proxyCpuSecondsByProcess, peakRssBytesByProcess, jitCpuSecondsByProcess, loadAverage,
                    engineCounters, dslRttMs, ttfbCounters, ttfbBeforeBurstP50Ms, ttfbProxyCpuSeconds,
                    seriesFirstTwoSecondsMbps, setupCost, setupRunCounters, seriesFirstByteMs,
                    seriesGoodputFromFirstByteMbps, round, steadyCostPerGB);
        }
    }
}
