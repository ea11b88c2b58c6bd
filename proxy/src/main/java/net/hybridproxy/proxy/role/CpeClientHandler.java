package net.hybridproxy.proxy.role;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import net.hybridproxy.engine.auth.ConvertAuthenticator;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.convert.ConvertMessage;
import net.hybridproxy.proxy.config.AppConfig.ListenerConfig;
import net.hybridproxy.proxy.config.AppConfig.ListenerMode;
import net.hybridproxy.proxy.nativeio.NativeException;
import net.hybridproxy.proxy.relay.EarlyInbound;
import net.hybridproxy.proxy.relay.RelaySession;
import net.hybridproxy.proxy.transport.NativeSocketOptions;
import net.hybridproxy.proxy.upstream.ConcentratorMonitor;
import net.hybridproxy.proxy.upstream.ConcentratorSelector.Choice;

import java.lang.System.Logger.Level;
import java.net.InetSocketAddress;
import java.util.HashSet;
import java.security.SecureRandom;
import java.util.Optional;
import java.util.Set;
import java.util.function.BiFunction;

/**
 * CPE, each LAN connection of one listener (one instance per listener, the only handler an accepted channel starts
 * with; it removes itself at once): find where the client meant to go, open an MPTCP connection to the concentrator whose
 * first bytes are the RFC 8803 Convert message naming that destination, then relay. Client bytes follow the
 * Convert message at once (0-RTT: the client does not wait for the concentrator's answer); the concentrator's
 * answer is consumed by {@link ConvertReplyHandler} before server bytes reach the client.
 */
@ChannelHandler.Sharable
final class CpeClientHandler extends ChannelInboundHandlerAdapter {
    private static final System.Logger LOG = System.getLogger("hybridproxy.cpe");
    private static final SecureRandom NONCES = new SecureRandom();

    private final RoleContext context;
    private final ListenerConfig listener;
    private final ConcentratorMonitor concentrators;
    private final BiFunction<Channel, InetSocketAddress, Bootstrap> multipath;
    private final Optional<CpeKey> key;
    private final Optional<String> pinnedUplink;
    private final Optional<WarmPool> pool;
    private final LocalAddresses localAddresses;
    private final ConcentratorReplies replies;

    /**
     * @param multipath    the bootstrap of the connection to a concentrator's address, on the client's loop: a kernel
     *                     MPTCP socket or a userspace stream, or a plain TCP socket bound to one uplink
     * @param key          the key to prove in the Cookie TLV on every connection (empty: no Cookie TLV)
     * @param pinnedUplink the uplink a bypass rule pinned these connections to (then {@code multipath} opens plain
     *                     TCP on it with the kernel engine, a stream pinned to it with the userspace engine), or
     *                     empty
     * @param pool         ready kernel MPTCP connections to take before opening one (empty: always open one)
     * @param localAddresses this host's own addresses, which a transparent listener refuses as destinations
     * @param concentrators  which concentrator a new connection goes to, and where its failures are reported
     * @param replies        the bound on the wait for each Convert reply, and the logs of what replies bring
     */
    CpeClientHandler(RoleContext context, ListenerConfig listener, ConcentratorMonitor concentrators,
                     BiFunction<Channel, InetSocketAddress, Bootstrap> multipath, Optional<CpeKey> key,
                     Optional<String> pinnedUplink, Optional<WarmPool> pool, LocalAddresses localAddresses,
                     ConcentratorReplies replies) {
        this.localAddresses = localAddresses;
        this.replies = replies;
        this.context = context;
        this.listener = listener;
        this.concentrators = concentrators;
        this.multipath = multipath;
        this.key = key;
        this.pinnedUplink = pinnedUplink;
        this.pool = pool;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        Channel client = ctx.channel();
        ctx.pipeline().remove(this);
        if (!context.counters().tryAdmit()) {
            LOG.log(Level.WARNING, "connection limit reached; refusing " + client.remoteAddress());
            RelaySession.reset(client);
            return;
        }
        InetSocketAddress destination;
        try {
            destination = originalDestination(client);
        } catch (NativeException e) {
            context.counters().release();
            LOG.log(Level.WARNING, "cannot find the original destination of " + client.remoteAddress() + ": "
                    + e.getMessage());
            RelaySession.reset(client);
            return;
        }
        String label = listener.name() + pinnedUplink.map(u -> "@" + u).orElse("") + " "
                + RoleContext.describe((InetSocketAddress) client.remoteAddress()) + " -> "
                + RoleContext.describe(destination);
        // A transparent listener also accepts connections made to it directly (the capture rule skips local
        // destinations): a client that dialled this host itself, e.g. the WAN address on the listener's port. Sent
        // on, the concentrator would dial that address, reach this listener from outside, and loop until both
        // sides are full. This host is served locally or not at all.
        if (listener.mode() != ListenerMode.EXPLICIT && localAddresses.contains(destination.getAddress())) {
            context.counters().release();
            context.counters().selfLoopRefused();
            LOG.log(Level.DEBUG, () -> label + ": refused, the destination is this cpe itself (self-loop)");
            RelaySession.reset(client);
            return;
        }
        byte[] convert = convertMessage(destination).encode();

        Optional<Channel> ready = pool.flatMap(p -> p.take(client.eventLoop()));
        if (ready.isPresent()) {
            Channel outbound = ready.get();
            WarmPool.prepareForRelay(outbound);
            WarmPool.ReadyHandler pooled = outbound.pipeline().get(WarmPool.ReadyHandler.class);
            outbound.pipeline().replace(pooled, null,
                    new ConvertReplyHandler(client, replies, pooled.destination(), label, true));
            // The client's first bytes usually wait in its socket already: then the request is left for the relay's
            // flush of them, one send with both. Sent alone, it sits unacknowledged on the subflow that carried it,
            // and the kernel's scheduler puts the client's bytes on the other (idle) subflow, LTE. With nothing
            // waiting (a server-speaks-first protocol, or a client slower than this) it leaves at once.
            carry(client, outbound, convert, label, !NativeSocketOptions.isKernelSocket(client)
                    || NativeSocketOptions.bytesToRead(client) == 0);
            return;
        }
        // No ready connection: the connect takes a round trip, during which the client may send and even finish.
        // Read once now into a holder that the relay replays (a pool hit needs none: its relay is joined above,
        // before anything is read).
        client.pipeline().addLast(new EarlyInbound());
        client.read();
        connect(client, convert, label, concentrators.choice(), new HashSet<>());
    }

    /**
     * Opens the connection to {@code target}. When that fails and the failure moved new connections to another
     * concentrator (a refused connect marks a concentrator down at once), this client tries that one too, once
     * each: a primary that has just died costs the first clients nothing but a round trip.
     */
    private void connect(Channel client, byte[] convert, String label, Choice target, Set<String> tried) {
        tried.add(target.concentrator().name());
        InetSocketAddress concentrator = target.concentrator().address();
        ChannelFuture connect = multipath.apply(client, concentrator)
                .handler(new ConvertReplyHandler(client, replies, target, label, pinnedUplink.isEmpty()))
                .connect(concentrator);
        Channel outbound = connect.channel();
        // A client that leaves before the concentrator connection is up takes the half-open attempt with it.
        client.closeFuture().addListener(f -> {
            if (!connect.isDone()) {
                connect.cancel(false);
                outbound.close();
            }
        });
        connect.addListener(f -> {
            if (!f.isSuccess()) {
                if (connect.isCancelled() || !client.isActive()) {
                    context.counters().release();
                    return;
                }
                // A userspace stream fails with its session, which reports for itself (UserspaceCpe).
                boolean socket = !(outbound instanceof net.hybridproxy.proxy.userspace.StreamChannel);
                if (socket) {
                    concentrators.connectFailed(target, f.cause());
                }
                Choice next = concentrators.choice();
                if (socket && !tried.contains(next.concentrator().name())) {
                    LOG.log(Level.DEBUG, () -> label + ": concentrator " + target.concentrator().name()
                            + " unreachable, trying " + next.concentrator().name());
                    connect(client, convert, label, next, tried);
                    return;
                }
                context.counters().release();
                LOG.log(Level.WARNING, label + ": cannot reach the concentrator " + RoleContext.describe(concentrator)
                        + ": " + (f.cause() == null ? "cancelled" : f.cause().getMessage()));
                RelaySession.reset(client);
                return;
            }
            concentrators.connected(target);
            if (!client.isActive()) {
                context.counters().release();
                outbound.close();
                return;
            }
            carry(client, outbound, convert, label, true);
        });
    }

    /**
     * The Convert request first, then the client's bytes: relay the pair. Unless {@code flushNow}, the request stays
     * unflushed until the relay's first read of the client flushes it with the bytes read (the caller saw them
     * waiting in the client's socket).
     */
    private void carry(Channel client, Channel outbound, byte[] convert, String label, boolean flushNow) {
        if (NativeSocketOptions.isKernelSocket(outbound)) {
            context.multipathChannels().add(outbound);
        }
        // With TCP_FASTOPEN_CONNECT this first write is what the kernel puts in the SYN; on a ready connection
        // from the warm pool it is the connection's first data. After a miss, the relay replays what the client
        // sent during the connect behind it and both leave in one send. A pool hit joins before the client's first
        // read: the request and the bytes already waiting leave together at that read's flush.
        outbound.write(Unpooled.wrappedBuffer(convert), outbound.voidPromise());
        context.relay(client, outbound, label);
        if (flushNow) {
            outbound.flush();
        }
    }

    private InetSocketAddress originalDestination(Channel client) throws NativeException {
        return switch (listener.mode()) {
            // TPROXY keeps the destination untouched: the accepted socket's local address is where the client went.
            case TPROXY -> (InetSocketAddress) client.localAddress();
            case REDIRECT -> NativeSocketOptions.originalDestination(client);
            case EXPLICIT -> listener.destination().orElseThrow();
        };
    }

    private ConvertMessage convertMessage(InetSocketAddress destination) {
        return ConvertMessage.connect(destination, key.map(k -> {
            byte[] nonce = new byte[16];
            NONCES.nextBytes(nonce);
            return ConvertAuthenticator.prove(k, destination, System.currentTimeMillis(), nonce);
        }));
    }
}
