package net.hybridproxy.proxy.userspace;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.channel.RecvByteBufAllocator;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each test runs on its own thread, so it starts from a fresh set of the thread's buffers. */
class ReusedReadBuffersTest {
    /**
     * Netty's allocator as a channel has it, but without the leak detector: at its default level the detector wraps
     * one allocation in 128, at random, in a leak-aware buffer whose {@code unwrap()} is the buffer itself, which made
     * "a buffer of its own" below fail once in a while.
     */
    private static final UnpooledByteBufAllocator NETTY = new UnpooledByteBufAllocator(true, true);

    @Test
    void aReadGetsAnEmptyBufferOfTheFullSizeAndItsReleaseFreesItForTheNextRead() throws Exception {
        onFreshThread(() -> {
            RecvByteBufAllocator.Handle handle = ReusedReadBuffers.INSTANCE.newHandle();
            ByteBuf first = handle.allocate(NETTY);
            assertEquals(0, first.readableBytes());
            assertEquals(ReusedReadBuffers.BUFFER_BYTES, first.writableBytes());
            first.writeBytes(new byte[] {1, 2, 3});
            long address = first.memoryAddress();
            first.release();
            ByteBuf second = handle.allocate(NETTY);
            assertEquals(address, second.memoryAddress(), "the released buffer is read into again");
            assertEquals(0, second.readableBytes(), "with nothing of the previous read in it");
            assertEquals(ReusedReadBuffers.BUFFER_BYTES, second.writableBytes());
            second.release();
        });
    }

    @Test
    void aBufferAReaderStillHoldsIsNotHandedOutAgainAndWhenAllAreHeldNettysAllocatorServes() throws Exception {
        onFreshThread(() -> {
            RecvByteBufAllocator.Handle handle = ReusedReadBuffers.INSTANCE.newHandle();
            List<ByteBuf> held = new ArrayList<>();
            Set<Long> addresses = new HashSet<>();
            for (int i = 0; i < ReusedReadBuffers.BUFFERS_PER_LOOP; i++) {
                ByteBuf buf = handle.allocate(NETTY);
                held.add(buf);
                addresses.add(buf.memoryAddress());
            }
            assertEquals(ReusedReadBuffers.BUFFERS_PER_LOOP, addresses.size(), "every held buffer is a different one");
            ByteBuf fromNetty = handle.allocate(NETTY);
            assertFalse(addresses.contains(fromNetty.memoryAddress()));
            assertEquals(null, fromNetty.unwrap(), "a buffer of its own, not a slice of the loop's");
            fromNetty.release();

            // A reader that keeps a derived buffer (a handshake holding part of a frame) keeps the buffer busy too.
            ByteBuf kept = held.get(1).retainedSlice(0, 0);
            held.forEach(ByteBuf::release);
            Set<Long> handedOut = new HashSet<>();
            List<ByteBuf> again = new ArrayList<>();
            for (int i = 0; i < ReusedReadBuffers.BUFFERS_PER_LOOP - 1; i++) {
                ByteBuf buf = handle.allocate(NETTY);
                again.add(buf);
                handedOut.add(buf.memoryAddress());
            }
            assertFalse(handedOut.contains(held.get(1).memoryAddress()), "the kept one is not handed out");
            assertTrue(addresses.containsAll(handedOut), "the others are");
            again.forEach(ByteBuf::release);
            kept.release();
            ByteBuf afterKeptReleased = handle.allocate(NETTY);
            assertTrue(addresses.contains(afterKeptReleased.memoryAddress()));
            afterKeptReleased.release();
        });
    }

    @Test
    void theHandleKeepsNettysExtendedContractWhichTheNativeTransportsRequire() {
        assertInstanceOf(RecvByteBufAllocator.ExtendedHandle.class, ReusedReadBuffers.INSTANCE.newHandle());
    }

    private interface ThreadBody {
        void run() throws Exception;
    }

    private static void onFreshThread(ThreadBody body) throws Exception {
        Throwable[] failure = new Throwable[1];
        Thread thread = new Thread(() -> {
            try {
                body.run();
            } catch (Throwable t) {
                failure[0] = t;
            }
        });
        thread.start();
        thread.join();
        if (failure[0] instanceof Exception e) {
            throw e;
        }
        if (failure[0] instanceof Error e) {
            throw e;
        }
    }
}
