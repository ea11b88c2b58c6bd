package net.hybridproxy.engine.convert;

import java.util.Objects;

/** What {@link ConvertDecoder#decode} made of the bytes received so far. */
public sealed interface DecodeResult {

    /**
     * The message is not complete yet.
     *
     * @param atLeast the number of readable bytes, counted from the buffer's position, that the
     *                next call needs at the very least; more may be asked for once the header
     *                has arrived
     */
    record NeedMoreBytes(int atLeast) implements DecodeResult {
        public NeedMoreBytes {
            if (atLeast < 1 || atLeast > ConvertMessage.MAX_LENGTH) {
                throw new IllegalArgumentException("atLeast " + atLeast + " is outside 1.."
                        + ConvertMessage.MAX_LENGTH);
            }
        }
    }

    /**
     * A whole message.
     *
     * @param message       the decoded message
     * @param consumedBytes how many bytes from the buffer's position it occupied; the caller
     *                      advances past them, and what follows is application data
     */
    record Decoded(ConvertMessage message, int consumedBytes) implements DecodeResult {
        public Decoded {
            Objects.requireNonNull(message, "message");
            if (consumedBytes < ConvertMessage.HEADER_LENGTH || consumedBytes > ConvertMessage.MAX_LENGTH) {
                throw new IllegalArgumentException("consumedBytes " + consumedBytes + " is outside "
                        + ConvertMessage.HEADER_LENGTH + ".." + ConvertMessage.MAX_LENGTH);
            }
        }
    }
}
