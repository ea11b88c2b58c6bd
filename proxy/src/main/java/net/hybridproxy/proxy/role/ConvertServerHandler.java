package net.hybridproxy.proxy.role;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
import net.hybridproxy.engine.admission.Quota;
import net.hybridproxy.engine.auth.AuthResult;
import net.hybridproxy.engine.convert.ConnectTlv;
import net.hybridproxy.engine.convert.ConvertDecoder;
import net.hybridproxy.engine.convert.ConvertErrorCode;
import net.hybridproxy.engine.convert.ConvertMessage;
import net.hybridproxy.engine.convert.ConvertProtocolException;
import net.hybridproxy.engine.convert.DecodeResult;
import net.hybridproxy.engine.convert.SupportedTcpExtensionsTlv;
import net.hybridproxy.engine.policy.Addresses;
import net.hybridproxy.engine.policy.DestinationPolicy;
import net.hybridproxy.proxy.metrics.CpeTable;
import net.hybridproxy.proxy.relay.HeldFlushes;
import net.hybridproxy.proxy.transport.NativeSocketOptions;
import net.hybridproxy.proxy.userspace.ReusedReadBuffers;
import net.hybridproxy.proxy.userspace.StreamChannel;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NoRouteToHostException;
import java.net.SocketAddress;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Concentrator, one multipath connection: read the client's RFC 8803 Convert message (bounded in size and in time),
 * check who is asking and where to, open plain TCP to the destination, answer, and relay. Any refusal is answered
 * with an Error TLV carrying the RFC's code before the connection is closed, so the CPE can tell its client what
 * happened.
 *
 * <p>Accounting, in the order it is taken: the source must be authorized (no slot is taken otherwise); one slot of
 * {@code max-connections}; one permit of the source's connection quota; one of the source's pending quota until
 * the header is complete; after the proof verified, one of the key's connection quota. The slot is released exactly
 * once ({@link #releaseSlot}) unless the relay took it over; the permits are released when the channel closes,
 * whichever path closed it. All of this state is touched only on the channel's event loop.
 */
final class ConvertServerHandler extends ChannelInboundHandlerAdapter {
    private static final System.Logger LOG = System.getLogger("hybridproxy.concentrator");
    /** How long a refused client may keep sending before we close; it lets our Error TLV arrive intact. */
    private static final long LINGER_AFTER_ERROR_MILLIS = 2_000;
    /** Each refusal's answer, encoded once: a flood of refused requests encodes nothing. Never written to. */
    private static final Map<ConvertErrorCode, byte[]> ERROR_ANSWERS = errorAnswers();

    /** The success answer (a Convert message without TLVs), encoded once. Never written to. */
    private static final byte[] REPLY = ConvertMessage.of().encode();
    /**
     * The longest a success answer waits for the server's first bytes to leave with them: a server that speaks
     * first or answers a request sends within this nearly always; a silent one gets its answer sent alone after it,
     * which only the cpe's own bookkeeping sees (its client is already sending, 0-RTT). The same ceiling as
     * Linux's TCP_CORK: "there is a 200 millisecond ceiling on the time for which output is corked" (tcp(7)).
     */
    static final long REPLY_HOLD_NANOS = TimeUnit.MILLISECONDS.toNanos(200);

    /** The server channel's handler until the relay joins it: nothing to do, and one instance for every connection. */
    private static final ChannelInboundHandlerAdapter NO_HANDLER = new NoHandler();

    private final RoleContext context;
    private final ConcentratorRole.Gate gate;
    private final ConcentratorAdmission admission;
    private ByteBuf pending;
    /** The Convert header has been dealt with (admitted or refused): nothing more is read as a header. */
    private boolean decided;
    private boolean finSeen;
    /** This connection holds one of max-connections' slots, not yet handed to a relay. */
    private boolean slotHeld;
    private boolean headerStarted;
    /** Admitted: the connection to the destination is being opened; early data waits in {@link #pending}. */
    private boolean connecting;
    private ScheduledFuture<?> deadline;
    private Optional<Quota<Object>.Permit> pendingPermit = Optional.empty();
    private InetAddress source;
    /** The per-cpe table's row this connection counts in, once admitted. */
    private CpeTable.Row cpeRow;

    @io.netty.channel.ChannelHandler.Sharable
    private static final class NoHandler extends ChannelInboundHandlerAdapter {
    }

    private static Map<ConvertErrorCode, byte[]> errorAnswers() {
        Map<ConvertErrorCode, byte[]> answers = new EnumMap<>(ConvertErrorCode.class);
        for (ConvertErrorCode code : ConvertErrorCode.values()) {
            answers.put(code, ConvertMessage.error(code).encode());
        }
        return answers;
    }

    ConvertServerHandler(RoleContext context, ConcentratorRole.Gate gate, ConcentratorAdmission admission) {
        this.context = context;
        this.gate = gate;
        this.admission = admission;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        Channel client = ctx.channel();
        source = sourceAddress(client.remoteAddress());
        if (!gate.sourceAllowed(source)) {
            context.counters().authFailure();
            refuseWithoutAdmission(ctx, ConvertErrorCode.NOT_AUTHORIZED, "source not authorized",
                    () -> "source " + source.getHostAddress() + " is not in authorized-cidrs");
            return;
        }
        if (!context.counters().tryAdmit()) {
            refuseWithoutAdmission(ctx, ConvertErrorCode.RESOURCE_EXCEEDED, "max-connections",
                    () -> "connection limit (" + context.counters().maxConnections() + ") reached");
            return;
        }
        slotHeld = true;
        Optional<Quota<InetAddress>.Permit> sourcePermit = admission.connectionsPerSource().tryAcquire(source);
        if (sourcePermit.isEmpty()) {
            context.counters().admissionRefusal(AdmissionRefusal.CONNECTIONS_PER_SOURCE);
            refuse(ctx, ConvertErrorCode.RESOURCE_EXCEEDED, "source quota",
                    () -> admission.connectionsPerSource() + " reached");
            return;
        }
        client.closeFuture().addListener(f -> sourcePermit.get().release());
        pendingPermit = admission.pendingPerSource().tryAcquire(pendingIdentity());
        if (pendingPermit.isEmpty()) {
            context.counters().admissionRefusal(AdmissionRefusal.PENDING_PER_SOURCE);
            refuse(ctx, ConvertErrorCode.RESOURCE_EXCEEDED, "pending quota",
                    () -> admission.pendingPerSource() + " reached");
            return;
        }
        Quota<Object>.Permit pendingHeld = pendingPermit.get();
        client.closeFuture().addListener(f -> pendingHeld.release());
        deadline = client.eventLoop().schedule(() -> headerTimedOut(ctx, AdmissionRefusal.FIRST_BYTE_TIMEOUT),
                admission.settings().firstByteTimeout().toNanos(), TimeUnit.NANOSECONDS);
        ctx.read();
    }

    /**
     * The pending quota's identity: the source address, or for the streams of a userspace session (whose subflows
     * were admitted and authenticated already) the session's key.
     */
    private Object pendingIdentity() {
        return gate.sessionKeyId().<Object>map(k -> "key " + k).orElse(source);
    }

    private static InetAddress sourceAddress(SocketAddress remote) {
        return Addresses.normalize(((InetSocketAddress) remote).getAddress());
    }

    private void headerTimedOut(ChannelHandlerContext ctx, AdmissionRefusal which) {
        if (decided || !ctx.channel().isActive()) {
            return;
        }
        decided = true;
        cancelDeadline();
        releaseSlot();
        release();
        context.counters().admissionRefusal(which);
        admission.refusals().refused(which.label(), source, () -> "closed " + ctx.channel().remoteAddress() + ": "
                + (which == AdmissionRefusal.FIRST_BYTE_TIMEOUT
                ? "no byte within concentrator.first-byte-timeout (" + admission.settings().firstByteTimeout() + ")"
                : "Convert header incomplete within concentrator.convert-header-timeout ("
                + admission.settings().convertHeaderTimeout() + ") of its first byte"));
        ctx.close();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf buf)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (decided) {
            // One read can deliver several buffers: those after the one that completed the header are the client's
            // early data, to be replayed to the server with the rest once connected (they were once dropped here,
            // which lost bytes mid-stream). A refused connection keeps nothing. Bounded: no read is requested again
            // until the relay takes over.
            if (connecting && pending != null) {
                append(ctx, buf);
            } else {
                buf.release();
            }
            return;
        }
        boolean firstBytes = !headerStarted && buf.isReadable();
        if (firstBytes) {
            headerStarted = true;
            cancelDeadline();
        }
        append(ctx, buf);
        DecodeResult result;
        try {
            result = ConvertDecoder.decode(pending.nioBuffer());
        } catch (ConvertProtocolException e) {
            refuse(ctx, e, "bad Convert message");
            return;
        }
        switch (result) {
            case DecodeResult.NeedMoreBytes more -> {
                if (pending.readableBytes() >= ConvertLimits.MAX_MESSAGE_BYTES) {
                    refuse(ctx, ConvertErrorCode.MALFORMED_MESSAGE, "malformed",
                            () -> "Convert message larger than RFC 8803 allows");
                } else if (firstBytes) {
                    // The header deadline counts from its first byte, so a connection kept warm before its request
                    // is judged by first-byte-timeout alone. Armed only when the first read left the header
                    // incomplete: a header that arrives whole (nearly every one) costs no timer.
                    deadline = ctx.channel().eventLoop().schedule(
                            () -> headerTimedOut(ctx, AdmissionRefusal.HEADER_TIMEOUT),
                            admission.settings().convertHeaderTimeout().toNanos(), TimeUnit.NANOSECONDS);
                }
            }
            case DecodeResult.Decoded decoded -> {
                decided = true;
                cancelDeadline();
                pendingPermit.ifPresent(Quota.Permit::release);
                pending.skipBytes(decoded.consumedBytes());
                admit(ctx, decoded.message());
            }
        }
    }

    private void append(ChannelHandlerContext ctx, ByteBuf buf) {
        if (pending == null) {
            pending = buf;
        } else {
            ByteBuf joined = ctx.alloc().buffer(pending.readableBytes() + buf.readableBytes());
            joined.writeBytes(pending).writeBytes(buf);
            pending.release();
            buf.release();
            pending = joined;
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (!decided) {
            ctx.read();
        }
    }

    private void admit(ChannelHandlerContext ctx, ConvertMessage request) {
        Channel client = ctx.channel();
        try {
            gate.validateRequest(request);
        } catch (ConvertProtocolException e) {
            refuse(ctx, e, "bad Convert request");
            return;
        }
        Optional<ConnectTlv> connectTlv = request.connectTlv();
        if (connectTlv.isEmpty()) {
            answerInfo(ctx, request);
            return;
        }
        ConnectTlv connect = connectTlv.get();
        InetSocketAddress destination = new InetSocketAddress(connect.address(), connect.port());
        // The policy first: a request this concentrator would refuse anyway must not spend a replay-cache entry.
        DestinationPolicy.Decision decision = gate.policy().check(destination);
        if (!decision.allowed()) {
            context.counters().policyDenial();
            refuse(ctx, ConvertErrorCode.NOT_AUTHORIZED, "destination denied",
                    () -> "destination " + RoleContext.describe(destination) + " denied: " + decision.reason());
            return;
        }
        AuthResult auth = gate.authenticate(request, destination, System.currentTimeMillis(), System.nanoTime());
        if (auth instanceof AuthResult.Rejected rejected) {
            context.counters().authFailure();
            refuse(ctx, rejected.code(), "authentication failed",
                    () -> "authentication failed: " + rejected.reason());
            return;
        }
        if (auth instanceof AuthResult.Authenticated accepted && gate.quotaKey(accepted).isPresent()) {
            Optional<Quota<String>.Permit> keyPermit =
                    admission.connectionsPerKey().tryAcquire(gate.quotaKey(accepted).get());
            if (keyPermit.isEmpty()) {
                context.counters().admissionRefusal(AdmissionRefusal.CONNECTIONS_PER_KEY);
                refuse(ctx, ConvertErrorCode.RESOURCE_EXCEEDED, "key quota",
                        () -> admission.connectionsPerKey() + " reached for key '" + accepted.keyId() + "'");
                return;
            }
            client.closeFuture().addListener(f -> keyPermit.get().release());
        }
        trackMultipath(client);
        // The per-cpe table names the cpe by the key it proved (a session's or a cookie's), else by its address.
        CpeTable.CpeId cpe = auth instanceof AuthResult.Authenticated authenticated
                && gate.quotaKey(authenticated).isPresent()
                ? CpeTable.CpeId.key(gate.quotaKey(authenticated).get()) : CpeTable.CpeId.address(source);
        cpeRow = context.counters().cpes().openConnection(cpe);
        client.attr(CpeTable.CPE).set(cpe);
        CpeTable.Row counted = cpeRow;
        client.closeFuture().addListener(f -> counted.closeConnection());
        String label = RoleContext.describe((InetSocketAddress) client.remoteAddress()) + " -> "
                + RoleContext.describe(destination)
                + (auth instanceof AuthResult.Authenticated accepted ? " [" + accepted.keyId() + "]" : "");
        connecting = true;
        Bootstrap outbound = context.outboundBootstrap(client, context.transport().tcpClient(destination))
                .handler(NO_HANDLER);
        if (client instanceof StreamChannel) {
            // The server's bytes are copied into the session's send buffer as they are written to the stream, so
            // its reads can reuse the loop's buffers instead of a malloc'd one per read (ReusedReadBuffers).
            outbound.option(ChannelOption.RCVBUF_ALLOCATOR, ReusedReadBuffers.INSTANCE);
        }
        ChannelFuture connectFuture = outbound.connect(destination);
        Channel server = connectFuture.channel();
        client.closeFuture().addListener(f -> {
            if (!connectFuture.isDone()) {
                connectFuture.cancel(false);
                server.close();
            }
        });
        connectFuture.addListener(f -> {
            // A bootstrap that could not even create or register the channel (no file descriptor left) completes
            // its future on GlobalEventExecutor; everything below touches this handler's state, which belongs to
            // the client's event loop.
            if (client.eventLoop().inEventLoop()) {
                connected(ctx, f, server, label);
            } else {
                client.eventLoop().execute(() -> connected(ctx, f, server, label));
            }
        });
    }

    /**
     * From admission on, the connection's subflows are sampled (and counted as a fallback if it has none). Not
     * before: a refused connection carries a Convert header and an Error TLV, and sampling it (a pipeline handler, a
     * ledger, a getsockopt failing with an exception on a plain TCP socket at close) is work a flood of refused
     * requests must not cost.
     */
    private void trackMultipath(Channel client) {
        // A userspace stream is not a socket: it has neither an MPTCP fallback nor kernel subflows to sample.
        if (NativeSocketOptions.isKernelSocket(client)) {
            if (!NativeSocketOptions.isMptcp(client)) {
                context.counters().mptcpFallback(client);
            }
            context.multipathChannels().add(client);
        }
    }

    private void connected(ChannelHandlerContext ctx, Future<?> f, Channel server, String label) {
        Channel client = ctx.channel();
        connecting = false;
        if (!f.isSuccess()) {
            ConvertErrorCode code = codeFor(f.cause());
            refuse(ctx, code, "destination failed",
                    () -> label + ": " + (f.cause() == null ? "cancelled" : f.cause().getMessage()));
            return;
        }
        if (!client.isActive()) {
            release();
            server.close();
            releaseSlot();
            return;
        }
        // RFC 8803: the converter answers with a Convert message before it relays the server's bytes. On a kernel
        // MPTCP socket the answer waits (unflushed, at most REPLY_HOLD_NANOS) for the server's first bytes and leaves
        // with them in one send: sent alone, it sits unacknowledged in the subflow that carried it, and the kernel's
        // scheduler (the lowest queued bytes per pacing rate) then puts the server's answer on an idle slower
        // subflow, a whole 10 kB answer on LTE; it also costs a send here and a wake-up at the cpe.
        if (NativeSocketOptions.isKernelSocket(client)) {
            client.write(Unpooled.wrappedBuffer(REPLY), client.voidPromise());
            HeldFlushes.hold(client, REPLY_HOLD_NANOS);
        } else {
            client.writeAndFlush(Unpooled.wrappedBuffer(REPLY), client.voidPromise());
        }
        ByteBuf early = pending;
        pending = null;
        if (early.isReadable()) {
            server.writeAndFlush(early, server.voidPromise());
        } else {
            early.release();
        }
        ctx.pipeline().remove(this);
        slotHeld = false; // the relay releases it when it ends
        context.relay(client, server, label, cpeRow::relayed);
        if (finSeen) {
            client.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        }
        LOG.log(Level.DEBUG, () -> label + " relaying");
    }

    /**
     * RFC 8803 §4.2.2: a Client may send an Info TLV alone "to request the TCP extensions that are supported by a
     * Transport Converter"; the answer is a Supported TCP Extensions TLV. This converter relays no TCP options
     * end to end, so the list is empty. A request with neither Connect nor Info asks for nothing this converter
     * does: Unsupported Message.
     */
    private void answerInfo(ChannelHandlerContext ctx, ConvertMessage request) {
        releaseSlot();
        release();
        if (request.infoTlv().isEmpty()) {
            refuseWithoutAdmission(ctx, ConvertErrorCode.UNSUPPORTED_MESSAGE, "malformed",
                    () -> "Convert request without a Connect or Info TLV");
            return;
        }
        LOG.log(Level.DEBUG, () -> ctx.channel().remoteAddress() + " asked for the supported TCP extensions");
        answerAndClose(ctx, ConvertMessage.of(new SupportedTcpExtensionsTlv(List.of())));
    }

    /**
     * Maps why the destination could not be reached to RFC 8803's codes: a RST is "Connection Reset" (96), an
     * ICMP unreachable is "Destination Unreachable" (97), anything else on our side "Network Failure" (65).
     */
    static ConvertErrorCode codeFor(Throwable cause) {
        if (cause instanceof ConnectTimeoutException) {
            return ConvertErrorCode.DESTINATION_UNREACHABLE;
        }
        if (cause instanceof NoRouteToHostException) {
            return ConvertErrorCode.DESTINATION_UNREACHABLE;
        }
        String message = cause == null || cause.getMessage() == null ? "" : cause.getMessage().toLowerCase(Locale.ROOT);
        if (message.contains("refused")) {
            return ConvertErrorCode.CONNECTION_RESET;
        }
        if (message.contains("unreachable") || message.contains("no route")) {
            return ConvertErrorCode.DESTINATION_UNREACHABLE;
        }
        if (cause instanceof ConnectException || cause instanceof IOException) {
            return ConvertErrorCode.NETWORK_FAILURE;
        }
        return ConvertErrorCode.NETWORK_FAILURE;
    }

    /** Refuses as the RFC asks for this violation: with its Error TLV, or silently when the RFC says so. */
    private void refuse(ChannelHandlerContext ctx, ConvertProtocolException e, String what) {
        if (e.isSilent()) {
            decided = true;
            cancelDeadline();
            release();
            releaseSlot();
            context.counters().convertError(e.code());
            admission.refusals().refused("silent " + e.code(), source, () -> "closed " + ctx.channel().remoteAddress()
                    + " silently: " + what + ": " + e.reason());
            ctx.close();
            return;
        }
        refuse(ctx, e.code(), "malformed", () -> what + ": " + e.reason());
    }

    private void refuse(ChannelHandlerContext ctx, ConvertErrorCode code, String reason,
                        java.util.function.Supplier<String> detail) {
        releaseSlot();
        refuseWithoutAdmission(ctx, code, reason, detail);
    }

    /** Logs (rate-limited per reason and source) and answers with the Error TLV; holds no slot afterwards. */
    private void refuseWithoutAdmission(ChannelHandlerContext ctx, ConvertErrorCode code, String reason,
                                        java.util.function.Supplier<String> detail) {
        context.counters().convertError(code);
        admission.refusals().refused(code + " " + reason, source,
                () -> "refused " + ctx.channel().remoteAddress() + " with " + code + ": " + detail.get());
        answerAndClose(ctx, ERROR_ANSWERS.get(code));
    }

    /**
     * Sends {@code answer}, half-closes, and drains what the client still sends for a short while: closing with
     * unread data would make the kernel send a RST, which could destroy the answer before the CPE reads it. At most
     * {@link ConcentratorAdmission#maxLingering()} connections linger at once; beyond that they close at once.
     */
    private void answerAndClose(ChannelHandlerContext ctx, ConvertMessage answer) {
        answerAndClose(ctx, answer.encode());
    }

    private void answerAndClose(ChannelHandlerContext ctx, byte[] answer) {
        decided = true;
        cancelDeadline();
        release();
        Channel client = ctx.channel();
        if (admission.lingering().incrementAndGet() > admission.maxLingering()) {
            admission.lingering().decrementAndGet();
            client.writeAndFlush(Unpooled.wrappedBuffer(answer)).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        client.closeFuture().addListener(f -> admission.lingering().decrementAndGet());
        client.writeAndFlush(Unpooled.wrappedBuffer(answer))
                .addListener((ChannelFutureListener) f -> {
                    if (client instanceof DuplexChannel duplex && f.isSuccess()) {
                        duplex.shutdownOutput();
                    }
                });
        client.config().setAutoRead(true);
        // Held as the deadline, so that channelInactive cancels it: a flooding client closes long before the
        // linger ends, and 2 s of uncancelled timers at thousands of refusals a second made every timer operation
        // on the loop slower.
        deadline = client.eventLoop().schedule(() -> {
            client.close();
        }, LINGER_AFTER_ERROR_MILLIS, TimeUnit.MILLISECONDS);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            if (!decided) {
                refuse(ctx, ConvertErrorCode.MALFORMED_MESSAGE, "malformed",
                        () -> "connection half-closed before a full Convert message");
            } else if (pending != null) {
                finSeen = true; // still connecting: the relay replays this FIN once it exists
                return;
            } else {
                ctx.close(); // a refused client finished: nothing more to wait for
            }
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        decided = true;
        cancelDeadline();
        releaseSlot();
        release();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.log(Level.DEBUG, () -> "client connection error before relaying: " + cause);
        ctx.close();
    }

    /** Gives back this connection's max-connections slot, once, unless a relay took it over. */
    private void releaseSlot() {
        if (slotHeld) {
            slotHeld = false;
            context.counters().release();
        }
    }

    private void cancelDeadline() {
        if (deadline != null) {
            deadline.cancel(false);
            deadline = null;
        }
    }

    private void release() {
        if (pending != null) {
            pending.release();
            pending = null;
        }
    }

}
