package net.hybridproxy.engine.multipath.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import org.junit.jupiter.api.Test;

/** What each named scheduler promises, on the links of the issue. */
class SchedulerScenarioTest {

    private static final List<SubflowPriority> BOTH_PRIMARY = List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY);
    private static final List<SubflowPriority> DSL_THEN_LTE = List.of(SubflowPriority.PRIMARY, SubflowPriority.OVERFLOW);

    private static List<SimLink> dslAndLte() {
        return List.of(SimLink.of("dsl", 50, 20, 1), SimLink.of("lte", 30, 50, 2));
    }

    @Test
    void redundantDeliversEveryByteExactlyOnceThoughEveryChunkTravelsTwice() {
        SimPair pair = new SimPair(SessionConfig.defaults().withScheduler("redundant"), dslAndLte(), BOTH_PRIMARY);
        pair.runFor(SimPair.SECOND / 2);
        long total = 2_000_000;
        pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, total, 0));
        long id = pair.openStream(100);
        pair.runFor(10 * SimPair.SECOND);

        StreamSink sink = pair.cpeSinks.get(id);
        assertNull(sink.corruption);
        assertEquals(total, sink.received);
        assertTrue(sink.ended);
        assertTrue(pair.concentratorCounter(MibCounter.REDUNDANT_BYTES) > total / 2,
                "copies sent: " + pair.concentratorCounter(MibCounter.REDUNDANT_BYTES));
        // Copies that arrive after the stream closed are not even counted: the stream is gone.
        assertTrue(pair.cpe.mib().get(MibCounter.DUPLICATE_BYTES_RECEIVED) > total / 4,
                "duplicates dropped: " + pair.cpe.mib().get(MibCounter.DUPLICATE_BYTES_RECEIVED));
    }

    @Test
    void primaryFirstKeepsLteIdleWhileTheLoadFitsOnDsl() {
        SimPair pair = new SimPair(SessionConfig.defaults().withScheduler("primary-first"), dslAndLte(), DSL_THEN_LTE);
        pair.runFor(SimPair.SECOND / 2);
        pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, Long.MAX_VALUE, 0.75 * 50e6));
        pair.openStream(100);
        pair.runFor(8 * SimPair.SECOND);

        long dsl = pair.bytesSentByUplinkDown.getOrDefault("dsl", 0L);
        long lte = pair.bytesSentByUplinkDown.getOrDefault("lte", 0L);
        double lteShare = (double) lte / (dsl + lte);
        System.out.printf("primary-first at 75%% of DSL: %.2f%% of bytes on LTE%n", 100 * lteShare);
        assertTrue(lteShare < 0.02, 100 * lteShare + "% on LTE");
    }

    @Test
    void primaryFirstSpillsToLteWhenDslIsSaturated() {
        Bulk.Download run = Bulk.download(SessionConfig.defaults().withScheduler("primary-first"), dslAndLte(),
                DSL_THEN_LTE, 6);

        double goodput = run.megabitsPerSecond();
        System.out.printf("primary-first saturated: %.1f Mb/s%n", goodput);
        assertTrue(goodput >= 0.90 * 80, goodput + " Mb/s");
    }

    @Test
    void primaryFirstSpillsNoMoreThanItsBudget() {
        long budget = 1_000_000;
        SessionConfig config = SessionConfig.defaults().withScheduler("primary-first")
                .withOverflowBudget(budget, Duration.ofSeconds(1));
        Bulk.Download run = Bulk.download(config, dslAndLte(), DSL_THEN_LTE, 4);

        long spilled = run.pair().concentratorCounter(MibCounter.OVERFLOW_BYTES_SENT);
        double seconds = (run.end()) / 1e9;
        System.out.printf("primary-first with 1 MB/s budget: %d bytes spilled in %.1f s, %.1f Mb/s%n", spilled,
                seconds, run.megabitsPerSecond());
        assertTrue(spilled <= budget * Math.ceil(seconds + 1), spilled + " bytes spilled");
        assertTrue(run.megabitsPerSecond() > 50, "dsl plus the budget: " + run.megabitsPerSecond());
    }

    @Test
    void ecfAggregatesTheHeterogeneousPairAtLeastAsWellAsTheBestSinglePath() {
        Bulk.Download run = Bulk.download(SessionConfig.defaults().withScheduler("ecf"),
                List.of(SimLink.of("dsl", 8, 15, 1), SimLink.of("lte", 100, 70, 2)), BOTH_PRIMARY, 6);

        double goodput = run.megabitsPerSecond();
        System.out.printf("ecf 8/15 + 100/70: %.1f Mb/s%n", goodput);
        assertTrue(goodput >= 0.95 * 108, goodput + " Mb/s");
    }

    @Test
    void roundRobinUsesBothPathsAndLosesNothing() {
        Bulk.Download run = Bulk.download(SessionConfig.defaults().withScheduler("round-robin"),
                List.of(SimLink.of("dsl", 50, 20, 1), SimLink.of("lte", 50, 20, 2)), BOTH_PRIMARY, 4);

        long dsl = run.pair().bytesSentByUplinkDown.getOrDefault("dsl", 0L);
        long lte = run.pair().bytesSentByUplinkDown.getOrDefault("lte", 0L);
        System.out.printf("round-robin equal links: %.1f Mb/s, dsl %d lte %d bytes%n", run.megabitsPerSecond(), dsl, lte);
        assertTrue(run.megabitsPerSecond() >= 0.90 * 100);
        assertTrue(Math.min(dsl, lte) > 0.4 * (dsl + lte), "balanced: " + dsl + " / " + lte);
    }
}
