package net.hybridproxy.proxy.logging;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.logging.Formatter;
import java.util.logging.LogRecord;

/**
 * One JSON object per line, for log collectors (Loki, Elasticsearch, journald's JSON export). Field names are a
 * stable interface: {@code time} (UTC, RFC 3339 with milliseconds), {@code level} (DEBUG, INFO, WARN, ERROR),
 * {@code logger}, {@code message}, {@code thread}, then the line's own fields ({@code connection}, {@code uplink},
 * {@code session}, byte counts...), and {@code error} and {@code stack} when an exception is attached. Numbers stay
 * numbers.
 */
final class JsonLogFormatter extends Formatter {
    private static final JsonFactory JSON = new JsonFactory();

    @Override
    public String format(LogRecord record) {
        StringWriter out = new StringWriter(192);
        try (JsonGenerator json = JSON.createGenerator(out)) {
            json.writeStartObject();
            StringBuilder time = new StringBuilder(24);
            UtcTime.append(record.getInstant(), time);
            json.writeStringField("time", time.toString());
            json.writeStringField("level", LogLevel.nameOf(record.getLevel()));
            json.writeStringField("logger", record.getLoggerName());
            json.writeStringField("message", formatMessage(record));
            json.writeStringField("thread", Thread.currentThread().getName());
            LogFields fields = LogFields.in(record.getParameters());
            if (fields != null) {
                for (int i = 0; i < fields.size(); i++) {
                    json.writeFieldName(fields.name(i));
                    Object value = fields.value(i);
                    if (value instanceof Long || value instanceof Integer || value instanceof Short) {
                        json.writeNumber(((Number) value).longValue());
                    } else if (value instanceof Double || value instanceof Float) {
                        json.writeNumber(((Number) value).doubleValue());
                    } else if (value instanceof Boolean b) {
                        json.writeBoolean(b);
                    } else {
                        json.writeString(String.valueOf(value));
                    }
                }
            }
            Throwable thrown = record.getThrown();
            if (thrown != null) {
                json.writeStringField("error", thrown.toString());
                StringWriter trace = new StringWriter();
                thrown.printStackTrace(new PrintWriter(trace));
                json.writeStringField("stack", trace.toString());
            }
            json.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a StringWriter does not fail
        }
        return out.append(System.lineSeparator()).toString();
    }
}
