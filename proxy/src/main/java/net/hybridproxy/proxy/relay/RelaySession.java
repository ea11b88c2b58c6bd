package net.hybridproxy.proxy.relay;

import io.netty.channel.Channel;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.handler.timeout.IdleStateHandler;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * A relayed connection: two channels joined both ways, and the byte counts and close reason for its log line.
 * All state is touched only from the pair's event loop (both channels share one loop), so nothing here is
 * synchronised.
 */
public final class RelaySession {
    private static final String IDLE = "relay-idle";
    private static final String RELAY = "relay";

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

    /** Told of every chunk relayed, as it is relayed (on the pair's event loop), e.g. for live byte metrics. */
    @FunctionalInterface
    public interface ByteCounter {
        ByteCounter NONE = (upstream, bytes) -> { };

        void relayed(boolean upstream, int bytes);
    }

    private RelaySession(String label, Consumer<RelaySession> onClosed, ByteCounter byteCounter) {
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
        RelaySession session = new RelaySession(label, onClosed, byteCounter);
        install(client.pipeline(), new RelayHandler(server, session, true), idleTimeout);
        install(server.pipeline(), new RelayHandler(client, session, false), idleTimeout);
        for (Channel side : new Channel[] {client, server}) {
            var early = side.pipeline().context(EarlyInbound.class);
            if (early != null) {
                ((EarlyInbound) early.handler()).replay(early);
            }
            RelayHandler.requestRead(side);
        }
        return session;
    }

    private static void install(ChannelPipeline pipeline, RelayHandler handler, Duration idleTimeout) {
        if (pipeline.channel() instanceof EpollSocketChannel) {
            pipeline.addFirst(DescriptorCloser.NAME, DescriptorCloser.INSTANCE);
        }
        pipeline.addLast(IDLE, new IdleStateHandler(0, 0, idleTimeout.toMillis(), TimeUnit.MILLISECONDS));
        pipeline.addLast(RELAY, handler);
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
