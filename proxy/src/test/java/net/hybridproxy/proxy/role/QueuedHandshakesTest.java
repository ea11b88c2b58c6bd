package net.hybridproxy.proxy.role;

import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.UnknownHostException;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class QueuedHandshakesTest {
    private static final long SECOND = 1_000_000_000L;
    private final InetAddress dsl = address("198.18.1.2");
    private final InetAddress lte = address("198.18.2.2");

    @Test
    void aHandshakeThroughAFullQueueIsQueuedAndOneOnAnIdleLineIsNot() {
        QueuedHandshakes judge = new QueuedHandshakes();
        // LTE path 70 ms: a handshake at 72 ms is the line; at 316 ms (seen behind a download) it is a queue.
        assertFalse(judge.queued(lte, 70_000, 0));
        assertFalse(judge.queued(lte, 72_000, SECOND));
        assertTrue(judge.queued(lte, 316_000, 2 * SECOND));
        // Half the minimum is the margin: 104 ms passes, 106 ms does not.
        assertFalse(judge.queued(lte, 104_000, 3 * SECOND));
        assertTrue(judge.queued(lte, 106_000, 3 * SECOND));
    }

    @Test
    void shortPathsGetTenMillisecondsOfMarginAndEachUplinkItsOwnMinimum() {
        QueuedHandshakes judge = new QueuedHandshakes();
        assertFalse(judge.queued(dsl, 15_000, 0));
        assertFalse(judge.queued(lte, 70_000, 0));
        // 15 ms path: half would be 7.5 ms, within the machine's own jitter; 24 ms is not queued, 26 ms is.
        assertFalse(judge.queued(dsl, 24_000, SECOND));
        assertTrue(judge.queued(dsl, 26_000, SECOND));
        // 70 ms on the DSL uplink would be a queue; on LTE it is the line.
        assertTrue(judge.queued(dsl, 70_000, SECOND));
        assertFalse(judge.queued(lte, 70_000, SECOND));
    }

    @Test
    void theMinimumIsForgottenAfterTwoWindowsSoALongerPathIsNotReplacedForEver() {
        QueuedHandshakes judge = new QueuedHandshakes();
        long window = QueuedHandshakes.WINDOW_NANOS;
        assertFalse(judge.queued(lte, 50_000, 0));
        // The path now takes 150 ms (a reroute, or a line busy for minutes).
        assertTrue(judge.queued(lte, 150_000, window / 2));
        // One window later the 50 ms is still the previous window's minimum.
        assertTrue(judge.queued(lte, 150_000, window + 1));
        // Two windows after it, only 150 ms handshakes are remembered.
        assertFalse(judge.queued(lte, 150_000, 2 * window + 2));
    }

    @Test
    void aSubflowWithoutARoundTripIsNotJudged() {
        QueuedHandshakes judge = new QueuedHandshakes();
        assertFalse(judge.queued(lte, 0, 0));
        assertFalse(judge.queued(lte, 100_000, 0));
        assertFalse(judge.queued(lte, 0, SECOND));
    }

    private static InetAddress address(String text) {
        try {
            return InetAddress.getByName(text);
        } catch (UnknownHostException e) {
            throw new AssertionError(e);
        }
    }
}
