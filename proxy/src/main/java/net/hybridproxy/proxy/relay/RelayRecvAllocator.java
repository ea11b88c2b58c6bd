package net.hybridproxy.proxy.relay;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.ChannelConfig;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.util.UncheckedBooleanSupplier;

/**
 * How a relayed channel reads: buffers sized by Netty's adaptive guess but never over {@link #MAX_READ_BYTES}, and
 * several reads per readiness, up to {@link #MAX_BYTES_PER_WAKEUP}, even though the relay runs with AUTO_READ off.
 *
 * <p><b>Why 16 KiB per read.</b> Netty 4.2's default allocator (AdaptiveByteBufAllocator) pools buffers up to its
 * largest size class, 16 896 bytes. Larger ones come from a "large buffer" magazine group, which it only keeps when the
 * JVM's maximum heap is over 512 MiB; the launcher caps the heap at 128 MiB, so every larger buffer was a dedicated
 * chunk: a {@code malloc} through the JDK's foreign-memory linker, a Cleaner, a DirectByteBuffer and boxed longs, and a
 * {@code free} when the relay released it. The default adaptive guess grows to 64 KiB on a bulk download, so that was
 * nearly every read of the relay: 29–37 % of the event loops' Java samples and most of their garbage, hence young
 * collections every 10–20 s (docs/decisions.md, "Kernel engine, the relay's bulk path"). At 16 KiB every read buffer
 * comes from a pooled size class.
 *
 * <p><b>Why several reads per readiness.</b> Netty's default handle stops after one read when AUTO_READ is off, so
 * each read was flushed on its own: one write system call per read. Reading on while each read fills its buffer, up
 * to 64 KiB, and flushing once at read-complete gathers those buffers into one {@code writev}, so writes per MB stay
 * what 64 KiB reads gave. The relay still asks for the next read only while the peer is writable, so a direction holds
 * at most this much beyond the peer's high water mark.
 */
public final class RelayRecvAllocator implements RecvByteBufAllocator {
    /** The adaptive allocator's largest pooled size class is 16 896 bytes; reads stay within it. */
    public static final int MAX_READ_BYTES = 16 * 1024;
    /** Reads per readiness stop once this much has been read, so one busy channel cannot starve its loop's others. */
    public static final int MAX_BYTES_PER_WAKEUP = 64 * 1024;

    public static final RelayRecvAllocator INSTANCE = new RelayRecvAllocator();

    private final AdaptiveRecvByteBufAllocator sizing =
            new AdaptiveRecvByteBufAllocator(AdaptiveRecvByteBufAllocator.DEFAULT_MINIMUM,
                    AdaptiveRecvByteBufAllocator.DEFAULT_INITIAL, MAX_READ_BYTES);

    private RelayRecvAllocator() {
    }

    @Override
    public Handle newHandle() {
        return new ReadOnHandle((ExtendedHandle) sizing.newHandle());
    }

    /** The adaptive handle's sizing, with a read loop that goes on while reads fill their buffers. */
    private static final class ReadOnHandle implements ExtendedHandle {
        private final ExtendedHandle sizing;
        private final UncheckedBooleanSupplier filledLastBuffer = this::filledLastBuffer;
        private int bytesThisWakeup;

        ReadOnHandle(ExtendedHandle sizing) {
            this.sizing = sizing;
        }

        private boolean filledLastBuffer() {
            return sizing.attemptedBytesRead() == sizing.lastBytesRead();
        }

        @Override
        public ByteBuf allocate(ByteBufAllocator alloc) {
            return sizing.allocate(alloc);
        }

        @Override
        public int guess() {
            return sizing.guess();
        }

        @Override
        public void reset(ChannelConfig config) {
            bytesThisWakeup = 0;
            sizing.reset(config);
        }

        @Override
        public void incMessagesRead(int numMessages) {
            sizing.incMessagesRead(numMessages);
        }

        @Override
        public void lastBytesRead(int bytes) {
            if (bytes > 0) {
                bytesThisWakeup += bytes;
            }
            sizing.lastBytesRead(bytes);
        }

        @Override
        public int lastBytesRead() {
            return sizing.lastBytesRead();
        }

        @Override
        public void attemptedBytesRead(int bytes) {
            sizing.attemptedBytesRead(bytes);
        }

        @Override
        public int attemptedBytesRead() {
            return sizing.attemptedBytesRead();
        }

        @Override
        public boolean continueReading() {
            return continueReading(filledLastBuffer);
        }

        /**
         * On while the transport says more may wait (epoll: the last read filled its buffer, or the peer's FIN is
         * pending) and this readiness has not read {@link #MAX_BYTES_PER_WAKEUP} yet; AUTO_READ is not consulted.
         */
        @Override
        public boolean continueReading(UncheckedBooleanSupplier maybeMoreDataSupplier) {
            return bytesThisWakeup < MAX_BYTES_PER_WAKEUP && sizing.lastBytesRead() > 0
                    && maybeMoreDataSupplier.get();
        }

        @Override
        public void readComplete() {
            sizing.readComplete();
        }
    }
}
