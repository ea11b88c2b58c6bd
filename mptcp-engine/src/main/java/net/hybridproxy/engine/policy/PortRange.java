package net.hybridproxy.engine.policy;

import java.util.Objects;

/**
 * An inclusive range of TCP ports.
 *
 * @param first the lowest port, 0..65535
 * @param last  the highest port, {@code first}..65535
 */
public record PortRange(int first, int last) {

    public PortRange {
        if (first < 0 || last > 65535 || first > last) {
            throw new IllegalArgumentException("port range " + first + "-" + last
                    + " must satisfy 0 <= first <= last <= 65535");
        }
    }

    /** A range of one port. */
    public static PortRange of(int port) {
        return new PortRange(port, port);
    }

    /**
     * Parses {@code 443} or {@code 1000-2000}; surrounding blanks are ignored.
     *
     * @throws IllegalArgumentException saying what is wrong
     */
    public static PortRange parse(String text) {
        Objects.requireNonNull(text, "text");
        String s = text.strip();
        int dash = s.indexOf('-');
        if (dash < 0) {
            int port = port(s, s);
            return new PortRange(port, port);
        }
        int first = port(s.substring(0, dash), s);
        int last = port(s.substring(dash + 1), s);
        if (first > last) {
            throw new IllegalArgumentException("port range '" + s + "' runs backwards; write " + last + "-" + first);
        }
        return new PortRange(first, last);
    }

    private static int port(String digits, String whole) {
        if (!digits.matches("\\d{1,5}")) {
            throw new IllegalArgumentException("port range '" + whole + "': '" + digits + "' is not a port number");
        }
        int port = Integer.parseInt(digits);
        if (port > 65535) {
            throw new IllegalArgumentException("port range '" + whole + "': " + port + " is above 65535");
        }
        return port;
    }

    public boolean contains(int port) {
        return port >= first && port <= last;
    }

    @Override
    public String toString() {
        return first == last ? Integer.toString(first) : first + "-" + last;
    }
}
