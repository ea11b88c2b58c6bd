package net.hybridproxy.engine.convert;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * One Convert message: the fixed header and the TLVs after it (RFC 8803 §6).
 *
 * <pre>
 *  0                   1                   2                   3
 * +---------------+---------------+-------------------------------+
 * |  Version      |  Total Length |          Magic Number         |
 * +---------------+---------------+-------------------------------+
 * </pre>
 *
 * <p>A message may carry no TLV at all. RFC 8803 §6 says messages start with the header
 * "followed by one or more Convert TLVs", but §6.1 also says "The Client and the Transport
 * Converter MUST send the fixed-sized header, shown in Figure 13, as the first four bytes of the
 * bytestream", and Figure 5 shows the Converter's SYN+ACK to a Base Connect as "SYN+ACK [ ]": a
 * successful reply with nothing to report is a bare header. Whether a message may be empty in a
 * given role is left to {@link ConvertRules}.
 *
 * <p>A message never holds two TLVs of one type (RFC 8803 §6.2.1: "A given TLV MUST only appear
 * once on a connection") and never exceeds {@value #MAX_LENGTH} bytes, so every instance can be
 * encoded.
 *
 * @param tlvs the TLVs in wire order
 */
public record ConvertMessage(List<ConvertTlv> tlvs) {

    /** RFC 8803 §6.1: "This document specifies version 1." */
    public static final int VERSION = 1;

    /** RFC 8803 §6.1: "The Magic Number field MUST be set to 0x2263." */
    private static final int MAGIC_NUMBER = 0x2263;

    /** The fixed header's size in bytes. */
    public static final int HEADER_LENGTH = Wire.HEADER_BYTES;

    /** The largest message, header included: Total Length counts at most 255 words. */
    public static final int MAX_LENGTH = Wire.MAX_MESSAGE_BYTES;

    public ConvertMessage {
        tlvs = List.copyOf(tlvs);
        boolean[] seen = new boolean[256];
        int length = HEADER_LENGTH;
        for (ConvertTlv tlv : tlvs) {
            if (seen[tlv.type()]) {
                throw new IllegalArgumentException("two TLVs of type " + tlv.type()
                        + "; RFC 8803 §6.2.1 allows a given TLV only once");
            }
            seen[tlv.type()] = true;
            length += tlv.encodedLength();
        }
        if (length > MAX_LENGTH) {
            throw new IllegalArgumentException("Convert message would be " + length
                    + " bytes; Total Length allows at most " + MAX_LENGTH);
        }
    }

    /** A message of the given TLVs, in order. */
    public static ConvertMessage of(ConvertTlv... tlvs) {
        return new ConvertMessage(Arrays.asList(tlvs));
    }

    /** A Client's request to reach {@code destination}, with the Cookie TLV if one is given. */
    public static ConvertMessage connect(InetSocketAddress destination, Optional<CookieTlv> cookie) {
        List<ConvertTlv> tlvs = new ArrayList<>(2);
        tlvs.add(new ConnectTlv(destination));
        cookie.ifPresent(tlvs::add);
        return new ConvertMessage(tlvs);
    }

    /** A Converter's refusal carrying {@link ErrorTlv#of(ConvertErrorCode)}. */
    public static ConvertMessage error(ConvertErrorCode code) {
        return of(ErrorTlv.of(code));
    }

    /** The bytes on the wire, header included. */
    public int encodedLength() {
        int length = HEADER_LENGTH;
        for (ConvertTlv tlv : tlvs) {
            length += tlv.encodedLength();
        }
        return length;
    }

    /** The message as it goes on the wire. */
    public byte[] encode() {
        ByteBuffer out = ByteBuffer.allocate(encodedLength());
        encodeTo(out);
        return out.array();
    }

    /**
     * Writes the message at the buffer's position.
     *
     * @throws java.nio.BufferOverflowException if fewer than {@link #encodedLength()} bytes remain
     */
    public void encodeTo(ByteBuffer out) {
        int length = encodedLength();
        out.put((byte) VERSION);
        // RFC 8803 §6.1: "The Total Length is the number of 32-bit words, including the header,
        // of the bytestream that are consumed by the Convert messages."
        out.put((byte) (length / 4));
        out.putShort((short) MAGIC_NUMBER);
        for (ConvertTlv tlv : tlvs) {
            tlv.encodeTo(out);
        }
    }

    /** The TLV of the given kind, if present. */
    public <T extends ConvertTlv> Optional<T> find(Class<T> kind) {
        for (ConvertTlv tlv : tlvs) {
            if (kind.isInstance(tlv)) {
                return Optional.of(kind.cast(tlv));
            }
        }
        return Optional.empty();
    }

    public Optional<ConnectTlv> connectTlv() {
        return find(ConnectTlv.class);
    }

    public Optional<CookieTlv> cookieTlv() {
        return find(CookieTlv.class);
    }

    public Optional<ErrorTlv> errorTlv() {
        return find(ErrorTlv.class);
    }

    public Optional<InfoTlv> infoTlv() {
        return find(InfoTlv.class);
    }

    public Optional<ExtendedTcpHeaderTlv> extendedTcpHeaderTlv() {
        return find(ExtendedTcpHeaderTlv.class);
    }

    public Optional<SupportedTcpExtensionsTlv> supportedTcpExtensionsTlv() {
        return find(SupportedTcpExtensionsTlv.class);
    }
}
