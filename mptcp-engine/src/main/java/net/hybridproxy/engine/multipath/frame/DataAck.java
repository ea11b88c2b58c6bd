package net.hybridproxy.engine.multipath.frame;

import java.nio.ByteBuffer;

/**
 * A stream's cumulative data-level acknowledgement and receive window: RFC 8684's DATA_ACK.
 *
 * <pre>
 * Stream ID (4) | Data ACK (8) | Receive Window (4)
 * </pre>
 *
 * <p>RFC 8684 §3.3.2: "The Data ACK is analogous to the behavior of the standard TCP cumulative
 * ACK -- indicating how much data has been successfully received (with no holes)." and §3.3.4:
 * "The receive window is relative to the DATA_ACK": the sender may send up to
 * {@code dataAck + window - 1}. The window is in bytes (TCP's window scaling has no equivalent
 * need here, as the field is 32 bits).
 *
 * @param streamId the stream, 1..2^32-1
 * @param dataAck  the next data sequence number the receiver expects, 0..2^63-1
 * @param window   bytes the receiver accepts from {@code dataAck} on, 0..2^32-1
 */
public record DataAck(long streamId, long dataAck, long window) implements Frame {

    public DataAck {
        Frame.checkU32("stream id", streamId);
        if (streamId == 0) {
            throw new IllegalArgumentException("stream id 0 names the session, not a stream");
        }
        if (dataAck < 0) {
            throw new IllegalArgumentException("data ack " + Long.toUnsignedString(dataAck) + " reaches 2^63");
        }
        Frame.checkU32("window", window);
    }

    /** The first data sequence number the receiver does not accept yet. */
    public long rightEdge() {
        return dataAck + window;
    }

    @Override
    public int type() {
        return FrameType.DATA_ACK;
    }

    @Override
    public int bodyLength() {
        return 4 + 8 + 4;
    }

    @Override
    public void encodeBody(ByteBuffer out) {
        out.putInt((int) streamId).putLong(dataAck).putInt((int) window);
    }

    static DataAck parse(WireReader in) throws FrameException {
        long streamId = in.u32("stream id");
        long ack = in.u64("data ack");
        long window = in.u32("window");
        in.expectEnd();
        if (streamId == 0) {
            throw new FrameException("DATA_ACK for stream 0");
        }
        if (ack < 0) {
            throw new FrameException("DATA_ACK " + Long.toUnsignedString(ack) + " reaches 2^63");
        }
        return new DataAck(streamId, ack, window);
    }
}
