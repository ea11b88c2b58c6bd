package net.hybridproxy.engine.multipath.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.connection.SessionEvent;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import org.junit.jupiter.api.Test;

/** A path that silently stops carrying anything, in the middle of a transfer. */
class FailoverScenarioTest {

    @Test
    void aBlackholedPathLosesNoByteAndDeliveryResumesWithinOneSecond() {
        SimLink dsl = SimLink.of("dsl", 50, 20, 1);
        SimLink lte = SimLink.of("lte", 30, 50, 2);
        SimPair pair = new SimPair(SessionConfig.defaults(), List.of(dsl, lte),
                List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY));
        pair.runFor(SimPair.SECOND / 2);
        long total = 60_000_000;
        pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, total, 0));
        long id = pair.openStream(100);
        pair.runFor(3 * SimPair.SECOND);
        StreamSink sink = pair.cpeSinks.get(id);

        dsl.blackholed = true;
        long blackholedAt = pair.now();
        pair.runFor(2 * SimPair.SECOND);
        long gap = sink.longestGapAfter(blackholedAt, pair.now());
        pair.runFor(30 * SimPair.SECOND);

        System.out.printf("blackhole: longest delivery gap %.0f ms, %d bytes reinjected, %d stalls%n",
                gap / 1e6, pair.concentratorCounter(MibCounter.REINJECTED_BYTES),
                pair.concentratorCounter(MibCounter.SUBFLOW_STALLS));
        // By default, without late reinjection: the silence rule (a path holding DATA that delivered nothing and heard
        // nothing) reinjects before the probes declare the stall (126 ms; 187 ms when only the stall reinjected).
        assertTrue(gap <= 200 * SimPair.MS, "delivery stopped for " + gap / 1e6 + " ms");
        assertTrue(pair.concentratorCounter(MibCounter.LATE_REINJECTIONS) >= 1, "DSL judged silent before it stalled");
        assertNull(sink.corruption);
        assertEquals(total, sink.received, "every byte arrives exactly once, in order");
        assertTrue(sink.ended);
        assertTrue(pair.concentratorCounter(MibCounter.SUBFLOW_STALLS) >= 1);
        assertTrue(pair.concentratorCounter(MibCounter.REINJECTED_BYTES) > 0);
    }

    @Test
    void aStalledSubflowIsClosedAndReestablishedWhenThePathComesBack() {
        SimLink dsl = SimLink.of("dsl", 50, 20, 1);
        SimLink lte = SimLink.of("lte", 30, 50, 2);
        SimPair pair = new SimPair(SessionConfig.defaults(), List.of(dsl, lte),
                List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY));
        pair.runFor(SimPair.SECOND);

        dsl.blackholed = true;
        pair.runFor(8 * SimPair.SECOND);
        long closes = pair.cpe.mib().get(MibCounter.SUBFLOW_STALL_CLOSES);
        dsl.blackholed = false;
        pair.runFor(15 * SimPair.SECOND);

        assertTrue(closes >= 1, "the cpe gave up on the blackholed subflow");
        long attachedOverDsl = pair.cpeEvents.stream()
                .filter(e -> e instanceof SessionEvent.SubflowAttached a && a.uplink().equals("dsl")).count();
        assertTrue(attachedOverDsl >= 2, "dsl rejoined: " + attachedOverDsl + " attachments");
        assertTrue(pair.cpe.subflows().stream().anyMatch(s -> s.uplink().equals("dsl") && s.state().isAttached()));
    }

    @Test
    void aBackupUplinkCarriesNothingUntilThePrimaryFails() {
        SimLink dsl = SimLink.of("dsl", 50, 20, 1);
        SimLink lte = SimLink.of("lte", 30, 50, 2);
        SimPair pair = new SimPair(SessionConfig.defaults(), List.of(dsl, lte),
                List.of(SubflowPriority.PRIMARY, SubflowPriority.BACKUP));
        pair.runFor(SimPair.SECOND / 2);
        pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, Long.MAX_VALUE, 0));
        long id = pair.openStream(100);
        pair.runFor(3 * SimPair.SECOND);
        long lteBefore = pair.bytesSentByUplinkDown.getOrDefault("lte", 0L);

        dsl.blackholed = true;
        long at = pair.now();
        pair.runFor(3 * SimPair.SECOND);
        StreamSink sink = pair.cpeSinks.get(id);

        assertTrue(lteBefore < 10_000, "backup carried " + lteBefore + " bytes (probes only) while dsl was up");
        double afterFailover = sink.megabitsPerSecond(at + SimPair.SECOND, pair.now());
        assertTrue(afterFailover > 25, "backup carries the download after the primary failed: " + afterFailover);
    }
}
