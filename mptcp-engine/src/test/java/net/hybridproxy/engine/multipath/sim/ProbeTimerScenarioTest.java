package net.hybridproxy.engine.multipath.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.List;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import org.junit.jupiter.api.Test;

/**
 * What the session's timers ask of an adapter: a timer firing after which {@code handleTimeout} says nothing changed
 * needs no pass over the session (the adapter's event loop then only re-arms its timer).
 */
class ProbeTimerScenarioTest {

    @Test
    void aTimerThatFindsNothingDueAsksForNoPassAndOneThatProbesDoes() {
        SimLink dsl = SimLink.of("dsl", 50, 20, 1);
        SimLink lte = SimLink.of("lte", 30, 50, 2);
        SimPair pair = new SimPair(SessionConfig.defaults(), List.of(dsl, lte),
                List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY));
        pair.runFor(SimPair.SECOND / 2);
        // A download that lasts the whole test: the session keeps streams, so probes run at the active interval.
        pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, Long.MAX_VALUE, 0));
        long id = pair.openStream(100);
        pair.runFor(2 * SimPair.SECOND);

        // Before its deadline (a timer armed for a deadline that has since moved): nothing to do, nothing queued.
        long due = pair.cpe.pollTimeout();
        assertTrue(due > pair.now(), "a timer is pending");
        assertFalse(pair.cpe.handleTimeout(pair.now()), "nothing was due");
        assertNull(pair.cpe.pollTransmit(pair.now(), ByteBuffer.allocate(pair.cpe.transmitBufferBytes())),
                "nothing to send after a firing that changed nothing");
        assertEquals(due, pair.cpe.pollTimeout(), "the same deadline stands");

        // The run's own firings: those that probed asked for a pass; over 2 s two subflows are probed every 100 ms
        // after their last answer (about 15 probes each).
        long callsBefore = pair.cpeTimerCalls;
        long passesBefore = pair.cpeTimerPasses;
        pair.runFor(2 * SimPair.SECOND);
        long passes = pair.cpeTimerPasses - passesBefore;
        System.out.printf("cpe timer: %d firings, %d passes in 2 s%n", pair.cpeTimerCalls - callsBefore, passes);
        assertTrue(passes >= 20, passes + " passes");
        assertTrue(pair.cpeTimerCalls - callsBefore >= passes);
        StreamSink sink = pair.cpeSinks.get(id);
        assertNull(sink.corruption);
        assertTrue(sink.received > 10_000_000, sink.received + " bytes");
    }
}
