package net.hybridproxy.engine.multipath.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.connection.SessionEvent;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import org.junit.jupiter.api.Test;

class HandshakeScenarioTest {

    @Test
    void aCpeEstablishesOnItsFirstSubflowAndJoinsTheOthers() {
        SimPair pair = new SimPair(SessionConfig.defaults(),
                List.of(SimLink.of("dsl", 50, 20, 1), SimLink.of("lte", 30, 50, 2)),
                List.of(SubflowPriority.PRIMARY, SubflowPriority.OVERFLOW));

        pair.runFor(SimPair.SECOND);

        assertTrue(pair.cpe.isEstablished());
        assertEquals(1, pair.concentratorSessions.size());
        assertEquals(2, pair.cpe.mib().get(MibCounter.SUBFLOWS_ATTACHED));
        assertEquals(2, pair.concentratorCounter(MibCounter.SUBFLOWS_ATTACHED));
        assertEquals(1, pair.cpeEvents.stream().filter(e -> e instanceof SessionEvent.SessionEstablished).count());
    }

    @Test
    void aStreamCarriesBytesBothWaysExactly() {
        SimPair pair = new SimPair(SessionConfig.defaults(),
                List.of(SimLink.of("dsl", 50, 20, 1), SimLink.of("lte", 30, 50, 2)),
                List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY));
        pair.runFor(SimPair.SECOND);
        pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, 3_000_000, 0));

        long id = pair.openStream(2_000_000);
        pair.runFor(5 * SimPair.SECOND);

        StreamSink down = pair.cpeSinks.get(id);
        StreamSink up = pair.concentratorSinks.get(id);
        assertEquals(null, down.corruption);
        assertEquals(null, up.corruption);
        assertEquals(3_000_000, down.received);
        assertEquals(2_000_000, up.received);
        assertTrue(down.ended && up.ended);
        assertTrue(pair.cpe.streamIds().isEmpty(), "stream closed at the cpe: " + pair.cpe.streamIds());
        assertTrue(pair.concentratorSessions.get(0).streamIds().isEmpty());
    }

    @Test
    void aCapableHandshakeTheConcentratorNeverAnswersIsGivenUpAndStartsOverOnAnotherUplink() {
        SimLink dsl = SimLink.of("dsl", 50, 20, 1);
        dsl.peerFrozen = true;
        SimPair pair = new SimPair(SessionConfig.defaults(), List.of(dsl, SimLink.of("lte", 30, 50, 2)),
                List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY));
        long capableTimeout = SessionConfig.defaults().handshakeTimeout().toNanos() / 2;

        pair.runFor(capableTimeout - SimPair.SECOND / 2);
        assertTrue(!pair.cpe.isEstablished(), "DSL connects first and carries CAPABLE_SYN into the frozen process");
        assertEquals(0, pair.cpe.mib().get(MibCounter.HANDSHAKES_TIMED_OUT));

        pair.runFor(SimPair.SECOND);
        assertTrue(pair.cpe.isEstablished(), "the handshake started over on LTE once DSL's went unanswered");
        assertEquals(1, pair.cpe.mib().get(MibCounter.HANDSHAKES_TIMED_OUT));

        // DSL reconnects and its JOIN_SYN goes unanswered too: each attempt is given up, none attaches, and LTE
        // carries the session meanwhile.
        pair.runFor(8 * capableTimeout);
        assertTrue(pair.cpe.mib().get(MibCounter.HANDSHAKES_TIMED_OUT) >= 2);
        assertEquals(1, pair.cpe.mib().get(MibCounter.SUBFLOWS_ATTACHED));
        assertTrue(pair.cpe.isEstablished());
    }
}
