package net.hybridproxy.proxy.role;

import io.netty.channel.Channel;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import net.hybridproxy.engine.auth.AuthResult;
import net.hybridproxy.engine.auth.ConvertAuthenticator;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.convert.ConvertMessage;
import net.hybridproxy.engine.convert.ConvertProtocolException;
import net.hybridproxy.engine.convert.ConvertRules;
import net.hybridproxy.engine.policy.Cidr;
import net.hybridproxy.engine.policy.ClientAllowlist;
import net.hybridproxy.engine.policy.DestinationPolicy;
import net.hybridproxy.engine.policy.PortRange;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.nativeio.NativeException;
import net.hybridproxy.proxy.transport.NativeSocketOptions;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** The concentrator: MPTCP listeners that turn RFC 8803 Convert requests into plain TCP to the destination. */
public final class ConcentratorRole implements Role {
    private static final System.Logger LOG = System.getLogger("hybridproxy.concentrator");

    private final RoleContext context;
    private final AppConfig.Concentrator concentrator;
    private final List<Channel> listeners = new ArrayList<>();

    public ConcentratorRole(RoleContext context) {
        this.context = context;
        this.concentrator = context.config().concentrator().orElseThrow();
    }

    @Override
    public void start() throws Exception {
        Gate gate = Gate.from(concentrator, localAddresses());
        ChannelFactory<ServerSocketChannel> factory = listenerFactory();
        for (InetSocketAddress address : concentrator.listen()) {
            Channel channel = context.serverBootstrap(factory)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new ConvertServerHandler(context, gate));
                        }
                    })
                    .bind(address).sync().channel();
            listeners.add(channel);
            LOG.log(System.Logger.Level.INFO, "concentrator listening (MPTCP) on " + channel.localAddress());
        }
    }

    private ChannelFactory<ServerSocketChannel> listenerFactory() {
        ChannelFactory<ServerSocketChannel> mptcp = context.transport().mptcpServer();
        int queue = concentrator.fastOpenQueue();
        if (queue == 0) {
            return mptcp;
        }
        return () -> {
            ServerSocketChannel channel = mptcp.newChannel();
            try {
                NativeSocketOptions.setFastOpenListener(channel, queue);
            } catch (NativeException e) {
                LOG.log(System.Logger.Level.WARNING, "TCP Fast Open unavailable on the listener (" + e.getMessage()
                        + "); clients will use a normal handshake");
            }
            return channel;
        };
    }

    private static Set<InetAddress> localAddresses() {
        Set<InetAddress> addresses = new HashSet<>();
        try {
            for (NetworkInterface nif : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                addresses.addAll(Collections.list(nif.getInetAddresses()));
            }
        } catch (SocketException e) {
            throw new ChannelException("cannot list local addresses for the destination policy", e);
        }
        return addresses;
    }

    @Override
    public List<Channel> listeners() {
        return List.copyOf(listeners);
    }

    @Override
    public void close() {
        listeners.forEach(Channel::close);
    }

    /** Who may use this concentrator and where to: shared, immutable after start (the verifier is thread-safe). */
    record Gate(ClientAllowlist sources, boolean checkSources, Optional<ConvertAuthenticator.Verifier> verifier,
                DestinationPolicy policy) {

        static Gate from(AppConfig.Concentrator config, Set<InetAddress> localAddresses) {
            List<Cidr> cidrs = config.authorizedCidrs().stream().map(Cidr::parse).toList();
            Optional<ConvertAuthenticator.Verifier> verifier = config.keys().isEmpty() ? Optional.empty()
                    : Optional.of(new ConvertAuthenticator.Verifier(
                            config.keys().stream().map(k -> new CpeKey(k.id(), k.secret())).toList(),
                            config.maxClockSkew(), config.replayCacheSize()));
            AppConfig.DestinationRules rules = config.destinations();
            DestinationPolicy policy = new DestinationPolicy(
                    rules.allow().stream().map(Cidr::parse).toList(),
                    rules.deny().stream().map(Cidr::parse).toList(),
                    rules.allowPorts().stream().map(PortRange::parse).toList(),
                    rules.denyPorts().stream().map(PortRange::parse).toList(),
                    Set.copyOf(config.listen()),
                    Set.copyOf(localAddresses));
            return new Gate(new ClientAllowlist(cidrs), !cidrs.isEmpty(), verifier, policy);
        }

        boolean sourceAllowed(InetAddress source) {
            return !checkSources || sources.permits(source);
        }

        void validateRequest(ConvertMessage request) throws ConvertProtocolException {
            ConvertRules.checkClientRequest(request, Set.of());
        }

        AuthResult authenticate(ConvertMessage request, InetSocketAddress destination, long nowEpochMillis) {
            return verifier.map(v -> v.verify(request.cookieTlv(), destination, nowEpochMillis))
                    .orElse(new AuthResult.Accepted("source-cidr"));
        }
    }
}
