package net.hybridproxy.engine.multipath.frame;

import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * Sent as the last frame on a subflow that is being closed abruptly: RFC 8684 §3.6's MP_TCPRST.
 * Flags bit 0 is T.
 *
 * <pre>
 * Reason (1)
 * </pre>
 *
 * <p>RFC 8684 §3.6 (paraphrased): The 'T' flag is used by the sender to indicate whether the error condition
 * that is reported is Transient (T bit set to 1) or Permanent (T bit set to 0). If the error
 * condition is considered to be Transient by the sender of the RST segment, the recipient of this
 * RST segment MAY try to reestablish a subflow for this connection over the failed path.
 *
 * @param reason    why the subflow is closed
 * @param transientError whether the peer may try this path again
 */
public record SubflowReset(ResetReason reason, boolean transientError) implements Frame {

    private static final int FLAG_TRANSIENT = 0x01;

    public SubflowReset {
        Objects.requireNonNull(reason, "reason");
    }

    @Override
    public int type() {
        return FrameType.SUBFLOW_RESET;
    }

    @Override
    public int flags() {
        return transientError ? FLAG_TRANSIENT : 0;
    }

    @Override
    public int bodyLength() {
        return 1;
    }

    @Override
    public void encodeBody(ByteBuffer out) {
        out.put((byte) reason.code());
    }

    static SubflowReset parse(int flags, WireReader in) throws FrameException {
        ResetReason reason = ResetReason.fromCode(in.u8("reason"));
        in.expectEnd();
        return new SubflowReset(reason, (flags & FLAG_TRANSIENT) != 0);
    }
}
