package net.hybridproxy.loadtest.loadgen;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.socket.SocketChannel;
import net.hybridproxy.loadtest.lab.Json;
import net.hybridproxy.proxy.transport.Transport;
import org.HdrHistogram.Histogram;

import java.net.InetSocketAddress;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The load generator, on Netty (epoll, one event-loop thread unless {@code --threads}). Talks to {@link LoadServer}
 * and prints one JSON line. Modes:
 * <ul>
 *   <li>{@code bulk --direction up|down --connections N --duration-ms T}: N parallel streams for T ms, every byte
 *       checked against the pattern and both ends' SHA-256 compared; goodput counts only verified bytes; a
 *       {@code --timeline-ms} bucketed timeline of received (down) or written (up) bytes; downloads can be paced
 *       by the server with {@code --rate-kbit} (offered load).</li>
 *   <li>{@code rr --connections N --size B --duration-ms T}: request/response on persistent connections; latency
 *       percentiles from an HdrHistogram.</li>
 *   <li>{@code ttfb --count K --concurrency C --size B [--warmup W]}: a new connection per small object; connect
 *       time, time to first byte and total time percentiles, and the connection setup rate. W objects fetched first
 *       and not counted warm up this JVM's own code paths, so its JIT does not weigh on the figures.</li>
 *   <li>{@code hold --connections N --concurrency C --duration-ms T}: opens N connections, keeps them, verifies one
 *       small object on each and reports how many made it.</li>
 * </ul>
 * Common: {@code --connect host:port [--bind addr] [--mptcp] [--seed S] [--connect-timeout-ms 10000]}; bulk also
 * {@code --grace-ms} (longest wait after the sending period, default 60 s) and {@code --idle-ms} (give up once
 * nothing arrived for this long after the sending period, default 5 s).
 */
public final class LoadClient {
    private final Map<String, String> opts;
    private final InetSocketAddress target;
    private final EventLoopGroup group;
    private final Bootstrap bootstrap;
    private final long seed;

    private LoadClient(Map<String, String> opts) {
        this.opts = opts;
        String connect = required("connect");
        int colon = connect.lastIndexOf(':');
        this.target = new InetSocketAddress(connect.substring(0, colon), Integer.parseInt(connect.substring(colon + 1)));
        this.seed = Long.parseLong(opts.getOrDefault("seed", "1"));
        this.group = Transport.EPOLL.newEventLoopGroup(Integer.parseInt(opts.getOrDefault("threads", "1")), "loadgen");
        this.bootstrap = new Bootstrap().group(group)
                .channelFactory(opts.containsKey("mptcp") ? Transport.EPOLL.mptcpClient() : Transport.EPOLL.tcpClient())
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS,
                        Integer.parseInt(opts.getOrDefault("connect-timeout-ms", "10000")))
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(256 << 10, 1 << 20));
        if (opts.containsKey("bind")) {
            bootstrap.localAddress(new InetSocketAddress(opts.get("bind"), 0));
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            System.err.println("usage: LoadClient bulk|rr|ttfb|hold --connect HOST:PORT [options]");
            System.exit(2);
        }
        Map<String, String> opts = new LinkedHashMap<>();
        for (int i = 1; i < args.length; i++) {
            String key = args[i].substring(2);
            if (i + 1 < args.length && !args[i + 1].startsWith("--")) {
                opts.put(key, args[++i]);
            } else {
                opts.put(key, "true");
            }
        }
        LoadClient client = new LoadClient(opts);
        Map<String, Object> result;
        try {
            result = switch (args[0]) {
                case "bulk" -> client.bulk();
                case "rr" -> client.requestResponse();
                case "ttfb" -> client.ttfb();
                case "hold" -> client.hold();
                default -> throw new IllegalArgumentException("unknown mode " + args[0]);
            };
        } finally {
            client.group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
        result.put("mode", args[0]);
        System.out.println(Json.write(result));
        System.out.flush();
        System.exit(Boolean.TRUE.equals(result.get("ok")) ? 0 : 1);
    }

    private String required(String key) {
        String v = opts.get(key);
        if (v == null) {
            throw new IllegalArgumentException("--" + key + " is required");
        }
        return v;
    }

    private long longOpt(String key, long dflt) {
        return Long.parseLong(opts.getOrDefault(key, String.valueOf(dflt)));
    }

    // ------------------------------------------------------------------ bulk

    private Map<String, Object> bulk() throws InterruptedException {
        boolean up = required("direction").equals("up");
        int connections = (int) longOpt("connections", 1);
        long durationMs = longOpt("duration-ms", 10_000);
        long intervalMs = longOpt("timeline-ms", 100);
        AtomicLongArray timeline = new AtomicLongArray((int) ((durationMs + 60_000) / intervalMs) + 1);
        CountDownLatch done = new CountDownLatch(connections);
        // /proc/uptime is one clock for every namespace: it lines this timeline up with the lab's fault times.
        double startUptime = uptimeSeconds();
        long start = System.nanoTime();
        List<BulkHandler> streams = new ArrayList<>();
        for (int i = 0; i < connections; i++) {
            BulkHandler b = new BulkHandler(up, durationMs, seed + i, longOpt("rate-kbit", 0), start, intervalMs, timeline, done);
            streams.add(b);
            bootstrap.clone().handler(new ChannelInitializer<SocketChannel>() {
                @Override
                protected void initChannel(SocketChannel ch) {
                    ch.pipeline().addLast(b);
                }
            }).connect(target).addListener(f -> {
                if (!f.isSuccess()) {
                    b.fail("connect: " + f.cause());
                }
            });
        }
        boolean finished = awaitBulk(timeline, done, start, durationMs, longOpt("grace-ms", 60_000),
                longOpt("idle-ms", 5_000));
        long end = System.nanoTime();
        long verified = 0;
        long unverified = 0;
        long lastByte = start;
        Map<String, Integer> outcomes = new LinkedHashMap<>();
        for (BulkHandler b : streams) {
            synchronized (b) {
                if (b.outcome == null) {
                    b.outcome = "timeout";
                }
                outcomes.merge(b.outcome, 1, Integer::sum);
                if (b.outcome.equals("ok")) {
                    verified += b.bytes;
                } else {
                    unverified += b.bytes;
                }
                lastByte = Math.max(lastByte, b.lastByteNanos);
            }
        }
        double seconds = Math.max(1e-9, (lastByte - start) / 1e9);
        int buckets = (int) Math.min(timeline.length(), (end - start) / 1_000_000 / intervalMs + 1);
        long[] series = new long[buckets];
        for (int i = 0; i < buckets; i++) {
            series[i] = timeline.get(i);
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("ok", finished && outcomes.getOrDefault("ok", 0) == connections);
        r.put("direction", up ? "up" : "down");
        r.put("connections", connections);
        r.put("verifiedBytes", verified);
        r.put("unverifiedBytes", unverified);
        r.put("seconds", seconds);
        r.put("goodputMbps", verified * 8 / seconds / 1e6);
        r.put("outcomes", outcomes);
        r.put("startUptimeSeconds", startUptime);
        r.put("timelineMs", intervalMs);
        r.put("timelineBytes", series);
        return r;
    }

    /**
     * Waits until every stream has finished, or the grace time after the sending period has passed, or — after
     * the sending period — no stream has moved a byte for {@code idleMs}: a relay that buffered a lot is
     * given time to drain, a connection that is dead is not waited for in full.
     */
    private static boolean awaitBulk(AtomicLongArray timeline, CountDownLatch done, long start, long durationMs,
                                     long graceMs, long idleMs) throws InterruptedException {
        long end = start + (durationMs + graceMs) * 1_000_000;
        long sendingEnds = start + durationMs * 1_000_000;
        long lastTotal = -1;
        long lastProgress = System.nanoTime();
        while (!done.await(200, TimeUnit.MILLISECONDS)) {
            long now = System.nanoTime();
            // The timeline counts bytes received (down) or written to the socket (up), so it moves with progress.
            long total = 0;
            for (int i = 0; i < timeline.length(); i++) {
                total += timeline.get(i);
            }
            if (total != lastTotal) {
                lastTotal = total;
                lastProgress = now;
            }
            if (now - end >= 0 || (now - sendingEnds >= 0 && now - lastProgress >= idleMs * 1_000_000)) {
                return false;
            }
        }
        return true;
    }

    /** Seconds since boot from /proc/uptime, the same in every network namespace; -1 if unreadable. */
    public static double uptimeSeconds() {
        try {
            return Double.parseDouble(java.nio.file.Files.readString(java.nio.file.Path.of("/proc/uptime"))
                    .split("\\s+")[0]);
        } catch (java.io.IOException | RuntimeException e) {
            return -1;
        }
    }

    /** One bulk stream. Event-loop confined apart from the final read of its fields under its lock. */
    private static final class BulkHandler extends ChannelInboundHandlerAdapter {
        private static final int CHUNK = 64 * 1024;
        private final boolean up;
        private final long durationMs;
        private final long seed;
        private final long paceKbit;
        private final long start;
        private final long intervalMs;
        private final AtomicLongArray timeline;
        private final CountDownLatch done;
        private final MessageDigest digest = PayloadPattern.sha256();
        private final LineReader lines = new LineReader();
        private PayloadPattern pattern;
        private long position;
        private long deadline;
        private boolean sending;
        private boolean mismatch;
        private long bytes;
        private long lastByteNanos;
        private String outcome;

        BulkHandler(boolean up, long durationMs, long seed, long paceKbit, long start, long intervalMs,
             AtomicLongArray timeline, CountDownLatch done) {
            this.up = up;
            this.paceKbit = paceKbit;
            this.durationMs = durationMs;
            this.seed = seed;
            this.start = start;
            this.intervalMs = intervalMs;
            this.timeline = timeline;
            this.done = done;
        }

        private void account(long n) {
            long now = System.nanoTime();
            int bucket = (int) ((now - start) / 1_000_000 / intervalMs);
            if (bucket < timeline.length()) {
                timeline.addAndGet(bucket, n);
            }
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            pattern = LoadServer.pattern(seed);
            if (up) {
                ctx.write(LineReader.encode(ctx.alloc().buffer(), "BULKUP " + seed));
                deadline = System.nanoTime() + durationMs * 1_000_000;
                sending = true;
                send(ctx);
            } else {
                ctx.writeAndFlush(LineReader.encode(ctx.alloc().buffer(), "BULKDOWN " + durationMs + " " + seed
                        + (paceKbit > 0 ? " " + paceKbit : "")));
            }
        }

        private void send(ChannelHandlerContext ctx) {
            Channel ch = ctx.channel();
            while (sending && ch.isWritable()) {
                if (System.nanoTime() - deadline >= 0) {
                    sending = false;
                    // Half-close only once every byte is written: shutdownOutput fails writes still queued.
                    ctx.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER)
                            .addListener(f -> ((DuplexChannel) ch).shutdownOutput());
                    return;
                }
                ByteBuf s = pattern.slice(position, CHUNK);
                int n = s.readableBytes();
                PayloadPattern.update(digest, s);
                position += n;
                ctx.write(s).addListener(f -> {
                    if (f.isSuccess()) {
                        account(n);
                    }
                });
            }
            ctx.flush();
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (sending && ctx.channel().isWritable()) {
                send(ctx);
            }
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf in = (ByteBuf) msg;
            try {
                if (up) {
                    String line = lines.take(in);
                    if (line != null) {
                        verdict(ctx, line);
                    }
                    return;
                }
                int n = in.readableBytes();
                if (!mismatch && !pattern.matches(in, position)) {
                    mismatch = true;
                }
                PayloadPattern.update(digest, in);
                position += n;
                synchronized (this) {
                    bytes += n;
                    lastByteNanos = System.nanoTime();
                }
                account(n);
            } finally {
                in.release();
            }
        }

        private void verdict(ChannelHandlerContext ctx, String line) {
            String[] w = line.split(" ");
            boolean match = w.length == 4 && w[0].equals("OK") && Long.parseLong(w[1]) == position
                    && w[2].equals(PayloadPattern.hex(digest)) && w[3].equals("ok");
            synchronized (this) {
                bytes = w.length > 1 && w[0].equals("OK") ? Long.parseLong(w[1]) : 0;
                lastByteNanos = System.nanoTime();
            }
            finish(match ? "ok" : "mismatch");
            ctx.close();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent && !up) {
                String sha = PayloadPattern.hex(digest);
                ctx.writeAndFlush(LineReader.encode(ctx.alloc().buffer(), "GOT " + position + " " + sha))
                        .addListener(f -> ctx.close());
                finish(mismatch ? "mismatch" : "ok");
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            finish(up ? "broken" : "reset");
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            finish("error: " + cause.getClass().getSimpleName());
            ctx.close();
        }

        void fail(String why) {
            finish("connect-failed");
        }

        private synchronized void finish(String result) {
            if (outcome == null) {
                outcome = result;
                done.countDown();
            }
        }
    }

    // ------------------------------------------------------------------ request/response and TTFB

    /** Reads exactly {@code size} pattern bytes per request; reports timings to its owner. */
    private static final class Exchange extends ChannelInboundHandlerAdapter {
        interface ExchangeListener {
            void connected(Channel ch, Exchange ex);

            void responded(Channel ch, Exchange ex, long firstByteNanos, long doneNanos, boolean intact);

            void failed(String why);
        }

        private final int size;
        private final ExchangeListener listener;
        private final PayloadPattern pattern = LoadServer.pattern(0);
        private long received;
        private long firstByte;
        private boolean intact = true;
        private boolean closedByUs;

        Exchange(int size, ExchangeListener listener) {
            this.size = size;
            this.listener = listener;
        }

        void request(Channel ch) {
            received = 0;
            firstByte = 0;
            intact = true;
            ch.writeAndFlush(LineReader.encode(ch.alloc().buffer(), "GET " + size));
        }

        void closeQuietly(Channel ch) {
            closedByUs = true;
            ch.close();
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            listener.connected(ctx.channel(), this);
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf in = (ByteBuf) msg;
            try {
                if (firstByte == 0) {
                    firstByte = System.nanoTime();
                }
                if (intact && !pattern.matches(in, received)) {
                    intact = false;
                }
                received += in.readableBytes();
                if (received >= size) {
                    listener.responded(ctx.channel(), this, firstByte, System.nanoTime(), intact && received == size);
                }
            } finally {
                in.release();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (!closedByUs) {
                listener.failed("closed by peer");
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    private ChannelFuture open(Exchange ex) {
        return bootstrap.clone().handler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel ch) {
                ch.pipeline().addLast(ex);
            }
        }).connect(target);
    }

    private static Map<String, Object> percentiles(Histogram h) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("count", h.getTotalCount());
        m.put("p50Ms", h.getValueAtPercentile(50) / 1000.0);
        m.put("p90Ms", h.getValueAtPercentile(90) / 1000.0);
        m.put("p99Ms", h.getValueAtPercentile(99) / 1000.0);
        m.put("maxMs", h.getMaxValue() / 1000.0);
        return m;
    }

    private Map<String, Object> requestResponse() throws InterruptedException {
        int connections = (int) longOpt("connections", 1);
        int size = (int) longOpt("size", 1000);
        long durationMs = longOpt("duration-ms", 5000);
        Histogram latency = new Histogram(60_000_000L, 3);
        AtomicInteger errors = new AtomicInteger();
        AtomicInteger corrupt = new AtomicInteger();
        long deadline = System.nanoTime() + durationMs * 1_000_000;
        CountDownLatch done = new CountDownLatch(connections);
        for (int i = 0; i < connections; i++) {
            long[] sent = new long[1];
            Exchange ex = new Exchange(size, new Exchange.ExchangeListener() {
                @Override
                public void connected(Channel ch, Exchange ex) {
                    sent[0] = System.nanoTime();
                    ex.request(ch);
                }

                @Override
                public void responded(Channel ch, Exchange ex, long firstByteNanos, long doneNanos, boolean intact) {
                    synchronized (latency) {
                        latency.recordValue(Math.max(1, (doneNanos - sent[0]) / 1000));
                    }
                    if (!intact) {
                        corrupt.incrementAndGet();
                    }
                    if (doneNanos - deadline >= 0) {
                        ex.closeQuietly(ch);
                        done.countDown();
                    } else {
                        sent[0] = System.nanoTime();
                        ex.request(ch);
                    }
                }

                @Override
                public void failed(String why) {
                    errors.incrementAndGet();
                    done.countDown();
                }
            });
            open(ex).addListener(f -> {
                if (!f.isSuccess()) {
                    errors.incrementAndGet();
                    done.countDown();
                }
            });
        }
        boolean finished = done.await(durationMs + 30_000, TimeUnit.MILLISECONDS);
        Map<String, Object> r = new LinkedHashMap<>();
        synchronized (latency) {
            r.put("ok", finished && errors.get() == 0 && corrupt.get() == 0 && latency.getTotalCount() > 0);
            r.put("requestsPerSecond", latency.getTotalCount() / (durationMs / 1000.0));
            r.put("latency", percentiles(latency));
        }
        r.put("connections", connections);
        r.put("size", size);
        r.put("errors", errors.get());
        r.put("corrupt", corrupt.get());
        return r;
    }

    /** One object fetched over its own connection, with its timestamps (System.nanoTime). */
    private record Fetch(Channel channel, Exchange exchange, long begin, long connected, long firstByte, long done,
                         boolean intact) {
    }

    /**
     * Opens {@code count} connections, at most {@code concurrency} in progress at a time, fetches one object of
     * {@code size} bytes over each and hands it to {@code fetched} (or reports {@code failed}); the next connection
     * starts as one finishes. Callbacks run on the event loop.
     */
    private void fetchOnePerConnection(int count, int concurrency, int size, java.util.function.Consumer<Fetch> fetched,
                                       Runnable failed) {
        AtomicInteger started = new AtomicInteger();
        Runnable[] next = new Runnable[1];
        next[0] = () -> {
            if (started.incrementAndGet() > count) {
                return;
            }
            long begin = System.nanoTime();
            long[] connectedAt = new long[1];
            Exchange ex = new Exchange(size, new Exchange.ExchangeListener() {
                @Override
                public void connected(Channel ch, Exchange ex) {
                    connectedAt[0] = System.nanoTime();
                    ex.request(ch);
                }

                @Override
                public void responded(Channel ch, Exchange ex, long firstByteNanos, long doneNanos, boolean intact) {
                    fetched.accept(new Fetch(ch, ex, begin, connectedAt[0], firstByteNanos, doneNanos, intact));
                    next[0].run();
                }

                @Override
                public void failed(String why) {
                    failed.run();
                    next[0].run();
                }
            });
            open(ex).addListener(f -> {
                if (!f.isSuccess()) {
                    failed.run();
                    next[0].run();
                }
            });
        };
        for (int i = 0; i < concurrency; i++) {
            next[0].run();
        }
    }

    private Map<String, Object> ttfb() throws InterruptedException {
        int count = (int) longOpt("count", 200);
        int concurrency = (int) longOpt("concurrency", 8);
        int size = (int) longOpt("size", 10_000);
        Histogram connect = new Histogram(60_000_000L, 3);
        Histogram firstByte = new Histogram(60_000_000L, 3);
        Histogram total = new Histogram(60_000_000L, 3);
        AtomicInteger errors = new AtomicInteger();
        AtomicInteger corrupt = new AtomicInteger();
        int warmup = (int) longOpt("warmup", 0);
        if (warmup > 0) {
            CountDownLatch warm = new CountDownLatch(warmup);
            fetchOnePerConnection(warmup, concurrency, size, f -> {
                f.exchange().closeQuietly(f.channel());
                warm.countDown();
            }, warm::countDown);
            warm.await(Long.parseLong(opts.getOrDefault("timeout-ms", "120000")), TimeUnit.MILLISECONDS);
        }
        CountDownLatch done = new CountDownLatch(count);
        long t0 = System.nanoTime();
        fetchOnePerConnection(count, concurrency, size, f -> {
            synchronized (connect) {
                connect.recordValue(Math.max(1, (f.connected() - f.begin()) / 1000));
                firstByte.recordValue(Math.max(1, (f.firstByte() - f.begin()) / 1000));
                total.recordValue(Math.max(1, (f.done() - f.begin()) / 1000));
            }
            if (!f.intact()) {
                corrupt.incrementAndGet();
            }
            f.exchange().closeQuietly(f.channel());
            done.countDown();
        }, () -> {
            errors.incrementAndGet();
            done.countDown();
        });
        boolean finished = done.await(Long.parseLong(opts.getOrDefault("timeout-ms", "120000")), TimeUnit.MILLISECONDS);
        double seconds = (System.nanoTime() - t0) / 1e9;
        Map<String, Object> r = new LinkedHashMap<>();
        synchronized (connect) {
            r.put("ok", finished && errors.get() == 0 && corrupt.get() == 0);
            r.put("connectionsPerSecond", total.getTotalCount() / seconds);
            r.put("connect", percentiles(connect));
            r.put("ttfb", percentiles(firstByte));
            r.put("total", percentiles(total));
        }
        r.put("count", count);
        r.put("concurrency", concurrency);
        r.put("size", size);
        r.put("errors", errors.get());
        r.put("corrupt", corrupt.get());
        return r;
    }

    // ------------------------------------------------------------------ many concurrent connections

    private Map<String, Object> hold() throws InterruptedException {
        int connections = (int) longOpt("connections", 1000);
        int concurrency = (int) longOpt("concurrency", 256);
        long holdMs = longOpt("duration-ms", 5000);
        int size = 1000;
        List<Map.Entry<Channel, Exchange>> open = java.util.Collections.synchronizedList(new ArrayList<>());
        AtomicInteger errors = new AtomicInteger();
        AtomicInteger verified = new AtomicInteger();
        CountDownLatch established = new CountDownLatch(connections);
        long t0 = System.nanoTime();
        // A connection counts once an object came back through it: the proxy really relays it.
        fetchOnePerConnection(connections, concurrency, size, f -> {
            if (f.intact()) {
                verified.incrementAndGet();
            }
            open.add(Map.entry(f.channel(), f.exchange()));
            established.countDown();
        }, () -> {
            errors.incrementAndGet();
            established.countDown();
        });
        boolean all = established.await(Long.parseLong(opts.getOrDefault("timeout-ms", "120000")), TimeUnit.MILLISECONDS);
        double openSeconds = (System.nanoTime() - t0) / 1e9;
        int peak = open.size();
        Thread.sleep(holdMs);
        long stillOpen;
        synchronized (open) {
            stillOpen = open.stream().filter(e -> e.getKey().isActive()).count();
            open.forEach(e -> e.getValue().closeQuietly(e.getKey()));
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("ok", all && errors.get() == 0 && verified.get() == connections && stillOpen == connections);
        r.put("connections", connections);
        r.put("verified", verified.get());
        r.put("errors", errors.get());
        r.put("openSeconds", openSeconds);
        r.put("connectionsPerSecond", peak / openSeconds);
        r.put("stillOpenAfterHold", stillOpen);
        return r;
    }
}
