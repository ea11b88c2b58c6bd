package net.hybridproxy.loadtest.relay;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.ChannelConfig;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.util.UncheckedBooleanSupplier;

/**
 * A candidate read sizing for the appliance's relay channels ({@code ChannelOption.RCVBUF_ALLOCATOR}), measured against
 * Netty's default by {@link RelayReadComparison}. Not on in the appliance: in that comparison it read the same per GB
 * in bulk and more often on bursty paced transfers, at CPU per GB within the noise of a loaded machine, so its gain in
 * the lab's cpe (below) is unproven (docs/decisions.md, "Kernel engine, the relay's bulk path").
 *
 * <p>How it reads: Netty's adaptive guess, but never over {@link #POOLED_READ_BYTES} unless the socket
 * just filled such a buffer, then {@link #BULK_READ_BYTES}; and reads on within one readiness while they fill their
 * buffers, up to {@link #MAX_BYTES_PER_WAKEUP}, although the relay runs with AUTO_READ off.
 *
 * <p><b>Why 16 KiB, and 64 KiB only in bulk.</b> Netty 4.2's default allocator (AdaptiveByteBufAllocator) pools
 * buffers up to its largest size class, 16 896 bytes. Larger ones come from a "large buffer" magazine group, which it
 * only keeps when the JVM's maximum heap is over 512 MiB; the launcher caps the heap at 128 MiB, so every larger
 * buffer is a dedicated chunk: a {@code malloc} through the JDK's foreign-memory linker, a Cleaner, a
 * DirectByteBuffer, and a {@code free} at release. Netty's adaptive guess grows to 64 KiB after one burst and shrinks
 * one step per two short reads, so at a gateway's rates (a few KiB per read on the cpe's MPTCP socket) most reads
 * paid that for a buffer they filled a tenth of: 29–37 % of the event loops' Java samples in a 57 Mbit/s download
 * (JFR, docs/decisions.md). Below 16 KiB every buffer is pooled. When a read fills
 * 16 KiB the socket is draining a backlog, and there one 64 KiB read (unpooled) measured cheaper per GB than four
 * pooled 16 KiB reads (fewer system calls and pipeline passes), so the next read is 64 KiB.
 *
 * <p><b>Why several reads per readiness.</b> Netty's default handle stops after one read when AUTO_READ is off, so a
 * filled 16 KiB read would be flushed on its own. Reading on while reads fill their buffers, up to 64 KiB plus one
 * read, and flushing once at read-complete gathers them into one {@code writev}. The relay still asks for the next
 * read only while the peer is writable, so a direction holds at most this much beyond the peer's high water mark.
 */
public final class RelayRecvAllocator implements RecvByteBufAllocator {
    /** The adaptive allocator's largest pooled size class is 16 896 bytes; reads stay within it unless in bulk. */
    public static final int POOLED_READ_BYTES = 16 * 1024;
    /** A read after one that filled {@link #POOLED_READ_BYTES}: Netty's default maximum. */
    public static final int BULK_READ_BYTES = 64 * 1024;
    /** Reads per readiness stop once this much has been read, so one busy channel cannot starve its loop's others. */
    public static final int MAX_BYTES_PER_WAKEUP = 64 * 1024;

    public static final RelayRecvAllocator INSTANCE = new RelayRecvAllocator();

    private final AdaptiveRecvByteBufAllocator sizing =
            new AdaptiveRecvByteBufAllocator(AdaptiveRecvByteBufAllocator.DEFAULT_MINIMUM,
                    AdaptiveRecvByteBufAllocator.DEFAULT_INITIAL, POOLED_READ_BYTES);

    private RelayRecvAllocator() {
    }

    @Override
    public Handle newHandle() {
        return new ReadOnHandle((ExtendedHandle) sizing.newHandle());
    }

    /** The adaptive handle's sizing up to 16 KiB, 64 KiB after a filled 16 KiB, and a read loop that goes on. */
    private static final class ReadOnHandle implements ExtendedHandle {
        private final ExtendedHandle sizing;
        private final UncheckedBooleanSupplier filledLastBuffer = this::filledLastBuffer;
        private int bytesThisWakeup;
        private boolean bulk;

        ReadOnHandle(ExtendedHandle sizing) {
            this.sizing = sizing;
        }

        private boolean filledLastBuffer() {
            return sizing.attemptedBytesRead() == sizing.lastBytesRead();
        }

        @Override
        public ByteBuf allocate(ByteBufAllocator alloc) {
            return alloc.ioBuffer(guess());
        }

        @Override
        public int guess() {
            return bulk ? BULK_READ_BYTES : sizing.guess();
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
            // Bulk while reads fill at least a pooled buffer's worth; back to the adaptive guess on a shorter one.
            bulk = bytes >= POOLED_READ_BYTES && bytes == sizing.attemptedBytesRead();
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
