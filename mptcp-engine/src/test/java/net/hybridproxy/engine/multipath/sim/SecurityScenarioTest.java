package net.hybridproxy.engine.multipath.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.multipath.connection.ConcentratorEndpoint;
import net.hybridproxy.engine.multipath.connection.Session;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.connection.SessionEvent;
import net.hybridproxy.engine.multipath.crypto.MptcpCrypto;
import net.hybridproxy.engine.multipath.frame.AddAddr;
import net.hybridproxy.engine.multipath.frame.CapableAck;
import net.hybridproxy.engine.multipath.frame.CapableSyn;
import net.hybridproxy.engine.multipath.frame.FastClose;
import net.hybridproxy.engine.multipath.frame.JoinAck;
import net.hybridproxy.engine.multipath.frame.JoinSyn;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import org.junit.jupiter.api.Test;

/** Authentication and bad input: what fails closes one subflow (or stream), is counted, and attaches nothing. */
class SecurityScenarioTest {

    private static final List<SubflowPriority> BOTH = List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY);

    private static List<SimLink> links() {
        return List.of(SimLink.of("dsl", 50, 20, 1), SimLink.of("lte", 30, 50, 2));
    }

    private static SimPair established() {
        SimPair pair = new SimPair(SessionConfig.defaults(), links(), BOTH);
        pair.runFor(SimPair.SECOND);
        assertTrue(pair.cpe.isEstablished());
        return pair;
    }

    @Test
    void aCpeWithAnUnknownKeyIdIsRefusedBeforeAnySessionExists() {
        CpeKey stranger = new CpeKey("stranger", new byte[16]);
        SimPair pair = new SimPair(SessionConfig.defaults(), SessionConfig.defaults(), links(), BOTH, 7, stranger,
                List.of(SimPair.KEY));
        pair.runFor(2 * SimPair.SECOND);

        assertFalse(pair.cpe.isEstablished());
        assertTrue(pair.endpoint.mib().get(MibCounter.CAPABLE_UNKNOWN_KEY_ID) >= 1);
        assertEquals(0, pair.endpoint.sessionCount());
        assertTrue(pair.concentratorSessions.isEmpty());
    }

    @Test
    void aCpeWithTheWrongSecretRejectsTheConcentratorsProofAndNothingIsAttached() {
        CpeKey wrong = new CpeKey(SimPair.KEY.id(), new byte[] {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9});
        SimPair pair = new SimPair(SessionConfig.defaults(), SessionConfig.defaults(), links(), BOTH, 7, wrong,
                List.of(SimPair.KEY));
        pair.runFor(2 * SimPair.SECOND);

        assertFalse(pair.cpe.isEstablished());
        assertTrue(pair.cpe.mib().get(MibCounter.CAPABLE_PROOF_FAILED) >= 1);
        assertEquals(0, pair.cpe.mib().get(MibCounter.SUBFLOWS_ATTACHED));
        assertEquals(0, pair.concentratorCounter(MibCounter.SUBFLOWS_ATTACHED));
    }

    @Test
    void aForgedCapableAckClosesTheSubflowAndTheHalfOpenSession() {
        ConcentratorEndpoint endpoint = new ConcentratorEndpoint(SessionConfig.defaults(), List.of(SimPair.KEY), 4,
                new SplittableRandom(3));
        ConcentratorEndpoint.Incoming incoming = endpoint.incoming();
        ByteBuffer syn = ByteBuffer.wrap(new CapableSyn(1, SubflowPriority.PRIMARY, 0x1234, SimPair.KEY.id()).encode());
        ConcentratorEndpoint.Routed routed = assertInstanceOf(ConcentratorEndpoint.Routed.class,
                incoming.handleBytes(syn, 0));
        Session session = routed.session();

        session.handleSubflowBytes(routed.subflowId(),
                ByteBuffer.wrap(new CapableAck(0x1234, session.localKey(), new byte[32]).encode()), 1);
        drainTransmit(session, 1);
        List<SessionEvent> events = drain(session);

        assertEquals(1, session.mib().get(MibCounter.CAPABLE_PROOF_FAILED));
        assertEquals(0, session.mib().get(MibCounter.SUBFLOWS_ATTACHED));
        assertTrue(session.isClosed());
        assertTrue(events.stream().anyMatch(e -> e instanceof SessionEvent.SubflowClose));
        assertTrue(events.stream().anyMatch(e -> e instanceof SessionEvent.SessionClosed));
    }

    @Test
    void aJoinWithAWrongHmacIsClosedCountedAndNeverAttached() {
        SimPair pair = established();
        Session concentrator = pair.concentratorSessions.get(0);
        long attachedBefore = concentrator.mib().get(MibCounter.SUBFLOWS_ATTACHED);

        ConcentratorEndpoint.Incoming incoming = pair.endpoint.incoming();
        JoinSyn join = new JoinSyn(1, SubflowPriority.PRIMARY, 9, concentrator.localToken(), 0x55);
        ConcentratorEndpoint.Routed routed = assertInstanceOf(ConcentratorEndpoint.Routed.class,
                incoming.handleBytes(ByteBuffer.wrap(join.encode()), pair.now()));
        drainTransmit(concentrator, pair.now());
        concentrator.handleSubflowBytes(routed.subflowId(), ByteBuffer.wrap(new JoinAck(new byte[20]).encode()),
                pair.now());

        assertEquals(1, concentrator.mib().get(MibCounter.JOIN_HMAC_FAILED));
        assertEquals(attachedBefore, concentrator.mib().get(MibCounter.SUBFLOWS_ATTACHED));
        assertTrue(concentrator.isEstablished(), "the session itself is unaffected");
        assertTrue(concentrator.subflows().stream().noneMatch(s -> s.id() == routed.subflowId() && s.state().isAttached()));
    }

    @Test
    void aJoinForAnUnknownTokenIsRefusedAndCounted() {
        SimPair pair = established();
        ConcentratorEndpoint.Incoming incoming = pair.endpoint.incoming();
        int unknown = pair.concentratorSessions.get(0).localToken() + 1;

        ConcentratorEndpoint.Accept accept = incoming.handleBytes(
                ByteBuffer.wrap(new JoinSyn(1, SubflowPriority.PRIMARY, 9, unknown, 1).encode()), pair.now());

        assertInstanceOf(ConcentratorEndpoint.Refused.class, accept);
        assertEquals(1, pair.endpoint.mib().get(MibCounter.JOIN_NO_TOKEN));
    }

    @Test
    void garbageOnOneSubflowClosesThatSubflowOnlyAndTheTransferCompletes() {
        SimPair pair = established();
        long total = 5_000_000;
        pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, total, 0));
        long id = pair.openStream(100);
        pair.runFor(SimPair.SECOND / 4);
        Session concentrator = pair.concentratorSessions.get(0);
        long victim = concentrator.subflows().get(1).id();

        concentrator.handleSubflowBytes(victim, ByteBuffer.wrap("GET / HTTP/1.1\r\n".getBytes()), pair.now());
        pair.runFor(5 * SimPair.SECOND);

        assertEquals(1, concentrator.mib().get(MibCounter.SUBFLOW_PROTOCOL_ERRORS));
        assertTrue(pair.concentratorEvents.stream().anyMatch(e -> e instanceof SessionEvent.SubflowClose c
                && c.subflowId() == victim && c.reason() == ResetReason.PROTOCOL_ERROR));
        assertTrue(concentrator.isEstablished());
        StreamSink sink = pair.cpeSinks.get(id);
        assertNull(sink.corruption);
        assertEquals(total, sink.received);
    }

    @Test
    void fastCloseWithTheWrongKeyIsIgnoredAndWithTheRightKeyResetsTheStream() {
        SimPair pair = established();
        // The concentrator sends nothing on the stream, so the cpe's subflow is between frames
        // when the test injects one.
        long id = pair.openStream(100);
        pair.runFor(SimPair.SECOND / 4);
        long subflow = pair.cpe.subflows().get(0).id();

        pair.cpe.handleSubflowBytes(subflow, ByteBuffer.wrap(
                new FastClose(id, pair.cpe.localKey() + 1, ResetReason.UNSPECIFIED).encode()), pair.now());
        assertEquals(1, pair.cpe.mib().get(MibCounter.FAST_CLOSE_BAD_KEY));
        assertTrue(pair.cpe.hasStream(id));

        pair.cpe.handleSubflowBytes(subflow, ByteBuffer.wrap(
                new FastClose(id, pair.cpe.localKey(), ResetReason.UNSPECIFIED).encode()), pair.now());
        assertFalse(pair.cpe.hasStream(id));
        assertTrue(drain(pair.cpe).stream().anyMatch(e -> e instanceof SessionEvent.StreamReset r && r.byPeer()));
    }

    @Test
    void anAnnouncedAddressReachesTheCpeOnlyWithAValidHmac() throws Exception {
        SimPair pair = established();
        Session concentrator = pair.concentratorSessions.get(0);
        InetAddress second = InetAddress.getByName("198.18.1.2");

        concentrator.announceAddress(3, second, 8443, pair.now());
        pair.runFor(SimPair.SECOND / 4);
        assertTrue(pair.cpeEvents.contains(new SessionEvent.AddressAnnounced(3, second, 8443)));
        assertEquals(1, pair.cpe.mib().get(MibCounter.ADD_ADDR_ACCEPTED));

        long wrongHmac = MptcpCrypto.addAddrHmac(concentrator.localKey(), pair.cpe.localKey(), 4, second, 8443) ^ 1;
        pair.cpe.handleSubflowBytes(pair.cpe.subflows().get(0).id(),
                ByteBuffer.wrap(new AddAddr(4, second, 8443, false, wrongHmac).encode()), pair.now());
        assertEquals(1, pair.cpe.mib().get(MibCounter.ADD_ADDR_BAD_HMAC));
        assertEquals(1, pair.cpe.mib().get(MibCounter.ADD_ADDR_ACCEPTED));
    }

    private static List<SessionEvent> drain(Session session) {
        List<SessionEvent> events = new ArrayList<>();
        SessionEvent e;
        while ((e = session.pollEvent()) != null) {
            events.add(e);
        }
        return events;
    }

    private static void drainTransmit(Session session, long now) {
        ByteBuffer out = ByteBuffer.allocate(Session.MIN_TRANSMIT_BUFFER);
        while (session.pollTransmit(now, out.clear()) != null) {
            // discarded: the test plays the peer by hand
        }
    }
}
