package net.hybridproxy.engine.multipath.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.multipath.connection.ConcentratorEndpoint;
import net.hybridproxy.engine.multipath.connection.MemoryBudget;
import net.hybridproxy.engine.multipath.connection.Session;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.frame.Data;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.subflow.SubflowEstimates;
import org.junit.jupiter.api.Test;

/**
 * One subscriber against the others' memory (hardening: "one subscriber reaching its quota affects no other
 * subscriber"): a key that runs several sessions, each a never-acknowledging peer at its own session budget, holds
 * no more than its key's share of the process budget together, and the memory left lets another key's download
 * through. Without the share, four such sessions held the whole process budget.
 */
class KeyMemoryShareScenarioTest {

    private static final long SESSION_BUDGET = 4L << 20;
    private static final long PROCESS_BUDGET = 16L << 20;
    private static final long KEY_SHARE = PROCESS_BUDGET / 4;
    private static final CpeKey HOSTILE_KEY = new CpeKey("cpe-hostile",
            new byte[] {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9});

    private final MemoryBudget process = new MemoryBudget(PROCESS_BUDGET, KEY_SHARE);
    private final SessionConfig config = SessionConfig.defaults().withSessionMemoryBudget(SESSION_BUDGET);
    private final SimPair pair = new SimPair(SessionConfig.defaults(), config,
            List.of(SimLink.of("dsl", 50, 20, 1), SimLink.of("lte", 30, 50, 2)),
            List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY), 7, SimPair.KEY,
            List.of(SimPair.KEY, HOSTILE_KEY), process);

    @Test
    void aKeysSessionsTogetherHoldNoMoreThanItsShareAndAnotherKeysDownloadCompletes() {
        pair.runFor(SimPair.SECOND);
        List<Session> hostile = new ArrayList<>();
        List<Long> subflows = new ArrayList<>();
        for (long keyA = 0x5151; keyA < 0x5151 + 4; keyA++) {
            ConcentratorEndpoint.Routed routed = assertInstanceOf(ConcentratorEndpoint.Routed.class,
                    HandshakeAttackScenarioTest.handshake(pair.endpoint, HOSTILE_KEY, keyA));
            routed.session().updateSubflow(routed.subflowId(), SubflowEstimates.unknown(1 << 20));
            hostile.add(routed.session());
            subflows.add(routed.subflowId());
        }
        ByteBuffer chunk = ByteBuffer.allocate(64 * 1024);
        for (int i = 0; i < hostile.size(); i++) {
            Session session = hostile.get(i);
            for (int stream = 1; stream <= 64; stream++) {
                session.handleSubflowBytes(subflows.get(i),
                        ByteBuffer.wrap(new Data(stream, 0, false, new byte[100]).encode()), pair.now());
            }
            for (int round = 0; round < 40; round++) {
                for (long id : session.streamIds()) {
                    session.write(id, chunk.clear(), pair.now());
                }
                drain(session); // into a socket whose peer never acknowledges
            }
        }
        long held = hostile.stream().mapToLong(Session::memoryUsed).sum();
        assertTrue(held <= KEY_SHARE, held + " bytes held by one key's sessions, share " + KEY_SHARE);

        long total = 8_000_000;
        pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, total, 0));
        long stream = pair.openStream(100);
        pair.runFor(5 * SimPair.SECOND);
        StreamSink sink = pair.cpeSinks.get(stream);
        assertEquals(total, sink.received, "the other key's download completes");
        assertNull(sink.corruption);
        assertTrue(process.used() <= PROCESS_BUDGET);
    }

    private void drain(Session session) {
        ByteBuffer out = ByteBuffer.allocate(Session.MIN_TRANSMIT_BUFFER);
        while (session.pollTransmit(pair.now(), out.clear()) != null) {
            // written nowhere
        }
        while (session.pollEvent() != null) {
            // nobody reads the hostile streams
        }
    }
}
