package net.hybridproxy.admin;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.math.BigDecimal;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JsonReaderTest {
    @Test
    void parsesTheRfc8259Values() throws Exception {
        Object v = JsonReader.parse(" {\"a\": [1, -2.5e3, true, false, null], \"b\": \"x\\u00e9\\n\\\"\"} ");
        Map<?, ?> map = (Map<?, ?>) v;
        assertEquals(List.of(new BigDecimal("1"), new BigDecimal("-2.5e3"), true, false, JsonReader.NULL),
                map.get("a"));
        assertEquals("x\u00e9\n\"", map.get("b"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "{", "{\"a\"}", "{\"a\":1,}", "[1,]", "01", "1.", "-", "\"\u0001\"", "tru",
            "{\"a\":1} x", "{a:1}", "{\"a\":1,\"a\":2}", "\"\\x\"", "[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]"})
    void refusesMalformedInputWithAnOffset(String text) {
        JsonReader.MalformedJsonException e = assertThrows(JsonReader.MalformedJsonException.class,
                () -> JsonReader.parse(text));
        assertTrue(e.getMessage().startsWith("malformed JSON at offset "), e.getMessage());
    }

    @Test
    void writerEscapesWhatMustBeEscaped() {
        String json = new JsonWriter().beginObject().field("s", "a\"b\\c\n</script>\u0001").field("n", Double.NaN)
                .name("l").beginArray().value(1).value("x").endArray().endObject().toString();
        assertEquals("{\"s\":\"a\\\"b\\\\c\\n\\u003c/script>\\u0001\",\"n\":null,\"l\":[1,\"x\"]}", json);
    }

    /** Found by AdminFuzzTest: BigDecimal refuses an exponent beyond an int with NumberFormatException. */
    @org.junit.jupiter.api.Test
    void aHugeExponentIsMalformedJsonNotAServerError() {
        org.junit.jupiter.api.Assertions.assertThrows(JsonReader.MalformedJsonException.class,
                () -> JsonReader.parse("1e" + "9".repeat(400)));
    }
}
