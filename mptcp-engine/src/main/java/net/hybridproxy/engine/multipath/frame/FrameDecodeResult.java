package net.hybridproxy.engine.multipath.frame;

import java.util.Objects;

/** What {@link FrameCodec#decode} made of the bytes received so far. */
public sealed interface FrameDecodeResult {

    /**
     * The frame is not complete yet.
     *
     * @param atLeast readable bytes, from the buffer's position, that the next call needs at least
     */
    record IncompleteFrame(int atLeast) implements FrameDecodeResult {
        public IncompleteFrame {
            if (atLeast < 1 || atLeast > Frame.MAX_FRAME_LENGTH_V3) {
                throw new IllegalArgumentException("atLeast " + atLeast + " is outside 1.." + Frame.MAX_FRAME_LENGTH_V3);
            }
        }
    }

    /**
     * A whole frame.
     *
     * @param frame         the frame
     * @param consumedBytes its length on the wire, header included
     */
    record DecodedFrame(Frame frame, int consumedBytes) implements FrameDecodeResult {
        public DecodedFrame {
            Objects.requireNonNull(frame, "frame");
            if (consumedBytes != frame.encodedLength()) {
                throw new IllegalArgumentException("consumed " + consumedBytes + " bytes for a frame of "
                        + frame.encodedLength());
            }
        }
    }
}
