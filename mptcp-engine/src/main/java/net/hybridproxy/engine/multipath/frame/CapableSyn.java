package net.hybridproxy.engine.multipath.frame;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * The first frame of a session, sent by the cpe on its first subflow: the MP_CAPABLE SYN of
 * RFC 8684 §3.1, plus the id of the pre-shared key the cpe will prove in {@link CapableAck}.
 *
 * <pre>
 * Magic (4) = "HPMP" | Version (1) | Priority (1) | Key-A (8) | Key Id Length (1) | Key Id (1..64)
 * </pre>
 *
 * <p>RFC 8684 §3.1 (paraphrased): The SYN with MP_CAPABLE ... [contains] the 64-bit key that the sender has
 * generated for this MPTCP connection. The magic lets a concentrator refuse a connection that is
 * not speaking this protocol at all (a port scan, a misdirected client) on its first four bytes.
 *
 * @param version  the protocol version the cpe speaks
 * @param priority how the concentrator should use this subflow
 * @param key      Key-A, the cpe's 64-bit session key
 * @param keyId    the id of the cpe's pre-shared key, 1..64 visible ASCII characters
 */
public record CapableSyn(int version, SubflowPriority priority, long key, String keyId) implements Frame {

    /** "HPMP": the first four bytes of the first frame on every subflow. */
    public static final int MAGIC = 0x48504D50;

    /**
     * Version 2: what a cpe offers unless told to offer {@link #VERSION_LARGE_FRAMES}, and the oldest version a
     * concentrator accepts.
     */
    public static final int VERSION = 2;

    /**
     * Version 3: version 2 with DATA payloads of up to {@link Data#MAX_PAYLOAD_V3} bytes; the highest this
     * implementation speaks. A concentrator answers a CAPABLE_SYN with the lower of the cpe's version and this.
     */
    public static final int VERSION_LARGE_FRAMES = 3;

    public static final int MAX_KEY_ID_LENGTH = 64;

    public CapableSyn {
        Frame.checkU8("version", version);
        Objects.requireNonNull(priority, "priority");
        Objects.requireNonNull(keyId, "keyId");
        String problem = keyIdProblem(keyId);
        if (problem != null) {
            throw new IllegalArgumentException("key id " + problem);
        }
    }

    /** Why {@code id} cannot be a key id on the wire, or null if it can. */
    static String keyIdProblem(String id) {
        if (id.isEmpty() || id.length() > MAX_KEY_ID_LENGTH) {
            return "must be 1.." + MAX_KEY_ID_LENGTH + " characters, not " + id.length();
        }
        for (int i = 0; i < id.length(); i++) {
            char c = id.charAt(i);
            if (c < 0x21 || c > 0x7E) {
                return "character " + i + " is not visible ASCII";
            }
        }
        return null;
    }

    @Override
    public int type() {
        return FrameType.CAPABLE_SYN;
    }

    @Override
    public int bodyLength() {
        return 4 + 1 + 1 + 8 + 1 + keyId.length();
    }

    @Override
    public void encodeBody(ByteBuffer out) {
        out.putInt(MAGIC).put((byte) version).put((byte) priority.code()).putLong(key);
        out.put((byte) keyId.length()).put(keyId.getBytes(StandardCharsets.US_ASCII));
    }

    static CapableSyn parse(WireReader in) throws FrameException {
        checkMagic(in, "CAPABLE_SYN");
        int version = in.u8("version");
        SubflowPriority priority = SubflowPriority.fromCode(in.u8("priority"), "CAPABLE_SYN");
        long key = in.u64("key");
        int idLength = in.u8("key id length");
        String id = new String(in.bytes(idLength, "key id"), StandardCharsets.US_ASCII);
        in.expectEnd();
        String problem = keyIdProblem(id);
        if (problem != null) {
            throw new FrameException("CAPABLE_SYN key id " + problem);
        }
        return new CapableSyn(version, priority, key, id);
    }

    static void checkMagic(WireReader in, String frame) throws FrameException {
        long magic = in.u32("magic");
        if (magic != MAGIC) {
            throw new FrameException(frame + " magic is 0x" + Long.toHexString(magic) + ", not 0x"
                    + Integer.toHexString(MAGIC) + " (\"HPMP\"): the peer does not speak this protocol");
        }
    }
}
