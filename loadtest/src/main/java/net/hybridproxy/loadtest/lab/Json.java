package net.hybridproxy.loadtest.lab;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Just enough JSON for one flat object per line (strings, numbers, booleans, null). The traffic
 * tool must stay JDK-only, and its result line is the only JSON the lab reads or writes.
 */
final class Json {
    private Json() {
    }

    static String write(Map<String, ?> fields) {
        StringBuilder sb = new StringBuilder("{");
        for (Map.Entry<String, ?> e : fields.entrySet()) {
            if (sb.length() > 1) {
                sb.append(',');
            }
            quote(e.getKey(), sb);
            sb.append(':');
            Object v = e.getValue();
            if (v == null || v instanceof Number || v instanceof Boolean) {
                sb.append(v);
            } else {
                quote(v.toString(), sb);
            }
        }
        return sb.append('}').toString();
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

    /** Parses one flat object; values become String, Long, Double, Boolean or null. */
    static Map<String, Object> parseFlat(String text) {
        Parser p = new Parser(text.strip());
        Map<String, Object> out = new LinkedHashMap<>();
        p.expect('{');
        p.skipWs();
        if (p.peek() == '}') {
            p.pos++;
            p.end();
            return out;
        }
        while (true) {
            p.skipWs();
            String key = p.string();
            p.skipWs();
            p.expect(':');
            p.skipWs();
            out.put(key, p.value());
            p.skipWs();
            char c = p.next();
            if (c == '}') {
                p.end();
                return out;
            }
            if (c != ',') {
                throw p.error("expected , or }");
            }
        }
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
            char c = peek();
            if (c == '"') {
                return string();
            }
            int start = pos;
            while (pos < s.length() && ",}".indexOf(s.charAt(pos)) < 0 && !Character.isWhitespace(s.charAt(pos))) {
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
