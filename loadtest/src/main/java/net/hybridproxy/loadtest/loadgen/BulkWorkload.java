package net.hybridproxy.loadtest.loadgen;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.socket.SocketChannel;
import net.hybridproxy.loadtest.lab.Stalls;
import net.hybridproxy.loadtest.loadgen.BulkResult.BulkStream;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;

/** The bulk workload's client side ({@link BulkOptions}). */
final class BulkWorkload {
    private static final int CHUNK = 64 * 1024;

    /**
     * The download's start at a finer grain than the stall timeline: bytes per {@value} ms over the first
     * {@link #EARLY_SPAN_MS} ms from the first connect, so that a first byte late within a 100 ms bucket can be told
     * from first round trips that carry less. The stall criterion keeps the 100 ms timeline.
     */
    static final int EARLY_BUCKET_MS = 10;
    static final int EARLY_SPAN_MS = 5_000;

    private BulkWorkload() {
    }

    /**
     * Pattern bytes checked and hashed before the first connect of a download: enough invocations (65 536 SHA-256
     * blocks, 64 pattern comparisons of 64 KiB) for the JIT to compile both loops, small enough to cost well under a
     * second even interpreted on a loaded machine (32 MiB made a cold client miss a test's 30 s deadline at load 50).
     */
    static final int WARM_UP_BYTES = 4 << 20;

    /**
     * Runs a download's per-byte work (the pattern check and SHA-256) over {@value #WARM_UP_BYTES} bytes of the pattern
     * before connecting, outside the timeline. A fresh client JVM otherwise verifies its first megabytes in the
     * interpreter: on a loaded machine it read 64 KiB per 100-200 ms for the first 1-2 s of an unlimited-link download
     * while the proxy held the rest, and the stall criterion charged that to the system under test.
     */
    static void warmUpVerification(long seed) {
        PayloadPattern pattern = PayloadPattern.of(seed);
        MessageDigest digest = PayloadPattern.sha256();
        int chunk = 64 << 10;
        for (long position = 0; position < WARM_UP_BYTES; position += chunk) {
            ByteBuf slice = pattern.slice(position, chunk);
            try {
                if (!pattern.matches(slice, position)) {
                    throw new AssertionError("the pattern differs from itself at " + position);
                }
                PayloadPattern.update(digest, slice);
            } finally {
                slice.release();
            }
        }
    }

    static BulkResult run(Bootstrap bootstrap, InetSocketAddress target, long seed, BulkOptions o)
            throws InterruptedException {
        if (!o.upload()) {
            warmUpVerification(seed);
        }
        long sendingMs = o.durationMs();
        int buckets = (int) ((sendingMs + o.timeoutMs()) / o.timelineMs()) + 1;
        AtomicLongArray timeline = new AtomicLongArray(buckets);
        AtomicLongArray early = new AtomicLongArray(EARLY_SPAN_MS / EARLY_BUCKET_MS);
        CountDownLatch done = new CountDownLatch(o.connections());
        double startUptime = LoadClient.uptimeSeconds();
        long start = System.nanoTime();
        List<BulkStreamHandler> streams = new ArrayList<>();
        for (int i = 0; i < o.connections(); i++) {
            BulkStreamHandler s = new BulkStreamHandler(o, seed + i, start, timeline, early, done);
            streams.add(s);
            bootstrap.clone().handler(new ChannelInitializer<SocketChannel>() {
                @Override
                protected void initChannel(SocketChannel ch) {
                    ch.pipeline().addLast(s);
                }
            }).connect(target).addListener(f -> {
                if (!f.isSuccess()) {
                    s.finish(classify(f.cause()), String.valueOf(f.cause()));
                }
            });
        }
        boolean finished = await(timeline, done, start, o);
        long end = System.nanoTime();
        long verified = 0;
        long unverified = 0;
        long lastByte = start;
        Map<String, Integer> outcomes = new LinkedHashMap<>();
        List<BulkStream> results = new ArrayList<>();
        for (BulkStreamHandler s : streams) {
            BulkStream r = s.result();
            outcomes.merge(r.outcome(), 1, Integer::sum);
            if (r.outcome().equals("ok")) {
                verified += r.bytes();
            } else {
                unverified += r.bytes();
            }
            lastByte = Math.max(lastByte, s.lastByteNanos());
            results.add(r);
        }
        double seconds = Math.max(1e-9, (lastByte - start) / 1e9);
        int used = (int) Math.min(buckets, (end - start) / 1_000_000 / o.timelineMs() + 1);
        long[] series = snapshot(timeline, used);
        boolean ok = o.expectRefused()
                ? results.stream().allMatch(s -> refusedLike(s.outcome()) && (o.upload() || s.bytes() == 0))
                : finished && outcomes.getOrDefault("ok", 0) == o.connections();
        long[] earlySeries = snapshot(early, early.length());
        long stall = o.upload() || o.timelineMs() != Stalls.BUCKET_MS ? 0 : Stalls.longestMs(series);
        return new BulkResult(ok, o.upload() ? "up" : "down", o.connections(), o.bytes(), o.durationMs(),
                o.expectRefused(), verified, unverified, round(seconds), round(verified * 8 / seconds / 1e6), outcomes,
                startUptime, o.timelineMs(), series, EARLY_BUCKET_MS, earlySeries, stall, results);
    }

    /** The first {@code length} buckets of a timeline the streams have finished adding to. */
    private static long[] snapshot(AtomicLongArray timeline, int length) {
        long[] copy = new long[length];
        for (int i = 0; i < length; i++) {
            copy[i] = timeline.get(i);
        }
        return copy;
    }

    /** Adds {@code n} bytes to a timeline's bucket; a bucket past its end (a stream running late) is not counted. */
    private static void addToBucket(AtomicLongArray timeline, long bucket, long n) {
        if (bucket < timeline.length()) {
            timeline.addAndGet((int) bucket, n);
        }
    }

    private static boolean refusedLike(String outcome) {
        return outcome.equals("refused") || outcome.equals("reset") || outcome.equals("eof-before-reply");
    }

    /**
     * Waits until every stream has finished, or the timeout has passed (counted from the start of a byte-count
     * transfer, or from the end of a timed transfer's sending period), or — after a sending period — no stream has
     * moved a byte for the idle time: a relay that buffered a lot is given time to drain, a connection that is dead
     * is not waited for in full.
     */
    private static boolean await(AtomicLongArray timeline, CountDownLatch done, long start, BulkOptions o)
            throws InterruptedException {
        long sendingEnds = start + o.durationMs() * 1_000_000;
        long end = sendingEnds + o.timeoutMs() * 1_000_000;
        long lastTotal = -1;
        long lastProgress = System.nanoTime();
        while (!done.await(100, TimeUnit.MILLISECONDS)) {
            long now = System.nanoTime();
            long total = 0;
            for (int i = 0; i < timeline.length(); i++) {
                total += timeline.get(i);
            }
            if (total != lastTotal) {
                lastTotal = total;
                lastProgress = now;
            }
            boolean idle = o.durationMs() > 0 && now - sendingEnds >= 0
                    && now - lastProgress >= o.idleMs() * 1_000_000;
            if (now - end >= 0 || idle) {
                return false;
            }
        }
        return true;
    }

    static String classify(Throwable cause) {
        if (cause instanceof ConnectTimeoutException) {
            return "timeout";
        }
        if (cause instanceof ConnectException) {
            return "refused";
        }
        String m = String.valueOf(cause.getMessage());
        if (cause instanceof IOException && (m.contains("reset") || m.contains("Broken pipe"))) {
            return "reset";
        }
        return "io-error";
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    /** One stream. Event-loop confined apart from {@link #result()}, read under its lock. */
    private static final class BulkStreamHandler extends ChannelInboundHandlerAdapter {
        private final BulkOptions o;
        private final long seed;
        private final long start;
        private final AtomicLongArray timeline;
        private final AtomicLongArray early;
        private final CountDownLatch done;
        private final MessageDigest digest = PayloadPattern.sha256();
        private final LineReader lines = new LineReader();
        private PayloadPattern pattern;
        private Channel channel;
        private long position;
        private long deadline;
        private boolean sending;
        private boolean mismatch;
        private boolean replied;
        // Read by the waiting thread: guarded by this.
        private long bytes;
        private long lastByteNanos;
        private double ttfbMs;
        private String local;
        private String peerSeen;
        private String sha256;
        private String outcome;
        private String error;

        BulkStreamHandler(BulkOptions o, long seed, long start, AtomicLongArray timeline, AtomicLongArray early,
                          CountDownLatch done) {
            this.o = o;
            this.seed = seed;
            this.start = start;
            this.timeline = timeline;
            this.early = early;
            this.done = done;
        }

        private void account(long n) {
            long elapsedMs = (System.nanoTime() - start) / 1_000_000;
            addToBucket(timeline, elapsedMs / o.timelineMs(), n);
            addToBucket(early, elapsedMs / EARLY_BUCKET_MS, n);
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            channel = ctx.channel();
            synchronized (this) {
                local = LoadServer.format(ctx.channel().localAddress());
            }
            pattern = PayloadPattern.of(seed);
            if (o.upload()) {
                ctx.write(LineReader.encode(ctx.alloc().buffer(), "UP seed=" + seed));
                deadline = System.nanoTime() + o.durationMs() * 1_000_000;
                sending = true;
                send(ctx);
            } else {
                String limit = o.durationMs() > 0 ? "ms=" + o.durationMs() : "bytes=" + o.bytes();
                ctx.writeAndFlush(LineReader.encode(ctx.alloc().buffer(), "DOWN seed=" + seed + " " + limit
                        + (o.rateKbit() > 0 ? " kbit=" + o.rateKbit() : "")));
            }
        }

        private boolean sendingOver() {
            return o.durationMs() > 0 ? System.nanoTime() - deadline >= 0 : position >= o.bytes();
        }

        private void send(ChannelHandlerContext ctx) {
            Channel ch = ctx.channel();
            while (sending && ch.isWritable()) {
                if (sendingOver()) {
                    sending = false;
                    synchronized (this) {
                        sha256 = PayloadPattern.hex(digest);
                    }
                    // Half-close only once every byte is written: shutdownOutput fails writes still queued.
                    ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(f -> ((DuplexChannel) ch).shutdownOutput());
                    return;
                }
                int max = o.durationMs() > 0 ? CHUNK : (int) Math.min(CHUNK, o.bytes() - position);
                ByteBuf s = pattern.slice(position, max);
                int n = s.readableBytes();
                PayloadPattern.update(digest, s);
                position += n;
                ctx.write(s).addListener(f -> {
                    if (f.isSuccess()) {
                        account(n);
                        synchronized (this) {
                            bytes += n;
                            lastByteNanos = System.nanoTime();
                        }
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
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf in = (ByteBuf) msg;
            try {
                if (o.upload()) {
                    String line = lines.take(in);
                    if (line != null) {
                        verdict(ctx, line);
                    }
                    return;
                }
                int n = in.readableBytes();
                long now = System.nanoTime();
                if (!replied) {
                    replied = true;
                    synchronized (this) {
                        ttfbMs = round((now - start) / 1e6);
                    }
                }
                if (o.durationMs() == 0 && position + n > o.bytes()) {
                    finish("protocol", "server sent more than " + o.bytes() + " bytes");
                    ctx.close();
                    return;
                }
                if (!mismatch && !pattern.matches(in, position)) {
                    mismatch = true;
                    synchronized (this) {
                        error = "content differs from the pattern within bytes " + position + ".." + (position + n);
                    }
                }
                PayloadPattern.update(digest, in);
                position += n;
                synchronized (this) {
                    bytes += n;
                    lastByteNanos = now;
                }
                account(n);
            } finally {
                in.release();
            }
        }

        /** {@code OK <bytes> <sha256> ok|mismatch <peer>}: the server's word on an upload. */
        private void verdict(ChannelHandlerContext ctx, String line) {
            replied = true;
            String[] w = line.split(" ");
            String mine = sha256;
            boolean wellFormed = w.length == 5 && w[0].equals("OK");
            synchronized (this) {
                lastByteNanos = System.nanoTime();
                if (wellFormed) {
                    peerSeen = w[4];
                }
            }
            if (!wellFormed) {
                finish("protocol", "reply: " + line);
            } else if (!w[1].equals(String.valueOf(position)) || !w[2].equals(mine) || !w[3].equals("ok")) {
                finish("mismatch", "server: " + line);
            } else {
                finish("ok", null);
            }
            ctx.close();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                if (o.upload()) {
                    finish(replied ? "protocol" : "eof-before-reply", replied ? "no verdict line" : null);
                    ctx.close();
                    return;
                }
                String sha = PayloadPattern.hex(digest);
                synchronized (this) {
                    sha256 = sha;
                }
                // Sent even on failure: the server logs the verdict on its side.
                ctx.writeAndFlush(LineReader.encode(ctx.alloc().buffer(), "GOT " + position + " " + sha))
                        .addListener(f -> ctx.close());
                if (!replied && (o.bytes() > 0 || o.durationMs() > 0)) {
                    finish("eof-before-reply", null);
                } else if (o.durationMs() == 0 && position != o.bytes()) {
                    finish("short", "EOF after " + position + " of " + o.bytes() + " bytes");
                } else if (mismatch) {
                    finish("mismatch", null);
                } else {
                    finish("ok", null);
                }
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            finish(replied ? "reset" : "eof-before-reply", "connection closed");
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            finish(classify(cause), String.valueOf(cause));
            ctx.close();
        }

        synchronized void finish(String result, String why) {
            if (outcome == null) {
                outcome = result;
                if (error == null || result.equals("ok")) {
                    error = result.equals("ok") ? null : why;
                }
                done.countDown();
            }
        }

        synchronized long lastByteNanos() {
            return lastByteNanos;
        }

        /** The stream's result; one still running is closed and counted as timed out. */
        synchronized BulkStream result() {
            if (outcome == null) {
                finish("timeout", "still running when the client gave up");
                if (channel != null) {
                    channel.close();
                }
            }
            return new BulkStream(outcome, bytes, sha256, local, peerSeen, o.upload() ? 0 : ttfbMs, error);
        }
    }
}
