package net.hybridproxy.engine.multipath.frame;

import java.nio.ByteBuffer;

/**
 * One frame of the in-band multipath protocol (docs/userspace-protocol.md).
 *
 * <p>Every frame is a four-byte header followed by a body:
 * <pre>
 *  0               1               2               3
 * +---------------+---------------+-------------------------------+
 * |     Type      |     Flags     |          Body Length          |
 * +---------------+---------------+-------------------------------+
 * |                        Body (Body Length bytes)               /
 * +---------------------------------------------------------------+
 * </pre>
 * Each record keeps its parse, its encoding and its encoded length together. Instances are
 * immutable and always encodable: constructors refuse values that have no wire form.
 */
public sealed interface Frame permits CapableSyn, CapableSynAck, CapableAck, JoinSyn, JoinSynAck, JoinAck,
        SubflowReset, Data, DataAck, FastClose, AddAddr, RemoveAddr, MpPrio, Ping, Pong {

    /** Type, Flags and Body Length. */
    int HEADER_LENGTH = 4;

    /** The largest body any frame of version 2 may have: a full {@link Data} frame. */
    int MAX_BODY_LENGTH = Data.FIXED_BODY_LENGTH + Data.MAX_PAYLOAD;

    /** The largest frame of version 2, header included: what a receiver accepts until it knows the version. */
    int MAX_FRAME_LENGTH = HEADER_LENGTH + MAX_BODY_LENGTH;

    /** The largest frame of version 3 (a DATA frame with {@link Data#MAX_PAYLOAD_V3}): 64 KiB. */
    int MAX_FRAME_LENGTH_V3 = HEADER_LENGTH + Data.FIXED_BODY_LENGTH + Data.MAX_PAYLOAD_V3;

    /** The Type byte. */
    int type();

    /** The Flags byte; bits a frame does not define are sent as zero. */
    default int flags() {
        return 0;
    }

    /** The Body Length: bytes after the header. */
    int bodyLength();

    /** Writes the body (not the header) at {@code out}'s position. */
    void encodeBody(ByteBuffer out);

    /** Bytes on the wire, header included. */
    default int encodedLength() {
        return HEADER_LENGTH + bodyLength();
    }

    /**
     * Writes the whole frame at {@code out}'s position.
     *
     * @throws java.nio.BufferOverflowException if fewer than {@link #encodedLength()} bytes remain
     */
    default void encodeTo(ByteBuffer out) {
        if (out.remaining() < encodedLength()) {
            throw new java.nio.BufferOverflowException();
        }
        out.put((byte) type());
        out.put((byte) flags());
        out.putShort((short) bodyLength());
        encodeBody(out);
    }

    /** The frame as it goes on the wire. */
    default byte[] encode() {
        ByteBuffer out = ByteBuffer.allocate(encodedLength());
        encodeTo(out);
        return out.array();
    }

    /** Checks that an unsigned 32-bit field holds {@code value}. */
    static long checkU32(String field, long value) {
        if (value < 0 || value > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException(field + " " + value + " is outside 0..2^32-1");
        }
        return value;
    }

    /** Checks that an unsigned 8-bit field holds {@code value}. */
    static int checkU8(String field, int value) {
        if (value < 0 || value > 0xFF) {
            throw new IllegalArgumentException(field + " " + value + " is outside 0..255");
        }
        return value;
    }

    /** Checks that a byte-array field has exactly {@code length} bytes and copies it. */
    static byte[] checkLength(String field, byte[] value, int length) {
        if (value.length != length) {
            throw new IllegalArgumentException(field + " must be " + length + " bytes, not " + value.length);
        }
        return value.clone();
    }
}
