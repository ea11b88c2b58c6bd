package net.hybridproxy.proxy.role;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.concurrent.ScheduledFuture;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * On a listener whose process is short of file descriptors: bounds the connections accepted but not yet taken up by
 * their event loop. The listener's thread accepts as long as its queue holds connections, while each accepted
 * connection waits for its worker loop to register it before it is admitted or refused; on loaded cores the workers
 * fall behind, and those connections, each holding a descriptor that no connection slot counts, ran accept() into
 * EMFILE although the connection limit had been lowered to what the descriptors hold (docs/decisions.md,
 * "Recovery after running out of descriptors"). Over {@code limit} the listener stops reading until its workers have
 * caught up to half of it; the connections wait in the kernel's accept queue meanwhile, as they would anyway.
 *
 * <p>The connections waiting are kept as a set, not a count, so that the budget cannot leak. A connection leaves it
 * when its loop registers it, when it closes, and, while the listener is paused, when a check every
 * {@link #CHECK_MILLIS} ms finds it registered or no longer open: Netty's acceptor closes a connection whose
 * registration failed with {@code closeForcibly()}, which completes no close future and adds no handler, so a count
 * kept only by those two events stayed up by one for each, and enough of them kept the listener paused for good.
 *
 * <p>Sits first in the listener's pipeline. One instance per listener; the set is shared by the listener's thread
 * and the workers.
 */
final class AcceptBudget extends ChannelInboundHandlerAdapter {
    /** While paused: how often the listener looks for waiting connections gone without a word. */
    static final long CHECK_MILLIS = 100;

    private final int limit;
    private final Set<Channel> waiting = ConcurrentHashMap.newKeySet();
    /** The check while the listener is paused (touched on the listener's loop only). */
    private ScheduledFuture<?> check;

    AcceptBudget(int limit) {
        this.limit = limit;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Channel child) {
            Channel listener = ctx.channel();
            waiting.add(child);
            child.pipeline().addFirst(new Taken(listener, child));
            child.closeFuture().addListener(f -> takenUp(listener, child));
            if (waiting.size() > limit) {
                listener.config().setAutoRead(false);
                // A worker that caught up meanwhile saw reading still on and left it: look again.
                if (waiting.size() <= limit / 2) {
                    listener.config().setAutoRead(true);
                } else if (check == null) {
                    check = ctx.executor().scheduleWithFixedDelay(() -> checkWaiting(listener), CHECK_MILLIS,
                            CHECK_MILLIS, TimeUnit.MILLISECONDS);
                }
            }
        }
        ctx.fireChannelRead(msg);
    }

    /** On the listener's loop, while paused: drops what registration or a forcible close took away unannounced. */
    private void checkWaiting(Channel listener) {
        waiting.removeIf(child -> child.isRegistered() || !child.isOpen());
        if (waiting.size() <= limit / 2 || !listener.isOpen()) {
            if (listener.isOpen()) {
                listener.config().setAutoRead(true);
            }
            check.cancel(false);
            check = null;
        }
    }

    /** Registered or closed, on the child's loop: once per connection (a set forgets a second removal). */
    private void takenUp(Channel listener, Channel child) {
        if (waiting.remove(child) && waiting.size() <= limit / 2 && !listener.config().isAutoRead()
                && listener.isOpen()) {
            listener.config().setAutoRead(true);
        }
    }

    /** First in an accepted connection's pipeline; its handlerAdded runs on that connection's loop at registration. */
    private final class Taken extends ChannelInboundHandlerAdapter {
        private final Channel listener;
        private final Channel child;

        Taken(Channel listener, Channel child) {
            this.listener = listener;
            this.child = child;
        }

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            ctx.pipeline().remove(this);
            takenUp(listener, child);
        }
    }

    /** Connections accepted and not yet registered on their loop (for tests). */
    int waiting() {
        return waiting.size();
    }
}
