package net.hybridproxy.engine.multipath.frame;

import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * Closes one stream, or the whole session, at once: RFC 8684 §3.5's MP_FASTCLOSE.
 *
 * <pre>
 * Stream ID (4, 0 = the session) | MAC (8) | Reason (1)
 * </pre>
 *
 * <p>RFC 8684 §3.5 (paraphrased): MP_FASTCLOSE ... [is] the equivalent of TCP RST for an MPTCP connection
 * ... the option contains the key of the peer (the receiver of the option). Version 2 of this protocol puts a
 * MAC in that place instead ({@code SessionSecret.fastCloseMac}: keyed with the session secret, over the
 * sender's role, the stream id and the reason), because the receiver's key crosses the network in clear in the
 * handshake. A FAST_CLOSE whose MAC does not verify is ignored (and counted). The reason byte (RFC 8684 §3.6
 * codes) goes into the receiver's log.
 *
 * @param streamId the stream to close, or 0 for the whole session
 * @param mac      the leftmost 64 bits of the sender's MAC
 * @param reason   why
 */
public record FastClose(long streamId, long mac, ResetReason reason) implements Frame {

    /** The stream id that names the whole session. */
    public static final long SESSION = 0;

    public FastClose {
        Frame.checkU32("stream id", streamId);
        Objects.requireNonNull(reason, "reason");
    }

    @Override
    public int type() {
        return FrameType.FAST_CLOSE;
    }

    @Override
    public int bodyLength() {
        return 4 + 8 + 1;
    }

    @Override
    public void encodeBody(ByteBuffer out) {
        out.putInt((int) streamId).putLong(mac).put((byte) reason.code());
    }

    static FastClose parse(WireReader in) throws FrameException {
        long streamId = in.u32("stream id");
        long mac = in.u64("mac");
        ResetReason reason = ResetReason.fromCode(in.u8("reason"));
        in.expectEnd();
        return new FastClose(streamId, mac, reason);
    }
}
