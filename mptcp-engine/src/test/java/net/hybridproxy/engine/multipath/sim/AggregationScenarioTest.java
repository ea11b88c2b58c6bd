package net.hybridproxy.engine.multipath.sim;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import org.junit.jupiter.api.Test;

/**
 * Bandwidth aggregation with the default scheduler (lowest-rtt), a bulk download over two
 * links, goodput measured over 8 s after a 2 s warm-up. The figures are the issue's.
 */
class AggregationScenarioTest {

    private static final List<SubflowPriority> BOTH_PRIMARY = List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY);

    @Test
    void twoEqualLinksAggregateToAtLeast95PercentOfTheirSum() {
        Bulk.Download run = Bulk.download(SessionConfig.defaults(),
                List.of(SimLink.of("dsl", 50, 20, 1), SimLink.of("lte", 50, 20, 2)), BOTH_PRIMARY, 6);

        double goodput = run.megabitsPerSecond();
        System.out.printf("equal 50+50 Mb/s, 20 ms: %.1f Mb/s%n", goodput);
        assertTrue(goodput >= 0.95 * 100, goodput + " Mb/s");
    }

    @Test
    void fiftyAt20msAndThirtyAt50msAggregateToAtLeast90PercentOfTheirSum() {
        Bulk.Download run = Bulk.download(SessionConfig.defaults(),
                List.of(SimLink.of("dsl", 50, 20, 1), SimLink.of("lte", 30, 50, 2)), BOTH_PRIMARY, 6);

        double goodput = run.megabitsPerSecond();
        System.out.printf("50 Mb/s 20 ms + 30 Mb/s 50 ms: %.1f Mb/s%n", goodput);
        assertTrue(goodput >= 0.90 * 80, goodput + " Mb/s");
    }

    /**
     * The classic failure of min-RTT scheduling: the fast-RTT path is the slow one. Kernel MPTCP
     * measured here barely beats the LTE path alone.
     */
    @Test
    void aSlowShortPathNextToAFastLongOneNeverFallsBelowTheBestSinglePathAndReaches95PercentOfTheSum() {
        double lteAlone = Bulk.singlePath(SimLink.of("lte", 100, 70, 2), 6);
        Bulk.Download run = Bulk.download(SessionConfig.defaults(),
                List.of(SimLink.of("dsl", 8, 15, 1), SimLink.of("lte", 100, 70, 2)), BOTH_PRIMARY, 6);

        double goodput = run.megabitsPerSecond();
        double worstSecond = run.worstWindowMegabitsPerSecond(SimPair.SECOND);
        System.out.printf("8 Mb/s 15 ms + 100 Mb/s 70 ms: %.1f Mb/s (worst second %.1f; LTE alone %.1f)%n",
                goodput, worstSecond, lteAlone);
        assertTrue(worstSecond >= lteAlone, "worst second " + worstSecond + " below the LTE path alone, " + lteAlone);
        assertTrue(goodput >= 0.95 * 108, goodput + " Mb/s");
    }
}
