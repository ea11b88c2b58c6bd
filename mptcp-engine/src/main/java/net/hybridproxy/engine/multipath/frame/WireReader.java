package net.hybridproxy.engine.multipath.frame;

/**
 * Reads big-endian fields from a frame body, checking every read against the body's end.
 * Reading past the end is a {@link FrameException}, never an index exception.
 */
final class WireReader {

    private final byte[] bytes;
    private final int end;
    private final String frame;
    private int position;

    WireReader(byte[] bytes, int offset, int length, String frame) {
        this.bytes = bytes;
        this.position = offset;
        this.end = offset + length;
        this.frame = frame;
    }

    private void need(int count, String field) throws FrameException {
        if (end - position < count) {
            throw new FrameException(frame + " body ends before its " + field + " (" + count + " bytes needed, "
                    + (end - position) + " left)");
        }
    }

    int u8(String field) throws FrameException {
        need(1, field);
        return bytes[position++] & 0xFF;
    }

    int u16(String field) throws FrameException {
        need(2, field);
        int v = ((bytes[position] & 0xFF) << 8) | (bytes[position + 1] & 0xFF);
        position += 2;
        return v;
    }

    long u32(String field) throws FrameException {
        return unsigned(4, field);
    }

    long u64(String field) throws FrameException {
        return unsigned(8, field);
    }

    /** A big-endian number of {@code count} bytes (a u64 comes back as its two's-complement long). */
    private long unsigned(int count, String field) throws FrameException {
        need(count, field);
        long v = 0;
        for (int i = 0; i < count; i++) {
            v = (v << 8) | (bytes[position + i] & 0xFF);
        }
        position += count;
        return v;
    }

    byte[] bytes(int count, String field) throws FrameException {
        need(count, field);
        byte[] out = new byte[count];
        System.arraycopy(bytes, position, out, 0, count);
        position += count;
        return out;
    }

    int remaining() {
        return end - position;
    }

    /** Every body has an exact layout: bytes left over mean the sender and receiver disagree. */
    void expectEnd() throws FrameException {
        if (position != end) {
            throw new FrameException(frame + " body has " + (end - position) + " bytes after its last field");
        }
    }
}
