package net.hybridproxy.engine.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** A Connect message written out byte by byte from RFC 8803 Figures 13 and 17. */
class ConnectVectorTest {

    private static final byte[] CONNECT_198_18_30_2_PORT_5001 = Hex.bytes("""
            01       // Version 1
            06       // Total Length: 6 words = 4-byte header + 20-byte Base Connect TLV
            2263     // Magic Number
            0a       // Type: Connect TLV
            05       // Length: 5 words, a Base Connect TLV
            1389     // Remote Peer Port 5001
            0000 0000 0000 0000 0000 ffff   // IPv4-mapped prefix ::ffff:0:0/96
            c6 12 1e 02                     // 198.18.30.2
            """.replaceAll("//[^\\n]*", ""));

    @Test
    void encodesTheConnectMessageByteForByte() throws Exception {
        InetSocketAddress destination = new InetSocketAddress(InetAddress.getByName("198.18.30.2"), 5001);

        byte[] encoded = ConvertMessage.connect(destination, Optional.empty()).encode();

        assertEquals(24, encoded.length);
        assertArrayEquals(CONNECT_198_18_30_2_PORT_5001, encoded, () -> Hex.of(encoded));
    }

    @Test
    void decodesTheVectorBackToAnIpv4Destination() throws Exception {
        DecodeResult result = ConvertDecoder.decode(ByteBuffer.wrap(CONNECT_198_18_30_2_PORT_5001));

        DecodeResult.Decoded decoded = assertInstanceOf(DecodeResult.Decoded.class, result);
        assertEquals(24, decoded.consumedBytes());
        ConnectTlv connect = decoded.message().connectTlv().orElseThrow();
        assertInstanceOf(Inet4Address.class, connect.address());
        assertEquals("198.18.30.2", connect.address().getHostAddress());
        assertEquals(5001, connect.port());
        assertEquals(false, connect.isExtended());
    }

    @Test
    void theMagicNumberIsIgnoredOnReceipt() throws Exception {
        for (int magic : new int[] {0x2263, 0x0000, 0xFFFF, 0x6322}) {
            byte[] bytes = CONNECT_198_18_30_2_PORT_5001.clone();
            bytes[2] = (byte) (magic >> 8);
            bytes[3] = (byte) magic;

            DecodeResult.Decoded decoded = assertInstanceOf(DecodeResult.Decoded.class,
                    ConvertDecoder.decode(ByteBuffer.wrap(bytes)));

            assertEquals(new InetSocketAddress(InetAddress.getByName("198.18.30.2"), 5001),
                    decoded.message().connectTlv().orElseThrow().destination(), () -> "magic " + magic);
        }
    }

    @Test
    void anIpv6DestinationTravelsAsIs() throws Exception {
        InetSocketAddress destination = new InetSocketAddress(InetAddress.getByName("2001:db8::1"), 443);

        byte[] encoded = ConvertMessage.connect(destination, Optional.empty()).encode();

        assertArrayEquals(Hex.bytes("01 06 2263  0a 05 01bb  2001 0db8 0000 0000 0000 0000 0000 0001"), encoded);
    }
}
