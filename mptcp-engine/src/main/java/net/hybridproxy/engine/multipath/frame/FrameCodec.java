package net.hybridproxy.engine.multipath.frame;

import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * Decodes frames from whatever part of a subflow's byte stream has arrived.
 *
 * <p>Any input yields a {@link FrameDecodeResult} or a {@link FrameException}; no other exception
 * escapes for any byte content. The header alone decides whether a frame can ever be valid (known
 * type, body length within that type's bound), so a peer cannot make the receiver wait for, or
 * buffer, more than {@link Frame#MAX_FRAME_LENGTH} bytes ({@link Frame#MAX_FRAME_LENGTH_V3} on a subflow of a
 * version 3 session, whose reader was told so).
 */
public final class FrameCodec {

    private FrameCodec() {
    }

    /**
     * The largest body a frame of {@code type} can have, or -1 if version 1 has no such type.
     * Exact for fixed-size frames, an upper bound for the others.
     */
    static int maxBodyLength(int type) {
        return switch (type) {
            case FrameType.CAPABLE_SYN -> 4 + 1 + 1 + 8 + 1 + CapableSyn.MAX_KEY_ID_LENGTH;
            case FrameType.CAPABLE_SYNACK -> 1 + 8 + CapableSynAck.PROOF_LENGTH;
            case FrameType.CAPABLE_ACK -> 16 + CapableAck.PROOF_LENGTH;
            case FrameType.JOIN_SYN -> 15;
            case FrameType.JOIN_SYNACK -> 13;
            case FrameType.JOIN_ACK -> JoinAck.HMAC_LENGTH;
            case FrameType.SUBFLOW_RESET, FrameType.MP_PRIO -> 1;
            case FrameType.DATA -> Frame.MAX_BODY_LENGTH;
            case FrameType.DATA_ACK -> 16;
            case FrameType.FAST_CLOSE -> 13;
            case FrameType.ADD_ADDR -> 1 + 1 + 16 + 2 + 8;
            case FrameType.REMOVE_ADDR -> RemoveAddr.MAX_IDS;
            case FrameType.PING, FrameType.PONG -> 8;
            default -> -1;
        };
    }

    /** The largest body of any frame type but DATA: what a frame reader buffers besides a DATA payload. */
    static int maxBodyLengthBesidesData() {
        int max = 0;
        for (int type = 0; type < 256; type++) {
            if (type != FrameType.DATA) {
                max = Math.max(max, maxBodyLength(type));
            }
        }
        return max;
    }

    /**
     * Decodes the frame starting at {@code in}'s position without moving the position or limit, with version 2's
     * bound on a DATA payload.
     *
     * @throws FrameException if the bytes can never form a valid frame
     */
    public static FrameDecodeResult decode(ByteBuffer in) throws FrameException {
        return decode(in, Data.MAX_PAYLOAD);
    }

    /**
     * The same with {@code maxDataPayload} as the bound on a DATA payload ({@link Data#MAX_PAYLOAD} or
     * {@link Data#MAX_PAYLOAD_V3}).
     */
    public static FrameDecodeResult decode(ByteBuffer in, int maxDataPayload) throws FrameException {
        Objects.requireNonNull(in, "in");
        int readable = in.remaining();
        if (readable < Frame.HEADER_LENGTH) {
            if (readable >= 1) {
                checkType(in.get(in.position()) & 0xFF);
            }
            return new FrameDecodeResult.IncompleteFrame(Frame.HEADER_LENGTH);
        }
        int start = in.position();
        byte[] header = new byte[Frame.HEADER_LENGTH];
        in.get(start, header);
        int bodyLength = checkHeader(header, 0, maxDataPayload);
        int total = Frame.HEADER_LENGTH + bodyLength;
        if (readable < total) {
            return new FrameDecodeResult.IncompleteFrame(total);
        }
        byte[] body = new byte[bodyLength];
        in.get(start + Frame.HEADER_LENGTH, body);
        return new FrameDecodeResult.DecodedFrame(parseBody(header[0] & 0xFF, header[1] & 0xFF, body, 0, bodyLength),
                total);
    }

    /**
     * Checks a frame header at {@code offset} and returns its body length; a DATA frame's payload may have up to
     * {@code maxDataPayload} bytes (the subflow's session's version decides which).
     *
     * @throws FrameException for an unknown type or a body longer than the type allows
     */
    static int checkHeader(byte[] header, int offset, int maxDataPayload) throws FrameException {
        int type = header[offset] & 0xFF;
        int max = type == FrameType.DATA ? Data.FIXED_BODY_LENGTH + maxDataPayload : checkType(type);
        int bodyLength = ((header[offset + 2] & 0xFF) << 8) | (header[offset + 3] & 0xFF);
        if (bodyLength > max) {
            throw new FrameException("frame type 0x" + Integer.toHexString(type) + " claims a body of " + bodyLength
                    + " bytes; at most " + max + " are allowed");
        }
        return bodyLength;
    }

    private static int checkType(int type) throws FrameException {
        int max = maxBodyLength(type);
        if (max < 0) {
            throw new FrameException("unknown frame type 0x" + Integer.toHexString(type));
        }
        return max;
    }

    /** Parses a body whose header has passed {@link #checkHeader}. */
    static Frame parseBody(int type, int flags, byte[] bytes, int offset, int length) throws FrameException {
        try {
            return parseUnchecked(type, flags, new WireReader(bytes, offset, length, name(type)));
        } catch (FrameException e) {
            throw e;
        } catch (RuntimeException e) {
            // A bug here must look like a bad frame to the caller (closing one subflow), not
            // crash its event loop; the property tests check that this path is never taken.
            throw new FrameException("internal decoder failure on " + name(type) + ": " + e);
        }
    }

    /**
     * Parses a DATA frame whose header has passed {@link #checkHeader} from its fixed body at {@code offset} and its
     * payload, read into an array of its own ({@link FrameReader}); the same checks and frame as {@link #parseBody}.
     */
    static Data parseData(int flags, byte[] bytes, int offset, byte[] payload) throws FrameException {
        try {
            return Data.parse(flags, new WireReader(bytes, offset, Data.FIXED_BODY_LENGTH, "DATA"), payload);
        } catch (FrameException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new FrameException("internal decoder failure on DATA: " + e);
        }
    }

    private static Frame parseUnchecked(int type, int flags, WireReader in) throws FrameException {
        return switch (type) {
            case FrameType.CAPABLE_SYN -> CapableSyn.parse(in);
            case FrameType.CAPABLE_SYNACK -> CapableSynAck.parse(in);
            case FrameType.CAPABLE_ACK -> CapableAck.parse(in);
            case FrameType.JOIN_SYN -> JoinSyn.parse(in);
            case FrameType.JOIN_SYNACK -> JoinSynAck.parse(in);
            case FrameType.JOIN_ACK -> JoinAck.parse(in);
            case FrameType.SUBFLOW_RESET -> SubflowReset.parse(flags, in);
            case FrameType.DATA -> Data.parse(flags, in);
            case FrameType.DATA_ACK -> DataAck.parse(in);
            case FrameType.FAST_CLOSE -> FastClose.parse(in);
            case FrameType.ADD_ADDR -> AddAddr.parse(flags, in);
            case FrameType.REMOVE_ADDR -> RemoveAddr.parse(in);
            case FrameType.MP_PRIO -> MpPrio.parse(in);
            case FrameType.PING -> Ping.parse(in);
            case FrameType.PONG -> Pong.parse(in);
            default -> throw new FrameException("unknown frame type 0x" + Integer.toHexString(type));
        };
    }

    /** A frame type's name for messages. */
    public static String name(int type) {
        return switch (type) {
            case FrameType.CAPABLE_SYN -> "CAPABLE_SYN";
            case FrameType.CAPABLE_SYNACK -> "CAPABLE_SYNACK";
            case FrameType.CAPABLE_ACK -> "CAPABLE_ACK";
            case FrameType.JOIN_SYN -> "JOIN_SYN";
            case FrameType.JOIN_SYNACK -> "JOIN_SYNACK";
            case FrameType.JOIN_ACK -> "JOIN_ACK";
            case FrameType.SUBFLOW_RESET -> "SUBFLOW_RESET";
            case FrameType.DATA -> "DATA";
            case FrameType.DATA_ACK -> "DATA_ACK";
            case FrameType.FAST_CLOSE -> "FAST_CLOSE";
            case FrameType.ADD_ADDR -> "ADD_ADDR";
            case FrameType.REMOVE_ADDR -> "REMOVE_ADDR";
            case FrameType.MP_PRIO -> "MP_PRIO";
            case FrameType.PING -> "PING";
            case FrameType.PONG -> "PONG";
            default -> "type 0x" + Integer.toHexString(type);
        };
    }
}
