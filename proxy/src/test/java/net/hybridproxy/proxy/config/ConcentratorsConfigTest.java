package net.hybridproxy.proxy.config;

import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** cpe.concentrators (a priority list) and the older cpe.concentrator (one address). */
class ConcentratorsConfigTest {
    private static final String CPE = """
            hybridproxy { role = cpe
              uplinks = [{ name = dsl, interface = dsl, address = "198.18.10.1" }]
              cpe { listeners = [{ name = lan, mode = explicit, bind = "127.0.0.1:12345", destination = "198.18.30.2:80" }]
            """;

    @Test
    void theSingleKeyIsAListOfOne() throws Exception {
        AppConfig.Cpe cpe = ConfigLoader.parseString(CPE + "concentrator = \"198.18.100.1:5100\" } }").cpe()
                .orElseThrow();
        assertEquals(List.of(new AppConfig.UpstreamConcentrator("0", new InetSocketAddress("198.18.100.1", 5100))),
                cpe.concentrators());
    }

    @Test
    void aListTakesAddressesOrNamedEntriesInPriorityOrder() throws Exception {
        AppConfig.Cpe cpe = ConfigLoader.parseString(CPE + """
                concentrators = [{ name = paris, address = "198.18.41.2:5100" }, "198.18.42.2:5100"] } }""")
                .cpe().orElseThrow();
        assertEquals("paris", cpe.primary().name());
        assertEquals("1", cpe.concentrators().get(1).name());
        assertEquals(new InetSocketAddress("198.18.42.2", 5100), cpe.concentrators().get(1).address());
    }

    @Test
    void healthCheckDefaults() throws Exception {
        AppConfig.HealthCheck h = ConfigLoader.parseString(CPE + "concentrator = \"198.18.100.1:5100\" } }").cpe()
                .orElseThrow().healthCheck();
        assertEquals(new AppConfig.HealthCheck(Duration.ofSeconds(2), Duration.ofSeconds(1), 2, 2,
                Duration.ofSeconds(30)), h);
    }

    @Test
    void bothKeysAtOnceAreRefusedWithAClearError() {
        InvalidConfigException e = assertThrows(InvalidConfigException.class, () -> ConfigLoader.parseString(CPE + """
                concentrator = "198.18.100.1:5100"
                concentrators = ["198.18.41.2:5100"] } }"""));
        assertTrue(e.getMessage().contains("not both"), e.getMessage());
    }

    @Test
    void neitherKeyIsRefused() {
        InvalidConfigException e = assertThrows(InvalidConfigException.class,
                () -> ConfigLoader.parseString(CPE + "} }"));
        assertTrue(e.getMessage().contains("cpe.concentrators"), e.getMessage());
    }

    @Test
    void badEntriesAreRefused() {
        assertThrows(InvalidConfigException.class, () -> ConfigLoader.parseString(CPE + """
                concentrators = ["198.18.41.2:5100", "198.18.41.2:5100"] } }"""));
        assertThrows(InvalidConfigException.class, () -> ConfigLoader.parseString(CPE + """
                concentrators = [{ name = a, address = "198.18.41.2:5100" }, { name = a, address = "198.18.42.2:5100" }] } }"""));
        assertThrows(InvalidConfigException.class, () -> ConfigLoader.parseString(CPE + """
                concentrators = [{ name = a, adress = "198.18.41.2:5100" }] } }"""));
        assertThrows(InvalidConfigException.class, () -> ConfigLoader.parseString(CPE + """
                concentrators = [5100] } }"""));
        assertThrows(InvalidConfigException.class, () -> ConfigLoader.parseString(CPE + """
                concentrators = ["198.18.41.2:5100"], health-check.timeout = 5s } }"""));
        assertThrows(InvalidConfigException.class, () -> ConfigLoader.parseString(CPE + """
                concentrators = ["198.18.41.2:5100"], health-check.intervall = 5s } }"""));
    }
}
