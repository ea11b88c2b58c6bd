package net.hybridproxy.proxy.metrics;

import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.pm.ConnectionTable;
import net.hybridproxy.proxy.pm.MptcpEvent;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The lifecycle counters from mptcp_pm event sequences as the kernel reports them: a join that fails is a
 * SUB_CLOSED for a subflow never reported established; a failover is an established subflow lost with an error
 * while its connection keeps another one.
 */
class SubflowLifecycleTest {
    private static final InetAddress DSL = address("198.18.10.1");
    private static final InetAddress LTE = address("198.18.20.1");
    private static final InetAddress CONCENTRATOR = address("198.18.100.1");
    private static final int ETIMEDOUT = 110;
    private static final int ECONNRESET = 104;

    private final UplinkStats stats = new UplinkStats(List.of(
            new AppConfig.UplinkConfig("dsl", "dsl", DSL, Optional.empty(), AppConfig.UplinkRole.PRIMARY),
            new AppConfig.UplinkConfig("lte", "lte", LTE, Optional.empty(), AppConfig.UplinkRole.PRIMARY)));
    private final FailoverLog failovers = new FailoverLog();
    private long now;
    private final SubflowLifecycle cpe = new SubflowLifecycle(new ConnectionTable(100), stats, failovers, false,
            () -> now, () -> 1_000 + now);

    @Test
    void aConnectionWithAJoinOpensOneSubflowPerUplink() {
        establish(1, 40000);
        cpe.accept(joined(1, LTE, 40001));
        assertEquals(1, stats.byName("dsl").subflowsOpened());
        assertEquals(1, stats.byName("lte").subflowsOpened());
        assertEquals(1, stats.byName("lte").joinAttempts());
        assertEquals(0, stats.byName("lte").joinFailures());
    }

    @Test
    void aJoinThatNeverEstablishedIsAFailureWithItsReason() {
        establish(1, 40000);
        cpe.accept(closed(1, LTE, 40001, ETIMEDOUT, OptionalInt.empty()));
        UplinkStats.UplinkCounters lte = stats.byName("lte");
        assertEquals(1, lte.joinAttempts());
        assertEquals(1, lte.joinFailures.get(UplinkStats.JoinFailure.TIMEOUT).sum());
        assertEquals(0, lte.subflowsClosed());
        assertEquals(0, lte.failovers());
    }

    @Test
    void losingAnEstablishedSubflowWithAnErrorWhileAnotherLivesIsAFailover() {
        establish(1, 40000);
        cpe.accept(joined(1, LTE, 40001));
        now = 5;
        cpe.accept(closed(1, LTE, 40001, ECONNRESET, OptionalInt.empty()));
        UplinkStats.UplinkCounters lte = stats.byName("lte");
        assertEquals(1, lte.subflowsClosed());
        assertEquals(1, lte.failovers());
        assertEquals(1, failovers.recent().size());
        assertEquals("lte", failovers.recent().getFirst().uplink());
        assertEquals("reset", failovers.recent().getFirst().reason());
        assertEquals(1, failovers.recent().getFirst().remainingSubflows());
        assertEquals(1_005, failovers.recent().getFirst().atMillis());
    }

    @Test
    void aCleanCloseIsNoFailoverAndTheOtherSideIsNotCounted() {
        establish(1, 40000);
        cpe.accept(joined(1, LTE, 40001));
        cpe.accept(closed(1, LTE, 40001, 0, OptionalInt.empty()));
        assertEquals(0, stats.byName("lte").failovers());
        // A server-side connection in the same namespace (another process's) is not the cpe's.
        cpe.accept(new MptcpEvent.Established(2, 2, CONCENTRATOR, 5100, DSL, 40002, true));
        cpe.accept(joined(2, CONCENTRATOR, 5100));
        assertEquals(1, stats.byName("dsl").subflowsOpened());
        assertEquals(0, stats.byName(UplinkStats.OTHER).subflowsOpened());
    }

    /**
     * Where a connection counted here starts, as the appliance's monitor delivers it: the kernel filter passes only
     * {@link SubflowLifecycle#EVENTS_USED}, so no CREATED comes first.
     */
    @Test
    void theKernelFilterPassesEveryTypeTheCountersReadAndAnUnfilteredCreatedChangesNothing() {
        assertEquals(false, SubflowLifecycle.EVENTS_USED.contains(MptcpEvent.EventType.CREATED));
        for (MptcpEvent.EventType read : List.of(MptcpEvent.EventType.ESTABLISHED, MptcpEvent.EventType.CLOSED,
                MptcpEvent.EventType.SUBFLOW_ESTABLISHED, MptcpEvent.EventType.SUBFLOW_CLOSED)) {
            assertEquals(true, SubflowLifecycle.EVENTS_USED.contains(read), read::toString);
        }
        // A kernel that refused the filter delivers CREATED too: the counters come out the same.
        cpe.accept(new MptcpEvent.Created(1, 2, DSL, 40000, CONCENTRATOR, 5100, false));
        establish(1, 40000);
        cpe.accept(joined(1, LTE, 40001));
        cpe.accept(closed(1, LTE, 40001, ECONNRESET, OptionalInt.empty()));
        establish(2, 40002);
        cpe.accept(joined(2, LTE, 40003));
        cpe.accept(closed(2, LTE, 40003, ECONNRESET, OptionalInt.empty()));
        for (String uplink : List.of("dsl", "lte")) {
            assertEquals(2, stats.byName(uplink).subflowsOpened(), uplink);
        }
        assertEquals(2, stats.byName("lte").subflowsClosed());
        assertEquals(2, stats.byName("lte").failovers());
        assertEquals(2, stats.byName("lte").joinAttempts());
    }

    private void establish(long token, int port) {
        cpe.accept(new MptcpEvent.Established(token, 2, DSL, port, CONCENTRATOR, 5100, false));
    }

    private static MptcpEvent.SubflowEstablished joined(long token, InetAddress local, int port) {
        return new MptcpEvent.SubflowEstablished(token, 2, 2, 0, local, port, CONCENTRATOR, 5100, false, 3, 0);
    }

    private static MptcpEvent.SubflowClosed closed(long token, InetAddress local, int port, int error,
                                                   OptionalInt reset) {
        return new MptcpEvent.SubflowClosed(token, 2, 2, 0, local, port, CONCENTRATOR, 5100, false, 3, error, reset);
    }

    private static InetAddress address(String text) {
        try {
            return InetAddress.getByName(text);
        } catch (java.net.UnknownHostException e) {
            throw new AssertionError(e);
        }
    }
}
