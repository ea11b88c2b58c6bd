package net.hybridproxy.engine.convert;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The Supported TCP Extensions TLV (RFC 8803 §6.2.4): the Converter lists the TCP option Kinds
 * for which it provides a conversion service, in reply to an Info TLV.
 *
 * <pre>
 *  0                   1                   2                   3
 * +---------------+---------------+-------------------------------+
 * |     Type=0x15 |     Length    |           Unassigned          |
 * +---------------+---------------+-------------------------------+
 * |     Kind #1   |     Kind #2   |           ...                 |
 * +---------------+---------------+-------------------------------+
 * </pre>
 *
 * <p>Kind 0 cannot be listed: RFC 8803 §6.2.4 says "The list of Supported TCP Extensions is padded
 * with 0 to end on a 32-bit boundary", so a zero byte is padding. Which Kinds a Converter may
 * announce (§6.2.4, §7) is checked by {@link ConvertRules}, not here.
 *
 * @param kinds TCP option Kinds, each 1..255, in the order announced
 */
public record SupportedTcpExtensionsTlv(List<Integer> kinds) implements ConvertTlv {

    public static final int TYPE = 21;

    private static final int FIXED_BYTES = 4;

    /** The most Kinds that fit in a Convert message. */
    private static final int MAX_KINDS = Wire.MAX_TLV_BYTES - FIXED_BYTES;

    public SupportedTcpExtensionsTlv {
        kinds = List.copyOf(kinds);
        Wire.checkCapacity("Supported TCP Extensions list", kinds.size(), MAX_KINDS);
        for (int kind : kinds) {
            if (kind < 1 || kind > 255) {
                throw new IllegalArgumentException("TCP option Kind " + kind
                        + " cannot be announced: Kinds are 1..255 (0 is the padding byte)");
            }
        }
    }

    @Override
    public int type() {
        return TYPE;
    }

    @Override
    public int encodedLength() {
        return FIXED_BYTES + Wire.align4(kinds.size());
    }

    @Override
    public void encodeTo(ByteBuffer out) {
        int length = encodedLength();
        Wire.putTlvHeader(out, TYPE, length);
        // RFC 8803 §6.2.4: "The Unassigned field MUST be set to zero by the Transport Converter
        // and ignored by the Client."
        Wire.putZeros(out, 2);
        for (int kind : kinds) {
            out.put((byte) kind);
        }
        Wire.putZeros(out, length - FIXED_BYTES - kinds.size());
    }

    /** Parses the bytes after Type and Length. */
    static SupportedTcpExtensionsTlv parse(byte[] message, int valueOffset, int valueLength)
            throws ConvertProtocolException {
        int end = valueOffset + valueLength;
        List<Integer> kinds = new ArrayList<>();
        int i = valueOffset + 2;
        while (i < end && message[i] != 0) {
            kinds.add(Wire.u8(message, i));
            i++;
        }
        // RFC 8803 §6.2.4: "The list of Supported TCP Extensions is padded with 0 to end on a
        // 32-bit boundary." Anything after the first zero must be padding too.
        if (!Wire.allZero(message, i, end)) {
            throw new ConvertProtocolException(ConvertErrorCode.MALFORMED_MESSAGE,
                    "Supported TCP Extensions TLV has a non-zero Kind after its zero padding");
        }
        return new SupportedTcpExtensionsTlv(kinds);
    }
}
