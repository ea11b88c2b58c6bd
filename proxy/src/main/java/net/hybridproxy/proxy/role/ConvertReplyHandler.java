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

import java.lang.System.Logger.Level;

/**
 * CPE side, in front of the relay on the concentrator connection: consumes the concentrator's RFC 8803 reply
 * before any server byte reaches the client. A reply carrying an Error TLV resets the LAN client, which is what
 * the client would have seen had it connected to a refusing destination directly.
 */
final class ConvertReplyHandler extends ChannelInboundHandlerAdapter {
    private static final System.Logger LOG = System.getLogger("hybridproxy.cpe");

    private final Channel client;
    private final ProxyCounters counters;
    private final String label;
    private final boolean multipathExpected;
    private ByteBuf pending;

    /** @param multipathExpected whether the connection was opened as MPTCP (so plain TCP means a fallback) */
    ConvertReplyHandler(Channel client, ProxyCounters counters, String label, boolean multipathExpected) {
        this.client = client;
        this.counters = counters;
        this.label = label;
        this.multipathExpected = multipathExpected;
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
        var error = reply.errorTlv();
        if (error.isPresent()) {
            rest.release();
            ErrorTlv tlv = error.get();
            ConvertErrorCode code = tlv.errorCode().orElse(ConvertErrorCode.MALFORMED_MESSAGE);
            counters.convertError(code);
            LOG.log(Level.INFO, () -> label + " refused by concentrator: " + tlv.errorCode()
                    .map(ConvertErrorCode::toString).orElse("unassigned error code " + tlv.code()));
            RelaySession.reset(client);
            ctx.close();
            return;
        }
        if (multipathExpected && net.hybridproxy.proxy.transport.NativeSocketOptions.isKernelSocket(ctx.channel())
                && !net.hybridproxy.proxy.transport.NativeSocketOptions.isMptcp(ctx.channel())) {
            counters.mptcpFallback(ctx.channel());
            LOG.log(Level.WARNING, () -> label + ": the concentrator connection fell back to plain TCP "
                    + "(MPTCP option stripped or refused on the path)");
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
        if (pending != null) {
            pending.release();
            pending = null;
        }
    }

    private void fail(ChannelHandlerContext ctx, String reason, ConvertErrorCode code) {
        counters.convertError(code);
        LOG.log(Level.WARNING, () -> label + ": " + reason);
        RelaySession.reset(client);
        ctx.close();
    }
}
