package net.hybridproxy.loadtest.lab.emu;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The link model alone, with time passed in: rate, queue, delay, jitter, loss and blackhole. */
class LinkScheduleTest {
    private static final long MS = 1_000_000;

    @Test
    void anUnlimitedLinkOnlyDelays() {
        LinkSchedule s = new LinkSchedule(Impairment.NONE.withDelay(Duration.ofMillis(10)), new SplittableRandom(1));
        assertEquals(5 * MS + 10 * MS, s.admit(5 * MS, 1500));
        assertEquals(6 * MS + 10 * MS, s.admit(6 * MS, 1500));
    }

    @Test
    void packetsAreSerialisedBackToBackAtLineRate() {
        // 12 Mbit/s: a 1500-byte packet takes exactly 1 ms on the wire.
        LinkSchedule s = new LinkSchedule(Impairment.of(12, Duration.ZERO), new SplittableRandom(1));
        assertEquals(1 * MS, s.admit(0, 1500));
        assertEquals(2 * MS, s.admit(0, 1500));
        assertEquals(3 * MS, s.admit(0, 1500));
        // An idle line starts serialising on arrival.
        assertEquals(11 * MS, s.admit(10 * MS, 1500));
    }

    @Test
    void aFullQueueTailDrops() {
        // 12 Mbit/s with room for 3000 bytes waiting: the third back-to-back packet does not fit.
        LinkSchedule s = new LinkSchedule(Impairment.of(12, Duration.ZERO).withQueueLimit(3000),
                new SplittableRandom(1));
        assertTrue(s.admit(0, 1500) > 0);
        assertTrue(s.admit(0, 1500) > 0);
        assertEquals(LinkSchedule.DROP, s.admit(0, 1500));
        assertEquals(1, s.queueDrops());
        // Once the first packet has left there is room again.
        assertTrue(s.admit(1 * MS, 1500) > 0);
    }

    @Test
    void throughputOverTimeMatchesTheRate() {
        LinkSchedule s = new LinkSchedule(Impairment.of(50, Duration.ofMillis(20)), new SplittableRandom(1));
        long now = 0;
        long lastDue = 0;
        long bytes = 0;
        // Offer 100 Mbit/s for one simulated second.
        for (int i = 0; i < 8334; i++) {
            now = i * 120_000L;
            long due = s.admit(now, 1500);
            if (due != LinkSchedule.DROP) {
                lastDue = due;
                bytes += 1500;
            }
        }
        double mbit = bytes * 8 / ((lastDue - 20 * MS) / 1e9) / 1e6;
        assertEquals(50, mbit, 1.0, "delivered rate");
        assertTrue(s.queueDrops() > 3000, "half the offered load must be dropped: " + s.queueDrops());
    }

    @Test
    void jitterVariesDelayButNeverReorders() {
        Impairment imp = Impairment.NONE.withDelay(Duration.ofMillis(20)).withJitter(Duration.ofMillis(5));
        LinkSchedule s = new LinkSchedule(imp, new SplittableRandom(7));
        long previous = Long.MIN_VALUE;
        long min = Long.MAX_VALUE;
        long max = Long.MIN_VALUE;
        for (int i = 0; i < 10_000; i++) {
            long now = i * 100_000L;
            long due = s.admit(now, 100);
            assertTrue(due >= previous, "reordered at packet " + i);
            previous = due;
            min = Math.min(min, due - now);
            max = Math.max(max, due - now);
        }
        // Order preservation lifts short draws to the previous departure, so the minimum sits above 15 ms.
        assertTrue(min >= 15 * MS && min < 20 * MS, "min delay " + min);
        assertTrue(max > 24 * MS && max <= 25 * MS + 100_000, "max delay " + max);
    }

    @Test
    void lossDropsTheConfiguredFraction() {
        LinkSchedule s = new LinkSchedule(Impairment.NONE.withLoss(0.005), new SplittableRandom(3));
        for (int i = 0; i < 200_000; i++) {
            s.admit(i, 100);
        }
        assertEquals(1000, s.lossDrops(), 150);
    }

    @Test
    void aBlackholeDropsEverythingUntilLifted() {
        LinkSchedule s = new LinkSchedule(Impairment.NONE, new SplittableRandom(1));
        s.blackhole(true);
        assertEquals(LinkSchedule.DROP, s.admit(0, 100));
        s.blackhole(false);
        assertEquals(1, s.admit(1, 100));
        assertEquals(1, s.blackholeDrops());
    }

    @Test
    void aDelayChangeAppliesToLaterPacketsWithoutReordering() {
        LinkSchedule s = new LinkSchedule(Impairment.NONE.withDelay(Duration.ofMillis(100)), new SplittableRandom(1));
        long first = s.admit(0, 100);
        s.configure(Impairment.NONE.withDelay(Duration.ofMillis(10)));
        long second = s.admit(MS, 100);
        assertEquals(100 * MS, first);
        assertEquals(first, second, "a shorter delay must not overtake packets already on the line");
    }

    @Test
    void aQueueSetAsTimeHoldsThatLongAtLineRateAndFollowsARateChange() {
        Impairment lte = Impairment.of(30, Duration.ofMillis(25)).withQueueTime(Duration.ofMillis(200));
        assertEquals(750_000, lte.effectiveQueueLimit(), "200 ms at 30 Mbit/s");
        assertEquals(75_000, lte.withRateMbit(3).effectiveQueueLimit(),
                "200 ms at 3 Mbit/s after a collapse");
        assertEquals(312_500, Impairment.of(50, Duration.ofMillis(10)).effectiveQueueLimit(), "default 50 ms");
        // 1500-byte packets arriving at once: 500 fit behind a 750 000-byte queue (the first leaves at once).
        LinkSchedule s = new LinkSchedule(lte, new SplittableRandom(1));
        int admitted = 0;
        for (int i = 0; i < 600; i++) {
            if (s.admit(0, 1500) != LinkSchedule.DROP) {
                admitted++;
            }
        }
        assertEquals(500, admitted);
        assertEquals(100, s.queueDrops());
        assertEquals(lte, Impairment.fromWire(lte.toWire()));
    }

    @Test
    void theWireFormRoundTripsAndRejectsTypos() {
        Impairment i = Impairment.of(8, Duration.ofMillis(7)).withJitter(Duration.ofMillis(1)).withLoss(0.005)
                .withQueueLimit(90_000);
        assertEquals(i, Impairment.fromWire(i.toWire()));
        assertThrows(IllegalArgumentException.class, () -> Impairment.fromWire(i.toWire() + " los_ppm=3"));
        assertThrows(IllegalArgumentException.class, () -> Impairment.fromWire("rate_kbit=1"));
    }
}
