package net.hybridproxy.engine.multipath.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.SplittableRandom;
import net.hybridproxy.engine.multipath.connection.ConcentratorEndpoint;
import net.hybridproxy.engine.multipath.connection.Session;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.connection.SessionEvent;
import net.hybridproxy.engine.multipath.connection.Transmit;
import net.hybridproxy.engine.multipath.frame.CapableSyn;
import net.hybridproxy.engine.multipath.frame.CapableSynAck;
import net.hybridproxy.engine.multipath.frame.FrameCodec;
import net.hybridproxy.engine.multipath.frame.FrameDecodeResult;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.frame.SubflowReset;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import net.hybridproxy.engine.multipath.mib.UplinkSends;
import net.hybridproxy.engine.multipath.pm.Uplink;
import org.junit.jupiter.api.Test;

/** Protocol version 3: DATA frames of up to 64 KiB, negotiated in the capable handshake, and the fallback to 2. */
class LargeFramesScenarioTest {

    private static final List<SubflowPriority> PRIMARIES = List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY);

    private static List<SimLink> heterogeneous() {
        return List.of(SimLink.of("dsl", 50, 20, 1), SimLink.of("lte", 30, 50, 2));
    }

    @Test
    void version3SendsAQuarterOfTheDataFramesOfADownloadAtTheSameGoodput() {
        Bulk.Download v2 = Bulk.download(SessionConfig.defaults(), heterogeneous(), PRIMARIES, 6,
                SimPair.NOTSENT_LOWAT, CapableSyn.VERSION);
        Bulk.Download v3 = Bulk.download(SessionConfig.defaults(), heterogeneous(), PRIMARIES, 6,
                SimPair.NOTSENT_LOWAT, CapableSyn.VERSION_LARGE_FRAMES);

        assertEquals(CapableSyn.VERSION, v2.pair().cpe.version());
        assertEquals(CapableSyn.VERSION, v2.pair().concentratorSessions.get(0).version());
        assertEquals(CapableSyn.VERSION_LARGE_FRAMES, v3.pair().cpe.version());
        assertEquals(CapableSyn.VERSION_LARGE_FRAMES, v3.pair().concentratorSessions.get(0).version());
        double framesPerMbV2 = dataFramesPerMegabyte(v2);
        double framesPerMbV3 = dataFramesPerMegabyte(v3);
        System.out.printf("version 2: %.1f Mb/s, %.1f DATA frames and %.1f DATA_ACKs per MB; version 3: %.1f Mb/s,"
                        + " %.1f and %.1f%n", v2.megabitsPerSecond(), framesPerMbV2, dataAcksPerMegabyte(v2),
                v3.megabitsPerSecond(), framesPerMbV3, dataAcksPerMegabyte(v3));
        // Both links send 64 KiB within 16 ms (6.25 and 3.75 MB/s): a frame per 64 KiB, where version 2 needs four;
        // each is a wake-up of the receiving adapter (its SO_RCVLOWAT waits for whole frames).
        assertTrue(framesPerMbV2 > 60, framesPerMbV2 + " DATA frames per MB in version 2");
        assertTrue(framesPerMbV3 < framesPerMbV2 / 3, framesPerMbV3 + " DATA frames per MB against " + framesPerMbV2);
        assertTrue(v3.megabitsPerSecond() >= 0.98 * v2.megabitsPerSecond(),
                v3.megabitsPerSecond() + " Mb/s against " + v2.megabitsPerSecond());
        assertTrue(v3.megabitsPerSecond() >= 0.9 * 80, v3.megabitsPerSecond() + " Mb/s of 80");
    }

    @Test
    void aSlowPathKeepsVersion2SizedFramesInVersion3() {
        // 8 Mb/s sends 16 KiB in 16 ms: a larger frame would hold the receiver longer than the bound.
        Bulk.Download v3 = Bulk.download(SessionConfig.defaults(), List.of(SimLink.of("dsl", 8, 15, 1)),
                List.of(SubflowPriority.PRIMARY), 4, SimPair.NOTSENT_LOWAT, CapableSyn.VERSION_LARGE_FRAMES);
        Bulk.Download v2 = Bulk.download(SessionConfig.defaults(), List.of(SimLink.of("dsl", 8, 15, 1)),
                List.of(SubflowPriority.PRIMARY), 4, SimPair.NOTSENT_LOWAT, CapableSyn.VERSION);

        assertEquals(CapableSyn.VERSION_LARGE_FRAMES, v3.pair().cpe.version());
        double v2Frames = dataFramesPerMegabyte(v2);
        double v3Frames = dataFramesPerMegabyte(v3);
        assertTrue(Math.abs(v3Frames - v2Frames) <= 0.05 * v2Frames, v3Frames + " DATA frames per MB against "
                + v2Frames);
    }

    /**
     * LossyPathScenarioTest's collapse (LTE 60 -> 3 Mbit/s for 3 s, DSL 20, late reinjection) in version 3. Frames
     * sized for 60 Mbit/s (64 KiB) take 175 ms at 3: before overdue frames were handed on in pieces, and before a
     * frame's size followed the subflow's delivered rate, in-order delivery stopped for a whole 100 ms interval after
     * the fall (0.0 Mbit/s). Held to version 2's bound there: no interval below 6 % of the mean, 0.85 of the offered
     * rate (measured 3.8 of 50.1 Mbit/s).
     */
    @Test
    void anLteCollapsingUnderLargeFramesStarvesNoIntervalMoreThanVersion2Does() {
        Bulk.Download run = LossyPathScenarioTest.lteCollapsingFromSixtyToThree(CapableSyn.VERSION_LARGE_FRAMES);
        SimPair pair = run.pair();

        assertEquals(CapableSyn.VERSION_LARGE_FRAMES, pair.cpe.version());
        assertEquals(null, run.sink().corruption);
        double offered = (20.0 * 8 + 60 * 5 + 3 * 3) / 8;
        double worst = run.worstWindowMegabitsPerSecond(100 * SimPair.MS);
        System.out.printf("version 3, LTE 60 -> 3 -> 60 Mb/s: mean %.1f Mb/s, worst 100 ms %.1f, pieces %d%n",
                run.megabitsPerSecond(), worst, pair.cpe.mib().get(MibCounter.LARGE_FRAME_PIECES_RECEIVED));
        assertTrue(worst >= 0.06 * run.megabitsPerSecond(), "a 100 ms interval at " + worst + " Mb/s, the mean "
                + run.megabitsPerSecond());
        assertTrue(run.megabitsPerSecond() >= 0.85 * offered, run.megabitsPerSecond() + " Mb/s of " + offered);
        assertTrue(pair.cpe.mib().get(MibCounter.LARGE_FRAME_PIECES_RECEIVED) > 0, "no overdue frame handed on");
    }

    @Test
    void aCpeRefusedByAVersion2ConcentratorOffersVersion2NextAndACurrentConcentratorAcceptsIt() throws Exception {
        Session cpe = Session.cpe(SessionConfig.defaults(), SimPair.KEY,
                List.of(new Uplink("dsl", 1, SubflowPriority.PRIMARY, 1)), new SplittableRandom(7), 0);
        cpe.offerVersion(CapableSyn.VERSION_LARGE_FRAMES);
        long first = nextRequest(cpe);
        cpe.subflowConnected(first, 0);
        assertEquals(CapableSyn.VERSION_LARGE_FRAMES, capableSyn(cpe, first, 0).version());

        // What a version 2 concentrator answers to any other version (docs/userspace-protocol.md §4.1).
        cpe.handleSubflowBytes(first, ByteBuffer.wrap(new SubflowReset(ResetReason.PROTOCOL_ERROR, false).encode()),
                1_000_000);
        assertEquals(1, cpe.mib().get(MibCounter.CAPABLE_VERSION_FALLBACKS));

        long now = 1_000_000;
        long second = -1;
        for (int i = 0; i < 100 && second < 0; i++) {
            now = Math.max(now, cpe.pollTimeout());
            cpe.handleTimeout(now);
            second = nextRequest(cpe);
        }
        assertTrue(second >= 0, "the path manager asks for the subflow again");
        cpe.subflowConnected(second, now);
        CapableSyn again = capableSyn(cpe, second, now);
        assertEquals(CapableSyn.VERSION, again.version());

        ConcentratorEndpoint endpoint = new ConcentratorEndpoint(SessionConfig.defaults(), List.of(SimPair.KEY), 4,
                new SplittableRandom(8));
        ConcentratorEndpoint.Accept answer = endpoint.incoming("198.18.0.1", now)
                .handleBytes(ByteBuffer.wrap(again.encode()), now);
        CapableSynAck synAck = (CapableSynAck) decode(assertInstanceOf(ConcentratorEndpoint.Answer.class, answer)
                .reply());
        assertEquals(CapableSyn.VERSION, synAck.version());
        // A refusal on a version 2 offer is something else: nothing more to fall back to.
        cpe.handleSubflowBytes(second, ByteBuffer.wrap(new SubflowReset(ResetReason.PROTOCOL_ERROR, false).encode()),
                now);
        assertEquals(1, cpe.mib().get(MibCounter.CAPABLE_VERSION_FALLBACKS));
    }

    @Test
    void aConcentratorAnswersANewerVersionWithItsOwnAndRefusesVersion1() throws Exception {
        ConcentratorEndpoint endpoint = new ConcentratorEndpoint(SessionConfig.defaults(), List.of(SimPair.KEY), 4,
                new SplittableRandom(9));
        CapableSyn future = new CapableSyn(7, SubflowPriority.PRIMARY, 42, SimPair.KEY.id());
        ConcentratorEndpoint.Accept answer = endpoint.incoming("198.18.0.1", 0).handleBytes(
                ByteBuffer.wrap(future.encode()), 0);
        CapableSynAck synAck = (CapableSynAck) decode(assertInstanceOf(ConcentratorEndpoint.Answer.class, answer)
                .reply());
        assertEquals(CapableSyn.VERSION_LARGE_FRAMES, synAck.version());

        CapableSyn old = new CapableSyn(1, SubflowPriority.PRIMARY, 43, SimPair.KEY.id());
        assertInstanceOf(ConcentratorEndpoint.ConnectionRefused.class,
                endpoint.incoming("198.18.0.1", 0).handleBytes(ByteBuffer.wrap(old.encode()), 0));
        assertEquals(1, endpoint.mib().get(MibCounter.CAPABLE_BAD_VERSION));
    }

    /** New DATA frames the concentrator sent per MB the cpe received. */
    private static double dataFramesPerMegabyte(Bulk.Download download) {
        long frames = 0;
        for (UplinkSends sends : download.pair().concentratorSessions.get(0).sendsByUplink().values()) {
            frames += sends.frames(UplinkSends.Kind.NEW);
        }
        return frames / (download.sink().received / 1e6);
    }

    private static double dataAcksPerMegabyte(Bulk.Download download) {
        return download.pair().cpe.mib().get(MibCounter.DATA_ACKS_SENT) / (download.sink().received / 1e6);
    }

    private static long nextRequest(Session cpe) {
        SessionEvent event;
        while ((event = cpe.pollEvent()) != null) {
            if (event instanceof SessionEvent.SubflowRequested request) {
                return request.subflowId();
            }
        }
        return -1;
    }

    private static CapableSyn capableSyn(Session cpe, long subflowId, long now) throws Exception {
        ByteBuffer out = ByteBuffer.allocate(cpe.transmitBufferBytes());
        Transmit t = cpe.pollTransmit(now, out);
        assertEquals(subflowId, t.subflowId());
        out.flip();
        return (CapableSyn) decode(out);
    }

    private static Object decode(byte[] bytes) throws Exception {
        return decode(ByteBuffer.wrap(bytes));
    }

    private static Object decode(ByteBuffer bytes) throws Exception {
        return assertInstanceOf(FrameDecodeResult.DecodedFrame.class, FrameCodec.decode(bytes)).frame();
    }
}
