package net.hybridproxy.proxy.role;

import io.micrometer.core.instrument.MeterRegistry;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelFactory;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.AppConfig.ListenerConfig;
import net.hybridproxy.proxy.config.AppConfig.ListenerMode;
import net.hybridproxy.proxy.nativeio.NativeException;
import net.hybridproxy.proxy.transport.MptcpFastOpen;
import net.hybridproxy.proxy.transport.NativeSocketOptions;
import net.hybridproxy.proxy.userspace.UserspaceCpe;
import net.hybridproxy.proxy.userspace.UserspaceSettings;
import net.hybridproxy.proxy.upstream.ConcentratorMonitor;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.BiFunction;

/** The CPE: LAN listeners (TPROXY, REDIRECT, explicit) whose connections leave as MPTCP to the concentrator. */
public final class CpeRole implements Role {
    private static final System.Logger LOG = System.getLogger("hybridproxy.cpe");

    private final RoleContext context;
    private final AppConfig.Cpe cpe;
    private final List<Channel> listeners = new ArrayList<>();
    private Optional<UserspaceCpe> userspace = Optional.empty();
    private Optional<WarmPool> pool = Optional.empty();
    private final LocalAddresses localAddresses = new LocalAddresses(java.time.Duration.ofSeconds(2));
    private final ConcentratorMonitor concentrators;
    private final ConcentratorReplies replies;

    public CpeRole(RoleContext context) {
        this.context = context;
        this.cpe = context.config().cpe().orElseThrow();
        this.concentrators = new ConcentratorMonitor(cpe.concentrators(), cpe.healthCheck());
        this.replies = new ConcentratorReplies(cpe.convertReplyTimeout(), context.counters(), concentrators);
    }

    /** The concentrator list, its health and the active one. */
    public ConcentratorMonitor concentrators() {
        return concentrators;
    }

    @Override
    public void start() throws Exception {
        Optional<CpeKey> key = cpe.key().map(k -> new CpeKey(k.id(), k.secret()));
        // The outbound leg of a client's connection to a concentrator's address.
        BiFunction<Channel, InetSocketAddress, Bootstrap> multipath;
        // A connection a bypass rule pins to the uplink with this index: how its outbound leg is opened.
        java.util.function.IntFunction<BiFunction<Channel, InetSocketAddress, Bootstrap>> pinnedOutbound;
        Optional<CpeKey> cookieKey;
        boolean userspaceEngine = context.config().engine() == AppConfig.Engine.USERSPACE;
        // Probes reach each concentrator the way the engine does: a plain TCP subflow or an MPTCP socket.
        concentrators.start(context.workerGroup(), userspaceEngine ? context.transport().tcpClient()
                : context.transport().mptcpClient());
        if (userspaceEngine) {
            UserspaceCpe engine = new UserspaceCpe(UserspaceSettings.from(context.config()), key.orElseThrow(),
                    concentrators, UserspaceSettings.uplinks(context.config()),
                    UserspaceSettings.uplinkAddresses(context.config()), context.transport(), context.userspaceStats());
            engine.start(context.workerGroup());
            userspace = Optional.of(engine);
            UserspaceSettings.processMemoryNotice(context.config()).ifPresent(line -> LOG.log(System.Logger.Level.INFO,
                    line));
            AppConfig.Relay relay = context.config().relay();
            WriteBufferWaterMark marks = new WriteBufferWaterMark(relay.writeBufferLowWaterMark(),
                    relay.writeBufferHighWaterMark());
            multipath = (client, concentrator) -> engine.streamBootstrap(client, marks);
            // A stream of the loop's session whose frames use that uplink's subflows only (and ask the concentrator
            // to answer over the same address): the session's key and the concentrator's port as for any stream.
            pinnedOutbound = index -> (client, concentrator) -> engine.streamBootstrap(client, marks,
                    context.config().uplinks().get(index).name());
            // The session proved the key once for all its streams (docs/userspace-protocol.md §4.1).
            cookieKey = Optional.empty();
        } else {
            boolean fastOpen = fastOpenUsable();
            multipath = (client, concentrator) -> context.outboundBootstrap(client,
                    multipathFactory(concentrator, fastOpen));
            // Plain TCP from that uplink's address, which its policy route sends out that uplink only.
            pinnedOutbound = index -> (client, concentrator) -> context
                    .outboundBootstrap(client, context.transport().tcpClient())
                    .localAddress(context.config().uplinks().get(index).address(), 0);
            cookieKey = key;
            if (cpe.warmPool().size() > 0) {
                WarmPool warm = new WarmPool(context, concentrators, context.transport()::mptcpClient,
                        cpe.warmPool());
                warm.start();
                pool = Optional.of(warm);
            }
        }
        boolean pinning = cpe.bypass().stream().anyMatch(b -> b.action() == AppConfig.BypassAction.PROXY);
        List<AppConfig.UplinkConfig> uplinks = context.config().uplinks();
        for (ListenerConfig listener : cpe.listeners()) {
            listen(listener, listener.bind(), multipath, cookieKey, Optional.empty(), pool);
            if (pinning && listener.mode() != ListenerMode.EXPLICIT) {
                // Connections a bypass rule pins to one uplink (ConfigLoader checked the ports). The warm pool's
                // connections are multipath, so these never take one.
                for (int i = 0; i < uplinks.size(); i++) {
                    listen(listener, listener.pinnedBind(i), pinnedOutbound.apply(i), cookieKey,
                            Optional.of(uplinks.get(i).name()), Optional.empty());
                }
            }
        }
    }

    private void listen(ListenerConfig listener, InetSocketAddress bind,
                        BiFunction<Channel, InetSocketAddress, Bootstrap> outbound,
                        Optional<CpeKey> cookieKey, Optional<String> pinnedUplink, Optional<WarmPool> readyConnections)
            throws InterruptedException {
        // One sharable handler for the listener's connections, rather than an initializer that builds two handlers
        // per connection: a connection served from the warm pool needs nothing else before its relay.
        // A userspace cpe's connections go to a loop whose session is warm (UserspaceCpe.lanConnectionLoops); the
        // kernel engine's to the worker loops in turn.
        List<Channel> bound = context.bindListener(lanListenerFactory(listener),
                new CpeClientHandler(context, listener, concentrators, outbound, cookieKey, pinnedUplink,
                        readyConnections, localAddresses, replies), bind,
                userspace.map(UserspaceCpe::lanConnectionLoops).orElse(null));
        listeners.addAll(bound);
        LOG.log(System.Logger.Level.INFO, "cpe listener " + listener.name() + pinnedUplink.map(u -> "@" + u)
                .orElse("") + " (" + listener.mode().name().toLowerCase() + ") on " + RoleContext.describeBound(bound)
                + " -> concentrators " + cpe.concentrators().stream().map(c -> c.name()).toList()
                + pinnedUplink.map(u -> " over " + u + " only").orElse(""));
    }

    private ChannelFactory<ServerSocketChannel> lanListenerFactory(ListenerConfig listener) {
        ChannelFactory<ServerSocketChannel> plain = context.transport().tcpServer();
        if (listener.mode() != ListenerMode.TPROXY) {
            return plain;
        }
        return () -> {
            ServerSocketChannel channel = plain.newChannel();
            try {
                NativeSocketOptions.setTransparent(channel);
            } catch (NativeException e) {
                channel.unsafe().closeForcibly();
                throw new ChannelException("listener " + listener.name()
                        + ": IP_TRANSPARENT refused (TPROXY needs CAP_NET_ADMIN): " + e.getMessage(), e);
            }
            return channel;
        };
    }

    /** Whether the cpe's MPTCP connects ask for TCP Fast Open; said once, at start, when the kernel rules it out. */
    private boolean fastOpenUsable() {
        if (!cpe.fastOpen()) {
            return false;
        }
        if (!MptcpFastOpen.usableHere()) {
            LOG.log(System.Logger.Level.INFO, "not using TCP Fast Open on MPTCP sockets: kernel "
                    + MptcpFastOpen.runningRelease().orElse("(unknown)") + " collapses MPTCP fast open connections "
                    + "(docs/decisions.md); the warm pool gives the 0-RTT start");
            return false;
        }
        return true;
    }

    private ChannelFactory<SocketChannel> multipathFactory(InetSocketAddress concentrator, boolean fastOpen) {
        ChannelFactory<SocketChannel> mptcp = context.transport().mptcpClient(concentrator);
        if (!fastOpen) {
            return mptcp;
        }
        return () -> {
            SocketChannel channel = mptcp.newChannel();
            NativeSocketOptions.trySetFastOpenConnect(channel);
            return channel;
        };
    }

    @Override
    public List<Channel> listeners() {
        return List.copyOf(listeners);
    }

    @Override
    public void close() {
        listeners.forEach(Channel::close);
        concentrators.close();
        pool.ifPresent(WarmPool::close);
        userspace.ifPresent(UserspaceCpe::close);
        localAddresses.close();
    }

    /** The kernel engine's warm pool, when there is one. */
    public void bindWarmPoolMetrics(MeterRegistry registry) {
        pool.ifPresent(p -> p.bindTo(registry));
    }

    /** The userspace engine, when it is the one selected. */
    public Optional<UserspaceCpe> userspace() {
        return userspace;
    }
}
