package net.hybridproxy.engine.multipath.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import org.junit.jupiter.api.Test;

/** What the session's timers cost an adapter: each timer firing that queues something is a pass over the session. */
class ProbeTimerScenarioTest {

    @Test
    void probesDueCloseTogetherGoOutTogetherSoSubflowsWithSimilarRoundTripsShareTheirTimerPasses() {
        // Two uplinks 4 ms apart in RTT: their probe schedules (each timed from its last answer) meet within a
        // quarter of the 100 ms interval, so one timer pass probes both.
        SimLink dsl = SimLink.of("dsl", 50, 20, 1);
        SimLink lte = SimLink.of("lte", 30, 24, 2);
        SimPair pair = new SimPair(SessionConfig.defaults(), List.of(dsl, lte),
                List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY));
        pair.runFor(SimPair.SECOND / 2);
        long total = 40_000_000;
        pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, total, 0));
        long id = pair.openStream(100);
        pair.runFor(2 * SimPair.SECOND);
        long callsBefore = pair.cpeTimerCalls;
        long passesBefore = pair.cpeTimerPasses;
        pair.runFor(2 * SimPair.SECOND);
        double callsPerSecond = (pair.cpeTimerCalls - callsBefore) / 2.0;
        double passesPerSecond = (pair.cpeTimerPasses - passesBefore) / 2.0;
        pair.runFor(10 * SimPair.SECOND);

        System.out.printf("cpe timer: %.1f firings/s, %.1f passes/s (two subflows probed every 100 ms)%n",
                callsPerSecond, passesPerSecond);
        // Two subflows probed on their own would need 20 passes a second.
        assertTrue(passesPerSecond <= 12, passesPerSecond + " timer passes per second");
        StreamSink sink = pair.cpeSinks.get(id);
        assertNull(sink.corruption);
        assertEquals(total, sink.received);
    }
}
