package net.hybridproxy.loadtest.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

class EngineCountersTest {

    private static final String BEFORE = """
            # HELP hybridproxy_userspace_events_total The engine's own counters
            # TYPE hybridproxy_userspace_events_total counter
            hybridproxy_userspace_events_total{engine="userspace",event="subflow_stalls"} 2.0
            hybridproxy_userspace_events_total{engine="userspace",event="penalisations"} 10.0
            hybridproxy_scheduler_decisions_total{engine="userspace",reason="new",uplink="lte"} 700.0
            hybridproxy_uplink_rx_bytes_total{uplink="lte"} 123.0
            """;

    private static final String AFTER = """
            hybridproxy_userspace_events_total{engine="userspace",event="subflow_stalls"} 5.0
            hybridproxy_userspace_events_total{engine="userspace",event="penalisations"} 10.0
            hybridproxy_scheduler_decisions_total{engine="userspace",reason="new",uplink="lte"} 2700.0
            hybridproxy_uplink_rx_bytes_total{uplink="lte"} 999.0
            """;

    @Test
    void keepsTheEngineFamiliesAndReportsWhatGrew() {
        Map<String, Long> before = new TreeMap<>();
        EngineCounters.parse("conc", BEFORE, before);
        Map<String, Long> after = new TreeMap<>();
        EngineCounters.parse("conc", AFTER, after);

        assertEquals(3, after.size(), after.toString());
        assertEquals(Map.of("conc userspace_events userspace subflow_stalls", 3L,
                "conc scheduler_decisions userspace new lte", 2000L), EngineCounters.growth(before, after));
    }

    @Test
    void waitTimesInSecondsAreKeptAsMilliseconds() {
        Map<String, Long> out = new TreeMap<>();
        EngineCounters.parse("cpe", """
                # TYPE hybridproxy_userspace_wait_seconds_total counter
                hybridproxy_userspace_wait_seconds_total{engine="userspace",kind="head"} 20.6127
                hybridproxy_userspace_wait_seconds_total{engine="userspace",kind="window"} 0.0004
                """, out);
        assertEquals(Map.of("cpe userspace_wait_ms userspace head", 20_613L,
                "cpe userspace_wait_ms userspace window", 0L), out);
    }

    @Test
    void noCountersReadMeansNoFigure() {
        assertNull(EngineCounters.growth(Map.of(), Map.of()));
    }
}
