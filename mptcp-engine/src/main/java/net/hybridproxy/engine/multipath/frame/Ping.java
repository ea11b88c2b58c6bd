package net.hybridproxy.engine.multipath.frame;

import java.nio.ByteBuffer;

/**
 * An in-band probe of one subflow, answered by a {@link Pong} on the same subflow. The path
 * manager sends one periodically and declares the subflow stalled when no answer arrives in time.
 * RFC 8684 has no such option (it relies on TCP keepalives and retransmission timeouts, which
 * take seconds to minutes); a hybrid-access operator expects failover in well under a second.
 *
 * <pre>
 * Value (8)
 * </pre>
 *
 * @param value an opaque value, echoed in the {@link Pong}
 */
public record Ping(long value) implements Frame {

    @Override
    public int type() {
        return FrameType.PING;
    }

    @Override
    public int bodyLength() {
        return 8;
    }

    @Override
    public void encodeBody(ByteBuffer out) {
        out.putLong(value);
    }

    static Ping parse(WireReader in) throws FrameException {
        long value = in.u64("value");
        in.expectEnd();
        return new Ping(value);
    }
}
