package net.hybridproxy.proxy.userspace;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import io.netty.util.concurrent.ScheduledFuture;
import net.hybridproxy.engine.multipath.connection.Session;
import net.hybridproxy.engine.multipath.connection.SessionEvent;
import net.hybridproxy.engine.multipath.connection.Transmit;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.subflow.SubflowEstimates;
import net.hybridproxy.proxy.transport.TcpInfo;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Drives one {@link Session} on one event loop, exactly as the session's contract asks
 * (docs/userspace-protocol.md §12): bytes read from a subflow go in, then {@code pollTransmit} until null with
 * each result written to its subflow, then {@code pollEvent} until null, then one timer for {@code pollTimeout()}.
 * The subflow channels and the {@link StreamChannel}s of the session all live on this loop, so nothing here is
 * synchronised and nothing crosses threads.
 *
 * <p>Subflows are read continuously (AUTO_READ on): the session's memory is bounded by the receive windows it
 * grants, and DATA_ACKs and probes must be read even while every stream is blocked, or one slow reader would stall
 * the whole session and make healthy subflows look dead. Backpressure towards the peer is the per-stream window,
 * which moves only when a {@link StreamChannel} is read; towards the local writers it is the session's send
 * buffer, which {@link StreamChannel} respects by keeping what it does not take.
 */
final class SessionDriver {
    private static final System.Logger LOG = System.getLogger("hybridproxy.userspace");
    /** Frames this short are copied out of the transmit buffer, which is then reused for the next one. */
    private static final int COPY_BELOW = 2048;
    /** TCP_INFO is a system call; per subflow it is read at most this often, the channel's room every time. */
    private static final long TCP_INFO_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(5);

    /** What the role does with the session's requests; called on the driver's loop. */
    interface Owner {
        /** cpe: open a TCP connection for this subflow, then call {@link #subflowConnected} or {@link #subflowFailed}. */
        void subflowRequested(SessionDriver driver, SessionEvent.SubflowRequested request);

        /** concentrator: the cpe opened a stream; make its channel with {@link #acceptStream}. */
        void streamOpened(SessionDriver driver, long streamId);

        /** The session ended; every stream and subflow has been closed. */
        void sessionClosed(SessionDriver driver, String reason);
    }

    private static final class SubflowLink {
        final Channel channel;
        TcpInfo info;
        long infoAt = Long.MIN_VALUE;

        SubflowLink(Channel channel) {
            this.channel = channel;
        }
    }

    private record PendingOpen(StreamChannel channel, Promise<Long> promise, ScheduledFuture<?> timeout) {
    }

    private final EventLoop loop;
    private final Session session;
    private final Owner owner;
    private final String name;
    private final Duration openTimeout;
    private final int notSentLowWatermark;
    private final int maxPendingOpens;
    private final Map<Long, SubflowLink> subflows = new HashMap<>();
    private final Map<Long, StreamChannel> streams = new HashMap<>();
    private final ArrayDeque<PendingOpen> pendingOpens = new ArrayDeque<>();
    private final Set<Long> touched = new LinkedHashSet<>();
    private ByteBuf spare;
    private ScheduledFuture<?> timer;
    private long timerAt = Long.MAX_VALUE;
    private boolean pumping;
    private boolean pumpAgain;
    private boolean closed;
    private InetSocketAddress localAddress;
    private InetSocketAddress remoteAddress;

    /**
     * @param maxPendingOpens cpe: how many new streams may wait for the session to be established
     */
    SessionDriver(EventLoop loop, Session session, Owner owner, String name, UserspaceSettings settings,
                  int maxPendingOpens) {
        this.loop = loop;
        this.session = session;
        this.owner = owner;
        this.name = name;
        this.openTimeout = settings.openTimeout();
        this.notSentLowWatermark = settings.notSentLowWatermark();
        this.maxPendingOpens = maxPendingOpens;
    }

    EventLoop loop() {
        return loop;
    }

    Session session() {
        return session;
    }

    boolean isClosed() {
        return closed;
    }

    /** The local address of the first subflow (what a stream channel reports as its own). */
    InetSocketAddress localAddress() {
        return localAddress;
    }

    /** The peer address of the first subflow (what a stream channel reports as its peer). */
    InetSocketAddress remoteAddress() {
        return remoteAddress;
    }

    static long now() {
        return System.nanoTime();
    }

    // ------------------------------------------------------------------ subflows

    /** cpe: the TCP connection for {@code subflowId} is up. */
    void subflowConnected(long subflowId, Channel channel) {
        attach(subflowId, channel);
        session.subflowConnected(subflowId, now());
        updateEstimates(subflowId);
        pump();
    }

    /** cpe: the TCP connection for {@code subflowId} could not be made. */
    void subflowFailed(long subflowId) {
        session.subflowClosed(subflowId, now());
        pump();
    }

    /** concentrator: an accepted connection was routed to this session as {@code subflowId}. */
    void subflowAccepted(long subflowId, Channel channel, ByteBuf rest) {
        attach(subflowId, channel);
        updateEstimates(subflowId);
        if (rest.isReadable()) {
            subflowBytes(subflowId, channel, rest);
        } else {
            rest.release();
            pump();
        }
    }

    private void attach(long subflowId, Channel channel) {
        if (localAddress == null) {
            localAddress = (InetSocketAddress) channel.localAddress();
            remoteAddress = (InetSocketAddress) channel.remoteAddress();
        }
        // Both ends send data: both keep their sockets' unsent queues short (see UserspaceSettings).
        TcpInfo.trySetNotSentLowWatermark(channel, notSentLowWatermark);
        subflows.put(subflowId, new SubflowLink(channel));
        channel.pipeline().addLast("userspace-subflow", new SubflowHandler(this, subflowId));
        channel.closeFuture().addListener(f -> subflowInactive(subflowId, channel));
    }

    /** Bytes read from a subflow; releases {@code bytes}. */
    void subflowBytes(long subflowId, Channel channel, ByteBuf bytes) {
        try {
            SubflowLink link = subflows.get(subflowId);
            if (link == null || link.channel != channel) {
                return;
            }
            long now = now();
            for (ByteBuffer nio : bytes.nioBuffers(bytes.readerIndex(), bytes.readableBytes())) {
                session.handleSubflowBytes(subflowId, nio, now);
            }
        } finally {
            bytes.release();
        }
        pump();
    }

    /** The subflow's TCP connection closed (either end, or an error). */
    void subflowInactive(long subflowId, Channel channel) {
        SubflowLink link = subflows.get(subflowId);
        if (link == null || link.channel != channel) {
            return;
        }
        subflows.remove(subflowId);
        LOG.log(Level.INFO, () -> name + ": subflow " + subflowId + " closed by the peer or the network");
        session.subflowClosed(subflowId, now());
        pump();
    }

    /** The subflow's outbound buffer crossed a water mark: its room changed. */
    void subflowWritabilityChanged(long subflowId) {
        updateEstimates(subflowId);
        pump();
    }

    private void updateEstimates(long subflowId) {
        SubflowLink link = subflows.get(subflowId);
        if (link == null) {
            return;
        }
        Channel ch = link.channel;
        long now = now();
        if (now - link.infoAt >= TCP_INFO_INTERVAL_NANOS) {
            link.info = TcpInfo.read(ch).orElse(null);
            link.infoAt = now;
        }
        long room = ch.isActive() ? ch.bytesBeforeUnwritable() : 0;
        TcpInfo info = link.info;
        session.updateSubflow(subflowId, info == null ? SubflowEstimates.unknown(room)
                : new SubflowEstimates(info.rttMicros() * 1000, info.congestionWindow(), info.unackedBytes(),
                        info.notSentBytes(), room));
    }

    // ------------------------------------------------------------------ streams

    /** cpe: opens a stream for {@code channel}, at once if the session is established, else when it is. */
    Future<Long> openStream(StreamChannel channel, SocketAddress remote) {
        Promise<Long> promise = loop.newPromise();
        if (closed) {
            return promise.setFailure(new ConnectException("the userspace multipath session " + name + " is closed"));
        }
        if (session.isEstablished()) {
            open(channel, promise);
        } else if (pendingOpens.size() >= maxPendingOpens) {
            promise.setFailure(new ConnectException("the userspace multipath session " + name
                    + " is not established and " + maxPendingOpens + " connections already wait for it"));
        } else {
            ScheduledFuture<?> timeout = loop.schedule(() -> {
                pendingOpens.removeIf(p -> p.promise == promise);
                promise.tryFailure(new ConnectException("the userspace multipath session " + name
                        + " was not established within " + openTimeout.toMillis() + " ms"));
            }, openTimeout.toNanos(), TimeUnit.NANOSECONDS);
            pendingOpens.add(new PendingOpen(channel, promise, timeout));
        }
        return promise;
    }

    private void open(StreamChannel channel, Promise<Long> promise) {
        if (!channel.isOpen()) {
            promise.tryFailure(new ConnectException("closed before its stream was opened"));
            return;
        }
        long id;
        try {
            id = session.openStream(now());
        } catch (IllegalStateException e) {
            promise.tryFailure(new ConnectException(e.getMessage()));
            return;
        }
        streams.put(id, channel);
        promise.trySuccess(id);
    }

    /** concentrator: the channel for a stream the cpe opened; the caller registers it on {@link #loop()}. */
    StreamChannel acceptStream(long streamId) {
        StreamChannel channel = new StreamChannel(this, streamId, localAddress, remoteAddress);
        streams.put(streamId, channel);
        return channel;
    }

    /** Bytes the session's send buffer takes from {@code buf} (not consumed; the caller advances). */
    int write(long streamId, ByteBuf buf) throws IOException {
        if (!session.hasStream(streamId)) {
            throw new IOException("stream " + streamId + " is gone");
        }
        int total = 0;
        long now = now();
        for (ByteBuffer nio : buf.nioBuffers(buf.readerIndex(), buf.readableBytes())) {
            total += session.write(streamId, nio, now);
            if (nio.hasRemaining()) {
                break;
            }
        }
        return total;
    }

    /** Reads stream bytes into {@code dst}'s writable space: bytes read, 0 if none are ready, -1 at the end. */
    int read(long streamId, ByteBuf dst) {
        ByteBuffer nio = dst.nioBuffer(dst.writerIndex(), dst.writableBytes());
        int n = session.read(streamId, nio, now());
        if (n > 0) {
            dst.writerIndex(dst.writerIndex() + n);
        }
        return n;
    }

    void finish(long streamId) {
        session.finish(streamId, now());
        pump();
    }

    /** A stream channel closed: the stream goes on to its end by itself if both directions finished, else reset. */
    void streamChannelClosed(StreamChannel channel, boolean bothFinished) {
        streams.remove(channel.streamId(), channel);
        if (!bothFinished) {
            session.reset(channel.streamId(), ResetReason.UNSPECIFIED, now());
        }
        pump();
    }

    /** Closes the TCP connections of every subflow over {@code uplink}; returns how many. */
    int closeSubflows(String uplink) {
        int closed = 0;
        for (Session.SubflowInfo info : session.subflows()) {
            SubflowLink link = info.uplink().equals(uplink) ? subflows.get(info.id()) : null;
            if (link != null) {
                link.channel.close();
                closed++;
            }
        }
        return closed;
    }

    /** Closes the whole session (FAST_CLOSE), e.g. at shutdown. */
    void close(ResetReason reason) {
        session.close(reason, now());
        pump();
    }

    // ------------------------------------------------------------------ the contract

    /** Runs the session's output, events and timer until nothing more happens now. Re-entrant calls fold in. */
    void pump() {
        if (pumping) {
            pumpAgain = true;
            return;
        }
        pumping = true;
        try {
            do {
                pumpAgain = false;
                transmit();
                drainEvents();
                flushTouched();
            } while (pumpAgain);
        } finally {
            pumping = false;
        }
        if (closed) {
            release(); // after the loop above wrote the session's last frames (FAST_CLOSE, SUBFLOW_RESET)
        } else {
            armTimer();
        }
    }

    private void transmit() {
        ByteBufAllocator alloc = ByteBufAllocator.DEFAULT;
        long now = now();
        while (true) {
            ByteBuf buf = spare != null ? spare : alloc.directBuffer(Session.MIN_TRANSMIT_BUFFER);
            spare = null;
            buf.clear();
            Transmit t = session.pollTransmit(now, buf.nioBuffer(0, buf.capacity()));
            if (t == null) {
                spare = buf;
                return;
            }
            buf.writerIndex(t.bytes());
            SubflowLink link = subflows.get(t.subflowId());
            if (link == null) {
                spare = buf; // the subflow is gone; the session reinjects what mattered
                continue;
            }
            ByteBuf frame = buf;
            if (t.bytes() < COPY_BELOW) {
                frame = alloc.directBuffer(t.bytes()).writeBytes(buf);
                spare = buf;
            }
            link.channel.write(frame, link.channel.voidPromise());
            touched.add(t.subflowId());
        }
    }

    private void flushTouched() {
        if (touched.isEmpty()) {
            return;
        }
        List<Long> ids = List.copyOf(touched);
        touched.clear();
        for (long id : ids) {
            SubflowLink link = subflows.get(id);
            if (link != null) {
                link.channel.flush();
                updateEstimates(id);
            }
        }
    }

    private void drainEvents() {
        SessionEvent event;
        while ((event = session.pollEvent()) != null) {
            switch (event) {
                case SessionEvent.Established e -> {
                    LOG.log(Level.INFO, () -> name + ": session established (token "
                            + Integer.toHexString(session.localToken()) + ")");
                    while (!pendingOpens.isEmpty()) {
                        PendingOpen p = pendingOpens.poll();
                        p.timeout.cancel(false);
                        open(p.channel, p.promise);
                    }
                }
                case SessionEvent.SubflowRequested r -> owner.subflowRequested(this, r);
                case SessionEvent.SubflowAttached a ->
                        LOG.log(Level.INFO, () -> name + ": subflow " + a.subflowId() + " over " + a.uplink()
                                + " attached");
                case SessionEvent.SubflowStalled s ->
                        LOG.log(Level.WARNING, () -> name + ": subflow " + s.subflowId() + " over " + s.uplink()
                                + " stalled; its data goes over the others");
                case SessionEvent.SubflowRecovered r ->
                        LOG.log(Level.INFO, () -> name + ": subflow " + r.subflowId() + " over " + r.uplink()
                                + " recovered");
                case SessionEvent.SubflowClose c -> closeSubflow(c);
                case SessionEvent.StreamOpened o -> owner.streamOpened(this, o.streamId());
                case SessionEvent.StreamReadable r -> {
                    StreamChannel ch = streams.get(r.streamId());
                    if (ch != null) {
                        ch.onReadable();
                    }
                }
                case SessionEvent.StreamWritable w -> {
                    StreamChannel ch = streams.get(w.streamId());
                    if (ch != null) {
                        ch.onWritable();
                    }
                }
                case SessionEvent.StreamClosed c -> {
                    StreamChannel ch = streams.remove(c.streamId());
                    if (ch != null) {
                        ch.onStreamClosed();
                    }
                }
                case SessionEvent.StreamReset r -> {
                    StreamChannel ch = streams.remove(r.streamId());
                    if (ch != null) {
                        ch.onReset((r.byPeer() ? "by the peer, " : "") + r.reason());
                    }
                }
                case SessionEvent.AddressAnnounced a ->
                        LOG.log(Level.INFO, () -> name + ": concentrator announced address " + a.addressId() + " "
                                + a.address().getHostAddress() + " (not used yet: subflows go to the configured address)");
                case SessionEvent.AddressWithdrawn w ->
                        LOG.log(Level.INFO, () -> name + ": concentrator withdrew address " + w.addressId());
                case SessionEvent.SessionClosed c -> sessionClosed(c.reason());
            }
        }
    }

    private void closeSubflow(SessionEvent.SubflowClose close) {
        SubflowLink link = subflows.remove(close.subflowId());
        LOG.log(Level.INFO, () -> name + ": closing subflow " + close.subflowId() + " (" + close.reason() + "): " + close.why());
        if (link != null) {
            // Whatever pollTransmit gave it (a SUBFLOW_RESET, say) goes out first.
            link.channel.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
    }

    private void sessionClosed(String reason) {
        closed = true;
        LOG.log(Level.INFO, () -> name + ": session closed: " + reason);
        while (!pendingOpens.isEmpty()) {
            PendingOpen p = pendingOpens.poll();
            p.timeout.cancel(false);
            p.promise.tryFailure(new ConnectException("the userspace multipath session closed: " + reason));
        }
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
        owner.sessionClosed(this, reason);
    }

    /** Lets the subflows' last bytes go out, then closes them and frees the transmit buffer. */
    private void release() {
        if (spare != null) {
            spare.release();
            spare = null;
        }
        for (SubflowLink link : List.copyOf(subflows.values())) {
            link.channel.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
        subflows.clear();
    }

    private void armTimer() {
        if (closed) {
            return;
        }
        long next = session.pollTimeout();
        if (next == Long.MAX_VALUE || (timer != null && next >= timerAt)) {
            return; // an earlier timer is armed; when it fires, the next one is armed from there
        }
        if (timer != null) {
            timer.cancel(false);
        }
        timerAt = next;
        timer = loop.schedule(this::onTimer, Math.max(0, next - now()), TimeUnit.NANOSECONDS);
    }

    private void onTimer() {
        timer = null;
        timerAt = Long.MAX_VALUE;
        if (closed) {
            return;
        }
        session.handleTimeout(now());
        pump();
    }

    @Override
    public String toString() {
        return name;
    }
}
