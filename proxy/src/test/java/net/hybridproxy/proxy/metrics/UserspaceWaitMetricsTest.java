package net.hybridproxy.proxy.metrics;

import io.micrometer.core.instrument.Tags;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class UserspaceWaitMetricsTest {

    @Test
    void theEnginesWaitTimesAreOneFamilyInSecondsNotEventsInNanoseconds() {
        UserspaceStats stats = new UserspaceStats(List.of("dsl", "lte"), new FailoverLog(), Duration.ofSeconds(5));
        stats.addMib(MibCounter.HEAD_WAIT_NANOS, 2_500_000_000L);
        stats.addMib(MibCounter.WINDOW_LIMITED_NANOS, 1_000_000L);
        stats.addMib(MibCounter.DATA_ACKS_SENT, 7);
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        new UserspaceMetrics(stats, Tags.of("engine", "userspace")).bindTo(registry);
        String scrape = registry.scrape();

        assertTrue(scrape.contains("# TYPE hybridproxy_userspace_wait_seconds_total counter"), scrape);
        assertTrue(scrape.contains("hybridproxy_userspace_wait_seconds_total{engine=\"userspace\",kind=\"head\"} 2.5"),
                scrape);
        assertTrue(scrape.contains("hybridproxy_userspace_wait_seconds_total{engine=\"userspace\",kind=\"window\"} 0.001"),
                scrape);
        assertTrue(scrape.contains("hybridproxy_userspace_wait_seconds_total{engine=\"userspace\",kind=\"send_buffer\"} 0"),
                scrape);
        assertTrue(scrape.contains("hybridproxy_userspace_events_total{engine=\"userspace\",event=\"data_acks_sent\"} 7"),
                scrape);
        assertFalse(scrape.contains("_nanos"), scrape);
    }
}
