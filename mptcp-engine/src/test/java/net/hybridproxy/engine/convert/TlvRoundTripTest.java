package net.hybridproxy.engine.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Each TLV, alone in a message, decodes to what was encoded and is as long as it says. */
class TlvRoundTripTest {

    static Stream<ConvertTlv> tlvs() throws Exception {
        return Stream.of(
                new InfoTlv(),
                new ConnectTlv(InetAddress.getByName("198.18.30.2"), 5001, new byte[0]),
                new ConnectTlv(InetAddress.getByName("2001:db8::7"), 65535, new byte[0]),
                // MPTCP without content and SACK-Permitted: RFC 8803 §7.5, §7.3 (6 bytes, padded to 8)
                new ConnectTlv(InetAddress.getByName("203.0.113.9"), 80, Hex.bytes("1e02 0402 0a02")),
                // TFO with an 8-byte cookie: RFC 8803 §7.6
                new ConnectTlv(InetAddress.getByName("203.0.113.9"), 443, Hex.bytes("220a 0102030405060708")),
                new ExtendedTcpHeaderTlv(new byte[0]),
                new ExtendedTcpHeaderTlv(Hex.bytes("020405b4 0402080a 00000001 00000000 01030307")),
                new SupportedTcpExtensionsTlv(List.of()),
                new SupportedTcpExtensionsTlv(List.of(30, 34, 4, 8)),
                new SupportedTcpExtensionsTlv(List.of(30)),
                new CookieTlv(new byte[0]),
                new CookieTlv(Hex.bytes("00112233 44556677")),
                new ErrorTlv(ConvertErrorCode.NOT_AUTHORIZED.code(), new byte[] {0}),
                new ErrorTlv(ConvertErrorCode.UNSUPPORTED_TCP_OPTION.code(), Hex.bytes("1d22 0000 00")),
                new ErrorTlv(200, Hex.bytes("ff")),
                ErrorTlv.of(ConvertErrorCode.UNSUPPORTED_VERSION));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tlvs")
    void encodedLengthIsWhatEncodeToWrites(ConvertTlv tlv) {
        ByteBuffer out = ByteBuffer.allocate(2000);

        tlv.encodeTo(out);

        assertEquals(tlv.encodedLength(), out.position());
        assertEquals(0, tlv.encodedLength() % 4, "every TLV ends on a 32-bit boundary");
        assertEquals(tlv.encodedLength() / 4, out.get(1) & 0xFF, "Length counts 32-bit words");
        assertEquals(tlv.type(), out.get(0) & 0xFF);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tlvs")
    void aTlvAloneInAMessageDecodesToAnEqualTlv(ConvertTlv tlv) throws Exception {
        ConvertMessage message = ConvertMessage.of(tlv);
        byte[] bytes = message.encode();

        DecodeResult.Decoded decoded = assertInstanceOf(DecodeResult.Decoded.class,
                ConvertDecoder.decode(ByteBuffer.wrap(bytes)));

        assertEquals(bytes.length, decoded.consumedBytes());
        assertEquals(message.encodedLength(), bytes.length);
        assertEquals(message, decoded.message());
        assertEquals(tlv.hashCode(), decoded.message().tlvs().getFirst().hashCode());
        assertArrayEquals(bytes, decoded.message().encode());
    }

    @Test
    void aMessageOfEveryTlvRoundTrips() throws Exception {
        ConvertMessage message = ConvertMessage.of(
                new InfoTlv(),
                new ConnectTlv(InetAddress.getByName("198.18.30.2"), 5001, Hex.bytes("1e02")),
                new CookieTlv(Hex.bytes("0102030405060708")),
                new ExtendedTcpHeaderTlv(Hex.bytes("1e0c 0081 0102 0304 0506 0708")),
                new SupportedTcpExtensionsTlv(List.of(30, 4)),
                ErrorTlv.of(ConvertErrorCode.RESOURCE_EXCEEDED));
        byte[] bytes = message.encode();

        DecodeResult.Decoded decoded = assertInstanceOf(DecodeResult.Decoded.class,
                ConvertDecoder.decode(ByteBuffer.wrap(bytes)));

        assertEquals(message, decoded.message());
        assertEquals(bytes.length / 4, bytes[1] & 0xFF, "Total Length counts 32-bit words, header included");
    }

    @Test
    void payloadAfterTheMessageIsLeftForTheCaller() throws Exception {
        byte[] message = ConvertMessage.of(new InfoTlv()).encode();
        ByteBuffer in = ByteBuffer.allocate(message.length + 5).put(message).put(Hex.bytes("4745542f0a")).flip();

        DecodeResult.Decoded decoded = assertInstanceOf(DecodeResult.Decoded.class, ConvertDecoder.decode(in));

        assertEquals(message.length, decoded.consumedBytes());
        assertEquals(0, in.position(), "the decoder does not consume");
        assertEquals(message.length + 5, in.limit());
    }

    @Test
    void theDecoderReadsFromTheBufferPositionAndLeavesItThere() throws Exception {
        byte[] message = ConvertMessage.of(new InfoTlv()).encode();
        ByteBuffer in = ByteBuffer.allocateDirect(64);
        in.put(Hex.bytes("deadbeef")).put(message).flip().position(4);
        ByteBuffer readOnly = in.asReadOnlyBuffer();

        assertInstanceOf(DecodeResult.Decoded.class, ConvertDecoder.decode(readOnly));

        assertEquals(4, readOnly.position());
        assertEquals(4 + message.length, readOnly.limit());
    }

    @Test
    void ipv4MappedAddressesDecodeToIpv4AndIpv6StaysIpv6() throws Exception {
        ConnectTlv mapped = new ConnectTlv(InetAddress.getByName("::ffff:192.0.2.1"), 1, new byte[0]);
        ConnectTlv v6 = new ConnectTlv(InetAddress.getByName("::192.0.2.1"), 1, new byte[0]);

        assertInstanceOf(Inet4Address.class, mapped.address());
        assertInstanceOf(Inet6Address.class, v6.address(), "IPv4-compatible is not IPv4-mapped");
        assertEquals(mapped, new ConnectTlv(InetAddress.getByName("192.0.2.1"), 1, new byte[0]));
    }

    @Test
    void aScopedIpv6AddressLosesItsScopeBecauseTheWireHasNone() throws Exception {
        ConnectTlv scoped = new ConnectTlv(Inet6Address.getByAddress(null,
                InetAddress.getByName("2001:db8::1").getAddress(), 3), 80, new byte[0]);

        assertEquals(new ConnectTlv(InetAddress.getByName("2001:db8::1"), 80, new byte[0]), scoped);
    }

    @Test
    void byteArraysAreCopiedOnTheWayInAndOut() {
        byte[] cookie = Hex.bytes("01020304");
        CookieTlv tlv = new CookieTlv(cookie);
        cookie[0] = 9;
        tlv.cookie()[1] = 9;

        assertArrayEquals(Hex.bytes("01020304"), tlv.cookie());
        assertEquals(new CookieTlv(Hex.bytes("01020304")), tlv);
        assertNotEquals(new CookieTlv(Hex.bytes("01020305")), tlv);
    }

    @Test
    void unalignedOpaqueValuesComeBackWithTheirPadding() throws Exception {
        // The codec cannot tell Cookie bytes from padding, so it keeps both.
        byte[] bytes = ConvertMessage.of(new CookieTlv(Hex.bytes("aabbcc"))).encode();

        ConvertMessage decoded = ((DecodeResult.Decoded) ConvertDecoder.decode(ByteBuffer.wrap(bytes))).message();

        assertEquals(new CookieTlv(Hex.bytes("aabbcc00")), decoded.cookieTlv().orElseThrow());
        assertArrayEquals(bytes, decoded.encode());
    }

    @Test
    void connectTcpOptionsMustBeCompleteOptionsWithoutEolOrNop() throws Exception {
        InetAddress a = InetAddress.getByName("192.0.2.1");
        assertThrows(IllegalArgumentException.class, () -> new ConnectTlv(a, 1, Hex.bytes("01")));
        assertThrows(IllegalArgumentException.class, () -> new ConnectTlv(a, 1, Hex.bytes("00")));
        assertThrows(IllegalArgumentException.class, () -> new ConnectTlv(a, 1, Hex.bytes("1e")));
        assertThrows(IllegalArgumentException.class, () -> new ConnectTlv(a, 1, Hex.bytes("1e01")));
        assertThrows(IllegalArgumentException.class, () -> new ConnectTlv(a, 1, Hex.bytes("1e05 00")));
        assertThrows(IllegalArgumentException.class, () -> new ConnectTlv(a, 65536, new byte[0]));
        assertThrows(IllegalArgumentException.class, () -> new ConnectTlv(a, -1, new byte[0]));
        assertEquals(List.of(30, 34), new ConnectTlv(a, 1, Hex.bytes("1e02 2204 abcd")).tcpOptionKinds());
    }

    @Test
    void aNopInAReceivedConnectTlvIsIgnoredAndPaddingDropped() throws Exception {
        byte[] bytes = Hex.bytes("01 07 2263  0a 06 0050 00000000000000000000ffffc0000201  01 1e02 00");

        ConvertMessage decoded = ((DecodeResult.Decoded) ConvertDecoder.decode(ByteBuffer.wrap(bytes))).message();

        assertArrayEquals(Hex.bytes("1e02"), decoded.connectTlv().orElseThrow().tcpOptions());
    }

    @Test
    void nothingTooBigForTotalLengthCanBeBuilt() {
        assertThrows(IllegalArgumentException.class, () -> new CookieTlv(new byte[CookieTlv.MAX_COOKIE_BYTES + 1]));
        assertThrows(IllegalArgumentException.class, () -> new ErrorTlv(1, new byte[ErrorTlv.MAX_VALUE_BYTES + 1]));
        assertThrows(IllegalArgumentException.class, () -> ConvertMessage.of(
                new CookieTlv(new byte[CookieTlv.MAX_COOKIE_BYTES]), new InfoTlv()));
        assertEquals(ConvertMessage.MAX_LENGTH,
                ConvertMessage.of(new CookieTlv(new byte[CookieTlv.MAX_COOKIE_BYTES])).encodedLength());
        assertThrows(IllegalArgumentException.class, () -> new ErrorTlv(256, new byte[0]));
        assertThrows(IllegalArgumentException.class, () -> new SupportedTcpExtensionsTlv(List.of(0)));
        assertThrows(IllegalArgumentException.class, () -> new SupportedTcpExtensionsTlv(List.of(256)));
    }

    @Test
    void aMessageHoldsEachTlvTypeOnce() {
        assertThrows(IllegalArgumentException.class, () -> ConvertMessage.of(new InfoTlv(), new InfoTlv()));
    }

    @Test
    void theLargestMessageRoundTrips() throws Exception {
        ConvertMessage largest = ConvertMessage.of(new CookieTlv(new byte[CookieTlv.MAX_COOKIE_BYTES]));
        byte[] bytes = largest.encode();

        assertEquals(0xFF, bytes[1] & 0xFF);
        assertEquals(largest, ((DecodeResult.Decoded) ConvertDecoder.decode(ByteBuffer.wrap(bytes))).message());
    }

    @Test
    void errorFactoriesFollowTheRfc() {
        assertArrayEquals(Hex.bytes("1e 01 00 01"), encode(ErrorTlv.of(ConvertErrorCode.UNSUPPORTED_VERSION)),
                "Unsupported Version: 'The Value field MUST be set to the version supported by the peer.'");
        assertArrayEquals(Hex.bytes("1e 01 20 00"), encode(ErrorTlv.of(ConvertErrorCode.NOT_AUTHORIZED)),
                "Not Authorized: 'The Value field MUST be set to zero.'");
        assertArrayEquals(Hex.bytes("1e 03 01 00  01020304 05060000"),
                encode(ErrorTlv.echoing(ConvertErrorCode.MALFORMED_MESSAGE, Hex.bytes("0102030405060000"))),
                "Figure 23: Error Code, one byte of zeros, then the echoed message");
        assertEquals(ErrorTlv.MAX_VALUE_BYTES,
                ErrorTlv.echoing(ConvertErrorCode.MALFORMED_MESSAGE, new byte[5000]).value().length);
        assertEquals(List.of(ErrorTlv.of(ConvertErrorCode.RESOURCE_EXCEEDED)),
                ConvertMessage.error(ConvertErrorCode.RESOURCE_EXCEEDED).tlvs());
    }

    private static byte[] encode(ConvertTlv tlv) {
        ByteBuffer out = ByteBuffer.allocate(tlv.encodedLength());
        tlv.encodeTo(out);
        return out.array();
    }
}
