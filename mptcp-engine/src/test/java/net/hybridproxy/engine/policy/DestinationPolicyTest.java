package net.hybridproxy.engine.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class DestinationPolicyTest {

    private static final InetSocketAddress LISTENER_WILDCARD = dest("::", 5124);
    private static final InetSocketAddress LISTENER_BOUND = dest("203.0.113.1", 8080);
    private static final Set<InetAddress> SELF = Set.of(InetAddress.ofLiteral("203.0.113.1"),
            InetAddress.ofLiteral("2001:db8:1::1"));

    static InetSocketAddress dest(String literal, int port) {
        return new InetSocketAddress(InetAddress.ofLiteral(literal), port);
    }

    static List<Cidr> cidrs(String... texts) {
        return Arrays.stream(texts).map(Cidr::parse).toList();
    }

    static List<PortRange> ports(String... texts) {
        return Arrays.stream(texts).map(PortRange::parse).toList();
    }

    static DestinationPolicy policy(List<Cidr> allow, List<Cidr> deny, List<PortRange> allowPorts,
                                    List<PortRange> denyPorts) {
        return new DestinationPolicy(allow, deny, allowPorts, denyPorts, Set.of(LISTENER_WILDCARD, LISTENER_BOUND), SELF);
    }

    static final DestinationPolicy OPEN = policy(List.of(), List.of(), List.of(), List.of());

    @Test
    void anOrdinaryDestinationIsAllowedByAnOpenPolicy() {
        assertTrue(OPEN.check(dest("198.18.30.2", 5001)).allowed());
        assertTrue(OPEN.check(dest("2001:db8:99::1", 443)).allowed());
    }

    @ParameterizedTest(name = "{0} is always denied")
    @ValueSource(strings = {"0.0.0.0", "0.1.2.3", "::", "224.0.0.1", "239.255.255.250", "ff02::1", "ff0e::1",
            "255.255.255.255", "::ffff:0.0.0.0", "::ffff:224.0.0.1"})
    void unusableAddressesAreDeniedEvenWhenAllowed(String literal) {
        DestinationPolicy allowAll = policy(cidrs("0.0.0.0/0", "::/0", literal), List.of(), List.of(), List.of());

        DestinationPolicy.Decision d = allowAll.check(dest(literal, 80));

        assertFalse(d.allowed(), d.reason());
    }

    @ParameterizedTest(name = "{0} is denied by default")
    @ValueSource(strings = {"127.0.0.1", "127.255.0.1", "::1", "169.254.169.254", "fe80::1", "10.1.2.3",
            "172.16.0.1", "172.31.255.255", "192.168.1.1", "100.64.0.1", "fd00::1", "::ffff:127.0.0.1",
            "::ffff:169.254.169.254", "::ffff:10.0.0.1"})
    void internalAddressesAreDeniedUnlessExplicitlyAllowed(String literal) {
        DestinationPolicy.Decision d = OPEN.check(dest(literal, 80));

        assertFalse(d.allowed(), d.reason());
        assertTrue(d.reason().contains("not explicitly allowed"), d.reason());
    }

    @Test
    void anAllowEverythingCidrDoesNotCountAsExplicitForInternalAddresses() {
        DestinationPolicy allowAll = policy(cidrs("0.0.0.0/0", "::/0"), List.of(), List.of(), List.of());

        assertFalse(allowAll.check(dest("10.1.2.3", 80)).allowed());
        assertFalse(allowAll.check(dest("127.0.0.1", 80)).allowed());
        assertTrue(allowAll.check(dest("198.18.30.2", 80)).allowed());
    }

    @Test
    void aCidrInsideAnInternalBlockAllowsThatPartOfIt() {
        DestinationPolicy p = policy(cidrs("10.20.0.0/16", "127.0.0.1", "fe80::/64", "0.0.0.0/0"), List.of(),
                List.of(), List.of());

        assertTrue(p.check(dest("10.20.3.4", 80)).allowed());
        assertTrue(p.check(dest("::ffff:10.20.3.4", 80)).allowed(), "mapped destinations are IPv4");
        assertTrue(p.check(dest("127.0.0.1", 80)).allowed());
        assertTrue(p.check(dest("fe80::1", 80)).allowed());
        assertFalse(p.check(dest("10.21.0.1", 80)).allowed());
        assertFalse(p.check(dest("127.0.0.2", 80)).allowed());
    }

    @Test
    void portZeroIsAlwaysDenied() {
        DestinationPolicy p = policy(cidrs("0.0.0.0/0"), List.of(), ports("0-65535"), List.of());

        assertFalse(p.check(dest("198.18.30.2", 0)).allowed());
    }

    @Test
    void aWildcardListenerCoversEverySelfAddressOnItsPortWhateverIsAllowed() {
        DestinationPolicy p = policy(cidrs("0.0.0.0/0", "::/0", "127.0.0.0/8", "::1/128"), List.of(), List.of(),
                List.of());

        for (String self : List.of("203.0.113.1", "2001:db8:1::1", "::ffff:203.0.113.1", "127.0.0.1", "::1")) {
            DestinationPolicy.Decision d = p.check(dest(self, 5124));
            assertFalse(d.allowed(), self);
            assertTrue(d.reason().contains("own listeners"), d.reason());
        }
        assertFalse(p.check(dest("203.0.113.1", 5125)).allowed(), "another port of the concentrator");
        assertTrue(p.check(dest("127.0.0.1", 5125)).allowed(), "explicitly allowed loopback, another port");
        assertTrue(p.check(dest("198.18.30.2", 5124)).allowed(), "the listener's port elsewhere");
    }

    @Test
    void aBoundListenerCoversOnlyItsAddress() {
        DestinationPolicy p = new DestinationPolicy(List.of(), List.of(), List.of(), List.of(),
                Set.of(dest("203.0.113.1", 8080)), SELF);

        assertFalse(p.check(dest("203.0.113.1", 8080)).allowed());
        assertFalse(p.check(dest("::ffff:203.0.113.1", 8080)).allowed());
        DestinationPolicy.Decision otherSelf = p.check(dest("2001:db8:1::1", 8080));
        assertFalse(otherSelf.allowed(), "a self address, though no listener is bound there");
        assertTrue(otherSelf.reason().contains("own addresses"), otherSelf.reason());
    }

    // ---- hardening: the concentrator itself and the special-purpose forms ----

    /** self:9100 (metrics), self:22 (SSH) and the userspace listener's port were reachable through the proxy. */
    @ParameterizedTest(name = "{0} port 9100/22/5101 is denied")
    @ValueSource(strings = {"203.0.113.1", "2001:db8:1::1", "::ffff:203.0.113.1"})
    void theConcentratorsOwnAddressesAreDeniedOnEveryPort(String self) {
        DestinationPolicy p = policy(cidrs("0.0.0.0/0", "::/0", "203.0.113.0/24"), List.of(), List.of(), List.of());
        for (int port : new int[] {9100, 22, 5101, 443}) {
            DestinationPolicy.Decision d = p.check(dest(self, port));
            assertFalse(d.allowed(), d.reason());
            assertTrue(d.reason().contains("own addresses"), d.reason());
        }
    }

    @Test
    void anOperatorOpensASelfAddressOnlyByNamingIt() {
        DestinationPolicy p = policy(cidrs("203.0.113.1/32"), List.of(), List.of(), List.of());

        assertTrue(p.check(dest("203.0.113.1", 443)).allowed());
        assertFalse(p.check(dest("203.0.113.1", 5124)).allowed(), "listeners stay closed whatever is allowed");
    }

    @ParameterizedTest(name = "{0} is denied by default")
    @ValueSource(strings = {"64:ff9b::10.0.0.1", "64:ff9b::7f00:1", "64:ff9b::169.254.169.254",
            "64:ff9b::192.168.1.1", "64:ff9b::203.0.113.1", "64:ff9b::224.0.0.1", "2002:7f00:1::1", "2002:c0a8:101::1",
            "::7f00:1", "::10.0.0.1", "::ffff:0:7f00:1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "64:ff9b:1::a00:1",
            "192.0.0.192", "192.0.0.1", "240.0.0.1", "254.255.255.255", "fec0::1", "::ffff:240.0.0.1"})
    void specialPurposeAndEmbeddedIpv4FormsAreDeniedByDefault(String literal) {
        DestinationPolicy allowAll = policy(cidrs("0.0.0.0/0", "::/0"), List.of(), List.of(), List.of());
        DestinationPolicy.Decision d = allowAll.check(dest(literal, 80));

        assertFalse(d.allowed(), d.reason());
    }

    @Test
    void nat64ToAPublicAddressIsJudgedAsThatAddress() {
        DestinationPolicy p = policy(List.of(), List.of(), List.of(), List.of());
        assertTrue(p.check(dest("64:ff9b::198.18.30.2", 443)).allowed());
        DestinationPolicy denyIt = policy(List.of(), cidrs("198.18.30.0/24"), List.of(), List.of());
        assertFalse(denyIt.check(dest("64:ff9b::198.18.30.2", 443)).allowed());
    }

    @Test
    void anOperatorMayOpenASpecialBlockExplicitly() {
        DestinationPolicy p = policy(cidrs("192.0.0.192/32", "fec0::/16", "0.0.0.0/0"), List.of(), List.of(),
                List.of());
        assertTrue(p.check(dest("192.0.0.192", 80)).allowed());
        assertTrue(p.check(dest("fec0::1", 80)).allowed());
        assertFalse(p.check(dest("192.0.0.193", 80)).allowed());
    }

    @Test
    void configuredDenialBeatsConfiguredAllowance() {
        DestinationPolicy p = policy(cidrs("198.18.0.0/15"), cidrs("198.18.30.0/24"), ports("1-65535"), ports("25"));

        assertTrue(p.check(dest("198.18.31.1", 443)).allowed());
        assertFalse(p.check(dest("198.18.30.2", 443)).allowed());
        assertFalse(p.check(dest("198.18.31.1", 25)).allowed());
        assertFalse(p.check(dest("::ffff:198.18.30.2", 443)).allowed(), "mapped destinations are IPv4");
    }

    @Test
    void aDenialAlsoBeatsAnExplicitInternalAllowance() {
        DestinationPolicy p = policy(cidrs("10.20.0.0/16"), cidrs("10.20.5.0/24"), List.of(), List.of());

        assertTrue(p.check(dest("10.20.4.1", 80)).allowed());
        assertFalse(p.check(dest("10.20.5.1", 80)).allowed());
    }

    @Test
    void aNonEmptyAllowListLetsOnlyItsMembersThrough() {
        DestinationPolicy p = policy(cidrs("198.18.0.0/15", "2001:db8::/32"), List.of(), ports("80", "443",
                "5000-5010"), List.of());

        assertTrue(p.check(dest("198.18.30.2", 5001)).allowed());
        assertTrue(p.check(dest("2001:db8::5", 443)).allowed());
        assertFalse(p.check(dest("203.0.113.9", 443)).allowed());
        assertFalse(p.check(dest("198.18.30.2", 22)).allowed());
    }

    @Test
    void everyDecisionHasAReason() {
        assertEquals(true, OPEN.check(dest("198.18.30.2", 80)).reason().contains("198.18.30.2 port 80"));
        assertFalse(OPEN.check(InetSocketAddress.createUnresolved("example.net", 80)).allowed());
    }
}
