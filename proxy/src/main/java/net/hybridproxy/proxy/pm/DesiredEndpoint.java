package net.hybridproxy.proxy.pm;

import java.net.InetAddress;
import java.util.Collections;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;

/**
 * One endpoint the configuration wants, tied to the uplink it serves so that errors and the reconcile log can
 * name it.
 *
 * @param uplinkName    the uplink's name in the configuration, e.g. "dsl" or "lte"
 * @param address       the uplink's local address
 * @param interfaceName interface to bind subflows to, or null to leave them unbound
 * @param flags         endpoint flags (never {@link EndpointFlag#IMPLICIT}, which only the kernel sets)
 * @param port          0, or the port announced with the address ({@link EndpointFlag#SIGNAL} only); the kernel
 *                      then listens there for joins
 */
public record DesiredEndpoint(String uplinkName, InetAddress address, String interfaceName,
                              Set<EndpointFlag> flags, int port) {
    public DesiredEndpoint(String uplinkName, InetAddress address, String interfaceName, Set<EndpointFlag> flags) {
        this(uplinkName, address, interfaceName, flags, 0);
    }

    public DesiredEndpoint {
        if (port < 0 || port > 0xffff || (port != 0 && !flags.contains(EndpointFlag.SIGNAL))) {
            throw new IllegalArgumentException("uplink " + uplinkName + ": a port (0..65535) only goes with signal");
        }
        Objects.requireNonNull(uplinkName, "uplinkName");
        Objects.requireNonNull(address, "address");
        if (flags.contains(EndpointFlag.IMPLICIT)) {
            throw new IllegalArgumentException("uplink " + uplinkName + ": the implicit flag is set by the kernel only");
        }
        if (interfaceName != null && interfaceName.isBlank()) {
            interfaceName = null;
        }
        flags = flags.isEmpty() ? Set.of() : Collections.unmodifiableSet(EnumSet.copyOf(flags));
    }
}
