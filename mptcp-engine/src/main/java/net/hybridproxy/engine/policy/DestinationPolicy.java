package net.hybridproxy.engine.policy;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Which destinations the concentrator will open a TCP connection to on a CPE's behalf.
 *
 * <p>A destination is decided by the first of these steps that applies; an IPv4-mapped IPv6
 * destination (::ffff:a.b.c.d) is treated as the IPv4 address it carries throughout, and a NAT64
 * destination (64:ff9b::a.b.c.d, RFC 6052) is judged as the IPv4 address it leads to as well.
 * <ol>
 *   <li><b>Port 0</b> is denied. Nothing overrides this.</li>
 *   <li><b>The concentrator's own listeners</b> are denied: a destination equal to a listener's
 *       address and port, or, for a listener bound to a wildcard address (0.0.0.0 or ::), any of
 *       {@code selfAddresses}, any loopback address or an unspecified address on that port.
 *       Nothing overrides this: a CPE must never loop the concentrator into itself.</li>
 *   <li><b>The concentrator's own addresses</b> are denied on every port (its metrics exporter,
 *       its SSH, the userspace listener...), unless {@code allowCidrs} names that very address
 *       (a /32 or /128): a wider allowance does not open the concentrator itself.</li>
 *   <li><b>Addresses no unicast connection can use</b> are denied: "this network" 0.0.0.0/8, the
 *       unspecified ::, multicast 224.0.0.0/4 and ff00::/8, and the limited broadcast
 *       255.255.255.255. Nothing overrides this.</li>
 *   <li><b>Internal and special-purpose addresses</b> are denied unless explicitly allowed:
 *       loopback 127.0.0.0/8 and ::1, link-local 169.254.0.0/16 and fe80::/10, private 10.0.0.0/8,
 *       172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 (shared address space) and fc00::/7, the IETF
 *       protocol assignments 192.0.0.0/24 (192.0.0.192 and friends), reserved 240.0.0.0/4,
 *       deprecated site-local fec0::/10, and the forms that carry an IPv4 address inside IPv6 to a
 *       gateway this policy cannot see through: IPv4-compatible ::/96 (::7f00:1 is 127.0.0.1),
 *       IPv4-translated ::ffff:0:0:0/96, 6to4 2002::/16, Teredo 2001::/32 and local-use NAT64
 *       64:ff9b:1::/48. An entry of {@code allowCidrs} allows such a destination explicitly only if
 *       it contains the destination and lies entirely inside the block: {@code 10.20.0.0/16} opens
 *       part of 10.0.0.0/8, while {@code 0.0.0.0/0} opens nothing internal. Explicitly allowed
 *       destinations go on to the next steps like any other.</li>
 *   <li><b>Configured denials</b> beat configured allowances: a destination in
 *       {@code denyCidrs} or with a port in {@code denyPorts} is denied.</li>
 *   <li><b>Configured allowances</b>: if {@code allowCidrs} is not empty the destination must be
 *       in one of them, and if {@code allowPorts} is not empty its port must be in one of them.</li>
 *   <li>Everything else is allowed.</li>
 * </ol>
 *
 * <p>The Convert layer maps a denial to RFC 8803 Not Authorized ("the Transport Converter refused
 * to create a connection because of a lack of authorization (e.g., administratively
 * prohibited...)").
 *
 * @param allowCidrs     destinations to allow; empty allows every address steps 1-5 let through
 * @param denyCidrs      destinations to deny
 * @param allowPorts     ports to allow; empty allows every port
 * @param denyPorts      ports to deny
 * @param selfListeners  the concentrator's listening sockets
 * @param selfAddresses  the concentrator's own addresses, which wildcard listeners listen on
 */
public record DestinationPolicy(List<Cidr> allowCidrs, List<Cidr> denyCidrs,
                                List<PortRange> allowPorts, List<PortRange> denyPorts,
                                Set<InetSocketAddress> selfListeners, Set<InetAddress> selfAddresses) {

    private static final List<Cidr> UNUSABLE = cidrs(
            "0.0.0.0/8", "::/128", "224.0.0.0/4", "ff00::/8", "255.255.255.255/32");

    private static final List<Named> INTERNAL = List.of(
            new Named("loopback", Cidr.parse("127.0.0.0/8")),
            new Named("loopback", Cidr.parse("::1/128")),
            new Named("link-local", Cidr.parse("169.254.0.0/16")),
            new Named("link-local", Cidr.parse("fe80::/10")),
            new Named("private", Cidr.parse("10.0.0.0/8")),
            new Named("private", Cidr.parse("172.16.0.0/12")),
            new Named("private", Cidr.parse("192.168.0.0/16")),
            new Named("shared address space", Cidr.parse("100.64.0.0/10")),
            new Named("unique local", Cidr.parse("fc00::/7")),
            new Named("IETF protocol assignments", Cidr.parse("192.0.0.0/24")),
            new Named("reserved", Cidr.parse("240.0.0.0/4")),
            new Named("deprecated site-local", Cidr.parse("fec0::/10")),
            new Named("IPv4-compatible (deprecated)", Cidr.parse("::/96")),
            new Named("IPv4-translated", Cidr.parse("::ffff:0:0:0/96")),
            new Named("6to4", Cidr.parse("2002::/16")),
            new Named("Teredo", Cidr.parse("2001::/32")),
            new Named("local-use NAT64", Cidr.parse("64:ff9b:1::/48")));

    /** RFC 6052's well-known prefix: the last 32 bits are the IPv4 destination a NAT64 gateway connects to. */
    private static final Cidr NAT64_WELL_KNOWN = Cidr.parse("64:ff9b::/96");

    public DestinationPolicy {
        allowCidrs = List.copyOf(allowCidrs);
        denyCidrs = List.copyOf(denyCidrs);
        allowPorts = List.copyOf(allowPorts);
        denyPorts = List.copyOf(denyPorts);
        for (InetSocketAddress listener : selfListeners) {
            if (listener.isUnresolved()) {
                throw new IllegalArgumentException("self listener " + listener + " is unresolved");
            }
        }
        selfListeners = selfListeners.stream()
                .map(l -> new InetSocketAddress(Addresses.normalize(l.getAddress()), l.getPort()))
                .collect(Collectors.toUnmodifiableSet());
        selfAddresses = selfAddresses.stream().map(Addresses::normalize).collect(Collectors.toUnmodifiableSet());
    }

    /** The verdict on one destination, with the reason for logs. */
    public record Decision(boolean allowed, String reason) {
        public Decision {
            Objects.requireNonNull(reason, "reason");
        }

        static Decision allow(String reason) {
            return new Decision(true, reason);
        }

        static Decision deny(String reason) {
            return new Decision(false, reason);
        }
    }

    private record Named(String kind, Cidr block) {
    }

    /** Decides whether the concentrator may connect to {@code destination}. */
    public Decision check(InetSocketAddress destination) {
        if (destination.isUnresolved()) {
            return Decision.deny("destination " + destination + " is a name, not an address");
        }
        InetAddress address = Addresses.normalize(destination.getAddress());
        int port = destination.getPort();
        String where = address.getHostAddress() + " port " + port;
        if (port == 0) {
            return Decision.deny(where + ": port 0 is never a destination");
        }
        if (NAT64_WELL_KNOWN.contains(address)) {
            byte[] raw = address.getAddress();
            InetAddress embedded = Addresses.normalize(InetAddress.ofLiteral(
                    (raw[12] & 0xFF) + "." + (raw[13] & 0xFF) + "." + (raw[14] & 0xFF) + "." + (raw[15] & 0xFF)));
            Decision viaNat64 = check(new InetSocketAddress(embedded, port));
            return new Decision(viaNat64.allowed(), where + " (NAT64 to " + viaNat64.reason() + ")");
        }
        if (isSelfListener(address, port)) {
            return Decision.deny(where + ": that is one of this concentrator's own listeners");
        }
        if (selfAddresses.contains(address) && !namedExactly(address)) {
            return Decision.deny(where + ": that is one of this concentrator's own addresses (allow it as a /"
                    + (address.getAddress().length * 8) + " to reach it)");
        }
        byte[] raw = Addresses.normalBytes(address);
        for (Cidr block : UNUSABLE) {
            if (block.containsNormalBytes(raw)) {
                return Decision.deny(where + ": " + block + " cannot be a unicast destination");
            }
        }
        for (Named internal : INTERNAL) {
            if (internal.block().containsNormalBytes(raw) && explicitAllowance(address, internal.block()).isEmpty()) {
                return Decision.deny(where + ": " + internal.kind() + " address (" + internal.block()
                        + ") not explicitly allowed");
            }
        }
        for (Cidr deny : denyCidrs) {
            if (deny.containsNormalBytes(raw)) {
                return Decision.deny(where + ": in denied " + deny);
            }
        }
        for (PortRange deny : denyPorts) {
            if (deny.contains(port)) {
                return Decision.deny(where + ": port in denied " + deny);
            }
        }
        Optional<Cidr> allowedBy = allowCidrs.stream().filter(c -> c.containsNormalBytes(raw)).findFirst();
        if (!allowCidrs.isEmpty() && allowedBy.isEmpty()) {
            return Decision.deny(where + ": not in any allowed CIDR");
        }
        if (!allowPorts.isEmpty() && allowPorts.stream().noneMatch(p -> p.contains(port))) {
            return Decision.deny(where + ": port not in any allowed range");
        }
        return Decision.allow(where + allowedBy.map(c -> ": allowed by " + c).orElse(": allowed"));
    }

    private boolean namedExactly(InetAddress address) {
        int hostBits = address.getAddress().length * 8;
        return allowCidrs.stream().anyMatch(c -> c.prefixLength() == hostBits && c.contains(address));
    }

    private Optional<Cidr> explicitAllowance(InetAddress address, Cidr internalBlock) {
        return allowCidrs.stream().filter(c -> c.contains(address) && internalBlock.containsAll(c)).findFirst();
    }

    private boolean isSelfListener(InetAddress address, int port) {
        for (InetSocketAddress listener : selfListeners) {
            if (listener.getPort() != port) {
                continue;
            }
            InetAddress bound = listener.getAddress();
            if (bound.equals(address)) {
                return true;
            }
            // A wildcard listener accepts on every local address; on a dual-stack socket that
            // includes IPv4, so the family is not compared.
            if (bound.isAnyLocalAddress()
                    && (selfAddresses.contains(address) || address.isLoopbackAddress() || address.isAnyLocalAddress())) {
                return true;
            }
        }
        return false;
    }

    private static List<Cidr> cidrs(String... texts) {
        return java.util.Arrays.stream(texts).map(Cidr::parse).toList();
    }
}
