package net.hybridproxy.proxy.relay;

import io.netty.channel.Channel;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoop;
import io.netty.channel.epoll.EpollSocketChannel;

import net.hybridproxy.proxy.transport.MptcpReceiveStall;

import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;

/**
 * A relayed connection: two channels joined both ways, and the byte counts and close reason for its log line.
 * All state is touched only from the pair's event loop (both channels share one loop), so nothing here is
 * synchronised.
 */
public final class RelaySession {
    private static final String RELAY = "relay";
    private static final System.Logger LOG = System.getLogger("hybridproxy.relay");
    /** Receive paths found stopped in the kernel and unblocked ({@link #unblockStalledReceive}), process-wide. */
    private static final LongAdder RECEIVE_STALLS_UNBLOCKED = new LongAdder();

    private final Channel client;
    private final Channel server;
    private final String label;
    private final Consumer<RelaySession> onClosed;
    private final ByteCounter byteCounter;
    private final long openedNanos = System.nanoTime();
    private long bytesUpstream;
    private long bytesDownstream;
    private String closeReason = "closed";
    private int openSides = 2;
    private boolean upstreamFinished;
    private boolean downstreamFinished;
    /** The pair's idle list and this relay's place in it ({@link IdleRelays}; the pair's loop only). */
    IdleRelays idleList;
    RelaySession idlePrevious;
    RelaySession idleNext;
    long lastActiveNanos;

    /** Told of every chunk relayed, as it is relayed (on the pair's event loop), e.g. for live byte metrics. */
    @FunctionalInterface
    public interface ByteCounter {
        ByteCounter NONE = (upstream, bytes) -> { };

        void relayed(boolean upstream, int bytes);
    }

    private RelaySession(Channel client, Channel server, String label, Consumer<RelaySession> onClosed,
                         ByteCounter byteCounter) {
        this.client = client;
        this.server = server;
        this.label = label;
        this.onClosed = onClosed;
        this.byteCounter = byteCounter;
    }

    /**
     * Joins {@code client} (the side that connected to us) and {@code server} (the side we connected to). Both
     * must be active, on the same event loop, with AUTO_READ off and ALLOW_HALF_CLOSURE on. Handlers already in
     * the pipelines stay in front of the relay (e.g. a decoder that strips a Convert reply first).
     */
    public static RelaySession join(Channel client, Channel server, Duration idleTimeout, String label,
                                    Consumer<RelaySession> onClosed) {
        return join(client, server, idleTimeout, label, onClosed, ByteCounter.NONE);
    }

    /** As {@link #join(Channel, Channel, Duration, String, Consumer)}, also reporting bytes as they are relayed. */
    public static RelaySession join(Channel client, Channel server, Duration idleTimeout, String label,
                                    Consumer<RelaySession> onClosed, ByteCounter byteCounter) {
        RelaySession session = new RelaySession(client, server, label, onClosed, byteCounter);
        install(client.pipeline(), new RelayHandler(server, session, true));
        install(server.pipeline(), new RelayHandler(client, session, false));
        long timeoutNanos = idleTimeout.toNanos();
        EventLoop loop = client.eventLoop();
        if (loop.inEventLoop()) {
            IdleRelays.on(loop, timeoutNanos).add(session, System.nanoTime());
        } else {
            loop.execute(() -> {
                if (session.openSides == 2) {
                    IdleRelays.on(loop, timeoutNanos).add(session, System.nanoTime());
                }
            });
        }
        replayAndRead(client);
        replayAndRead(server);
        return session;
    }

    private static void replayAndRead(Channel side) {
        var early = side.pipeline().context(EarlyInbound.class);
        if (early != null) {
            ((EarlyInbound) early.handler()).replay(early);
        }
        RelayHandler.requestRead(side);
    }

    /**
     * The relay handler, last; on epoll, the descriptor closer first. No idle handler: the relay's silence is
     * watched per event loop ({@link IdleRelays}), from the relay handlers' reads.
     */
    private static void install(ChannelPipeline pipeline, RelayHandler handler) {
        if (pipeline.channel() instanceof EpollSocketChannel) {
            pipeline.addFirst(DescriptorCloser.NAME, DescriptorCloser.INSTANCE);
        }
        pipeline.addLast(RELAY, handler);
    }

    /** Either side read something, or an output drained: the relay is not idle. On the pair's loop. */
    void touch() {
        IdleRelays list = idleList;
        if (list != null) {
            list.touched(this, System.nanoTime());
        }
    }

    /**
     * Silent for a while: a side whose kernel MPTCP receive path stopped for good ({@link MptcpReceiveStall}) is
     * unblocked and read again. Only a side whose peer is writable: one whose peer is not is waiting for backpressure,
     * not stuck. On the pair's loop.
     */
    void unblockStalledReceive() {
        unblockStalledReceive(client, server);
        unblockStalledReceive(server, client);
    }

    private void unblockStalledReceive(Channel side, Channel peer) {
        if (!side.isActive() || !peer.isWritable() || RelayHandler.isInputShutdown(side)) {
            return;
        }
        int held = MptcpReceiveStall.stalledBytes(side);
        if (held == 0) {
            return;
        }
        boolean readable = MptcpReceiveStall.unblock(side, held);
        RECEIVE_STALLS_UNBLOCKED.increment();
        LOG.log(Level.WARNING, () -> label + ": the kernel held " + held + " bytes unreadable on the "
                + (side == client ? "client" : "server") + " side (over its receive buffer, none in order); "
                + "receive buffer raised, " + (readable ? "readable again" : "still nothing to read"));
        // The descriptor's read interest is re-registered, so that epoll looks at the socket again: with the
        // interest unchanged, a level-triggered epoll only reports a socket the kernel has woken it for, and moving
        // the bytes up in SIOCINQ wakes nobody. Turning auto-read on and off again clears Netty's read interest.
        side.config().setAutoRead(true);
        side.config().setAutoRead(false);
        RelayHandler.requestRead(side);
    }

    /** How many stopped kernel receive paths relays have unblocked in this process. */
    public static long receiveStallsUnblocked() {
        return RECEIVE_STALLS_UNBLOCKED.sum();
    }

    /** Nothing moved for the whole idle timeout: both sides close. */
    void idle() {
        closeReason("idle timeout");
        client.close();
        server.close();
    }

    void count(boolean upstream, int bytes) {
        byteCounter.relayed(upstream, bytes);
        if (upstream) {
            bytesUpstream += bytes;
        } else {
            bytesDownstream += bytes;
        }
    }

    void closeReason(String reason) {
        if ("closed".equals(closeReason)) {
            closeReason = reason;
        }
    }

    /** One direction's FIN has been written after all its bytes (the peer's output is shut down). */
    void finished(boolean upstream) {
        if (upstream) {
            upstreamFinished = true;
        } else {
            downstreamFinished = true;
        }
    }

    boolean isFinished(boolean upstream) {
        return upstream ? upstreamFinished : downstreamFinished;
    }

    void closed() {
        if (idleList != null) {
            idleList.remove(this);
        }
        if (--openSides == 0) {
            onClosed.accept(this);
        }
    }

    /** How long the relay has been (or was, once closed) joined. */
    public long ageNanos() {
        return System.nanoTime() - openedNanos;
    }

    public String label() {
        return label;
    }

    /** Bytes from the client side to the server side. */
    public long bytesUpstream() {
        return bytesUpstream;
    }

    /** Bytes from the server side to the client side. */
    public long bytesDownstream() {
        return bytesDownstream;
    }

    public String closeReason() {
        return closeReason;
    }

    /** Resets a channel (SO_LINGER 0, then close): for refusing a client the way a refusing server would. */
    public static void reset(Channel channel) {
        RelayHandler.resetAndClose(channel);
    }
}
