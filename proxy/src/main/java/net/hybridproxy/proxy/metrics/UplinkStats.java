package net.hybridproxy.proxy.metrics;

import net.hybridproxy.proxy.config.AppConfig;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * Per-uplink figures, written by the sampler and the event consumer and read by the meters and the status API.
 * Counters are {@link LongAdder}s (writers on different threads, no locks); gauges are the latest sample's values,
 * published as one immutable {@link Gauges} so a reader never mixes two samples.
 */
public final class UplinkStats {
    /** The label for subflows whose local address is no configured uplink's (e.g. on a concentrator). */
    public static final String OTHER = "other";

    /** Why a join (an additional subflow) failed; a fixed vocabulary, so the label stays bounded. */
    public enum JoinFailure {
        TIMEOUT, REFUSED, RESET, UNREACHABLE, MPTCP_RESET, CLOSED, ERROR;

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** From the subflow's socket error (errno) and the MPTCP reset the peer sent, if any. */
        public static JoinFailure from(int errno, boolean mptcpReset) {
            return switch (errno) {
                case 0 -> mptcpReset ? MPTCP_RESET : CLOSED;
                case 110 -> TIMEOUT;      // ETIMEDOUT
                case 111 -> REFUSED;      // ECONNREFUSED
                case 104, 32 -> RESET;    // ECONNRESET, EPIPE
                case 101, 113 -> UNREACHABLE; // ENETUNREACH, EHOSTUNREACH
                default -> mptcpReset ? MPTCP_RESET : ERROR;
            };
        }
    }

    /** Latest-sample gauges; NaN when the uplink had no open subflow in that sample. */
    public record Gauges(int subflows, double srttSeconds, double cwndSegments) {
        public static final Gauges NONE = new Gauges(0, Double.NaN, Double.NaN);
    }

    /** One uplink's accumulators. */
    public static final class UplinkCounters {
        private final String name;
        final LongAdder bytesSent = new LongAdder();
        final LongAdder bytesReceived = new LongAdder();
        final LongAdder bytesRetransmitted = new LongAdder();
        final LongAdder subflowsOpened = new LongAdder();
        final LongAdder subflowsClosed = new LongAdder();
        final LongAdder joinAttempts = new LongAdder();
        final LongAdder failovers = new LongAdder();
        final LongAdder mptcpFallbacks = new LongAdder();
        final Map<JoinFailure, LongAdder> joinFailures = new EnumMap<>(JoinFailure.class);
        volatile Gauges gauges = Gauges.NONE;

        UplinkCounters(String name) {
            this.name = name;
            for (JoinFailure f : JoinFailure.values()) {
                joinFailures.put(f, new LongAdder());
            }
        }

        public String name() {
            return name;
        }

        public long bytesSent() {
            return bytesSent.sum();
        }

        public long bytesReceived() {
            return bytesReceived.sum();
        }

        public long bytesRetransmitted() {
            return bytesRetransmitted.sum();
        }

        public long subflowsOpened() {
            return subflowsOpened.sum();
        }

        public long subflowsClosed() {
            return subflowsClosed.sum();
        }

        public long joinAttempts() {
            return joinAttempts.sum();
        }

        public long joinFailures() {
            return joinFailures.values().stream().mapToLong(LongAdder::sum).sum();
        }

        public long failovers() {
            return failovers.sum();
        }

        /** Connections whose first subflow left by this uplink and fell back to plain TCP. */
        public long mptcpFallbacks() {
            return mptcpFallbacks.sum();
        }

        public Gauges gauges() {
            return gauges;
        }

        public long joinFailures(JoinFailure reason) {
            return joinFailures.get(reason).sum();
        }

        // Writers for engines outside this package (the userspace engine counts on its event loops).

        public void addBytesSent(long bytes) {
            bytesSent.add(bytes);
        }

        public void addBytesReceived(long bytes) {
            bytesReceived.add(bytes);
        }

        public void addBytesRetransmitted(long bytes) {
            bytesRetransmitted.add(bytes);
        }

        public void subflowOpened() {
            subflowsOpened.increment();
        }

        public void subflowClosed() {
            subflowsClosed.increment();
        }

        public void joinAttempted() {
            joinAttempts.increment();
        }

        public void joinFailed(JoinFailure reason) {
            joinFailures.get(reason).increment();
        }

        public void failover() {
            failovers.increment();
        }

        public void mptcpFallback() {
            mptcpFallbacks.increment();
        }

        public void publish(Gauges latest) {
            gauges = latest;
        }
    }

    private final Map<String, UplinkCounters> byName;
    private final Map<InetAddress, UplinkCounters> byAddress;

    public UplinkStats(List<AppConfig.UplinkConfig> configured) {
        this(configured.stream().map(AppConfig.UplinkConfig::name).toList(),
                configured.stream().map(AppConfig.UplinkConfig::address).toList());
    }

    /** Uplinks known by name only (the userspace engine names each subflow's uplink itself). */
    public static UplinkStats ofNames(List<String> names) {
        return new UplinkStats(names, List.of());
    }

    private UplinkStats(List<String> configured, List<InetAddress> addressesInOrder) {
        Map<String, UplinkCounters> names = new LinkedHashMap<>();
        Map<InetAddress, UplinkCounters> addresses = new HashMap<>();
        for (int i = 0; i < configured.size(); i++) {
            UplinkCounters stats = new UplinkCounters(configured.get(i));
            names.put(configured.get(i), stats);
            if (i < addressesInOrder.size()) {
                addresses.put(addressesInOrder.get(i), stats);
            }
        }
        names.put(OTHER, new UplinkCounters(OTHER));
        this.byName = Collections.unmodifiableMap(names);
        this.byAddress = Map.copyOf(addresses);
    }

    /** The uplink a subflow with this local address belongs to; {@link #OTHER} when none (or unknown). */
    public UplinkCounters forLocalAddress(InetAddress local) {
        UplinkCounters u = local == null ? null : byAddress.get(local);
        return u != null ? u : byName.get(OTHER);
    }

    public UplinkCounters byName(String name) {
        return byName.get(name);
    }

    /** The uplink of that name, or {@link #OTHER} for any name that is no configured uplink's. */
    public UplinkCounters forName(String name) {
        UplinkCounters u = name == null ? null : byName.get(name);
        return u != null ? u : byName.get(OTHER);
    }

    /** Configured uplinks in configuration order, then {@link #OTHER}. */
    public List<UplinkCounters> all() {
        return new ArrayList<>(byName.values());
    }
}
