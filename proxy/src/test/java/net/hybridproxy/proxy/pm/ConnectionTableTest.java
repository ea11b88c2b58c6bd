package net.hybridproxy.proxy.pm;

import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.util.OptionalInt;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConnectionTableTest {
    private static final InetAddress DSL_LOCAL = addr("198.18.40.1");
    private static final InetAddress DSL_REMOTE = addr("198.18.40.2");
    private static final InetAddress LTE_LOCAL = addr("198.18.41.1");
    private static final InetAddress LTE_REMOTE = addr("198.18.41.2");

    private static InetAddress addr(String s) {
        try {
            return InetAddress.getByName(s);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private static MptcpEvent.Created created(long token) {
        return new MptcpEvent.Created(token, 2, DSL_LOCAL, 50000, DSL_REMOTE, 443, false);
    }

    private static MptcpEvent.SubflowEstablished lteSubflow(long token, boolean backup) {
        return new MptcpEvent.SubflowEstablished(token, 2, 2, 1, LTE_LOCAL, 50001, LTE_REMOTE, 443, backup, 4, 0);
    }

    @Test
    void tracksConnectionLifecycleWithSubflowsAndTimes() {
        ConnectionTable table = new ConnectionTable(4);
        table.apply(created(1), 100);
        table.apply(new MptcpEvent.Established(1, 2, DSL_LOCAL, 50000, DSL_REMOTE, 443, false), 150);
        table.apply(lteSubflow(1, true), 200);

        ConnectionTable.TrackedConnection c = table.snapshot().connection(1);
        assertEquals(100, c.createdNanos());
        assertTrue(c.established());
        assertEquals(150, c.establishedNanos());
        assertEquals(2, c.subflows().size());
        ConnectionTable.TrackedSubflow lte = c.subflows().get(1);
        assertEquals(new ConnectionTable.TrackedSubflow(LTE_LOCAL, 50001, LTE_REMOTE, 443, 2, 1, 4, true, 200), lte);

        table.apply(new MptcpEvent.SubflowPriorityChanged(1, 2, 2, 1, LTE_LOCAL, 50001, LTE_REMOTE, 443, false, 4, 0), 250);
        assertFalse(table.snapshot().connection(1).subflows().get(1).backup());

        table.apply(new MptcpEvent.SubflowClosed(1, 2, 2, 1, LTE_LOCAL, 50001, LTE_REMOTE, 443, false, 4, 104,
                OptionalInt.of(1)), 300);
        assertEquals(1, table.snapshot().connection(1).subflows().size());

        table.apply(new MptcpEvent.Closed(1), 400);
        assertEquals(0, table.snapshot().connections().size());
        assertEquals(1L, table.snapshot().eventCounts().get(MptcpEvent.EventType.SUBFLOW_CLOSED));
        assertEquals(0L, table.snapshot().eventCounts().get(MptcpEvent.EventType.ANNOUNCED));
    }

    @Test
    void boundedTableCountsDroppedConnections() {
        ConnectionTable table = new ConnectionTable(2);
        for (long token = 1; token <= 5; token++) {
            table.apply(created(token), token);
        }
        ConnectionTable.Snapshot s = table.snapshot();
        assertEquals(2, s.connections().size());
        assertEquals(3, s.dropped());
        assertEquals(5L, s.eventCounts().get(MptcpEvent.EventType.CREATED));
        // Subflows of a dropped connection go nowhere; closing a stored one frees a slot.
        table.apply(lteSubflow(5, false), 10);
        table.apply(new MptcpEvent.Closed(1), 11);
        table.apply(created(6), 12);
        assertEquals(2, table.size());
        assertTrue(table.snapshot().connection(6) != null);
    }

    @Test
    void establishedAdoptsConnectionsThatPredateTheMonitor() {
        ConnectionTable table = new ConnectionTable(2);
        table.apply(new MptcpEvent.Established(9, 2, DSL_LOCAL, 50000, DSL_REMOTE, 443, true), 5);
        ConnectionTable.TrackedConnection c = table.snapshot().connection(9);
        assertTrue(c.serverSide());
        assertEquals(1, c.subflows().size());
    }

    @Test
    void duplicateSubflowEventsDoNotDuplicateSubflowsAndLossIsCounted() {
        ConnectionTable table = new ConnectionTable(2);
        table.apply(created(1), 1);
        table.apply(lteSubflow(1, false), 2);
        table.apply(lteSubflow(1, false), 3);
        table.apply(new MptcpEvent.EventsLost(), 4);
        assertEquals(2, table.snapshot().connection(1).subflows().size());
        assertEquals(1, table.snapshot().eventsLost());
    }

    @Test
    void snapshotsAreImmutableAndDetached() {
        ConnectionTable table = new ConnectionTable(2);
        table.apply(created(1), 1);
        ConnectionTable.Snapshot s = table.snapshot();
        assertThrows(UnsupportedOperationException.class, () -> s.connections().clear());
        assertThrows(UnsupportedOperationException.class, () -> s.connection(1).subflows().clear());
        assertThrows(UnsupportedOperationException.class, () -> s.eventCounts().clear());
        table.apply(lteSubflow(1, false), 2);
        assertEquals(1, s.connection(1).subflows().size(), "an old snapshot does not change");
    }

    @Test
    void concurrentWritersAndReadersStayConsistent() throws Exception {
        ConnectionTable table = new ConnectionTable(100_000);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        CountDownLatch start = new CountDownLatch(1);
        for (int w = 0; w < 3; w++) {
            long base = w * 1_000_000L;
            pool.submit(() -> {
                start.await();
                for (long t = base; t < base + 2_000; t++) {
                    table.apply(created(t), t);
                    table.apply(lteSubflow(t, false), t);
                    if (t % 2 == 0) {
                        table.apply(new MptcpEvent.Closed(t), t);
                    }
                }
                return null;
            });
        }
        pool.submit(() -> {
            start.await();
            for (int i = 0; i < 200; i++) {
                for (ConnectionTable.TrackedConnection c : table.snapshot().connections()) {
                    assertTrue(c.subflows().size() <= 2);
                }
            }
            return null;
        });
        start.countDown();
        pool.shutdown();
        assertTrue(pool.awaitTermination(30, TimeUnit.SECONDS));
        assertEquals(3_000, table.size());
        assertEquals(6_000L, table.snapshot().eventCounts().get(MptcpEvent.EventType.CREATED));
    }
}
