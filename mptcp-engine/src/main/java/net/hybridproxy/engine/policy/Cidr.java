package net.hybridproxy.engine.policy;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.Arrays;
import java.util.Objects;

/**
 * An IPv4 or IPv6 network: an address and a prefix length, with every host bit zero.
 *
 * <p>IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are IPv4 here: {@code ::ffff:10.0.0.1} is
 * contained in {@code 10.0.0.0/8}, and {@code ::ffff:10.0.0.0/104} is the network
 * {@code 10.0.0.0/8}. Otherwise an IPv4 network never contains an IPv6 address and vice versa.
 *
 * @param network      the network address, host bits zero; IPv4 for IPv4 and IPv4-mapped networks
 * @param prefixLength 0..32 for IPv4, 0..128 for IPv6
 */
public record Cidr(InetAddress network, int prefixLength) {

    private static final int MAPPED_PREFIX_BITS = 96;

    public Cidr {
        Objects.requireNonNull(network, "network");
        byte[] raw = network.getAddress();
        if (raw.length == 16 && Addresses.isIpv4Mapped(raw) && prefixLength >= MAPPED_PREFIX_BITS) {
            raw = Arrays.copyOfRange(raw, 12, 16);
            prefixLength -= MAPPED_PREFIX_BITS;
        }
        int bits = raw.length * 8;
        if (prefixLength < 0 || prefixLength > bits) {
            throw new IllegalArgumentException("prefix length /" + prefixLength + " is outside 0.." + bits
                    + " for " + (bits == 32 ? "IPv4" : "IPv6"));
        }
        byte[] masked = mask(raw, prefixLength);
        if (!Arrays.equals(masked, raw)) {
            throw new IllegalArgumentException(Addresses.ofFamily(raw).getHostAddress() + "/" + prefixLength
                    + " has host bits set; the network is " + Addresses.ofFamily(masked).getHostAddress()
                    + "/" + prefixLength);
        }
        network = Addresses.ofFamily(raw);
    }

    /**
     * Parses {@code 198.18.0.0/15}, {@code 2001:db8::/32}, or a bare address as a host route
     * ({@code /32} or {@code /128}). Surrounding blanks are ignored; names are refused, never
     * resolved.
     *
     * @throws IllegalArgumentException saying what is wrong, including host bits set
     */
    public static Cidr parse(String text) {
        Objects.requireNonNull(text, "text");
        String s = text.strip();
        int slash = s.indexOf('/');
        String addressPart = slash < 0 ? s : s.substring(0, slash);
        InetAddress address = Addresses.parseLiteral(addressPart, "CIDR address");
        // InetAddress.ofLiteral already turns ::ffff:a.b.c.d into IPv4; its prefix still counts
        // 128 bits, so it is given back in IPv6 form for the constructor to convert.
        boolean writtenAsMapped = addressPart.indexOf(':') >= 0 && address instanceof Inet4Address;
        if (writtenAsMapped) {
            address = mappedForm(address);
        }
        int prefix;
        if (slash < 0) {
            prefix = address.getAddress().length * 8;
        } else {
            String prefixPart = s.substring(slash + 1);
            if (!prefixPart.matches("\\d{1,3}")) {
                throw new IllegalArgumentException("CIDR '" + s + "' has prefix length '" + prefixPart
                        + "'; expected a decimal number");
            }
            prefix = Integer.parseInt(prefixPart);
            if (writtenAsMapped && prefix < MAPPED_PREFIX_BITS) {
                throw new IllegalArgumentException("CIDR '" + s + "' is written IPv4-mapped; its prefix length must be "
                        + MAPPED_PREFIX_BITS + "..128");
            }
        }
        return new Cidr(address, prefix);
    }

    /** True if {@code address} (IPv4-mapped treated as IPv4) lies in this network. */
    public boolean contains(InetAddress address) {
        return containsNormalBytes(Addresses.normalBytes(address));
    }

    /**
     * As {@link #contains(InetAddress)}, for an address already in {@link Addresses#normalBytes} form: a caller
     * that checks one address against many networks (the concentrator's policy, once per connection) converts it
     * once, and no masked copy is made.
     */
    boolean containsNormalBytes(byte[] candidate) {
        byte[] net = network.getAddress();
        if (candidate.length != net.length) {
            return false;
        }
        for (int i = 0; i < net.length; i++) {
            if ((byte) (candidate[i] & maskByte(prefixLength, i)) != net[i]) {
                return false;
            }
        }
        return true;
    }

    /** True if every address of {@code other} lies in this network. */
    public boolean containsAll(Cidr other) {
        return other.prefixLength >= prefixLength && contains(other.network);
    }

    /** True for an IPv4 network. */
    public boolean isIpv4() {
        return network instanceof Inet4Address;
    }

    private static byte[] mask(byte[] address, int prefixLength) {
        byte[] out = address.clone();
        for (int i = 0; i < out.length; i++) {
            out[i] &= maskByte(prefixLength, i);
        }
        return out;
    }

    /** Byte {@code index} of the netmask of a {@code prefixLength}-bit prefix. */
    private static byte maskByte(int prefixLength, int index) {
        return (byte) (0xFF00 >>> Math.clamp(prefixLength - index * 8, 0, 8));
    }

    private static InetAddress mappedForm(InetAddress ipv4) {
        byte[] mapped = new byte[16];
        mapped[10] = (byte) 0xFF;
        mapped[11] = (byte) 0xFF;
        System.arraycopy(ipv4.getAddress(), 0, mapped, 12, 4);
        return Addresses.ofFamily(mapped);
    }

    @Override
    public String toString() {
        return network.getHostAddress() + "/" + prefixLength;
    }
}
