package net.hybridproxy.proxy.userspace;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.multipath.connection.ConcentratorEndpoint;
import net.hybridproxy.engine.multipath.connection.Session;
import net.hybridproxy.engine.multipath.connection.SessionEvent;
import net.hybridproxy.engine.multipath.frame.Frame;
import net.hybridproxy.engine.multipath.frame.FrameType;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import net.hybridproxy.proxy.metrics.CpeTable;
import net.hybridproxy.proxy.metrics.UserspaceStats;
import net.hybridproxy.proxy.logging.RefusalLog;

import java.lang.System.Logger.Level;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * The concentrator's side of the userspace engine: plain TCP listeners whose connections are subflows. The first
 * frame of each accepted connection goes to the {@link ConcentratorEndpoint}: a CAPABLE_SYN creates a session
 * owned by the event loop that accepted it; a JOIN_SYN names an existing session by its token, and the connection
 * is first moved to that session's loop (deregistered, then registered there), so every session still runs on
 * exactly one thread. Each stream the cpe opens becomes a {@link StreamChannel} on that loop, with the handler the
 * role supplies (the RFC 8803 Convert handling, then the relay).
 *
 * <p>The endpoint's token table is shared by all loops, behind one lock held only while a first frame is routed
 * and when a session is released.
 */
public final class UserspaceConcentrator implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("hybridproxy.userspace");
    /** JOIN_SYN: header (4), magic (4), version (1), priority (1), address id (1), then the 4-byte token. */
    private static final int JOIN_TOKEN_OFFSET = 11;

    private final UserspaceSettings settings;
    private final RefusalLog refusals;
    private final ConcentratorEndpoint endpoint;
    private final Predicate<InetAddress> sourceAllowed;
    private final Function<Session, ChannelHandler> streamHandler;
    private final WriteBufferWaterMark streamWaterMark;
    /** Which loop owns the session with a given token; guarded by the endpoint's lock for writes. */
    private final Map<Integer, EventLoop> tokenLoops = new ConcurrentHashMap<>();
    private final Map<Session, SessionDriver> drivers = new ConcurrentHashMap<>();
    private final List<Channel> listeners = new ArrayList<>();
    private int sessionsStarted;
    private final UserspaceStats stats;
    private final UserspaceSampler sampler;
    /** The endpoint's counters as last added to {@link #stats}; touched by the sampler thread only. */
    private final long[] endpointCounted = new long[MibCounter.values().length];

    /**
     * @param keys            the cpe keys that may authenticate a session
     * @param sourceAllowed   whether a subflow from this source address may connect at all
     * @param streamHandler   the handler for a new stream of the given session (runs on the session's loop)
     * @param streamWaterMark write buffer water marks of stream channels (the relay's)
     * @param stats           where the sessions' figures go (metrics and status)
     */
    public UserspaceConcentrator(UserspaceSettings settings, Collection<CpeKey> keys,
                                 Predicate<InetAddress> sourceAllowed, Function<Session, ChannelHandler> streamHandler,
                                 WriteBufferWaterMark streamWaterMark, UserspaceStats stats) {
        this(settings, keys, sourceAllowed, streamHandler, streamWaterMark, stats, null, Duration.ofSeconds(10));
    }

    /** @param cpes the per-cpe table, told each sampling pass's sessions and subflows per key; null for none */
    public UserspaceConcentrator(UserspaceSettings settings, Collection<CpeKey> keys,
                                 Predicate<InetAddress> sourceAllowed, Function<Session, ChannelHandler> streamHandler,
                                 WriteBufferWaterMark streamWaterMark, UserspaceStats stats, CpeTable cpes) {
        this(settings, keys, sourceAllowed, streamHandler, streamWaterMark, stats, cpes, Duration.ofSeconds(10));
    }

    /**
     * @param cpes               the per-cpe table, told each sampling pass's sessions and subflows per key; null for
     *                           none
     * @param refusalLogInterval refused subflows are logged once per this interval per (reason, source), with the
     *                           count of the others ({@code concentrator.refusal-log-interval}): a flood of
     *                           CAPABLE_SYNs or JOIN_SYNs must not flood the log
     */
    public UserspaceConcentrator(UserspaceSettings settings, Collection<CpeKey> keys,
                                 Predicate<InetAddress> sourceAllowed, Function<Session, ChannelHandler> streamHandler,
                                 WriteBufferWaterMark streamWaterMark, UserspaceStats stats, CpeTable cpes,
                                 Duration refusalLogInterval) {
        this.refusals = new RefusalLog(LOG, refusalLogInterval, System::nanoTime);
        this.stats = stats;
        this.sampler = new UserspaceSampler(stats, () -> List.copyOf(drivers.values()), this::countEndpoint, cpes)
                .start();
        this.settings = settings;
        this.endpoint = new ConcentratorEndpoint(settings.session(), keys, settings.endpointLimits(),
                settings.concentratorMemory(), new SecureRandom());
        this.sourceAllowed = sourceAllowed;
        this.streamHandler = streamHandler;
        this.streamWaterMark = streamWaterMark;
    }

    /** Binds a userspace listener; accepted subflows are spread over {@code workers} and moved to their session. */
    public Channel listen(InetSocketAddress address, EventLoopGroup acceptor, EventLoopGroup workers,
                          ChannelFactory<? extends ServerSocketChannel> factory) throws InterruptedException {
        Channel channel = new ServerBootstrap()
                .group(acceptor, workers)
                .channelFactory(factory)
                .option(ChannelOption.SO_REUSEADDR, true)
                .option(ChannelOption.SO_BACKLOG, 4096)
                .childOption(ChannelOption.AUTO_READ, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.SO_KEEPALIVE, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, settings.subflowWaterMark())
                .childOption(ChannelOption.RCVBUF_ALLOCATOR, ReusedReadBuffers.INSTANCE)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new HandshakeHandler());
                    }
                })
                .bind(address).sync().channel();
        synchronized (listeners) {
            listeners.add(channel);
        }
        return channel;
    }

    /**
     * Announces these addresses to every session created from now on, ahead of its first frames, so the cpe's
     * joins go there (a replica's own address behind a balanced public one; docs/operations.md).
     */
    public void announceToNewSessions(List<InetSocketAddress> addresses) {
        synchronized (endpoint) {
            endpoint.announceToNewSessions(addresses);
        }
    }

    /** Sessions known to the endpoint (all authenticated). */
    public int sessionCount() {
        synchronized (endpoint) {
            return endpoint.sessionCount();
        }
    }

    /** Adds the growth of the endpoint's counters (refusals before any session) to the process-wide ones. */
    private void countEndpoint() {
        long[] now = new long[endpointCounted.length];
        synchronized (endpoint) {
            for (MibCounter counter : MibCounter.values()) {
                now[counter.ordinal()] = endpoint.mib().get(counter);
            }
        }
        for (MibCounter counter : MibCounter.values()) {
            int i = counter.ordinal();
            if (now[i] != endpointCounted[i]) {
                stats.addMib(counter, now[i] - endpointCounted[i]);
                endpointCounted[i] = now[i];
            }
        }
    }

    @Override
    public void close() {
        sampler.close();
        synchronized (listeners) {
            listeners.forEach(Channel::close);
            listeners.clear();
        }
        for (SessionDriver driver : List.copyOf(drivers.values())) {
            if (!driver.loop().isShuttingDown()) {
                driver.loop().execute(() -> driver.close(ResetReason.UNSPECIFIED));
            }
        }
    }

    /**
     * Runs one accepted connection's handshake with the endpoint (bounded: one frame of at most
     * {@link Frame#MAX_FRAME_LENGTH} bytes at a time, within the handshake timeout and the pending-handshake quotas),
     * writes its answers, and hands the connection to its session's driver once routed. A join is first moved to
     * the loop of the session its token names, so the endpoint touches that session only on its own thread.
     */
    private final class HandshakeHandler extends ChannelInboundHandlerAdapter {
        private ByteBuf held;
        private ScheduledFuture<?> deadline;
        private ConcentratorEndpoint.Incoming incoming;
        private boolean firstFrameSeen;
        private boolean moving;

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            InetAddress source = ((InetSocketAddress) ctx.channel().remoteAddress()).getAddress();
            if (!sourceAllowed.test(source)) {
                refusals.refused("not in authorized-cidrs", source, () -> "refused subflow from "
                        + source.getHostAddress() + ": not in authorized-cidrs");
                ctx.close();
                return;
            }
            long now = SessionDriver.now();
            synchronized (endpoint) {
                incoming = endpoint.incoming(source.getHostAddress(), now);
            }
            scheduleDeadline(ctx, now);
            ctx.fireChannelActive();
        }

        private void scheduleDeadline(ChannelHandlerContext ctx, long now) {
            deadline = ctx.executor().schedule(() -> {
                ConcentratorEndpoint.Accept accept;
                synchronized (endpoint) {
                    accept = incoming.handleTimeout(SessionDriver.now());
                }
                if (accept instanceof ConcentratorEndpoint.ConnectionRefused refused) {
                    refuse(ctx, refused);
                }
            }, Math.max(0, incoming.deadline() - now), TimeUnit.NANOSECONDS);
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof ByteBuf buf)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            if (held == null) {
                held = buf;
            } else {
                ByteBuf joined = ctx.alloc().buffer(held.readableBytes() + buf.readableBytes());
                joined.writeBytes(held).writeBytes(buf);
                held.release();
                buf.release();
                held = joined;
            }
            if (moving || incoming == null || incoming.isDone()) {
                return; // a moving connection is handled on arrival, with whatever it holds by then
            }
            if (!firstFrameSeen) {
                if (!frameComplete(held)) {
                    return;
                }
                firstFrameSeen = true;
                EventLoop owner = held.getUnsignedByte(held.readerIndex()) == FrameType.JOIN_SYN
                        ? tokenLoops.get(held.getInt(held.readerIndex() + JOIN_TOKEN_OFFSET)) : null;
                if (owner != null && owner != ctx.channel().eventLoop()) {
                    move(ctx, owner);
                    return;
                }
            }
            handshake(ctx);
        }

        /** The header alone says how long the frame is; a malformed one is left for the endpoint to refuse. */
        private static boolean frameComplete(ByteBuf bytes) {
            if (bytes.readableBytes() < Frame.HEADER_LENGTH) {
                return false;
            }
            int body = bytes.getUnsignedShort(bytes.readerIndex() + 2);
            return body > Frame.MAX_FRAME_LENGTH - Frame.HEADER_LENGTH
                    || bytes.readableBytes() >= Frame.HEADER_LENGTH + body;
        }

        /**
         * Moves the connection to the loop of the session it joins. Reading stops first; the bytes already read
         * travel with it.
         */
        private void move(ChannelHandlerContext ctx, EventLoop owner) {
            moving = true;
            Channel channel = ctx.channel();
            channel.config().setAutoRead(false);
            channel.deregister().addListener(d -> {
                if (!d.isSuccess()) {
                    fail(ctx, "could not leave its loop: " + d.cause());
                    return;
                }
                owner.register(channel).addListener(r -> {
                    if (!r.isSuccess()) {
                        fail(ctx, "could not move to its session's loop: " + r.cause());
                        return;
                    }
                    moving = false;
                    channel.config().setAutoRead(true);
                    handshake(ctx);
                });
            });
        }

        private void fail(ChannelHandlerContext ctx, String why) {
            LOG.log(Level.WARNING, () -> "subflow from " + ctx.channel().remoteAddress() + " " + why);
            release();
            ctx.channel().close();
        }

        /** Feeds the endpoint every complete frame held, writing its answers, until it routes or refuses. */
        private void handshake(ChannelHandlerContext ctx) {
            Channel channel = ctx.channel();
            while (held != null && held.isReadable()) {
                ByteBuffer bytes = held.nioBuffer();
                ConcentratorEndpoint.Accept accept;
                synchronized (endpoint) {
                    accept = incoming.handleBytes(bytes, SessionDriver.now());
                    if (accept instanceof ConcentratorEndpoint.Routed routed && routed.newSession()) {
                        tokenLoops.put(routed.session().localToken(), channel.eventLoop());
                    }
                }
                held.skipBytes(held.readableBytes() - bytes.remaining());
                switch (accept) {
                    case ConcentratorEndpoint.HandshakeIncomplete more -> {
                        return;
                    }
                    case ConcentratorEndpoint.Answer answer ->
                            channel.writeAndFlush(Unpooled.wrappedBuffer(answer.reply()));
                    case ConcentratorEndpoint.ConnectionRefused refused -> {
                        refuse(ctx, refused);
                        return;
                    }
                    case ConcentratorEndpoint.Routed routed -> {
                        routeTo(ctx, routed);
                        return;
                    }
                }
            }
        }

        private void refuse(ChannelHandlerContext ctx, ConcentratorEndpoint.ConnectionRefused refused) {
            Channel channel = ctx.channel();
            InetAddress source = ((InetSocketAddress) channel.remoteAddress()).getAddress();
            refusals.refused(refused.reason(), source, () -> "refused subflow from " + channel.remoteAddress() + ": "
                    + refused.reason());
            release();
            channel.writeAndFlush(Unpooled.wrappedBuffer(refused.reply())).addListener(ChannelFutureListener.CLOSE);
        }

        private void routeTo(ChannelHandlerContext ctx, ConcentratorEndpoint.Routed routed) {
            Channel channel = ctx.channel();
            SessionDriver driver = routed.newSession() ? newDriver(routed.session(), channel.eventLoop())
                    : drivers.get(routed.session());
            ByteBuf rest = held;
            held = null;
            cancelDeadline();
            ctx.pipeline().remove(this);
            if (driver == null) {
                rest.release();
                channel.close();
                return;
            }
            driver.subflowAccepted(routed.subflowId(), channel, rest);
            channel.config().setAutoRead(true);
        }

        private void cancelDeadline() {
            if (deadline != null) {
                deadline.cancel(false);
                deadline = null;
            }
        }

        private void release() {
            cancelDeadline();
            if (held != null) {
                held.release();
                held = null;
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            release();
            if (incoming != null) {
                synchronized (endpoint) {
                    incoming.close();
                }
            }
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            LOG.log(Level.DEBUG, () -> "subflow from " + ctx.channel().remoteAddress() + " failed in its "
                    + "handshake: " + cause);
            ctx.close();
        }
    }

    private SessionDriver newDriver(Session session, EventLoop loop) {
        String name;
        synchronized (this) {
            name = "concentrator session " + sessionsStarted++ + " [" + session.keyId() + "]";
        }
        SessionDriver driver =
                new SessionDriver(loop, session, new ConcentratorSessionOwner(), name, settings, 0, stats);
        drivers.put(session, driver);
        return driver;
    }

    private final class ConcentratorSessionOwner implements SessionDriver.SessionOwner {
        @Override
        public void subflowRequested(SessionDriver driver, SessionEvent.SubflowRequested request) {
            // Only the cpe opens subflows.
        }

        @Override
        public void streamOpened(SessionDriver driver, long streamId) {
            StreamChannel stream = driver.acceptStream(streamId);
            stream.config().setAutoRead(false);
            stream.config().setAllowHalfClosure(true);
            stream.config().setWriteBufferWaterMark(streamWaterMark);
            stream.pipeline().addLast(streamHandler.apply(driver.session()));
            driver.loop().register(stream);
        }

        @Override
        public void sessionClosed(SessionDriver driver, String reason) {
            Session session = driver.session();
            synchronized (endpoint) {
                endpoint.release(session);
                tokenLoops.remove(session.localToken(), driver.loop());
            }
            drivers.remove(session, driver);
        }
    }
}
