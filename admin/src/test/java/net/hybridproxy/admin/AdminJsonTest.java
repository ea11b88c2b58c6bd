package net.hybridproxy.admin;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AdminJsonTest {
    @Test
    void parsesTheRfc8259Values() throws Exception {
        Object v = AdminJson.parse(" {\"a\": [1, -2.5e3, true, false, null], \"b\": \"x\\u00e9\\n\\\"\"} ");
        Map<?, ?> map = (Map<?, ?>) v;
        List<?> a = (List<?>) map.get("a");
        assertEquals(1, ((Number) a.get(0)).intValue());
        assertEquals(0, new BigDecimal("-2.5e3").compareTo((BigDecimal) a.get(1)));
        assertEquals(Arrays.asList(true, false, null), a.subList(2, 5));
        assertEquals("x\u00e9\n\"", map.get("b"));
        assertEquals(List.of("a", "b"), List.copyOf(map.keySet()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "{", "{\"a\"}", "{\"a\":1,}", "[1,]", "01", "1.", "-", "\"\u0001\"", "tru",
            "{\"a\":1} x", "{\"a\":1} {}", "{a:1}", "{\"a\":1,\"a\":2}", "\"\\x\"",
            "[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]", "{\"a\":1}\n\"tail\"", "'a'", "NaN"})
    void refusesMalformedInputWithAnOffset(String text) {
        AdminJson.MalformedJsonException e = assertThrows(AdminJson.MalformedJsonException.class,
                () -> AdminJson.parse(text));
        assertTrue(e.getMessage().matches("malformed JSON at offset \\d+: .+"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
    }

    /** Found by the admin fuzz test: a number no BigDecimal can hold was an unchecked exception (a 500). */
    @Test
    void aNumberOutOfAnyRangeIsMalformedInput() {
        AdminJson.MalformedJsonException e = assertThrows(AdminJson.MalformedJsonException.class,
                () -> AdminJson.parse("{\"reason\": 1e" + "9".repeat(400) + "}"));
        assertTrue(e.getMessage().startsWith("malformed JSON at offset "), e.getMessage());
    }

    @Test
    void writerEscapesWhatMustBeEscapedAndWritesNoValueAsNull() {
        String json = AdminJson.write(w -> {
            w.writeStartObject();
            w.writeStringField("s", "a\"b\\c\n\u0001");
            AdminJson.number(w, "n", Double.NaN);
            AdminJson.number(w, "i", Double.POSITIVE_INFINITY);
            AdminJson.number(w, "x", 0.5);
            w.writeArrayFieldStart("l");
            w.writeNumber(1);
            w.writeString("x");
            w.writeEndArray();
            w.writeEndObject();
        });
        assertEquals("{\"s\":\"a\\\"b\\\\c\\n\\u0001\",\"n\":null,\"i\":null,\"x\":0.5,\"l\":[1,\"x\"]}", json);
    }
}
