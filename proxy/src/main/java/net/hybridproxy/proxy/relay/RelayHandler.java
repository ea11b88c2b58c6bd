package net.hybridproxy.proxy.relay;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelOutputShutdownException;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.unix.Socket;
import io.netty.channel.unix.UnixChannel;
import io.netty.util.ReferenceCountUtil;

import java.io.IOException;

/**
 * One direction of a relay: what this channel reads is written to {@code peer}.
 *
 * <p>Backpressure instead of buffering: both channels run with AUTO_READ off, and this side asks for the next read
 * only while the peer is writable (below its high water mark). When the peer drains below its low water mark, the
 * peer's handler resumes reading here. So each direction holds at most one high water mark of data in memory.
 *
 * <p>Half-close is propagated, not turned into a close: a FIN read here becomes {@code shutdownOutput()} on the
 * peer once everything before it is flushed, and the pair closes only when both directions have finished. A
 * direction is finished when its FIN has been <em>written</em> after all its bytes, not when it has been read: the
 * other direction's FIN may be read while this one's tail still waits in the peer's outbound buffer (a slow
 * reader), and a close then would fail that tail and end the stream cleanly but short.
 *
 * <p>The second direction to finish, on a kernel socket, closes the peer instead of shutting its output down
 * first: everything before is flushed, so the close sends the FIN after it, as {@code shutdownOutput()} would;
 * that would only add Netty's ChannelOutputShutdownException (a full stack trace) on every connection. Not for a
 * userspace stream, whose close ends the stream at once instead of after the data it still holds. The first
 * direction to finish, on a kernel socket, shuts the socket's output down directly for the same reason
 * ({@link #shutdownOutput(Socket)}).
 *
 * <p>A reset read here is reproduced as a reset on the peer (SO_LINGER 0), so clients see what the far end did.
 */
final class RelayHandler extends ChannelInboundHandlerAdapter {
    private final Channel peer;
    private final RelaySession session;
    private final boolean upstream;

    RelayHandler(Channel peer, RelaySession session, boolean upstream) {
        this.peer = peer;
        this.session = session;
        this.upstream = upstream;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf buf)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (!peer.isActive()) {
            buf.release();
            return;
        }
        // Before the write: a write may run the peer loop's due tasks, the idle check among them.
        session.touch();
        session.count(upstream, buf.readableBytes());
        peer.write(buf, peer.voidPromise());
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        peer.flush();
        if (peer.isWritable()) {
            requestRead(ctx.channel());
        }
        // Otherwise the peer's channelWritabilityChanged resumes us once it has drained.
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        // Our own outbound drained: the peer may read again.
        if (ctx.channel().isWritable()) {
            session.touch();
            requestRead(peer);
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            // FIN from this side: forward it after everything read before it. Until that is written this direction
            // is not finished, whatever the other one does: the peer must not be closed under its queued tail.
            // Nearly always nothing is queued any more (each read was flushed as it came): then at once, without
            // an empty write and a listener to learn what is already known.
            Channel self = ctx.channel();
            // The other direction may still send through this channel: it must stay able to wait for EPOLLOUT. Not
            // once that direction has finished: its FIN was written here after all its bytes, nothing more will be,
            // and this FIN closes the pair (the registration's epoll_ctl would be one more per relay for nothing).
            if (!session.isFinished(!upstream)) {
                HalfClosedEpollRegistration.keep(self);
            }
            if (nothingQueued(peer)) {
                forwardFin(self);
            } else {
                peer.writeAndFlush(Unpooled.EMPTY_BUFFER)
                        .addListener((ChannelFutureListener) flushed -> forwardFin(self));
            }
        } else {
            ctx.fireUserEventTriggered(evt);
        }
    }

    /** Everything this side read before its FIN is written to the peer: pass the FIN on, or close the pair. */
    private void forwardFin(Channel self) {
        if (!(peer instanceof DuplexChannel duplex) || !peer.isActive()) {
            closeBoth(self);
        } else if (session.isFinished(!upstream) && peer instanceof UnixChannel) {
            closeBoth(self);
        } else if (peer instanceof UnixChannel unix && unix.fd() instanceof Socket socket) {
            shutdownOutput(socket);
            session.finished(upstream);
            if (session.isFinished(!upstream)) {
                closeBoth(self);
            }
        } else {
            duplex.shutdownOutput().addListener(done -> {
                session.finished(upstream);
                if (session.isFinished(!upstream)) {
                    closeBoth(self);
                }
            });
        }
    }

    /** Whether the channel holds no write at all, flushed or not (a closed one holds none either). */
    private static boolean nothingQueued(Channel channel) {
        ChannelOutboundBuffer queued = channel.unsafe().outboundBuffer();
        return queued == null || (queued.size() == 0 && queued.totalPendingWriteBytes() == 0);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        // Let whatever is queued for the peer go out, then close it.
        if (peer.isActive()) {
            if (nothingQueued(peer)) {
                peer.close();
            } else {
                peer.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            }
        }
        session.closed();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof IOException) {
            // Reset (or another transport error) on this side: reproduce it as a reset on the other side.
            session.closeReason(transportErrorReason(upstream, cause));
            resetAndClose(peer);
            ctx.close();
        } else {
            session.closeReason("internal error: " + cause);
            ctx.close();
            peer.close();
        }
    }

    /**
     * The close reason the connection log gives for a transport error on one side. A write that failed because this
     * process had shut the channel's output down (Netty's {@link ChannelOutputShutdownException}, also what its epoll
     * transport raises when it cannot wait for EPOLLOUT) is a local failure, not a reset by the far end, and an
     * operator reading the log must be able to tell the two apart.
     */
    static String transportErrorReason(boolean upstream, Throwable cause) {
        String side = upstream ? "client side" : "server side";
        if (cause instanceof ChannelOutputShutdownException) {
            return "local write failure on " + side + " (output already shut down): " + cause.getMessage();
        }
        return "reset by " + side + ": " + cause.getMessage();
    }

    /**
     * Sends the FIN of a kernel socket whose outbound buffer is empty (the flush before this completed): the socket's
     * own {@code shutdown(SHUT_WR)}, which also records the shut-down output where the channel reads it back
     * ({@code isOutputShutdown()}). Not the channel's {@code shutdownOutput()}: Netty's channel-level shutdown builds
     * a ChannelOutputShutdownException with a full stack trace on every call, to fail writes still queued, and there
     * are none. A failure (the far end reset meanwhile) is not ours to report: the reset reaches this relay as an
     * exception on the socket's next read or write, and the pair closes then.
     */
    private static void shutdownOutput(Socket socket) {
        try {
            socket.shutdown(false, true);
        } catch (IOException | RuntimeException ignored) {
            // ENOTCONN (NotYetConnectedException) or a closed descriptor: nothing left to shut down.
        }
    }

    private void closeBoth(Channel self) {
        self.close();
        peer.close();
    }

    /**
     * Asks for the next read unless the channel's input is already finished. Not only pointless then: Netty 4.2's
     * epoll transport has dropped the fd from its epoll set once it delivered the input shutdown, and a read
     * request fails with epoll_ctl ENOENT, which would tear down a half-closed connection still sending.
     */
    static void requestRead(Channel channel) {
        if (!isInputShutdown(channel)) {
            channel.read();
        }
    }

    static boolean isInputShutdown(Channel channel) {
        return channel instanceof DuplexChannel duplex && duplex.isInputShutdown();
    }

    /** Closes with a TCP RST rather than a FIN, so the far side learns the connection failed. */
    static void resetAndClose(Channel channel) {
        if (channel.isOpen()) {
            try {
                channel.config().setOption(ChannelOption.SO_LINGER, 0);
            } catch (RuntimeException ignored) {
                // Some socket types refuse SO_LINGER; a FIN is the best we can do then.
            }
            channel.close();
        }
    }
}
