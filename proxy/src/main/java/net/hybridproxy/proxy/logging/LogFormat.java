package net.hybridproxy.proxy.logging;

import java.util.Locale;

/** How a log line is written: {@code text} for people reading a terminal or journald, {@code json} for collectors. */
public enum LogFormat {
    TEXT,
    JSON;

    static final String NAMES = "text or json";

    public static LogFormat parse(String text) {
        String name = text.trim().toUpperCase(Locale.ROOT);
        for (LogFormat format : values()) {
            if (format.name().equals(name)) {
                return format;
            }
        }
        throw new IllegalArgumentException("'" + text + "' is not one of " + NAMES);
    }
}
