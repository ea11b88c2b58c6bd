package net.hybridproxy.loadtest.lab;

import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;

class StallsTest {
    @Test
    void aSteadyTransferHasNoStall() {
        long[] steady = new long[50];
        Arrays.fill(steady, 1000);
        assertEquals(0, Stalls.longestMs(steady));
    }

    @Test
    void consecutiveIntervalsBelowATenthOfTheMeanAfterTheFirstSecondAreOneStall() {
        long[] buckets = new long[50];
        Arrays.fill(buckets, 1000);
        // The collapse pattern: nothing, then a burst of a few per cent of the mean, then nothing again.
        buckets[20] = 0;
        buckets[21] = 30;
        buckets[22] = 0;
        buckets[30] = 50;
        assertEquals(300, Stalls.longestMs(buckets));
    }

    @Test
    void theFirstSecondAndTheFinalPartialIntervalNeverCount() {
        long[] buckets = new long[40];
        Arrays.fill(buckets, 1000);
        Arrays.fill(buckets, 0, 9, 0);
        buckets[39] = 1; // the last, partial interval
        assertEquals(0, Stalls.longestMs(buckets));
    }

    @Test
    void intervalsAfterTheLastByteAreNotPartOfTheTransfer() {
        long[] buckets = new long[40];
        Arrays.fill(buckets, 0, 20, 1000);
        assertEquals(0, Stalls.longestMs(buckets));
    }

    @Test
    void theWaitForTheFirstByteIsNotAStall() {
        // 1.5 s before the first byte (time to first byte), then a steady transfer: no stall.
        long[] buckets = new long[60];
        for (int i = 15; i < 60; i++) {
            buckets[i] = 1000;
        }
        assertEquals(0, Stalls.longestMs(buckets));
        // The same delay in the middle of the transfer is one.
        long[] middle = new long[60];
        for (int i = 0; i < 60; i++) {
            middle[i] = i >= 20 && i < 35 ? 0 : 1000;
        }
        assertEquals(1500, Stalls.longestMs(middle));
    }

    @Test
    void theLongestStallIsPlacedAfterTheFirstByte() {
        // First byte at 500 ms; a 100 ms stall at 3 s and a 200 ms one at 10.3 s after the first byte.
        long[] buckets = new long[130];
        for (int i = 5; i < 130; i++) {
            buckets[i] = 1000;
        }
        buckets[5 + 30] = 0;
        buckets[5 + 103] = 10;
        buckets[5 + 104] = 0;
        assertEquals(new Stalls.Stall(200, 10_300), Stalls.longest(buckets));
        assertEquals(200, Stalls.longestMs(buckets));
        // Of two equally long stalls, the first.
        buckets[5 + 31] = 0;
        assertEquals(new Stalls.Stall(200, 3_000), Stalls.longest(buckets));
    }

    @Test
    void aTransferWithoutAStallHasNoPlaceForOne() {
        long[] steady = new long[50];
        Arrays.fill(steady, 1000);
        assertEquals(Stalls.Stall.NONE, Stalls.longest(steady));
        assertEquals(-1, Stalls.longest(new long[3]).startAfterFirstByteMs());
    }
}
