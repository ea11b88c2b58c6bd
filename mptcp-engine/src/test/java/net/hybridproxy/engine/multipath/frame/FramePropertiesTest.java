package net.hybridproxy.engine.multipath.frame;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

/** Properties of the codec over inputs nobody thought to write down. */
class FramePropertiesTest {

    @Provide
    Arbitrary<Frame> frames() {
        return FrameArbitraries.frames();
    }

    @Property(tries = 1000)
    void everyFrameEncodesToItsEncodedLengthAndDecodesToItself(@ForAll("frames") Frame frame) throws Exception {
        byte[] bytes = frame.encode();

        FrameDecodeResult.DecodedFrame decoded = assertInstanceOf(FrameDecodeResult.DecodedFrame.class,
                FrameCodec.decode(ByteBuffer.wrap(bytes)));

        assertEquals(frame.encodedLength(), bytes.length);
        assertEquals(bytes.length, decoded.consumedBytes());
        assertEquals(frame, decoded.frame());
        assertArrayEquals(bytes, decoded.frame().encode());
    }

    @Property(tries = 500)
    void aPrefixOfAFrameOnlyEverAsksForMore(@ForAll("frames") Frame frame, @ForAll double cut) throws Exception {
        byte[] bytes = frame.encode();
        int split = (int) (Math.abs(cut % 1.0) * bytes.length);

        FrameDecodeResult result = FrameCodec.decode(ByteBuffer.wrap(bytes, 0, split).slice());

        FrameDecodeResult.IncompleteFrame more = assertInstanceOf(FrameDecodeResult.IncompleteFrame.class, result);
        assertTrue(more.atLeast() > split && more.atLeast() <= bytes.length, more + " for a prefix of " + split);
    }

    @Property(tries = 200)
    void aStreamOfFramesCutAnywhereReadsBackTheSameFrames(@ForAll @Size(min = 1, max = 12) List<@net.jqwik.api.From("frames") Frame> frames,
                                                           @ForAll @IntRange(min = 1, max = 5000) int pieceSize)
            throws Exception {
        ByteArrayOutputStream stream = new ByteArrayOutputStream();
        for (Frame frame : frames) {
            stream.writeBytes(frame.encode());
        }
        byte[] bytes = stream.toByteArray();
        FrameReader reader = new FrameReader();
        List<Frame> read = new ArrayList<>();

        for (int offset = 0; offset < bytes.length; offset += pieceSize) {
            ByteBuffer piece = ByteBuffer.wrap(bytes, offset, Math.min(pieceSize, bytes.length - offset));
            Frame frame;
            while ((frame = reader.read(piece)) != null) {
                read.add(frame);
            }
            assertEquals(0, piece.remaining());
        }

        assertEquals(frames, read);
        assertEquals(0, reader.bufferedBytes());
    }

    @Property(tries = 5000)
    void anyBytesDecodeAskForMoreOrAreRefused(@ForAll @Size(max = 200) byte[] bytes) {
        checkTotal(bytes);
    }

    @Property(tries = 5000)
    void bytesWithAKnownTypeAndAPlausibleLengthDecodeAskForMoreOrAreRefused(@ForAll("frameLooking") byte[] bytes) {
        checkTotal(bytes);
    }

    @Property(tries = 1000)
    void damagedFramesDecodeAskForMoreOrAreRefused(@ForAll("frames") Frame frame,
                                                   @ForAll @IntRange(min = 0, max = 100_000) int where,
                                                   @ForAll byte value) {
        byte[] bytes = frame.encode();
        bytes[where % bytes.length] = value;
        checkTotal(bytes);
    }

    @Provide
    Arbitrary<byte[]> frameLooking() {
        Arbitrary<Integer> types = Arbitraries.of(0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x10, 0x11, 0x12,
                0x20, 0x21, 0x22, 0x30, 0x31);
        return types.flatMap(type -> Arbitraries.bytes().array(byte[].class).ofMaxSize(300).map(body -> {
            int declared = Math.min(body.length, FrameCodec.maxBodyLength(type));
            ByteBuffer b = ByteBuffer.allocate(4 + body.length);
            b.put((byte) (int) type).put(body.length > 0 ? body[0] : (byte) 0).putShort((short) declared).put(body);
            return b.array();
        }));
    }

    /** The decoder and the reader both answer every input with a frame, a request for more, or a FrameException. */
    private static void checkTotal(byte[] bytes) {
        ByteBuffer in = ByteBuffer.wrap(bytes);
        try {
            FrameDecodeResult result = FrameCodec.decode(in);
            assertNotNull(result);
            if (result instanceof FrameDecodeResult.DecodedFrame decoded) {
                assertTrue(decoded.consumedBytes() <= bytes.length);
            }
            assertEquals(0, in.position());
        } catch (FrameException e) {
            assertTrue(!e.getMessage().contains("internal decoder failure"), e.getMessage());
        }
        FrameReader reader = new FrameReader();
        ByteBuffer stream = ByteBuffer.wrap(bytes);
        try {
            while (stream.hasRemaining()) {
                reader.read(stream);
            }
        } catch (FrameException e) {
            assertTrue(!e.getMessage().contains("internal decoder failure"), e.getMessage());
        }
    }
}
