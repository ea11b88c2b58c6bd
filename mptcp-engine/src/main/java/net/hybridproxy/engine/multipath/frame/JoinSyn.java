package net.hybridproxy.engine.multipath.frame;

import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * The first frame on every additional subflow: RFC 8684 §3.2's MP_JOIN SYN.
 *
 * <pre>
 * Magic (4) = "HPMP" | Version (1) | Priority (1) | Address ID (1) | Receiver's Token (4) | Sender's Nonce (4)
 * </pre>
 *
 * <p>RFC 8684 §3.2 (paraphrased): The SYN with MP_JOIN contains the MP_JOIN option with the token of the
 * receiver ... a random number (nonce) [...] and an address ID. The Priority byte generalises
 * the RFC's B bit (see {@link SubflowPriority}).
 *
 * @param version   the protocol version
 * @param priority  how the concentrator should use this subflow
 * @param addressId the cpe's id for the local address (uplink) of this subflow, 0..255
 * @param token     the concentrator's token (RFC 8684: "a cryptographic hash of the receiver's key")
 * @param nonce     R-A, fresh random 32 bits
 */
public record JoinSyn(int version, SubflowPriority priority, int addressId, int token, int nonce) implements Frame {

    public JoinSyn {
        Frame.checkU8("version", version);
        Objects.requireNonNull(priority, "priority");
        Frame.checkU8("address id", addressId);
    }

    @Override
    public int type() {
        return FrameType.JOIN_SYN;
    }

    @Override
    public int bodyLength() {
        return 4 + 1 + 1 + 1 + 4 + 4;
    }

    @Override
    public void encodeBody(ByteBuffer out) {
        out.putInt(CapableSyn.MAGIC).put((byte) version).put((byte) priority.code()).put((byte) addressId);
        out.putInt(token).putInt(nonce);
    }

    static JoinSyn parse(WireReader in) throws FrameException {
        CapableSyn.checkMagic(in, "JOIN_SYN");
        int version = in.u8("version");
        SubflowPriority priority = SubflowPriority.fromCode(in.u8("priority"), "JOIN_SYN");
        int addressId = in.u8("address id");
        int token = (int) in.u32("token");
        int nonce = (int) in.u32("nonce");
        in.expectEnd();
        return new JoinSyn(version, priority, addressId, token, nonce);
    }
}
