package net.hybridproxy.proxy.userspace;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.EventLoop;
import io.netty.channel.unix.IntegerUnixChannelOption;
import io.netty.channel.unix.UnixChannel;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import io.netty.util.concurrent.ScheduledFuture;
import net.hybridproxy.engine.multipath.connection.Session;
import net.hybridproxy.engine.multipath.connection.SessionEvent;
import net.hybridproxy.engine.multipath.connection.Transmit;
import net.hybridproxy.admin.ApplianceStatus;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import net.hybridproxy.engine.multipath.mib.UplinkJudgements;
import net.hybridproxy.engine.multipath.mib.UplinkSends;
import net.hybridproxy.engine.multipath.subflow.SubflowEstimates;
import net.hybridproxy.proxy.metrics.UplinkStats;
import net.hybridproxy.proxy.metrics.UserspaceStats;
import net.hybridproxy.proxy.nativeio.NativeException;
import net.hybridproxy.proxy.transport.NativeSocketOptions;
import net.hybridproxy.proxy.transport.TcpInfo;

import java.io.IOException;
import java.lang.System.Logger.Level;
import io.netty.channel.ConnectTimeoutException;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
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
import java.util.concurrent.atomic.AtomicLong;

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
    /**
     * A subflow idle on its send side is still read this often: its receiving side's RTT estimate (tcpi_rcv_rtt)
     * changes with what arrives, and the engine may size its receive windows from it (SessionConfig
     * receivePeriodFromReceiverRtt, the only case it is read for); a tenth of the reads of a busy subflow.
     */
    private static final long IDLE_TCP_INFO_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    /**
     * SO_RCVLOWAT. socket(7): "select(2), poll(2), and epoll(7) indicate a socket as readable only if at least
     * SO_RCVLOWAT bytes are available" (Linux's TCP also wakes the reader at end of input and when its receive buffer
     * is under pressure; a non-blocking read still returns whatever is queued). Set on a subflow to what the frame it
     * is in the middle of still lacks: the sender writes a 16 KiB DATA frame in about a dozen TCP segments, and every
     * wake-up for a part of one cost a read, a session pass and its TCP_INFO reads while the session could do nothing
     * with it (docs/decisions.md, the sixth pass: 386 wake-ups per MB on the cpe at 52 Mbit/s).
     */
    private static final IntegerUnixChannelOption SO_RCVLOWAT = new IntegerUnixChannelOption("SO_RCVLOWAT", 1, 18);
    /**
     * A frame that lacks fewer bytes than this is waited for with the default low-water mark (one byte): its rest
     * is a segment or two away, and the option would cost a system call to save a wake-up that rarely comes.
     */
    private static final int MIN_RECEIVE_LOW_WATERMARK = 2048;
    /** How often a subflow's receive buffer size is read again while a frame is larger than its low-water cap. */
    private static final long LOW_WATERMARK_CAP_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    /** What the role does with the session's requests; called on the driver's loop. */
    interface SessionOwner {
        /** cpe: open a TCP connection for this subflow, then call {@link #subflowConnected} or {@link #subflowFailed}. */
        void subflowRequested(SessionDriver driver, SessionEvent.SubflowRequested request);

        /** concentrator: the cpe opened a stream; make its channel with {@link #acceptStream}. */
        void streamOpened(SessionDriver driver, long streamId);

        /** The session ended; every stream and subflow has been closed. */
        void sessionClosed(SessionDriver driver, String reason);
    }

    /** Numbers sessions for the status API's subflow table (groups rows without exposing a token). */
    private static final AtomicLong SEQUENCE = new AtomicLong();

    private static final class SubflowLink {
        final Channel channel;
        final String uplink;
        final UplinkStats.UplinkCounters stats;
        TcpInfo info;
        /** When TCP_INFO was last read; "never" is one interval ago (Long.MIN_VALUE would overflow the test). */
        long infoAt = now() - TCP_INFO_INTERVAL_NANOS;
        /** Bytes in the channel's outbound buffer when TCP_INFO was read: the socket had not seen them. */
        long pendingAtInfo;
        /** Bytes written to the channel since TCP_INFO was read: not in its figures either. */
        long writtenSinceInfo;
        long retransmittedCounted;
        boolean attached;
        boolean stalled;
        /** The socket's SO_RCVLOWAT as last set (1, the kernel's default, until then). */
        int receiveLowWatermark = 1;
        /** Native transports only: NIO has no such option (and no descriptor to set it on). */
        boolean lowWatermarkSettable;
        /** The highest SO_RCVLOWAT that cannot shrink the socket's window ({@link #lowWatermarkCap}). */
        int maxReceiveLowWatermark;
        /** When {@link #maxReceiveLowWatermark} was read from the socket. */
        long lowWatermarkCapAt = now();

        SubflowLink(Channel channel, String uplink, UplinkStats.UplinkCounters stats) {
            this.channel = channel;
            this.uplink = uplink;
            this.stats = stats;
            this.lowWatermarkSettable = channel instanceof UnixChannel;
            this.maxReceiveLowWatermark = lowWatermarkSettable ? lowWatermarkCap(channel) : 1;
        }
    }

    private record PendingOpen(StreamChannel channel, Promise<Long> promise, ScheduledFuture<?> timeout) {
    }

    private final EventLoop loop;
    private final Session session;
    private final SessionOwner owner;
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
    /** A {@link #pumpSoon()} task is queued on the loop and has not run yet. */
    private boolean pumpQueued;
    private final Runnable queuedPump = () -> {
        pumpQueued = false;
        pump();
    };
    private boolean closed;
    private boolean established;
    private InetSocketAddress localAddress;
    private InetSocketAddress remoteAddress;
    private final UserspaceStats stats;
    private final long sequence = SEQUENCE.incrementAndGet();
    /** The engine's counters as last added to {@link #stats}: their growth is added at each pass. */
    private final long[] mibCounted = new long[MibCounter.values().length];
    private final Map<String, long[]> sendsCounted = new HashMap<>();
    private final Map<String, long[]> judgementsCounted = new HashMap<>();
    private boolean capableAttached;
    /** How often a subflow idle on its send side is read anyway; never unless the engine uses tcpi_rcv_rtt. */
    private final long idleInfoIntervalNanos;
    /** {@code userspace.restart-congestion-control-after-collapse}. */
    private final boolean restartCongestionControlAfterCollapse;
    /** cpe: where the time this session last delivered stream bytes goes ({@link WarmSessionLoops}); or null. */
    private AtomicLong streamActivity;

    /**
     * @param maxPendingOpens cpe: how many new streams may wait for the session to be established
     */
    SessionDriver(EventLoop loop, Session session, SessionOwner owner, String name, UserspaceSettings settings,
                  int maxPendingOpens, UserspaceStats stats) {
        this.stats = stats;
        this.loop = loop;
        this.session = session;
        this.owner = owner;
        this.name = name;
        this.openTimeout = settings.openTimeout();
        this.notSentLowWatermark = settings.notSentLowWatermark();
        this.idleInfoIntervalNanos = settings.session().receivePeriodFromReceiverRtt()
                ? IDLE_TCP_INFO_INTERVAL_NANOS : Long.MAX_VALUE;
        this.maxPendingOpens = maxPendingOpens;
        this.restartCongestionControlAfterCollapse = settings.restartCongestionControlAfterCollapse();
    }

    EventLoop loop() {
        return loop;
    }

    /**
     * From now on, each time the session hands received stream bytes to a stream's reader, {@code into} gets the time
     * (a release store, no fence on this loop); null stops it. cpe only: which loop's session is warm. Received, not
     * sent: every stream's first bytes out are its Convert message, so writes would mark a session that only opened
     * a stream, and a download is what grows the windows a new one needs.
     */
    void publishStreamActivity(AtomicLong into) {
        streamActivity = into;
    }

    Session session() {
        return session;
    }

    boolean isClosed() {
        return closed;
    }

    /** Whether the session was established at some point (it may have ended since). */
    boolean wasEstablished() {
        return established;
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
        if (!session.hasSubflow(subflowId)) {
            channel.close(); // its uplink was disabled while it connected
            return;
        }
        attach(subflowId, channel);
        session.subflowConnected(subflowId, now());
        updateEstimates(subflowId);
        pump();
    }

    /** cpe: the TCP connection for {@code subflowId} could not be made. */
    void subflowFailed(long subflowId, Throwable cause) {
        if (session.isEstablished()) {
            String uplink = uplinkOf(subflowId);
            if (uplink != null) {
                UplinkStats.UplinkCounters u = stats.uplinks().forName(uplink);
                u.joinAttempted();
                u.joinFailed(joinFailure(cause));
            }
        }
        session.subflowClosed(subflowId, now());
        pump();
    }

    /** The connect failure in the vocabulary the kernel engine's join failures use. */
    private static UplinkStats.JoinFailure joinFailure(Throwable cause) {
        String message = String.valueOf(cause == null ? null : cause.getMessage()).toLowerCase(java.util.Locale.ROOT);
        if (cause instanceof ConnectTimeoutException || message.contains("timed out")) {
            return UplinkStats.JoinFailure.TIMEOUT;
        }
        if (message.contains("refused")) {
            return UplinkStats.JoinFailure.REFUSED;
        }
        if (cause instanceof NoRouteToHostException || message.contains("unreachable")
                || message.contains("no route")) {
            return UplinkStats.JoinFailure.UNREACHABLE;
        }
        if (message.contains("reset")) {
            return UplinkStats.JoinFailure.RESET;
        }
        return UplinkStats.JoinFailure.ERROR;
    }

    private String uplinkOf(long subflowId) {
        for (Session.SubflowInfo info : session.subflows()) {
            if (info.id() == subflowId) {
                return info.uplink();
            }
        }
        return null;
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
        String uplink = uplinkOf(subflowId);
        subflows.put(subflowId, new SubflowLink(channel, uplink, stats.uplinks().forName(uplink)));
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
            link.stats.addBytesReceived(bytes.readableBytes());
            for (ByteBuffer nio : bytes.nioBuffers(bytes.readerIndex(), bytes.readableBytes())) {
                session.handleSubflowBytes(subflowId, nio, now);
            }
            awaitWholeFrame(link, session.subflowBytesMissing(subflowId, now), now);
        } finally {
            bytes.release();
        }
        pumpSoon();
    }

    /**
     * Lets the subflow's socket wake this loop only once the frame its last bytes began can be complete
     * ({@link #SO_RCVLOWAT}). Never above what is missing: a watermark above the frame's rest would leave its last
     * bytes unread until more came, and at the end of a transfer nothing more comes. Setting it when enough is
     * already queued wakes the reader at once (Linux {@code tcp_set_rcvlowat()} checks), so nothing is missed between
     * the read and the call.
     */
    private static void awaitWholeFrame(SubflowLink link, int missing, long now) {
        if (!link.lowWatermarkSettable) {
            return;
        }
        if (missing > link.maxReceiveLowWatermark && now - link.lowWatermarkCapAt >= LOW_WATERMARK_CAP_INTERVAL_NANOS) {
            // A version 3 frame (64 KiB) is more than a quarter of the buffer a socket starts with (128 KiB by
            // default); Linux grows a busy socket's buffer as it autotunes, so the cap is read again, now and then.
            link.maxReceiveLowWatermark = lowWatermarkCap(link.channel);
            link.lowWatermarkCapAt = now;
        }
        int watermark = missing >= MIN_RECEIVE_LOW_WATERMARK ? Math.min(missing, link.maxReceiveLowWatermark) : 1;
        if (watermark == link.receiveLowWatermark) {
            return;
        }
        try {
            if (link.channel.config().setOption(SO_RCVLOWAT, watermark)) {
                link.receiveLowWatermark = watermark;
            } else {
                link.lowWatermarkSettable = false; // a transport without the option: nothing was set
            }
        } catch (RuntimeException e) {
            // The socket is closing (its close is handled where it is seen); nothing is set on it again.
            link.lowWatermarkSettable = false;
        }
    }

    /**
     * A quarter of the socket's receive buffer as it is now. Linux's {@code tcp_set_rcvlowat()} makes room for the
     * watermark: when the buffer a window of that size needs (about twice the window) exceeds the socket's receive
     * buffer, it raises the buffer and clamps the TCP window to the watermark, which would hold a fast path to a
     * frame per round trip. With the default {@code tcp_rmem} (128 KiB to start, growing by autotuning) a frame's 16
     * KiB never comes near; a router configured with a much smaller initial buffer gets smaller watermarks instead.
     */
    private static int lowWatermarkCap(Channel channel) {
        try {
            return Math.max(1, channel.config().getOption(ChannelOption.SO_RCVBUF) / 4);
        } catch (RuntimeException e) {
            return 1;
        }
    }

    /** The subflow's TCP connection closed (either end, or an error). */
    void subflowInactive(long subflowId, Channel channel) {
        SubflowLink link = subflows.get(subflowId);
        if (link == null || link.channel != channel) {
            return;
        }
        subflows.remove(subflowId);
        LOG.log(Level.INFO, () -> name + ": subflow " + subflowId + " closed by the peer or the network");
        subflowGone(link, UserspaceStats.CONNECTION_CLOSED, true);
        session.subflowClosed(subflowId, now());
        pump();
    }

    /**
     * The subflow's outbound buffer crossed a water mark: its room changed. The pass is queued like a read's
     * ({@link #pumpSoon()}), not run here: the TCP acknowledgement that drains a subflow's socket usually arrives with
     * the peer's DATA_ACK on the same subflow, and Netty handles the socket's writability before its read in the same
     * wake-up, so a pass run here was a second pass for that wake-up (7 % of the concentrator's event-loop samples
     * at 70 Mbit/s). The queued pass refreshes every subflow's estimates first.
     */
    void subflowWritabilityChanged(long subflowId) {
        pumpSoon();
    }

    private void updateEstimates(long subflowId) {
        SubflowLink link = subflows.get(subflowId);
        if (link == null) {
            return;
        }
        Channel ch = link.channel;
        long now = now();
        ChannelOutboundBuffer outbound = ch.unsafe().outboundBuffer();
        long pending = outbound == null ? 0 : outbound.totalPendingWriteBytes();
        long sinceInfo = now - link.infoAt;
        if (sinceInfo >= TCP_INFO_INTERVAL_NANOS
                && (sinceInfo >= idleInfoIntervalNanos || !sendSideIdle(link, pending))) {
            link.info = TcpInfo.read(ch).orElse(null);
            link.infoAt = now;
            link.pendingAtInfo = pending;
            link.writtenSinceInfo = 0;
            if (link.info != null && link.info.bytesRetransmitted() > link.retransmittedCounted) {
                link.stats.addBytesRetransmitted(link.info.bytesRetransmitted() - link.retransmittedCounted);
                link.retransmittedCounted = link.info.bytesRetransmitted();
            }
        }
        long room = ch.isActive() ? ch.bytesBeforeUnwritable() : 0;
        TcpInfo info = link.info;
        // TCP_INFO is up to TCP_INFO_INTERVAL_NANOS old: every byte the socket had not seen when it was read (those
        // then in the channel's outbound buffer, and all written since) still counts as unsent, wherever it is now.
        // Mixing the old figures with the fresh outbound buffer alone lost the bytes that moved from the buffer to
        // the socket meanwhile: the connection seemed to hold less than it did, so the engine's bound on what a
        // subflow holds let it take more at every turn, and the delivery rate read as a burst, then a collapse.
        // Counted this way, what the subflow holds is over-estimated by what was acknowledged meanwhile, never less.
        session.updateSubflow(subflowId, info == null ? SubflowEstimates.unknown(room)
                : new SubflowEstimates(info.rttMicros() * 1000, info.congestionWindow(), info.unackedBytes(),
                        info.notSentBytes() + link.pendingAtInfo + link.writtenSinceInfo, room, info.deliveredBytes(),
                        info.sackedBytes(), info.lostBytes(), info.retransBytes(),
                        info.lastAckRecvMillis() * 1_000_000 + (now - link.infoAt), info.rcvRttMicros() * 1000));
    }

    /**
     * Whether the subflow's connection had nothing to send or acknowledge when TCP_INFO was last read and was handed
     * nothing since: then a new read would return the same figures (the RTT, the congestion window and the
     * retransmissions change only when our data is acknowledged or lost, and none is out), and it is skipped. On the
     * receiving end of a download every subflow but the one carrying the DATA_ACKs is such a subflow; reading their
     * TCP_INFO every 5 ms was one in eight of the cpe's system calls once partial frames no longer woke it.
     */
    private static boolean sendSideIdle(SubflowLink link, long pending) {
        TcpInfo info = link.info;
        return info != null && link.writtenSinceInfo == 0 && pending == 0 && link.pendingAtInfo == 0
                && info.unackedBytes() == 0 && info.notSentBytes() == 0;
    }

    /**
     * Fresh estimates for every subflow before the engine schedules: the engine bounds what a subflow holds by its
     * congestion window, and a subflow that got nothing last turn is neither flushed nor changes writability, so its
     * figures would otherwise stay those of the moment its window filled (TCP_INFO is still read at most once per
     * TCP_INFO_INTERVAL_NANOS per subflow).
     */
    private void refreshEstimates() {
        for (long id : subflows.keySet()) {
            updateEstimates(id);
        }
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
            id = channel.pinnedUplink() == null ? session.openStream(now())
                    : session.openPinnedStream(channel.pinnedUplink(), now());
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

    /** Stream bytes ready to read now. */
    long readable(long streamId) {
        return session.readable(streamId);
    }

    /** Reads stream bytes into {@code dst}'s writable space: bytes read, 0 if none are ready, -1 at the end. */
    int read(long streamId, ByteBuf dst) {
        ByteBuffer nio = dst.nioBuffer(dst.writerIndex(), dst.writableBytes());
        long now = now();
        int n = session.read(streamId, nio, now);
        if (n > 0) {
            dst.writerIndex(dst.writerIndex() + n);
            if (streamActivity != null) {
                streamActivity.lazySet(now);
            }
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

    /**
     * {@link #pump()} once the loop has handled every socket that was ready with this one: what several reads of
     * one wake-up (both subflows, the relay's read of the server) gave the session goes out in one pass, so one
     * DATA_ACK and one flush per subflow answer them all instead of one per read. The loop runs its task queue
     * right after the ready sockets, so this adds no wait.
     */
    void pumpSoon() {
        if (!pumpQueued && !closed) {
            pumpQueued = true;
            loop.execute(queuedPump);
        }
    }

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
                refreshEstimates();
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
            int need = session.transmitBufferBytes();
            ByteBuf buf = spare;
            spare = null;
            if (buf == null || buf.capacity() < need) {
                if (buf != null) {
                    buf.release(); // a cpe's session whose handshake chose version 3: its frames need 64 KiB
                }
                buf = transmitBuffer(alloc, need);
            }
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
            link.writtenSinceInfo += t.bytes();
            link.stats.addBytesSent(t.bytes());
            touched.add(t.subflowId());
        }
    }

    /**
     * A buffer for {@code pollTransmit}: version 2's 16 400 bytes from Netty's allocator (pooled); version 3's 64 KiB
     * from the loop's kept buffers ({@link ReusedReadBuffers#takeForTransmit}), because Netty's allocator, in the
     * small-memory layout the launcher's heap puts it in, mallocs and frees every buffer above 16 896 bytes.
     */
    private static ByteBuf transmitBuffer(ByteBufAllocator alloc, int need) {
        if (need > ReusedReadBuffers.BUFFER_BYTES) {
            throw new IllegalStateException("a frame of " + need + " bytes is larger than any buffer kept");
        }
        ByteBuf kept = need > Session.MIN_TRANSMIT_BUFFER ? ReusedReadBuffers.takeForTransmit() : null;
        return kept != null ? kept : alloc.directBuffer(need);
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

    /**
     * The session found the subflow's TCP sender holding a collapsed rate after its link came back (Linux BBR's
     * policer mode): its congestion control starts again, if the configuration says so (two system calls, once per
     * collapse at most). Otherwise only the judgement is counted.
     */
    private void restartCongestionControl(SessionEvent.SubflowRestartCongestionControl r) {
        SubflowLink link = subflows.get(r.subflowId());
        if (!restartCongestionControlAfterCollapse || link == null || !(link.channel instanceof UnixChannel)
                || !link.channel.isActive()) {
            return;
        }
        try {
            var restarted = NativeSocketOptions.restartCongestionControl(link.channel);
            LOG.log(Level.INFO, () -> name + ": subflow " + r.subflowId() + " over " + r.uplink()
                    + " kept its collapsed rate; " + restarted.map(cc -> "congestion control " + cc + " restarted")
                            .orElse("on reno, nothing to restart"));
        } catch (NativeException e) {
            LOG.log(Level.WARNING, () -> name + ": subflow " + r.subflowId() + " over " + r.uplink()
                    + ": congestion control not restarted: " + e.getMessage());
        }
    }

    private void drainEvents() {
        SessionEvent event;
        while ((event = session.pollEvent()) != null) {
            switch (event) {
                case SessionEvent.SessionEstablished e -> {
                    established = true;
                    LOG.log(Level.INFO, () -> name + ": session established (token "
                            + Integer.toHexString(session.localToken()) + ")");
                    while (!pendingOpens.isEmpty()) {
                        PendingOpen p = pendingOpens.poll();
                        p.timeout.cancel(false);
                        open(p.channel, p.promise);
                    }
                }
                case SessionEvent.SubflowRequested r -> owner.subflowRequested(this, r);
                case SessionEvent.SubflowAttached a -> {
                    LOG.log(Level.INFO, () -> name + ": subflow " + a.subflowId() + " over " + a.uplink()
                            + " attached" + endpointsOf(a.subflowId()));
                    subflowAttached(a.subflowId());
                }
                case SessionEvent.SubflowStalled s -> {
                    LOG.log(Level.WARNING, () -> name + ": subflow " + s.subflowId() + " over " + s.uplink()
                            + " stalled; its data goes over the others");
                    SubflowLink link = subflows.get(s.subflowId());
                    if (link != null && !link.stalled) {
                        link.stalled = true;
                        failover(link, "stall");
                    }
                }
                case SessionEvent.SubflowRecovered r -> {
                    LOG.log(Level.INFO, () -> name + ": subflow " + r.subflowId() + " over " + r.uplink()
                            + " recovered");
                    SubflowLink link = subflows.get(r.subflowId());
                    if (link != null) {
                        link.stalled = false;
                    }
                }
                case SessionEvent.SubflowRestartCongestionControl r -> restartCongestionControl(r);
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
                                + a.address().getHostAddress() + ":" + a.port() + "; joins go there");
                case SessionEvent.AddressWithdrawn w ->
                        LOG.log(Level.INFO, () -> name + ": concentrator withdrew address " + w.addressId());
                case SessionEvent.SessionClosed c -> sessionClosed(c.reason());
            }
        }
    }

    private String endpointsOf(long subflowId) {
        SubflowLink link = subflows.get(subflowId);
        return link == null || link.channel.remoteAddress() == null ? ""
                : " (" + link.channel.localAddress() + " -> " + link.channel.remoteAddress() + ")";
    }

    private void subflowAttached(long subflowId) {
        SubflowLink link = subflows.get(subflowId);
        if (link == null) {
            return;
        }
        link.attached = true;
        link.stats.subflowOpened();
        // A session has one capable subflow, the first to attach; every other one joined it (MP_JOIN's role).
        if (capableAttached) {
            link.stats.joinAttempted();
        }
        capableAttached = true;
        stats.subflowAttached(now());
    }

    /**
     * Lifecycle accounting of a subflow whose TCP connection is closing, once. An attached one counts as closed
     * (by reason), and as a failover when the session keeps other attached subflows and loses it to an error
     * rather than to the operator or the session's own end; one that never attached to an established session
     * is a failed join.
     */
    private void subflowGone(SubflowLink link, String reason, boolean error) {
        if (link.attached) {
            link.stats.subflowClosed();
            stats.subflowClosed(link.uplink, reason);
            if (error && !link.stalled && !session.isClosed()) {
                failover(link, reason);
            }
        } else if (session.isEstablished() && error) {
            link.stats.joinAttempted();
            link.stats.joinFailed(UserspaceStats.CONNECTION_CLOSED.equals(reason) ? UplinkStats.JoinFailure.CLOSED
                    : UplinkStats.JoinFailure.MPTCP_RESET);
        }
    }

    /** Counts a failover if another attached subflow took over what {@code link} carried. */
    private void failover(SubflowLink link, String reason) {
        int others = 0;
        for (SubflowLink other : subflows.values()) {
            if (other != link && other.attached && !other.stalled) {
                others++;
            }
        }
        if (others > 0) {
            link.stats.failover();
            stats.failovers().add(new ApplianceStatus.Failover(System.currentTimeMillis(), link.stats.name(), reason,
                    others));
        }
    }

    private void closeSubflow(SessionEvent.SubflowClose close) {
        SubflowLink link = subflows.remove(close.subflowId());
        LOG.log(Level.INFO, () -> name + ": closing subflow " + close.subflowId() + " (" + close.reason() + "): " + close.why());
        if (link != null) {
            // Administratively prohibited on an attached subflow: the operator disabled its uplink, no failure.
            subflowGone(link, UserspaceStats.label(close.reason()),
                    close.reason() != ResetReason.ADMINISTRATIVELY_PROHIBITED);
            // Whatever pollTransmit gave it (a SUBFLOW_RESET, say) goes out first.
            link.channel.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
    }

    private void sessionClosed(String reason) {
        closed = true;
        countEngineCounters();
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
        // The probe timers judge a subflow by its last sign of life, its TCP connection's progress among them: that
        // must be read now, not at the last pump (on a loaded machine the loop may have slept past a stall timeout
        // while the path kept delivering).
        refreshEstimates();
        long now = now();
        boolean changed = session.handleTimeout(now);
        // A version 3 frame that arrives far slower than it was sized for becomes overdue with no byte arriving: from
        // then on the session takes its bytes as they come, so the socket should wake this loop for any of them.
        for (Map.Entry<Long, SubflowLink> entry : subflows.entrySet()) {
            awaitWholeFrame(entry.getValue(), session.subflowBytesMissing(entry.getKey(), now), now);
        }
        if (changed) {
            pump();
        } else {
            // Nothing was due after all (a stall deadline the subflow's progress had pushed back): no pass, only the
            // next timer.
            armTimer();
        }
    }

    // ------------------------------------------------------------------ metrics (on this loop only)

    /** What one pass over this loop's sessions adds up; filled on the loop, read by the sampler after. */
    static final class LoopSample {
        final Map<String, double[]> uplinkSums = new HashMap<>(); // label -> subflows, srtt sum, cwnd sum, cwnd n
        final java.util.List<ApplianceStatus.SubflowStatusView> rows = new java.util.ArrayList<>();
        int sessions;
        int established;
        int streams;
        long reorderBytes;
        long budgetUsed;
        /** Per cpe key: sessions, and attached subflows by the cpe's address each comes from (the per-cpe table). */
        final Map<String, int[]> sessionsByKey = new HashMap<>();
        final Map<String, Map<String, Integer>> subflowsByKey = new HashMap<>();
    }

    /** One sampling pass over this session; runs on its loop (the only thread that may read the session). */
    void sample(LoopSample sample) {
        countEngineCounters();
        sample.sessions++;
        if (session.isEstablished()) {
            sample.established++;
        }
        sample.streams += session.streamIds().size();
        sample.reorderBytes += session.reorderBufferedBytes();
        sample.budgetUsed += session.overflowBudgetUsed(now());
        sample.sessionsByKey.computeIfAbsent(session.keyId(), k -> new int[1])[0]++;
        Map<String, Integer> byAddress = sample.subflowsByKey.computeIfAbsent(session.keyId(), k -> new HashMap<>());
        for (Session.SubflowInfo info : session.subflows()) {
            SubflowLink link = subflows.get(info.id());
            if (link == null || !info.state().isAttached()) {
                continue;
            }
            byAddress.merge(link.channel.remoteAddress() instanceof InetSocketAddress peer
                    ? peer.getAddress().getHostAddress() : "-", 1, Integer::sum);
            TcpInfo tcp = link.info;
            double srtt = tcp != null ? tcp.rttMicros() / 1e6 : info.probeRttNanos() / 1e9;
            double[] sum = sample.uplinkSums.computeIfAbsent(link.stats.name(), u -> new double[4]);
            sum[0]++;
            sum[1] += srtt;
            if (tcp != null) {
                sum[2] += tcp.cwndSegments();
                sum[3]++;
            }
            sample.rows.add(new ApplianceStatus.SubflowStatusView(link.stats.name(), sequence, (int) info.id(),
                    info.state().name().toLowerCase(java.util.Locale.ROOT), srtt, tcp != null ? tcp.cwndSegments() : 0,
                    info.bytesSent(), info.bytesReceived(), Math.max(0, link.retransmittedCounted)));
        }
    }

    /** Adds the growth of the session's counters since the last call to the process-wide adders. */
    private void countEngineCounters() {
        for (MibCounter counter : MibCounter.values()) {
            long value = session.mib().get(counter);
            if (value != mibCounted[counter.ordinal()]) {
                stats.addMib(counter, value - mibCounted[counter.ordinal()]);
                mibCounted[counter.ordinal()] = value;
            }
        }
        UplinkSends.Kind[] kinds = UplinkSends.Kind.values();
        for (Map.Entry<String, UplinkSends> e : session.sendsByUplink().entrySet()) {
            long[] counted = sendsCounted.computeIfAbsent(e.getKey(), u -> new long[2 * kinds.length]);
            for (UplinkSends.Kind kind : kinds) {
                long frames = e.getValue().frames(kind);
                long bytes = e.getValue().bytes(kind);
                int i = 2 * kind.ordinal();
                if (frames != counted[i]) {
                    stats.addSends(e.getKey(), kind, frames - counted[i], bytes - counted[i + 1]);
                    counted[i] = frames;
                    counted[i + 1] = bytes;
                }
            }
        }
        UplinkJudgements.Rule[] judgements = UplinkJudgements.Rule.values();
        for (Map.Entry<String, UplinkJudgements> e : session.judgementsByUplink().entrySet()) {
            long[] counted = judgementsCounted.computeIfAbsent(e.getKey(), u -> new long[judgements.length]);
            for (UplinkJudgements.Rule kind : judgements) {
                long count = e.getValue().count(kind);
                if (count != counted[kind.ordinal()]) {
                    stats.addJudgements(e.getKey(), kind, count - counted[kind.ordinal()]);
                    counted[kind.ordinal()] = count;
                }
            }
        }
    }

    @Override
    public String toString() {
        return name;
    }
}
