package net.hybridproxy.proxy.logging;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;

/**
 * Named values attached to one log line (connection, uplink, session, bytes...), passed as the last parameter of a
 * {@link System.Logger} call: {@code LOG.log(Level.INFO, "connection closed", LogFields.of("connection", label))}.
 * The text format appends them as {@code key=value}; the JSON format writes them as fields of the line's object,
 * so collectors can filter on them without parsing the message.
 */
public final class LogFields {
    /** The names every JSON line has; a field may not take one of them. */
    static final Set<String> RESERVED = Set.of("time", "level", "logger", "message", "thread", "error", "stack");

    private final List<String> names;
    private final List<Object> values;

    private LogFields(List<String> names, List<Object> values) {
        this.names = names;
        this.values = values;
    }

    /** Alternating names and values; a null value is left out. */
    public static LogFields of(Object... namesAndValues) {
        if (namesAndValues.length % 2 != 0) {
            throw new IllegalArgumentException("names and values must alternate");
        }
        List<String> names = new ArrayList<>(namesAndValues.length / 2);
        List<Object> values = new ArrayList<>(namesAndValues.length / 2);
        for (int i = 0; i < namesAndValues.length; i += 2) {
            String name = String.valueOf(namesAndValues[i]);
            if (RESERVED.contains(name)) {
                throw new IllegalArgumentException("'" + name + "' is a reserved log field name");
            }
            if (namesAndValues[i + 1] != null) {
                names.add(name);
                values.add(namesAndValues[i + 1]);
            }
        }
        return new LogFields(Collections.unmodifiableList(names), Collections.unmodifiableList(values));
    }

    public int size() {
        return names.size();
    }

    public String name(int i) {
        return names.get(i);
    }

    public Object value(int i) {
        return values.get(i);
    }

    /** The fields among a log record's parameters, or null: the formatters' way to find them. */
    static LogFields in(Object[] parameters) {
        if (parameters != null) {
            for (Object parameter : parameters) {
                if (parameter instanceof LogFields fields) {
                    return fields;
                }
            }
        }
        return null;
    }
}
