package net.hybridproxy.proxy.config;

import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The admin section: documented defaults, and no token-less admin API off loopback. */
class AdminConfigTest {
    private static final String SIDECAR = "hybridproxy { role = sidecar, sidecar.upstream = \"127.0.0.1:8080\"\n";

    @Test
    void defaultsAreLoopbackWithoutTokenEveryFiveSeconds() throws Exception {
        AppConfig.Admin admin = ConfigLoader.parseString(SIDECAR + "}").admin();
        assertTrue(admin.enabled());
        assertEquals(new InetSocketAddress("127.0.0.1", 9190), admin.bind());
        assertEquals("", admin.token());
        assertEquals(Duration.ofSeconds(5), admin.sampleInterval());
    }

    @Test
    void aNonLoopbackBindWithoutATokenIsRefused() {
        InvalidConfigException e = assertThrows(InvalidConfigException.class,
                () -> ConfigLoader.parseString(SIDECAR + "admin.bind = \"0.0.0.0:9190\" }"));
        assertTrue(e.getMessage().contains("hybridproxy.admin.bind"), e.getMessage());
        assertTrue(e.getMessage().contains("not a loopback address"), e.getMessage());
    }

    @Test
    void aTokenMakesAnyBindAcceptableButMustBeLong() throws Exception {
        AppConfig.Admin admin = ConfigLoader.parseString(SIDECAR
                + "admin { bind = \"0.0.0.0:9190\", token = \"0123456789abcdef\" } }").admin();
        assertEquals("0123456789abcdef", admin.token());
        assertTrue(admin.toString().contains("<redacted>") && !admin.toString().contains("0123456789abcdef"));
        InvalidConfigException e = assertThrows(InvalidConfigException.class,
                () -> ConfigLoader.parseString(SIDECAR + "admin { bind = \"0.0.0.0:9190\", token = \"short\" } }"));
        assertTrue(e.getMessage().contains("hybridproxy.admin.token"), e.getMessage());
    }

    @Test
    void theSampleIntervalIsBounded() {
        InvalidConfigException e = assertThrows(InvalidConfigException.class,
                () -> ConfigLoader.parseString(SIDECAR + "admin.sample-interval = 10ms }"));
        assertTrue(e.getMessage().contains("hybridproxy.admin.sample-interval"), e.getMessage());
    }

    @Test
    void misspeltAdminKeysAreRejected() {
        InvalidConfigException e = assertThrows(InvalidConfigException.class,
                () -> ConfigLoader.parseString(SIDECAR + "admin.tokn = \"x\" }"));
        assertTrue(e.getMessage().contains("admin.tokn"), e.getMessage());
    }
}
