package net.hybridproxy.engine.multipath.frame;

import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * Changes the priority of the subflow it is sent on: RFC 8684 §3.3.8's MP_PRIO.
 *
 * <pre>
 * Priority (1)
 * </pre>
 *
 * <p>RFC 8684 §3.3.8 (paraphrased): the MP_PRIO option ... can be used to change the priority of subflows
 * ... This option applies to the subflow on which it is sent.
 *
 * @param priority the subflow's new priority
 */
public record MpPrio(SubflowPriority priority) implements Frame {

    public MpPrio {
        Objects.requireNonNull(priority, "priority");
    }

    @Override
    public int type() {
        return FrameType.MP_PRIO;
    }

    @Override
    public int bodyLength() {
        return 1;
    }

    @Override
    public void encodeBody(ByteBuffer out) {
        out.put((byte) priority.code());
    }

    static MpPrio parse(WireReader in) throws FrameException {
        SubflowPriority priority = SubflowPriority.fromCode(in.u8("priority"), "MP_PRIO");
        in.expectEnd();
        return new MpPrio(priority);
    }
}
