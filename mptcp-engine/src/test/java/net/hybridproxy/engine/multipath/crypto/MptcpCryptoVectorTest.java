package net.hybridproxy.engine.multipath.crypto;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import net.hybridproxy.engine.auth.CpeKey;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * Vectors computed outside this code base: the expected values come from OpenSSL
 * ({@code openssl dgst -sha256 [-mac HMAC -macopt hexkey:...]} over the byte strings written in
 * each comment), and the Linux kernel's MPTCP KUnit vectors ({@code net/mptcp/crypto_test.c}).
 */
class MptcpCryptoVectorTest {

    private static final HexFormat HEX = HexFormat.of();

    /** SHA-256 of the key's eight big-endian bytes: token = first 4 bytes, IDSN = last 8. */
    @ParameterizedTest
    @CsvSource({
            "0000000000000000, af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc",
            "0102030405060708, 66840dda154e8a113c31dd0ad32f7f3a366a80e8136979d8f5a101d3d29d6f72",
            "ffffffffffffffff, 12a3ae445661ce5dee78d0650d33362dec29c4f82af05e7e57fb595bbbacf0ca",
            "8000000000000001, 52cc849fffcb8aeaf2e8aff5a4a3ca37052e4f90002902f20788c9f7e1b0e202",
            "1a2b3c4d5e6f7081, 4c0b9b586fa5052a4eb3acbbc0e9245cb8165eaed191f51f3a4d9d6b06ce4f3c"})
    void tokenIsTheTop32BitsAndIdsnTheLow64BitsOfSha256OfTheKey(String keyHex, String sha256Hex) {
        long key = Long.parseUnsignedLong(keyHex, 16);
        ByteBuffer digest = ByteBuffer.wrap(HEX.parseHex(sha256Hex));

        assertEquals(digest.getInt(0), MptcpCrypto.token(key));
        assertEquals(digest.getLong(24), MptcpCrypto.idsn(key));
    }

    /**
     * Linux {@code crypto_test.c}: the test's key and message strings are used as raw bytes (the
     * 16 ASCII characters of the key are read as two big-endian 64-bit keys, the 8 of the message
     * as two 32-bit nonces).
     */
    @ParameterizedTest
    @CsvSource({
            "0b0b0b0b0b0b0b0b, 48692054, 8385e24fb4235ac37556b6b886db106284a1da671699f46db1f235ec622dcafa",
            "aaaaaaaaaaaaaaaa, dddddddd, 2c5e219164ff1dca1c4a92318d847bb6b9d44492984e1eb71aff9022f71046e9",
            "0102030405060708, cdcdcdcd, e73b9ba9969969cefb04aa0d6df18ec2fcc075b6f23b4d8c4da736a5dbbc6e7d"})
    void joinHmacMatchesTheLinuxKernelVectors(String keyText, String messageText, String expected) {
        ByteBuffer key = ByteBuffer.wrap(keyText.getBytes(StandardCharsets.US_ASCII));
        ByteBuffer message = ByteBuffer.wrap(messageText.getBytes(StandardCharsets.US_ASCII));

        byte[] hmac = MptcpCrypto.joinHmac(key.getLong(0), key.getLong(8), message.getInt(0), message.getInt(4));

        assertEquals(expected, HEX.formatHex(hmac));
    }

    @Test
    void joinHmacsPutTheSendersKeyAndNonceFirstAndAreTruncatedAsTheRfcSays() {
        long keyA = 0x0102030405060708L;
        long keyB = 0xa1b2c3d4e5f60718L;
        int nonceA = 0x11223344;
        int nonceB = 0xaabbccdd;
        // HMAC(key = 0102030405060708 a1b2c3d4e5f60718, msg = 11223344 aabbccdd)
        String cpeHmac = "53d99ca5fd7421a20f3ba4e2637179b61337d0804c7f122029f59699d8de0a22";
        // HMAC(key = a1b2c3d4e5f60718 0102030405060708, msg = aabbccdd 11223344)
        String concentratorHmac = "9cc8fa1357af7dd2312e27456fa7074b85e0d29fe22cbcb101bf3b307e31745a";

        assertEquals(cpeHmac, HEX.formatHex(MptcpCrypto.joinHmac(keyA, keyB, nonceA, nonceB)));
        assertArrayEquals(HEX.parseHex(cpeHmac.substring(0, 40)), MptcpCrypto.joinHmac160(keyA, keyB, nonceA, nonceB));
        assertEquals(Long.parseUnsignedLong(concentratorHmac.substring(0, 16), 16),
                MptcpCrypto.joinHmacTruncated(keyB, keyA, nonceB, nonceA));
    }

    @ParameterizedTest
    @CsvSource({
            // key = 0102030405060708 a1b2c3d4e5f60718, msg = 01 c612000a 0000
            "0102030405060708, a1b2c3d4e5f60718, 1, 198.18.0.10, 0, 2982c3b2ce717cfa",
            // key = 0102030405060708 a1b2c3d4e5f60718, msg = 02 c6120015 1f90
            "0102030405060708, a1b2c3d4e5f60718, 2, 198.18.0.21, 8080, 661671f7c73cea30",
            // key = a1b2c3d4e5f60718 0102030405060708, msg = 07 20010db8000000000000000000000101 01bb
            "a1b2c3d4e5f60718, 0102030405060708, 7, 2001:db8::101, 443, 12de723477027aaf"})
    void addAddrHmacIsTheRightmost64BitsOverIdAddressAndPort(String sender, String receiver, int id, String address,
                                                              int port, String expected) throws Exception {
        long hmac = MptcpCrypto.addAddrHmac(Long.parseUnsignedLong(sender, 16), Long.parseUnsignedLong(receiver, 16),
                id, InetAddress.getByName(address), port);

        assertEquals(Long.parseUnsignedLong(expected, 16), hmac);
    }

    @Test
    void capableProofsAreHmacsOfTheLabelVersionAndBothKeys() {
        CpeKey key = new CpeKey("cpe-1", HEX.parseHex("000102030405060708090a0b0c0d0e0f"));
        long keyA = 0x0102030405060708L;
        long keyB = 0xa1b2c3d4e5f60718L;
        // HMAC(key = 000102..0f, msg = "hybridproxy capable concentrator" 00 01 <keyA> <keyB>)
        assertEquals("57cfa623c297788a8d232e3c7e85fc98ff0ce094d8a50d5dfe91c099b89d0703",
                HEX.formatHex(CapableProof.concentrator(key, 1, keyA, keyB)));
        // HMAC(key = 000102..0f, msg = "hybridproxy capable cpe" 00 01 <keyA> <keyB>)
        assertEquals("ceb7b8ff4a76d38500be8b51cd9ce834aa9d999c9aafbe41a3dbbe394adf36f0",
                HEX.formatHex(CapableProof.cpe(key, 1, keyA, keyB)));
    }
}
