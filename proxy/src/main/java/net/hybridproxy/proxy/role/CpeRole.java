package net.hybridproxy.proxy.role;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.relay.EarlyInbound;
import net.hybridproxy.proxy.config.AppConfig.Listener;
import net.hybridproxy.proxy.config.AppConfig.ListenerMode;
import net.hybridproxy.proxy.nativeio.NativeException;
import net.hybridproxy.proxy.transport.NativeSocketOptions;
import net.hybridproxy.proxy.userspace.UserspaceCpe;
import net.hybridproxy.proxy.userspace.UserspaceSettings;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/** The CPE: LAN listeners (TPROXY, REDIRECT, explicit) whose connections leave as MPTCP to the concentrator. */
public final class CpeRole implements Role {
    private static final System.Logger LOG = System.getLogger("hybridproxy.cpe");

    private final RoleContext context;
    private final AppConfig.Cpe cpe;
    private final List<Channel> listeners = new ArrayList<>();
    private Optional<UserspaceCpe> userspace = Optional.empty();
    private final LocalAddresses localAddresses = new LocalAddresses(java.time.Duration.ofSeconds(2));

    public CpeRole(RoleContext context) {
        this.context = context;
        this.cpe = context.config().cpe().orElseThrow();
    }

    @Override
    public void start() throws Exception {
        Optional<CpeKey> key = cpe.key().map(k -> new CpeKey(k.id(), k.secret()));
        Function<Channel, Bootstrap> multipath;
        Optional<CpeKey> cookieKey;
        if (context.config().engine() == AppConfig.Engine.USERSPACE) {
            UserspaceCpe engine = new UserspaceCpe(UserspaceSettings.from(context.config()), key.orElseThrow(),
                    cpe.concentrator(), UserspaceSettings.uplinks(context.config()),
                    UserspaceSettings.uplinkAddresses(context.config()), context.transport(), context.userspaceStats());
            engine.start(context.workerGroup());
            userspace = Optional.of(engine);
            AppConfig.Relay relay = context.config().relay();
            WriteBufferWaterMark marks = new WriteBufferWaterMark(relay.writeBufferLowWaterMark(),
                    relay.writeBufferHighWaterMark());
            multipath = client -> engine.streamBootstrap(client, marks);
            // The session proved the key once for all its streams (docs/userspace-protocol.md §4.1).
            cookieKey = Optional.empty();
        } else {
            ChannelFactory<SocketChannel> factory = multipathFactory();
            multipath = client -> context.outboundBootstrap(client, factory);
            cookieKey = key;
        }
        for (Listener listener : cpe.listeners()) {
            Channel channel = context.serverBootstrap(lanListenerFactory(listener))
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new EarlyInbound());
                            ch.pipeline().addLast(new CpeClientHandler(context, listener, cpe.concentrator(),
                                    multipath, cookieKey, localAddresses));
                        }
                    })
                    .bind(listener.bind()).sync().channel();
            listeners.add(channel);
            LOG.log(System.Logger.Level.INFO, "cpe listener " + listener.name() + " (" + listener.mode().name()
                    .toLowerCase() + ") on " + channel.localAddress() + " -> concentrator "
                    + RoleContext.describe(cpe.concentrator()));
        }
    }

    private ChannelFactory<ServerSocketChannel> lanListenerFactory(Listener listener) {
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

    private ChannelFactory<SocketChannel> multipathFactory() {
        ChannelFactory<SocketChannel> mptcp = context.transport().mptcpClient();
        if (!cpe.fastOpen()) {
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
        userspace.ifPresent(UserspaceCpe::close);
        localAddresses.close();
    }

    /** The userspace engine, when it is the one selected. */
    public Optional<UserspaceCpe> userspace() {
        return userspace;
    }
}
