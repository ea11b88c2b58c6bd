package net.hybridproxy.engine.multipath.frame;

import java.nio.ByteBuffer;

/**
 * The concentrator's answer to {@link JoinSyn}: RFC 8684 §3.2's MP_JOIN SYN/ACK.
 *
 * <pre>
 * Address ID (1) | Sender's Truncated HMAC (8) | Sender's Nonce (4)
 * </pre>
 *
 * <p>RFC 8684 §3.2 (paraphrased): the SYN/ACK with MP_JOIN contains ... a truncated (leftmost 64 bits)
 * Hash-based Message Authentication Code (HMAC) ... and a random number (nonce). The HMAC is
 * "HMAC(Key=(Key-B+Key-A), Msg=(R-B+R-A))".
 *
 * @param addressId     the concentrator's id for its address of this subflow
 * @param truncatedHmac the leftmost 64 bits of the HMAC, big-endian
 * @param nonce         R-B, fresh random 32 bits
 */
public record JoinSynAck(int addressId, long truncatedHmac, int nonce) implements Frame {

    public JoinSynAck {
        Frame.checkU8("address id", addressId);
    }

    @Override
    public int type() {
        return FrameType.JOIN_SYNACK;
    }

    @Override
    public int bodyLength() {
        return 1 + 8 + 4;
    }

    @Override
    public void encodeBody(ByteBuffer out) {
        out.put((byte) addressId).putLong(truncatedHmac).putInt(nonce);
    }

    static JoinSynAck parse(WireReader in) throws FrameException {
        int addressId = in.u8("address id");
        long hmac = in.u64("truncated HMAC");
        int nonce = (int) in.u32("nonce");
        in.expectEnd();
        return new JoinSynAck(addressId, hmac, nonce);
    }
}
