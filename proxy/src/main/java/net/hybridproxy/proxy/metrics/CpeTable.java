package net.hybridproxy.proxy.metrics;

import io.netty.util.AttributeKey;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import net.hybridproxy.admin.ApplianceStatus;

/**
 * The concentrator's per-cpe table for the status API: per cpe, its live userspace sessions, its proxied connections
 * (open now and since the row was created), the bytes relayed for it each way, and its open subflows per uplink.
 *
 * <p>A cpe is named by what the concentrator can know of it: the key id it authenticated with (a userspace session's
 * key, or the key of a kernel-engine connection's Convert cookie) or, where the concentrator checks no keys, its
 * source address. Connections are counted as the Convert handler admits them ({@link #openConnection}); sessions and
 * subflows come from the samplers' passes ({@link #publishSample}), one source per engine.
 *
 * <p>Bounded: at most {@link #MAX_ROWS} cpes have a row of their own and {@value #MAX_UPLINKS_PER_ROW} uplinks each;
 * a new cpe takes the row of the cpe idle longest (no connection, session or subflow), whose totals move to the row
 * named {@value #OTHER}, and when every row is busy the new cpe is counted in "other" itself. Memory is therefore
 * bounded by the constants, whatever the number of cpes or the churn of source addresses. Thread-safe: rows are
 * created and sampled under the table's lock; the per-connection counters are adders a relay updates lock-free.
 */
public final class CpeTable {
    /**
     * Rows at most besides "other": enough for the cpes a concentrator replica serves in a small operator's network
     * (the page stays readable), and a bound on memory (a row is a few hundred bytes) when sources churn.
     */
    public static final int MAX_ROWS = 64;
    /** Uplinks listed per cpe at most (a gateway has two or three); more are summed as "other". */
    static final int MAX_UPLINKS_PER_ROW = 8;
    /** The row that sums every cpe without a row of its own. */
    public static final String OTHER = "other";
    /** The cpe a multipath connection belongs to: set as the Convert handler admits it; the kernel sampler reads it. */
    public static final AttributeKey<CpeId> CPE = AttributeKey.valueOf("hybridproxy.cpe");

    /**
     * What names a cpe.
     *
     * @param identifiedBy key (a key id) or address (its source address, where no key is checked)
     */
    public record CpeId(String id, String identifiedBy) {
        public static CpeId key(String keyId) {
            return new CpeId(keyId, "key");
        }

        public static CpeId address(InetAddress address) {
            return new CpeId(address.getHostAddress(), "address");
        }
    }

    /** What one sampling pass saw of one cpe: its live sessions and its open subflows per uplink. */
    public record SampledCpe(int sessions, Map<String, Integer> subflowsByUplink) {
        public SampledCpe {
            subflowsByUplink = Map.copyOf(subflowsByUplink);
        }
    }

    /** One cpe's counters; {@link #relayed} and {@link #closeConnection} run on the connection's event loop. */
    public static final class Row {
        private final CpeId id;
        private final AtomicInteger connections = new AtomicInteger();
        private final LongAdder connectionsTotal = new LongAdder();
        private final LongAdder bytesUpstream = new LongAdder();
        private final LongAdder bytesDownstream = new LongAdder();
        /** Where late bytes go once this row was given to another cpe (a relay may still be flushing). */
        private volatile Row mergedInto;
        // Guarded by the table's lock:
        private int sessions;
        private Map<String, Integer> subflows = Map.of();
        private long lastActive;

        private Row(CpeId id) {
            this.id = id;
        }

        /** Bytes relayed for this cpe: upstream from it, or downstream to it. */
        public void relayed(boolean upstream, int bytes) {
            Row target = mergedInto == null ? this : mergedInto;
            (upstream ? target.bytesUpstream : target.bytesDownstream).add(bytes);
        }

        /** The connection {@link #openConnection} counted has closed. */
        public void closeConnection() {
            Row target = mergedInto == null ? this : mergedInto;
            target.connections.decrementAndGet();
        }

        private long bytes() {
            return bytesUpstream.sum() + bytesDownstream.sum();
        }

        private boolean idle() {
            return connections.get() == 0 && sessions == 0 && subflows.isEmpty();
        }

        private ApplianceStatus.CpeStatusView view() {
            return new ApplianceStatus.CpeStatusView(id.id(), id.identifiedBy(), sessions, connections.get(),
                    connectionsTotal.sum(), bytesUpstream.sum(), bytesDownstream.sum(), subflows);
        }
    }

    private final int maxRows;
    private final Map<CpeId, Row> rows = new HashMap<>();
    private final Row other = new Row(new CpeId(OTHER, OTHER));
    private final Map<String, Map<CpeId, SampledCpe>> samples = new LinkedHashMap<>();
    private long tick;

    public CpeTable() {
        this(MAX_ROWS);
    }

    CpeTable(int maxRows) {
        if (maxRows < 1) {
            throw new IllegalArgumentException("the table needs at least one row, got " + maxRows);
        }
        this.maxRows = maxRows;
    }

    /** Counts a proxied connection of {@code cpe}; call {@link Row#closeConnection} on the row when it ends. */
    public synchronized Row openConnection(CpeId cpe) {
        Row row = rowFor(cpe);
        row.connections.incrementAndGet();
        row.connectionsTotal.increment();
        return row;
    }

    /**
     * The latest pass of one sampler ({@code source} names it, e.g. the engine): replaces what that source said
     * before, so a cpe whose sessions and subflows are gone shows none.
     */
    public synchronized void publishSample(String source, Map<CpeId, SampledCpe> sample) {
        samples.put(source, Map.copyOf(sample));
        Map<Row, int[]> sessions = new HashMap<>();
        Map<Row, Map<String, Integer>> subflows = new HashMap<>();
        for (Map<CpeId, SampledCpe> bySource : samples.values()) {
            for (Map.Entry<CpeId, SampledCpe> e : bySource.entrySet()) {
                SampledCpe seen = e.getValue();
                if (seen.sessions() == 0 && seen.subflowsByUplink().isEmpty()) {
                    continue;
                }
                Row row = rows.get(e.getKey());
                if (row == null) {
                    row = rowFor(e.getKey());
                }
                sessions.computeIfAbsent(row, r -> new int[1])[0] += seen.sessions();
                Map<String, Integer> merged = subflows.computeIfAbsent(row, r -> new TreeMap<>());
                seen.subflowsByUplink().forEach((uplink, n) -> merged.merge(uplink, n, Integer::sum));
            }
        }
        List<Row> all = new ArrayList<>(rows.values());
        all.add(other);
        for (Row row : all) {
            int[] n = sessions.get(row);
            row.sessions = n == null ? 0 : n[0];
            Map<String, Integer> s = subflows.get(row);
            row.subflows = s == null ? Map.of() : bounded(s);
        }
    }

    /** Busiest first (bytes both ways), then "other" when it holds anything. */
    public synchronized List<ApplianceStatus.CpeStatusView> rows() {
        List<Row> sorted = new ArrayList<>(rows.values());
        sorted.sort(Comparator.comparingLong(Row::bytes).reversed().thenComparing(r -> r.id.id()));
        List<ApplianceStatus.CpeStatusView> views = new ArrayList<>(sorted.size() + 1);
        for (Row row : sorted) {
            views.add(row.view());
        }
        if (other.connectionsTotal.sum() > 0 || !other.idle()) {
            views.add(other.view());
        }
        return views;
    }

    /** The row of {@code cpe}: its own, a new one, an idle cpe's taken over, or "other". Caller holds the lock. */
    private Row rowFor(CpeId cpe) {
        Row row = rows.get(cpe);
        if (row == null) {
            if (rows.size() >= maxRows && !evictIdlest()) {
                row = other;
            } else {
                row = new Row(cpe);
                rows.put(cpe, row);
            }
        }
        row.lastActive = ++tick;
        return row;
    }

    /** Moves the totals of the cpe idle longest into "other" and frees its row; false when every row is busy. */
    private boolean evictIdlest() {
        Row idlest = null;
        for (Row row : rows.values()) {
            if (row.idle() && (idlest == null || row.lastActive < idlest.lastActive)) {
                idlest = row;
            }
        }
        if (idlest == null) {
            return false;
        }
        rows.remove(idlest.id);
        idlest.mergedInto = other;
        other.connectionsTotal.add(idlest.connectionsTotal.sum());
        other.bytesUpstream.add(idlest.bytesUpstream.sum());
        other.bytesDownstream.add(idlest.bytesDownstream.sum());
        return true;
    }

    /** At most {@value #MAX_UPLINKS_PER_ROW} uplinks, by name; the rest summed as "other". */
    private static Map<String, Integer> bounded(Map<String, Integer> byUplink) {
        if (byUplink.size() <= MAX_UPLINKS_PER_ROW) {
            return Map.copyOf(byUplink);
        }
        Map<String, Integer> kept = new TreeMap<>();
        int rest = 0;
        for (Map.Entry<String, Integer> e : new TreeMap<>(byUplink).entrySet()) {
            if (kept.size() < MAX_UPLINKS_PER_ROW - 1) {
                kept.put(e.getKey(), e.getValue());
            } else {
                rest += e.getValue();
            }
        }
        kept.merge(OTHER, rest, Integer::sum);
        return Map.copyOf(kept);
    }
}
