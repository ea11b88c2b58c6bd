package net.hybridproxy.engine.auth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import net.hybridproxy.engine.convert.ConvertErrorCode;
import net.hybridproxy.engine.convert.CookieTlv;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ConvertAuthenticatorTest {

    private static final long NOW = 1_767_225_600_000L; // 2026-01-01T00:00:00Z
    private static final Duration SKEW = Duration.ofSeconds(30);
    private static final CpeKey KEY = new CpeKey("cpe-0001", range(0, 32));
    private static final CpeKey OTHER = new CpeKey("cpe-0002", range(100, 132));
    private static final InetSocketAddress DEST = socket("198.18.30.2", 5001);

    // ---- the proof format, pinned by vectors and by a second implementation ----

    /** Computed outside Java, with Python's hmac module, from the layout in the class comment. */
    @Test
    void matchesVectorsComputedIndependently() {
        assertEquals("01086370652d303030310000019b76daa800101112131415161718191a1b1c1d1e1f"
                        + "086c92fa3c6cf3bf5e8cbed76c982fbb61d6f04b7c16c44cc5f1866a8cf93d450000",
                hex(ConvertAuthenticator.prove(KEY, DEST, NOW, range(16, 32)).cookie()));
        assertEquals("010178ffffffffffffffff00000000000000000000000000000000"
                        + "b8ff63f9c7fcfca53fcb7289782fa1de7452ad52433aec855cdc73545e8157cb00",
                hex(ConvertAuthenticator.prove(new CpeKey("x", HexFormat.of().parseHex("ff".repeat(16))),
                        socket("2001:db8::1", 443), -1L, new byte[16]).cookie()));
    }

    static Stream<Arguments> vectors() {
        return Stream.of(
                Arguments.of(KEY, DEST, NOW, range(16, 32)),
                Arguments.of(OTHER, socket("203.0.113.7", 443), 0L, new byte[16]),
                Arguments.of(new CpeKey("k", range(1, 17)), socket("::ffff:192.0.2.9", 80), Long.MAX_VALUE, range(200, 216)),
                Arguments.of(new CpeKey("a".repeat(64), range(0, 64)), socket("2001:db8:ffff::42", 65535), -5L,
                        range(0, 16)),
                Arguments.of(new CpeKey("abc", range(9, 40)), socket("10.1.2.3", 0), 123_456L, range(50, 66)));
    }

    @ParameterizedTest
    @MethodSource("vectors")
    void matchesASecondStraightforwardImplementation(CpeKey key, InetSocketAddress dest, long ts, byte[] nonce)
            throws Exception {
        byte[] expected = referenceProof(key.id(), key.secret(), dest, ts, nonce);

        CookieTlv cookie = ConvertAuthenticator.prove(key, dest, ts, nonce);

        assertArrayEquals(expected, cookie.cookie());
        assertEquals(0, cookie.encodedLength() % 4);
        assertInstanceOf(AuthResult.Authenticated.class,
                new ConvertAuthenticator.Verifier(List.of(key), SKEW, 8).verify(Optional.of(cookie), dest, ts));
    }

    /** The layout of the class comment, written out again without sharing any production code. */
    private static byte[] referenceProof(String id, byte[] secret, InetSocketAddress dest, long ts, byte[] nonce)
            throws Exception {
        ByteArrayOutputStream signed = new ByteArrayOutputStream();
        signed.write(1);
        signed.write(id.length());
        signed.write(id.getBytes(StandardCharsets.US_ASCII));
        signed.write(ByteBuffer.allocate(8).putLong(ts).array());
        signed.write(nonce);
        byte[] address = dest.getAddress().getAddress();
        byte[] address16 = new byte[16];
        if (address.length == 4) {
            address16[10] = (byte) 0xff;
            address16[11] = (byte) 0xff;
            System.arraycopy(address, 0, address16, 12, 4);
        } else {
            address16 = address;
        }
        Mac hmac = Mac.getInstance("HmacSHA256");
        hmac.init(new SecretKeySpec(secret, "HmacSHA256"));
        hmac.update("hybridproxy convert cookie proof\0".getBytes(StandardCharsets.US_ASCII));
        hmac.update(signed.toByteArray());
        hmac.update(new byte[] {(byte) (dest.getPort() >> 8), (byte) dest.getPort()});
        hmac.update(address16);
        signed.write(hmac.doFinal());
        while (signed.size() % 4 != 0) {
            signed.write(0);
        }
        return signed.toByteArray();
    }

    // ---- what the verifier accepts and refuses ----

    @Test
    void acceptsAFreshProofAndNamesItsKey() {
        assertEquals(new AuthResult.Authenticated("cpe-0001"), verifier().verify(proof(KEY, DEST, NOW, 1), DEST, NOW));
    }

    @Test
    void refusesARequestWithoutCookieAsNotAuthorized() {
        assertRejected(verifier().verify(Optional.empty(), DEST, NOW), ConvertErrorCode.NOT_AUTHORIZED, "no Cookie");
    }

    @Test
    void refusesAProofMadeWithTheWrongSecret() {
        CpeKey impostor = new CpeKey("cpe-0001", range(1, 33));

        assertRejected(verifier().verify(proof(impostor, DEST, NOW, 1), DEST, NOW),
                ConvertErrorCode.NOT_AUTHORIZED, "MAC does not verify");
    }

    @Test
    void refusesAProofForAnotherDestination() {
        Optional<CookieTlv> cookie = proof(KEY, DEST, NOW, 1);

        assertRejected(verifier().verify(cookie, socket("198.18.30.2", 5002), NOW),
                ConvertErrorCode.NOT_AUTHORIZED, "MAC does not verify");
        assertRejected(verifier().verify(cookie, socket("198.18.30.3", 5001), NOW),
                ConvertErrorCode.NOT_AUTHORIZED, "MAC does not verify");
    }

    @Test
    void refusesATamperedProof() {
        byte[] bytes = proof(KEY, DEST, NOW, 1).orElseThrow().cookie();
        for (int i = 2; i < bytes.length - 2; i++) { // every byte but the version, id length and padding
            byte[] tampered = bytes.clone();
            tampered[i] ^= 0x01;

            AuthResult result = verifier().verify(Optional.of(new CookieTlv(tampered)), DEST, NOW);

            assertInstanceOf(AuthResult.Rejected.class, result, "byte " + i);
        }
    }

    @Test
    void refusesAnUnknownKeyId() {
        assertRejected(verifier().verify(proof(new CpeKey("cpe-9999", range(0, 32)), DEST, NOW, 1), DEST, NOW),
                ConvertErrorCode.NOT_AUTHORIZED, "unknown key id");
    }

    @Test
    void acceptsTimestampsWithinTheSkewAndRefusesThoseBeyond() {
        long skew = SKEW.toMillis();
        ConvertAuthenticator.Verifier v = verifier();

        assertInstanceOf(AuthResult.Authenticated.class, v.verify(proof(KEY, DEST, NOW - skew, 1), DEST, NOW));
        assertInstanceOf(AuthResult.Authenticated.class, v.verify(proof(KEY, DEST, NOW + skew, 2), DEST, NOW));
        assertRejected(v.verify(proof(KEY, DEST, NOW - skew - 1, 3), DEST, NOW), ConvertErrorCode.NOT_AUTHORIZED,
                "timestamp");
        assertRejected(v.verify(proof(KEY, DEST, NOW + skew + 1, 4), DEST, NOW), ConvertErrorCode.NOT_AUTHORIZED,
                "timestamp");
        assertRejected(v.verify(proof(KEY, DEST, Long.MIN_VALUE, 5), DEST, NOW), ConvertErrorCode.NOT_AUTHORIZED,
                "timestamp");
    }

    @Test
    void refusesAReplayedNonce() {
        ConvertAuthenticator.Verifier v = verifier();
        Optional<CookieTlv> cookie = proof(KEY, DEST, NOW, 7);

        assertInstanceOf(AuthResult.Authenticated.class, v.verify(cookie, DEST, NOW));
        assertRejected(v.verify(cookie, DEST, NOW + 10), ConvertErrorCode.NOT_AUTHORIZED, "replayed nonce");
        // The same nonce under another key is another pair.
        assertInstanceOf(AuthResult.Authenticated.class, v.verify(proof(OTHER, DEST, NOW, 7), DEST, NOW));
    }

    @Test
    void aReplayBeyondTheSkewIsRefusedForItsAgeAfterThePairIsForgotten() {
        ConvertAuthenticator.Verifier v = verifier();
        Optional<CookieTlv> cookie = proof(KEY, DEST, NOW, 7);
        v.verify(cookie, DEST, NOW);

        assertRejected(v.verify(cookie, DEST, NOW + SKEW.toMillis() + 1), ConvertErrorCode.NOT_AUTHORIZED, "timestamp");
        // Forgotten once twice the skew has passed on both clocks (the next accepted proof sweeps the window).
        long later = NOW + 2 * SKEW.toMillis() + 1;
        assertInstanceOf(AuthResult.Authenticated.class, v.verify(proof(KEY, DEST, later, 8), DEST, later));
        assertEquals(1, v.replayCacheSize());
    }

    @Test
    void aClockStepBackwardsCannotReviveAForgottenProof() {
        ConvertAuthenticator.Verifier v = verifier();
        Optional<CookieTlv> cookie = proof(KEY, DEST, NOW, 7);
        v.verify(cookie, DEST, NOW);
        v.verify(proof(KEY, DEST, NOW + 60_000, 8), DEST, NOW + 60_000); // evicts nonce 7

        assertInstanceOf(AuthResult.Rejected.class, v.verify(cookie, DEST, NOW));
    }

    @Test
    void refusesWithResourceExceededWhenTheReplayCacheIsFullOfLivePairs() {
        ConvertAuthenticator.Verifier v = new ConvertAuthenticator.Verifier(List.of(KEY), SKEW, 3);
        for (int n = 0; n < 3; n++) {
            assertInstanceOf(AuthResult.Authenticated.class, v.verify(proof(KEY, DEST, NOW, n), DEST, NOW));
        }

        assertRejected(v.verify(proof(KEY, DEST, NOW, 3), DEST, NOW + 1), ConvertErrorCode.RESOURCE_EXCEEDED,
                "is full");
        assertEquals(3, v.replayCacheSize());
        // Once the remembered proofs are too old to be accepted anyway, their room is reused.
        long later = NOW + 2 * SKEW.toMillis() + 1;
        assertInstanceOf(AuthResult.Authenticated.class, v.verify(proof(KEY, DEST, later, 3), DEST, later));
        assertEquals(1, v.replayCacheSize());
    }

    // ---- fairness and clock steps (hardening) ----

    /** One cpe (or one LAN device behind it) flooding proofs fills its own key's window, never another key's. */
    @Test
    void aKeyWhoseReplayWindowIsFullDoesNotLockOutOtherKeys() {
        ConvertAuthenticator.Verifier v = new ConvertAuthenticator.Verifier(List.of(KEY, OTHER), SKEW, 3);
        for (int n = 0; n < 3; n++) {
            assertInstanceOf(AuthResult.Authenticated.class, v.verify(proof(KEY, DEST, NOW, n), DEST, NOW));
        }
        assertRejected(v.verify(proof(KEY, DEST, NOW, 3), DEST, NOW), ConvertErrorCode.RESOURCE_EXCEEDED,
                "replay cache of key 'cpe-0001' is full");

        for (int n = 0; n < 3; n++) {
            assertInstanceOf(AuthResult.Authenticated.class, v.verify(proof(OTHER, DEST, NOW, n), DEST, NOW),
                    "the other cpe must keep its own window");
        }
        assertEquals(3, v.replayCacheSize("cpe-0001"));
        assertEquals(3, v.replayCacheSize("cpe-0002"));
    }

    /**
     * A full window is checked before the MAC: a flood refused for it costs no HMAC. So a forged proof naming that
     * key is refused as the genuine one would be (Resource Exceeded), and as Not Authorized again once there is room.
     */
    @Test
    void aFullWindowRefusesBeforeTheMacIsComputed() {
        ConvertAuthenticator.Verifier v = new ConvertAuthenticator.Verifier(List.of(KEY), SKEW, 2);
        for (int n = 0; n < 2; n++) {
            assertInstanceOf(AuthResult.Authenticated.class, v.verify(proof(KEY, DEST, NOW, n), DEST, NOW));
        }
        CpeKey impostor = new CpeKey("cpe-0001", range(1, 33));
        assertRejected(v.verify(proof(impostor, DEST, NOW, 5), DEST, NOW), ConvertErrorCode.RESOURCE_EXCEEDED,
                "is full");
        assertRejected(v.verify(proof(KEY, DEST, NOW, 6), DEST, NOW), ConvertErrorCode.RESOURCE_EXCEEDED, "is full");

        long later = NOW + 2 * SKEW.toMillis() + 1;
        assertRejected(v.verify(proof(impostor, DEST, later, 5), DEST, later), ConvertErrorCode.NOT_AUTHORIZED,
                "MAC does not verify");
        assertInstanceOf(AuthResult.Authenticated.class, v.verify(proof(KEY, DEST, later, 6), DEST, later));
    }

    /** Proofs that fail the MAC or the timestamp check take no room: an outsider cannot fill a window. */
    @Test
    void proofsThatDoNotVerifyTakeNoRoom() {
        ConvertAuthenticator.Verifier v = new ConvertAuthenticator.Verifier(List.of(KEY), SKEW, 2);
        CpeKey impostor = new CpeKey("cpe-0001", range(1, 33));
        for (int n = 0; n < 100; n++) {
            v.verify(proof(impostor, DEST, NOW, n), DEST, NOW);
            v.verify(proof(KEY, DEST, NOW - 10 * SKEW.toMillis(), n), DEST, NOW);
        }
        assertEquals(0, v.replayCacheSize());
        assertInstanceOf(AuthResult.Authenticated.class, v.verify(proof(KEY, DEST, NOW, 1), DEST, NOW));
    }

    /**
     * The concentrator's wall clock steps a day forward (a VM resume, a bad NTP answer) and is corrected: proofs
     * made at the right time are accepted again at once, without a restart.
     */
    @Test
    void aForwardClockStepThatIsCorrectedDoesNotRejectProofsUntilRestart() {
        ConvertAuthenticator.Verifier v = verifier();
        long mono = 5_000_000_000L;
        long day = Duration.ofDays(1).toMillis();
        assertInstanceOf(AuthResult.Authenticated.class, v.verify(proof(KEY, DEST, NOW, 1), DEST, NOW, mono));
        // During the step a correct cpe's proof is a day old: refused, as it must be.
        assertRejected(v.verify(proof(KEY, DEST, NOW + 1_000, 2), DEST, NOW + day, mono + 1_000_000_000L),
                ConvertErrorCode.NOT_AUTHORIZED, "timestamp");
        // Corrected ten seconds later.
        long corrected = NOW + 10_000;
        assertInstanceOf(AuthResult.Authenticated.class,
                v.verify(proof(KEY, DEST, corrected, 3), DEST, corrected, mono + 10_000_000_000L));
    }

    /** While the wall clock is a day ahead, nonces are kept until the monotonic clock says they are old too. */
    @Test
    void aForwardClockStepCannotMakeARememberedProofForgettable() {
        ConvertAuthenticator.Verifier v = verifier();
        long mono = 0;
        long day = Duration.ofDays(1).toMillis();
        Optional<CookieTlv> captured = proof(KEY, DEST, NOW, 1);
        v.verify(captured, DEST, NOW, mono);
        // A proof accepted during the step sweeps the window with the wall clock far ahead.
        v.verify(proof(KEY, DEST, NOW + day, 2), DEST, NOW + day, mono + 1_000_000_000L);
        // Corrected: the captured proof is still within the skew and must still be refused as a replay.
        assertRejected(v.verify(captured, DEST, NOW + 2_000, mono + 2_000_000_000L), ConvertErrorCode.NOT_AUTHORIZED,
                "replayed nonce");
    }

    /** A reload (new key added, the old one kept) must not forget a nonce: the proof is still a replay. */
    @Test
    void aReconfiguredVerifierRemembersTheNoncesOfTheKeysItKeeps() {
        ConvertAuthenticator.Verifier before = new ConvertAuthenticator.Verifier(List.of(KEY), SKEW, 10);
        Optional<CookieTlv> captured = proof(KEY, DEST, NOW, 1);
        assertInstanceOf(AuthResult.Authenticated.class, before.verify(captured, DEST, NOW));

        ConvertAuthenticator.Verifier after = before.reconfigured(List.of(KEY, OTHER), SKEW, 10);
        assertRejected(after.verify(captured, DEST, NOW + 1), ConvertErrorCode.NOT_AUTHORIZED, "replayed nonce");
        assertInstanceOf(AuthResult.Authenticated.class, after.verify(proof(OTHER, DEST, NOW, 1), DEST, NOW));
    }

    static Stream<Arguments> malformedCookies() {
        byte[] good = proof(KEY, DEST, NOW, 1).orElseThrow().cookie();
        byte[] version2 = good.clone();
        version2[0] = 2;
        byte[] padding = good.clone();
        padding[padding.length - 1] = 1;
        byte[] idLength0 = good.clone();
        idLength0[1] = 0;
        byte[] idLengthTooLong = good.clone();
        idLengthTooLong[1] = 40;
        byte[] spaceInId = good.clone();
        spaceInId[5] = ' ';
        return Stream.of(
                Arguments.of("empty", new byte[0], "too short"),
                Arguments.of("version 2", version2, "version 2"),
                Arguments.of("non-zero padding", padding, "padding"),
                Arguments.of("key id length 0", idLength0, "not a version 1 proof"),
                Arguments.of("key id length past the proof", idLengthTooLong, "not a version 1 proof"),
                Arguments.of("truncated", java.util.Arrays.copyOf(good, good.length - 4), "not a version 1 proof"),
                Arguments.of("extended", java.util.Arrays.copyOf(good, good.length + 4), "not a version 1 proof"),
                Arguments.of("space in key id", spaceInId, "visible ASCII"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformedCookies")
    void refusesCookiesThatAreNotProofs(String name, byte[] cookie, String reason) {
        assertRejected(verifier().verify(Optional.of(new CookieTlv(cookie)), DEST, NOW),
                ConvertErrorCode.NOT_AUTHORIZED, reason);
    }

    @Test
    void refusesBadConfiguration() {
        assertThrows(IllegalArgumentException.class,
                () -> new ConvertAuthenticator.Verifier(List.of(KEY, new CpeKey("cpe-0001", range(5, 37))), SKEW, 1));
        assertThrows(IllegalArgumentException.class, () -> new ConvertAuthenticator.Verifier(List.of(KEY), Duration.ZERO, 1));
        assertThrows(IllegalArgumentException.class,
                () -> new ConvertAuthenticator.Verifier(List.of(KEY), Duration.ofDays(2), 1));
        assertThrows(IllegalArgumentException.class, () -> new ConvertAuthenticator.Verifier(List.of(KEY), SKEW, 0));
        assertThrows(IllegalArgumentException.class, () -> ConvertAuthenticator.prove(KEY, DEST, NOW, new byte[15]));
        assertThrows(IllegalArgumentException.class,
                () -> ConvertAuthenticator.prove(KEY, InetSocketAddress.createUnresolved("example.net", 80), NOW,
                        new byte[16]));
    }

    @Test
    void acceptsEachProofOnceUnderConcurrentUse() throws Exception {
        ConvertAuthenticator.Verifier v = new ConvertAuthenticator.Verifier(List.of(KEY, OTHER), SKEW, 10_000);
        List<Optional<CookieTlv>> proofs = new ArrayList<>();
        for (int n = 0; n < 500; n++) {
            proofs.add(proof(n % 2 == 0 ? KEY : OTHER, DEST, NOW, n));
        }
        int threads = 8;
        try (ExecutorService pool = Executors.newFixedThreadPool(threads)) {
            List<Future<Integer>> accepted = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                accepted.add(pool.submit(() -> {
                    int count = 0;
                    for (Optional<CookieTlv> p : proofs) {
                        if (v.verify(p, DEST, NOW) instanceof AuthResult.Authenticated) {
                            count++;
                        }
                    }
                    return count;
                }));
            }
            int total = 0;
            for (Future<Integer> f : accepted) {
                total += f.get();
            }
            assertEquals(proofs.size(), total, "every proof accepted exactly once across all threads");
        }
        assertEquals(proofs.size(), v.replayCacheSize());
    }

    // ---- helpers ----

    private static ConvertAuthenticator.Verifier verifier() {
        return new ConvertAuthenticator.Verifier(List.of(KEY, OTHER), SKEW, 1000);
    }

    private static Optional<CookieTlv> proof(CpeKey key, InetSocketAddress dest, long ts, int nonceSeed) {
        byte[] nonce = ByteBuffer.allocate(16).putLong(0x6e6f6e6365L).putLong(nonceSeed).array();
        return Optional.of(ConvertAuthenticator.prove(key, dest, ts, nonce));
    }

    private static void assertRejected(AuthResult result, ConvertErrorCode code, String reasonPart) {
        AuthResult.Rejected rejected = assertInstanceOf(AuthResult.Rejected.class, result);
        assertEquals(code, rejected.code(), rejected::reason);
        assertTrue(rejected.reason().contains(reasonPart), () -> "'" + rejected.reason() + "' lacks '" + reasonPart + "'");
    }

    private static byte[] range(int from, int to) {
        byte[] b = new byte[to - from];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) (from + i);
        }
        return b;
    }

    private static InetSocketAddress socket(String literal, int port) {
        try {
            return new InetSocketAddress(InetAddress.getByName(literal), port);
        } catch (java.net.UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }
}
