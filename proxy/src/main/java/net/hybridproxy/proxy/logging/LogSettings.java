package net.hybridproxy.proxy.logging;

import java.util.Map;

/**
 * What the operator chose for logging: level, line format, and how many per-connection close lines a second may
 * be written (0: none). The environment ({@code HYBRIDPROXY_LOG}, {@code HYBRIDPROXY_LOG_FORMAT}) overrides the
 * configuration file, so a level can be raised for one run without editing the file.
 */
public record LogSettings(LogLevel level, LogFormat format, int connectionLinesPerSecond) {
    private static final String LEVEL_VARIABLE = "HYBRIDPROXY_LOG";
    private static final String FORMAT_VARIABLE = "HYBRIDPROXY_LOG_FORMAT";
    public static final LogSettings DEFAULTS = new LogSettings(LogLevel.INFO, LogFormat.TEXT, 20);

    public LogSettings {
        if (connectionLinesPerSecond < 0) {
            throw new IllegalArgumentException("connection lines per second must be >= 0");
        }
    }

    /**
     * These settings with the environment's overrides applied.
     *
     * @throws IllegalArgumentException naming the variable and what it accepts, when a variable is set to
     *                                  something that is not a level or a format
     */
    public LogSettings withEnvironment(Map<String, String> environment) {
        LogLevel chosenLevel = level;
        LogFormat chosenFormat = format;
        String levelText = environment.get(LEVEL_VARIABLE);
        if (levelText != null && !levelText.isBlank()) {
            try {
                chosenLevel = LogLevel.parse(levelText);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(LEVEL_VARIABLE + ": " + e.getMessage());
            }
        }
        String formatText = environment.get(FORMAT_VARIABLE);
        if (formatText != null && !formatText.isBlank()) {
            try {
                chosenFormat = LogFormat.parse(formatText);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(FORMAT_VARIABLE + ": " + e.getMessage());
            }
        }
        return new LogSettings(chosenLevel, chosenFormat, connectionLinesPerSecond);
    }
}
