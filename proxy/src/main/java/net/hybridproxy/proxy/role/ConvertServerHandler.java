package net.hybridproxy.proxy.role;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;
import net.hybridproxy.engine.auth.AuthResult;
import net.hybridproxy.engine.convert.ConnectTlv;
import net.hybridproxy.engine.convert.ConvertDecoder;
import net.hybridproxy.engine.convert.ConvertErrorCode;
import net.hybridproxy.engine.convert.ConvertMessage;
import net.hybridproxy.engine.convert.ConvertProtocolException;
import net.hybridproxy.engine.convert.DecodeResult;
import net.hybridproxy.engine.policy.DestinationPolicy;
import net.hybridproxy.proxy.transport.NativeSocketOptions;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.NoRouteToHostException;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Concentrator, one multipath connection: read the client's RFC 8803 Convert message (bounded), check who is
 * asking and where to, open plain TCP to the destination, answer, and relay. Any refusal is answered with an Error
 * TLV carrying the RFC's code before the connection is closed, so the CPE can tell its client what happened.
 */
final class ConvertServerHandler extends ChannelInboundHandlerAdapter {
    private static final System.Logger LOG = System.getLogger("hybridproxy.concentrator");
    /** How long a refused client may keep sending before we close; it lets our Error TLV arrive intact. */
    private static final long LINGER_AFTER_ERROR_MILLIS = 2_000;

    private final RoleContext context;
    private final ConcentratorRole.Gate gate;
    private ByteBuf pending;
    private boolean decided;
    private boolean finSeen;

    ConvertServerHandler(RoleContext context, ConcentratorRole.Gate gate) {
        this.context = context;
        this.gate = gate;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        Channel client = ctx.channel();
        if (!context.counters().tryAdmit()) {
            decided = true;
            LOG.log(Level.WARNING, "connection limit reached; refusing " + client.remoteAddress());
            refuseWithoutAdmission(ctx, ConvertErrorCode.RESOURCE_EXCEEDED);
            return;
        }
        // A userspace stream is not a socket: it has neither an MPTCP fallback nor kernel subflows to sample.
        if (NativeSocketOptions.isKernelSocket(client)) {
            if (!NativeSocketOptions.isMptcp(client)) {
                context.counters().mptcpFallback(client);
            }
            context.multipathChannels().add(client);
        }
        InetSocketAddress source = (InetSocketAddress) client.remoteAddress();
        if (!gate.sourceAllowed(source.getAddress())) {
            context.counters().authFailure();
            refuse(ctx, ConvertErrorCode.NOT_AUTHORIZED, "source " + source.getAddress().getHostAddress()
                    + " is not in authorized-cidrs");
            return;
        }
        ctx.read();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf buf) || decided) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (pending == null) {
            pending = buf;
        } else {
            ByteBuf joined = ctx.alloc().buffer(pending.readableBytes() + buf.readableBytes());
            joined.writeBytes(pending).writeBytes(buf);
            pending.release();
            buf.release();
            pending = joined;
        }
        DecodeResult result;
        try {
            result = ConvertDecoder.decode(pending.nioBuffer());
        } catch (ConvertProtocolException e) {
            refuse(ctx, e, "bad Convert message");
            return;
        }
        switch (result) {
            case DecodeResult.NeedMoreBytes more -> {
                if (pending.readableBytes() >= ConvertLimits.MAX_MESSAGE_BYTES) {
                    refuse(ctx, ConvertErrorCode.MALFORMED_MESSAGE, "Convert message larger than RFC 8803 allows");
                }
            }
            case DecodeResult.Decoded decoded -> {
                decided = true;
                pending.skipBytes(decoded.consumedBytes());
                admit(ctx, decoded.message());
            }
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (!decided) {
            ctx.read();
        }
    }

    private void admit(ChannelHandlerContext ctx, ConvertMessage request) {
        Channel client = ctx.channel();
        try {
            gate.validateRequest(request);
        } catch (ConvertProtocolException e) {
            refuse(ctx, e, "bad Convert request");
            return;
        }
        ConnectTlv connect = request.connectTlv().orElseThrow();
        InetSocketAddress destination = new InetSocketAddress(connect.address(), connect.port());
        AuthResult auth = gate.authenticate(request, destination, System.currentTimeMillis());
        if (auth instanceof AuthResult.Rejected rejected) {
            context.counters().authFailure();
            refuse(ctx, rejected.code(), "authentication failed: " + rejected.reason());
            return;
        }
        DestinationPolicy.Decision decision = gate.policy().check(destination);
        if (!decision.allowed()) {
            context.counters().policyDenial();
            refuse(ctx, ConvertErrorCode.NOT_AUTHORIZED, "destination " + RoleContext.describe(destination)
                    + " denied: " + decision.reason());
            return;
        }
        String label = RoleContext.describe((InetSocketAddress) client.remoteAddress()) + " -> "
                + RoleContext.describe(destination)
                + (auth instanceof AuthResult.Accepted accepted ? " [" + accepted.keyId() + "]" : "");
        ChannelFuture connectFuture = context.outboundBootstrap(client, context.transport().tcpClient())
                .handler(new ChannelInboundHandlerAdapter())
                .connect(destination);
        Channel server = connectFuture.channel();
        client.closeFuture().addListener(f -> {
            if (!connectFuture.isDone()) {
                connectFuture.cancel(false);
                server.close();
            }
        });
        connectFuture.addListener(f -> {
            if (!f.isSuccess()) {
                ConvertErrorCode code = codeFor(f.cause());
                refuse(ctx, code, label + ": " + (f.cause() == null ? "cancelled" : f.cause().getMessage()));
                return;
            }
            if (!client.isActive()) {
                release();
                server.close();
                context.counters().release();
                return;
            }
            // RFC 8803: the converter answers with a Convert message before it relays the server's bytes.
            client.writeAndFlush(Unpooled.wrappedBuffer(ConvertMessage.of().encode()), client.voidPromise());
            ByteBuf early = pending;
            pending = null;
            if (early.isReadable()) {
                server.writeAndFlush(early, server.voidPromise());
            } else {
                early.release();
            }
            ctx.pipeline().remove(this);
            context.relay(client, server, label);
            if (finSeen) {
                client.pipeline().fireUserEventTriggered(io.netty.channel.socket.ChannelInputShutdownEvent.INSTANCE);
            }
            LOG.log(Level.DEBUG, () -> label + " relaying");
        });
    }

    /**
     * Maps why the destination could not be reached to RFC 8803's codes: a RST is "Connection Reset" (96), an
     * ICMP unreachable is "Destination Unreachable" (97), anything else on our side "Network Failure" (65).
     */
    static ConvertErrorCode codeFor(Throwable cause) {
        if (cause instanceof ConnectTimeoutException) {
            return ConvertErrorCode.DESTINATION_UNREACHABLE;
        }
        if (cause instanceof NoRouteToHostException) {
            return ConvertErrorCode.DESTINATION_UNREACHABLE;
        }
        String message = cause == null || cause.getMessage() == null ? "" : cause.getMessage().toLowerCase(Locale.ROOT);
        if (message.contains("refused")) {
            return ConvertErrorCode.CONNECTION_RESET;
        }
        if (message.contains("unreachable") || message.contains("no route")) {
            return ConvertErrorCode.DESTINATION_UNREACHABLE;
        }
        if (cause instanceof ConnectException || cause instanceof IOException) {
            return ConvertErrorCode.NETWORK_FAILURE;
        }
        return ConvertErrorCode.NETWORK_FAILURE;
    }

    /** Refuses as the RFC asks for this violation: with its Error TLV, or silently when the RFC says so. */
    private void refuse(ChannelHandlerContext ctx, ConvertProtocolException e, String what) {
        if (e.isSilent()) {
            decided = true;
            release();
            context.counters().release();
            context.counters().convertError(e.code());
            LOG.log(Level.INFO, () -> "closed " + ctx.channel().remoteAddress() + " silently: " + what + ": "
                    + e.reason());
            ctx.close();
            return;
        }
        refuse(ctx, e.code(), what + ": " + e.reason());
    }

    private void refuse(ChannelHandlerContext ctx, ConvertErrorCode code, String reason) {
        context.counters().release();
        refuseWithoutAdmission(ctx, code);
        LOG.log(Level.INFO, () -> "refused " + ctx.channel().remoteAddress() + " with " + code + ": " + reason);
    }

    /**
     * Sends the Error TLV, half-closes, and drains what the client still sends for a short while: closing with
     * unread data would make the kernel send a RST, which could destroy the Error TLV before the CPE reads it.
     */
    private void refuseWithoutAdmission(ChannelHandlerContext ctx, ConvertErrorCode code) {
        decided = true;
        release();
        context.counters().convertError(code);
        Channel client = ctx.channel();
        client.writeAndFlush(Unpooled.wrappedBuffer(ConvertMessage.error(code).encode()))
                .addListener((ChannelFutureListener) f -> {
                    if (client instanceof DuplexChannel duplex && f.isSuccess()) {
                        duplex.shutdownOutput();
                    }
                });
        client.config().setAutoRead(true);
        client.eventLoop().schedule(() -> {
            client.close();
        }, LINGER_AFTER_ERROR_MILLIS, TimeUnit.MILLISECONDS);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof io.netty.channel.socket.ChannelInputShutdownEvent) {
            if (!decided) {
                refuse(ctx, ConvertErrorCode.MALFORMED_MESSAGE, "connection half-closed before a full Convert message");
            } else if (pending != null) {
                finSeen = true; // still connecting: the relay replays this FIN once it exists
                return;
            } else {
                ctx.close(); // a refused client finished: nothing more to wait for
            }
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (!decided) {
            context.counters().release();
            decided = true;
        }
        release();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.log(Level.DEBUG, () -> "client connection error before relaying: " + cause);
        ctx.close();
    }

    private void release() {
        if (pending != null) {
            pending.release();
            pending = null;
        }
    }

}
