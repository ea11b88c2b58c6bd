package net.hybridproxy.engine.multipath.sim;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.SplittableRandom;
import net.hybridproxy.engine.multipath.connection.Session;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.frame.Data;
import net.hybridproxy.engine.multipath.frame.DataAck;
import net.hybridproxy.engine.multipath.frame.FastClose;
import net.hybridproxy.engine.multipath.frame.Frame;
import net.hybridproxy.engine.multipath.frame.FrameException;
import net.hybridproxy.engine.multipath.frame.FrameReader;
import net.hybridproxy.engine.multipath.frame.Ping;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Long fuzzing campaigns for the userspace frame decoder and the session state machine, off by default (CI runs the
 * jqwik properties: {@code FramePropertiesTest}, {@code FrameSequencePropertiesTest}). Run with
 * {@code ./mvnw -B -pl mptcp-engine verify -Dtest=FuzzCampaignTest -Dhybridproxy.fuzz.inputs=1000000} (about 90 s);
 * each target gets that many inputs and prints how many it ran and what they led to.
 */
class FuzzCampaignTest {

    private static final long INPUTS = Long.getLong("hybridproxy.fuzz.inputs", 0);

    /** Random bytes, and valid frames damaged at random, through the decoder: a frame or a FrameException. */
    @Test
    void frameDecoder() {
        Assumptions.assumeTrue(INPUTS > 0, "set hybridproxy.fuzz.inputs to run the campaign");
        SplittableRandom random = new SplittableRandom(1);
        long frames = 0;
        long refused = 0;
        long partial = 0;
        for (long i = 0; i < INPUTS; i++) {
            byte[] input = random.nextBoolean() ? randomBytes(random) : damaged(randomFrame(random).encode(), random);
            FrameReader reader = new FrameReader();
            ByteBuffer in = ByteBuffer.wrap(input);
            try {
                while (in.hasRemaining() && reader.read(in) != null) {
                    frames++;
                }
                if (reader.bufferedBytes() > 0) {
                    partial++;
                }
            } catch (FrameException e) {
                refused++;
            }
            assertTrue(reader.bufferedBytes() <= Frame.MAX_FRAME_LENGTH);
        }
        System.out.printf("frame decoder: %d inputs, %d frames decoded, %d refused, %d waiting for more%n", INPUTS,
                frames, refused, partial);
    }

    /** Random frames, plausible and not, into both ends of a live session; both stay within their bounds. */
    @Test
    void sessionStateMachine() {
        Assumptions.assumeTrue(INPUTS > 0, "set hybridproxy.fuzz.inputs to run the campaign");
        SplittableRandom random = new SplittableRandom(2);
        long budget = 8L << 20;
        SessionConfig config = SessionConfig.defaults().withSessionMemoryBudget(budget);
        SimPair pair = null;
        long pairs = 0;
        for (long i = 0; i < INPUTS; i++) {
            if (pair == null || !pair.cpe.isEstablished() || pair.concentratorSessions.getFirst().isClosed()) {
                pair = new SimPair(config, List.of(SimLink.of("dsl", 50, 20, 1), SimLink.of("lte", 30, 50, 2)),
                        List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY));
                pair.runFor(SimPair.SECOND / 2);
                pairs++;
            }
            Session target = random.nextBoolean() ? pair.cpe : pair.concentratorSessions.getFirst();
            if (target.subflows().isEmpty()) {
                pair = null;
                continue;
            }
            target.handleSubflowBytes(target.subflows().getFirst().id(), ByteBuffer.wrap(randomFrame(random).encode()),
                    pair.now());
            if (i % 64 == 0) {
                pair.runFor(SimPair.MS * 20);
            } else {
                pair.drive();
            }
            for (Session s : List.of(pair.cpe, pair.concentratorSessions.getFirst())) {
                assertTrue(s.memoryUsed() <= budget && s.streamIds().size() <= config.maxStreams(), s.toString());
            }
        }
        System.out.printf("session state machine: %d frames into %d sessions%n", INPUTS, pairs);
    }

    private static Frame randomFrame(SplittableRandom random) {
        long stream = 1 + random.nextInt(6);
        return switch (random.nextInt(5)) {
            case 0, 1 -> {
                int length = random.nextInt(2000);
                boolean fin = random.nextInt(8) == 0 || length == 0;
                yield new Data(stream, random.nextLong(600_000), fin, new byte[length]);
            }
            case 2 -> new DataAck(stream, random.nextLong(600_000), random.nextLong(1L << 22));
            case 3 -> new FastClose(random.nextInt(7), random.nextLong(), ResetReason.UNSPECIFIED);
            default -> new Ping(random.nextLong());
        };
    }

    private static byte[] randomBytes(SplittableRandom random) {
        byte[] bytes = new byte[random.nextInt(64)];
        random.nextBytes(bytes);
        return bytes;
    }

    private static byte[] damaged(byte[] frame, SplittableRandom random) {
        int flips = 1 + random.nextInt(3);
        for (int i = 0; i < flips; i++) {
            frame[random.nextInt(frame.length)] ^= (byte) (1 << random.nextInt(8));
        }
        return random.nextBoolean() ? frame : java.util.Arrays.copyOf(frame, random.nextInt(frame.length + 1));
    }
}
