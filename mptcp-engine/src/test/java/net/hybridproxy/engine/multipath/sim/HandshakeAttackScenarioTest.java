package net.hybridproxy.engine.multipath.sim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.multipath.connection.ConcentratorEndpoint;
import net.hybridproxy.engine.multipath.connection.Session;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.connection.SessionEvent;
import net.hybridproxy.engine.multipath.crypto.CapableProof;
import net.hybridproxy.engine.multipath.crypto.MptcpCrypto;
import net.hybridproxy.engine.multipath.frame.CapableAck;
import net.hybridproxy.engine.multipath.frame.CapableSyn;
import net.hybridproxy.engine.multipath.frame.FastClose;
import net.hybridproxy.engine.multipath.frame.Frame;
import net.hybridproxy.engine.multipath.frame.FrameCodec;
import net.hybridproxy.engine.multipath.frame.FrameDecodeResult;
import net.hybridproxy.engine.multipath.frame.FrameException;
import net.hybridproxy.engine.multipath.frame.JoinAck;
import net.hybridproxy.engine.multipath.frame.JoinSyn;
import net.hybridproxy.engine.multipath.frame.JoinSynAck;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import org.junit.jupiter.api.Test;

/**
 * Attacks on the handshakes (hardening items 2, 3 and 5): each names what an attacker does, shows it gains
 * nothing, and that a legitimate cpe keeps working meanwhile.
 */
class HandshakeAttackScenarioTest {

    private static final List<SubflowPriority> BOTH = List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY);
    private static final CpeKey OTHER = new CpeKey("cpe-other", new byte[] {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
        7, 7});

    private static List<SimLink> links() {
        return List.of(SimLink.of("dsl", 50, 20, 1), SimLink.of("lte", 30, 50, 2));
    }

    // ------------------------------------------------------------------ item 5: MACs keyed by the session secret

    @Test
    void anObserverWhoSawBothKeysCannotJoinNorFastCloseAndTheSessionCarriesOn() {
        SimPair pair = new SimPair(SessionConfig.defaults(), links(), BOTH);
        pair.runFor(SimPair.SECOND);
        Session concentrator = pair.concentratorSessions.get(0);
        // Both keys crossed the network in clear (CAPABLE_SYN, CAPABLE_SYNACK, CAPABLE_ACK).
        long keyA = pair.cpe.localKey();
        long keyB = concentrator.localKey();

        // A join signed as RFC 8684 signs it, with Key-A || Key-B.
        ConcentratorEndpoint.Incoming join = pair.endpoint.incoming("observer", pair.now());
        JoinSynAck synAck = JoinSynAck.class.cast(frame(assertInstanceOf(ConcentratorEndpoint.Answer.class,
                join.handleBytes(ByteBuffer.wrap(new JoinSyn(concentrator.version(), SubflowPriority.PRIMARY, 9,
                        MptcpCrypto.token(keyB), 0x1111).encode()), pair.now())).reply()));
        ConcentratorEndpoint.Accept joined = join.handleBytes(ByteBuffer.wrap(new JoinAck(
                MptcpCrypto.joinHmac160(keyA, keyB, 0x1111, synAck.nonce())).encode()), pair.now());
        assertInstanceOf(ConcentratorEndpoint.ConnectionRefused.class, joined, "no join with the keys alone");
        assertEquals(1, pair.endpoint.mib().get(MibCounter.JOIN_HMAC_FAILED));

        // FAST_CLOSE of the whole session, carrying the receiver's key as RFC 8684 §3.5 has it, both ways.
        pair.cpe.handleSubflowBytes(pair.cpe.subflows().get(0).id(), ByteBuffer.wrap(
                new FastClose(FastClose.SESSION, keyA, ResetReason.UNSPECIFIED).encode()), pair.now());
        concentrator.handleSubflowBytes(concentrator.subflows().get(0).id(), ByteBuffer.wrap(
                new FastClose(FastClose.SESSION, keyB, ResetReason.UNSPECIFIED).encode()), pair.now());
        assertEquals(1, pair.cpe.mib().get(MibCounter.FAST_CLOSE_BAD_KEY));
        assertEquals(1, concentrator.mib().get(MibCounter.FAST_CLOSE_BAD_KEY));

        long total = 4_000_000;
        pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, total, 0));
        long id = pair.openStream(100);
        pair.runFor(3 * SimPair.SECOND);
        assertTrue(pair.cpe.isEstablished() && concentrator.isEstablished());
        assertEquals(2, concentrator.subflows().size(), "only the cpe's own subflows are attached");
        assertEquals(total, pair.cpeSinks.get(id).received);
        assertNull(pair.cpeSinks.get(id).corruption);
    }

    // ------------------------------------------------------------------ item 2: nothing before the proof

    @Test
    void aFloodOfCapableSynsWithAKnownKeyIdAllocatesNoSessionAndTheCpeStillConnects() {
        SimPair quiet = new SimPair(SessionConfig.defaults(), links(), BOTH);
        quiet.runFor(SimPair.SECOND);
        long normalSetup = establishedAt(quiet.cpeEvents, quiet);

        SimPair pair = new SimPair(SessionConfig.defaults(), links(), BOTH);
        SplittableRandom random = new SplittableRandom(5);
        List<ConcentratorEndpoint.Incoming> held = new ArrayList<>();
        for (int i = 0; i < 5000; i++) {
            ConcentratorEndpoint.Incoming incoming = pair.endpoint.incoming("attacker-" + (i % 50), 0);
            incoming.handleBytes(ByteBuffer.wrap(SecurityScenarioTest.capableSyn(random.nextLong(),
                    SimPair.KEY.id())), 0);
            held.add(incoming); // never answered: the attacker has no PSK
        }
        assertEquals(0, pair.endpoint.sessionCount(), "no session before a proof");
        assertTrue(pair.endpoint.mib().get(MibCounter.HANDSHAKES_REFUSED_QUOTA) > 0);

        long total = 4_000_000;
        pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, total, 0));
        pair.runFor(SimPair.SECOND);
        long id = pair.openStream(100);
        pair.runFor(3 * SimPair.SECOND);

        assertTrue(pair.cpe.isEstablished());
        assertEquals(1, pair.endpoint.sessionCount());
        assertTrue(establishedAt(pair.cpeEvents, pair) <= 2 * normalSetup,
                "setup " + establishedAt(pair.cpeEvents, pair) + " ns against " + normalSetup + " ns without the flood");
        assertEquals(total, pair.cpeSinks.get(id).received);
        assertNull(pair.cpeSinks.get(id).corruption);
    }

    @Test
    void unknownAndKnownKeyIdsGetAnswersOfTheSameShapeAndTheSameRefusal() {
        ConcentratorEndpoint endpoint = endpoint(new ConcentratorEndpoint.Limits(16, 64, 1024, 64));

        List<byte[]> known = capableWithWrongProof(endpoint, SimPair.KEY.id());
        List<byte[]> unknown = capableWithWrongProof(endpoint, "no-such-key");

        assertEquals(known.get(0).length, unknown.get(0).length, "CAPABLE_SYNACK either way");
        assertEquals(known.get(0)[0], unknown.get(0)[0]);
        assertArrayEquals(known.get(1), unknown.get(1), "the same SUBFLOW_RESET either way");
        assertEquals(1, endpoint.mib().get(MibCounter.CAPABLE_UNKNOWN_KEY_ID));
        assertEquals(1, endpoint.mib().get(MibCounter.CAPABLE_PROOF_FAILED));
        assertEquals(0, endpoint.sessionCount());
    }

    @Test
    void aKeyHoldsAtMostItsQuotaOfSessionsAndOtherKeysAreUnaffected() {
        ConcentratorEndpoint endpoint = endpoint(new ConcentratorEndpoint.Limits(16, 2, 1024, 64));

        Session first = assertInstanceOf(ConcentratorEndpoint.Routed.class, handshake(endpoint, SimPair.KEY, 1))
                .session();
        assertInstanceOf(ConcentratorEndpoint.Routed.class, handshake(endpoint, SimPair.KEY, 2));
        assertInstanceOf(ConcentratorEndpoint.ConnectionRefused.class, handshake(endpoint, SimPair.KEY, 3));
        assertEquals(1, endpoint.mib().get(MibCounter.SESSIONS_REFUSED_KEY_LIMIT));
        assertInstanceOf(ConcentratorEndpoint.Routed.class, handshake(endpoint, OTHER, 4), "another cpe's key");

        endpoint.release(first);
        assertInstanceOf(ConcentratorEndpoint.Routed.class, handshake(endpoint, SimPair.KEY, 5));
    }

    @Test
    void pendingHandshakesAreBoundedPerSourceAndInTotalAndExpire() {
        ConcentratorEndpoint endpoint = endpoint(new ConcentratorEndpoint.Limits(16, 64, 8, 4));
        List<ConcentratorEndpoint.Incoming> attacker = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            ConcentratorEndpoint.Incoming incoming = endpoint.incoming("198.18.9.9", 0);
            ConcentratorEndpoint.Accept accept = incoming.handleBytes(ByteBuffer.allocate(0), 0);
            if (i < 4) {
                assertInstanceOf(ConcentratorEndpoint.HandshakeIncomplete.class, accept, "within the source's quota");
                attacker.add(incoming);
            } else {
                assertInstanceOf(ConcentratorEndpoint.ConnectionRefused.class, accept, "over the source's quota");
            }
        }
        assertEquals(1, endpoint.mib().get(MibCounter.HANDSHAKES_REFUSED_QUOTA));
        assertInstanceOf(ConcentratorEndpoint.Routed.class, handshake(endpoint, SimPair.KEY, 1), "another source");

        long deadline = attacker.get(0).deadline();
        for (ConcentratorEndpoint.Incoming incoming : attacker) {
            assertInstanceOf(ConcentratorEndpoint.ConnectionRefused.class, incoming.handleTimeout(deadline));
        }
        assertEquals(4, endpoint.mib().get(MibCounter.HANDSHAKES_TIMED_OUT));
        assertEquals(0, endpoint.pendingCount());
        assertInstanceOf(ConcentratorEndpoint.HandshakeIncomplete.class,
                endpoint.incoming("198.18.9.9", deadline).handleBytes(ByteBuffer.allocate(0), deadline));
    }

    // ------------------------------------------------------------------ item 3: half-open joins

    @Test
    void aHalfOpenJoinTimesOutAndDoesNotKeepAnOrphanedSessionAlive() {
        ConcentratorEndpoint endpoint = endpoint(new ConcentratorEndpoint.Limits(16, 64, 1024, 64));
        ConcentratorEndpoint.Routed routed = assertInstanceOf(ConcentratorEndpoint.Routed.class,
                handshake(endpoint, SimPair.KEY, 1));
        Session session = routed.session();

        ConcentratorEndpoint.Incoming join = endpoint.incoming("198.18.9.9", 0);
        assertInstanceOf(ConcentratorEndpoint.Answer.class, join.handleBytes(ByteBuffer.wrap(new JoinSyn(
                CapableSyn.VERSION, SubflowPriority.PRIMARY, 2, session.localToken(), 1).encode()), 0));
        assertEquals(1, session.subflows().size(), "nothing attached before JOIN_ACK");

        // The cpe goes away; the half-open join is never completed.
        session.subflowClosed(routed.subflowId(), 0);
        assertInstanceOf(ConcentratorEndpoint.ConnectionRefused.class, join.handleTimeout(join.deadline()));
        assertEquals(1, endpoint.mib().get(MibCounter.HANDSHAKES_TIMED_OUT));
        long orphanDeadline = session.pollTimeout();
        assertTrue(orphanDeadline <= SessionConfig.defaults().orphanTimeout().toNanos());
        session.handleTimeout(orphanDeadline);
        assertTrue(session.isClosed());
    }

    @Test
    void aFloodOfHalfOpenJoinsWithAValidTokenTakesNoSubflowSlotFromTheCpe() {
        SimPair pair = new SimPair(SessionConfig.defaults(), links(), BOTH);
        pair.runFor(SimPair.SECOND);
        Session concentrator = pair.concentratorSessions.get(0);
        for (int i = 0; i < 32; i++) {
            pair.endpoint.incoming("198.18.9.9", pair.now()).handleBytes(ByteBuffer.wrap(new JoinSyn(
                    concentrator.version(), SubflowPriority.PRIMARY, 9, concentrator.localToken(), i).encode()), pair.now());
        }
        // The DSL subflow fails; the cpe rejoins over it while the half-open joins are pending.
        long dsl = pair.cpe.subflows().stream().filter(s -> s.uplink().equals("dsl")).findFirst().orElseThrow().id();
        pair.cpe.subflowClosed(dsl, pair.now());
        pair.runFor(2 * SimPair.SECOND);

        assertEquals(3, concentrator.mib().get(MibCounter.SUBFLOWS_ATTACHED), "two at start, then the rejoin");
        assertEquals(2, pair.cpe.subflows().stream().filter(s -> s.state().isAttached()).count());
        assertEquals(0, concentrator.mib().get(MibCounter.JOIN_REFUSED_LIMIT));
    }

    // ------------------------------------------------------------------ helpers

    private static ConcentratorEndpoint endpoint(ConcentratorEndpoint.Limits limits) {
        return new ConcentratorEndpoint(SessionConfig.defaults(), List.of(SimPair.KEY, OTHER), limits,
                new SplittableRandom(9));
    }

    /** A whole capable handshake as a cpe holding {@code key} runs it. */
    static ConcentratorEndpoint.Accept handshake(ConcentratorEndpoint endpoint, CpeKey key, long keyA) {
        ConcentratorEndpoint.Incoming incoming = endpoint.incoming("198.18.1." + keyA, 0);
        ConcentratorEndpoint.Answer answer = assertInstanceOf(ConcentratorEndpoint.Answer.class,
                incoming.handleBytes(ByteBuffer.wrap(SecurityScenarioTest.capableSyn(keyA, key.id())), 0));
        long keyB = ByteBuffer.wrap(answer.reply()).getLong(Frame.HEADER_LENGTH + 1);
        return incoming.handleBytes(ByteBuffer.wrap(new CapableAck(keyA, keyB,
                CapableProof.cpe(key, CapableSyn.VERSION, keyA, keyB)).encode()), 0);
    }

    private static List<byte[]> capableWithWrongProof(ConcentratorEndpoint endpoint, String keyId) {
        ConcentratorEndpoint.Incoming incoming = endpoint.incoming("prober", 0);
        byte[] synAck = assertInstanceOf(ConcentratorEndpoint.Answer.class,
                incoming.handleBytes(ByteBuffer.wrap(SecurityScenarioTest.capableSyn(42, keyId)), 0)).reply();
        long keyB = ByteBuffer.wrap(synAck).getLong(Frame.HEADER_LENGTH + 1);
        byte[] refusal = assertInstanceOf(ConcentratorEndpoint.ConnectionRefused.class,
                incoming.handleBytes(ByteBuffer.wrap(new CapableAck(42, keyB, new byte[32]).encode()), 0)).reply();
        return List.of(synAck, refusal);
    }

    private static Frame frame(byte[] bytes) {
        try {
            return ((FrameDecodeResult.DecodedFrame) FrameCodec.decode(ByteBuffer.wrap(bytes))).frame();
        } catch (FrameException e) {
            throw new AssertionError(e);
        }
    }

    private static long establishedAt(List<SessionEvent> events, SimPair pair) {
        assertTrue(pair.establishedAtNanos > 0, "the cpe established its session");
        return pair.establishedAtNanos;
    }
}
