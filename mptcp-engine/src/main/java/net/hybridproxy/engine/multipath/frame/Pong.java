package net.hybridproxy.engine.multipath.frame;

import java.nio.ByteBuffer;

/**
 * The answer to a {@link Ping}, sent on the subflow the ping arrived on.
 *
 * <pre>
 * Value (8)
 * </pre>
 *
 * @param value the {@link Ping}'s value
 */
public record Pong(long value) implements Frame {

    @Override
    public int type() {
        return FrameType.PONG;
    }

    @Override
    public int bodyLength() {
        return 8;
    }

    @Override
    public void encodeBody(ByteBuffer out) {
        out.putLong(value);
    }

    static Pong parse(WireReader in) throws FrameException {
        long value = in.u64("value");
        in.expectEnd();
        return new Pong(value);
    }
}
