package net.hybridproxy.engine.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.Arrays;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;

/** Properties of the decoder over inputs nobody thought to write down. */
class DecoderPropertiesTest {

    @Property(tries = 3000)
    void anyBytesDecodeAskForMoreOrAreRefused(@ForAll @Size(max = 1100) byte[] bytes) {
        checkTotal(bytes);
    }

    @Property(tries = 3000)
    void bytesThatLookLikeAMessageDecodeAskForMoreOrAreRefused(@ForAll("convertLooking") byte[] bytes) {
        checkTotal(bytes);
    }

    @Property(tries = 3000)
    void damagedMessagesDecodeAskForMoreOrAreRefused(@ForAll("damagedMessages") byte[] bytes) {
        checkTotal(bytes);
    }

    @Property(tries = 2000)
    void encodedMessagesDecodeToThemselvesAndReencodeToTheSameBytes(@ForAll("messages") ConvertMessage message)
            throws Exception {
        byte[] bytes = message.encode();

        DecodeResult.Decoded decoded = assertInstanceOf(DecodeResult.Decoded.class,
                ConvertDecoder.decode(ByteBuffer.wrap(bytes)));

        assertEquals(bytes.length, message.encodedLength());
        assertEquals(bytes.length, decoded.consumedBytes());
        assertEquals(message, decoded.message());
        assertArrayEquals(bytes, decoded.message().encode());
    }

    @Property(tries = 500)
    void aPrefixOfAnEncodedMessageOnlyEverAsksForMore(@ForAll("messages") ConvertMessage message,
                                                      @ForAll("fractions") double cut) throws Exception {
        byte[] bytes = message.encode();
        int split = (int) (cut * bytes.length);

        DecodeResult result = ConvertDecoder.decode(ByteBuffer.wrap(bytes, 0, split).slice());

        DecodeResult.NeedMoreBytes more = assertInstanceOf(DecodeResult.NeedMoreBytes.class, result);
        assertTrue(more.atLeast() > split && more.atLeast() <= bytes.length);
    }

    /**
     * Decoding is total: a result or a ConvertProtocolException, never another exception and never
     * the decoder's internal-failure safety net. A decoded message always re-encodes to exactly the
     * bytes it consumed, or to fewer when the sender padded more than needed or put NOPs in the
     * Connect TLV's options.
     */
    private static void checkTotal(byte[] bytes) {
        ByteBuffer in = ByteBuffer.wrap(bytes);
        try {
            DecodeResult result = ConvertDecoder.decode(in);
            switch (result) {
                case DecodeResult.NeedMoreBytes more -> assertTrue(more.atLeast() > bytes.length);
                case DecodeResult.Decoded decoded -> {
                    assertTrue(decoded.consumedBytes() <= bytes.length);
                    assertTrue(decoded.message().encodedLength() <= decoded.consumedBytes());
                }
            }
        } catch (ConvertProtocolException e) {
            assertFalse(e.reason().startsWith("internal decoder failure"), e::getMessage);
            assertTrue(e.errorReply().map(ConvertMessage::encode).map(b -> b.length).orElse(0)
                    <= ConvertMessage.MAX_LENGTH);
        }
        assertEquals(0, in.position());
        assertEquals(bytes.length, in.limit());
    }

    @Provide
    Arbitrary<ConvertMessage> messages() {
        return ConvertArbitraries.messages();
    }

    @Provide
    Arbitrary<Double> fractions() {
        return Arbitraries.doubles().between(0, 1).filter(d -> d < 1);
    }

    /** Version 1, a plausible Total Length, then TLV-ish bytes with known types. */
    @Provide
    Arbitrary<byte[]> convertLooking() {
        Arbitrary<Integer> words = Arbitraries.integers().between(0, 255);
        Arbitrary<byte[]> body = Arbitraries.bytes().array(byte[].class).ofMaxSize(1030);
        Arbitrary<Integer> type = Arbitraries.of(0, 1, 10, 20, 21, 22, 30, 99);
        return Combinators.combine(words, body, type).as((w, b, t) -> {
            byte[] m = new byte[4 + b.length];
            m[0] = 1;
            m[1] = (byte) (int) w;
            System.arraycopy(b, 0, m, 4, b.length);
            if (m.length > 5) {
                m[4] = (byte) (int) t;
                m[5] = (byte) (b[0] & 0x07);
            }
            return m;
        });
    }

    /** Encoded messages with a few bytes overwritten and possibly cut short or extended. */
    @Provide
    Arbitrary<byte[]> damagedMessages() {
        Arbitrary<int[]> edits = Arbitraries.integers().between(0, 1 << 20).array(int[].class).ofMinSize(1).ofMaxSize(6);
        Arbitrary<Integer> resize = Arbitraries.integers().between(-8, 8);
        return Combinators.combine(ConvertArbitraries.messages(), edits, resize).as((message, e, r) -> {
            byte[] bytes = message.encode();
            for (int edit : e) {
                int at = 1 + (edit >>> 8) % Math.max(1, bytes.length - 1);
                if (at < bytes.length) {
                    bytes[at] = (byte) edit;
                }
            }
            return Arrays.copyOf(bytes, Math.max(0, bytes.length + r));
        });
    }
}
