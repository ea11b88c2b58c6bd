package net.hybridproxy.engine.multipath.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import net.hybridproxy.engine.multipath.connection.Session;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import org.junit.jupiter.api.Test;

/**
 * The first second of a download on a session whose subflows are already warm (issue 10 item 1: the lab's lossy rows
 * are full for every system after about 2.5 s, so what is left to win is the ramp). The session carried a 12 MB
 * download, was idle, and the next stream downloads as fast as it can; a new stream's send and receive limits start
 * at the 256 KiB initial window and, by default, grow from what that stream itself measured, at most doubling per
 * period on each side, while the subflows' congestion windows are open from the previous download.
 */
class StreamRampScenarioTest {

    private static final List<SubflowPriority> BOTH = List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY);
    private static final SessionConfig WARM = SessionConfig.defaults().withWarmStreamWindows(true);
    /** lossy-lte's links together: DSL 8 Mb/s and LTE 100 Mb/s. */
    private static final double LOSSY_LTE_SUM_MBPS = 108;

    /**
     * The lab's lossy-lte with its queues and BBR subflows, three loss patterns. By default the new download's first
     * second carried 66, 61 and 59 Mb/s (the concentrator waiting for the cpe's window 40-100 ms of each of its first
     * 300 ms, then in-order delivery's waits for LTE's repairs holding both limits near a fixed point); with
     * {@link SessionConfig#warmStreamWindows()} 67, 82 and 74: the limits, once they grow, grow to what the previous
     * download reached, and the second LTE round trip already runs at the paths' rate.
     */
    @Test
    void onWarmSubflowsANewDownloadTakesTheLimitsThePreviousOneReached() {
        double byDefault = 0;
        double warm = 0;
        long windowWaitByDefault = 0;
        long windowWaitWarm = 0;
        for (long seed = 1; seed <= 3; seed++) {
            Ramp off = ramp(SessionConfig.defaults(), seed);
            Ramp on = ramp(WARM, seed);
            System.out.printf("lossy-lte, the lab's queues and BBR, loss pattern %d: the second download's first"
                    + " second %.1f Mb/s by default (window wait %d ms), %.1f with warm stream windows (%d ms)%n",
                    seed, off.firstSecondMbps, off.windowWaitMs, on.firstSecondMbps, on.windowWaitMs);
            byDefault += off.firstSecondMbps / 3;
            warm += on.firstSecondMbps / 3;
            windowWaitByDefault += off.windowWaitMs;
            windowWaitWarm += on.windowWaitMs;
        }
        assertTrue(warm >= 0.65 * LOSSY_LTE_SUM_MBPS, "first second " + warm + " Mb/s with warm stream windows");
        assertTrue(warm >= 1.1 * byDefault, "first second " + warm + " Mb/s warm, " + byDefault + " by default");
        assertTrue(windowWaitWarm < windowWaitByDefault / 2, "window wait " + windowWaitWarm + " ms warm, "
                + windowWaitByDefault + " by default");
    }

    /**
     * Short and idle streams reserve nothing more: after a bulk download grew the session's limits, forty streams
     * that each receive an 8 KiB reply and stay open (a browser's idle keep-alive connections) hold exactly the
     * memory they hold by default, because none of them grew a limit.
     */
    @Test
    void streamsThatNeverGrowReserveNoMoreThanByDefault() {
        long byDefault = idleStreamsMemory(SessionConfig.defaults());
        long warm = idleStreamsMemory(WARM);
        assertEquals(byDefault, warm, "session memory with forty idle streams after a download");
    }

    private record Ramp(double firstSecondMbps, long windowWaitMs) {
    }

    /** The second download's first second on a session a 12 MB download warmed, and its window wait. */
    private static Ramp ramp(SessionConfig config, long seed) {
        SimPair pair = warmedPair(config, seed);
        pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, Long.MAX_VALUE, 0));
        Session concentrator = pair.concentratorSessions.getFirst();
        long windowWaitBefore = concentrator.mib().get(MibCounter.WINDOW_LIMITED_NANOS);
        long id = pair.openStream(100);
        long start = pair.now();
        pair.runFor(SimPair.SECOND);
        StreamSink sink = pair.cpeSinks.get(id);
        assertNull(sink.corruption);
        return new Ramp(sink.megabitsPerSecond(start, pair.now()),
                (concentrator.mib().get(MibCounter.WINDOW_LIMITED_NANOS) - windowWaitBefore) / SimPair.MS);
    }

    private static long idleStreamsMemory(SessionConfig config) {
        SimPair pair = warmedPair(config, 1);
        pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, 8 * 1024, 0));
        for (int i = 0; i < 40; i++) {
            pair.openStream(100);
        }
        pair.runFor(SimPair.SECOND);
        pair.cpeSinks.values().forEach(sink -> assertNull(sink.corruption));
        return pair.cpe.memoryUsed();
    }

    /** A session over lossy-lte's links that carried a 12 MB download and has been idle for about 2 s since. */
    private static SimPair warmedPair(SessionConfig config, long seed) {
        SimLink dsl = SimLink.queued("dsl", 8, 15, 50, seed);
        SimLink lte = SimLink.queued("lte", 100, 70, 200, seed + 100);
        lte.lossRate = 0.005;
        dsl.bbrLike = true;
        lte.bbrLike = true;
        SimPair pair = new SimPair(config, List.of(dsl, lte), BOTH);
        pair.subflowUnsentBytes = SimPair.ADAPTER_UNSENT;
        pair.runFor(SimPair.SECOND / 2);
        pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, 12_000_000, 0));
        long first = pair.openStream(100);
        pair.runFor(3 * SimPair.SECOND);
        assertEquals(12_000_000, pair.cpeSinks.get(first).received, "the warm-up download finished");
        return pair;
    }
}
