package net.hybridproxy.engine.convert;

import java.nio.ByteBuffer;

/** Sizes and small byte helpers shared by the Convert codec. */
final class Wire {

    /** RFC 8803 §6.1: "All Convert messages start with a fixed header that is 32 bits long". */
    static final int HEADER_BYTES = 4;

    /**
     * RFC 8803 §6.1: "Since Total Length is also an 8-bit unsigned integer, those messages cannot
     * consume more than 1020 bytes of data."
     */
    static final int MAX_MESSAGE_BYTES = 255 * 4;

    /** The largest TLV that fits in a message next to the fixed header. */
    static final int MAX_TLV_BYTES = MAX_MESSAGE_BYTES - HEADER_BYTES;

    private Wire() {
    }

    /** Rounds up to the next multiple of four: every TLV ends on a 32-bit boundary. */
    static int align4(int n) {
        return (n + 3) & ~3;
    }

    static int u8(byte[] b, int i) {
        return b[i] & 0xFF;
    }

    static int u16(byte[] b, int i) {
        return ((b[i] & 0xFF) << 8) | (b[i + 1] & 0xFF);
    }

    /**
     * Writes Type and Length for a TLV of {@code tlvBytes} bytes (a multiple of four).
     * RFC 8803 §6.2.1: "The Length field covers Type, Length, and Value fields. It is expressed in
     * units of 32-bit words."
     */
    static void putTlvHeader(ByteBuffer out, int type, int tlvBytes) {
        out.put((byte) type);
        out.put((byte) (tlvBytes / 4));
    }

    /** RFC 8803 §6.2.1: "If necessary, Value MUST be padded with zeroes". */
    static void putZeros(ByteBuffer out, int count) {
        for (int i = 0; i < count; i++) {
            out.put((byte) 0);
        }
    }

    static boolean allZero(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] != 0) {
                return false;
            }
        }
        return true;
    }

    static void checkCapacity(String what, int length, int max) {
        if (length > max) {
            throw new IllegalArgumentException(what + " is " + length + " bytes; at most " + max
                    + " fit in a Convert message (" + MAX_MESSAGE_BYTES + " bytes including the header)");
        }
    }

    static String hex(byte[] b) {
        return java.util.HexFormat.of().formatHex(b);
    }
}
