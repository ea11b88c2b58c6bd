package net.hybridproxy.proxy.role;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The warm pool's share follows its clients' connection rate, within the configured floor and ceiling. */
class WarmPoolDemandTest {
    private static final long MS = 1_000_000L;

    @Test
    void aQuietShareHoldsItsFloor() {
        WarmPoolDemand demand = new WarmPoolDemand(2, 8);
        assertEquals(2, demand.target(0));
        demand.connected(20 * MS);
        demand.asked(10 * MS);
        assertEquals(2, demand.target(20 * MS), "one connection a second needs far less than one during a connect");
    }

    @Test
    void aSteadyRateHoldsTwiceWhatOneConnectTimeConsumes() {
        WarmPoolDemand demand = new WarmPoolDemand(1, 32);
        demand.connected(40 * MS);
        // 100 connections a second, 40 ms per connect: 4 are handed out while one is replaced; twice that is held.
        for (int i = 0; i < 100; i++) {
            demand.asked(i * 10 * MS);
        }
        assertEquals(8, demand.target(999 * MS));
        // Still 8 in the next window while it fills up: the busier of the two counts.
        assertEquals(8, demand.target(1_200 * MS));
    }

    @Test
    void aBurstRaisesTheTargetAtOnceAndTheCeilingBoundsIt() {
        WarmPoolDemand demand = new WarmPoolDemand(2, 6);
        demand.connected(50 * MS);
        for (int i = 0; i < 30; i++) {
            demand.asked(5 * MS);
        }
        assertEquals(3, demand.target(6 * MS), "30 in this window x 50 ms x 2");
        for (int i = 0; i < 300; i++) {
            demand.asked(7 * MS);
        }
        assertEquals(6, demand.target(8 * MS), "bounded by the ceiling");
    }

    @Test
    void thePoolShrinksBackOnceTheClientsGoQuiet() {
        WarmPoolDemand demand = new WarmPoolDemand(1, 32);
        demand.connected(100 * MS);
        for (int i = 0; i < 200; i++) {
            demand.asked(i * 5 * MS);
        }
        assertEquals(32, demand.target(999 * MS));
        assertEquals(32, demand.target(1_500 * MS), "the previous window still counts");
        assertEquals(1, demand.target(2_100 * MS), "two windows later nothing recent is left");
    }

    @Test
    void connectTimesAreAveragedSoOneSlowConnectDoesNotInflateThePool() {
        WarmPoolDemand demand = new WarmPoolDemand(0, 100);
        demand.connected(20 * MS);
        demand.connected(420 * MS);
        // EWMA with gain 1/8: 20 + (420 - 20) / 8 = 70 ms.
        for (int i = 0; i < 100; i++) {
            demand.asked(i * MS);
        }
        assertEquals(14, demand.target(200 * MS), "100 x 70 ms x 2");
    }

    @Test
    void aCeilingBelowTheFloorIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new WarmPoolDemand(4, 2));
        assertThrows(IllegalArgumentException.class, () -> new WarmPoolDemand(-1, 2));
    }
}
