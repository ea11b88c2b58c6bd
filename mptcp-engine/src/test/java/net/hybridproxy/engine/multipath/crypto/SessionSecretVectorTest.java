package net.hybridproxy.engine.multipath.crypto;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.util.HexFormat;
import net.hybridproxy.engine.auth.CpeKey;
import org.junit.jupiter.api.Test;

/**
 * Version 2's session secret and the MACs keyed with it, against values computed with OpenSSL
 * ({@code openssl dgst -sha256 -mac HMAC -macopt hexkey:...} over the byte strings in each comment).
 */
class SessionSecretVectorTest {

    private static final HexFormat HEX = HexFormat.of();
    private static final CpeKey PSK = new CpeKey("cpe-1", HEX.parseHex("000102030405060708090a0b0c0d0e0f"));
    private static final long KEY_A = 0x0102030405060708L;
    private static final long KEY_B = 0xa1b2c3d4e5f60718L;
    // secret = HMAC(PSK, "hybridproxy session" 00 02 <Key-A> <Key-B>)
    //        = 5c8862d8bd24a9d0e50cc147c3ac5c2e45ec7d9d735582f1ff58e5078237b044
    private static final SessionSecret SECRET = SessionSecret.derive(PSK, 2, KEY_A, KEY_B);

    @Test
    void joinMacsAreKeyedWithTheSecretAndNameTheirSender() {
        // HMAC(secret, "hybridproxy join" 00 'A' 11223344 aabbccdd), leftmost 160 bits
        assertArrayEquals(HEX.parseHex("a558581c6580d56cdbec755625a1dba5dc4afcb9"),
                SECRET.joinAckHmac(0x11223344, 0xaabbccdd));
        // HMAC(secret, "hybridproxy join" 00 'B' aabbccdd 11223344), leftmost 64 bits
        assertEquals(0x4fb205da344231ffL, SECRET.joinSynAckHmac(0xaabbccdd, 0x11223344));
    }

    @Test
    void fastCloseMacCoversTheSenderTheStreamAndTheReason() {
        // HMAC(secret, "hybridproxy fast close" 00 'B' 00000005 02), leftmost 64 bits
        assertEquals(0xfe7e5411eefd7e37L, SECRET.fastCloseMac(SessionSecret.Sender.B, 5, 2));
        assertNotEquals(SECRET.fastCloseMac(SessionSecret.Sender.B, 5, 2),
                SECRET.fastCloseMac(SessionSecret.Sender.A, 5, 2), "no reflection");
    }

    @Test
    void theSecretDependsOnThePskAndBothKeys() {
        CpeKey other = new CpeKey("cpe-1", HEX.parseHex("ff0102030405060708090a0b0c0d0e0f"));
        long mac = SECRET.fastCloseMac(SessionSecret.Sender.A, 0, 0);
        assertNotEquals(mac, SessionSecret.derive(other, 2, KEY_A, KEY_B).fastCloseMac(SessionSecret.Sender.A, 0, 0));
        assertNotEquals(mac, SessionSecret.derive(PSK, 2, KEY_A + 1, KEY_B).fastCloseMac(SessionSecret.Sender.A, 0, 0));
        assertNotEquals(mac, SessionSecret.derive(PSK, 2, KEY_A, KEY_B + 1).fastCloseMac(SessionSecret.Sender.A, 0, 0));
    }
}
