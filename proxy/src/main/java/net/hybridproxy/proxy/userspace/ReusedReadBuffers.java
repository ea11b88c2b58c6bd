package net.hybridproxy.proxy.userspace;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.util.UncheckedBooleanSupplier;
import io.netty.util.concurrent.FastThreadLocal;

/**
 * Socket reads into a few 64 KiB buffers kept by each event loop, for channels whose reader is done with the bytes by
 * the time it returns: a subflow's bytes are parsed (a DATA payload copied into its own array) inside
 * {@code SessionDriver.subflowBytes}, a server's are copied into the session's send buffer by the stream channel's
 * write. Netty's default read sizing grows a busy socket's buffer to 32 and 64 KiB (a subflow's 16 404-byte frame is
 * one byte more than the 16 KiB step), and its allocator, in the small-memory layout the launcher's heap puts it in,
 * mallocs every buffer above 16 896 bytes with a cleaner and frees it after the read: one {@code malloc}/{@code free}
 * and a cleaner per read, 60 a megabyte at a gateway's rates (docs/decisions.md, the tenth pass).
 *
 * <p>A read gets a slice of a free buffer of its loop's; the slice holds a reference, so a buffer is free again only
 * once every slice of it is released, and a reader that keeps one (a handshake waiting for the rest of a frame, a
 * stream whose session's send buffer is full) only makes the next read take one of the others, or when all are held,
 * a buffer from Netty's allocator as before. Bounded: {@link #BUFFERS_PER_LOOP} × {@link #BUFFER_BYTES} per event loop
 * that reads such channels, allocated at its first read and kept for the loop's life, and
 * {@link #TRANSMIT_BUFFERS_PER_LOOP} × {@link #BUFFER_BYTES} per loop that sends version 3 frames.
 */
public final class ReusedReadBuffers implements RecvByteBufAllocator {
    /** Netty's largest adaptive read: a read per wake-up on unlimited links, as before. */
    static final int BUFFER_BYTES = 64 * 1024;
    /** Enough for a loop's subflows and streams to find a free one while some readers hold theirs. */
    static final int BUFFERS_PER_LOOP = 4;

    /** For a channel option: {@code RCVBUF_ALLOCATOR}; the buffers belong to the loop that reads, not to this. */
    public static final ReusedReadBuffers INSTANCE = new ReusedReadBuffers();

    /**
     * Buffers a session's transmit writes frames of version 3 into (64 KiB, a whole frame): kept apart from the read
     * buffers because a written buffer stays held until the socket takes it, up to a subflow's write water mark
     * (256 KiB by default) per subflow; when all are held the writer takes one from Netty's allocator as before.
     */
    static final int TRANSMIT_BUFFERS_PER_LOOP = 8;

    private static final FastThreadLocal<ByteBuf[]> LOOP_BUFFERS = new FastThreadLocal<>() {
        @Override
        protected ByteBuf[] initialValue() {
            return new ByteBuf[BUFFERS_PER_LOOP];
        }
    };

    private static final FastThreadLocal<ByteBuf[]> LOOP_TRANSMIT_BUFFERS = new FastThreadLocal<>() {
        @Override
        protected ByteBuf[] initialValue() {
            return new ByteBuf[TRANSMIT_BUFFERS_PER_LOOP];
        }
    };

    /**
     * Where the loops' buffers come from: Netty's unpooled direct buffers, without its leak detector, which would
     * report every buffer a loop keeps for its life as a leak when the loop's thread ends.
     */
    private static final UnpooledByteBufAllocator KEPT = new UnpooledByteBufAllocator(true, true);

    private final RecvByteBufAllocator sizing = new AdaptiveRecvByteBufAllocator();

    private ReusedReadBuffers() {
    }

    @Override
    public Handle newHandle() {
        return new ReusingHandle((ExtendedHandle) sizing.newHandle());
    }

    /**
     * An empty slice of one of this thread's buffers that no reader holds, or null when all are held. The slice's
     * release returns its buffer (a buffer's count is 1 while it is free: the loop's own reference).
     */
    static ByteBuf take() {
        return takeFrom(LOOP_BUFFERS.get());
    }

    /** The same from the loop's transmit buffers ({@link #TRANSMIT_BUFFERS_PER_LOOP}), or null when all are held. */
    static ByteBuf takeForTransmit() {
        return takeFrom(LOOP_TRANSMIT_BUFFERS.get());
    }

    private static ByteBuf takeFrom(ByteBuf[] buffers) {
        for (int i = 0; i < buffers.length; i++) {
            ByteBuf buffer = buffers[i];
            if (buffer == null) {
                buffer = KEPT.directBuffer(BUFFER_BYTES, BUFFER_BYTES);
                buffers[i] = buffer;
            }
            if (buffer.refCnt() == 1) {
                return buffer.retainedSlice(0, BUFFER_BYTES).clear();
            }
        }
        return null;
    }

    /** Netty's adaptive read handle (its read counts and continue rules), reading into a loop's buffer. */
    private static final class ReusingHandle extends DelegatingHandle implements ExtendedHandle {
        private final ExtendedHandle sizing;

        ReusingHandle(ExtendedHandle sizing) {
            super(sizing);
            this.sizing = sizing;
        }

        @Override
        public ByteBuf allocate(ByteBufAllocator alloc) {
            ByteBuf reused = take();
            return reused != null ? reused : sizing.allocate(alloc);
        }

        @Override
        public boolean continueReading(UncheckedBooleanSupplier maybeMoreDataSupplier) {
            return sizing.continueReading(maybeMoreDataSupplier);
        }
    }
}
