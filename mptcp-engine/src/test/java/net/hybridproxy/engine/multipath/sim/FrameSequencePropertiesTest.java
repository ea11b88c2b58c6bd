package net.hybridproxy.engine.multipath.sim;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.List;
import net.hybridproxy.engine.multipath.connection.Session;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.frame.Data;
import net.hybridproxy.engine.multipath.frame.DataAck;
import net.hybridproxy.engine.multipath.frame.FastClose;
import net.hybridproxy.engine.multipath.frame.Frame;
import net.hybridproxy.engine.multipath.frame.FrameArbitraries;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * The session state machine fed sequences of well-formed frames (hardening: fuzzing targets): any frame type, in
 * any order, on an attached subflow of either end, among plausible stream frames (small stream ids, sequence numbers
 * in and around the window, FAST_CLOSEs with wrong MACs). Nothing throws, both ends stay within their memory
 * budget and stream limit, and each is either still established or cleanly closed.
 * {@code -Djqwik.tries.default=N} runs more (the corpus of failures is kept by jqwik under .jqwik-database).
 */
class FrameSequencePropertiesTest {

    private static final long BUDGET = 8L << 20;

    @Provide
    Arbitrary<List<Frame>> sequences() {
        Arbitrary<Frame> data = Combinators.combine(Arbitraries.longs().between(1, 6),
                Arbitraries.longs().between(0, 600_000), Arbitraries.integers().between(0, 3000),
                Arbitraries.of(true, false, false, false))
                .as((stream, dsn, length, fin) -> length == 0 && !fin ? new Data(stream, dsn, true, new byte[0])
                        : new Data(stream, dsn, fin, new byte[length]));
        Arbitrary<Frame> ack = Combinators.combine(Arbitraries.longs().between(1, 6),
                Arbitraries.longs().between(0, 600_000), Arbitraries.longs().between(0, 1L << 22))
                .as((stream, dataAck, window) -> new DataAck(stream, dataAck, window));
        Arbitrary<Frame> fastClose = Combinators.combine(Arbitraries.longs().between(0, 6), Arbitraries.longs())
                .as((stream, mac) -> new FastClose(stream, mac, ResetReason.UNSPECIFIED));
        return Arbitraries.frequencyOf(
                        net.jqwik.api.Tuple.of(6, data), net.jqwik.api.Tuple.of(3, ack),
                        net.jqwik.api.Tuple.of(1, fastClose), net.jqwik.api.Tuple.of(2, FrameArbitraries.frames()))
                .list().ofMaxSize(120);
    }

    @Property(tries = 150)
    void anyFrameSequenceOnEitherEndLeavesItWithinItsBounds(@ForAll("sequences") List<Frame> frames,
                                                             @ForAll boolean toConcentrator) {
        SessionConfig config = SessionConfig.defaults().withSessionMemoryBudget(BUDGET);
        SimPair pair = new SimPair(config, List.of(SimLink.of("dsl", 50, 20, 1), SimLink.of("lte", 30, 50, 2)),
                List.of(net.hybridproxy.engine.multipath.frame.SubflowPriority.PRIMARY,
                        net.hybridproxy.engine.multipath.frame.SubflowPriority.PRIMARY));
        pair.runFor(SimPair.SECOND / 2);
        Session target = toConcentrator ? pair.concentratorSessions.get(0) : pair.cpe;
        ByteArrayOutputStream wire = new ByteArrayOutputStream();
        for (Frame frame : frames) {
            wire.writeBytes(frame.encode());
        }
        long subflow = target.subflows().get(0).id();
        target.handleSubflowBytes(subflow, ByteBuffer.wrap(wire.toByteArray()), pair.now());
        pair.runFor(SimPair.SECOND / 2);

        for (Session session : List.of(pair.cpe, pair.concentratorSessions.get(0))) {
            assertTrue(session.isEstablished() || session.isClosed(), session.toString());
            assertTrue(session.memoryUsed() <= BUDGET, session.memoryUsed() + " bytes");
            assertTrue(session.streamIds().size() <= config.maxStreams());
        }
    }
}
