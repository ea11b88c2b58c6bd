package net.hybridproxy.proxy.transport;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;

import java.util.Iterator;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * The open MPTCP-side channels of this process, which is where per-subflow state is read. Roles {@link #add} a
 * channel once it is connected (outbound) or accepted (inbound); it leaves by itself when it closes.
 *
 * <p>Just before a tracked channel closes through its pipeline (every relay close does), the {@linkplain
 * #onClosing closing listener} runs on the channel's event loop while the socket is still open, so a sampler can
 * take the connection's final figures: byte counters are then exact at close, whatever the sampling interval.
 * The listener must be quick (one getsockopt); it runs once per connection.
 */
public final class MultipathConnections implements Iterable<Channel> {
    private static final String FINAL_SAMPLE = "final-sample";

    private final Set<Channel> open = ConcurrentHashMap.newKeySet();
    private volatile Consumer<Channel> closing = channel -> { };
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

    /** Sets what runs just before a tracked channel closes (on its event loop, socket still open). */
    public void onClosing(Consumer<Channel> listener) {
        this.closing = listener;
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

    /** Sits first in the pipeline, so every close that travels the pipeline passes it before reaching the socket. */
    private final class FinalSample extends ChannelOutboundHandlerAdapter {
        private boolean done;

        @Override
        public void close(ChannelHandlerContext ctx, ChannelPromise promise) throws Exception {
            if (!done) {
                done = true;
                try {
                    closing.accept(ctx.channel());
                } catch (RuntimeException e) {
                    System.getLogger("hybridproxy.metrics").log(System.Logger.Level.WARNING,
                            "final subflow sample failed", e);
                }
            }
            super.close(ctx, promise);
        }
    }
}
