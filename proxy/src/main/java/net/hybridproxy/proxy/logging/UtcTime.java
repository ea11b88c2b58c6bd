package net.hybridproxy.proxy.logging;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/** Log timestamps: always UTC, whatever TZ says, so the trailing Z is true and lines from several hosts sort. */
final class UtcTime {
    private static final DateTimeFormatter FORMAT =
            DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

    private UtcTime() {
    }

    static void append(Instant instant, StringBuilder out) {
        FORMAT.formatTo(instant, out);
    }
}
