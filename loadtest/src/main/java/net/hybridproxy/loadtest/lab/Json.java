package net.hybridproxy.loadtest.lab;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Just enough JSON for the lab's result lines and benchmark reports: objects, arrays, strings, numbers,
 * booleans and null. The traffic tools must stay free of extra dependencies, and nothing here needs more.
 * Objects parse to insertion-ordered maps, arrays to lists, integers to Long and other numbers to Double.
 */
public final class Json {
    private Json() {
    }

    /** One line of JSON. Maps, collections, primitive arrays, numbers, booleans and null map as expected. */
    public static String write(Object value) {
        StringBuilder sb = new StringBuilder();
        write(value, sb, -1, 0);
        return sb.toString();
    }

    /** Indented JSON for files people read and diff. */
    public static String writePretty(Object value) {
        StringBuilder sb = new StringBuilder();
        write(value, sb, 2, 0);
        return sb.append('\n').toString();
    }

    private static void write(Object v, StringBuilder sb, int indent, int depth) {
        switch (v) {
            case null -> sb.append("null");
            case Double d when d.isNaN() || d.isInfinite() -> sb.append("null");
            case Float f when f.isNaN() || f.isInfinite() -> sb.append("null");
            case Number n -> sb.append(n);
            case Boolean b -> sb.append(b);
            case Map<?, ?> m -> {
                sb.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (!first) {
                        sb.append(',');
                    }
                    first = false;
                    newline(sb, indent, depth + 1);
                    quote(String.valueOf(e.getKey()), sb);
                    sb.append(indent >= 0 ? ": " : ":");
                    write(e.getValue(), sb, indent, depth + 1);
                }
                if (!m.isEmpty()) {
                    newline(sb, indent, depth);
                }
                sb.append('}');
            }
            case Collection<?> c -> writeArray(List.copyOf(c.stream().map(x -> x == null ? NULL : x).toList()), sb,
                    indent, depth);
            case double[] a -> writeArray(java.util.Arrays.stream(a).boxed().map(x -> (Object) x).toList(), sb, -1, depth);
            case long[] a -> writeArray(java.util.Arrays.stream(a).boxed().map(x -> (Object) x).toList(), sb, -1, depth);
            default -> quote(v.toString(), sb);
        }
    }

    private static final Object NULL = new Object() {
        @Override
        public String toString() {
            return "null";
        }
    };

    private static void writeArray(List<?> items, StringBuilder sb, int indent, int depth) {
        // Arrays of plain values stay on one line even in pretty output: timelines would otherwise fill pages.
        boolean scalars = items.stream().allMatch(x -> x == NULL || x instanceof Number || x instanceof Boolean);
        int inner = scalars ? -1 : indent;
        sb.append('[');
        for (int i = 0; i < items.size(); i++) {
            if (i > 0) {
                sb.append(',');
            }
            newline(sb, inner, depth + 1);
            Object x = items.get(i);
            write(x == NULL ? null : x, sb, inner, depth + 1);
        }
        if (!items.isEmpty()) {
            newline(sb, inner, depth);
        }
        sb.append(']');
    }

    private static void newline(StringBuilder sb, int indent, int depth) {
        if (indent >= 0) {
            sb.append('\n').append(" ".repeat(indent * depth));
        }
    }

    private static void quote(String s, StringBuilder sb) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }

    /** Parses one object (kept for the traffic tool's flat result lines). */
    static Map<String, Object> parseFlat(String text) {
        return parseObject(text);
    }

    /** Parses a JSON object. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> parseObject(String text) {
        Object v = parse(text);
        if (!(v instanceof Map)) {
            throw new IllegalArgumentException("not a JSON object: " + text);
        }
        return (Map<String, Object>) v;
    }

    /** Parses any JSON value. */
    public static Object parse(String text) {
        Parser p = new Parser(text.strip());
        Object v = p.value();
        p.end();
        return v;
    }

    private static final class Parser {
        private final String s;
        private int pos;

        Parser(String s) {
            this.s = s;
        }

        char peek() {
            if (pos >= s.length()) {
                throw error("unexpected end");
            }
            return s.charAt(pos);
        }

        char next() {
            char c = peek();
            pos++;
            return c;
        }

        void expect(char c) {
            if (next() != c) {
                throw error("expected " + c);
            }
        }

        void skipWs() {
            while (pos < s.length() && Character.isWhitespace(s.charAt(pos))) {
                pos++;
            }
        }

        void end() {
            skipWs();
            if (pos != s.length()) {
                throw error("trailing characters");
            }
        }

        Object value() {
            skipWs();
            char c = peek();
            if (c == '"') {
                return string();
            }
            if (c == '{') {
                return object();
            }
            if (c == '[') {
                return array();
            }
            int start = pos;
            while (pos < s.length() && ",}]".indexOf(s.charAt(pos)) < 0 && !Character.isWhitespace(s.charAt(pos))) {
                pos++;
            }
            String tok = s.substring(start, pos);
            return switch (tok) {
                case "null" -> null;
                case "true" -> Boolean.TRUE;
                case "false" -> Boolean.FALSE;
                default -> {
                    try {
                        yield tok.matches("-?\\d+") ? (Object) Long.parseLong(tok) : (Object) Double.parseDouble(tok);
                    } catch (NumberFormatException e) {
                        throw error("bad value " + tok);
                    }
                }
            };
        }

        Map<String, Object> object() {
            expect('{');
            Map<String, Object> out = new LinkedHashMap<>();
            skipWs();
            if (peek() == '}') {
                pos++;
                return out;
            }
            while (true) {
                skipWs();
                String key = string();
                skipWs();
                expect(':');
                out.put(key, value());
                skipWs();
                char c = next();
                if (c == '}') {
                    return out;
                }
                if (c != ',') {
                    throw error("expected , or }");
                }
            }
        }

        List<Object> array() {
            expect('[');
            List<Object> out = new ArrayList<>();
            skipWs();
            if (peek() == ']') {
                pos++;
                return out;
            }
            while (true) {
                out.add(value());
                skipWs();
                char c = next();
                if (c == ']') {
                    return out;
                }
                if (c != ',') {
                    throw error("expected , or ]");
                }
            }
        }

        String string() {
            expect('"');
            StringBuilder sb = new StringBuilder();
            while (true) {
                char c = next();
                if (c == '"') {
                    return sb.toString();
                }
                if (c != '\\') {
                    sb.append(c);
                    continue;
                }
                char e = next();
                switch (e) {
                    case '"', '\\', '/' -> sb.append(e);
                    case 'n' -> sb.append('\n');
                    case 'r' -> sb.append('\r');
                    case 't' -> sb.append('\t');
                    case 'b' -> sb.append('\b');
                    case 'f' -> sb.append('\f');
                    case 'u' -> {
                        if (pos + 4 > s.length()) {
                            throw error("short \\u escape");
                        }
                        sb.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
                        pos += 4;
                    }
                    default -> throw error("bad escape \\" + e);
                }
            }
        }

        IllegalArgumentException error(String what) {
            return new IllegalArgumentException(what + " at " + pos + " in: " + s);
        }
    }
}
