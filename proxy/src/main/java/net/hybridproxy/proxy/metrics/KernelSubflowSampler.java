package net.hybridproxy.proxy.metrics;

import io.netty.channel.Channel;
import net.hybridproxy.admin.ApplianceStatus;
import net.hybridproxy.proxy.nativeio.Errno;
import net.hybridproxy.proxy.nativeio.NativeException;
import net.hybridproxy.proxy.transport.MptcpFullInfo;
import net.hybridproxy.proxy.transport.MultipathConnections;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * Samples the kernel engine's per-subflow state: every {@code interval}, on one daemon thread of its own (never an
 * event loop), it reads MPTCP_FULL_INFO of every open MPTCP connection and
 * <ul>
 *   <li>adds each subflow's byte-counter growth since the previous read to its uplink's counters (subflows are
 *       matched to uplinks by local address), and the connection's MPTCP-level retransmissions to the reinjection
 *       counter;</li>
 *   <li>publishes per-uplink gauges (open subflows, mean smoothed RTT, mean cwnd) and the subflow table for the
 *       status API.</li>
 * </ul>
 * When the peer's DATA_FIN arrives and just before a connection closes, {@link MultipathConnections} hands it over
 * for a read on its event loop, so bytes are counted at the end of each transfer however long the interval. A
 * subflow that closes while its connection lives on (failover, or the kernel tearing subflows down after the
 * DATA_FIN exchange) is counted up to the last read before it closed.
 *
 * <p>The pass reads descriptors the event loops own and may close at any moment; a number closed and reused by
 * another socket between the listing and the read must not lend this connection that socket's figures.
 * {@link MptcpFullInfo.Reader#read} guards that without a system call of its own: Netty marks a descriptor closed
 * before it closes it (epoll's {@code FileDescriptor.close()}, io_uring's {@code markClosed()} before its ring's close,
 * both checked in 4.2.18's bytecode), so a descriptor still marked open after the getsockopt returned named this
 * channel's socket throughout the call; one marked closed gives nothing ({@code MptcpFullInfoReaderTest}).
 *
 * <p>Cost: one getsockopt per connection per interval (the kernel takes the connection's socket lock for it, as
 * {@code ss} does), no allocation per connection beyond the result records; bounded by the connection limit.
 * The duration of each pass is exported as {@code hybridproxy_subflow_sample_duration_seconds}.
 */
public final class KernelSubflowSampler implements SubflowSampler, AutoCloseable {
    private static final System.Logger LOG = System.getLogger("hybridproxy.metrics");
    /** The status API lists at most this many subflows (busiest first): bounded answers at any scale. */
    static final int STATUS_SUBFLOW_LIMIT = 200;
    private static final Comparator<ApplianceStatus.SubflowStatusView> BY_BYTES =
            Comparator.comparingLong(KernelSubflowSampler::total);

    private final MultipathConnections connections;
    private final UplinkStats stats;
    private final Duration interval;
    private final CpeTable cpes;
    private final Map<Channel, Ledger> ledgers = new ConcurrentHashMap<>();
    private final AtomicLong connectionSequence = new AtomicLong();
    private final LongAdder reinjectedBytes = new LongAdder();
    private final LongAdder sampleErrors = new LongAdder();
    private final ThreadLocal<MptcpFullInfo.Reader> closingReaders = ThreadLocal.withInitial(MptcpFullInfo.Reader::new);
    private final ScheduledExecutorService timer;
    private volatile SubflowSnapshot snapshot = SubflowSnapshot.empty(System.currentTimeMillis());

    /** What we last read of one connection, to turn cumulative kernel counters into increments. */
    private static final class Ledger {
        final long connection;
        final Map<Integer, long[]> lastBySubflow = new HashMap<>(4);
        long lastReinjected;
        boolean closed;

        Ledger(long connection) {
            this.connection = connection;
        }
    }

    public KernelSubflowSampler(MultipathConnections connections, UplinkStats stats, Duration interval) {
        this(connections, stats, interval, null);
    }

    /**
     * @param cpes the concentrator's per-cpe table, told each pass's subflows per cpe (by the cpe's address each
     *             comes from); null where no table is kept
     */
    public KernelSubflowSampler(MultipathConnections connections, UplinkStats stats, Duration interval,
                                CpeTable cpes) {
        this.cpes = cpes;
        this.connections = connections;
        this.stats = stats;
        this.interval = interval;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform()
                .name("hybridproxy-subflow-sampler").daemon(true).unstarted(r));
        connections.onSettling(this::settlingSample);
    }

    public KernelSubflowSampler start() {
        timer.scheduleWithFixedDelay(new Runnable() {
            private MptcpFullInfo.Reader threadReader;

            @Override
            public void run() {
                if (threadReader == null) {
                    threadReader = new MptcpFullInfo.Reader(); // confined to the sampler thread
                }
                try {
                    sampleAll(threadReader);
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "subflow sampling pass failed", e);
                }
            }
        }, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
        return this;
    }

    /** One pass over every open connection; public for tests and benchmarks that need a pass now. */
    public SubflowSnapshot sampleAll(MptcpFullInfo.Reader reader) {
        long start = System.nanoTime();
        Map<UplinkStats.UplinkCounters, double[]> sums = new HashMap<>(); // subflows, srtt sum, cwnd sum
        // The busiest STATUS_SUBFLOW_LIMIT subflows, least busy at the head: bounded work and memory per pass.
        PriorityQueue<ApplianceStatus.SubflowStatusView> busiest =
                new PriorityQueue<>(STATUS_SUBFLOW_LIMIT + 1, BY_BYTES);
        int subflowCount = 0;
        int sampled = 0;
        Map<CpeTable.CpeId, Map<String, Integer>> perCpe = new HashMap<>();
        for (Channel channel : connections) {
            Ledger ledger = ledgerFor(channel);
            Optional<MptcpFullInfo> info;
            synchronized (ledger) {
                if (ledger.closed) {
                    continue;
                }
                info = read(reader, channel);
                info.ifPresent(i -> account(ledger, i));
            }
            if (info.isEmpty()) {
                continue;
            }
            sampled++;
            CpeTable.CpeId cpe = channel.attr(CpeTable.CPE).get();
            Map<String, Integer> cpeSubflows = cpe == null ? null
                    : perCpe.computeIfAbsent(cpe, c -> new HashMap<>());
            for (MptcpFullInfo.MptcpSubflowInfo sf : info.get().subflows()) {
                if (cpeSubflows != null) {
                    cpeSubflows.merge(sf.remote() == null ? CpeTable.OTHER : sf.remote().getAddress().getHostAddress(),
                            1, Integer::sum);
                }
                UplinkStats.UplinkCounters uplink =
                        stats.forLocalAddress(sf.local() == null ? null : sf.local().getAddress());
                double[] sum = sums.computeIfAbsent(uplink, u -> new double[3]);
                sum[0]++;
                sum[1] += sf.rttMicros() / 1e6;
                sum[2] += sf.congestionWindow();
                subflowCount++;
                long bytes = sf.bytesSent() + sf.bytesReceived();
                if (busiest.size() < STATUS_SUBFLOW_LIMIT || bytes > total(busiest.peek())) {
                    busiest.add(new ApplianceStatus.SubflowStatusView(uplink.name(), ledger.connection, sf.id(),
                            MptcpFullInfo.stateName(sf.state()), sf.rttMicros() / 1e6, sf.congestionWindow(),
                            sf.bytesSent(), sf.bytesReceived(), sf.bytesRetransmitted()));
                    if (busiest.size() > STATUS_SUBFLOW_LIMIT) {
                        busiest.poll();
                    }
                }
            }
        }
        for (UplinkStats.UplinkCounters uplink : stats.all()) {
            double[] sum = sums.get(uplink);
            uplink.gauges = sum == null ? UplinkStats.Gauges.NONE
                    : new UplinkStats.Gauges((int) sum[0], sum[1] / sum[0], sum[2] / sum[0]);
        }
        List<ApplianceStatus.SubflowStatusView> rows = new ArrayList<>(busiest);
        rows.sort(BY_BYTES.reversed());
        SubflowSnapshot done = new SubflowSnapshot(System.currentTimeMillis(), List.copyOf(rows),
                subflowCount - rows.size(), sampled, System.nanoTime() - start);
        snapshot = done;
        if (cpes != null) {
            Map<CpeTable.CpeId, CpeTable.SampledCpe> seen = new HashMap<>();
            perCpe.forEach((cpe, bySource) -> seen.put(cpe, new CpeTable.SampledCpe(0, bySource)));
            cpes.publishSample("kernel", seen);
        }
        return done;
    }

    /**
     * Runs on the channel's event loop when the peer's DATA_FIN arrived and again just before the channel closes,
     * socket still open; the second time without a read when the first was a moment ago in the same event. After
     * the closing call the ledger stays (marked closed) until the close completes, so a pass that still lists the
     * channel cannot count it afresh.
     */
    private void settlingSample(Channel channel, boolean closing, boolean readJustNow) {
        Ledger ledger = ledgerFor(channel);
        synchronized (ledger) {
            if (ledger.closed) {
                return;
            }
            if (!readJustNow) {
                read(closingReaders.get(), channel).ifPresent(i -> account(ledger, i));
            }
            ledger.closed = closing;
        }
    }

    /**
     * The channel's ledger, created on first use. It leaves the map once the channel's close has completed (the
     * descriptor is closed by then, so a later pass reads nothing for it and starts no new ledger that counts).
     */
    private Ledger ledgerFor(Channel channel) {
        Ledger ledger = ledgers.get(channel);
        if (ledger != null) {
            return ledger;
        }
        Ledger created = new Ledger(connectionSequence.incrementAndGet());
        ledger = ledgers.putIfAbsent(channel, created);
        if (ledger != null) {
            return ledger;
        }
        channel.closeFuture().addListener(f -> ledgers.remove(channel, created));
        return created;
    }

    private Optional<MptcpFullInfo> read(MptcpFullInfo.Reader reader, Channel channel) {
        try {
            return reader.read(channel);
        } catch (NativeException e) {
            if (e.errno() == Errno.ENOPROTOOPT || e.errno() == Errno.EOPNOTSUPP) {
                // A connection that fell back to plain TCP answers SOL_MPTCP options as a TCP socket would: it has
                // no subflows to report (it is counted in hybridproxy_mptcp_fallbacks_total instead).
                return Optional.empty();
            }
            sampleErrors.increment();
            LOG.log(System.Logger.Level.DEBUG, () -> "MPTCP_FULL_INFO failed: " + e.getMessage());
            return Optional.empty();
        }
    }

    /** Adds what each subflow's counters grew since the last read to its uplink. Caller holds the ledger's lock. */
    private void account(Ledger ledger, MptcpFullInfo info) {
        for (MptcpFullInfo.MptcpSubflowInfo sf : info.subflows()) {
            long[] last = ledger.lastBySubflow.computeIfAbsent(sf.id(), id -> new long[3]);
            UplinkStats.UplinkCounters uplink =
                    stats.forLocalAddress(sf.local() == null ? null : sf.local().getAddress());
            uplink.bytesSent.add(growth(sf.bytesSent(), last[0]));
            uplink.bytesReceived.add(growth(sf.bytesReceived(), last[1]));
            uplink.bytesRetransmitted.add(growth(sf.bytesRetransmitted(), last[2]));
            last[0] = sf.bytesSent();
            last[1] = sf.bytesReceived();
            last[2] = sf.bytesRetransmitted();
        }
        if (ledger.lastBySubflow.size() > info.subflows().size()) {
            // Subflows that closed since the last read: forget them (their ids are never reused by the kernel).
            ledger.lastBySubflow.keySet().removeIf(id -> info.subflows().stream().noneMatch(sf -> sf.id() == id));
        }
        reinjectedBytes.add(growth(info.connection().bytesRetransmitted(), ledger.lastReinjected));
        ledger.lastReinjected = info.connection().bytesRetransmitted();
    }

    private static long total(ApplianceStatus.SubflowStatusView s) {
        return s.bytesSent() + s.bytesReceived();
    }

    /** Kernel counters of one subflow only grow (subflow ids are unique per connection); never add a negative. */
    private static long growth(long now, long before) {
        return Math.max(0, now - before);
    }

    @Override
    public SubflowSnapshot snapshot() {
        return snapshot;
    }

    @Override
    public long reinjectedBytes() {
        return reinjectedBytes.sum();
    }

    @Override
    public long sampleErrors() {
        return sampleErrors.sum();
    }

    @Override
    public void close() {
        timer.shutdownNow();
        try {
            timer.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
