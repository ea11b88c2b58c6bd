package net.hybridproxy.engine.auth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HexFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class CpeKeyTest {

    private static final byte[] SIXTEEN = new byte[16];

    @ParameterizedTest
    @ValueSource(strings = {"a", "cpe-0001", "CPE_42.home~!", "0123456789012345678901234567890123456789012345678901234567890123"})
    void acceptsIdsOfOneToSixtyFourVisibleAsciiCharacters(String id) {
        assertEquals(id, new CpeKey(id, SIXTEEN).id());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "has space", "tab\there", "caf\u00e9", "nul\u0000",
            "01234567890123456789012345678901234567890123456789012345678901234"})
    void refusesOtherIds(String id) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new CpeKey(id, SIXTEEN));
        assertTrue(e.getMessage().startsWith("CPE key id"), e.getMessage());
    }

    @Test
    void refusesSecretsShorterThanSixteenBytes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new CpeKey("cpe", new byte[15]));
        assertTrue(e.getMessage().contains("at least 16 bytes"), e.getMessage());
    }

    @Test
    void parsesHexAndBase64Secrets() {
        byte[] expected = HexFormat.of().parseHex("000102030405060708090a0b0c0d0e0f");

        assertArrayEquals(expected, CpeKey.parseSecret("hex:000102030405060708090a0b0c0d0e0f"));
        assertArrayEquals(expected, CpeKey.parseSecret("hex:000102030405060708090A0B0C0D0E0F"));
        assertArrayEquals(expected, CpeKey.parseSecret("base64:AAECAwQFBgcICQoLDA0ODw=="));
        assertArrayEquals(expected, CpeKey.parseSecret("  base64:AAECAwQFBgcICQoLDA0ODw  "));
    }

    @ParameterizedTest
    @ValueSource(strings = {"000102", "hex:abc", "hex:zz00", "base64:!!!!", "HEX:0001", "plain:hunter2"})
    void refusesMalformedSecretsWithoutEchoingThem(String spec) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CpeKey.parseSecret(spec));
        String body = spec.contains(":") ? spec.substring(spec.indexOf(':') + 1) : spec;
        assertFalse(e.getMessage().contains(body), e.getMessage());
    }

    @Test
    void neverPrintsTheSecretAndCopiesIt() {
        byte[] secret = HexFormat.of().parseHex("41414141414141414141414141414141");
        CpeKey key = new CpeKey("cpe", secret);
        secret[0] = 0;
        key.secret()[1] = 0;

        assertFalse(key.toString().contains("AAAA"));
        assertFalse(key.toString().toLowerCase().contains("4141"));
        assertArrayEquals(HexFormat.of().parseHex("41414141414141414141414141414141"), key.secret());
        assertEquals(new CpeKey("cpe", key.secret()), key);
        assertNotEquals(new CpeKey("cpe", new byte[16]), key);
        assertEquals(new CpeKey("cpe", key.secret()).hashCode(), key.hashCode());
    }
}
