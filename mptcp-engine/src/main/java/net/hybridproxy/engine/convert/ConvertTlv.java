package net.hybridproxy.engine.convert;

import java.nio.ByteBuffer;

/**
 * One RFC 8803 Convert TLV (RFC 8803 §6.2).
 *
 * <p>RFC 8803 §6.2.1: "The length of all TLVs used by the Convert Protocol is always a multiple of
 * four bytes. All TLVs are aligned on 32-bit boundaries. All TLV fields are encoded using the
 * network byte order." Each implementation keeps its parsing, serialisation and encoded length in
 * one file.
 */
public sealed interface ConvertTlv
        permits InfoTlv, ConnectTlv, ExtendedTcpHeaderTlv, SupportedTcpExtensionsTlv, CookieTlv, ErrorTlv {

    /** The IANA "Convert TLVs" type code. */
    int type();

    /** The number of bytes {@link #encodeTo} writes: Type, Length, Value and padding. */
    int encodedLength();

    /**
     * Writes this TLV, padding included, at the buffer's position.
     *
     * @throws java.nio.BufferOverflowException if fewer than {@link #encodedLength()} bytes remain
     */
    void encodeTo(ByteBuffer out);
}
