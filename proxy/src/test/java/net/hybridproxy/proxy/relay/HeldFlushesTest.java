package net.hybridproxy.proxy.relay;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * {@link HeldFlushes}: bytes written unflushed (the concentrator's Convert answer) leave with the relay's next
 * flush, the peer's first bytes, and no later than the hold when the peer stays silent. Real time; the bounds only
 * ever wait longer than the hold.
 */
class HeldFlushesTest {
    private static final Duration IDLE = Duration.ofMinutes(1);

    @Test
    void heldBytesLeaveWithThePeersFirstBytesInOneFlush() {
        EmbeddedChannel client = new EmbeddedChannel();
        EmbeddedChannel server = new EmbeddedChannel();
        client.write(ascii("answer"));
        HeldFlushes.hold(client, TimeUnit.SECONDS.toNanos(10));
        RelaySession.join(client, server, IDLE, "held", session -> { });
        assertNull(client.readOutbound(), "the held answer left before anything followed it");

        server.writeInbound(ascii("first bytes"));
        // EmbeddedChannel hands out what one flush wrote, in order: the answer, then the server's bytes behind it.
        assertEquals("answer", text(client.readOutbound()));
        assertEquals("first bytes", text(client.readOutbound()));
        client.finishAndReleaseAll();
        server.finishAndReleaseAll();
    }

    @Test
    void aSilentPeerGetsTheHeldBytesAfterTheHold() throws Exception {
        EmbeddedChannel client = new EmbeddedChannel();
        EmbeddedChannel server = new EmbeddedChannel();
        Duration hold = Duration.ofMillis(200);
        client.write(ascii("answer"));
        HeldFlushes.hold(client, hold.toNanos());
        RelaySession.join(client, server, IDLE, "silent", session -> { });
        client.runScheduledPendingTasks();
        assertNull(client.readOutbound(), "the held answer left before the hold");

        // At most a quarter of the hold late.
        Thread.sleep(hold.toMillis() * 3 / 2);
        client.runScheduledPendingTasks();
        ByteBuf answer = client.readOutbound();
        assertNotNull(answer, "the held answer was still held after 1.5 holds");
        assertEquals("answer", text(answer));
        client.finishAndReleaseAll();
        server.finishAndReleaseAll();
    }

    @Test
    void thePeersFinFlushesTheHeldBytesBeforeItIsForwarded() {
        EmbeddedChannel client = new EmbeddedChannel();
        EmbeddedChannel server = new EmbeddedChannel();
        client.write(ascii("answer"));
        HeldFlushes.hold(client, TimeUnit.SECONDS.toNanos(10));
        RelaySession.join(client, server, IDLE, "fin", session -> { });
        server.close();
        assertEquals("answer", text(client.readOutbound()));
        client.finishAndReleaseAll();
    }

    private static ByteBuf ascii(String text) {
        return Unpooled.copiedBuffer(text, StandardCharsets.US_ASCII);
    }

    private static String text(Object message) {
        ByteBuf buf = (ByteBuf) message;
        try {
            return buf.toString(StandardCharsets.US_ASCII);
        } finally {
            buf.release();
        }
    }
}
