package net.hybridproxy.admin;

/**
 * A small streaming JSON writer: enough for the admin API's fixed shapes, with correct string escaping and no
 * reflection. Commas are tracked per nesting level; callers pair {@code begin*} with {@code end*}.
 */
final class JsonWriter {
    private static final int MAX_DEPTH = 32;

    private final StringBuilder out = new StringBuilder(256);
    private final boolean[] needsComma = new boolean[MAX_DEPTH];
    private int depth;
    private boolean afterName;

    JsonWriter beginObject() {
        valuePrefix();
        out.append('{');
        push();
        return this;
    }

    JsonWriter endObject() {
        depth--;
        out.append('}');
        return this;
    }

    JsonWriter beginArray() {
        valuePrefix();
        out.append('[');
        push();
        return this;
    }

    JsonWriter endArray() {
        depth--;
        out.append(']');
        return this;
    }

    JsonWriter name(String name) {
        if (needsComma[depth]) {
            out.append(',');
        }
        needsComma[depth] = true;
        string(name);
        out.append(':');
        afterName = true;
        return this;
    }

    JsonWriter value(String value) {
        valuePrefix();
        if (value == null) {
            out.append("null");
        } else {
            string(value);
        }
        return this;
    }

    JsonWriter value(long value) {
        valuePrefix();
        out.append(value);
        return this;
    }

    /** NaN and infinities have no JSON form: they are written as null ("no value"). */
    JsonWriter value(double value) {
        valuePrefix();
        if (Double.isNaN(value) || Double.isInfinite(value)) {
            out.append("null");
        } else {
            out.append(value);
        }
        return this;
    }

    JsonWriter value(boolean value) {
        valuePrefix();
        out.append(value);
        return this;
    }

    JsonWriter field(String name, String value) {
        return name(name).value(value);
    }

    JsonWriter field(String name, long value) {
        return name(name).value(value);
    }

    JsonWriter field(String name, double value) {
        return name(name).value(value);
    }

    JsonWriter field(String name, boolean value) {
        return name(name).value(value);
    }

    @Override
    public String toString() {
        return out.toString();
    }

    private void push() {
        depth++;
        if (depth >= MAX_DEPTH) {
            throw new IllegalStateException("JSON nested deeper than " + MAX_DEPTH);
        }
        needsComma[depth] = false;
    }

    private void valuePrefix() {
        if (afterName) {
            afterName = false;
            return;
        }
        if (depth > 0) {
            if (needsComma[depth]) {
                out.append(',');
            }
            needsComma[depth] = true;
        }
    }

    private void string(String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    // Below 0x20 must be escaped; '<' too, so a string can never close a <script> it is embedded in.
                    if (c < 0x20 || c == '<' || c == '\u2028' || c == '\u2029') {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
