package net.hybridproxy.engine.multipath.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.List;
import net.hybridproxy.engine.multipath.connection.ConcentratorEndpoint;
import net.hybridproxy.engine.multipath.connection.MemoryBudget;
import net.hybridproxy.engine.multipath.connection.Session;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.connection.SessionEvent;
import net.hybridproxy.engine.multipath.connection.Transmit;
import net.hybridproxy.engine.multipath.crypto.SessionSecret;
import net.hybridproxy.engine.multipath.frame.CapableSyn;
import net.hybridproxy.engine.multipath.frame.Data;
import net.hybridproxy.engine.multipath.frame.FastClose;
import net.hybridproxy.engine.multipath.frame.Ping;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import net.hybridproxy.engine.multipath.subflow.SubflowEstimates;
import org.junit.jupiter.api.Test;

/**
 * A hostile but authenticated cpe (it holds a valid key) against the concentrator's memory (hardening item 4,
 * engine item 5): it cannot push its session past its budget, its own streams are refused or slowed, and a
 * legitimate cpe's download on the same concentrator completes meanwhile.
 */
class MemoryAttackScenarioTest {

    private static final long SESSION_BUDGET = 4L << 20;
    private static final long PROCESS_BUDGET = 16L << 20;

    private final MemoryBudget process = new MemoryBudget(PROCESS_BUDGET);
    private final SessionConfig config = SessionConfig.defaults().withSessionMemoryBudget(SESSION_BUDGET);
    private final SimPair pair = new SimPair(SessionConfig.defaults(), config,
            List.of(SimLink.of("dsl", 50, 20, 1), SimLink.of("lte", 30, 50, 2)),
            List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY), 42, SimPair.KEY, List.of(SimPair.KEY), process);
    private final long legitTotal = 8_000_000;
    private long legitStream;
    private Session hostile;
    private long hostileSubflow;
    private long hostileKey = 0x4141;

    /** The legitimate cpe starts a download; the hostile one completes a capable handshake with its own key. */
    private void start() {
        pair.runFor(SimPair.SECOND);
        pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, legitTotal, 0));
        legitStream = pair.openStream(100);
        ConcentratorEndpoint.Routed routed = assertInstanceOf(ConcentratorEndpoint.Routed.class,
                HandshakeAttackScenarioTest.handshake(pair.endpoint, SimPair.KEY, hostileKey));
        hostile = routed.session();
        hostileSubflow = routed.subflowId();
        hostile.updateSubflow(hostileSubflow, SubflowEstimates.unknown(1 << 20));
    }

    private void assertLegitDownloadCompletes() {
        pair.runFor(5 * SimPair.SECOND);
        StreamSink sink = pair.cpeSinks.get(legitStream);
        assertEquals(legitTotal, sink.received, "the legitimate download completes");
        assertNull(sink.corruption);
        assertTrue(hostile.memoryUsed() <= SESSION_BUDGET, hostile.memoryUsed() + " bytes held");
        assertTrue(process.used() <= PROCESS_BUDGET);
    }

    private void hostileSends(byte[] frame) {
        hostile.handleSubflowBytes(hostileSubflow, ByteBuffer.wrap(frame), pair.now());
    }

    /** The hostile peer's side of the wire: whatever the session transmits is written nowhere. */
    private long drainHostile() {
        ByteBuffer out = ByteBuffer.allocate(Session.MIN_TRANSMIT_BUFFER);
        long bytes = 0;
        Transmit t;
        while ((t = hostile.pollTransmit(pair.now(), out.clear())) != null) {
            bytes += t.bytes();
        }
        while (hostile.pollEvent() != null) {
            // nobody reads the hostile streams
        }
        return bytes;
    }

    @Test
    void oneByteFramesInOrderCostAboutTheirBytesAndOutOfOrderOnesAreResetAtTheBudget() {
        start();
        // In order, never read: 256 KiB of one-byte frames fill the initial window. Held one by one that was about
        // 28 bytes of heap per byte; coalesced it is about one.
        for (int i = 0; i < 256 * 1024; i++) {
            hostileSends(new Data(1, i, false, new byte[] {(byte) i}).encode());
        }
        drainHostile();
        assertTrue(hostile.memoryUsed() < 2 * 256 * 1024, hostile.memoryUsed() + " bytes for 256 KiB of payload");

        // Out of order: every other byte, 2000 pieces per stream (under the per-stream piece limit), 100 streams:
        // 200 kB of payload, 16 MB of heap if it were held.
        for (int stream = 2; stream < 102; stream++) {
            for (int i = 0; i < 2000; i++) {
                hostileSends(new Data(stream, 1 + 2L * i, false, new byte[] {1}).encode());
            }
        }
        drainHostile();
        assertTrue(hostile.mib().get(MibCounter.STREAMS_RESET_MEMORY) > 0, "the streams over the budget are reset");
        assertLegitDownloadCompletes();
    }

    @Test
    void aPeerThatNeverAcknowledges256DownloadsIsSlowedAtItsBudget() {
        start();
        for (int stream = 1; stream <= 256; stream++) {
            hostileSends(new Data(stream, 0, false, new byte[100]).encode());
        }
        drainHostile();
        long written = 0;
        ByteBuffer chunk = ByteBuffer.allocate(64 * 1024);
        for (int round = 0; round < 50; round++) {
            for (long id : hostile.streamIds()) {
                written += hostile.write(id, chunk.clear(), pair.now());
            }
            drainHostile(); // sent into a socket whose peer never acknowledges
        }
        long refusedStreams = hostile.mib().get(MibCounter.STREAMS_REFUSED);
        assertTrue(written < SESSION_BUDGET, written + " bytes taken");
        assertTrue(hostile.streamIds().stream().allMatch(id -> hostile.writable(id) == 0) || refusedStreams > 0,
                "every hostile download is slowed or refused");
        assertLegitDownloadCompletes();
    }

    @Test
    void fastClosesForEverNewStreamIdsAreRememberedWithinTheBound() {
        start();
        SessionSecret secret = SessionSecret.derive(SimPair.KEY, CapableSyn.VERSION, hostileKey, hostile.localKey());
        // Stream 1 never appears, so the watermark never moves: every id above it would be remembered.
        for (long id = 2; id < 100_002; id++) {
            hostileSends(new FastClose(id, secret.fastCloseMac(SessionSecret.Sender.A, id,
                    ResetReason.UNSPECIFIED.code()), ResetReason.UNSPECIFIED).encode());
        }
        drainHostile();
        assertTrue(hostile.rememberedStreamIds() <= 4096, hostile.rememberedStreamIds() + " ids remembered");
        assertLegitDownloadCompletes();
    }

    @Test
    void controlFramesWaitForRoomInsteadOfPilingUpInASocketThePeerDoesNotRead() {
        start();
        drainHostile();
        // The hostile peer stopped reading: its socket has no room. It keeps sending PINGs.
        hostile.updateSubflow(hostileSubflow, SubflowEstimates.unknown(0));
        long written = 0;
        for (int i = 0; i < 10_000; i++) {
            hostileSends(new Ping(i).encode());
            written += drainHostile();
        }
        assertEquals(0, written, "no PONG written into a full socket");
        assertTrue(hostile.isEstablished());
        assertLegitDownloadCompletes();
        assertTrue(pair.cpeEvents.stream().noneMatch(e -> e instanceof SessionEvent.SessionClosed));
    }
}
