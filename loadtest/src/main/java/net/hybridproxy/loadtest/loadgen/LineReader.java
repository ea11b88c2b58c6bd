package net.hybridproxy.loadtest.loadgen;

import io.netty.buffer.ByteBuf;

import java.nio.charset.StandardCharsets;

/** Collects one ASCII control line ending in LF from a byte stream, bounded so a peer cannot make it grow. */
final class LineReader {
    static final int MAX_LINE = 256;

    private final StringBuilder line = new StringBuilder();

    /**
     * Consumes bytes from {@code in} up to and including a LF and returns the line without it, or null if no LF
     * has arrived yet (the bytes read so far are kept). Bytes after the LF stay in {@code in}.
     */
    String take(ByteBuf in) {
        while (in.isReadable()) {
            byte b = in.readByte();
            if (b == '\n') {
                String done = line.toString();
                line.setLength(0);
                return done;
            }
            if (line.length() >= MAX_LINE) {
                throw new IllegalArgumentException("control line longer than " + MAX_LINE + " bytes");
            }
            line.append((char) (b & 0xff));
        }
        return null;
    }

    static ByteBuf encode(ByteBuf target, String text) {
        return target.writeBytes((text + "\n").getBytes(StandardCharsets.US_ASCII));
    }
}
