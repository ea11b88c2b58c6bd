package net.hybridproxy.engine.convert;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Optional;

/**
 * The Error TLV (RFC 8803 §6.2.8): the Converter reports why it refused or ended a connection.
 *
 * <pre>
 *  0                   1                   2                   3
 * +---------------+---------------+----------------+--------------+
 * |     Type=0x1E |     Length    |    Error Code  |  Value       |
 * +---------------+---------------+----------------+--------------+
 * //              ...   (optional) Value                         //
 * +---------------------------------------------------------------+
 * </pre>
 *
 * <p>The Value runs from the byte after the Error Code to the end of the TLV; its meaning depends
 * on the code, and the codec cannot tell trailing padding from Value bytes. A decoded Value thus
 * holds the padding too: a record whose {@code 3 + value.length} is a multiple of four decodes to
 * an equal record, any other decodes with its zero padding attached.
 *
 * @param code  the Error Code byte, 0..255 (unassigned values are kept, see {@link #errorCode()})
 * @param value the Value bytes (copied in and out)
 */
public record ErrorTlv(int code, byte[] value) implements ConvertTlv {

    public static final int TYPE = 30;

    private static final int FIXED_BYTES = 3;

    /** The longest Value that fits in a Convert message. */
    static final int MAX_VALUE_BYTES = Wire.MAX_TLV_BYTES - FIXED_BYTES;

    /** The longest message echo that fits after the Error Code and its zero byte. */
    private static final int MAX_ECHO_BYTES = MAX_VALUE_BYTES - 1;

    public ErrorTlv {
        if (code < 0 || code > 255) {
            throw new IllegalArgumentException("Error Code " + code + " does not fit the 8-bit field");
        }
        value = value.clone();
        Wire.checkCapacity("Error TLV Value", value.length, MAX_VALUE_BYTES);
    }

    /**
     * The Error TLV a Converter sends for {@code code} when it has nothing more specific to say:
     * one Value byte, so the TLV fills exactly one 32-bit word.
     *
     * <p>For Unsupported Version that byte is the version this codec speaks, RFC 8803 §6.2.8: "The
     * Value field MUST be set to the version supported by the peer." For every other code it is
     * zero, as the RFC asks for Not Authorized and Connection Reset ("The Value field MUST be set
     * to zero"), and as it allows for Resource Exceeded and Network Failure ("A Value of zero
     * corresponds to a default delay of at least 30 seconds").
     */
    public static ErrorTlv of(ConvertErrorCode code) {
        byte first = code == ConvertErrorCode.UNSUPPORTED_VERSION ? (byte) ConvertMessage.VERSION : 0;
        return new ErrorTlv(code.code(), new byte[] {first});
    }

    /**
     * An Error TLV that echoes the message that triggered it, truncated to what fits.
     *
     * <p>RFC 8803 §6.2.8 (Malformed Message): "To ease troubleshooting, the Value field MUST echo
     * the received message using the format depicted in Figure 23." Figure 23 puts one byte of
     * zeros after the Error Code, then the echoed message, which keeps its 32-bit alignment.
     */
    public static ErrorTlv echoing(ConvertErrorCode code, byte[] receivedMessage) {
        int echoed = Math.min(receivedMessage.length, MAX_ECHO_BYTES);
        byte[] value = new byte[1 + echoed];
        System.arraycopy(receivedMessage, 0, value, 1, echoed);
        return new ErrorTlv(code.code(), value);
    }

    /** The code as an RFC 8803 error, or empty for an unassigned or private-use value. */
    public Optional<ConvertErrorCode> errorCode() {
        return ConvertErrorCode.fromCode(code);
    }

    @Override
    public byte[] value() {
        return value.clone();
    }

    @Override
    public int type() {
        return TYPE;
    }

    @Override
    public int encodedLength() {
        return Wire.align4(FIXED_BYTES + value.length);
    }

    @Override
    public void encodeTo(ByteBuffer out) {
        int length = encodedLength();
        Wire.putTlvHeader(out, TYPE, length);
        out.put((byte) code);
        out.put(value);
        Wire.putZeros(out, length - FIXED_BYTES - value.length);
    }

    /** Parses the bytes after Type and Length. */
    static ErrorTlv parse(byte[] message, int valueOffset, int valueLength) {
        return new ErrorTlv(Wire.u8(message, valueOffset),
                Arrays.copyOfRange(message, valueOffset + 1, valueOffset + valueLength));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ErrorTlv other && code == other.code && Arrays.equals(value, other.value);
    }

    @Override
    public int hashCode() {
        return 31 * code + Arrays.hashCode(value);
    }

    @Override
    public String toString() {
        String name = errorCode().map(ConvertErrorCode::toString).orElse("unassigned code " + code);
        return "ErrorTlv[" + name + ", value=" + Wire.hex(value) + "]";
    }
}
