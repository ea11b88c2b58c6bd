package net.hybridproxy.proxy.userspace;

import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;
import net.hybridproxy.admin.ApplianceStatus;
import net.hybridproxy.proxy.metrics.CpeTable;
import net.hybridproxy.proxy.metrics.SubflowSampler;
import net.hybridproxy.proxy.metrics.UplinkStats;
import net.hybridproxy.proxy.metrics.UserspaceStats;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Samples the userspace engine's sessions every {@link UserspaceStats#sampleInterval()}: a daemon thread of its own
 * hands each event loop one task that reads that loop's sessions (the only thread allowed to), adding the engine
 * counters' growth to the process-wide adders and summing gauges and subflow rows into a per-loop result; it then
 * combines the loops' results and publishes them in one piece. Nothing blocks a loop: the thread waits for the
 * loops' answers, at most one interval, and a pass a loop did not answer in time counts as a sample error.
 *
 * <p>Cost per pass: one task per loop, and per session a walk over its subflows and streams (both bounded by its
 * configuration); the status table keeps the {@value #STATUS_SUBFLOW_LIMIT} busiest subflows.
 */
final class UserspaceSampler implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("hybridproxy.metrics");
    static final int STATUS_SUBFLOW_LIMIT = 200;
    private static final Comparator<ApplianceStatus.SubflowStatusView> BUSIEST_FIRST =
            Comparator.comparingLong((ApplianceStatus.SubflowStatusView s) -> s.bytesSent() + s.bytesReceived())
                    .reversed();

    private final UserspaceStats stats;
    private final Supplier<Collection<SessionDriver>> drivers;
    private final Runnable beforePass;
    private final CpeTable cpes;
    private final ScheduledExecutorService timer;

    /**
     * @param drivers    the engine's live sessions
     * @param beforePass runs on the sampler thread before each pass (the concentrator counts its endpoint there)
     */
    UserspaceSampler(UserspaceStats stats, Supplier<Collection<SessionDriver>> drivers, Runnable beforePass) {
        this(stats, drivers, beforePass, null);
    }

    /** @param cpes the concentrator's per-cpe table, told each pass's sessions and subflows per key; null on a cpe */
    UserspaceSampler(UserspaceStats stats, Supplier<Collection<SessionDriver>> drivers, Runnable beforePass,
                     CpeTable cpes) {
        this.cpes = cpes;
        this.stats = stats;
        this.drivers = drivers;
        this.beforePass = beforePass;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform()
                .name("hybridproxy-userspace-sampler").daemon(true).unstarted(r));
    }

    UserspaceSampler start() {
        long interval = stats.sampleInterval().toMillis();
        timer.scheduleWithFixedDelay(() -> {
            try {
                sampleAll();
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "userspace sampling pass failed", e);
            }
        }, interval, interval, TimeUnit.MILLISECONDS);
        return this;
    }

    /** One pass over every session; on the sampler thread (or a test's). */
    synchronized SubflowSampler.SubflowSnapshot sampleAll() {
        long start = System.nanoTime();
        beforePass.run();
        Map<EventLoop, List<SessionDriver>> byLoop = new LinkedHashMap<>();
        for (SessionDriver driver : drivers.get()) {
            byLoop.computeIfAbsent(driver.loop(), l -> new ArrayList<>()).add(driver);
        }
        List<Future<SessionDriver.LoopSample>> pending = new ArrayList<>();
        for (Map.Entry<EventLoop, List<SessionDriver>> e : byLoop.entrySet()) {
            if (e.getKey().isShuttingDown()) {
                continue;
            }
            List<SessionDriver> onLoop = e.getValue();
            pending.add(e.getKey().submit(() -> {
                SessionDriver.LoopSample sample = new SessionDriver.LoopSample();
                for (SessionDriver driver : onLoop) {
                    if (!driver.isClosed()) {
                        driver.sample(sample);
                    }
                }
                return sample;
            }));
        }
        Map<String, double[]> sums = new HashMap<>();
        List<ApplianceStatus.SubflowStatusView> rows = new ArrayList<>();
        Map<String, int[]> sessionsByKey = new HashMap<>();
        Map<String, Map<String, Integer>> subflowsByKey = new HashMap<>();
        int sessions = 0;
        int established = 0;
        int streams = 0;
        long reorder = 0;
        long budget = 0;
        long deadline = System.nanoTime() + stats.sampleInterval().toNanos();
        for (Future<SessionDriver.LoopSample> f : pending) {
            if (!f.awaitUninterruptibly(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)
                    || !f.isSuccess()) {
                stats.sampleFailed();
                continue;
            }
            SessionDriver.LoopSample s = f.getNow();
            s.uplinkSums.forEach((uplink, sum) -> {
                double[] total = sums.computeIfAbsent(uplink, u -> new double[4]);
                for (int i = 0; i < total.length; i++) {
                    total[i] += sum[i];
                }
            });
            rows.addAll(s.rows);
            s.sessionsByKey.forEach((key, n) -> sessionsByKey.computeIfAbsent(key, k -> new int[1])[0] += n[0]);
            s.subflowsByKey.forEach((key, byAddress) -> byAddress.forEach((address, n) ->
                    subflowsByKey.computeIfAbsent(key, k -> new HashMap<>()).merge(address, n, Integer::sum)));
            sessions += s.sessions;
            established += s.established;
            streams += s.streams;
            reorder += s.reorderBytes;
            budget += s.budgetUsed;
        }
        for (UplinkStats.UplinkCounters uplink : stats.uplinks().all()) {
            double[] sum = sums.get(uplink.name());
            uplink.publish(sum == null || sum[0] == 0 ? UplinkStats.Gauges.NONE
                    : new UplinkStats.Gauges((int) sum[0], sum[1] / sum[0], sum[3] == 0 ? Double.NaN : sum[2] / sum[3]));
        }
        rows.sort(BUSIEST_FIRST);
        List<ApplianceStatus.SubflowStatusView> busiest =
                List.copyOf(rows.subList(0, Math.min(rows.size(), STATUS_SUBFLOW_LIMIT)));
        SubflowSampler.SubflowSnapshot snapshot = new SubflowSampler.SubflowSnapshot(System.currentTimeMillis(),
                busiest, rows.size() - busiest.size(), sessions, System.nanoTime() - start);
        stats.publish(snapshot, new UserspaceStats.Sessions(sessions, established, streams, reorder, budget));
        if (cpes != null) {
            Map<CpeTable.CpeId, CpeTable.SampledCpe> perCpe = new HashMap<>();
            sessionsByKey.forEach((key, n) -> perCpe.put(CpeTable.CpeId.key(key),
                    new CpeTable.SampledCpe(n[0], subflowsByKey.getOrDefault(key, Map.of()))));
            cpes.publishSample("userspace", perCpe);
        }
        return snapshot;
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
