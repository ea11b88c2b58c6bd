package net.hybridproxy.engine.multipath.subflow;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The delivery-rate filter's rules, one at a time, with time as an argument: a sample per interval of at least the
 * minimum RTT (and 20 ms), taken only while the connection was busy, restarted when the counter goes back, and a
 * peak remembered for one to two windows of 5 s. The late-path detector asks {@code fellBelow(0.25)}
 * ({@code SubflowTable.LATE_RATE_FRACTION}).
 */
class DeliveredRateFilterTest {
    private static final long MS = 1_000_000L;
    private static final long S = 1_000_000_000L;
    private static final long MIN_RTT = 50 * MS;
    /** 10 MB/s = 10 000 bytes per millisecond. */
    private static final long FAST = 10_000;

    private final DeliveredRateFilter filter = new DeliveredRateFilter();
    private long now = 1000 * S;
    private long delivered = 5_000_000;

    /** {@code ms} milliseconds later, {@code bytesPerMs} times that delivered meanwhile, busy or not. */
    private void after(long ms, long bytesPerMs, boolean busy) {
        now += ms * MS;
        delivered += ms * bytesPerMs;
        filter.update(now, delivered, MIN_RTT, busy);
    }

    @Test
    void nothingBeforeTwoReads() {
        filter.update(now, delivered, MIN_RTT, true);
        assertEquals(0, filter.bytesPerSecond());
        assertEquals(0, filter.peakBytesPerSecond());
        assertFalse(filter.fellBelow(0.25), "no peak yet: nothing to fall below");
    }

    @Test
    void theRateIsTheCountersGrowthOverTheRealInterval() {
        filter.update(now, delivered, MIN_RTT, true);
        after(100, FAST, true);
        assertEquals(FAST * 1000, filter.bytesPerSecond());
        assertEquals(FAST * 1000, filter.peakBytesPerSecond());
        // A late read covers a longer interval with the whole growth: the same rate, not a spike.
        after(400, FAST, true);
        assertEquals(FAST * 1000, filter.bytesPerSecond());
    }

    @Test
    void readsCloserThanTheMinimumRttAddUpIntoOneSample() {
        filter.update(now, delivered, MIN_RTT, true);
        after(10, FAST, true);
        after(10, FAST, true);
        assertEquals(0, filter.bytesPerSecond(), "20 ms < the 50 ms minimum RTT: no sample yet");
        after(30, 3 * FAST, true);
        // 50 ms since the first read: (10 + 10 + 30 x 3) x FAST bytes over 50 ms.
        assertEquals((10 + 10 + 90) * FAST * 1000 / 50, filter.bytesPerSecond());
    }

    @Test
    void theShortestIntervalIs20MsWhateverTheRtt() {
        filter.update(now, delivered, MS, true);
        now += 10 * MS;
        delivered += 10 * FAST;
        filter.update(now, delivered, MS, true);
        assertEquals(0, filter.bytesPerSecond(), "10 ms: shorter than the 20 ms floor");
        now += 10 * MS;
        delivered += 10 * FAST;
        filter.update(now, delivered, MS, true);
        assertEquals(FAST * 1000, filter.bytesPerSecond());
    }

    /**
     * Not busy (less than a congestion window to send): the interval measured what the scheduler handed the path, so
     * it is not a sample, and the next sample starts after it.
     */
    @Test
    void anIntervalWhileNotBusyIsNotASample() {
        filter.update(now, delivered, MIN_RTT, true);
        after(100, FAST, true);
        after(1000, FAST / 100, false);
        assertEquals(FAST * 1000, filter.bytesPerSecond(), "the idle second left the rate as it was");
        assertFalse(filter.fellBelow(0.25), "a path with little to send is not late");
        // Busy again: the next sample spans only the busy interval since the idle read.
        after(100, FAST / 2, true);
        assertEquals(FAST * 1000 / 2, filter.bytesPerSecond());
    }

    /** A counter that went back (a new connection under the subflow) starts over instead of a negative rate. */
    @Test
    void aCounterThatWentBackStartsOver() {
        filter.update(now, delivered, MIN_RTT, true);
        after(100, FAST, true);
        now += 100 * MS;
        delivered = 1000;
        filter.update(now, delivered, MIN_RTT, true);
        assertEquals(FAST * 1000, filter.bytesPerSecond(), "no sample from a counter that went back");
        after(100, FAST / 4, true);
        assertEquals(FAST * 1000 / 4, filter.bytesPerSecond());
    }

    /** The late-path rule: the latest sample below a quarter of the recent peak. */
    @Test
    void fellBelowAQuarterOfThePeakWhenTheRateCollapses() {
        filter.update(now, delivered, MIN_RTT, true);
        after(100, FAST, true);
        after(100, FAST / 2, true);
        assertFalse(filter.fellBelow(0.25), "half the peak");
        after(100, FAST / 4, true);
        assertFalse(filter.fellBelow(0.25), "exactly a quarter is not below it");
        after(100, FAST / 5, true);
        assertTrue(filter.fellBelow(0.25), "a fifth of the peak");
        assertEquals(FAST * 1000, filter.peakBytesPerSecond());
        after(100, FAST, true);
        assertFalse(filter.fellBelow(0.25), "recovered");
    }

    /**
     * The peak is remembered for the current and the previous 5 s window: a collapse of 3 s is still judged against
     * the rate before it; once two windows passed, the collapsed rate is the new normal.
     */
    @Test
    void thePeakIsRememberedForOneToTwoWindows() {
        filter.update(now, delivered, MIN_RTT, true);
        after(100, FAST, true);
        for (int i = 0; i < 30; i++) {
            after(100, FAST / 10, true); // 3 s collapsed
        }
        assertTrue(filter.fellBelow(0.25), "3 s into the collapse");
        assertEquals(FAST * 1000, filter.peakBytesPerSecond());
        for (int i = 0; i < 70; i++) {
            after(100, FAST / 10, true); // 10 s collapsed in all: the next window began 5 s after the first
        }
        assertEquals(FAST * 1000 / 10, filter.peakBytesPerSecond(), "the old peak is forgotten after two windows");
        assertFalse(filter.fellBelow(0.25));
    }

    /** A read after more than two windows of silence forgets both windows' peaks at once. */
    @Test
    void aLongGapForgetsEveryPeak() {
        filter.update(now, delivered, MIN_RTT, true);
        after(100, FAST, true);
        after(11_000, FAST / 10, true);
        assertEquals(FAST * 1000 / 10, filter.peakBytesPerSecond());
        assertFalse(filter.fellBelow(0.25));
    }

    /**
     * A batch handed to an idle connection: nothing can be acknowledged for one minimum RTT, so what arrives after
     * that bounds the rate by the time since less that RTT. Acknowledged all at once, the batch is credited with
     * 10 ms at least; trickling in over 100 ms (a collapsed path), it reads its trickle; a restart older than asked
     * is no news.
     */
    @Test
    void aBatchHandedToAnIdleConnectionBoundsTheRateByItsOwnDeliveryTime() {
        after(10, 0, false); // held nothing: the batch starts here
        long start = now;
        after(30, 0, true);
        after(20, 0, true); // a sample over the first minimum RTT: zero
        assertEquals(0, filter.sinceRestartBytesPerSecondLowerBound(now, start, MIN_RTT), "nothing delivered yet");
        now += 2 * MS;
        delivered += 37_500; // the whole batch at once, 2 ms after the minimum RTT
        filter.update(now, delivered, MIN_RTT, true);
        assertEquals(0, filter.bytesPerSecond(), "the fixed-interval sample ended before the batch arrived");
        assertEquals(37_500 * 100, filter.sinceRestartBytesPerSecondLowerBound(now, start, MIN_RTT),
                "credited with 10 ms, not 2");

        after(10, 0, false);
        start = now;
        after(50, 0, true);
        after(100, 375, true); // 3 Mbit/s behind the minimum RTT
        assertEquals(375_000, filter.sinceRestartBytesPerSecondLowerBound(now, start, MIN_RTT));
        assertEquals(0, filter.sinceRestartBytesPerSecondLowerBound(now, start + 1, MIN_RTT), "an older restart");
    }
}
