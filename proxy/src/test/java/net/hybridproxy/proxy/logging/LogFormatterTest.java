package net.hybridproxy.proxy.logging;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.LogRecord;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LogFormatterTest {
    private static final Instant AT = Instant.parse("2026-11-29T15:27:12.345678Z");

    private static LogRecord record(Level level, String message, Object... parameters) {
        LogRecord record = new LogRecord(level, message);
        record.setInstant(AT);
        record.setLoggerName("hybridproxy.cpe");
        record.setParameters(parameters);
        return record;
    }

    @Test
    void textLinesCarryUtcMillisecondsTheShortLevelAndTheFields() {
        String line = new TextLogFormatter().format(record(Level.WARNING, "uplink down",
                LogFields.of("uplink", "lte", "reason", "carrier lost", "bytes", 12L)));
        assertEquals("2026-11-29T15:27:12.345Z WARN  hybridproxy.cpe: uplink down uplink=lte reason=\"carrier lost\""
                + " bytes=12" + System.lineSeparator(), line);
    }

    @Test
    void theTimestampIsUtcWhateverTheDefaultTimeZone() {
        java.util.TimeZone saved = java.util.TimeZone.getDefault();
        try {
            java.util.TimeZone.setDefault(java.util.TimeZone.getTimeZone("Europe/Paris"));
            assertTrue(new TextLogFormatter().format(record(Level.INFO, "x")).startsWith("2026-11-29T15:27:12.345Z "));
        } finally {
            java.util.TimeZone.setDefault(saved);
        }
    }

    @Test
    void jsonLinesAreOneObjectWithTheStableNamesAndTypedFields() throws IOException {
        LogRecord record = record(Level.INFO, "connection closed", LogFields.of("connection",
                "198.18.1.2:40000 -> 198.18.3.2:80", "bytes_up", 10L, "bytes_down", 20L, "suppressed", null));
        record.setThrown(new IllegalStateException("quote \" and newline \n inside"));
        String line = new JsonLogFormatter().format(record);
        assertTrue(line.endsWith(System.lineSeparator()));
        assertEquals(1, line.strip().lines().count(), line);
        Map<String, Object> fields = parse(line);
        assertEquals("2026-11-29T15:27:12.345Z", fields.get("time"));
        assertEquals("INFO", fields.get("level"));
        assertEquals("hybridproxy.cpe", fields.get("logger"));
        assertEquals("connection closed", fields.get("message"));
        assertEquals("198.18.1.2:40000 -> 198.18.3.2:80", fields.get("connection"));
        assertEquals(10L, fields.get("bytes_up"));
        assertEquals(20L, fields.get("bytes_down"));
        assertTrue(!fields.containsKey("suppressed"), "a null field is left out");
        assertEquals("java.lang.IllegalStateException: quote \" and newline \n inside", fields.get("error"));
        assertTrue(((String) fields.get("stack")).contains("LogFormatterTest"));
    }

    @Test
    void messageFormatParametersStillFormat() throws IOException {
        String line = new JsonLogFormatter().format(record(Level.SEVERE, "{0} of {1} failed", 3, 4));
        assertEquals("3 of 4 failed", parse(line).get("message"));
        assertEquals("ERROR", parse(line).get("level"));
    }

    @Test
    void aFieldMayNotShadowAStableName() {
        assertThrows(IllegalArgumentException.class, () -> LogFields.of("level", "x"));
        assertThrows(IllegalArgumentException.class, () -> LogFields.of("odd"));
    }

    private static Map<String, Object> parse(String line) throws IOException {
        Map<String, Object> fields = new LinkedHashMap<>();
        try (JsonParser p = new JsonFactory().createParser(line)) {
            assertEquals(JsonToken.START_OBJECT, p.nextToken());
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken value = p.nextToken();
                Object previous = fields.put(name, value == JsonToken.VALUE_NUMBER_INT ? (Object) p.getLongValue()
                        : p.getText());
                assertEquals(null, previous, "duplicate field " + name);
            }
            assertEquals(null, p.nextToken(), "one object per line");
        }
        return fields;
    }
}
