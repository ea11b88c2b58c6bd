package net.hybridproxy.proxy.logging;

import net.hybridproxy.proxy.testing.CapturingLogger;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RefusalLogTest {
    private final List<String> lines = new ArrayList<>();
    private final AtomicLong now = new AtomicLong();
    private final RefusalLog log = new RefusalLog(new CapturingLogger(lines), Duration.ofSeconds(10), now::get);
    private static final InetAddress A = InetAddress.ofLiteral("198.18.0.1");
    private static final InetAddress B = InetAddress.ofLiteral("198.18.0.2");

    /** An attacker sending 10 000 bad requests a second gets one log line per interval, with the count. */
    @Test
    void aFloodFromOneSourceIsLoggedOncePerIntervalWithItsCount() {
        for (int i = 0; i < 10_000; i++) {
            log.refused("malformed", A, () -> "refused A");
        }
        assertEquals(List.of("refused A"), lines);
        now.addAndGet(Duration.ofSeconds(10).toNanos());
        log.refused("malformed", A, () -> "refused A");
        assertEquals(2, lines.size());
        assertTrue(lines.get(1).contains("9999 more like it from this source"), lines.get(1));
    }

    @Test
    void otherReasonsAndSourcesAreLoggedIndependently() {
        log.refused("malformed", A, () -> "A malformed");
        log.refused("pending quota", A, () -> "A pending");
        log.refused("malformed", B, () -> "B malformed");
        assertEquals(List.of("A malformed", "A pending", "B malformed"), lines);
    }

    /** Many sources (a botnet, or spoofed-looking churn) cannot grow the table: beyond the bound they are pooled. */
    @Test
    void theTableOfSourcesIsBounded() throws Exception {
        for (int i = 0; i < 5 * RefusalLog.MAX_TRACKED; i++) {
            InetAddress source = InetAddress.getByAddress(new byte[] {10, (byte) (i >> 16), (byte) (i >> 8), (byte) i});
            log.refused("malformed", source, () -> "x");
        }
        assertTrue(log.tracked() <= RefusalLog.MAX_TRACKED + 1, "tracked " + log.tracked());
        assertTrue(lines.size() <= RefusalLog.MAX_TRACKED + 1, lines.size() + " lines");
        assertFalse(lines.isEmpty());
    }
}
