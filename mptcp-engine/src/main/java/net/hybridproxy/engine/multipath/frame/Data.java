package net.hybridproxy.engine.multipath.frame;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Stream bytes with their data sequence mapping: RFC 8684's DSS mapping and payload in one frame.
 * Flags bit 0 is F (DATA_FIN); bit 1 is P (pinned): the cpe carries this stream over one uplink only (a bypass rule
 * with action = proxy), and asks the concentrator to send the stream's bytes back only on subflows of the address
 * the flagged frame arrived from. Receivers that do not know P ignore it (unknown flags are ignored).
 *
 * <pre>
 * Stream ID (4) | Data Sequence Number (8) | Payload (Body Length - 12, at most 16384; 65520 in version 3)
 * </pre>
 *
 * <p>The payload's bound is the session's: version 2 allows {@link #MAX_PAYLOAD}, version 3 {@link #MAX_PAYLOAD_V3}
 * (docs/userspace-protocol.md §3). A record holds up to the larger; a receiver checks the smaller from the header
 * until its subflow belongs to a version 3 session ({@link FrameReader#acceptDataPayload}).
 *
 * <p>RFC 8684 §3.3.1 (paraphrased): The data sequence mapping specifies a mapping from the subflow sequence
 * space to the data sequence space. Here the frame boundary is the mapping: the payload's bytes
 * are data sequence numbers {@code dsn .. dsn+length-1} of the stream, wherever the frame sits in
 * the subflow's byte stream, so no subflow sequence number and no Data-Level Length are needed.
 *
 * <p>RFC 8684 §3.3.3 (paraphrased): The DATA_FIN flag ... indicates 'No more data will be sent' ... The
 * DATA_FIN is ... considered to occupy one octet of data sequence space: with F set, the FIN is
 * at {@code dsn + payload length}. A frame with F and no payload is a bare DATA_FIN.
 *
 * <p>Data sequence numbers are 64-bit and start at 0 on every stream; values at or above 2^63
 * are refused (a stream never carries 8 EiB), so that comparisons are plain signed arithmetic.
 *
 * <p>The payload array is not copied: the decoder gives every frame a fresh one, and a sender
 * must not change an array it handed over.
 *
 * @param streamId the stream, 1..2^32-1
 * @param dsn      the data sequence number of the first payload byte (or of the FIN)
 * @param fin      whether the DATA_FIN follows the payload
 * @param payload  up to {@link #MAX_PAYLOAD_V3} bytes (a version 2 session sends and accepts {@link #MAX_PAYLOAD})
 * @param pinned   P: the stream stays on the uplink it arrives over
 */
public record Data(long streamId, long dsn, boolean fin, byte[] payload, boolean pinned) implements Frame {

    /** Version 2's largest payload, and every receiver's until its subflow's session is known to speak version 3. */
    public static final int MAX_PAYLOAD = 16384;

    /**
     * Version 3's largest payload: a whole frame of 64 KiB (4 bytes of header, 12 of fixed body). A quarter of the
     * frames per byte, so a quarter of the receiver's wake-ups, DATA_ACKs and session passes at rates where each
     * frame wakes both ends (docs/decisions.md, "CPU per byte, eleventh pass").
     */
    public static final int MAX_PAYLOAD_V3 = 65_520;

    public static final int FIXED_BODY_LENGTH = 4 + 8;

    private static final int FLAG_FIN = 0x01;

    public static final int FLAG_PINNED = 0x02;

    public Data {
        Frame.checkU32("stream id", streamId);
        if (streamId == 0) {
            throw new IllegalArgumentException("stream id 0 names the session, not a stream");
        }
        if (payload.length > MAX_PAYLOAD_V3) {
            throw new IllegalArgumentException("payload of " + payload.length + " bytes exceeds " + MAX_PAYLOAD_V3);
        }
        if (payload.length == 0 && !fin) {
            throw new IllegalArgumentException("a DATA frame carries payload, a DATA_FIN, or both");
        }
        if (dsn < 0 || dsn > Long.MAX_VALUE - payload.length - 1) {
            throw new IllegalArgumentException("data sequence number " + Long.toUnsignedString(dsn)
                    + " plus the payload reaches 2^63");
        }
    }

    /** A frame of a stream that is not pinned. */
    public Data(long streamId, long dsn, boolean fin, byte[] payload) {
        this(streamId, dsn, fin, payload, false);
    }

    /** The data sequence number after this frame's payload and FIN. */
    public long end() {
        return dsn + payload.length + (fin ? 1 : 0);
    }

    @Override
    public int type() {
        return FrameType.DATA;
    }

    @Override
    public int flags() {
        return (fin ? FLAG_FIN : 0) | (pinned ? FLAG_PINNED : 0);
    }

    @Override
    public int bodyLength() {
        return FIXED_BODY_LENGTH + payload.length;
    }

    @Override
    public void encodeBody(ByteBuffer out) {
        out.putInt((int) streamId).putLong(dsn).put(payload);
    }

    /**
     * Writes a DATA frame's header and fixed body at {@code out}'s position, for a payload of {@code length} bytes
     * the caller writes right after: the sender's path, which copies its payload once, from its send buffer into
     * the frame, instead of into a {@link Data} first. The same bytes as {@link #encodeTo} of the same frame.
     */
    public static void encodeHeader(ByteBuffer out, long streamId, long dsn, boolean fin, boolean pinned,
                                    int length) {
        out.put((byte) FrameType.DATA);
        out.put((byte) ((fin ? FLAG_FIN : 0) | (pinned ? FLAG_PINNED : 0)));
        out.putShort((short) (FIXED_BODY_LENGTH + length));
        out.putInt((int) streamId).putLong(dsn);
    }

    static Data parse(int flags, WireReader in) throws FrameException {
        long streamId = in.u32("stream id");
        long dsn = in.u64("data sequence number");
        int length = in.remaining();
        check(flags, streamId, dsn, length);
        return new Data(streamId, dsn, (flags & FLAG_FIN) != 0, in.bytes(length, "payload"),
                (flags & FLAG_PINNED) != 0);
    }

    /** The same frame from its fixed body and a payload already read into an array of its own (not copied). */
    static Data parse(int flags, WireReader fixedBody, byte[] payload) throws FrameException {
        long streamId = fixedBody.u32("stream id");
        long dsn = fixedBody.u64("data sequence number");
        fixedBody.expectEnd();
        check(flags, streamId, dsn, payload.length);
        return new Data(streamId, dsn, (flags & FLAG_FIN) != 0, payload, (flags & FLAG_PINNED) != 0);
    }

    private static void check(int flags, long streamId, long dsn, int length) throws FrameException {
        if (streamId == 0) {
            throw new FrameException("DATA for stream 0");
        }
        if (length > MAX_PAYLOAD_V3) {
            throw new FrameException("DATA payload of " + length + " bytes exceeds " + MAX_PAYLOAD_V3);
        }
        if (length == 0 && (flags & FLAG_FIN) == 0) {
            throw new FrameException("DATA frame with neither payload nor DATA_FIN");
        }
        if (dsn < 0 || dsn > Long.MAX_VALUE - length - 1) {
            throw new FrameException("DATA sequence number " + Long.toUnsignedString(dsn) + " reaches 2^63");
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Data other && streamId == other.streamId && dsn == other.dsn && fin == other.fin
                && pinned == other.pinned && Arrays.equals(payload, other.payload);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(streamId * 31 + dsn) * 31 + Arrays.hashCode(payload);
    }

    @Override
    public String toString() {
        return "Data[stream=" + streamId + ", dsn=" + dsn + ", length=" + payload.length + (fin ? ", FIN" : "") + (pinned ? ", PINNED" : "") + "]";
    }
}
