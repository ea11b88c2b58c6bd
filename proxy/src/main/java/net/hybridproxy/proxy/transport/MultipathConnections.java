package net.hybridproxy.proxy.transport;

import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.channel.socket.ChannelInputShutdownEvent;

import java.util.Iterator;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The open MPTCP-side channels of this process, which is where per-subflow state is read. Roles {@link #add} a
 * channel once it is connected (outbound) or accepted (inbound); it leaves by itself when it closes.
 *
 * <p>The {@linkplain #onSettling settling listener} runs on the channel's event loop at the two moments a
 * connection's byte counters are (nearly) final while its subflows still exist: when the peer's DATA_FIN arrives
 * (input shutdown: everything the peer sent has been received, and usually everything we sent has been acked),
 * and just before the channel closes through its pipeline (every relay close does), with {@code closing} set.
 * The kernel closes subflows soon after both DATA_FINs, so waiting for the next periodic sample would lose the
 * tail of the transfer. The listener must be quick (one getsockopt). When the close comes while the DATA_FIN is
 * still being handled (the relay closes the pair at the second FIN, which for a short exchange is this one), the
 * closing call says the counters were just read, which saves a second read of the same figures.
 */
public final class MultipathConnections implements Iterable<Channel> {
    private static final String FINAL_SAMPLE = "final-sample";

    private final Set<Channel> open = ConcurrentHashMap.newKeySet();
    private volatile SettlingListener settling = (channel, closing, readJustNow) -> { };
    private volatile long lastAddedNanos;
    private volatile boolean everAdded;

    /** Tracks a connected MPTCP-side channel. Call on the channel's event loop. */
    public void add(Channel channel) {
        if (!open.add(channel)) {
            return;
        }
        lastAddedNanos = System.nanoTime();
        everAdded = true;
        channel.closeFuture().addListener(f -> open.remove(channel));
        if (channel.isOpen()) {
            channel.pipeline().addFirst(FINAL_SAMPLE, new FinalSample());
        } else {
            open.remove(channel);
        }
    }

    /** Told when a tracked channel's counters settle (see the class comment); runs on the channel's event loop. */
    @FunctionalInterface
    public interface SettlingListener {
        /**
         * @param closing     the channel is about to close (otherwise its peer's DATA_FIN has just arrived)
         * @param readJustNow only with {@code closing}: the close comes within the handling of the DATA_FIN whose
         *                    call read the counters a moment ago (the relay closes a pair when the second FIN
         *                    arrives), so nothing moved on the socket since and there is nothing new to read
         */
        void settling(Channel channel, boolean closing, boolean readJustNow);
    }

    public void onSettling(SettlingListener listener) {
        this.settling = listener;
    }

    public int size() {
        return open.size();
    }

    /** A weakly consistent view: channels added or closed during iteration may or may not appear. */
    @Override
    public Iterator<Channel> iterator() {
        return open.iterator();
    }

    /** {@link System#nanoTime()} of the latest {@link #add}, or empty before the first. */
    public java.util.OptionalLong lastAddedNanos() {
        return everAdded ? java.util.OptionalLong.of(lastAddedNanos) : java.util.OptionalLong.empty();
    }

    /**
     * Sits first in the pipeline: every close that travels the pipeline passes it before reaching the socket, and
     * it sees the input shutdown before any other handler.
     */
    private final class FinalSample extends ChannelDuplexHandler {
        private boolean closed;
        /** The input-shutdown event is passing the handlers behind this one, after its settling call. */
        private boolean inInputShutdown;

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
            if (!(evt instanceof ChannelInputShutdownEvent) || closed) {
                super.userEventTriggered(ctx, evt);
                return;
            }
            notify(ctx.channel(), false, false);
            inInputShutdown = true;
            try {
                super.userEventTriggered(ctx, evt);
            } finally {
                inInputShutdown = false;
            }
        }

        @Override
        public void close(ChannelHandlerContext ctx, ChannelPromise promise) throws Exception {
            if (!closed) {
                closed = true;
                notify(ctx.channel(), true, inInputShutdown);
            }
            super.close(ctx, promise);
        }

        private void notify(Channel channel, boolean closing, boolean readJustNow) {
            try {
                settling.settling(channel, closing, readJustNow);
            } catch (RuntimeException e) {
                System.getLogger("hybridproxy.metrics").log(System.Logger.Level.WARNING, "subflow sample failed", e);
            }
        }
    }
}
