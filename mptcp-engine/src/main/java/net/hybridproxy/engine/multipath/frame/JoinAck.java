package net.hybridproxy.engine.multipath.frame;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The cpe's third join frame: RFC 8684 §3.2's MP_JOIN ACK.
 *
 * <pre>
 * Sender's HMAC (20) = leftmost 160 bits of HMAC-SHA256(Key=(Key-A+Key-B), Msg=(R-A+R-B))
 * </pre>
 *
 * <p>RFC 8684 §3.2 (paraphrased): The third ACK ... containing the sender's authentication information ...
 * the leftmost 160 bits of an HMAC. A subflow whose JOIN_ACK does not verify is reset and
 * counted, never attached.
 *
 * @param hmac 20 bytes (copied in and out)
 */
public record JoinAck(byte[] hmac) implements Frame {

    public static final int HMAC_LENGTH = 20;

    public JoinAck {
        hmac = Frame.checkLength("hmac", hmac, HMAC_LENGTH);
    }

    @Override
    public byte[] hmac() {
        return hmac.clone();
    }

    @Override
    public int type() {
        return FrameType.JOIN_ACK;
    }

    @Override
    public int bodyLength() {
        return HMAC_LENGTH;
    }

    @Override
    public void encodeBody(ByteBuffer out) {
        out.put(hmac);
    }

    static JoinAck parse(WireReader in) throws FrameException {
        byte[] hmac = in.bytes(HMAC_LENGTH, "hmac");
        in.expectEnd();
        return new JoinAck(hmac);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof JoinAck other && Arrays.equals(hmac, other.hmac);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(hmac);
    }

    @Override
    public String toString() {
        return "JoinAck[" + java.util.HexFormat.of().formatHex(hmac) + "]";
    }
}
