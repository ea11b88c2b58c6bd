package net.hybridproxy.engine.policy;

import java.net.InetAddress;
import java.util.List;

/**
 * The source addresses from which CPEs may use the concentrator.
 *
 * <p>Fails closed: an empty list permits no one. A concentrator left without a configured
 * allowlist must not become an open relay because a list was forgotten; permitting everyone is
 * written explicitly as {@code 0.0.0.0/0} and {@code ::/0}. IPv4-mapped IPv6 sources are matched
 * as IPv4 (see {@link Cidr}).
 *
 * @param cidrs the permitted source networks
 */
public record ClientAllowlist(List<Cidr> cidrs) {

    public ClientAllowlist {
        cidrs = List.copyOf(cidrs);
    }

    /** True if a CPE connecting from {@code source} may use the concentrator. */
    public boolean permits(InetAddress source) {
        for (Cidr cidr : cidrs) {
            if (cidr.contains(source)) {
                return true;
            }
        }
        return false;
    }
}
