package net.hybridproxy.proxy.relay;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code relay.idle-timeout}, watched per event loop ({@link IdleRelays}): a relay with no byte either way for the
 * whole timeout closes both sides with reason "idle timeout", and any byte relayed restarts the wait. Real time, in
 * tenths of a second; the bounds only ever wait longer than the timeout, never assert an upper one.
 */
class RelayIdleTimeoutTest {
    private static final Duration TIMEOUT = Duration.ofMillis(800);

    @Test
    void aSilentRelayClosesBothSidesAfterTheTimeout() throws Exception {
        EmbeddedChannel client = new EmbeddedChannel();
        EmbeddedChannel server = new EmbeddedChannel();
        AtomicReference<RelaySession> ended = new AtomicReference<>();
        long joined = System.nanoTime();
        RelaySession.join(client, server, TIMEOUT, "silent", ended::set);

        Thread.sleep(TIMEOUT.toMillis() / 4);
        client.runScheduledPendingTasks();
        // A loaded machine may oversleep past the timeout; only then may the relay be gone already.
        assertTrue(client.isOpen() && server.isOpen() || System.nanoTime() - joined >= TIMEOUT.toNanos(),
                "closed before the timeout");

        Thread.sleep(TIMEOUT.toMillis());
        client.runScheduledPendingTasks();
        assertFalse(client.isOpen(), "the client side is still open after the idle timeout");
        assertFalse(server.isOpen(), "the server side is still open after the idle timeout");
        assertEquals("idle timeout", ended.get().closeReason());
    }

    @Test
    void aByteEitherWayRestartsTheWait() throws Exception {
        EmbeddedChannel client = new EmbeddedChannel();
        EmbeddedChannel server = new EmbeddedChannel();
        RelaySession.join(client, server, TIMEOUT, "busy", session -> { });

        for (int i = 0; i < 4; i++) {
            Thread.sleep(TIMEOUT.toMillis() / 4);
            EmbeddedChannel reader = i % 2 == 0 ? server : client;
            reader.writeInbound(Unpooled.wrappedBuffer(new byte[] {(byte) i}));
            client.runScheduledPendingTasks();
            assertTrue(client.isOpen() && server.isOpen(), "closed although a byte has just moved (round " + i
                    + ")");
        }
        ByteBuf relayed;
        while ((relayed = client.readOutbound()) != null) {
            relayed.release();
        }
        while ((relayed = server.readOutbound()) != null) {
            relayed.release();
        }
        Thread.sleep(TIMEOUT.toMillis() * 2);
        client.runScheduledPendingTasks();
        assertFalse(client.isOpen() || server.isOpen(), "still open after a whole timeout of silence");
    }
}
