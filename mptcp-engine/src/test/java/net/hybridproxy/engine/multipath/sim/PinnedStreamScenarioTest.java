package net.hybridproxy.engine.multipath.sim;

import net.hybridproxy.engine.multipath.connection.Session;
import net.hybridproxy.engine.multipath.mib.UplinkSends;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static net.hybridproxy.engine.multipath.sim.UplinkAccountingScenarioTest.dslAndLteSettled;
import static net.hybridproxy.engine.multipath.sim.UplinkAccountingScenarioTest.sent;
import static net.hybridproxy.engine.multipath.sim.UplinkAccountingScenarioTest.total;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A stream pinned to one uplink (a cpe bypass rule with action = proxy): its bytes go over that uplink's subflows
 * only, both ways, while the session's other streams keep using every uplink.
 */
class PinnedStreamScenarioTest {

    @Test
    void aPinnedStreamUsesItsUplinkBothWaysAndTheOthersStillUseBoth() {
        SimPair pair = dslAndLteSettled();
        pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, 8_000_000, 0));
        long pinned = pair.openPinnedStream("lte", 8_000_000);
        pair.runFor(10 * SimPair.SECOND);
        assertComplete(pair, pinned, 8_000_000, 8_000_000);
        assertEquals(0, sent(pair.cpe, "dsl"), "the pinned stream's upload went over lte only");
        assertTrue(sent(pair.cpe, "lte") >= 8_000_000);
        Session concentrator = pair.concentratorSessions.getFirst();
        assertEquals(1, concentrator.sendsByUplink().values().stream().filter(s -> total(s) > 0).count(),
                "the concentrator answered over one address only: " + concentrator.sendsByUplink().keySet());
        String lteAtConcentrator = concentrator.subflows().stream().filter(s -> s.uplink() != null
                && concentrator.sendsByUplink().containsKey(s.uplink())
                && total(concentrator.sendsByUplink().get(s.uplink())) > 0).findFirst().orElseThrow().uplink();

        // An ordinary stream of the same session afterwards: both uplinks carry it, both ways.
        long dslBefore = sent(pair.cpe, "dsl");
        long ordinary = pair.openStream(20_000_000);
        pair.runFor(10 * SimPair.SECOND);
        assertComplete(pair, ordinary, 20_000_000, 8_000_000);
        assertTrue(sent(pair.cpe, "dsl") > dslBefore, "the ordinary stream used dsl too");
        Map<String, UplinkSends> back = concentrator.sendsByUplink();
        assertTrue(back.entrySet().stream().anyMatch(e -> !e.getKey().equals(lteAtConcentrator) && total(e.getValue()) > 0),
                "the concentrator used the other address for the ordinary stream");
    }

    @Test
    void aPinnedStreamWaitsForItsUplinkInsteadOfMoving() {
        SimPair pair = dslAndLteSettled();
        long pinned = pair.openPinnedStream("lte", 30_000_000);
        pair.runFor(2 * SimPair.SECOND);
        pair.links.get(1).blackholed = true;
        long dslBefore = sent(pair.cpe, "dsl");
        pair.runFor(5 * SimPair.SECOND);
        assertEquals(dslBefore, sent(pair.cpe, "dsl"), "nothing of the pinned stream moved to dsl");
        pair.links.get(1).blackholed = false;
        pair.runFor(30 * SimPair.SECOND);
        StreamSink sink = pair.concentratorSinks.get(pinned);
        assertNull(sink.corruption);
        assertEquals(30_000_000, sink.received, "lte back: the stream completed over it");
        assertEquals(0, sent(pair.cpe, "dsl"));
    }

    private static void assertComplete(SimPair pair, long id, long upBytes, long downBytes) {
        StreamSink up = pair.concentratorSinks.get(id);
        assertNull(up.corruption);
        assertEquals(upBytes, up.received);
        StreamSink down = pair.cpeSinks.get(id);
        assertNull(down.corruption);
        assertEquals(downBytes, down.received);
    }
}
