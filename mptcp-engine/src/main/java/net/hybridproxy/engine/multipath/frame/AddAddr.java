package net.hybridproxy.engine.multipath.frame;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * Announces an address (and port) at which the sender accepts subflows: RFC 8684 §3.4.1's
 * ADD_ADDR. Flags bit 0 is E (echo).
 *
 * <pre>
 * Address ID (1) | IP Version (1) = 4 or 6 | Address (4 or 16) | Port (2, 0 = unchanged)
 *   | Truncated HMAC (8, absent when E is set)
 * </pre>
 *
 * <p>RFC 8684 §3.4.1 (paraphrased): the Truncated HMAC ... is the rightmost 64 bits of an HMAC, negotiated and
 * calculated in the same way as for MP_JOIN ... the key for the HMAC algorithm, in the case of the
 * message transmitted by Host A, will be Key-A followed by Key-B ... the 'Message' for the HMAC
 * algorithm is the Address ID, IP Address, and Port that precede the HMAC in the ADD_ADDR option.
 * If the port is not present in the ADD_ADDR option, the HMAC message will nevertheless include
 * two octets of value zero. And: "The echo flag (E) ... an ADD_ADDR with the E flag set ...
 * MUST NOT ... [carry] the HMAC": the receiver acknowledges an announcement by echoing it.
 *
 * @param addressId     the sender's id for this address
 * @param address       an IPv4 or IPv6 address, without host name or scope
 * @param port          0..65535, 0 meaning the port of the subflow this frame arrived on
 * @param echo          whether this acknowledges the peer's announcement
 * @param truncatedHmac the rightmost 64 bits of the HMAC (0 and not sent when {@code echo})
 */
public record AddAddr(int addressId, InetAddress address, int port, boolean echo, long truncatedHmac)
        implements Frame {

    private static final int FLAG_ECHO = 0x01;

    public AddAddr {
        Frame.checkU8("address id", addressId);
        Objects.requireNonNull(address, "address");
        try {
            address = InetAddress.getByAddress(address.getAddress());
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port " + port + " is outside 0..65535");
        }
        if (echo && truncatedHmac != 0) {
            throw new IllegalArgumentException("an echoed ADD_ADDR carries no HMAC");
        }
    }

    /** The ADD_ADDR that acknowledges this one. */
    public AddAddr echoed() {
        return new AddAddr(addressId, address, port, true, 0);
    }

    @Override
    public int type() {
        return FrameType.ADD_ADDR;
    }

    @Override
    public int flags() {
        return echo ? FLAG_ECHO : 0;
    }

    @Override
    public int bodyLength() {
        return 1 + 1 + address.getAddress().length + 2 + (echo ? 0 : 8);
    }

    @Override
    public void encodeBody(ByteBuffer out) {
        out.put((byte) addressId).put((byte) (address instanceof Inet4Address ? 4 : 6)).put(address.getAddress());
        out.putShort((short) port);
        if (!echo) {
            out.putLong(truncatedHmac);
        }
    }

    static AddAddr parse(int flags, WireReader in) throws FrameException {
        boolean echo = (flags & FLAG_ECHO) != 0;
        int id = in.u8("address id");
        int ipVersion = in.u8("IP version");
        int length = switch (ipVersion) {
            case 4 -> 4;
            case 6 -> 16;
            default -> throw new FrameException("ADD_ADDR IP version " + ipVersion + " is neither 4 nor 6");
        };
        byte[] raw = in.bytes(length, "address");
        int port = in.u16("port");
        long hmac = echo ? 0 : in.u64("truncated HMAC");
        in.expectEnd();
        InetAddress address;
        try {
            address = InetAddress.getByAddress(raw);
        } catch (UnknownHostException e) {
            throw new FrameException("ADD_ADDR address of " + raw.length + " bytes");
        }
        if (ipVersion == 6 && !(address instanceof Inet6Address)) {
            // An IPv4-mapped IPv6 address decodes to Inet4Address; IP version 6 must stay 16 bytes.
            throw new FrameException("ADD_ADDR IPv6 address is IPv4-mapped; announce it as IPv4");
        }
        return new AddAddr(id, address, port, echo, hmac);
    }
}
