package net.hybridproxy.proxy.logging;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LogSettingsTest {
    @Test
    void theEnvironmentOverridesTheFileInAnyCase() {
        LogSettings file = new LogSettings(LogLevel.WARN, LogFormat.TEXT, 5);
        LogSettings effective = file.withEnvironment(Map.of("HYBRIDPROXY_LOG", "Debug",
                "HYBRIDPROXY_LOG_FORMAT", "JSON"));
        assertEquals(new LogSettings(LogLevel.DEBUG, LogFormat.JSON, 5), effective);
        assertEquals(file, file.withEnvironment(Map.of()));
        assertEquals(file, file.withEnvironment(Map.of("HYBRIDPROXY_LOG", " ")));
    }

    @Test
    void theFourLevelsAndTheWarningAliasAreAccepted() {
        assertEquals(LogLevel.DEBUG, LogLevel.parse("debug"));
        assertEquals(LogLevel.INFO, LogLevel.parse("INFO"));
        assertEquals(LogLevel.WARN, LogLevel.parse("warn"));
        assertEquals(LogLevel.WARN, LogLevel.parse("warning"));
        assertEquals(LogLevel.ERROR, LogLevel.parse("error"));
    }

    @Test
    void aTypoIsRefusedNamingTheVariableAndTheChoices() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> LogSettings.DEFAULTS.withEnvironment(Map.of("HYBRIDPROXY_LOG", "verbose")));
        assertEquals("HYBRIDPROXY_LOG: 'verbose' is not one of debug, info, warn or error", e.getMessage());
        var f = assertThrows(IllegalArgumentException.class,
                () -> LogSettings.DEFAULTS.withEnvironment(Map.of("HYBRIDPROXY_LOG_FORMAT", "xml")));
        assertTrue(f.getMessage().startsWith("HYBRIDPROXY_LOG_FORMAT: 'xml'"), f.getMessage());
    }
}
