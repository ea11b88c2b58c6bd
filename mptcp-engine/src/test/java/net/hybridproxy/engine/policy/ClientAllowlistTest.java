package net.hybridproxy.engine.policy;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.util.List;
import org.junit.jupiter.api.Test;

class ClientAllowlistTest {

    @Test
    void anEmptyAllowlistPermitsNoOne() {
        ClientAllowlist none = new ClientAllowlist(List.of());

        assertFalse(none.permits(InetAddress.ofLiteral("192.0.2.1")));
        assertFalse(none.permits(InetAddress.ofLiteral("2001:db8::1")));
    }

    @Test
    void permitsSourcesInItsNetworksIpv4MappedIncluded() {
        ClientAllowlist list = new ClientAllowlist(List.of(Cidr.parse("100.64.0.0/10"), Cidr.parse("2001:db8::/32")));

        assertTrue(list.permits(InetAddress.ofLiteral("100.100.1.1")));
        assertTrue(list.permits(InetAddress.ofLiteral("::ffff:100.100.1.1")));
        assertTrue(list.permits(InetAddress.ofLiteral("2001:db8::1")));
        assertFalse(list.permits(InetAddress.ofLiteral("100.128.0.1")));
        assertFalse(list.permits(InetAddress.ofLiteral("2001:db9::1")));
    }

    @Test
    void permittingEveryoneIsWrittenOut() {
        ClientAllowlist all = new ClientAllowlist(List.of(Cidr.parse("0.0.0.0/0"), Cidr.parse("::/0")));

        assertTrue(all.permits(InetAddress.ofLiteral("192.0.2.1")));
        assertTrue(all.permits(InetAddress.ofLiteral("2001:db8::1")));
    }
}
