package net.hybridproxy.engine.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.Inet6Address;
import java.net.InetAddress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class CidrTest {

    static InetAddress ip(String literal) {
        return InetAddress.ofLiteral(literal);
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({
            "198.18.0.0/15,        198.18.0.0/15",
            "2001:db8::/32,        2001:db8:0:0:0:0:0:0/32",
            "192.0.2.7,            192.0.2.7/32",
            "2001:db8::1,          2001:db8:0:0:0:0:0:1/128",
            "0.0.0.0/0,            0.0.0.0/0",
            "::/0,                 0:0:0:0:0:0:0:0/0",
            "'  10.0.0.0/8 ',      10.0.0.0/8",
            "::ffff:10.0.0.0/104,  10.0.0.0/8",
            "::ffff:192.0.2.1,     192.0.2.1/32",
    })
    void parsesNetworksAndHostRoutes(String text, String canonical) {
        assertEquals(canonical, Cidr.parse(text).toString());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "198.18.0.0/15,  198.19.255.255, true",
            "198.18.0.0/15,  198.20.0.0,     false",
            "198.18.0.0/15,  198.17.255.255, false",
            "10.0.0.0/8,     ::ffff:10.9.8.7, true",
            "2001:db8::/32,  2001:db8:ffff::1, true",
            "2001:db8::/32,  2001:db9::1,     false",
            "0.0.0.0/0,      2001:db8::1,     false",
            "::/0,           192.0.2.1,       false",
            "192.0.2.7,      192.0.2.7,       true",
            "192.0.2.7,      192.0.2.8,       false",
            "10.0.0.0/9,     10.127.255.255,  true",
            "10.0.0.0/9,     10.128.0.0,      false",
    })
    void containsExactlyItsAddresses(String cidr, String address, boolean expected) {
        assertEquals(expected, Cidr.parse(cidr).contains(ip(address)));
    }

    @Test
    void anIpv6FormOfAMappedAddressIsStillIpv4() throws Exception {
        byte[] mapped = ip("::ffff:0:0").getAddress(); // 4 bytes: the JDK made it IPv4 already
        byte[] raw = new byte[16];
        raw[10] = (byte) 0xff;
        raw[11] = (byte) 0xff;
        raw[12] = 10;
        raw[15] = 1;
        InetAddress asIpv6 = Inet6Address.getByAddress(null, raw, (java.net.NetworkInterface) null);

        assertEquals(4, mapped.length);
        assertTrue(Cidr.parse("10.0.0.0/8").contains(asIpv6));
    }

    @Test
    void saysWhichNetworkWasMeantWhenHostBitsAreSet() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Cidr.parse("198.18.30.2/15"));

        assertTrue(e.getMessage().contains("host bits set"), e.getMessage());
        assertTrue(e.getMessage().contains("198.18.0.0/15"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "/8", "10.0.0.0/", "10.0.0.0/33", "2001:db8::/129", "10.0.0.0/-1", "10.0.0.0/8/8",
            "10.0.0.0/a", "10.0.0/24", "10.1", "010.0.0.0/8", "256.0.0.0/8", "0x0a.0.0.0/8", "localhost",
            "example.net/32", "fe80::1%eth0", "fe80::%1/64", "::ffff:10.0.0.0/8", "1.2.3.4 /32", "2001:db8::g/32"})
    void refusesAnythingElseWithoutResolvingNames(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Cidr.parse(text));
        assertFalse(e.getMessage().isBlank());
    }

    @Test
    void containsAllMeansSubset() {
        assertTrue(Cidr.parse("10.0.0.0/8").containsAll(Cidr.parse("10.20.0.0/16")));
        assertTrue(Cidr.parse("10.0.0.0/8").containsAll(Cidr.parse("10.0.0.0/8")));
        assertFalse(Cidr.parse("10.0.0.0/8").containsAll(Cidr.parse("0.0.0.0/0")));
        assertFalse(Cidr.parse("10.0.0.0/8").containsAll(Cidr.parse("2001:db8::/32")));
    }
}
