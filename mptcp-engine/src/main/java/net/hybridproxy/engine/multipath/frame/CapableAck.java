package net.hybridproxy.engine.multipath.frame;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The cpe's third handshake frame: both keys echoed, as in RFC 8684, and the cpe's proof of its
 * pre-shared key. The concentrator attaches no stream and no subflow to the session before this
 * proof verifies.
 *
 * <pre>
 * Key-A (8) | Key-B (8) | Proof (32) = HMAC-SHA256(PSK, "hybridproxy capable cpe" 0x00
 *                                                    || Version || Key-A || Key-B)
 * </pre>
 *
 * <p>RFC 8684 §3.1 (paraphrased): The ACK with MP_CAPABLE ... contains both Key-A and Key-B. Binding the proof
 * to Key-B, which the concentrator drew at random for this session, makes a recorded proof
 * useless for any other session: no clock and no replay cache are needed.
 *
 * @param localKey  Key-A (the cpe's)
 * @param remoteKey Key-B (the concentrator's)
 * @param proof     32 bytes (copied in and out)
 */
public record CapableAck(long localKey, long remoteKey, byte[] proof) implements Frame {

    public static final int PROOF_LENGTH = 32;

    public CapableAck {
        proof = Frame.checkLength("proof", proof, PROOF_LENGTH);
    }

    @Override
    public byte[] proof() {
        return proof.clone();
    }

    @Override
    public int type() {
        return FrameType.CAPABLE_ACK;
    }

    @Override
    public int bodyLength() {
        return 8 + 8 + PROOF_LENGTH;
    }

    @Override
    public void encodeBody(ByteBuffer out) {
        out.putLong(localKey).putLong(remoteKey).put(proof);
    }

    static CapableAck parse(WireReader in) throws FrameException {
        long a = in.u64("key A");
        long b = in.u64("key B");
        byte[] proof = in.bytes(PROOF_LENGTH, "proof");
        in.expectEnd();
        return new CapableAck(a, b, proof);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CapableAck other && localKey == other.localKey && remoteKey == other.remoteKey
                && Arrays.equals(proof, other.proof);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(localKey) * 31 + Long.hashCode(remoteKey);
    }

    @Override
    public String toString() {
        return "CapableAck[keyA=" + Long.toHexString(localKey) + ", keyB=" + Long.toHexString(remoteKey) + "]";
    }
}
