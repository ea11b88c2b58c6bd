package net.hybridproxy.loadtest.loadgen;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.socket.SocketChannel;
import net.hybridproxy.proxy.transport.Transport;

import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.security.MessageDigest;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The far end of every load-generator test, built on Netty. One control line per request, then data:
 * <ul>
 *   <li>{@code BULKDOWN <ms> <seed> [<kbit/s>]}: streams the pattern for {@code ms} milliseconds (paced to the
 *       rate if one is given, else as fast as the connection takes it), half-closes, then expects
 *       {@code GOT <bytes> <sha256>} and prints {@code DONE op=BULKDOWN sent=.. received=.. result=MATCH|MISMATCH};
 *       a connection that dies first is printed with {@code result=BROKEN} and the bytes it had sent.</li>
 *   <li>{@code BULKUP <seed>}: reads the pattern until the client half-closes, checking every byte, then answers
 *       {@code OK <bytes> <sha256> <verdict>} and closes.</li>
 *   <li>{@code GET <bytes>}: answers that many pattern bytes (seed 0); repeatable on one connection.</li>
 * </ul>
 * Usage: {@code LoadServer --listen 0.0.0.0:5201 [--mptcp] [--threads 1]}. Prints {@code LISTENING <addr>}.
 */
public final class LoadServer {
    /** Objects up to this size are answered in one go from slices of the shared pattern block (no copying). */
    static final int MAX_GET = 64 << 20;
    private static final int CHUNK = 64 * 1024;
    private static final Map<Long, PayloadPattern> PATTERNS = new ConcurrentHashMap<>();

    private LoadServer() {
    }

    public static void main(String[] args) throws Exception {
        String listen = "0.0.0.0:5201";
        boolean mptcp = false;
        int threads = 1;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--listen" -> listen = args[++i];
                case "--mptcp" -> mptcp = true;
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        int colon = listen.lastIndexOf(':');
        InetSocketAddress address = new InetSocketAddress(listen.substring(0, colon),
                Integer.parseInt(listen.substring(colon + 1)));
        EventLoopGroup group = Transport.EPOLL.newEventLoopGroup(threads, "loadserver");
        PrintStream log = System.out;
        Channel server = new ServerBootstrap().group(group)
                .channelFactory(mptcp ? Transport.EPOLL.mptcpServer() : Transport.EPOLL.tcpServer())
                .option(ChannelOption.SO_BACKLOG, 16384)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(256 << 10, 1 << 20))
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new ServerSession(log));
                    }
                })
                .bind(address).sync().channel();
        log.println("LISTENING " + server.localAddress());
        log.flush();
        server.closeFuture().sync();
    }

    static PayloadPattern pattern(long seed) {
        if (PATTERNS.size() > 64) {
            PATTERNS.clear(); // bounded: clients use a handful of seeds
        }
        return PATTERNS.computeIfAbsent(seed, PayloadPattern::new);
    }

    private enum ExchangeState { REQUEST, SENDING, AWAIT_GOT, RECEIVING, DONE }

    /** One connection; runs on its event loop only. */
    static final class ServerSession extends ChannelInboundHandlerAdapter {
        private final PrintStream log;
        private final LineReader lines = new LineReader();
        private final MessageDigest digest = PayloadPattern.sha256();
        private ExchangeState state = ExchangeState.REQUEST;
        private PayloadPattern pattern;
        private long position;
        private long deadline;
        private long startedAt;
        private long paceKbit;
        private boolean paceScheduled;
        private boolean mismatch;

        ServerSession(PrintStream log) {
            this.log = log;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf in = (ByteBuf) msg;
            try {
                while (in.isReadable() && state != ExchangeState.DONE) {
                    switch (state) {
                        case REQUEST -> {
                            String line = lines.take(in);
                            if (line != null) {
                                request(ctx, line);
                            }
                        }
                        case RECEIVING -> {
                            if (!mismatch && !pattern.matches(in, position)) {
                                mismatch = true;
                            }
                            PayloadPattern.update(digest, in);
                            position += in.readableBytes();
                            in.skipBytes(in.readableBytes());
                        }
                        case AWAIT_GOT -> {
                            String line = lines.take(in);
                            if (line != null) {
                                got(ctx, line);
                            }
                        }
                        default -> in.skipBytes(in.readableBytes());
                    }
                }
            } catch (IllegalArgumentException e) {
                log.println("BAD peer=" + ctx.channel().remoteAddress() + " " + e.getMessage());
                ctx.close();
            } finally {
                in.release();
            }
        }

        private void request(ChannelHandlerContext ctx, String line) {
            String[] w = line.split(" ");
            switch (w[0]) {
                case "BULKDOWN" -> {
                    startedAt = System.nanoTime();
                    deadline = startedAt + Long.parseLong(w[1]) * 1_000_000;
                    pattern = pattern(Long.parseLong(w[2]));
                    paceKbit = w.length > 3 ? Long.parseLong(w[3]) : 0;
                    state = ExchangeState.SENDING;
                    send(ctx);
                }
                case "BULKUP" -> {
                    pattern = pattern(Long.parseLong(w[1]));
                    state = ExchangeState.RECEIVING;
                }
                case "GET" -> {
                    long size = Long.parseLong(w[1]);
                    if (size < 0 || size > MAX_GET) {
                        throw new IllegalArgumentException("GET size out of range: " + size);
                    }
                    PayloadPattern p = pattern(0);
                    for (long pos = 0; pos < size; ) {
                        ByteBuf s = p.slice(pos, (int) Math.min(CHUNK, size - pos));
                        pos += s.readableBytes();
                        ctx.write(s);
                    }
                    ctx.flush();
                }
                default -> throw new IllegalArgumentException("unknown request " + w[0]);
            }
        }

        /** Writes until the channel is unwritable or the time is up; resumed by writability changes. */
        private void send(ChannelHandlerContext ctx) {
            Channel ch = ctx.channel();
            while (state == ExchangeState.SENDING && ch.isWritable()) {
                if (System.nanoTime() - deadline >= 0) {
                    state = ExchangeState.AWAIT_GOT;
                    // Half-close only once every byte is written: shutdownOutput fails writes still queued.
                    ctx.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER)
                            .addListener(f -> ((DuplexChannel) ch).shutdownOutput());
                    return;
                }
                int chunk = CHUNK;
                if (paceKbit > 0) {
                    // Offered load: never ahead of rate × elapsed; come back when the next chunk is due.
                    long allowed = (System.nanoTime() - startedAt) / 1000 * paceKbit / 8000 + CHUNK;
                    if (position >= allowed) {
                        if (!paceScheduled) {
                            paceScheduled = true;
                            ctx.executor().schedule(() -> {
                                paceScheduled = false;
                                send(ctx);
                            }, 2, java.util.concurrent.TimeUnit.MILLISECONDS);
                        }
                        break;
                    }
                    chunk = (int) Math.min(CHUNK, allowed - position);
                }
                ByteBuf s = pattern.slice(position, chunk);
                PayloadPattern.update(digest, s);
                position += s.readableBytes();
                ctx.write(s);
            }
            ctx.flush();
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (state == ExchangeState.SENDING && ctx.channel().isWritable()) {
                send(ctx);
            }
            ctx.fireChannelWritabilityChanged();
        }

        private void got(ChannelHandlerContext ctx, String line) {
            String[] w = line.split(" ");
            String sha = PayloadPattern.hex(digest);
            boolean match = w.length == 3 && w[0].equals("GOT") && Long.parseLong(w[1]) == position && w[2].equals(sha);
            log.println("DONE op=BULKDOWN peer=" + ctx.channel().remoteAddress() + " sent=" + position + " received="
                    + (w.length > 1 ? w[1] : "?") + " result=" + (match ? "MATCH" : "MISMATCH"));
            state = ExchangeState.DONE;
            ctx.close();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                if (state == ExchangeState.RECEIVING) {
                    String verdict = mismatch ? "mismatch" : "ok";
                    String sha = PayloadPattern.hex(digest);
                    log.println("DONE op=BULKUP peer=" + ctx.channel().remoteAddress() + " received=" + position
                            + " result=" + (mismatch ? "MISMATCH" : "MATCH"));
                    state = ExchangeState.DONE;
                    ctx.writeAndFlush(LineReader.encode(ctx.alloc().buffer(), "OK " + position + " " + sha + " " + verdict))
                            .addListener(ChannelFutureListener.CLOSE);
                } else if (state != ExchangeState.SENDING && state != ExchangeState.AWAIT_GOT) {
                    ctx.close();
                }
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (state == ExchangeState.SENDING || state == ExchangeState.AWAIT_GOT || state == ExchangeState.RECEIVING) {
                log.println("DONE op=" + (state == ExchangeState.RECEIVING ? "BULKUP received=" : "BULKDOWN sent=") + position
                        + " peer=" + ctx.channel().remoteAddress() + " result=BROKEN");
            }
            state = ExchangeState.DONE;
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
