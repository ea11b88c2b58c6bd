package net.hybridproxy.engine.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Every way a Convert message can be wrong, and the RFC 8803 error code it earns. */
class MalformedInputTest {

    private static final String MAPPED_192_0_2_1 = "00000000000000000000ffffc0000201";

    static Stream<Arguments> malformedMessages() {
        return Stream.of(
                row("version 0 is reserved", "00 01 2263", ConvertErrorCode.UNSUPPORTED_VERSION),
                row("version 2 is unknown", "02 02 2263 01 01 0000", ConvertErrorCode.UNSUPPORTED_VERSION),
                row("a bad version is refused from its first byte", "ff", ConvertErrorCode.UNSUPPORTED_VERSION),
                row("Total Length 0", "01 00 2263", ConvertErrorCode.MALFORMED_MESSAGE),
                row("TLV Length 0", "01 02 2263 01 00 0000", ConvertErrorCode.MALFORMED_MESSAGE),
                row("TLV overruns Total Length", "01 02 2263 16 02 0000 aabbccdd", ConvertErrorCode.MALFORMED_MESSAGE),
                row("second TLV overruns Total Length", "01 03 2263 01 01 0000 16 05 0000",
                        ConvertErrorCode.MALFORMED_MESSAGE),
                row("Connect TLV of 1 word", "01 02 2263 0a 01 0050", ConvertErrorCode.MALFORMED_MESSAGE),
                row("Connect TLV of 4 words (truncated address)", "01 05 2263 0a 04 0050 " + "00".repeat(12),
                        ConvertErrorCode.MALFORMED_MESSAGE),
                row("Connect TCP option without Length", "01 07 2263 0a 06 0050 " + MAPPED_192_0_2_1 + " 0101 011e",
                        ConvertErrorCode.MALFORMED_MESSAGE),
                row("Connect TCP option of Length 1", "01 07 2263 0a 06 0050 " + MAPPED_192_0_2_1 + " 1e01 0000",
                        ConvertErrorCode.MALFORMED_MESSAGE),
                row("Connect TCP option past the TLV", "01 07 2263 0a 06 0050 " + MAPPED_192_0_2_1 + " 2208 0000",
                        ConvertErrorCode.MALFORMED_MESSAGE),
                row("Connect TCP option after padding", "01 07 2263 0a 06 0050 " + MAPPED_192_0_2_1 + " 0000 1e02",
                        ConvertErrorCode.MALFORMED_MESSAGE),
                row("Info TLV of 2 words", "01 03 2263 01 02 0000 00000000", ConvertErrorCode.MALFORMED_MESSAGE),
                row("Supported TCP Extensions with a Kind after padding", "01 03 2263 15 02 0000 1e00 2200",
                        ConvertErrorCode.MALFORMED_MESSAGE),
                row("the same TLV twice", "01 03 2263 01 01 0000 01 01 0000", ConvertErrorCode.MALFORMED_MESSAGE),
                row("reserved TLV type 0", "01 02 2263 00 01 0000", ConvertErrorCode.UNSUPPORTED_MESSAGE),
                row("unassigned TLV type 2", "01 02 2263 02 01 0000", ConvertErrorCode.UNSUPPORTED_MESSAGE),
                row("unassigned TLV type 31", "01 02 2263 1f 01 0000", ConvertErrorCode.UNSUPPORTED_MESSAGE),
                row("private-use TLV type 200", "01 02 2263 c8 01 0000", ConvertErrorCode.UNSUPPORTED_MESSAGE));
    }

    private static Arguments row(String name, String hex, ConvertErrorCode code) {
        return Arguments.of(name, Hex.bytes(hex), code);
    }

    @ParameterizedTest(name = "{0} -> {2}")
    @MethodSource("malformedMessages")
    void isRefusedWithItsErrorCode(String name, byte[] bytes, ConvertErrorCode expected) {
        ByteBuffer in = ByteBuffer.wrap(bytes);

        ConvertProtocolException e = assertThrows(ConvertProtocolException.class, () -> ConvertDecoder.decode(in));

        assertEquals(expected, e.code(), e::getMessage);
        assertFalse(e.reason().startsWith("internal"), e::getMessage);
        assertEquals(0, in.position(), "a refused message is not consumed either");
    }

    @Test
    void aTotalLengthOfZeroIsAResetNotAnErrorTlv() {
        // RFC 8803 §6.1: "the connection MUST be reset upon reception of a header with such a total length."
        ConvertProtocolException e = assertThrows(ConvertProtocolException.class,
                () -> ConvertDecoder.decode(ByteBuffer.wrap(Hex.bytes("01 00"))));

        assertTrue(e.isSilent());
        assertTrue(e.errorReply().isEmpty());
    }

    @Test
    void anUnsupportedVersionIsAnsweredWithTheVersionWeSpeak() throws Exception {
        ConvertProtocolException e = assertThrows(ConvertProtocolException.class,
                () -> ConvertDecoder.decode(ByteBuffer.wrap(Hex.bytes("02 01 2263"))));

        assertArrayEquals(Hex.bytes("01 02 2263  1e 01 00 01"), e.errorReply().orElseThrow().encode());
    }

    @Test
    void aMalformedMessageIsEchoedInTheErrorTlv() throws Exception {
        byte[] bad = Hex.bytes("01 02 2263 01 00 0000");

        ConvertProtocolException e = assertThrows(ConvertProtocolException.class,
                () -> ConvertDecoder.decode(ByteBuffer.wrap(bad)));

        // RFC 8803 Figure 23: Type=0x1E, Length, Error Code, Zeros, then the echoed message.
        byte[] expectedTlv = Hex.bytes("1e 03 01 00  01 02 2263 01 00 0000");
        ErrorTlv error = e.errorReply().orElseThrow().errorTlv().orElseThrow();
        assertEquals(ConvertErrorCode.MALFORMED_MESSAGE.code(), error.code());
        ByteBuffer out = ByteBuffer.allocate(error.encodedLength());
        error.encodeTo(out);
        assertArrayEquals(expectedTlv, out.array());
    }

    @Test
    void anUnknownTlvIsEchoedAsUnsupportedMessage() {
        byte[] bad = Hex.bytes("01 02 2263 63 01 0000");

        ConvertProtocolException e = assertThrows(ConvertProtocolException.class,
                () -> ConvertDecoder.decode(ByteBuffer.wrap(bad)));

        byte[] value = e.errorReply().orElseThrow().errorTlv().orElseThrow().value();
        assertArrayEquals(bad, Arrays.copyOfRange(value, 1, 1 + bad.length));
    }
}
