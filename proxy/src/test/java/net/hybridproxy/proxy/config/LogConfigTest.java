package net.hybridproxy.proxy.config;

import net.hybridproxy.proxy.logging.LogFormat;
import net.hybridproxy.proxy.logging.LogLevel;
import net.hybridproxy.proxy.logging.LogSettings;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The log section: documented defaults, every value checked with the key named. */
class LogConfigTest {
    private static final String SIDECAR = "hybridproxy { role = sidecar, sidecar.upstream = \"127.0.0.1:8080\"\n";

    @Test
    void defaultsAreInfoTextAndTwentyCloseLinesASecond() throws Exception {
        assertEquals(LogSettings.DEFAULTS, ConfigLoader.parseString(SIDECAR + "}").log());
        assertEquals(new LogSettings(LogLevel.INFO, LogFormat.TEXT, 20), LogSettings.DEFAULTS);
    }

    @Test
    void everyKeyIsRead() throws Exception {
        assertEquals(new LogSettings(LogLevel.DEBUG, LogFormat.JSON, 0), ConfigLoader.parseString(SIDECAR
                + "log { level = debug, format = json, connection-lines-per-second = 0 } }").log());
    }

    @Test
    void badValuesNameTheKey() {
        InvalidConfigException level = assertThrows(InvalidConfigException.class,
                () -> ConfigLoader.parseString(SIDECAR + "log.level = verbose }"));
        assertTrue(level.getMessage().contains("hybridproxy.log.level")
                && level.getMessage().contains("debug, info, warn or error"), level.getMessage());
        InvalidConfigException format = assertThrows(InvalidConfigException.class,
                () -> ConfigLoader.parseString(SIDECAR + "log.format = xml }"));
        assertTrue(format.getMessage().contains("hybridproxy.log.format"), format.getMessage());
        InvalidConfigException rate = assertThrows(InvalidConfigException.class,
                () -> ConfigLoader.parseString(SIDECAR + "log.connection-lines-per-second = -1 }"));
        assertTrue(rate.getMessage().contains("hybridproxy.log.connection-lines-per-second"), rate.getMessage());
    }
}
