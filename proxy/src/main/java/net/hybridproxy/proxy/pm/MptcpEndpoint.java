package net.hybridproxy.proxy.pm;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.Collections;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * An MPTCP path-manager endpoint: a local address the in-kernel path manager may use for subflows or announce.
 *
 * @param id             endpoint id 1..255, or 0 to let the kernel choose when adding
 * @param address        local IPv4 or IPv6 address
 * @param port           0, or a port to announce (only meaningful with {@link EndpointFlag#SIGNAL})
 * @param flags          endpoint flags
 * @param interfaceIndex interface the subflows are bound to, 0 for none
 */
public record MptcpEndpoint(int id, InetAddress address, int port, Set<EndpointFlag> flags, int interfaceIndex) {
    public MptcpEndpoint {
        Objects.requireNonNull(address, "address");
        if (id < 0 || id > 255) {
            throw new IllegalArgumentException("endpoint id must be 0..255: " + id);
        }
        if (port < 0 || port > 0xffff) {
            throw new IllegalArgumentException("port must be 0..65535: " + port);
        }
        if (interfaceIndex < 0) {
            throw new IllegalArgumentException("interface index must not be negative: " + interfaceIndex);
        }
        flags = flags.isEmpty() ? Set.of() : Collections.unmodifiableSet(EnumSet.copyOf(flags));
    }

    /** An endpoint without port, id chosen by the kernel. */
    public static MptcpEndpoint of(InetAddress address, Set<EndpointFlag> flags, int interfaceIndex) {
        return new MptcpEndpoint(0, address, 0, flags, interfaceIndex);
    }

    public boolean isIpv4() {
        return address instanceof Inet4Address;
    }

    public boolean backup() {
        return flags.contains(EndpointFlag.BACKUP);
    }

    @Override
    public String toString() {
        String f = flags.stream().map(EndpointFlag::keyword).collect(Collectors.joining(","));
        return address.getHostAddress() + (port != 0 ? " port " + port : "") + " id " + id
                + (f.isEmpty() ? "" : " " + f) + (interfaceIndex != 0 ? " ifindex " + interfaceIndex : "");
    }
}
