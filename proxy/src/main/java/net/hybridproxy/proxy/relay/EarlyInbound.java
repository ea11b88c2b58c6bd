package net.hybridproxy.proxy.relay;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;

import java.util.ArrayDeque;

/**
 * Holds what an accepted client sends while the outbound connection is still being made: one read's worth of
 * bytes (bounded by the channel's receive buffer allocator) and whether the client already sent its FIN.
 *
 * <p>Why it exists: with AUTO_READ off, a client that sends data and FIN at once (a short request) would have its
 * FIN noticed by the transport while nobody has asked to read; the event is then gone before the relay exists, and
 * the relay would wait forever. Reading once, at accept, lets the transport deliver data and FIN into this handler,
 * and {@link RelaySession#join} replays both into the relay. It also gives the first bytes early, ready to follow
 * the Convert message in the SYN.
 */
public final class EarlyInbound extends ChannelInboundHandlerAdapter {
    private final ArrayDeque<ByteBuf> held = new ArrayDeque<>();
    private boolean finSeen;

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        ctx.read();
        ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ByteBuf buf) {
            held.add(buf);
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        // Deliberately no further read: one read's worth is the bound until the relay takes over.
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            finSeen = true;
            // Now, while the descriptor is still in the epoll set: at the replay it may be gone already.
            HalfClosedEpollRegistration.keep(ctx.channel());
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    /** Removes this handler, replaying held bytes and a held FIN to the handlers behind it. */
    void replay(ChannelHandlerContext ctx) {
        // Take the bytes out before removing: removal releases whatever is still held.
        ArrayDeque<ByteBuf> replayed = new ArrayDeque<>(held);
        held.clear();
        ctx.pipeline().remove(this);
        boolean any = !replayed.isEmpty();
        while (!replayed.isEmpty()) {
            ctx.fireChannelRead(replayed.poll());
        }
        if (any) {
            ctx.fireChannelReadComplete();
        }
        if (finSeen) {
            ctx.fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        }
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        // Anything left here belongs to a channel that closed before relaying.
        while (!held.isEmpty()) {
            held.poll().release();
        }
    }
}
