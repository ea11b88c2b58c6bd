package net.hybridproxy.proxy.role;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.nativeio.NativeException;
import net.hybridproxy.proxy.transport.NativeSocketOptions;
import net.hybridproxy.proxy.upstream.ConcentratorMonitor;
import net.hybridproxy.proxy.upstream.ConcentratorSelector;

import java.lang.System.Logger.Level;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;

/**
 * CPE, kernel engine: established MPTCP connections to the concentrator kept ready, so that a new LAN connection's
 * RFC 8803 Convert request is the first data on a connection whose handshake is done and whose other subflows have
 * joined. That is the 0-RTT start TCP Fast Open was meant to give, without the kernel's MPTCP fast open path
 * (docs/decisions.md).
 *
 * <p>Each event loop owns its share of the pool and touches it only on its own thread, and a LAN connection takes a
 * ready connection from its own loop, so the relay pair never crosses threads. A connection taken is replaced at
 * once; one unused for {@code max-idle} is closed and replaced, well before the concentrator's first-byte timeout.
 * Each share holds at least its part of {@code size} and, while its clients open connections faster than one
 * connect can replace them, more, up to its part of {@code max-size} ({@link WarmPoolDemand}).
 * A ready connection carries nothing, so the concentrator sees a connection whose first byte comes later: that is
 * what RFC 8803 §5 allows (the Convert message need not ride in the SYN).
 *
 * <p>The pool follows the active concentrator: when new connections move to another one (failover, fail back), each
 * share closes its ready connections to the one left and refills toward the new one. Connections already carrying a
 * relay are not touched.
 */
final class WarmPool implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("hybridproxy.cpe");
    /**
     * Keepalive on a ready connection after one second of silence. The concentrator's answer to the probe carries
     * its first DATA_ACK, which completes the MPTCP handshake on our side (RFC 8684 §3.1: the initiator retransmits
     * MP_CAPABLE until it sees a DSS); only then does the kernel open the other subflows, so without it a ready
     * connection would keep one subflow until the first data.
     */
    private static final int READY_KEEPALIVE_SECONDS = 1;
    /**
     * Once a connection carries a relay: the first probe after the usual two hours of silence (tcp_keepalive_time's
     * default). Only the idle time is reset at the take, one setsockopt instead of two: the interval between
     * unanswered probes stays READY_KEEPALIVE_SECONDS, so after those two hours a dead peer is found within
     * seconds instead of nine more intervals of two hours; an answered probe re-arms the two hours.
     */
    private static final int RELAY_KEEPALIVE_SECONDS = 7200;
    /** After a failed connect, wait before trying again instead of hammering an unreachable concentrator. */
    private static final long RETRY_MILLIS = 1000;

    private final RoleContext context;
    private final ConcentratorMonitor concentrators;
    /** The channels for a connection to a concentrator's address (IPv4 sockets for an IPv4 one, on epoll). */
    private final Function<InetSocketAddress, ChannelFactory<SocketChannel>> factory;
    private final long maxIdleNanos;
    private final Map<EventLoop, LoopShare> shares = new IdentityHashMap<>();
    /** Takes served by a ready connection. */
    private final LongAdder hits = new LongAdder();
    /** Takes that found the share empty while its replacements were still connecting (the pool was too small). */
    private final LongAdder missesRefilling = new LongAdder();
    /** Takes that found the share empty while it waited out a failure (RETRY_MILLIS). */
    private final LongAdder missesBackingOff = new LongAdder();
    /** Ready connections the concentrator closed before they were taken. */
    private final LongAdder lost = new LongAdder();
    /** Ready connections closed after max-idle unused. */
    private final LongAdder retired = new LongAdder();
    /** Connects to the concentrator that failed. */
    private final LongAdder connectFailures = new LongAdder();
    /** Ready connections in every share (each share updates it on its own loop). */
    private final AtomicInteger readyNow = new AtomicInteger();

    WarmPool(RoleContext context, ConcentratorMonitor concentrators,
             Function<InetSocketAddress, ChannelFactory<SocketChannel>> factory,
             AppConfig.WarmPoolConfig settings) {
        this.context = context;
        this.concentrators = concentrators;
        this.factory = factory;
        this.maxIdleNanos = settings.maxIdle().toNanos();
        int loops = 0;
        for (EventExecutor ignored : context.workerGroup()) {
            loops++;
        }
        int perLoop = Math.max(1, (settings.size() + loops - 1) / loops);
        int maxPerLoop = Math.max(perLoop, settings.maxSize() / loops);
        for (EventExecutor executor : context.workerGroup()) {
            EventLoop loop = (EventLoop) executor;
            shares.put(loop, new LoopShare(loop, new WarmPoolDemand(perLoop, maxPerLoop)));
        }
    }

    void start() {
        shares.values().forEach(share -> share.loop.execute(share::fill));
        concentrators.onSwitch(change -> shares.values().forEach(share -> share.loop.execute(share::retarget)));
        WarmPoolDemand any = shares.values().iterator().next().demand;
        LOG.log(Level.INFO, "warm pool: " + shares.size() + " x " + any.floor() + " (up to " + any.ceiling()
                + " under load) ready MPTCP connections to the active concentrator, replaced after "
                + TimeUnit.NANOSECONDS.toSeconds(maxIdleNanos) + " s unused");
    }

    /**
     * Registers the pool's meters: {@code hybridproxy_cpe_warm_pool_takes_total{outcome}} (hit, or a miss while
     * refilling or backing off: a miss pays a whole MPTCP handshake before the Convert request),
     * {@code hybridproxy_cpe_warm_pool_closes_total{reason}} (lost: closed by the concentrator; idle: max-idle),
     * {@code hybridproxy_cpe_warm_pool_connect_failures_total} and the gauge {@code hybridproxy_cpe_warm_pool_ready}.
     */
    void bindTo(MeterRegistry registry) {
        String takes = "hybridproxy.cpe.warm.pool.takes";
        String takesHelp = "New LAN connections that asked the warm pool for a ready MPTCP connection, by outcome";
        FunctionCounter.builder(takes, hits, LongAdder::sum).tag("outcome", "hit").description(takesHelp)
                .register(registry);
        FunctionCounter.builder(takes, missesRefilling, LongAdder::sum).tag("outcome", "miss_refilling")
                .description(takesHelp).register(registry);
        FunctionCounter.builder(takes, missesBackingOff, LongAdder::sum).tag("outcome", "miss_backing_off")
                .description(takesHelp).register(registry);
        String closes = "hybridproxy.cpe.warm.pool.closes";
        String closesHelp = "Ready connections closed before they were taken, by reason";
        FunctionCounter.builder(closes, lost, LongAdder::sum).tag("reason", "lost").description(closesHelp)
                .register(registry);
        FunctionCounter.builder(closes, retired, LongAdder::sum).tag("reason", "idle").description(closesHelp)
                .register(registry);
        FunctionCounter.builder("hybridproxy.cpe.warm.pool.connect.failures", connectFailures, LongAdder::sum)
                .description("Warm-pool connects to the concentrator that failed").register(registry);
        Gauge.builder("hybridproxy.cpe.warm.pool.ready", readyNow, AtomicInteger::get)
                .description("Established MPTCP connections ready for new LAN connections").register(registry);
    }

    /** On {@code loop}: a ready connection to the concentrator, now owned by the caller, or empty. */
    Optional<Channel> take(EventLoop loop) {
        LoopShare share = shares.get(loop);
        return share == null ? Optional.empty() : share.take();
    }

    /** Turns a taken connection back into an ordinary relay connection; its pool handler is replaced by the caller. */
    static void prepareForRelay(Channel channel) {
        try {
            NativeSocketOptions.setKeepaliveIdleOnly(channel, RELAY_KEEPALIVE_SECONDS);
        } catch (NativeException e) {
            // Only the probe timing is lost; the relay is unaffected.
        }
    }

    @Override
    public void close() {
        shares.values().forEach(share -> share.loop.execute(share::drain));
    }

    /** A ready connection and when it became ready ({@link System#nanoTime()}), for {@code max-idle}. */
    private record Ready(Channel channel, long sinceNanos) {
    }

    /** One event loop's share; every method runs on that loop. */
    private final class LoopShare {
        final EventLoop loop;
        final WarmPoolDemand demand;
        /** Oldest first: connections are added at the tail and taken from the head, so the head retires first. */
        final ArrayDeque<Ready> ready = new ArrayDeque<>();
        /**
         * The one pending max-idle check, due when the oldest ready connection reaches max-idle (null: none
         * pending). One timer per share rather than one per ready connection: a timer per connection stayed queued
         * after its connection was taken, one scheduled task and one priority-queue entry per LAN connection.
         */
        ScheduledFuture<?> retireCheck;
        /** Where the ready connections go: the active concentrator when they were opened. */
        ConcentratorSelector.Choice destination = concentrators.choice();
        int connecting;
        boolean retryScheduled;
        boolean closed;

        LoopShare(EventLoop loop, WarmPoolDemand demand) {
            this.loop = loop;
            this.demand = demand;
        }

        void fill() {
            int target = demand.target(System.nanoTime());
            while (!closed && !retryScheduled && ready.size() + connecting < target) {
                connectOne();
            }
        }

        /** New connections go to another concentrator: the ready ones to the old one are closed, new ones opened. */
        void retarget() {
            ConcentratorSelector.Choice now = concentrators.choice();
            if (closed || now.equals(destination)) {
                return;
            }
            destination = now;
            closeReady();
            // A retry pending for the old concentrator must not hold back the new one (the timer's fill is harmless).
            retryScheduled = false;
            fill();
        }

        private void connectOne() {
            connecting++;
            ConcentratorSelector.Choice to = destination;
            InetSocketAddress concentrator = to.concentrator().address();
            long started = System.nanoTime();
            ChannelFuture connect = context.outboundBootstrap(loop, factory.apply(concentrator))
                    .handler(new ReadyHandler(this, to))
                    .connect(concentrator);
            connect.addListener(done -> {
                connecting--;
                Channel channel = connect.channel();
                if (closed || !to.equals(destination)) {
                    channel.close();
                    fill();
                    return;
                }
                if (!done.isSuccess()) {
                    LOG.log(Level.DEBUG, () -> "warm pool: cannot reach " + RoleContext.describe(concentrator) + ": "
                            + (done.cause() == null ? "cancelled" : done.cause().getMessage()));
                    connectFailures.increment();
                    concentrators.connectFailed(to, done.cause());
                    scheduleRetry();
                    return;
                }
                concentrators.connected(to);
                demand.connected(System.nanoTime() - started);
                try {
                    NativeSocketOptions.setKeepaliveIdle(channel, READY_KEEPALIVE_SECONDS);
                } catch (NativeException e) {
                    LOG.log(Level.DEBUG, () -> "warm pool: keepalive timing refused: " + e.getMessage());
                }
                ready.addLast(new Ready(channel, System.nanoTime()));
                readyNow.incrementAndGet();
                // Notices a concentrator that closes a ready connection (the pool never reads otherwise).
                channel.read();
                if (retireCheck == null) {
                    retireCheck = loop.schedule(this::retireIdle, maxIdleNanos, TimeUnit.NANOSECONDS);
                }
            });
        }

        private void scheduleRetry() {
            if (retryScheduled) {
                return;
            }
            retryScheduled = true;
            loop.schedule(() -> {
                retryScheduled = false;
                fill();
            }, RETRY_MILLIS, TimeUnit.MILLISECONDS);
        }

        Optional<Channel> take() {
            demand.asked(System.nanoTime());
            // The replacement is opened after the caller's current work: creating and configuring its socket
            // would otherwise delay the Convert request on the connection just taken.
            loop.execute(this::fill);
            Ready taken;
            while ((taken = ready.pollFirst()) != null) {
                readyNow.decrementAndGet();
                if (taken.channel.isActive()) {
                    hits.increment();
                    return Optional.of(taken.channel);
                }
                taken.channel.close();
            }
            (retryScheduled ? missesBackingOff : missesRefilling).increment();
            return Optional.empty();
        }

        /** Closes the ready connections unused for max-idle, then waits for the next oldest to get there. */
        private void retireIdle() {
            retireCheck = null;
            long now = System.nanoTime();
            boolean any = false;
            Ready oldest;
            while ((oldest = ready.peekFirst()) != null && now - oldest.sinceNanos >= maxIdleNanos) {
                ready.pollFirst();
                readyNow.decrementAndGet();
                retired.increment();
                oldest.channel.close();
                any = true;
            }
            if (oldest != null && !closed) {
                retireCheck = loop.schedule(this::retireIdle, oldest.sinceNanos + maxIdleNanos - now,
                        TimeUnit.NANOSECONDS);
            }
            if (any) {
                fill();
            }
        }

        private boolean removeReady(Channel channel) {
            return ready.removeIf(r -> r.channel == channel);
        }

        void lost(Channel channel) {
            if (removeReady(channel)) {
                readyNow.decrementAndGet();
                lost.increment();
                channel.close();
                // The concentrator closed it: it may be restarting, so do not reconnect in a tight loop.
                scheduleRetry();
            }
        }

        void drain() {
            closed = true;
            closeReady();
        }

        private void closeReady() {
            readyNow.addAndGet(-ready.size());
            ready.forEach(r -> r.channel.close());
            ready.clear();
        }
    }

    /** On a ready connection until it is taken: nothing may arrive before the Convert request is sent. */
    static final class ReadyHandler extends ChannelInboundHandlerAdapter {
        private final LoopShare share;
        private final ConcentratorSelector.Choice destination;

        private ReadyHandler(LoopShare share, ConcentratorSelector.Choice destination) {
            this.share = share;
            this.destination = destination;
        }

        /** The concentrator this connection goes to (its reply, or its silence, is reported against it). */
        ConcentratorSelector.Choice destination() {
            return destination;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ReferenceCountUtil.release(msg);
            share.lost(ctx.channel());
            ctx.close();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                share.lost(ctx.channel());
                ctx.close();
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            share.lost(ctx.channel());
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            share.lost(ctx.channel());
            ctx.close();
        }
    }
}
