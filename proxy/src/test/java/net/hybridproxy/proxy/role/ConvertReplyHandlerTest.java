package net.hybridproxy.proxy.role;

import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import net.hybridproxy.engine.convert.ConvertErrorCode;
import net.hybridproxy.engine.convert.ConvertMessage;
import net.hybridproxy.proxy.config.AppConfig.HealthCheck;
import net.hybridproxy.proxy.config.AppConfig.UpstreamConcentrator;
import net.hybridproxy.proxy.upstream.ConcentratorMonitor;
import net.hybridproxy.proxy.testing.CapturingLogger;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cpe's handling of a concentrator's Convert reply on one connection, on Netty's embedded channels with their
 * own clock: the bound on the wait, and the rate-limited logs. The namespace lab's {@code ConvertReplyTimeoutNetnsTest}
 * runs the same bound against a real concentrator for both engines.
 */
class ConvertReplyHandlerTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final HealthCheck POLICY = new HealthCheck(Duration.ofSeconds(2), Duration.ofSeconds(1), 2, 2,
            Duration.ofSeconds(30));

    private final List<String> lines = new ArrayList<>();
    private final AtomicLong logClock = new AtomicLong();
    private final ProxyCounters counters = new ProxyCounters(100);
    private final ConcentratorMonitor concentrators = new ConcentratorMonitor(List.of(
            new UpstreamConcentrator("main", new InetSocketAddress("198.18.41.2", 5100)),
            new UpstreamConcentrator("backup", new InetSocketAddress("198.18.42.2", 5100))), POLICY);
    private final ConcentratorReplies replies = new ConcentratorReplies(TIMEOUT, counters, concentrators,
            new CapturingLogger(lines), logClock::get);

    private EmbeddedChannel concentratorConnection(EmbeddedChannel client) {
        EmbeddedChannel outbound = new EmbeddedChannel();
        outbound.freezeTime();
        outbound.pipeline().addLast(new ConvertReplyHandler(client, replies, concentrators.choice(), "lan test", false));
        return outbound;
    }

    @Test
    void noReplyWithinTheTimeoutResetsBothSidesCountsLogsAndReports() {
        EmbeddedChannel client = new EmbeddedChannel();
        EmbeddedChannel outbound = concentratorConnection(client);
        outbound.advanceTimeBy(TIMEOUT.toMillis() - 1, TimeUnit.MILLISECONDS);
        outbound.runScheduledPendingTasks();
        assertTrue(client.isOpen(), "still within the bound");
        assertEquals(0, counters.convertReplyTimeouts());

        outbound.advanceTimeBy(1, TimeUnit.MILLISECONDS);
        outbound.runScheduledPendingTasks();
        assertFalse(client.isOpen(), "the LAN client is reset");
        assertFalse(outbound.isOpen(), "the concentrator connection is closed");
        assertEquals(1, counters.convertReplyTimeouts());
        assertEquals(1, lines.size(), lines.toString());
        assertTrue(lines.get(0).contains("no Convert reply from the concentrator main within 20000 ms"), lines.get(0));
        assertEquals("no Convert reply within 20000 ms", concentrators.health().get(0).lastFailure());
    }

    @Test
    void aReplyInTimeEndsTheWait() {
        EmbeddedChannel client = new EmbeddedChannel();
        EmbeddedChannel outbound = concentratorConnection(client);
        outbound.writeInbound(Unpooled.wrappedBuffer(ConvertMessage.of().encode()));
        assertNull(outbound.pipeline().get(ConvertReplyHandler.class), "the reply consumed, the handler left");
        outbound.advanceTimeBy(TIMEOUT.toMillis() * 2, TimeUnit.MILLISECONDS);
        outbound.runScheduledPendingTasks();
        assertTrue(client.isOpen());
        assertTrue(outbound.isOpen());
        assertEquals(0, counters.convertReplyTimeouts());
        assertTrue(lines.isEmpty(), lines.toString());
    }

    /**
     * A concentrator refusing a flood (here 1000 connections with Resource Exceeded): every refusal counted, one
     * log line per interval, the next one saying how many were left out.
     */
    @Test
    void aFloodOfRefusalsIsCountedInFullButLoggedOncePerInterval() {
        for (int i = 0; i < 1000; i++) {
            EmbeddedChannel client = new EmbeddedChannel();
            EmbeddedChannel outbound = concentratorConnection(client);
            outbound.writeInbound(Unpooled.wrappedBuffer(ConvertMessage.error(ConvertErrorCode.RESOURCE_EXCEEDED)
                    .encode()));
            assertFalse(client.isOpen(), "the refused client is reset");
        }
        assertEquals(1000, counters.convertErrors(ConvertErrorCode.RESOURCE_EXCEEDED));
        assertEquals(1, lines.size(), lines.toString());
        assertTrue(lines.get(0).contains("refused by concentrator: Resource Exceeded (64)"), lines.get(0));

        logClock.addAndGet(ConcentratorReplies.LOG_INTERVAL.toNanos());
        EmbeddedChannel outbound = concentratorConnection(new EmbeddedChannel());
        outbound.writeInbound(Unpooled.wrappedBuffer(ConvertMessage.error(ConvertErrorCode.RESOURCE_EXCEEDED)
                .encode()));
        assertEquals(2, lines.size(), lines.toString());
        assertTrue(lines.get(1).contains("999 more like it"), lines.get(1));
        // Another error is another line: the operator still sees each kind.
        EmbeddedChannel other = concentratorConnection(new EmbeddedChannel());
        other.writeInbound(Unpooled.wrappedBuffer(ConvertMessage.error(ConvertErrorCode.NOT_AUTHORIZED).encode()));
        assertEquals(3, lines.size(), lines.toString());
        assertTrue(lines.get(2).contains("Not Authorized (32)"), lines.get(2));
    }
}
