package net.hybridproxy.engine.multipath.frame;

import java.nio.ByteBuffer;
import java.util.Arrays;
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
    /** Payload bytes of the DATA frame being read already handed on as pieces ({@link #takeArrivedPayload}). */
    private int handedOut;
    /** When a read first ended inside the large DATA frame being read ({@link #notePartialPayload}), or MIN_VALUE. */
    private long partialSince = Long.MIN_VALUE;
    /** Whether the session was told, by a timer, that the frame being read is overdue (one timer per frame). */
    private boolean overdueAnnounced;

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
        int before = handedOut;
        payload = null;
        payloadLength = 0;
        pendingLength = 0;
        expectedLength = -1;
        handedOut = 0;
        partialSince = Long.MIN_VALUE;
        overdueAnnounced = false;
        if (before == 0) {
            return FrameCodec.parseData(pending[1] & 0xFF, pending, Frame.HEADER_LENGTH, body);
        }
        // Its first bytes went on as pieces: the frame's rest, with the DATA_FIN if the frame carries one.
        return payloadFrom(before, Arrays.copyOfRange(body, before, body.length), true);
    }

    /**
     * The header being read with {@code bytes} as its payload, which starts {@code offset} bytes into the frame's:
     * the mapping moves by that offset. The DATA_FIN stays only if {@code withFin} (it goes with the frame's last
     * byte).
     */
    private Data payloadFrom(int offset, byte[] bytes, boolean withFin) throws FrameException {
        Data whole = FrameCodec.parseData(pending[1] & 0xFF, pending, Frame.HEADER_LENGTH, bytes);
        return new Data(whole.streamId(), whole.dsn() + offset, withFin && whole.fin(), bytes, whole.pinned());
    }

    /**
     * Version 3: whether a large DATA frame (a payload above version 2's {@link Data#MAX_PAYLOAD}) is being read.
     * Only such frames are handed on in pieces; a version 2 sized frame is always handed on whole, as before.
     */
    private boolean readingLargePayload() {
        return payload != null && payload.length > Data.MAX_PAYLOAD;
    }

    /**
     * Notes that a read ended at {@code now} inside the payload of a large DATA frame: the first such read starts the
     * clock of {@link #partialPayloadSince()}. Called by the session after each read that returned no more frames.
     */
    public void notePartialPayload(long now) {
        if (readingLargePayload() && partialSince == Long.MIN_VALUE) {
            partialSince = now;
        }
    }

    /**
     * When the large DATA frame being read was first seen incomplete ({@link #notePartialPayload}), or
     * {@code Long.MIN_VALUE} when no such frame is being read.
     */
    public long partialPayloadSince() {
        return readingLargePayload() ? partialSince : Long.MIN_VALUE;
    }

    /** Whether the overdue moment of the frame being read was announced already (see {@link #announceOverdue}). */
    public boolean overdueAnnounced() {
        return overdueAnnounced;
    }

    /** Records that the session's timer for the frame being read fired: the next frame gets a timer of its own. */
    public void announceOverdue() {
        overdueAnnounced = true;
    }

    /** The stream of the large DATA frame being read; only while {@link #partialPayloadSince()} is set. */
    public long partialDataStream() {
        return ByteBuffer.wrap(pending, Frame.HEADER_LENGTH, 4).getInt() & 0xFFFF_FFFFL;
    }

    /**
     * The data sequence number of the large DATA frame's first byte not yet handed on; only while
     * {@link #partialPayloadSince()} is set.
     */
    public long partialDataDsn() {
        return ByteBuffer.wrap(pending, Frame.HEADER_LENGTH + 4, 8).getLong() + handedOut;
    }

    /**
     * The payload bytes of the large DATA frame being read that arrived and were not handed on yet, as a DATA frame
     * of their own (its mapping: the frame's DSN plus their offset; no DATA_FIN, which goes with the frame's last
     * byte), or null when there are none. The frame's rest comes out of {@link #read} when it is complete. Copies
     * those bytes once more: this is for a frame that arrives far slower than it was sized for (its path's rate fell),
     * where the receiver would otherwise use none of its bytes before its last.
     */
    public Data takeArrivedPayload() throws FrameException {
        if (!readingLargePayload() || payloadLength <= handedOut) {
            return null;
        }
        Data arrived = payloadFrom(handedOut, Arrays.copyOfRange(payload, handedOut, payloadLength), false);
        handedOut = payloadLength;
        return arrived;
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
