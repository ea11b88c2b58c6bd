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
import net.hybridproxy.proxy.metrics.UserspaceStats;

import java.lang.System.Logger.Level;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
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
        this.stats = stats;
        this.sampler = new UserspaceSampler(stats, () -> List.copyOf(drivers.values()), this::countEndpoint).start();
        this.settings = settings;
        this.endpoint = new ConcentratorEndpoint(settings.session(), keys, settings.maxSessions(), new SecureRandom());
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
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new FirstFrameHandler());
                    }
                })
                .bind(address).sync().channel();
        synchronized (listeners) {
            listeners.add(channel);
        }
        return channel;
    }

    /** Sessions known to the endpoint (established or in handshake). */
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

    /** One sampling pass now (tests; the sampler thread runs them periodically). */
    public void sampleNow() {
        sampler.sampleAll();
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
     * Reads one accepted connection's first frame (bounded: one frame of at most {@link Frame#MAX_FRAME_LENGTH}
     * bytes, within the handshake timeout), routes it, and hands the connection to its session's driver.
     */
    private final class FirstFrameHandler extends ChannelInboundHandlerAdapter {
        private ByteBuf held;
        private ScheduledFuture<?> deadline;
        private boolean moving;

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            InetAddress source = ((InetSocketAddress) ctx.channel().remoteAddress()).getAddress();
            if (!sourceAllowed.test(source)) {
                LOG.log(Level.INFO, () -> "refused subflow from " + source.getHostAddress()
                        + ": not in authorized-cidrs");
                ctx.close();
                return;
            }
            deadline = ctx.executor().schedule(() -> {
                LOG.log(Level.INFO, () -> "closed " + ctx.channel().remoteAddress() + ": no first frame within "
                        + settings.session().handshakeTimeout().toMillis() + " ms");
                ctx.close();
            }, settings.session().handshakeTimeout().toNanos(), TimeUnit.NANOSECONDS);
            ctx.fireChannelActive();
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
            if (moving || !firstFrameComplete(held)) {
                return; // a moving connection is routed on arrival, with whatever it holds by then
            }
            Channel channel = ctx.channel();
            EventLoop owner = held.getUnsignedByte(held.readerIndex()) == FrameType.JOIN_SYN
                    ? tokenLoops.get(held.getInt(held.readerIndex() + JOIN_TOKEN_OFFSET)) : null;
            if (owner == null || owner == channel.eventLoop()) {
                route(ctx);
            } else {
                move(ctx, owner);
            }
        }

        /** The header alone says how long the frame is; a malformed one is left for the endpoint to refuse. */
        private static boolean firstFrameComplete(ByteBuf bytes) {
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
                    route(ctx);
                });
            });
        }

        private void fail(ChannelHandlerContext ctx, String why) {
            LOG.log(Level.WARNING, () -> "subflow from " + ctx.channel().remoteAddress() + " " + why);
            release();
            ctx.channel().close();
        }

        private void route(ChannelHandlerContext ctx) {
            Channel channel = ctx.channel();
            EventLoop loop = channel.eventLoop();
            ByteBuffer first = held.nioBuffer();
            ConcentratorEndpoint.Accept accept;
            synchronized (endpoint) {
                // A join is routed only on the loop that owns its session: the endpoint then touches that session.
                if (first.remaining() > JOIN_TOKEN_OFFSET + 4 && first.get(0) == FrameType.JOIN_SYN) {
                    EventLoop owner = tokenLoops.get(first.getInt(JOIN_TOKEN_OFFSET));
                    if (owner != null && owner != loop) {
                        move(ctx, owner);
                        return;
                    }
                }
                accept = endpoint.incoming().handleBytes(first, SessionDriver.now());
                if (accept instanceof ConcentratorEndpoint.Routed routed && routed.newSession()) {
                    tokenLoops.put(routed.session().localToken(), loop);
                }
            }
            held.skipBytes(held.readableBytes() - first.remaining());
            switch (accept) {
                case ConcentratorEndpoint.NeedMoreBytes more -> fail(ctx, "sent a first frame the endpoint could not "
                        + "complete");
                case ConcentratorEndpoint.Refused refused -> {
                    LOG.log(Level.INFO, () -> "refused subflow from " + channel.remoteAddress() + ": "
                            + refused.reason());
                    release();
                    channel.writeAndFlush(Unpooled.wrappedBuffer(refused.reply()))
                            .addListener(ChannelFutureListener.CLOSE);
                }
                case ConcentratorEndpoint.Routed routed -> {
                    SessionDriver driver = routed.newSession() ? newDriver(routed.session(), loop)
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
            }
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
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            LOG.log(Level.DEBUG, () -> "subflow from " + ctx.channel().remoteAddress() + " failed before its "
                    + "first frame: " + cause);
            ctx.close();
        }
    }

    private SessionDriver newDriver(Session session, EventLoop loop) {
        String name;
        synchronized (this) {
            name = "concentrator session " + sessionsStarted++ + " [" + session.keyId() + "]";
        }
        SessionDriver driver = new SessionDriver(loop, session, new Owner(), name, settings, 0, stats);
        drivers.put(session, driver);
        return driver;
    }

    private final class Owner implements SessionDriver.Owner {
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
