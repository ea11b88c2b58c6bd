package net.hybridproxy.proxy.logging;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.logging.Formatter;
import java.util.logging.LogRecord;

/**
 * One line per event: UTC time with milliseconds, level, logger, message, then the line's fields as
 * {@code key=value} (quoted when the value has a space or a quote), then a stack trace if there is one.
 */
final class TextLogFormatter extends Formatter {
    @Override
    public String format(LogRecord record) {
        StringBuilder line = new StringBuilder(160);
        UtcTime.append(record.getInstant(), line);
        line.append(' ').append(String.format("%-5s", LogLevel.nameOf(record.getLevel())));
        line.append(' ').append(record.getLoggerName()).append(": ").append(formatMessage(record));
        LogFields fields = LogFields.in(record.getParameters());
        if (fields != null) {
            for (int i = 0; i < fields.size(); i++) {
                line.append(' ').append(fields.name(i)).append('=');
                appendValue(String.valueOf(fields.value(i)), line);
            }
        }
        line.append(System.lineSeparator());
        if (record.getThrown() != null) {
            StringWriter trace = new StringWriter();
            record.getThrown().printStackTrace(new PrintWriter(trace));
            line.append(trace);
        }
        return line.toString();
    }

    private static void appendValue(String value, StringBuilder line) {
        if (!value.isEmpty() && value.chars().noneMatch(c -> c == ' ' || c == '"' || c == '=' || c < 0x20)) {
            line.append(value);
            return;
        }
        line.append('"');
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c == '"' || c == '\\') {
                line.append('\\').append(c);
            } else if (c < 0x20) {
                line.append(' ');
            } else {
                line.append(c);
            }
        }
        line.append('"');
    }
}
