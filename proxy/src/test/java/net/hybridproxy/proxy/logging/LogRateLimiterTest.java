package net.hybridproxy.proxy.logging;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class LogRateLimiterTest {
    private static final long SECOND = 1_000_000_000L;

    @Test
    void aBurstOfTheRateIsWrittenThenLinesAreCountedAndTheNextWrittenLineReportsThem() {
        LogRateLimiter limiter = new LogRateLimiter(3);
        long t = 5 * SECOND;
        for (int i = 0; i < 3; i++) {
            assertEquals(0, limiter.admit(t));
        }
        for (int i = 0; i < 7; i++) {
            assertEquals(LogRateLimiter.DROP, limiter.admit(t));
        }
        // One third of a second refills one token: the line written carries the seven left out.
        assertEquals(7, limiter.admit(t + SECOND / 3 + 1));
        assertEquals(LogRateLimiter.DROP, limiter.admit(t + SECOND / 3 + 2));
        assertEquals(1, limiter.admit(t + 2 * SECOND));
    }

    @Test
    void theBucketNeverHoldsMoreThanOneSecondOfLines() {
        LogRateLimiter limiter = new LogRateLimiter(2);
        limiter.admit(0);
        long later = 3600 * SECOND;
        assertEquals(0, limiter.admit(later));
        assertEquals(0, limiter.admit(later));
        assertEquals(LogRateLimiter.DROP, limiter.admit(later));
    }

    @Test
    void zeroMeansNoLines() {
        LogRateLimiter limiter = new LogRateLimiter(0);
        assertEquals(LogRateLimiter.DROP, limiter.admit(0));
        assertEquals(LogRateLimiter.DROP, limiter.admit(100 * SECOND));
    }

    @Test
    void aClockThatStepsBackRefillsNothingAndBreaksNothing() {
        LogRateLimiter limiter = new LogRateLimiter(1);
        assertEquals(0, limiter.admit(10 * SECOND));
        assertEquals(LogRateLimiter.DROP, limiter.admit(5 * SECOND));
        assertEquals(1, limiter.admit(6 * SECOND + 1));
    }
}
