package net.hybridproxy.proxy.role;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import net.hybridproxy.engine.convert.ConvertDecoder;
import net.hybridproxy.engine.convert.ConvertErrorCode;
import net.hybridproxy.engine.convert.ConvertMessage;
import net.hybridproxy.engine.convert.ConvertProtocolException;
import net.hybridproxy.engine.convert.DecodeResult;
import net.hybridproxy.engine.convert.ErrorTlv;
import net.hybridproxy.proxy.relay.RelaySession;
import net.hybridproxy.proxy.upstream.ConcentratorSelector.Choice;


/**
 * CPE side, in front of the relay on the concentrator connection: consumes the concentrator's RFC 8803 reply
 * before any server byte reaches the client. A reply carrying an Error TLV resets the LAN client, which is what
 * the client would have seen had it connected to a refusing destination directly. No reply within
 * {@code cpe.convert-reply-timeout} of the concentrator connection being established (opened for this client, taken
 * from the warm pool, or a userspace stream) resets both the client and the concentrator connection
 * ({@link ConcentratorReplies}); without that bound such a client was held until {@code relay.idle-timeout}.
 */
final class ConvertReplyHandler extends ChannelInboundHandlerAdapter {
    private final Channel client;
    private final ConcentratorReplies replies;
    private final ProxyCounters counters;
    private final Choice target;
    private final String label;
    private final boolean multipathExpected;
    private ByteBuf pending;
    private ChannelHandlerContext context;
    /** The wait for the reply, from the connection's establishment until the reply (null before and after). */
    private ConcentratorReplies.Deadline deadline;

    /**
     * @param target            the concentrator this connection goes to, whose health a missing reply counts against
     * @param multipathExpected whether the connection was opened as MPTCP (so plain TCP means a fallback)
     */
    ConvertReplyHandler(Channel client, ConcentratorReplies replies, Choice target, String label,
                        boolean multipathExpected) {
        this.client = client;
        this.replies = replies;
        this.counters = replies.counters();
        this.target = target;
        this.label = label;
        this.multipathExpected = multipathExpected;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        context = ctx;
        if (ctx.channel().isActive()) {
            awaitReply(ctx); // a warm-pool connection: established long ago, its Convert request leaves now
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        awaitReply(ctx);
        ctx.fireChannelActive();
    }

    private void awaitReply(ChannelHandlerContext ctx) {
        if (deadline == null) {
            deadline = replies.await(ctx.executor(), this);
        }
    }

    private void stopWaiting() {
        if (deadline != null) {
            deadline.cancel();
            deadline = null;
        }
    }

    /** On the connection's loop: {@code cpe.convert-reply-timeout} passed without a reply. */
    void replyTimedOut() {
        deadline = null;
        replies.timedOut(target, context.channel().remoteAddress(), label);
        RelaySession.reset(client);
        // A reset, not a FIN: a concentrator that is merely slow forgets the request at once.
        RelaySession.reset(context.channel());
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf buf)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        pending = pending == null ? buf : appendBounded(ctx, pending, buf);
        if (pending == null) {
            return;
        }
        DecodeResult result;
        try {
            result = ConvertDecoder.decode(pending.nioBuffer());
        } catch (ConvertProtocolException e) {
            fail(ctx, "malformed Convert reply from the concentrator: " + e.getMessage(), e.code());
            return;
        }
        switch (result) {
            case DecodeResult.NeedMoreBytes ignored -> {
                // wait for the rest; channelReadComplete asks for it
            }
            case DecodeResult.Decoded decoded -> accept(ctx, decoded.message(), decoded.consumedBytes());
        }
    }

    private ByteBuf appendBounded(ChannelHandlerContext ctx, ByteBuf head, ByteBuf more) {
        if (head.readableBytes() + more.readableBytes() > ConvertLimits.MAX_MESSAGE_BYTES + 65536) {
            more.release();
            head.release();
            pending = null;
            fail(ctx, "concentrator reply exceeds the Convert message limit", ConvertErrorCode.MALFORMED_MESSAGE);
            return null;
        }
        ByteBuf joined = ctx.alloc().buffer(head.readableBytes() + more.readableBytes());
        joined.writeBytes(head).writeBytes(more);
        head.release();
        more.release();
        return joined;
    }

    private void accept(ChannelHandlerContext ctx, ConvertMessage reply, int consumed) {
        ByteBuf rest = pending;
        pending = null;
        rest.skipBytes(consumed);
        stopWaiting();
        replies.replied(target);
        var error = reply.errorTlv();
        if (error.isPresent()) {
            rest.release();
            ErrorTlv tlv = error.get();
            ConvertErrorCode code = tlv.errorCode().orElse(ConvertErrorCode.MALFORMED_MESSAGE);
            counters.convertError(code);
            String what = tlv.errorCode().map(ConvertErrorCode::toString).orElse("unassigned error code "
                    + tlv.code());
            replies.refused(tlv.errorCode().map(Enum::name).orElse("unassigned"), ctx.channel().remoteAddress(),
                    () -> label + " refused by concentrator: " + what);
            RelaySession.reset(client);
            ctx.close();
            return;
        }
        if (multipathExpected && net.hybridproxy.proxy.transport.NativeSocketOptions.isKernelSocket(ctx.channel())
                && !net.hybridproxy.proxy.transport.NativeSocketOptions.isMptcp(ctx.channel())) {
            counters.mptcpFallback(ctx.channel());
            // Every connection over a path that strips the option falls back: one line per interval, with the count.
            replies.failed("mptcp fallback", ctx.channel().remoteAddress(), () -> label
                    + ": the concentrator connection fell back to plain TCP (MPTCP option stripped or refused on the "
                    + "path)");
        }
        ctx.pipeline().remove(this);
        if (rest.isReadable()) {
            ctx.fireChannelRead(rest);
            ctx.fireChannelReadComplete();
        } else {
            rest.release();
            ctx.read();
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        // Still waiting for the reply: keep reading this side only.
        ctx.read();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        stopWaiting();
        if (pending != null) {
            pending.release();
            pending = null;
        }
    }

    private void fail(ChannelHandlerContext ctx, String reason, ConvertErrorCode code) {
        stopWaiting();
        counters.convertError(code);
        replies.failed("malformed reply", ctx.channel().remoteAddress(), () -> label + ": " + reason);
        RelaySession.reset(client);
        ctx.close();
    }
}
