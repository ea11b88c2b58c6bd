package net.hybridproxy.proxy.metrics;

import net.hybridproxy.admin.ApplianceStatus;
import net.hybridproxy.proxy.pm.ConnectionTable;
import net.hybridproxy.proxy.pm.MptcpEvent;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * Turns the kernel's path-manager events into per-uplink subflow lifecycle counters: subflows opened and closed,
 * join attempts and failures (by reason), and failovers. Runs on the event monitor's thread.
 *
 * <p>Definitions, all per uplink (the subflow's local address):
 * <ul>
 *   <li>opened: a connection's first subflow at ESTABLISHED, or an additional one at SUB_ESTABLISHED;</li>
 *   <li>join attempt: an additional subflow that either established or closed before establishing (the kernel
 *       reports a failed MP_JOIN as SUB_CLOSED for a subflow it never reported established);</li>
 *   <li>closed: SUB_CLOSED of an established subflow;</li>
 *   <li>failover: an established subflow closed with an error or an MPTCP reset while its connection kept at least
 *       one other subflow, i.e. traffic moved to the other uplinks instead of the connection failing.</li>
 * </ul>
 *
 * <p>Only connections on this process's side are counted: client side for a cpe (and a tcp-to-mptcp sidecar),
 * server side for a concentrator (and an mptcp-to-tcp sidecar). Another MPTCP user in the same network namespace
 * would otherwise be counted as ours.
 */
public final class SubflowLifecycle implements Consumer<MptcpEvent> {
    /**
     * The kernel events these counters and their table need, for the monitor's kernel-side filter. Not CREATED: a
     * connection enters the table at ESTABLISHED (the table adopts it there), which is also where its first
     * subflow is counted opened, and the kernel opens or accepts no additional subflow before that. Not the
     * announcements (ANNOUNCED, REMOVED: the subflows they lead to arrive as subflow events) nor the listener
     * events. In the lab that is 2.5 events per connection instead of 3.5, each a wake-up of the reader
     * (docs/decisions.md, "Kernel engine, setup rate, eighth pass").
     */
    public static final Set<MptcpEvent.EventType> EVENTS_USED = Collections.unmodifiableSet(EnumSet.of(
            MptcpEvent.EventType.ESTABLISHED, MptcpEvent.EventType.CLOSED, MptcpEvent.EventType.SUBFLOW_ESTABLISHED,
            MptcpEvent.EventType.SUBFLOW_CLOSED, MptcpEvent.EventType.SUBFLOW_PRIORITY));

    private final ConnectionTable table;
    private final UplinkStats stats;
    private final FailoverLog failovers;
    private final boolean serverSide;
    private final LongSupplier nanoClock;
    private final LongSupplier wallClockMillis;

    public SubflowLifecycle(ConnectionTable table, UplinkStats stats, FailoverLog failovers, boolean serverSide,
                            LongSupplier nanoClock, LongSupplier wallClockMillis) {
        this.table = table;
        this.stats = stats;
        this.failovers = failovers;
        this.serverSide = serverSide;
        this.nanoClock = nanoClock;
        this.wallClockMillis = wallClockMillis;
    }

    @Override
    public void accept(MptcpEvent event) {
        long now = nanoClock.getAsLong();
        switch (event) {
            case MptcpEvent.Established e -> {
                boolean known = table.find(e.token()).map(ConnectionTable.TrackedConnection::established).orElse(false);
                table.apply(event, now);
                if (!known && e.serverSide() == serverSide) {
                    stats.forLocalAddress(e.localAddress()).subflowsOpened.increment();
                }
            }
            case MptcpEvent.SubflowEstablished s -> {
                table.apply(event, now);
                if (ours(s.token())) {
                    UplinkStats.UplinkCounters uplink = stats.forLocalAddress(s.localAddress());
                    uplink.subflowsOpened.increment();
                    uplink.joinAttempts.increment();
                }
            }
            case MptcpEvent.SubflowClosed s -> {
                Optional<ConnectionTable.TrackedConnection> connection = table.find(s.token());
                boolean wasEstablished = table.hasSubflow(s.token(), s.localAddress(), s.localPort(),
                        s.remoteAddress(), s.remotePort());
                table.apply(event, now);
                if (connection.isEmpty() || connection.get().serverSide() != serverSide) {
                    return;
                }
                UplinkStats.UplinkCounters uplink = stats.forLocalAddress(s.localAddress());
                boolean mptcpReset = s.resetReason().isPresent();
                if (!wasEstablished) {
                    uplink.joinAttempts.increment();
                    uplink.joinFailures.get(UplinkStats.JoinFailure.from(s.error(), mptcpReset)).increment();
                    return;
                }
                uplink.subflowsClosed.increment();
                int remaining = table.find(s.token()).map(c -> c.subflows().size()).orElse(0);
                if ((s.error() != 0 || mptcpReset) && remaining > 0) {
                    uplink.failovers.increment();
                    failovers.add(new ApplianceStatus.Failover(wallClockMillis.getAsLong(), uplink.name(),
                            UplinkStats.JoinFailure.from(s.error(), mptcpReset).label(), remaining));
                }
            }
            default -> table.apply(event, now);
        }
    }

    private boolean ours(long token) {
        return table.find(token).map(c -> c.serverSide() == serverSide).orElse(false);
    }
}
