package net.hybridproxy.proxy.role;

import io.netty.channel.Channel;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
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
import net.hybridproxy.proxy.ops.FileDescriptorBudget;
import net.hybridproxy.proxy.transport.MptcpFastOpen;
import net.hybridproxy.proxy.transport.NativeSocketOptions;
import net.hybridproxy.proxy.userspace.UserspaceConcentrator;
import net.hybridproxy.proxy.userspace.UserspaceSettings;

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
    /** The kernel-engine listeners by configured address (reload adds and removes them). */
    private final java.util.Map<InetSocketAddress, List<Channel>> kernelListeners = new java.util.LinkedHashMap<>();
    /** Who may connect and where to; replaced as a whole by a reload, read by each new connection. */
    private volatile Gate gate;
    private Optional<UserspaceConcentrator> userspace = Optional.empty();
    private final ConcentratorAdmission admission;

    public ConcentratorRole(RoleContext context) {
        this.context = context;
        this.concentrator = context.config().concentrator().orElseThrow();
        this.admission = ConcentratorAdmission.from(concentrator.admission(), LOG, context.config());
    }

    @Override
    public void start() throws Exception {
        gate = Gate.from(concentrator, localAddresses(), Optional.empty());
        if (!concentrator.userspaceListen().isEmpty()) {
            startUserspace(gate);
        }
        if (context.config().engine() != AppConfig.Engine.KERNEL) {
            return; // no kernel MPTCP listeners: this host may have no MPTCP at all
        }
        for (InetSocketAddress address : concentrator.listen()) {
            bindKernelListener(address);
        }
    }

    private void bindKernelListener(InetSocketAddress address) throws InterruptedException {
        List<Channel> bound = context.bindListener(listenerFactory(), new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel ch) {
                if (concentrator.mptcpSendBuffer() > 0) {
                    // The kernel copies it to every subflow, those that join later included.
                    ch.config().setOption(ChannelOption.SO_SNDBUF, concentrator.mptcpSendBuffer());
                }
                ch.pipeline().addLast(new ConvertServerHandler(context, gate, admission));
            }
        }, address);
        if (!concentrator.mptcpCongestionControl().isEmpty()) {
            for (Channel listener : bound) {
                setCongestionControl(listener, concentrator.mptcpCongestionControl());
            }
        }
        if (FileDescriptorBudget.shortOfDescriptors(FileDescriptorBudget.currentLimit(), context.config(),
                ConcentratorAdmission.MAX_LINGERING)) {
            bound.forEach(channel -> channel.pipeline().addFirst(
                    new AcceptBudget(FileDescriptorBudget.ACCEPT_RUN_AHEAD)));
        }
        synchronized (listeners) {
            listeners.addAll(bound);
            kernelListeners.put(address, bound);
        }
        LOG.log(System.Logger.Level.INFO, "concentrator listening (MPTCP) on " + RoleContext.describeBound(bound));
    }

    /** The congestion control key on each bound MPTCP listener; a name the kernel refuses stops the start. */
    private static void setCongestionControl(Channel listener, String algorithm) {
        if (!NativeSocketOptions.isKernelSocket(listener)) {
            throw new IllegalStateException(
                    "concentrator.mptcp-congestion-control needs the epoll or io_uring transport");
        }
        try {
            NativeSocketOptions.setCongestionControl(listener, algorithm);
        } catch (NativeException e) {
            throw new IllegalStateException("concentrator.mptcp-congestion-control = " + algorithm
                    + " refused by the kernel (" + e.getMessage()
                    + "); see net.ipv4.tcp_available_congestion_control", e);
        }
    }

    /**
     * Applies a reloaded configuration without touching established connections: new connections see the new
     * keys, authorized CIDRs and destination policy (the replay windows of the keys that stay are kept); listeners
     * that appeared are bound first (a failure applies nothing), those that disappeared stop accepting while their
     * connections go on. The userspace engine's keys and listeners and the admission quotas need a restart.
     */
    public void reconfigure(AppConfig.Concentrator next) throws InterruptedException {
        Gate nextGate = Gate.from(next, localAddresses(), gate.verifier());
        List<InetSocketAddress> added = new ArrayList<>();
        if (context.config().engine() == AppConfig.Engine.KERNEL) {
            try {
                for (InetSocketAddress address : next.listen()) {
                    if (!kernelListeners.containsKey(address)) {
                        bindKernelListener(address);
                        added.add(address);
                    }
                }
            } catch (RuntimeException | InterruptedException e) {
                added.forEach(this::closeKernelListener);
                throw e;
            }
        }
        gate = nextGate;
        for (InetSocketAddress address : List.copyOf(kernelListeners.keySet())) {
            if (!next.listen().contains(address)) {
                closeKernelListener(address);
            }
        }
        LOG.log(System.Logger.Level.INFO, "concentrator reconfigured: " + next.keys().size() + " keys, "
                + next.authorizedCidrs().size() + " authorized CIDRs, listeners " + kernelListeners.keySet());
    }

    private void closeKernelListener(InetSocketAddress address) {
        List<Channel> bound;
        synchronized (listeners) {
            bound = kernelListeners.remove(address);
            if (bound != null) {
                listeners.removeAll(bound);
            }
        }
        if (bound != null) {
            bound.forEach(Channel::close);
            LOG.log(System.Logger.Level.INFO, "concentrator stopped listening on " + address);
        }
    }

    private void startUserspace(Gate gate) throws InterruptedException {
        UserspaceConcentrator engine = new UserspaceConcentrator(UserspaceSettings.from(context.config()),
                concentrator.keys().stream().map(k -> new CpeKey(k.id(), k.secret())).toList(),
                gate::sourceAllowed,
                session -> new ConvertServerHandler(context, this.gate.forSession(session.keyId()), admission),
                UserspaceSettings.STREAM_WATER_MARK, context.userspaceStats(), context.counters().cpes(),
                concentrator.admission().refusalLogInterval());
        userspace = Optional.of(engine);
        UserspaceSettings.processMemoryNotice(context.config()).ifPresent(line -> LOG.log(System.Logger.Level.INFO,
                line));
        List<InetSocketAddress> announced = UserspaceSettings.announcements(context.config());
        if (!announced.isEmpty()) {
            engine.announceToNewSessions(announced);
            LOG.log(System.Logger.Level.INFO, "userspace sessions announce " + announced.stream()
                    .map(a -> a.getAddress().getHostAddress() + ":" + a.getPort()).toList()
                    + "; cpes join there (path-manager.announce)");
        }
        for (InetSocketAddress address : concentrator.userspaceListen()) {
            Channel channel = engine.listen(address, context.acceptGroup(), context.workerGroup(),
                    context.transport().tcpServer());
            listeners.add(channel);
            LOG.log(System.Logger.Level.INFO, "concentrator listening (userspace multipath) on "
                    + channel.localAddress());
        }
    }

    private ChannelFactory<ServerSocketChannel> listenerFactory() {
        ChannelFactory<ServerSocketChannel> mptcp = context.transport().mptcpServer();
        int queue = concentrator.fastOpenQueue();
        if (queue == 0) {
            return mptcp;
        }
        if (!MptcpFastOpen.usableHere()) {
            // A TFO-opened MPTCP connection collapses on this kernel (docs/decisions.md), whatever the clients do.
            LOG.log(System.Logger.Level.INFO, "not enabling TCP Fast Open on the MPTCP listeners: kernel "
                    + MptcpFastOpen.runningRelease().orElse("(unknown)") + " collapses MPTCP fast open connections");
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
        synchronized (listeners) {
            return List.copyOf(listeners);
        }
    }

    @Override
    public void close() {
        listeners().forEach(Channel::close);
        userspace.ifPresent(UserspaceConcentrator::close);
    }

    /** The userspace engine, when userspace listeners are configured. */
    public Optional<UserspaceConcentrator> userspace() {
        return userspace;
    }

    /**
     * Who may use this concentrator and where to: shared, immutable after start (the verifier is thread-safe).
     * {@code sessionKeyId} is set for the streams of a userspace session, which proved its cpe key when it was
     * established: their Convert messages need no Cookie TLV, and their sources were checked per subflow.
     */
    record Gate(ClientAllowlist sources, boolean checkSources, Optional<ConvertAuthenticator.Verifier> verifier,
                DestinationPolicy policy, Optional<String> sessionKeyId) {

        /** @param previous the verifier this gate replaces, whose replay windows carry over (a reload) */
        static Gate from(AppConfig.Concentrator config, Set<InetAddress> localAddresses,
                         Optional<ConvertAuthenticator.Verifier> previous) {
            List<Cidr> cidrs = config.authorizedCidrs().stream().map(Cidr::parse).toList();
            List<CpeKey> keys = config.keys().stream().map(k -> new CpeKey(k.id(), k.secret())).toList();
            Optional<ConvertAuthenticator.Verifier> verifier = config.keys().isEmpty() ? Optional.empty()
                    : Optional.of(previous.map(p -> p.reconfigured(keys, config.maxClockSkew(), config.replayCacheSize()))
                            .orElseGet(() -> new ConvertAuthenticator.Verifier(keys, config.maxClockSkew(),
                                    config.replayCacheSize())));
            AppConfig.DestinationRules rules = config.destinations();
            DestinationPolicy policy = new DestinationPolicy(
                    rules.allow().stream().map(Cidr::parse).toList(),
                    rules.deny().stream().map(Cidr::parse).toList(),
                    rules.allowPorts().stream().map(PortRange::parse).toList(),
                    rules.denyPorts().stream().map(PortRange::parse).toList(),
                    Set.copyOf(config.listen()),
                    Set.copyOf(localAddresses));
            return new Gate(new ClientAllowlist(cidrs), !cidrs.isEmpty(), verifier, policy, Optional.empty());
        }

        /** The gate for the streams of a session authenticated with the key {@code keyId}. */
        Gate forSession(String keyId) {
            return new Gate(sources, false, Optional.empty(), policy, Optional.of(keyId));
        }

        boolean sourceAllowed(InetAddress source) {
            return !checkSources || sources.permits(source);
        }

        void validateRequest(ConvertMessage request) throws ConvertProtocolException {
            ConvertRules.checkClientRequest(request, Set.of());
        }

        AuthResult authenticate(ConvertMessage request, InetSocketAddress destination, long nowEpochMillis,
                                long nowMonotonicNanos) {
            if (sessionKeyId.isPresent()) {
                return new AuthResult.Authenticated(sessionKeyId.get());
            }
            return verifier.map(v -> v.verify(request.cookieTlv(), destination, nowEpochMillis, nowMonotonicNanos))
                    .orElse(new AuthResult.Authenticated(SOURCE_CIDR));
        }

        /** The key whose connection quota this accepted request counts against; none when only the CIDR vouched. */
        Optional<String> quotaKey(AuthResult.Authenticated accepted) {
            return SOURCE_CIDR.equals(accepted.keyId()) && verifier.isEmpty() && sessionKeyId.isEmpty()
                    ? Optional.empty() : Optional.of(accepted.keyId());
        }

        private static final String SOURCE_CIDR = "source-cidr";
    }
}
