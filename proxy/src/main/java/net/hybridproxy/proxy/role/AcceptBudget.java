package net.hybridproxy.proxy.role;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * On a listener whose process is short of file descriptors: bounds the connections accepted but not yet taken up by
 * their event loop. The listener's thread accepts as long as its queue holds connections, while each accepted
 * connection waits for its worker loop to register it before it is admitted or refused; on loaded cores the workers
 * fall behind, and those connections, each holding a descriptor that no connection slot counts, ran accept() into
 * EMFILE although the connection limit had been lowered to what the descriptors hold (docs/decisions.md,
 * "Recovery after running out of descriptors"). Over {@code limit} the listener stops reading until its workers have
 * caught up to half of it; the connections wait in the kernel's accept queue meanwhile, as they would anyway.
 *
 * <p>Sits first in the listener's pipeline. One instance per listener; the count is shared by the listener's thread
 * and the workers.
 */
final class AcceptBudget extends ChannelInboundHandlerAdapter {
    private final int limit;
    private final AtomicInteger waiting = new AtomicInteger();

    AcceptBudget(int limit) {
        this.limit = limit;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Channel child) {
            Channel listener = ctx.channel();
            waiting.incrementAndGet();
            Taken taken = new Taken(listener);
            child.pipeline().addFirst(taken);
            // A child whose registration fails is closed without its handlers ever being added: counted off too.
            child.closeFuture().addListener(f -> taken.takenUp());
            if (waiting.get() > limit) {
                listener.config().setAutoRead(false);
                // A worker that caught up meanwhile saw reading still on and left it: look again.
                if (waiting.get() <= limit / 2) {
                    listener.config().setAutoRead(true);
                }
            }
        }
        ctx.fireChannelRead(msg);
    }

    /** First in an accepted connection's pipeline; its handlerAdded runs on that connection's loop at registration. */
    private final class Taken extends ChannelInboundHandlerAdapter {
        private final Channel listener;
        private boolean counted;

        Taken(Channel listener) {
            this.listener = listener;
        }

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            ctx.pipeline().remove(this);
            takenUp();
        }

        /** On the child's loop (registered, or closed): once per connection. */
        void takenUp() {
            if (counted) {
                return;
            }
            counted = true;
            if (waiting.decrementAndGet() <= limit / 2 && !listener.config().isAutoRead() && listener.isOpen()) {
                listener.config().setAutoRead(true);
            }
        }
    }

    /** Connections accepted and not yet registered on their loop (for tests). */
    int waiting() {
        return waiting.get();
    }
}
