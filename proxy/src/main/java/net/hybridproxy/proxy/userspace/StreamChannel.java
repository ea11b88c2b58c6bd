package net.hybridproxy.proxy.userspace;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.AbstractChannel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelMetadata;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.channel.socket.DuplexChannel;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.channels.AlreadyConnectedException;
import java.util.function.Function;

/**
 * One stream of a userspace multipath session, as a Netty channel: what the relay, the cpe's Convert handlers and
 * the concentrator's {@code ConvertServerHandler} see instead of an MPTCP socket. It behaves like a half-closable
 * TCP channel:
 * <ul>
 * <li>{@code write}/{@code flush} hand bytes to {@code Session.write}; what the session does not take stays in the
 *     channel's outbound buffer (so {@code isWritable()} follows the usual water marks) until the session reports
 *     {@code StreamWritable};</li>
 * <li>{@code read()} delivers the bytes the session has in order, as ByteBufs; with AUTO_READ off nothing is
 *     delivered unasked, and the session's per-stream window holds back the sender meanwhile;</li>
 * <li>the peer's DATA_FIN is an input shutdown: {@link ChannelInputShutdownEvent} then
 *     {@link ChannelInputShutdownReadComplete} (or a close without ALLOW_HALF_CLOSURE), as Netty's TCP channels do;</li>
 * <li>{@code shutdownOutput()} sends our DATA_FIN after everything written before it;</li>
 * <li>{@code close()} with both directions finished lets the session finish the stream on its own (like a TCP
 *     close after a clean exchange); a close in any other state resets the stream (FAST_CLOSE), which is what the
 *     relay means when it closes a channel early;</li>
 * <li>a FAST_CLOSE from the peer is an {@code IOException("stream reset ...")} through {@code exceptionCaught},
 *     then a close, so the relay reproduces it as a TCP reset on the other side.</li>
 * </ul>
 * It runs on the event loop of the {@link SessionDriver} that owns its session, registered there without any
 * selector (like Netty's EmbeddedChannel); every method of the driver is called on that loop.
 */
public final class StreamChannel extends AbstractChannel implements DuplexChannel {
    private static final ChannelMetadata METADATA = new ChannelMetadata(false, 16);
    /**
     * The largest buffer a read hands on: the adaptive allocator's largest pooled size is 16 896 bytes, and a DATA
     * frame's payload is 16 384.
     */
    static final int DELIVERY_BUFFER_BYTES = 16 * 1024;
    /**
     * At most this much per {@code read()}, in buffers of {@link #DELIVERY_BUFFER_BYTES} under one composite: what one
     * 64 KiB read of Netty's adaptive sizing delivered, so the relay still flushes it as one write.
     */
    static final int MAX_BYTES_PER_DELIVERY = 64 * 1024;

    private final StreamChannelConfig config = new StreamChannelConfig(this);
    /** cpe: finds the driver of the loop this channel was registered on, at connect. */
    private final Function<EventLoop, SessionDriver> driverLookup;
    private SessionDriver driver;
    private long streamId = -1;
    private InetSocketAddress localAddress;
    private InetSocketAddress remoteAddress;
    private boolean open = true;
    private boolean active;
    private boolean connecting;
    private boolean readPending;
    private boolean inputShutdown;
    private boolean outputShutdown;
    /** The session no longer knows the stream (closed cleanly or reset): nothing more to tell it. */
    private boolean streamGone;

    /** cpe: the uplink a bypass rule pinned this connection to, or null for every uplink. */
    private final String pinnedUplink;

    /** cpe: a channel that opens its stream when it connects, on the session of its own event loop. */
    StreamChannel(Function<EventLoop, SessionDriver> driverLookup) {
        this(driverLookup, null);
    }

    /** cpe: the same, its stream carried over {@code pinnedUplink} only (null: every uplink). */
    StreamChannel(Function<EventLoop, SessionDriver> driverLookup, String pinnedUplink) {
        super(null);
        this.driverLookup = driverLookup;
        this.pinnedUplink = pinnedUplink;
    }

    /** cpe: the uplink this channel's stream is pinned to, or null. */
    String pinnedUplink() {
        return pinnedUplink;
    }

    /** concentrator: a stream the cpe opened, already active. */
    StreamChannel(SessionDriver driver, long streamId, InetSocketAddress local, InetSocketAddress remote) {
        super(null);
        this.driverLookup = loop -> driver;
        this.pinnedUplink = null;
        this.driver = driver;
        this.streamId = streamId;
        this.localAddress = local;
        this.remoteAddress = remote;
        this.active = true;
    }

    /** The stream's id in its session, -1 before it is connected. */
    public long streamId() {
        return streamId;
    }

    @Override
    public StreamChannelConfig config() {
        return config;
    }

    @Override
    public boolean isOpen() {
        return open;
    }

    @Override
    public boolean isActive() {
        return open && active;
    }

    @Override
    public ChannelMetadata metadata() {
        return METADATA;
    }

    @Override
    public InetSocketAddress localAddress() {
        return (InetSocketAddress) super.localAddress();
    }

    @Override
    public InetSocketAddress remoteAddress() {
        return (InetSocketAddress) super.remoteAddress();
    }

    @Override
    protected AbstractUnsafe newUnsafe() {
        return new StreamUnsafe();
    }

    /** Any loop: a stream has no descriptor to register, only a session that lives on that loop. */
    @Override
    protected boolean isCompatible(EventLoop loop) {
        return true;
    }

    @Override
    protected void doRegister(ChannelPromise promise) {
        // Nothing to hand to an I/O handler: the session driver on this loop feeds the channel directly.
        promise.setSuccess();
    }

    @Override
    protected SocketAddress localAddress0() {
        return localAddress;
    }

    @Override
    protected SocketAddress remoteAddress0() {
        return remoteAddress;
    }

    @Override
    protected void doBind(SocketAddress localAddress) {
        throw new UnsupportedOperationException("a stream is bound by its session's subflows");
    }

    @Override
    protected void doDisconnect() throws Exception {
        doClose();
    }

    @Override
    protected void doClose() {
        if (!open) {
            return;
        }
        boolean wasActive = active;
        open = false;
        active = false;
        if (driver != null && wasActive && !streamGone) {
            driver.streamChannelClosed(this, inputShutdown && outputShutdown);
        }
    }

    @Override
    protected void doShutdownOutput() {
        if (!outputShutdown) {
            outputShutdown = true;
            if (driver != null && active && !streamGone) {
                driver.finish(streamId);
            }
        }
    }

    @Override
    protected void doBeginRead() {
        if (!isActive()) {
            return;
        }
        readPending = true;
        deliver();
    }

    @Override
    protected Object filterOutboundMessage(Object msg) {
        if (msg instanceof ByteBuf) {
            return msg;
        }
        throw new UnsupportedOperationException("a stream carries ByteBufs, not " + msg.getClass().getSimpleName());
    }

    @Override
    protected void doWrite(ChannelOutboundBuffer in) throws Exception {
        writeWhatTheSessionTakes(in);
        // Framed and sent with whatever else this wake-up of the loop gave the session (see pumpSoon).
        driver.pumpSoon();
    }

    private void writeWhatTheSessionTakes(ChannelOutboundBuffer in) throws IOException {
        if (streamGone) {
            throw new IOException("stream " + streamId + " is closed");
        }
        Object msg;
        while ((msg = in.current()) != null) {
            ByteBuf buf = (ByteBuf) msg;
            int readable = buf.readableBytes();
            if (readable == 0) {
                in.remove();
                continue;
            }
            int taken = driver.write(streamId, buf);
            if (taken > 0) {
                in.removeBytes(taken);
            }
            if (taken < readable) {
                return; // the session's send buffer is full; StreamWritable resumes us
            }
        }
    }

    // ------------------------------------------------------------------ called by the driver, on its loop

    /** The session has bytes (or the end of the stream) for us. */
    void onReadable() {
        if (readPending && isActive()) {
            deliver();
        }
    }

    /** The session has room again for bytes we hold. */
    void onWritable() {
        if (isActive()) {
            ((StreamUnsafe) unsafe()).resumeWrite();
        }
    }

    /**
     * Both directions are finished and acknowledged, so the session forgot the stream. The channel stays open
     * until its owner closes it (the relay does once it has seen both directions end).
     */
    void onStreamClosed() {
        streamGone = true;
    }

    /** The stream was reset (by the peer, or because the session ended): a reset, as on a TCP channel. */
    void onReset(String why) {
        streamGone = true;
        if (open) {
            pipeline().fireExceptionCaught(new IOException("stream reset: " + why));
            close();
        }
    }

    /**
     * One read, as a TCP channel with AUTO_READ off does it: what the session holds now, as one buffer (the end of the
     * stream is seen only by a read that finds nothing, as with a socket, so a handler that reads once and then
     * replaces itself, like the Convert handlers, never meets the end meant for its successor).
     */
    private void deliver() {
        ChannelPipeline pipeline = pipeline();
        if (inputShutdown) {
            readPending = false;
            return;
        }
        ByteBuf buf = readReady(config.getAllocator());
        boolean end = false;
        if (buf == null) {
            end = driver.read(streamId, Unpooled.EMPTY_BUFFER) < 0;
        } else {
            readPending = false;
            pipeline.fireChannelRead(buf);
        }
        if (end) {
            // Before the read-complete below: a handler that asks for more there must see the input finished.
            readPending = false;
            inputShutdown = true;
        }
        if (buf != null || end) {
            pipeline.fireChannelReadComplete();
        }
        if (end && isActive()) {
            if (config.isAllowHalfClosure()) {
                pipeline.fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
                pipeline.fireUserEventTriggered(ChannelInputShutdownReadComplete.INSTANCE);
            } else {
                close();
            }
        }
    }

    /**
     * What the session holds, up to {@link #MAX_BYTES_PER_DELIVERY}, in buffers the allocator pools: one, or a
     * composite of several of {@link #DELIVERY_BUFFER_BYTES} (which the relay writes with one {@code writev});
     * null if nothing is ready. Netty's adaptive receive sizing grew a busy stream's buffers to 32 and 64 KiB, which
     * the allocator's small-memory layout (heaps up to 512 MiB) mallocs with a cleaner, one by one.
     */
    private ByteBuf readReady(ByteBufAllocator allocator) {
        long readable = driver.readable(streamId);
        if (readable <= 0) {
            return null;
        }
        int total = (int) Math.min(readable, MAX_BYTES_PER_DELIVERY);
        if (total <= DELIVERY_BUFFER_BYTES) {
            return readInto(allocator.directBuffer(total));
        }
        CompositeByteBuf composite = allocator.compositeDirectBuffer(MAX_BYTES_PER_DELIVERY / DELIVERY_BUFFER_BYTES);
        try {
            for (int left = total; left > 0; ) {
                ByteBuf part = readInto(allocator.directBuffer(Math.min(left, DELIVERY_BUFFER_BYTES)));
                if (part == null) {
                    break;
                }
                left -= part.readableBytes();
                composite.addComponent(true, part);
            }
        } catch (RuntimeException e) {
            composite.release();
            throw e;
        }
        if (!composite.isReadable()) {
            composite.release();
            return null;
        }
        return composite;
    }

    /** Fills {@code buf} from the session; null (and {@code buf} released) if nothing came. */
    private ByteBuf readInto(ByteBuf buf) {
        int n;
        try {
            n = driver.read(streamId, buf);
        } catch (RuntimeException e) {
            buf.release();
            throw e;
        }
        if (n <= 0) {
            buf.release();
            return null;
        }
        return buf;
    }

    // ------------------------------------------------------------------ DuplexChannel

    @Override
    public boolean isInputShutdown() {
        return inputShutdown || !isActive();
    }

    @Override
    public ChannelFuture shutdownInput() {
        return shutdownInput(newPromise());
    }

    /** Stops delivering bytes here; the stream itself goes on (there is no way to tell the peer, as with TCP). */
    @Override
    public ChannelFuture shutdownInput(ChannelPromise promise) {
        if (eventLoop().inEventLoop()) {
            inputShutdown = true;
            readPending = false;
            promise.setSuccess();
        } else {
            eventLoop().execute(() -> shutdownInput(promise));
        }
        return promise;
    }

    @Override
    public boolean isOutputShutdown() {
        return outputShutdown || !isActive();
    }

    @Override
    public ChannelFuture shutdownOutput() {
        return shutdownOutput(newPromise());
    }

    @Override
    public ChannelFuture shutdownOutput(ChannelPromise promise) {
        if (eventLoop().inEventLoop()) {
            ((AbstractUnsafe) unsafe()).shutdownOutput(promise);
        } else {
            eventLoop().execute(() -> shutdownOutput(promise));
        }
        return promise;
    }

    @Override
    public boolean isShutdown() {
        return isInputShutdown() && isOutputShutdown();
    }

    @Override
    public ChannelFuture shutdown() {
        return shutdown(newPromise());
    }

    @Override
    public ChannelFuture shutdown(ChannelPromise promise) {
        shutdownOutput().addListener(f -> shutdownInput(promise));
        return promise;
    }

    private final class StreamUnsafe extends AbstractUnsafe {
        @Override
        public void connect(SocketAddress remote, SocketAddress local, ChannelPromise promise) {
            if (!promise.setUncancellable() || !ensureOpen(promise)) {
                return;
            }
            if (active || connecting) {
                promise.setFailure(new AlreadyConnectedException());
                return;
            }
            SessionDriver found = driverLookup.apply(eventLoop());
            if (found == null) {
                promise.setFailure(new ConnectException("no userspace multipath session runs on " + eventLoop()));
                return;
            }
            connecting = true;
            found.openStream(StreamChannel.this, remote).addListener(f -> {
                connecting = false;
                if (!f.isSuccess()) {
                    promise.tryFailure(f.cause());
                    close(voidPromise());
                    return;
                }
                if (!open) {
                    promise.tryFailure(new ConnectException("stream channel closed while its session was starting"));
                    return;
                }
                driver = found;
                streamId = (Long) f.getNow();
                localAddress = found.localAddress();
                remoteAddress = remote instanceof InetSocketAddress inet ? inet : found.remoteAddress();
                active = true;
                promise.trySuccess();
                pipeline().fireChannelActive();
            });
        }

        void resumeWrite() {
            flush0();
        }
    }
}
