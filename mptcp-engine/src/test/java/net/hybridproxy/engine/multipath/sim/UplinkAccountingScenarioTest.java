package net.hybridproxy.engine.multipath.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import net.hybridproxy.engine.multipath.connection.Session;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import net.hybridproxy.engine.multipath.mib.UplinkSends;
import org.junit.jupiter.api.Test;

/**
 * What a session reports per uplink for metrics (DATA sent by kind), and the operator's uplink actions: backup
 * (MP_PRIO), drain (no new subflows) and disable (close them, open none).
 */
class UplinkAccountingScenarioTest {

    @Test
    void firstTransmissionsAddUpToThePayloadAndReinjectionsAreCountedOnTheirCarrier() {
        SimPair pair = dslAndLteSettled();
        long total = 30_000_000;
        long id = pair.openStream(total);
        pair.runFor(3 * SimPair.SECOND);
        pair.links.getFirst().blackholed = true;
        pair.runFor(30 * SimPair.SECOND);

        StreamSink sink = pair.concentratorSinks.get(id);
        assertNull(sink.corruption);
        assertEquals(total, sink.received);
        Map<String, UplinkSends> sends = pair.cpe.sendsByUplink();
        long firstTransmissions = sends.values().stream().mapToLong(s -> s.bytes(UplinkSends.Kind.NEW)).sum();
        long allPayload = sends.values().stream().mapToLong(s -> total(s)).sum();
        assertEquals(total, firstTransmissions, "each payload byte is sent for the first time exactly once");
        assertEquals(pair.cpe.mib().get(MibCounter.DATA_BYTES_SENT), allPayload, "kinds add up to every DATA byte");
        assertTrue(sends.get("lte").bytes(UplinkSends.Kind.REINJECTION) > 0,
                "what dsl carried unacknowledged was sent again on lte");
        assertEquals(0, sends.get("dsl").bytes(UplinkSends.Kind.REINJECTION));
        assertTrue(sends.get("dsl").frames(UplinkSends.Kind.NEW) > 0 && sends.get("lte").frames(UplinkSends.Kind.NEW) > 0);
        assertEquals(0, pair.cpe.reorderBufferedBytes());
    }

    @Test
    void anUplinkMadeBackupCarriesNothingNewWhileThePrimaryWorks() {
        SimPair pair = dslAndLteSettled();
        pair.cpe.setUplinkPriority("lte", SubflowPriority.BACKUP, pair.now());
        pair.runFor(SimPair.SECOND / 2);
        Session concentrator = pair.concentratorSessions.getFirst();
        assertTrue(concentrator.subflows().stream().anyMatch(s -> s.priority() == SubflowPriority.BACKUP),
                "the concentrator learned the new priority from MP_PRIO");
        assertEquals(1, concentrator.mib().get(MibCounter.MP_PRIO_RECEIVED));

        long id = pair.openStream(20_000_000);
        pair.runFor(10 * SimPair.SECOND);
        assertEquals(20_000_000, pair.concentratorSinks.get(id).received);
        assertEquals(0, sent(pair.cpe, "lte"), "lte is backup: the working dsl carried everything");
    }

    @Test
    void aDisabledUplinkLosesItsSubflowsAndGetsNoneUntilEnabled() {
        SimPair pair = dslAndLteSettled();
        long id = pair.openStream(30_000_000);
        pair.runFor(SimPair.SECOND);

        pair.cpe.setUplinkPaused("lte", true, pair.now());
        assertEquals(1, pair.cpe.closeUplinkSubflows("lte", pair.now()));
        pair.drive();
        pair.runFor(10 * SimPair.SECOND);
        assertTrue(pair.cpe.subflows().stream().noneMatch(s -> s.uplink().equals("lte")), "no subflow over lte");
        StreamSink sink = pair.concentratorSinks.get(id);
        assertNull(sink.corruption);
        assertEquals(30_000_000, sink.received, "what lte carried was reinjected on dsl");

        pair.cpe.setUplinkPaused("lte", false, pair.now());
        pair.drive();
        pair.runFor(3 * SimPair.SECOND);
        assertTrue(pair.cpe.subflows().stream().anyMatch(s -> s.uplink().equals("lte") && s.state().isAttached()),
                "enabled again: lte rejoined");
    }

    /** dsl 50 Mb/s 20 ms and lte 30 Mb/s 50 ms, both primary, half a second after start (both attached). */
    static SimPair dslAndLteSettled() {
        SimPair pair = new SimPair(SessionConfig.defaults(), List.of(SimLink.of("dsl", 50, 20, 1),
                SimLink.of("lte", 30, 50, 2)), List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY));
        pair.runFor(SimPair.SECOND / 2);
        return pair;
    }

    /** DATA payload bytes {@code session} sent over {@code uplink}, of every kind. */
    static long sent(Session session, String uplink) {
        UplinkSends s = session.sendsByUplink().get(uplink);
        return s == null ? 0 : total(s);
    }

    static long total(UplinkSends s) {
        long sum = 0;
        for (UplinkSends.Kind kind : UplinkSends.Kind.values()) {
            sum += s.bytes(kind);
        }
        return sum;
    }
}
