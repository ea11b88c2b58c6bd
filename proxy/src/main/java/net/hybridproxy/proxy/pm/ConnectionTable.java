package net.hybridproxy.proxy.pm;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * A live, bounded view of MPTCP connections and their subflows, built from {@link MptcpEvent}s. This is what
 * metrics read: writers are the event thread, readers take {@link #snapshot()}s of immutable records.
 *
 * <p>A connection enters on Created (or on Established, for connections that predate the monitor) with its first
 * subflow, gains subflows on SubflowEstablished, loses them on SubflowClosed and leaves on Closed. Beyond
 * {@code maxConnections}, new connections are counted as dropped instead of stored, so a connection flood cannot
 * grow the heap. Times are caller-supplied {@code nowNanos} values (System.nanoTime() in production), which keeps
 * the table deterministic under test.
 */
public final class ConnectionTable {
    /** The kernel allows 8 additional subflows; anything beyond this is a bug or an attack, not state to keep. */
    static final int MAX_SUBFLOWS_PER_CONNECTION = 32;

    public record TrackedSubflow(InetAddress localAddress, int localPort, InetAddress remoteAddress, int remotePort,
                                 int localId, int remoteId, int interfaceIndex, boolean backup, long establishedNanos) {
        boolean sameFourTuple(InetAddress la, int lp, InetAddress ra, int rp) {
            return lp == localPort && rp == remotePort && Objects.equals(la, localAddress)
                    && Objects.equals(ra, remoteAddress);
        }
    }

    public record TrackedConnection(long token, int family, InetAddress localAddress, int localPort,
                                    InetAddress remoteAddress, int remotePort, boolean serverSide, long createdNanos,
                             boolean established, long establishedNanos, List<TrackedSubflow> subflows) {
        public TrackedConnection {
            subflows = List.copyOf(subflows);
        }
    }

    /**
     * @param dropped      connections not stored because the table was full
     * @param eventsLost   times the kernel dropped events (the view may be missing changes since)
     * @param eventCounts  events applied, by type (every type present, zero when unseen)
     */
    public record Snapshot(List<TrackedConnection> connections, long dropped, long eventsLost,
                           Map<MptcpEvent.EventType, Long> eventCounts) {
        public Snapshot {
            connections = List.copyOf(connections);
            eventCounts = Map.copyOf(eventCounts);
        }

        public TrackedConnection connection(long token) {
            return connections.stream().filter(c -> c.token() == token).findFirst().orElse(null);
        }
    }

    private static final class Entry {
        final long token;
        final int family;
        final InetAddress localAddress;
        final int localPort;
        final InetAddress remoteAddress;
        final int remotePort;
        final boolean serverSide;
        final long createdNanos;
        boolean established;
        long establishedNanos;
        final List<TrackedSubflow> subflows = new ArrayList<>(2);

        Entry(MptcpEvent.ConnectionEvent e, long now) {
            token = e.token();
            family = e.family();
            localAddress = e.localAddress();
            localPort = e.localPort();
            remoteAddress = e.remoteAddress();
            remotePort = e.remotePort();
            serverSide = e.serverSide();
            createdNanos = now;
            // The first subflow is reported only as the connection's own addresses, never by a subflow event.
            subflows.add(new TrackedSubflow(localAddress, localPort, remoteAddress, remotePort, 0, 0, 0, false, now));
        }

        TrackedConnection toRecord() {
            return new TrackedConnection(token, family, localAddress, localPort, remoteAddress, remotePort, serverSide,
                    createdNanos, established, establishedNanos, subflows);
        }
    }

    private final int maxConnections;
    private final Map<Long, Entry> connections = new HashMap<>();
    private final EnumMap<MptcpEvent.EventType, Long> counts = new EnumMap<>(MptcpEvent.EventType.class);
    private long dropped;
    private long eventsLost;

    public ConnectionTable(int maxConnections) {
        if (maxConnections < 1) {
            throw new IllegalArgumentException("maxConnections must be positive: " + maxConnections);
        }
        this.maxConnections = maxConnections;
        for (MptcpEvent.EventType k : MptcpEvent.EventType.values()) {
            counts.put(k, 0L);
        }
    }

    public synchronized void apply(MptcpEvent event, long nowNanos) {
        counts.merge(event.kind(), 1L, Long::sum);
        switch (event) {
            case MptcpEvent.Created c -> {
                if (!connections.containsKey(c.token())) {
                    if (connections.size() >= maxConnections) {
                        dropped++;
                    } else {
                        connections.put(c.token(), new Entry(c, nowNanos));
                    }
                }
            }
            case MptcpEvent.Established e -> {
                Entry entry = connections.get(e.token());
                if (entry == null && connections.size() < maxConnections) {
                    // Created happened before we were listening (or was dropped while full): adopt it now.
                    entry = new Entry(e, nowNanos);
                    connections.put(e.token(), entry);
                }
                if (entry != null && !entry.established) {
                    entry.established = true;
                    entry.establishedNanos = nowNanos;
                }
            }
            case MptcpEvent.Closed c -> connections.remove(c.token());
            case MptcpEvent.SubflowEstablished s -> {
                Entry entry = connections.get(s.token());
                if (entry != null) {
                    entry.subflows.removeIf(f -> f.sameFourTuple(s.localAddress(), s.localPort(), s.remoteAddress(),
                            s.remotePort()));
                    if (entry.subflows.size() < MAX_SUBFLOWS_PER_CONNECTION) {
                        entry.subflows.add(new TrackedSubflow(s.localAddress(), s.localPort(), s.remoteAddress(),
                                s.remotePort(), s.localId(), s.remoteId(), s.interfaceIndex(), s.backup(),
                                nowNanos));
                    }
                }
            }
            case MptcpEvent.SubflowClosed s -> {
                Entry entry = connections.get(s.token());
                if (entry != null) {
                    entry.subflows.removeIf(f -> f.sameFourTuple(s.localAddress(), s.localPort(), s.remoteAddress(),
                            s.remotePort()));
                }
            }
            case MptcpEvent.SubflowPriorityChanged s -> {
                Entry entry = connections.get(s.token());
                if (entry != null) {
                    entry.subflows.replaceAll(f -> f.sameFourTuple(s.localAddress(), s.localPort(),
                            s.remoteAddress(), s.remotePort())
                            ? new TrackedSubflow(f.localAddress(), f.localPort(), f.remoteAddress(), f.remotePort(),
                                    f.localId(), f.remoteId(), f.interfaceIndex(), s.backup(), f.establishedNanos())
                            : f);
                }
            }
            case MptcpEvent.EventsLost l -> eventsLost++;
            case MptcpEvent.Announced a -> {
                // Counted only: peer announcements are not per-subflow state.
            }
            case MptcpEvent.Removed r -> {
                // Counted only; the subflows it closes arrive as SubflowClosed.
            }
            case MptcpEvent.ListenerCreated l -> {
                // Counted only.
            }
            case MptcpEvent.ListenerClosed l -> {
                // Counted only.
            }
        }
    }

    public synchronized Snapshot snapshot() {
        List<TrackedConnection> out = new ArrayList<>(connections.size());
        for (Entry e : connections.values()) {
            out.add(e.toRecord());
        }
        return new Snapshot(out, dropped, eventsLost, counts);
    }

    /** The connection with this token, or empty; O(1), for per-event lookups. */
    public synchronized java.util.Optional<TrackedConnection> find(long token) {
        Entry e = connections.get(token);
        return e == null ? java.util.Optional.empty() : java.util.Optional.of(e.toRecord());
    }

    /** Whether the connection currently holds a subflow with this four-tuple (its first subflow included). */
    public synchronized boolean hasSubflow(long token, InetAddress localAddress, int localPort,
                                           InetAddress remoteAddress, int remotePort) {
        Entry e = connections.get(token);
        return e != null && e.subflows.stream().anyMatch(f -> f.sameFourTuple(localAddress, localPort, remoteAddress,
                remotePort));
    }

    public synchronized int size() {
        return connections.size();
    }
}
