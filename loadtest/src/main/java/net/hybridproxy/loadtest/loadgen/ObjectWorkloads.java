package net.hybridproxy.loadtest.loadgen;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.socket.SocketChannel;
import org.HdrHistogram.Histogram;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * The workloads built from small objects asked for with {@code GET <size>}: request/response, time to first byte on
 * a new connection, and held connections.
 */
final class ObjectWorkloads {
    private final Bootstrap bootstrap;
    private final InetSocketAddress target;

    ObjectWorkloads(Bootstrap bootstrap, InetSocketAddress target) {
        this.bootstrap = bootstrap;
        this.target = target;
    }

    /** Callbacks of an {@link Exchange}; they run on its event loop. */
    private interface ExchangeEvents {
        void connected(Channel ch, Exchange ex);

        void responded(Channel ch, Exchange ex, long firstByteNanos, long doneNanos, boolean intact);

        void failed(String why);
    }

    /** Reads exactly {@code size} pattern bytes per request, checking each; reports timings to its owner. */
    private static final class Exchange extends ChannelInboundHandlerAdapter {
        private final int size;
        private final ExchangeEvents events;
        private final PayloadPattern pattern = PayloadPattern.of(0);
        private long received;
        private long firstByte;
        private boolean intact = true;
        private boolean closedByUs;

        Exchange(int size, ExchangeEvents events) {
            this.size = size;
            this.events = events;
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
            events.connected(ctx.channel(), this);
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
                    events.responded(ctx.channel(), this, firstByte, System.nanoTime(), intact && received == size);
                }
            } finally {
                in.release();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (!closedByUs) {
                events.failed("closed by peer");
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

    /** One object fetched over its own connection, with its timestamps (System.nanoTime). */
    private record Fetch(Channel channel, Exchange exchange, long begin, long connected, long firstByte, long done,
                         boolean intact) {
    }

    /**
     * Opens connections while {@code more} says so, at most {@code concurrency} in progress at a time, fetches one
     * object of {@code size} bytes over each and hands it to {@code fetched} (or reports {@code failed}); the next
     * connection starts as one finishes. Callbacks run on the event loop.
     */
    private void fetchOnePerConnection(BooleanSupplier more, int concurrency, int size, Consumer<Fetch> fetched,
                                       Runnable failed) {
        Runnable[] next = new Runnable[1];
        next[0] = () -> {
            if (!more.getAsBoolean()) {
                return;
            }
            long begin = System.nanoTime();
            long[] connectedAt = new long[1];
            Exchange ex = new Exchange(size, new ExchangeEvents() {
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

    private static BooleanSupplier upTo(int count) {
        AtomicInteger started = new AtomicInteger();
        return () -> started.incrementAndGet() <= count;
    }

    private static void record(Histogram h, long fromNanos, long toNanos) {
        h.recordValue(Math.max(1, (toNanos - fromNanos) / 1000));
    }

    RequestResponseResult requestResponse(RequestResponseOptions o) throws InterruptedException {
        return o.newConnectionPerRequest() ? requestPerConnection(o) : persistent(o);
    }

    private RequestResponseResult persistent(RequestResponseOptions o) throws InterruptedException {
        Histogram latency = LatencySummary.newHistogram();
        AtomicInteger errors = new AtomicInteger();
        AtomicInteger corrupt = new AtomicInteger();
        long start = System.nanoTime();
        long deadline = start + o.durationMs() * 1_000_000;
        CountDownLatch done = new CountDownLatch(o.clients());
        for (int i = 0; i < o.clients(); i++) {
            long[] sent = new long[1];
            Exchange ex = new Exchange(o.size(), new ExchangeEvents() {
                @Override
                public void connected(Channel ch, Exchange ex) {
                    sent[0] = System.nanoTime();
                    ex.request(ch);
                }

                @Override
                public void responded(Channel ch, Exchange ex, long firstByteNanos, long doneNanos, boolean intact) {
                    synchronized (latency) {
                        record(latency, sent[0], doneNanos);
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
        boolean finished = done.await(o.durationMs() + 30_000, TimeUnit.MILLISECONDS);
        return rrResult(o, latency, finished, errors, corrupt, (System.nanoTime() - start) / 1e9);
    }

    private RequestResponseResult requestPerConnection(RequestResponseOptions o) throws InterruptedException {
        Histogram latency = LatencySummary.newHistogram();
        AtomicInteger errors = new AtomicInteger();
        AtomicInteger corrupt = new AtomicInteger();
        AtomicInteger inFlight = new AtomicInteger();
        long start = System.nanoTime();
        long deadline = start + o.durationMs() * 1_000_000;
        CountDownLatch idle = new CountDownLatch(1);
        BooleanSupplier more = () -> {
            if (System.nanoTime() - deadline < 0) {
                inFlight.incrementAndGet();
                return true;
            }
            if (inFlight.get() == 0) {
                idle.countDown();
            }
            return false;
        };
        Runnable ended = () -> {
            if (inFlight.decrementAndGet() == 0 && System.nanoTime() - deadline >= 0) {
                idle.countDown();
            }
        };
        fetchOnePerConnection(more, o.clients(), o.size(), f -> {
            synchronized (latency) {
                record(latency, f.begin(), f.done());
            }
            if (!f.intact()) {
                corrupt.incrementAndGet();
            }
            f.exchange().closeQuietly(f.channel());
            ended.run();
        }, () -> {
            errors.incrementAndGet();
            ended.run();
        });
        boolean finished = idle.await(o.durationMs() + 30_000, TimeUnit.MILLISECONDS);
        return rrResult(o, latency, finished, errors, corrupt, (System.nanoTime() - start) / 1e9);
    }

    private static RequestResponseResult rrResult(RequestResponseOptions o, Histogram latency, boolean finished,
                                                  AtomicInteger errors, AtomicInteger corrupt, double seconds) {
        synchronized (latency) {
            return new RequestResponseResult(finished && errors.get() == 0 && corrupt.get() == 0
                    && latency.getTotalCount() > 0, o.clients(), o.size(), o.newConnectionPerRequest(),
                    latency.getTotalCount() / seconds, LatencySummary.of(latency), errors.get(), corrupt.get());
        }
    }

    TtfbResult ttfb(TtfbOptions o) throws InterruptedException {
        Histogram connect = LatencySummary.newHistogram();
        Histogram firstByte = LatencySummary.newHistogram();
        Histogram total = LatencySummary.newHistogram();
        AtomicInteger errors = new AtomicInteger();
        AtomicInteger corrupt = new AtomicInteger();
        if (o.warmup() > 0) {
            CountDownLatch warm = new CountDownLatch(o.warmup());
            fetchOnePerConnection(upTo(o.warmup()), o.concurrency(), o.size(), f -> {
                f.exchange().closeQuietly(f.channel());
                warm.countDown();
            }, warm::countDown);
            warm.await(o.timeoutMs(), TimeUnit.MILLISECONDS);
        }
        CountDownLatch done = new CountDownLatch(o.count());
        long t0 = System.nanoTime();
        fetchOnePerConnection(upTo(o.count()), o.concurrency(), o.size(), f -> {
            synchronized (connect) {
                record(connect, f.begin(), f.connected());
                record(firstByte, f.begin(), f.firstByte());
                record(total, f.begin(), f.done());
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
        boolean finished = done.await(o.timeoutMs(), TimeUnit.MILLISECONDS);
        double seconds = (System.nanoTime() - t0) / 1e9;
        synchronized (connect) {
            return new TtfbResult(finished && errors.get() == 0 && corrupt.get() == 0, o.count(), o.concurrency(),
                    o.size(), total.getTotalCount() / seconds, LatencySummary.of(connect),
                    LatencySummary.of(firstByte), LatencySummary.of(total), errors.get(), corrupt.get());
        }
    }

    HoldResult hold(HoldOptions o) throws InterruptedException {
        List<Fetch> open = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger errors = new AtomicInteger();
        AtomicInteger verified = new AtomicInteger();
        CountDownLatch established = new CountDownLatch(o.connections());
        long t0 = System.nanoTime();
        // A connection counts once an object came back through it: the proxy really relays it.
        fetchOnePerConnection(upTo(o.connections()), o.concurrency(), 1000, f -> {
            if (f.intact()) {
                verified.incrementAndGet();
            }
            open.add(f);
            established.countDown();
        }, () -> {
            errors.incrementAndGet();
            established.countDown();
        });
        boolean all = established.await(o.timeoutMs(), TimeUnit.MILLISECONDS);
        double openSeconds = (System.nanoTime() - t0) / 1e9;
        int peak = open.size();
        Thread.sleep(o.durationMs());
        long stillOpen;
        synchronized (open) {
            stillOpen = open.stream().filter(f -> f.channel().isActive()).count();
            open.forEach(f -> f.exchange().closeQuietly(f.channel()));
        }
        return new HoldResult(all && errors.get() == 0 && verified.get() == o.connections()
                && stillOpen == o.connections(), o.connections(), verified.get(), errors.get(), openSeconds,
                peak / openSeconds, stillOpen);
    }
}
