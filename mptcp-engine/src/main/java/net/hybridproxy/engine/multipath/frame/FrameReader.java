package net.hybridproxy.engine.multipath.frame;

import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * Reassembles frames from a subflow's byte stream as it arrives, in pieces of any size.
 *
 * <p>Holds at most one incomplete frame, so its memory is bounded by {@link Frame#MAX_FRAME_LENGTH} (by
 * {@link Frame#MAX_FRAME_LENGTH_V3} once told its subflow belongs to a version 3 session). A DATA frame's
 * payload is copied once, from the input straight into the array the frame hands on (the reorder buffer keeps it):
 * only its header and fixed body go through the reader's own buffer, which is therefore sized for the largest frame
 * without a payload, not for a full DATA frame. Not thread-safe; one per subflow.
 */
public final class FrameReader {

    /** Header and fixed body of a DATA frame; the rest of its body is payload. */
    private static final int DATA_PREFIX = Frame.HEADER_LENGTH + Data.FIXED_BODY_LENGTH;
    /** Every frame but DATA fits here whole, and a DATA frame's prefix does. */
    static final int PENDING_CAPACITY = Math.max(DATA_PREFIX, Frame.HEADER_LENGTH + FrameCodec.maxBodyLengthBesidesData());

    private final byte[] pending = new byte[PENDING_CAPACITY];
    private int pendingLength;
    private int expectedLength = -1;
    /** The payload of the DATA frame being read (its prefix complete), or null. */
    private byte[] payload;
    private int payloadLength;
    /** The largest DATA payload this subflow may carry: version 2's until the session says otherwise. */
    private int maxDataPayload = Data.MAX_PAYLOAD;

    /**
     * Accepts DATA payloads of up to {@code max} bytes from now on ({@link Data#MAX_PAYLOAD} to
     * {@link Data#MAX_PAYLOAD_V3}): called when the subflow attaches to a session whose version allows larger frames.
     * Frames that were checked already keep the bound they were checked with.
     */
    public void acceptDataPayload(int max) {
        if (max < Data.MAX_PAYLOAD || max > Data.MAX_PAYLOAD_V3) {
            throw new IllegalArgumentException("DATA payload bound " + max + " outside " + Data.MAX_PAYLOAD + ".."
                    + Data.MAX_PAYLOAD_V3);
        }
        maxDataPayload = max;
    }

    /**
     * Takes bytes from {@code in} until one frame is complete or {@code in} is empty, and returns
     * that frame, or null when more bytes are needed. Call again while {@code in} has bytes left.
     *
     * @throws FrameException if the stream can never form a valid frame; the reader is then
     *                        unusable, as is the subflow
     */
    public Frame read(ByteBuffer in) throws FrameException {
        Objects.requireNonNull(in, "in");
        while (in.hasRemaining()) {
            if (payload != null) {
                int take = Math.min(in.remaining(), payload.length - payloadLength);
                in.get(payload, payloadLength, take);
                payloadLength += take;
                if (payloadLength == payload.length) {
                    return completeData();
                }
                continue;
            }
            if (expectedLength < 0) {
                int take = Math.min(in.remaining(), Frame.HEADER_LENGTH - pendingLength);
                in.get(pending, pendingLength, take);
                pendingLength += take;
                if (pendingLength < Frame.HEADER_LENGTH) {
                    return null;
                }
                expectedLength = Frame.HEADER_LENGTH + FrameCodec.checkHeader(pending, 0, maxDataPayload);
            }
            boolean carriesPayload = (pending[0] & 0xFF) == FrameType.DATA && expectedLength > DATA_PREFIX;
            int take = Math.min(in.remaining(), (carriesPayload ? DATA_PREFIX : expectedLength) - pendingLength);
            in.get(pending, pendingLength, take);
            pendingLength += take;
            if (carriesPayload && pendingLength == DATA_PREFIX) {
                payload = new byte[expectedLength - DATA_PREFIX];
                payloadLength = 0;
            } else if (pendingLength == expectedLength) {
                return complete();
            }
        }
        if (expectedLength == Frame.HEADER_LENGTH) {
            return complete();
        }
        return null;
    }

    private Frame complete() throws FrameException {
        Frame frame = FrameCodec.parseBody(pending[0] & 0xFF, pending[1] & 0xFF, pending, Frame.HEADER_LENGTH,
                expectedLength - Frame.HEADER_LENGTH);
        pendingLength = 0;
        expectedLength = -1;
        return frame;
    }

    private Frame completeData() throws FrameException {
        byte[] body = payload;
        payload = null;
        payloadLength = 0;
        pendingLength = 0;
        expectedLength = -1;
        return FrameCodec.parseData(pending[1] & 0xFF, pending, Frame.HEADER_LENGTH, body);
    }

    /** Bytes of an incomplete frame held right now. */
    public int bufferedBytes() {
        return pendingLength + payloadLength;
    }

    /**
     * Bytes still missing from the incomplete frame held right now (of its header, while the header itself is
     * incomplete), or 0 when none is held: no frame can come out of {@link #read} before that many more arrive.
     */
    public int missingBytes() {
        if (pendingLength == 0) {
            return 0;
        }
        return expectedLength < 0 ? Frame.HEADER_LENGTH - pendingLength
                : expectedLength - pendingLength - payloadLength;
    }
}
