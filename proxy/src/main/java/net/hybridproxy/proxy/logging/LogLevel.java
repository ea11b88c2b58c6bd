package net.hybridproxy.proxy.logging;

import java.util.Locale;
import java.util.logging.Level;

/**
 * The four levels an operator chooses from ({@code HYBRIDPROXY_LOG}, {@code hybridproxy.log.level}), mapped onto
 * {@code java.util.logging}, which {@link System.Logger} writes to: DEBUG is FINE (every relay's detail), WARN is
 * WARNING, ERROR is SEVERE.
 */
public enum LogLevel {
    DEBUG(Level.FINE),
    INFO(Level.INFO),
    WARN(Level.WARNING),
    ERROR(Level.SEVERE);

    static final String NAMES = "debug, info, warn or error";

    private final Level julLevel;

    LogLevel(Level julLevel) {
        this.julLevel = julLevel;
    }

    Level julLevel() {
        return julLevel;
    }

    /** The name as written in a log line: DEBUG, INFO, WARN, ERROR. */
    static String nameOf(Level level) {
        int value = level.intValue();
        if (value >= Level.SEVERE.intValue()) {
            return "ERROR";
        }
        if (value >= Level.WARNING.intValue()) {
            return "WARN";
        }
        if (value >= Level.INFO.intValue()) {
            return "INFO";
        }
        return "DEBUG";
    }

    /**
     * Parses an operator's spelling: the four names in any case, plus "warning", the one alias people type from
     * habit. Anything else is refused, so a typo is reported instead of silently logging at the default.
     */
    public static LogLevel parse(String text) {
        String name = text.trim().toUpperCase(Locale.ROOT);
        if (name.equals("WARNING")) {
            return WARN;
        }
        for (LogLevel level : values()) {
            if (level.name().equals(name)) {
                return level;
            }
        }
        throw new IllegalArgumentException("'" + text + "' is not one of " + NAMES);
    }
}
