package net.hybridproxy.engine.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class PortRangeTest {

    @Test
    void parsesOnePortOrAnInclusiveRange() {
        assertEquals(new PortRange(443, 443), PortRange.parse("443"));
        assertEquals(new PortRange(1000, 2000), PortRange.parse(" 1000-2000 "));
        assertEquals("1000-2000", PortRange.parse("1000-2000").toString());
        assertEquals("443", PortRange.parse("443").toString());
        assertEquals(new PortRange(0, 65535), PortRange.parse("0-65535"));
    }

    @Test
    void containsItsEndsAndWhatIsBetween() {
        PortRange range = PortRange.parse("1000-2000");
        assertTrue(range.contains(1000));
        assertTrue(range.contains(1500));
        assertTrue(range.contains(2000));
        assertFalse(range.contains(999));
        assertFalse(range.contains(2001));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "-", "65536", "2000-1000", "1-2-3", "http", "-5", "5-", "1 000", "+80", "99999999999"})
    void refusesAnythingElse(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PortRange.parse(text));
        assertFalse(e.getMessage().isBlank());
    }
}
