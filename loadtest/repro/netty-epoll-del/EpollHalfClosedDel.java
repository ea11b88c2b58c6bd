import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;

import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Standalone: Netty's epoll transport with ALLOW_HALF_CLOSURE on and AUTO_READ off (the relay idiom). A JDK client
 * sends a line and half-closes; the server reads the line, gets ChannelInputShutdownEvent, then either
 * <ul>
 *   <li>{@code close}: answers and closes (what a relay does once both directions are done), or</li>
 *   <li>{@code read}: asks for one more read first (what a relay does when the peer drains), then answers and
 *       closes.</li>
 * </ul>
 * At the input shutdown the channel's interest set becomes empty and Netty's EpollIoHandler removes the descriptor
 * from the epoll set (EPOLL_CTL_DEL) but keeps the registration's state "Added"; so the close's deregistration
 * deletes it a second time (ENOENT; Netty builds a NativeIoException with a stack trace and logs it at DEBUG), and a
 * read request modifies a descriptor that is not there (EPOLL_CTL_MOD, ENOENT, thrown to the caller). Run under
 * {@code strace -f -e trace=epoll_ctl} to see the calls; Netty's DEBUG line goes to stderr.
 *
 * usage: java EpollHalfClosedDel close|read
 */
public class EpollHalfClosedDel {
    public static void main(String[] args) throws Exception {
        boolean readAfterShutdown = args.length > 0 && args[0].equals("read");
        java.util.logging.Logger netty = java.util.logging.Logger.getLogger("io.netty.channel.epoll");
        netty.setLevel(java.util.logging.Level.FINE);
        java.util.logging.ConsoleHandler console = new java.util.logging.ConsoleHandler();
        console.setLevel(java.util.logging.Level.FINE);
        netty.addHandler(console);

        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        CompletableFuture<String> outcome = new CompletableFuture<>();
        try {
            Channel server = new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
                    .childOption(ChannelOption.AUTO_READ, false)
                    .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .childHandler(new ChannelInitializer<EpollSocketChannel>() {
                        @Override
                        protected void initChannel(EpollSocketChannel ch) {
                            ch.pipeline().addLast(new Handler(readAfterShutdown, outcome));
                        }
                    })
                    .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            int port = ((InetSocketAddress) server.localAddress()).getPort();
            try (Socket client = new Socket("127.0.0.1", port)) {
                client.getOutputStream().write("hello\n".getBytes(StandardCharsets.US_ASCII));
                client.shutdownOutput();
                InputStream in = client.getInputStream();
                String answer = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
                System.out.println("client received: " + answer.strip());
            }
            System.out.println("server: " + outcome.get(10, TimeUnit.SECONDS));
            server.close().sync();
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    static final class Handler extends ChannelInboundHandlerAdapter {
        private final boolean readAfterShutdown;
        private final CompletableFuture<String> outcome;

        Handler(boolean readAfterShutdown, CompletableFuture<String> outcome) {
            this.readAfterShutdown = readAfterShutdown;
            this.outcome = outcome;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            ctx.read();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ((ByteBuf) msg).release();
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            // As a relay does: no read request once the input is finished (nothing more can arrive).
            if (!((DuplexChannel) ctx.channel()).isInputShutdown()) {
                ctx.read();
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (!(evt instanceof ChannelInputShutdownEvent)) {
                return;
            }
            // A relay acts later, when the other direction has finished too: 100 ms here.
            ctx.channel().eventLoop().schedule(() -> {
                if (readAfterShutdown) {
                    try {
                        ctx.read();
                    } catch (RuntimeException e) {
                        outcome.complete("read() after the input shutdown threw " + e);
                        ctx.close();
                        return;
                    }
                }
                ctx.writeAndFlush(Unpooled.copiedBuffer("bye\n", StandardCharsets.US_ASCII))
                        .addListener(ChannelFutureListener.CLOSE)
                        .addListener(f -> outcome.complete("answered and closed"));
            }, 100, TimeUnit.MILLISECONDS);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            outcome.complete("exceptionCaught: " + cause);
            ctx.close();
        }
    }
}
