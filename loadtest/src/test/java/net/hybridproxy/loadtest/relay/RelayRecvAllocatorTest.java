package net.hybridproxy.loadtest.relay;

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

    /** One readiness: reads of {@code bytes} (capped by each buffer) while the handle goes on; returns the reads. */
    private int wakeup(int bytes) {
        handle.reset(channel.config());
        int reads = 0;
        do {
            read(bytes);
            reads++;
        } while (handle.continueReading());
        handle.readComplete();
        return reads;
    }

    @Test
    void readsOfAFewKibibytesNeverGetABufferOverThePooledSize() {
        for (int i = 0; i < 200; i++) {
            wakeup(i % 10 == 0 ? 60_000 : 6_000);
            assertTrue(handle.guess() <= RelayRecvAllocator.POOLED_READ_BYTES, "guess " + handle.guess());
        }
    }

    @Test
    void aBacklogIsReadInBulkBuffersAndAShortReadEndsTheBulk() {
        for (int i = 0; i < 50; i++) {
            wakeup(Integer.MAX_VALUE);
        }
        assertEquals(RelayRecvAllocator.BULK_READ_BYTES, handle.guess());
        assertEquals(1, wakeup(Integer.MAX_VALUE), "one bulk read per readiness, as Netty's default");
        wakeup(3_000);
        assertTrue(handle.guess() <= RelayRecvAllocator.POOLED_READ_BYTES, "guess " + handle.guess());
    }

    @Test
    void readsGoOnWithAutoReadOffWhileBuffersFillUpToTheWakeupLimit() {
        for (int i = 0; i < 50; i++) {
            wakeup(RelayRecvAllocator.POOLED_READ_BYTES - 1);
        }
        assertEquals(RelayRecvAllocator.POOLED_READ_BYTES, handle.guess());
        // A pooled read that fills its buffer goes on, in the same readiness, with one bulk read, then stops.
        assertEquals(2, wakeup(Integer.MAX_VALUE));
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
