package net.hybridproxy.admin;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.timeout.IdleStateEvent;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;

/**
 * Netty glue for {@link AdminRoutes}: decodes the request, answers on the event loop or via the work thread, and
 * reads the connection's next request only once the answer is written. One request is in flight per connection:
 * pipelined requests that arrived in the same read wait in a short queue, so answers keep the order of requests
 * and a client cannot queue unbounded work.
 */
final class AdminHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private static final System.Logger LOG = System.getLogger("hybridproxy.admin");
    private static final int MAX_PIPELINED = 8;

    private final AdminRoutes routes;
    private final ExecutorService work;
    private final ArrayDeque<FullHttpRequest> waiting = new ArrayDeque<>();
    private boolean inFlight;

    AdminHandler(AdminRoutes routes, ExecutorService work) {
        this.routes = routes;
        this.work = work;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
        if (inFlight) {
            if (waiting.size() >= MAX_PIPELINED) {
                ctx.close();
                return;
            }
            waiting.add(request.retain());
            return;
        }
        handle(ctx, request);
    }

    private void handle(ChannelHandlerContext ctx, FullHttpRequest request) {
        inFlight = true;
        boolean keepAlive = HttpUtil.isKeepAlive(request);
        if (!request.decoderResult().isSuccess()) {
            Throwable cause = request.decoderResult().cause();
            int status = cause instanceof TooLongFrameException ? 431 : 400;
            respond(ctx, AdminRoutes.Response.error(status, "malformed HTTP request"), false);
            return;
        }
        String path = new QueryStringDecoder(request.uri()).path();
        AdminRoutes.Request req = new AdminRoutes.Request(request.method().name(), path,
                request.headers().get(HttpHeaderNames.AUTHORIZATION),
                request.content().toString(StandardCharsets.UTF_8),
                request.headers().get(HttpHeaderNames.HOST), request.headers().get(HttpHeaderNames.ORIGIN),
                request.headers().contains(AdminRoutes.CSRF_HEADER));
        AdminRoutes.RoutedRequest routed = routes.route(req);
        if (!routed.blocking()) {
            respond(ctx, routed.action().get(), keepAlive);
            return;
        }
        try {
            work.execute(() -> respond(ctx, routed.action().get(), keepAlive));
        } catch (RejectedExecutionException e) {
            respond(ctx, AdminRoutes.Response.error(503, "the admin server is busy; retry shortly"), keepAlive);
        }
    }

    private void respond(ChannelHandlerContext ctx, AdminRoutes.Response response, boolean keepAlive) {
        ByteBuf body = Unpooled.copiedBuffer(response.body(), StandardCharsets.UTF_8);
        FullHttpResponse http = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                HttpResponseStatus.valueOf(response.status()), body);
        http.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, response.contentType())
                .setInt(HttpHeaderNames.CONTENT_LENGTH, body.readableBytes())
                .set(HttpHeaderNames.CACHE_CONTROL, HttpHeaderValues.NO_STORE)
                .set("X-Content-Type-Options", "nosniff");
        for (Map.Entry<String, String> header : response.headers().entrySet()) {
            http.headers().set(header.getKey(), header.getValue());
        }
        if (!keepAlive) {
            http.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            ctx.writeAndFlush(http).addListener(ChannelFutureListener.CLOSE);
        } else {
            ctx.writeAndFlush(http).addListener((ChannelFutureListener) f -> {
                // Runs on the connection's event loop, like channelRead0: no locking needed for the queue.
                if (!f.isSuccess()) {
                    f.channel().close();
                    return;
                }
                inFlight = false;
                FullHttpRequest next = waiting.poll();
                if (next != null) {
                    try {
                        handle(ctx, next);
                    } finally {
                        next.release();
                    }
                } else {
                    f.channel().read();
                }
            });
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        waiting.forEach(FullHttpRequest::release);
        waiting.clear();
        ctx.fireChannelInactive();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof IdleStateEvent) {
            ctx.close();
        } else {
            ctx.fireUserEventTriggered(evt);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.log(System.Logger.Level.DEBUG, () -> "admin connection error: " + cause);
        ctx.close();
    }
}
