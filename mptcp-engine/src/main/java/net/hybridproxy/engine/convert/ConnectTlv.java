package net.hybridproxy.engine.convert;

import java.io.ByteArrayOutputStream;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * The Connect TLV (RFC 8803 §6.2.5): the Client names the Server the Converter must connect to.
 *
 * <pre>
 *  0                   1                   2                   3
 * +---------------+---------------+-------------------------------+
 * |     Type=0xA  |     Length    |      Remote Peer Port         |
 * +---------------+---------------+-------------------------------+
 * |         Remote Peer IP Address (128 bits)                     |
 * |                                                               |
 * +---------------------------------------------------------------+
 * /                          TCP Options (Variable)               /
 * +---------------------------------------------------------------+
 * </pre>
 *
 * <p>The address is kept as a plain {@link InetAddress} with no host name and no scope, and an
 * IPv4 destination is always an {@link Inet4Address}: on the wire it travels IPv4-mapped
 * (RFC 8803 §6.2.5: "IPv4 addresses MUST be encoded using the IPv4-mapped IPv6 address format
 * defined in [RFC4291]"), and an IPv4-mapped address decodes back to IPv4.
 *
 * <p>{@code tcpOptions} is the TCP Options field without its padding: a sequence of complete
 * options, each Kind, Length (at least 2) and Value. EOL and NOP cannot be part of it (RFC 8803
 * §6.2.5: "option types 0 (EOL) and 1 (NOP) defined in [RFC0793] MUST NOT be placed inside the
 * TCP options field of the Connect TLV"); a zero byte is where the padding starts.
 *
 * @param address    the Remote Peer IP Address
 * @param port       the Remote Peer Port, 0..65535
 * @param tcpOptions the TCP options to request (empty for a Base Connect TLV), copied in and out
 */
public record ConnectTlv(InetAddress address, int port, byte[] tcpOptions) implements ConvertTlv {

    public static final int TYPE = 10;

    /**
     * RFC 8803 §6.2.5: "the Base Connect TLV has a length set to 5 (i.e., 20 bytes) and contains a
     * remote address and a remote port".
     */
    static final int BASE_BYTES = 20;

    /** The longest TCP Options field that fits in a Convert message. */
    public static final int MAX_OPTIONS_BYTES = Wire.MAX_TLV_BYTES - BASE_BYTES;

    private static final int EOL = 0;
    private static final int NOP = 1;

    public ConnectTlv {
        address = plain(Objects.requireNonNull(address, "address"));
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port " + port + " is outside 0..65535");
        }
        tcpOptions = tcpOptions.clone();
        Wire.checkCapacity("Connect TLV TCP Options", tcpOptions.length, MAX_OPTIONS_BYTES);
        String problem = optionListProblem(tcpOptions);
        if (problem != null) {
            throw new IllegalArgumentException("Connect TLV TCP Options: " + problem);
        }
    }

    /** A Base Connect TLV: address and port, no TCP options. */
    public ConnectTlv(InetSocketAddress destination) {
        this(requireResolved(destination).getAddress(), destination.getPort(), new byte[0]);
    }

    @Override
    public byte[] tcpOptions() {
        return tcpOptions.clone();
    }

    /** The destination this TLV names. */
    public InetSocketAddress destination() {
        return new InetSocketAddress(address, port);
    }

    /**
     * True for an Extended Connect TLV. RFC 8803 §6.2.5: "the Extended Connect TLV spans more
     * than 20 bytes and also includes the optional TCP Options field".
     */
    public boolean isExtended() {
        return tcpOptions.length > 0;
    }

    /** The Kind of every requested TCP option, in order. */
    public List<Integer> tcpOptionKinds() {
        List<Integer> kinds = new ArrayList<>();
        for (int i = 0; i < tcpOptions.length; i += tcpOptions[i + 1] & 0xFF) {
            kinds.add(tcpOptions[i] & 0xFF);
        }
        return List.copyOf(kinds);
    }

    @Override
    public int type() {
        return TYPE;
    }

    @Override
    public int encodedLength() {
        return BASE_BYTES + Wire.align4(tcpOptions.length);
    }

    @Override
    public void encodeTo(ByteBuffer out) {
        int length = encodedLength();
        Wire.putTlvHeader(out, TYPE, length);
        out.putShort((short) port);
        out.put(wireAddress(address));
        out.put(tcpOptions);
        // RFC 8803 §6.2.5: "The TCP options field always ends on a 32-bit boundary after being
        // padded with zeros."
        Wire.putZeros(out, length - BASE_BYTES - tcpOptions.length);
    }

    /**
     * The 16 bytes of the Remote Peer IP Address field for {@code address}: an IPv6 address as
     * is, an IPv4 address IPv4-mapped (::ffff:a.b.c.d).
     */
    public static byte[] wireAddress(InetAddress address) {
        byte[] raw = address.getAddress();
        if (raw.length == 16) {
            return raw;
        }
        byte[] mapped = new byte[16];
        mapped[10] = (byte) 0xFF;
        mapped[11] = (byte) 0xFF;
        System.arraycopy(raw, 0, mapped, 12, 4);
        return mapped;
    }

    /** Parses the bytes after Type and Length. */
    static ConnectTlv parse(byte[] message, int valueOffset, int valueLength) throws ConvertProtocolException {
        if (valueLength + 2 < BASE_BYTES) {
            throw new ConvertProtocolException(ConvertErrorCode.MALFORMED_MESSAGE,
                    "Connect TLV is " + (valueLength + 2) + " bytes; the Base Connect TLV alone is "
                            + BASE_BYTES);
        }
        int port = Wire.u16(message, valueOffset);
        InetAddress address = fromWire(Arrays.copyOfRange(message, valueOffset + 2, valueOffset + 18));
        byte[] options = parseOptions(message, valueOffset + 18, valueOffset + valueLength);
        return new ConnectTlv(address, port, options);
    }

    /**
     * Walks the TCP Options field and returns the options without padding and without NOPs.
     *
     * <p>RFC 8803 §7.1: "A Transport Converter MUST ignore options with Kind=0, 1, or 2 if they
     * appear in a Connect TLV." A NOP is therefore skipped rather than refused; an EOL (zero)
     * starts the padding, after which only zeros may follow. MSS (Kind 2) is a well-formed
     * option and is kept; {@link ConvertRules} ignores it.
     */
    private static byte[] parseOptions(byte[] message, int from, int to) throws ConvertProtocolException {
        ByteArrayOutputStream kept = new ByteArrayOutputStream();
        int i = from;
        while (i < to) {
            int kind = Wire.u8(message, i);
            if (kind == EOL) {
                if (!Wire.allZero(message, i, to)) {
                    throw new ConvertProtocolException(ConvertErrorCode.MALFORMED_MESSAGE,
                            "Connect TLV TCP Options continue after the zero padding started");
                }
                break;
            }
            if (kind == NOP) {
                i++;
                continue;
            }
            if (i + 1 >= to) {
                throw new ConvertProtocolException(ConvertErrorCode.MALFORMED_MESSAGE,
                        "Connect TLV TCP option Kind " + kind + " has no Length byte");
            }
            int length = Wire.u8(message, i + 1);
            // RFC 8803 §6.2.5: "The minimum value for the TCP option Length is 2."
            if (length < 2) {
                throw new ConvertProtocolException(ConvertErrorCode.MALFORMED_MESSAGE,
                        "Connect TLV TCP option Kind " + kind + " has Length " + length + "; the minimum is 2");
            }
            if (length > to - i) {
                throw new ConvertProtocolException(ConvertErrorCode.MALFORMED_MESSAGE,
                        "Connect TLV TCP option Kind " + kind + " of Length " + length
                                + " runs past the end of the TLV");
            }
            kept.write(message, i, length);
            i += length;
        }
        return kept.toByteArray();
    }

    /** Why {@code options} is not a list of complete options without EOL/NOP, or null if it is. */
    private static String optionListProblem(byte[] options) {
        int i = 0;
        while (i < options.length) {
            int kind = options[i] & 0xFF;
            if (kind == EOL || kind == NOP) {
                return "Kind " + kind + " (EOL/NOP) must not be placed in a Connect TLV (RFC 8803 §6.2.5)";
            }
            if (i + 1 >= options.length) {
                return "option Kind " + kind + " has no Length byte";
            }
            int length = options[i + 1] & 0xFF;
            if (length < 2 || length > options.length - i) {
                return "option Kind " + kind + " has Length " + length + ", which does not fit";
            }
            i += length;
        }
        return null;
    }

    private static InetAddress fromWire(byte[] sixteen) {
        try {
            return plain(InetAddress.getByAddress(sixteen));
        } catch (UnknownHostException impossible) {
            throw new IllegalStateException("a 16-byte address is always valid", impossible);
        }
    }

    /** Drops host name and scope, and turns an IPv4-mapped IPv6 address into IPv4. */
    private static InetAddress plain(InetAddress address) {
        byte[] raw = address.getAddress();
        try {
            if (raw.length == 16 && isIpv4Mapped(raw)) {
                return InetAddress.getByAddress(Arrays.copyOfRange(raw, 12, 16));
            }
            return InetAddress.getByAddress(raw);
        } catch (UnknownHostException impossible) {
            throw new IllegalStateException("a 4- or 16-byte address is always valid", impossible);
        }
    }

    private static boolean isIpv4Mapped(byte[] raw) {
        for (int i = 0; i < 10; i++) {
            if (raw[i] != 0) {
                return false;
            }
        }
        return raw[10] == (byte) 0xFF && raw[11] == (byte) 0xFF;
    }

    private static InetSocketAddress requireResolved(InetSocketAddress destination) {
        if (destination.isUnresolved()) {
            throw new IllegalArgumentException("destination " + destination
                    + " is unresolved; RFC 8803 carries IP addresses, not names");
        }
        return destination;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ConnectTlv other && port == other.port && address.equals(other.address)
                && Arrays.equals(tcpOptions, other.tcpOptions);
    }

    @Override
    public int hashCode() {
        return (address.hashCode() * 31 + port) * 31 + Arrays.hashCode(tcpOptions);
    }

    @Override
    public String toString() {
        return "ConnectTlv[" + address.getHostAddress() + " port " + port
                + (tcpOptions.length == 0 ? "" : ", options=" + Wire.hex(tcpOptions)) + "]";
    }
}
