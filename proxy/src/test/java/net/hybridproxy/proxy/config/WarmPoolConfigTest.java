package net.hybridproxy.proxy.config;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The cpe's warm pool: small by default, and never idle long enough for the concentrator to close it first. */
class WarmPoolConfigTest {
    private static final String CPE = """
            hybridproxy { role = cpe
              uplinks = [{ name = dsl, interface = dsl, address = "198.18.10.1" }]
              cpe { concentrator = "198.18.100.1:5100"
                    listeners = [{ name = lan, mode = explicit, bind = "127.0.0.1:12345", destination = "198.18.30.2:80" }]
            """;

    @Test
    void defaultsAreEightConnectionsReplacedAfterTwentySecondsGrowingToThirtyTwo() throws Exception {
        AppConfig.WarmPoolConfig pool = ConfigLoader.parseString(CPE + "} }").cpe().orElseThrow().warmPool();
        assertEquals(8, pool.size());
        assertEquals(Duration.ofSeconds(20), pool.maxIdle());
        assertEquals(32, pool.maxSize(), "room to grow under a burst of new connections");
    }

    @Test
    void theCeilingUnderLoadStaysUnderTheConcentratorsPendingQuotaAndAtOrAboveTheSize() throws Exception {
        assertEquals(16, ConfigLoader.parseString(CPE + "warm-pool { size = 4, max-size = 16 } } }").cpe()
                .orElseThrow().warmPool().maxSize());
        InvalidConfigException below = assertThrows(InvalidConfigException.class,
                () -> ConfigLoader.parseString(CPE + "warm-pool { size = 8, max-size = 4 } } }"));
        assertTrue(below.getMessage().contains("warm-pool.max-size"), below.getMessage());
        assertThrows(InvalidConfigException.class,
                () -> ConfigLoader.parseString(CPE + "warm-pool.max-size = 64 } }"));
    }

    @Test
    void anIdleLimitAtOrPastTheConcentratorsFirstByteTimeoutIsRefused() {
        InvalidConfigException e = assertThrows(InvalidConfigException.class,
                () -> ConfigLoader.parseString(CPE + "warm-pool.max-idle = 30s } }"));
        assertTrue(e.getMessage().contains("warm-pool.max-idle"), e.getMessage());
        assertThrows(InvalidConfigException.class, () -> ConfigLoader.parseString(CPE + "warm-pool.size = 100 } }"));
        assertThrows(InvalidConfigException.class, () -> ConfigLoader.parseString(CPE + "warm-pool.sise = 4 } }"));
        assertEquals(0, assertDoesNotThrow(() -> ConfigLoader.parseString(CPE + "warm-pool.size = 0 } }"))
                .cpe().orElseThrow().warmPool().size());
    }

    private static <T> T assertDoesNotThrow(org.junit.jupiter.api.function.ThrowingSupplier<T> supplier) {
        return org.junit.jupiter.api.Assertions.assertDoesNotThrow(supplier);
    }
}
