package net.hybridproxy.proxy.relay;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RelayRecvAllocatorTest {
    private final EmbeddedChannel channel = new EmbeddedChannel();
    private final RecvByteBufAllocator.Handle handle = RelayRecvAllocator.INSTANCE.newHandle();

    RelayRecvAllocatorTest() {
        channel.config().setAutoRead(false);
    }

    /** One read as a transport does it: allocate the guess, "read" {@code bytes} into it, record them. */
    private void read(int bytes) {
        ByteBuf buffer = handle.allocate(ByteBufAllocator.DEFAULT);
        try {
            handle.attemptedBytesRead(buffer.writableBytes());
            handle.lastBytesRead(Math.min(bytes, buffer.writableBytes()));
            handle.incMessagesRead(1);
        } finally {
            buffer.release();
        }
    }

    @Test
    void aBulkReaderGrowsItsBuffersToSixteenKibibytesAndNoFurther() {
        for (int wakeup = 0; wakeup < 50; wakeup++) {
            handle.reset(channel.config());
            do {
                read(Integer.MAX_VALUE);
            } while (handle.continueReading());
            handle.readComplete();
        }
        assertEquals(RelayRecvAllocator.MAX_READ_BYTES, handle.guess());
    }

    @Test
    void readsGoOnWithAutoReadOffWhileBuffersFillUpToTheWakeupLimit() {
        for (int wakeup = 0; wakeup < 50; wakeup++) {
            handle.reset(channel.config());
            int reads = 0;
            do {
                read(Integer.MAX_VALUE);
                reads++;
            } while (handle.continueReading());
            handle.readComplete();
            if (wakeup == 49) {
                assertEquals(RelayRecvAllocator.MAX_BYTES_PER_WAKEUP / RelayRecvAllocator.MAX_READ_BYTES, reads,
                        "reads per readiness once the guess is at its maximum");
            }
        }
    }

    @Test
    void aReadThatDoesNotFillItsBufferEndsTheWakeup() {
        handle.reset(channel.config());
        read(Integer.MAX_VALUE);
        assertTrue(handle.continueReading(), "a filled buffer: more may wait");
        read(100);
        assertFalse(handle.continueReading(), "a short read: the socket is drained");
    }

    @Test
    void endOfStreamEndsTheWakeup() {
        handle.reset(channel.config());
        handle.attemptedBytesRead(handle.guess());
        handle.lastBytesRead(-1);
        assertFalse(handle.continueReading());
    }
}
