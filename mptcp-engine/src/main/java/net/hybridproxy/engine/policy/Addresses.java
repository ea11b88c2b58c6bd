package net.hybridproxy.engine.policy;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Strict address literals and the one normal form every policy comparison uses. */
public final class Addresses {

    private static final Pattern DOTTED_QUAD = Pattern.compile("(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})");

    private Addresses() {
    }

    /**
     * Parses an IP address literal without ever touching DNS. IPv4 must be four decimal octets
     * without leading zeros: the legacy forms {@code 10.1}, {@code 0x0a.0.0.1} or {@code 010.0.0.1}
     * mean different things to different parsers, and a policy must not guess.
     */
    static InetAddress parseLiteral(String text, String what) {
        if (text.isEmpty()) {
            throw new IllegalArgumentException(what + " is empty");
        }
        if (text.indexOf(':') >= 0) {
            if (text.indexOf('%') >= 0) {
                throw new IllegalArgumentException(what + " '" + text + "' has a zone id; zones have no meaning here");
            }
            try {
                return InetAddress.ofLiteral(text);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(what + " '" + text + "' is not an IPv6 address literal");
            }
        }
        Matcher m = DOTTED_QUAD.matcher(text);
        if (!m.matches()) {
            throw new IllegalArgumentException(what + " '" + text + "' is not an IPv4 (a.b.c.d) or IPv6 address literal");
        }
        byte[] octets = new byte[4];
        for (int i = 0; i < 4; i++) {
            String octet = m.group(i + 1);
            int value = Integer.parseInt(octet);
            if (value > 255 || (octet.length() > 1 && octet.charAt(0) == '0')) {
                throw new IllegalArgumentException(what + " '" + text + "' has an invalid octet '" + octet
                        + "' (0-255, no leading zeros)");
            }
            octets[i] = (byte) value;
        }
        return fromBytes(octets);
    }

    /** The address's bytes, with an IPv4-mapped IPv6 address (::ffff:a.b.c.d) as its 4 IPv4 bytes. */
    static byte[] normalBytes(InetAddress address) {
        byte[] raw = address.getAddress();
        return raw.length == 16 && isIpv4Mapped(raw) ? Arrays.copyOfRange(raw, 12, 16) : raw;
    }

    /** The address without host name or scope, IPv4-mapped addresses as IPv4. */
    public static InetAddress normalize(InetAddress address) {
        return fromBytes(normalBytes(address));
    }

    static boolean isIpv4Mapped(byte[] raw) {
        for (int i = 0; i < 10; i++) {
            if (raw[i] != 0) {
                return false;
            }
        }
        return raw[10] == (byte) 0xFF && raw[11] == (byte) 0xFF;
    }

    static boolean isIpv4(InetAddress normalized) {
        return normalized instanceof Inet4Address;
    }

    /**
     * The address of exactly these bytes: unlike {@link InetAddress#getByAddress(byte[])}, 16
     * bytes stay an IPv6 address even when they are IPv4-mapped.
     */
    static InetAddress ofFamily(byte[] bytes) {
        if (bytes.length != 16) {
            return fromBytes(bytes);
        }
        try {
            return java.net.Inet6Address.getByAddress(null, bytes, (java.net.NetworkInterface) null);
        } catch (UnknownHostException impossible) {
            throw new IllegalStateException("16 bytes always make an IPv6 address", impossible);
        }
    }

    static InetAddress fromBytes(byte[] bytes) {
        try {
            return InetAddress.getByAddress(bytes);
        } catch (UnknownHostException impossible) {
            throw new IllegalStateException("4 or 16 bytes always make an address", impossible);
        }
    }
}
