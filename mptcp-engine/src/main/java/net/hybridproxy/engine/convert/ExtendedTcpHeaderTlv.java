package net.hybridproxy.engine.convert;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The Extended TCP Header TLV (RFC 8803 §6.2.6): the Converter returns to the Client the TCP
 * options the Server put in its SYN+ACK.
 *
 * <pre>
 *  0                   1                   2                   3
 * +---------------+---------------+-------------------------------+
 * |     Type=0x14 |     Length    |           Unassigned          |
 * +---------------+---------------+-------------------------------+
 * /               Returned Extended TCP header                    /
 * +---------------------------------------------------------------+
 * </pre>
 *
 * <p>RFC 8803 §6.2.6: "The Returned Extended TCP header field is a copy of the TCP Options that
 * were included in the SYN+ACK received by the Transport Converter." TCP options in a segment
 * always fill whole 32-bit words, so such a copy needs no padding; a decoded copy holds every byte
 * up to the end of the TLV, and only a copy whose length is a multiple of four decodes to an equal
 * record.
 *
 * @param tcpOptions the raw TCP option bytes from the Server's SYN+ACK (copied in and out)
 */
public record ExtendedTcpHeaderTlv(byte[] tcpOptions) implements ConvertTlv {

    public static final int TYPE = 20;

    private static final int FIXED_BYTES = 4;

    /** The longest option block that fits in a Convert message. */
    public static final int MAX_OPTIONS_BYTES = Wire.MAX_TLV_BYTES - FIXED_BYTES;

    public ExtendedTcpHeaderTlv {
        tcpOptions = tcpOptions.clone();
        Wire.checkCapacity("Returned Extended TCP header", tcpOptions.length, MAX_OPTIONS_BYTES);
    }

    @Override
    public byte[] tcpOptions() {
        return tcpOptions.clone();
    }

    @Override
    public int type() {
        return TYPE;
    }

    @Override
    public int encodedLength() {
        return FIXED_BYTES + Wire.align4(tcpOptions.length);
    }

    @Override
    public void encodeTo(ByteBuffer out) {
        int length = encodedLength();
        Wire.putTlvHeader(out, TYPE, length);
        // RFC 8803 §6.2.6: "The Unassigned field MUST be set to zero by the sender and ignored by
        // the receiver."
        Wire.putZeros(out, 2);
        out.put(tcpOptions);
        Wire.putZeros(out, length - FIXED_BYTES - tcpOptions.length);
    }

    /** Parses the bytes after Type and Length; the Unassigned field is ignored (§6.2.6). */
    static ExtendedTcpHeaderTlv parse(byte[] message, int valueOffset, int valueLength) {
        return new ExtendedTcpHeaderTlv(Arrays.copyOfRange(message, valueOffset + 2, valueOffset + valueLength));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ExtendedTcpHeaderTlv other && Arrays.equals(tcpOptions, other.tcpOptions);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(tcpOptions);
    }

    @Override
    public String toString() {
        return "ExtendedTcpHeaderTlv[" + Wire.hex(tcpOptions) + "]";
    }
}
