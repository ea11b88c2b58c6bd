package net.hybridproxy.engine.auth;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.HashSet;
import java.util.Set;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import net.hybridproxy.engine.convert.ConnectTlv;
import net.hybridproxy.engine.convert.ConvertErrorCode;
import net.hybridproxy.engine.convert.CookieTlv;

/**
 * Proves a CPE holds its key without sending the key, and checks such proofs at the concentrator.
 *
 * <h2>Why the Cookie TLV</h2>
 * The proof rides in the RFC 8803 Cookie TLV. The Cookie TLV is the RFC's own mechanism for a
 * Converter to decide whether a Client may use it (RFC 8803 §6.2.7: "A Transport Converter may
 * want to verify that a Client can receive the packets that it sends to prevent attacks from
 * spoofed addresses. [...] This Cookie can be configured on the Client by means that are outside
 * of this document"), and §9.2 expects that "Subsequent Connect messages will be authorized as a
 * function of the content of the Cookie TLV". Carrying an HMAC proof there keeps every byte on the
 * standard wire format: no private TLV type, no change to the header, nothing a capture tool
 * cannot already dissect. The RFC's example binds the Cookie to the Client's IP address; a CPE
 * reaches the concentrator over DSL and LTE with different, possibly translated, source addresses
 * per subflow, so the proof is bound to the CPE's key and to the requested destination instead.
 *
 * <h2>Proof layout, version 1</h2>
 * The Cookie is, in network byte order:
 * <pre>
 * offset   size  field
 * 0        1     proof version, 1
 * 1        1     key id length n, 1..64
 * 2        n     key id, visible ASCII
 * 2+n      8     timestamp, milliseconds since the Unix epoch, signed
 * 10+n     16    nonce, fresh random bytes for every proof
 * 26+n     32    MAC = HMAC-SHA256(secret, LABEL || bytes 0..26+n of this Cookie
 *                                         || destination port (2 bytes)
 *                                         || destination address (16 bytes, IPv4 IPv4-mapped))
 * 58+n     0-3   zero padding, so the Cookie (and the TLV) ends on a 32-bit boundary
 * </pre>
 * LABEL is the ASCII string {@value #LABEL_TEXT} followed by one zero byte. It separates this MAC
 * from any other use of the same secret; the version byte and the length-prefixed key id inside
 * the MAC keep every field boundary unambiguous. The destination is the Connect TLV's, encoded as
 * on the wire, so a proof cannot be replayed towards another Server. A later layout takes a new
 * version byte; a verifier refuses versions it does not know.
 *
 * <h2>No Cookie</h2>
 * A request without a Cookie TLV is refused with Not Authorized, not Missing Cookie. RFC 8803
 * §6.2.8: "the Transport Converter MUST return this error to the requesting Client only if it
 * computes a cookie for this Client", with "the Cookie computed by the Transport Converter for this
 * Client" in the Value; a concentrator cannot compute a proof, which only the key holder can, so
 * Missing Cookie does not apply. Not Authorized covers it: "a lack of authorization (e.g.,
 * administratively prohibited, authorization failure, or invalid Cookie TLV)".
 */
public final class ConvertAuthenticator {

    private static final int PROOF_VERSION = 1;

    public static final int NONCE_BYTES = 16;

    private static final int MAC_BYTES = 32;

    /** The domain-separation label, without its terminating zero byte. */
    private static final String LABEL_TEXT = "hybridproxy convert cookie proof";

    private static final byte[] LABEL = (LABEL_TEXT + "\0").getBytes(StandardCharsets.US_ASCII);

    private static final int TIMESTAMP_BYTES = 8;

    /** Version, id length, timestamp, nonce and MAC: everything but the id and the padding. */
    private static final int FIXED_BYTES = 2 + TIMESTAMP_BYTES + NONCE_BYTES + MAC_BYTES;

    private ConvertAuthenticator() {
    }

    /**
     * The Cookie TLV proving that the holder of {@code key} asks for {@code destination} at
     * {@code nowEpochMillis}.
     *
     * @param nonce16 16 fresh random bytes, never reused with this key
     */
    public static CookieTlv prove(CpeKey key, InetSocketAddress destination, long nowEpochMillis, byte[] nonce16) {
        Objects.requireNonNull(key, "key");
        InetAddress address = resolved(destination);
        if (nonce16.length != NONCE_BYTES) {
            throw new IllegalArgumentException("nonce must be " + NONCE_BYTES + " bytes, not " + nonce16.length);
        }
        byte[] id = key.id().getBytes(StandardCharsets.US_ASCII);
        ByteBuffer proof = ByteBuffer.allocate(proofLength(id.length));
        proof.put((byte) PROOF_VERSION).put((byte) id.length).put(id).putLong(nowEpochMillis).put(nonce16);
        proof.put(mac(key.secretForMac(), proof.array(), proof.position(), destination.getPort(), address));
        return new CookieTlv(proof.array());
    }

    /** Cookie length for a key id of {@code idLength} bytes, padding included. */
    static int proofLength(int idLength) {
        return (FIXED_BYTES + idLength + 3) & ~3;
    }

    /**
     * One Mac per thread: {@code Mac.getInstance} looks the provider up and allocates each time, which a flood of
     * proofs made a noticeable part of a request's cost. {@code init} resets it for the next key.
     */
    private static final ThreadLocal<Mac> MACS = ThreadLocal.withInitial(() -> {
        try {
            return Mac.getInstance("HmacSHA256");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is a required JDK algorithm", e);
        }
    });

    private static byte[] mac(byte[] secret, byte[] proof, int signedLength, int port, InetAddress address) {
        try {
            Mac mac = MACS.get();
            mac.init(new SecretKeySpec(secret, "HmacSHA256"));
            mac.update(LABEL);
            mac.update(proof, 0, signedLength);
            mac.update((byte) (port >>> 8));
            mac.update((byte) port);
            mac.update(ConnectTlv.wireAddress(address));
            return mac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is a required JDK algorithm", e);
        }
    }

    private static InetAddress resolved(InetSocketAddress destination) {
        Objects.requireNonNull(destination, "destination");
        if (destination.isUnresolved()) {
            throw new IllegalArgumentException("destination " + destination + " is unresolved");
        }
        return destination.getAddress();
    }

    /**
     * Checks proofs at the concentrator: MAC, clock skew, and replay.
     *
     * <p>Thread-safe: one instance is shared by all event-loop threads. MACs are computed without
     * holding any lock; each key's replay window has its own lock, held for a few queue operations,
     * so cpes never wait for each other.
     *
     * <p>Replay: a proof is accepted while its timestamp is within {@code maxClockSkew} of the
     * current time, so its nonce is remembered, in the window of its key, for as long as it could
     * pass that check again. Each key's window holds at most {@code replayCacheCapacity} nonces;
     * when it is full of nonces that are still needed, new proofs <em>for that key</em> are refused
     * with Resource Exceeded rather than letting the window grow or forgetting a nonce early (fail
     * closed). Only proofs whose MAC verifies reach a window, so only the key's holder can fill it:
     * one subscriber (or one LAN device behind its cpe) flooding proofs is refused on its own key
     * and every other cpe is unaffected. The cheap checks come first: a proof whose timestamp is out
     * of the skew, or whose key's window is full, is refused before its MAC is computed, so such a
     * flood costs no HMAC per request.
     *
     * <p>Time: the skew check uses the caller's wall clock as it is now, so a wall clock stepped
     * forward (NTP, a VM resume) and corrected back accepts proofs again at once. Forgetting a nonce
     * needs both clocks to agree that its proof can no longer pass: the wall clock is past its
     * timestamp plus the skew, and the monotonic clock says twice the skew has really elapsed since
     * it was accepted. So neither a forward step (which would make every nonce look old) nor a
     * backward step (which would make old proofs current again) can revive a remembered proof.
     */
    public static final class Verifier {

        private static final Duration MAX_SKEW_LIMIT = Duration.ofDays(1);

        private final Map<String, CpeKey> keys;
        private final Map<String, ReplayWindow> windows;
        private final long skewMillis;
        private final int capacity;

        /**
         * @param keys                 the CPE keys; ids must be distinct (an empty set refuses every proof)
         * @param maxClockSkew         how far a proof's timestamp may be from now, more than zero and
         *                             at most one day
         * @param replayCacheCapacity  how many nonces to remember per key, at least one
         */
        public Verifier(Collection<CpeKey> keys, Duration maxClockSkew, int replayCacheCapacity) {
            Map<String, CpeKey> byId = new HashMap<>();
            for (CpeKey key : keys) {
                if (byId.putIfAbsent(key.id(), key) != null) {
                    throw new IllegalArgumentException("two CPE keys have the id '" + key.id() + "'");
                }
            }
            this.keys = Map.copyOf(byId);
            if (maxClockSkew.isNegative() || maxClockSkew.isZero() || maxClockSkew.compareTo(MAX_SKEW_LIMIT) > 0) {
                throw new IllegalArgumentException("maxClockSkew " + maxClockSkew + " must be more than zero and at most "
                        + MAX_SKEW_LIMIT);
            }
            if (replayCacheCapacity < 1) {
                throw new IllegalArgumentException("replayCacheCapacity " + replayCacheCapacity + " must be at least 1");
            }
            this.skewMillis = maxClockSkew.toMillis();
            this.capacity = replayCacheCapacity;
            Map<String, ReplayWindow> byKey = new HashMap<>();
            for (String id : byId.keySet()) {
                byKey.put(id, new ReplayWindow());
            }
            this.windows = Map.copyOf(byKey);
        }

        private Verifier(Verifier previous, Collection<CpeKey> keys, Duration maxClockSkew, int replayCacheCapacity) {
            this(keys, maxClockSkew, replayCacheCapacity);
            for (Map.Entry<String, ReplayWindow> kept : previous.windows.entrySet()) {
                ReplayWindow fresh = windows.get(kept.getKey());
                if (fresh != null) {
                    fresh.takeOver(kept.getValue());
                }
            }
        }

        /**
         * A verifier for a reloaded key set that remembers every nonce this one remembers for the keys both have:
         * a reload must not reopen the window for a replay of a proof accepted just before it.
         */
        public Verifier reconfigured(Collection<CpeKey> keys, Duration maxClockSkew, int replayCacheCapacity) {
            return new Verifier(this, keys, maxClockSkew, replayCacheCapacity);
        }

        /**
         * Checks the Cookie TLV of a Connect request for {@code destination}, with the wall clock
         * standing in for the monotonic clock (tests and tools that step no clock).
         */
        public AuthResult verify(Optional<CookieTlv> cookie, InetSocketAddress destination, long nowEpochMillis) {
            return verify(cookie, destination, nowEpochMillis, nowEpochMillis * 1_000_000L);
        }

        /**
         * Checks the Cookie TLV of a Connect request for {@code destination}.
         *
         * @param cookie          the request's Cookie TLV, if any
         * @param destination     the destination of the request's Connect TLV
         * @param nowEpochMillis  the current wall-clock time
         * @param nowMonotonicNanos a monotonic clock (System.nanoTime()), which never steps
         */
        public AuthResult verify(Optional<CookieTlv> cookie, InetSocketAddress destination, long nowEpochMillis,
                                 long nowMonotonicNanos) {
            InetAddress address = resolved(destination);
            if (cookie.isEmpty()) {
                return notAuthorized("no Cookie TLV; a CPE proof is required");
            }
            byte[] proof = cookie.get().cookie();
            if (proof.length < 2) {
                return notAuthorized("Cookie of " + proof.length + " bytes is too short for a proof");
            }
            int version = proof[0] & 0xFF;
            if (version != PROOF_VERSION) {
                return notAuthorized("proof version " + version + " is not supported");
            }
            int idLength = proof[1] & 0xFF;
            if (idLength < 1 || idLength > CpeKey.MAX_ID_LENGTH || proof.length != proofLength(idLength)) {
                return notAuthorized("Cookie of " + proof.length + " bytes with a key id of " + idLength
                        + " bytes is not a version 1 proof");
            }
            int signedLength = 2 + idLength + TIMESTAMP_BYTES + NONCE_BYTES;
            for (int i = signedLength + MAC_BYTES; i < proof.length; i++) {
                if (proof[i] != 0) {
                    return notAuthorized("proof padding is not zero");
                }
            }
            String keyId = new String(proof, 2, idLength, StandardCharsets.US_ASCII);
            if (CpeKey.idProblem(keyId) != null) {
                return notAuthorized("proof key id is not visible ASCII");
            }
            CpeKey key = keys.get(keyId);
            if (key == null) {
                return notAuthorized("unknown key id '" + keyId + "'");
            }
            // The cheap checks before the MAC, so that a flood of proofs that would be refused anyway costs no
            // HMAC: the timestamp (which says nothing about the key), then whether the key's window has room.
            ByteBuffer fields = ByteBuffer.wrap(proof, 2 + idLength, TIMESTAMP_BYTES + NONCE_BYTES);
            long timestamp = fields.getLong();
            Nonce nonce = new Nonce(fields.getLong(), fields.getLong());
            if (timestamp < saturatedAdd(nowEpochMillis, -skewMillis)
                    || timestamp > saturatedAdd(nowEpochMillis, skewMillis)) {
                return notAuthorized("proof timestamp " + timestamp + " is more than " + skewMillis
                        + " ms from now (" + nowEpochMillis + ")");
            }
            ReplayWindow window = windows.get(keyId);
            // A full window refuses this key's next proof whatever its MAC, so the MAC need not be computed. An
            // outsider naming the key learns only that its window is full, while it is.
            if (window.isFull(nowEpochMillis, nowMonotonicNanos, skewMillis, capacity)) {
                return full(keyId, capacity);
            }
            byte[] expected = mac(key.secretForMac(), proof, signedLength, destination.getPort(), address);
            byte[] received = new byte[MAC_BYTES];
            System.arraycopy(proof, signedLength, received, 0, MAC_BYTES);
            // MessageDigest.isEqual compares in time independent of where the bytes differ.
            if (!MessageDigest.isEqual(expected, received)) {
                return notAuthorized("MAC does not verify for key '" + keyId
                        + "' (wrong secret, or a proof made for another destination)");
            }
            return window.admit(keyId, timestamp, nonce, nowEpochMillis, nowMonotonicNanos, skewMillis, capacity);
        }

        /** How many nonces are remembered right now, over all keys. */
        public int replayCacheSize() {
            return windows.values().stream().mapToInt(ReplayWindow::size).sum();
        }

        /** How many nonces are remembered right now for {@code keyId}. */
        public int replayCacheSize(String keyId) {
            ReplayWindow window = windows.get(keyId);
            return window == null ? 0 : window.size();
        }

        private static AuthResult notAuthorized(String reason) {
            return new AuthResult.Rejected(reason, ConvertErrorCode.NOT_AUTHORIZED);
        }

        private static AuthResult full(String keyId, int capacity) {
            return new AuthResult.Rejected("replay cache of key '" + keyId + "' is full (" + capacity
                    + " proofs within the skew window); refusing rather than forgetting",
                    ConvertErrorCode.RESOURCE_EXCEEDED);
        }

        private static long saturatedAdd(long a, long b) {
            long sum = a + b;
            // Overflow happened iff both operands have the same sign and the sum's sign differs.
            if (((a ^ sum) & (b ^ sum)) < 0) {
                return a < 0 ? Long.MIN_VALUE : Long.MAX_VALUE;
            }
            return sum;
        }

        private record Nonce(long high, long low) {
        }

        private record Remembered(Nonce nonce, long expiresAtWallMillis, long acceptedAtMonotonicNanos) {
        }

        /** One key's remembered nonces, oldest accepted first. */
        private static final class ReplayWindow {
            private final Set<Nonce> seen = new HashSet<>();
            private final ArrayDeque<Remembered> byAge = new ArrayDeque<>();

            /** Takes over {@code old}'s nonces (a reload); {@code old} is no longer used by anyone. */
            void takeOver(ReplayWindow old) {
                synchronized (old) {
                    synchronized (this) {
                        seen.addAll(old.seen);
                        byAge.addAll(old.byAge);
                    }
                }
            }

            /** Whether this window is full of nonces still needed now: no proof of its key can enter it. */
            synchronized boolean isFull(long nowWall, long nowMono, long skewMillis, int capacity) {
                forgetExpired(nowWall, nowMono, skewMillis);
                return seen.size() >= capacity;
            }

            synchronized AuthResult admit(String keyId, long timestamp, Nonce nonce, long nowWall, long nowMono,
                                          long skewMillis, int capacity) {
                forgetExpired(nowWall, nowMono, skewMillis);
                if (seen.contains(nonce)) {
                    return notAuthorized("replayed nonce for key '" + keyId + "'");
                }
                if (seen.size() >= capacity) {
                    return full(keyId, capacity);
                }
                seen.add(nonce);
                byAge.addLast(new Remembered(nonce, saturatedAdd(timestamp, skewMillis), nowMono));
                return new AuthResult.Authenticated(keyId);
            }

            private void forgetExpired(long nowWall, long nowMono, long skewMillis) {
                long keepNanos = 2 * skewMillis * 1_000_000L;
                // Monotonic ages grow in acceptance order, so the head is always the first to go.
                while (!byAge.isEmpty()) {
                    Remembered head = byAge.peekFirst();
                    if (head.expiresAtWallMillis() >= nowWall || nowMono - head.acceptedAtMonotonicNanos() <= keepNanos) {
                        break;
                    }
                    seen.remove(byAge.pollFirst().nonce());
                }
            }

            synchronized int size() {
                return seen.size();
            }
        }
    }
}
