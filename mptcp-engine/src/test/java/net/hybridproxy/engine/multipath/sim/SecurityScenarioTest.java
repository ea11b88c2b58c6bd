package net.hybridproxy.engine.multipath.sim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
import net.hybridproxy.engine.multipath.crypto.SessionSecret;
import net.hybridproxy.engine.multipath.frame.AddAddr;
import net.hybridproxy.engine.multipath.frame.CapableAck;
import net.hybridproxy.engine.multipath.frame.CapableSyn;
import net.hybridproxy.engine.multipath.frame.FastClose;
import net.hybridproxy.engine.multipath.frame.Frame;
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
    void aForgedCapableAckIsRefusedAndNoSessionEverExisted() {
        ConcentratorEndpoint endpoint = new ConcentratorEndpoint(SessionConfig.defaults(), List.of(SimPair.KEY), 4,
                new SplittableRandom(3));
        ConcentratorEndpoint.Incoming incoming = endpoint.incoming("attacker", 0);
        ConcentratorEndpoint.Answer answer = assertInstanceOf(ConcentratorEndpoint.Answer.class,
                incoming.handleBytes(ByteBuffer.wrap(capableSyn(0x1234, SimPair.KEY.id())), 0));
        long concentratorKey = ByteBuffer.wrap(answer.reply()).getLong(Frame.HEADER_LENGTH + 1);
        assertEquals(0, endpoint.sessionCount());

        ConcentratorEndpoint.Accept accept = incoming.handleBytes(
                ByteBuffer.wrap(new CapableAck(0x1234, concentratorKey, new byte[32]).encode()), 1);

        assertInstanceOf(ConcentratorEndpoint.ConnectionRefused.class, accept);
        assertEquals(1, endpoint.mib().get(MibCounter.CAPABLE_PROOF_FAILED));
        assertEquals(0, endpoint.sessionCount());
        assertEquals(0, endpoint.pendingCount());
    }

    @Test
    void aJoinWithAWrongHmacIsRefusedCountedAndNeverAttached() {
        SimPair pair = established();
        Session concentrator = pair.concentratorSessions.get(0);
        long attachedBefore = concentrator.mib().get(MibCounter.SUBFLOWS_ATTACHED);
        int subflowsBefore = concentrator.subflows().size();

        ConcentratorEndpoint.Incoming incoming = pair.endpoint.incoming("attacker", pair.now());
        JoinSyn join = new JoinSyn(concentrator.version(), SubflowPriority.PRIMARY, 9, concentrator.localToken(), 0x55);
        assertInstanceOf(ConcentratorEndpoint.Answer.class,
                incoming.handleBytes(ByteBuffer.wrap(join.encode()), pair.now()));
        ConcentratorEndpoint.Accept accept = incoming.handleBytes(ByteBuffer.wrap(new JoinAck(new byte[20]).encode()),
                pair.now());

        assertInstanceOf(ConcentratorEndpoint.ConnectionRefused.class, accept);
        assertEquals(1, pair.endpoint.mib().get(MibCounter.JOIN_HMAC_FAILED));
        assertEquals(attachedBefore, concentrator.mib().get(MibCounter.SUBFLOWS_ATTACHED));
        assertEquals(subflowsBefore, concentrator.subflows().size(), "a join attaches nothing before it verifies");
        assertTrue(concentrator.isEstablished(), "the session itself is unaffected");
    }

    @Test
    void aJoinForAnUnknownTokenIsAnsweredLikeAValidOneThenRefusedAndCounted() {
        SimPair pair = established();
        int unknown = pair.concentratorSessions.get(0).localToken() + 1;

        List<byte[]> unknownAnswers = joinWithWrongAck(pair, unknown);
        List<byte[]> validAnswers = joinWithWrongAck(pair, pair.concentratorSessions.get(0).localToken());

        assertEquals(1, pair.endpoint.mib().get(MibCounter.JOIN_NO_TOKEN));
        assertEquals(unknownAnswers.get(0).length, validAnswers.get(0).length, "JOIN_SYNACK either way");
        assertEquals(unknownAnswers.get(0)[0], validAnswers.get(0)[0]);
        assertArrayEquals(unknownAnswers.get(1), validAnswers.get(1), "the same refusal either way");
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

        long mac = secret(pair).fastCloseMac(SessionSecret.Sender.B, id, ResetReason.UNSPECIFIED.code());
        pair.cpe.handleSubflowBytes(subflow, ByteBuffer.wrap(
                new FastClose(id, mac ^ 1, ResetReason.UNSPECIFIED).encode()), pair.now());
        assertEquals(1, pair.cpe.mib().get(MibCounter.FAST_CLOSE_BAD_KEY));
        assertTrue(pair.cpe.hasStream(id));

        pair.cpe.handleSubflowBytes(subflow, ByteBuffer.wrap(
                new FastClose(id, mac, ResetReason.UNSPECIFIED).encode()), pair.now());
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

        long wrongHmac = secret(pair).addAddrHmac(SessionSecret.Sender.B, 4, second, 8443) ^ 1;
        pair.cpe.handleSubflowBytes(pair.cpe.subflows().get(0).id(),
                ByteBuffer.wrap(new AddAddr(4, second, 8443, false, wrongHmac).encode()), pair.now());
        assertEquals(1, pair.cpe.mib().get(MibCounter.ADD_ADDR_BAD_HMAC));
        assertEquals(1, pair.cpe.mib().get(MibCounter.ADD_ADDR_ACCEPTED));
    }

    static SessionSecret secret(SimPair pair) {
        return SessionSecret.derive(SimPair.KEY, pair.cpe.version(), pair.cpe.localKey(),
                pair.concentratorSessions.get(0).localKey());
    }

    static byte[] capableSyn(long key, String keyId) {
        return new CapableSyn(CapableSyn.VERSION, SubflowPriority.PRIMARY, key, keyId).encode();
    }

    /** A JOIN_SYN for {@code token}, then a JOIN_ACK with a zero HMAC: the two answers, as bytes. */
    static List<byte[]> joinWithWrongAck(SimPair pair, int token) {
        ConcentratorEndpoint.Incoming incoming = pair.endpoint.incoming("prober", pair.now());
        ConcentratorEndpoint.Answer answer = assertInstanceOf(ConcentratorEndpoint.Answer.class, incoming.handleBytes(
                ByteBuffer.wrap(new JoinSyn(pair.cpe.version(), SubflowPriority.PRIMARY, 9, token, 7).encode()),
                pair.now()));
        ConcentratorEndpoint.ConnectionRefused refused = assertInstanceOf(ConcentratorEndpoint.ConnectionRefused.class,
                incoming.handleBytes(ByteBuffer.wrap(new JoinAck(new byte[20]).encode()), pair.now()));
        return List.of(answer.reply(), refused.reply());
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
