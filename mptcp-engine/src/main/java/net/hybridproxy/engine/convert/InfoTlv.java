package net.hybridproxy.engine.convert;

import java.nio.ByteBuffer;

/**
 * The Info TLV (RFC 8803 §6.2.3): a Client asks which TCP extensions the Converter supports.
 *
 * <pre>
 *  0                   1                   2                   3
 * +---------------+---------------+-------------------------------+
 * |     Type=0x1  |     Length    |             Zero              |
 * +---------------+---------------+-------------------------------+
 * </pre>
 */
public record InfoTlv() implements ConvertTlv {

    public static final int TYPE = 1;

    private static final int ENCODED_LENGTH = 4;

    @Override
    public int type() {
        return TYPE;
    }

    @Override
    public int encodedLength() {
        return ENCODED_LENGTH;
    }

    @Override
    public void encodeTo(ByteBuffer out) {
        Wire.putTlvHeader(out, TYPE, ENCODED_LENGTH);
        Wire.putZeros(out, 2);
    }

    /**
     * Parses the bytes after Type and Length. The Zero field is not checked: the RFC gives no
     * rule for its receipt, and ignoring it is what the RFC asks for every other reserved field.
     */
    static InfoTlv parse(byte[] message, int valueOffset, int valueLength) throws ConvertProtocolException {
        // RFC 8803 §6.2.2, Table 1: "| 1 | 0x1 | 1 | Info TLV |" (Length column: 1).
        if (valueLength + 2 != ENCODED_LENGTH) {
            throw new ConvertProtocolException(ConvertErrorCode.MALFORMED_MESSAGE,
                    "Info TLV has Length " + (valueLength + 2) / 4 + "; RFC 8803 fixes it at 1");
        }
        return new InfoTlv();
    }
}
