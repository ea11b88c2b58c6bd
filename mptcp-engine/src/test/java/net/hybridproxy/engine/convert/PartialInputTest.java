package net.hybridproxy.engine.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** A message arriving a few bytes at a time, as TCP may deliver it. */
class PartialInputTest {

    static Stream<ConvertMessage> messages() throws Exception {
        return Stream.of(
                ConvertMessage.of(),
                ConvertMessage.of(new InfoTlv()),
                ConvertMessage.of(new ConnectTlv(InetAddress.getByName("198.18.30.2"), 5001, new byte[0]),
                        new CookieTlv(new byte[40])),
                ConvertMessage.of(new ConnectTlv(InetAddress.getByName("2001:db8::1"), 443, Hex.bytes("1e02")),
                        new InfoTlv()),
                ConvertMessage.of(new SupportedTcpExtensionsTlv(List.of(30)), new ExtendedTcpHeaderTlv(new byte[12])),
                ConvertMessage.of(new CookieTlv(new byte[CookieTlv.MAX_COOKIE_BYTES])));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("messages")
    void everyProperPrefixAsksForMoreAndTheWholeDecodes(ConvertMessage message) throws Exception {
        byte[] bytes = message.encode();
        byte[] withPayload = Arrays.copyOf(bytes, bytes.length + 3);

        for (int split = 0; split < bytes.length; split++) {
            ByteBuffer prefix = ByteBuffer.wrap(bytes, 0, split).slice();

            DecodeResult result = ConvertDecoder.decode(prefix);

            int expected = split < 2 ? ConvertMessage.HEADER_LENGTH : bytes.length;
            int at = split;
            DecodeResult.NeedMoreBytes more = assertInstanceOf(DecodeResult.NeedMoreBytes.class, result,
                    () -> "split at " + at);
            assertEquals(expected, more.atLeast(), () -> "split at " + at);
            assertEquals(0, prefix.position());
        }
        for (byte[] whole : List.of(bytes, withPayload)) {
            DecodeResult.Decoded decoded = assertInstanceOf(DecodeResult.Decoded.class,
                    ConvertDecoder.decode(ByteBuffer.wrap(whole)));
            assertEquals(bytes.length, decoded.consumedBytes());
            assertEquals(message, decoded.message());
        }
    }
}
