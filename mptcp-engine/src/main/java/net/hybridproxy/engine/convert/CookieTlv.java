package net.hybridproxy.engine.convert;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The Cookie TLV (RFC 8803 §6.2.7): an opaque Cookie by which a Converter authorises a Client.
 *
 * <pre>
 *  0                   1                   2                   3
 * +---------------+---------------+-------------------------------+
 * |     Type=0x16 |     Length    |             Zero              |
 * +---------------+---------------+-------------------------------+
 * /                        Opaque  Cookie                         /
 * +---------------------------------------------------------------+
 * </pre>
 *
 * <p>The Cookie is opaque, so the codec cannot tell trailing padding from Cookie bytes: a decoded
 * Cookie holds everything up to the end of the TLV. A Cookie whose length is a multiple of four
 * therefore decodes to an equal record; any other length decodes with its zero padding attached.
 *
 * @param cookie the opaque Cookie bytes (copied on the way in and out)
 */
public record CookieTlv(byte[] cookie) implements ConvertTlv {

    public static final int TYPE = 22;

    private static final int FIXED_BYTES = 4;

    /** The longest Cookie that fits in a Convert message. */
    static final int MAX_COOKIE_BYTES = Wire.MAX_TLV_BYTES - FIXED_BYTES;

    public CookieTlv {
        cookie = cookie.clone();
        Wire.checkCapacity("Cookie", cookie.length, MAX_COOKIE_BYTES);
    }

    @Override
    public byte[] cookie() {
        return cookie.clone();
    }

    @Override
    public int type() {
        return TYPE;
    }

    @Override
    public int encodedLength() {
        return FIXED_BYTES + Wire.align4(cookie.length);
    }

    @Override
    public void encodeTo(ByteBuffer out) {
        int length = encodedLength();
        Wire.putTlvHeader(out, TYPE, length);
        Wire.putZeros(out, 2);
        out.put(cookie);
        Wire.putZeros(out, length - FIXED_BYTES - cookie.length);
    }

    /** Parses the bytes after Type and Length; the Zero field is ignored on receipt. */
    static CookieTlv parse(byte[] message, int valueOffset, int valueLength) {
        return new CookieTlv(Arrays.copyOfRange(message, valueOffset + 2, valueOffset + valueLength));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CookieTlv other && Arrays.equals(cookie, other.cookie);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(cookie);
    }

    @Override
    public String toString() {
        return "CookieTlv[" + cookie.length + " bytes]";
    }
}
