package net.hybridproxy.admin;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class UplinkHistoryTest {
    private static final long T0 = 1_764_000_000_000L;

    private static ApplianceStatus status(long dslSent, long dslReceived, long dslFallbacks, long lteJoinFailures,
                                          long lteOpened) {
        return new ApplianceStatus("cpe", "kernel", "epoll", 1, T0, List.of(
                uplink("dsl", dslSent, dslReceived, 0, 3, dslFallbacks),
                uplink("lte", 0, 0, lteJoinFailures, lteOpened, 0)),
                List.of(), 0, new ApplianceStatus.Connections(0, 10, 0, 0, 0, 0, 0, 0, 0), List.of());
    }

    private static ApplianceStatus.UplinkStatusView uplink(String name, long sent, long received, long joinFailures,
                                                           long opened, long fallbacks) {
        return new ApplianceStatus.UplinkStatusView(name, name, "198.18.0.1", "primary", "active", true, "up", 1, 0.01, 10,
                sent, received, 0, opened, 0, joinFailures, 0, fallbacks);
    }

    @Test
    void ratesAreBitsPerSecondPerIntervalOldestFirst() {
        UplinkHistory history = new UplinkHistory();
        assertTrue(history.series().isEmpty(), "one sample makes no interval");
        history.record(T0, status(0, 0, 0, 0, 0));
        history.record(T0 + 5_000, status(5_000_000, 1_250_000, 0, 0, 0));
        history.record(T0 + 10_000, status(5_000_000, 2_500_000, 0, 0, 0));
        UplinkHistory.Series dsl = history.series().get(0);
        assertEquals("dsl", dsl.uplink());
        assertEquals(List.of(T0 + 5_000, T0 + 10_000), dsl.atMillis());
        assertEquals(List.of(8_000_000.0, 0.0), dsl.sentBitsPerSecond());
        assertEquals(List.of(2_000_000.0, 2_000_000.0), dsl.receivedBitsPerSecond());
    }

    @Test
    void theWindowIsFiveMinutesWhateverTheUptime() {
        UplinkHistory history = new UplinkHistory();
        for (int i = 0; i < 1000; i++) {
            history.record(T0 + i * UplinkHistory.INTERVAL_MILLIS, status(i * 1000L, 0, 0, 0, 0));
        }
        UplinkHistory.Series dsl = history.series().get(0);
        assertEquals(UplinkHistory.SAMPLES - 1, dsl.atMillis().size());
        assertEquals(T0 + 999 * UplinkHistory.INTERVAL_MILLIS, dsl.atMillis().getLast());
        assertEquals(1600.0, dsl.sentBitsPerSecond().getFirst());
    }

    @Test
    void aFallbackOnAnUplinkFlagsIt() {
        UplinkHistory history = new UplinkHistory();
        history.record(T0, status(0, 0, 2, 0, 0));
        history.record(T0 + 5_000, status(0, 0, 2, 0, 0));
        assertFalse(history.series().get(0).mptcpImpaired(), "fallbacks before the window do not count");
        history.record(T0 + 10_000, status(0, 0, 3, 0, 0));
        UplinkHistory.Series dsl = history.series().get(0);
        assertTrue(dsl.mptcpImpaired());
        assertTrue(dsl.mptcpDetail().startsWith("1 connections fell back to plain TCP"), dsl.mptcpDetail());
    }

    @Test
    void failedJoinsFlagAnUplinkOnlyWhenNoneSucceeded() {
        UplinkHistory history = new UplinkHistory();
        history.record(T0, status(0, 0, 0, 0, 0));
        history.record(T0 + 5_000, status(0, 0, 0, 4, 0));
        assertTrue(history.series().get(1).mptcpImpaired(), "every join on lte failed");
        history.record(T0 + 10_000, status(0, 0, 0, 5, 2));
        assertFalse(history.series().get(1).mptcpImpaired(), "some joins on lte worked: a lossy path, not stripping");
    }

    @Test
    void aClockStepBackwardsIsIgnoredAndACounterResetIsNoTraffic() {
        UplinkHistory history = new UplinkHistory();
        history.record(T0, status(1_000_000, 0, 0, 0, 0));
        history.record(T0 + 5_000, status(2_000_000, 0, 0, 0, 0));
        history.record(T0 - 60_000, status(9_000_000, 0, 0, 0, 0));
        assertEquals(1, history.series().get(0).atMillis().size());
        history.record(T0 + 10_000, status(0, 0, 0, 0, 0));
        assertEquals(0.0, history.series().get(0).sentBitsPerSecond().getLast());
    }
}
