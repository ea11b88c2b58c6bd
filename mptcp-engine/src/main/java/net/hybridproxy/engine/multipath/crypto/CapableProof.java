package net.hybridproxy.engine.multipath.crypto;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import net.hybridproxy.engine.auth.CpeKey;

/**
 * The pre-shared-key proofs of the capable handshake (CAPABLE_SYNACK and CAPABLE_ACK).
 *
 * <p>Each side proves it holds the cpe's {@link CpeKey} secret with
 * {@code HMAC-SHA256(secret, label || 0x00 || version || Key-A || Key-B)}. The two labels keep the
 * concentrator's proof from ever being accepted as the cpe's; both keys are random per session,
 * so a recorded proof verifies for no other session (no clock, no replay cache). Key-A is the
 * cpe's key, Key-B the concentrator's, whichever side computes.
 */
public final class CapableProof {

    /** The label of the concentrator's proof, without the zero byte that ends it on the wire. */
    public static final String CONCENTRATOR_LABEL = "hybridproxy capable concentrator";

    /** The label of the cpe's proof, without the zero byte that ends it on the wire. */
    public static final String CPE_LABEL = "hybridproxy capable cpe";

    private CapableProof() {
    }

    /** The proof the concentrator puts in CAPABLE_SYNACK. */
    public static byte[] concentrator(CpeKey key, int version, long cpeKey, long concentratorKey) {
        return proof(key.secret(), CONCENTRATOR_LABEL, version, cpeKey, concentratorKey);
    }

    /** The proof the cpe puts in CAPABLE_ACK. */
    public static byte[] cpe(CpeKey key, int version, long cpeKey, long concentratorKey) {
        return proof(key.secret(), CPE_LABEL, version, cpeKey, concentratorKey);
    }

    public static byte[] proof(byte[] secret, String label, int version, long cpeKey, long concentratorKey) {
        byte[] labelBytes = label.getBytes(StandardCharsets.US_ASCII);
        ByteBuffer message = ByteBuffer.allocate(labelBytes.length + 1 + 1 + 16);
        message.put(labelBytes).put((byte) 0).put((byte) version).putLong(cpeKey).putLong(concentratorKey);
        return MptcpCrypto.hmacSha256(secret, message.array());
    }
}
