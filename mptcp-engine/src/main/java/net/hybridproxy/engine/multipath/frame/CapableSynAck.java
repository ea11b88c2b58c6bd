package net.hybridproxy.engine.multipath.frame;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The concentrator's answer to {@link CapableSyn}: its own key and its proof of the pre-shared
 * key, so that the cpe authenticates the concentrator too.
 *
 * <pre>
 * Version (1) | Key-B (8) | Proof (32) = HMAC-SHA256(PSK, "hybridproxy capable concentrator" 0x00
 *                                                          || Version || Key-A || Key-B)
 * </pre>
 *
 * <p>RFC 8684 §3.1 (paraphrased): The SYN/ACK with MP_CAPABLE ... contains the key of the responder (Key-B).
 *
 * @param version the version the concentrator chose (at most the cpe's)
 * @param key     Key-B, the concentrator's 64-bit session key
 * @param proof   32 bytes (copied in and out)
 */
public record CapableSynAck(int version, long key, byte[] proof) implements Frame {

    public static final int PROOF_LENGTH = 32;

    public CapableSynAck {
        Frame.checkU8("version", version);
        proof = Frame.checkLength("proof", proof, PROOF_LENGTH);
    }

    @Override
    public byte[] proof() {
        return proof.clone();
    }

    @Override
    public int type() {
        return FrameType.CAPABLE_SYNACK;
    }

    @Override
    public int bodyLength() {
        return 1 + 8 + PROOF_LENGTH;
    }

    @Override
    public void encodeBody(ByteBuffer out) {
        out.put((byte) version).putLong(key).put(proof);
    }

    static CapableSynAck parse(WireReader in) throws FrameException {
        int version = in.u8("version");
        long key = in.u64("key");
        byte[] proof = in.bytes(PROOF_LENGTH, "proof");
        in.expectEnd();
        return new CapableSynAck(version, key, proof);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CapableSynAck other && version == other.version && key == other.key
                && Arrays.equals(proof, other.proof);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(key) * 31 + Arrays.hashCode(proof);
    }

    @Override
    public String toString() {
        return "CapableSynAck[version=" + version + ", key=" + Long.toHexString(key) + "]";
    }
}
