package net.hybridproxy.loadtest.tool;

import com.fasterxml.jackson.jr.ob.JSON;

import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * The loadtest tools' JSON, on jackson-jr (the library the admin API uses): records written with their component names
 * (a null component is left out), read back into the same records. Unknown members are ignored when reading, so a result written by an older or
 * newer tool still reads; a member that is missing reads as null (or 0 and false for primitives).
 */
public final class ToolJson {
    private static final JSON COMPACT = JSON.builder().build();
    private static final JSON PRETTY = JSON.builder().enable(JSON.Feature.PRETTY_PRINT_OUTPUT).build();

    private ToolJson() {
    }

    /** One line, as the tools print their results. */
    public static String line(Object value) {
        try {
            return COMPACT.asString(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // only a bug (a type jackson-jr cannot write) gets here
        }
    }

    /** Indented, for files people read. */
    public static String pretty(Object value) {
        try {
            return PRETTY.asString(value) + "\n";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Reads {@code json} into a {@code type}.
     *
     * @throws IllegalArgumentException if it is not JSON of that shape
     */
    public static <T> T read(Class<T> type, String json) {
        try {
            return COMPACT.beanFrom(type, json);
        } catch (IOException e) {
            throw new IllegalArgumentException("not a " + type.getSimpleName() + ": " + e.getMessage(), e);
        }
    }
}
