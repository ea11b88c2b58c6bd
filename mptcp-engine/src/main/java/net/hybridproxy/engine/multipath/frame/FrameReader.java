package net.hybridproxy.engine.multipath.frame;

import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * Reassembles frames from a subflow's byte stream as it arrives, in pieces of any size.
 *
 * <p>Holds at most one incomplete frame, so its memory is bounded by
 * {@link Frame#MAX_FRAME_LENGTH}. Not thread-safe; one per subflow.
 */
public final class FrameReader {

    private final byte[] pending = new byte[Frame.MAX_FRAME_LENGTH];
    private int pendingLength;
    private int expectedLength = -1;

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
            if (expectedLength < 0) {
                int take = Math.min(in.remaining(), Frame.HEADER_LENGTH - pendingLength);
                in.get(pending, pendingLength, take);
                pendingLength += take;
                if (pendingLength < Frame.HEADER_LENGTH) {
                    return null;
                }
                expectedLength = Frame.HEADER_LENGTH + FrameCodec.checkHeader(pending, 0);
            }
            int take = Math.min(in.remaining(), expectedLength - pendingLength);
            in.get(pending, pendingLength, take);
            pendingLength += take;
            if (pendingLength == expectedLength) {
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

    /** Bytes of an incomplete frame held right now. */
    public int bufferedBytes() {
        return pendingLength;
    }

    /**
     * Bytes still missing from the incomplete frame held right now (of its header, while the header itself is
     * incomplete), or 0 when none is held: no frame can come out of {@link #read} before that many more arrive.
     */
    public int missingBytes() {
        if (pendingLength == 0) {
            return 0;
        }
        return expectedLength < 0 ? Frame.HEADER_LENGTH - pendingLength : expectedLength - pendingLength;
    }
}
