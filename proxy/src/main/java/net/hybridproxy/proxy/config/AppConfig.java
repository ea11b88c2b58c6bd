package net.hybridproxy.proxy.config;

import net.hybridproxy.engine.policy.Cidr;
import net.hybridproxy.engine.policy.PortRange;
import net.hybridproxy.proxy.logging.LogSettings;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/** The validated configuration of one process. Built only by {@link ConfigLoader}. */
public record AppConfig(
        ApplianceRole role,
        Engine engine,
        TransportPreference transport,
        int eventLoopThreads,
        boolean acceptOnEventLoops,
        int maxConnections,
        List<UplinkConfig> uplinks,
        PathManagerConfig pathManager,
        Relay relay,
        Admin admin,
        Optional<Cpe> cpe,
        Optional<Concentrator> concentrator,
        Optional<Sidecar> sidecar,
        Userspace userspace,
        LogSettings log,
        Duration shutdownGracePeriod) {

    public enum ApplianceRole { CPE, CONCENTRATOR, SIDECAR }

    public enum Engine { KERNEL, USERSPACE }

    public enum TransportPreference { AUTO, IO_URING, EPOLL, NIO }

    public enum UplinkRole { PRIMARY, OVERFLOW, BACKUP }

    public record UplinkConfig(String name, String interfaceName, InetAddress address, Optional<InetAddress> gateway,
                         UplinkRole role) {
    }

    public record PathManagerConfig(boolean manageEndpoints, boolean installRoutes, int routeTableBase,
                              int rulePriority, int maxSubflows, int maxAddAddrAccepted,
                              List<InetAddress> announce, boolean allowJoinInitialAddress, int announcePort) {
        /** Joins to the initial address allowed (the kernel's default). */
        public PathManagerConfig(boolean manageEndpoints, boolean installRoutes, int routeTableBase, int rulePriority,
                           int maxSubflows, int maxAddAddrAccepted, List<InetAddress> announce) {
            this(manageEndpoints, installRoutes, routeTableBase, rulePriority, maxSubflows, maxAddAddrAccepted,
                    announce, true, 0);
        }
    }

    /**
     * The admin server: metrics, health, status API and page, uplink actions, reload.
     *
     * @param token          empty for none (then {@code bind} is a loopback address; the loader enforces it)
     * @param sampleInterval how often per-subflow kernel state is sampled for metrics and the status page
     */
    public record Admin(boolean enabled, InetSocketAddress bind, String token, Duration sampleInterval,
                        List<String> allowedHosts) {
        @Override
        public String toString() {
            return "Admin[enabled=" + enabled + ", bind=" + bind + ", token=" + (token.isEmpty() ? "none" : "<redacted>")
                    + ", sampleInterval=" + sampleInterval + "]";
        }
    }

    /**
     * @param firstReadBytes the size of a relayed channel's first read ({@code relay.first-read-size}); later reads
     *                       follow what the earlier ones returned (Netty's adaptive sizing)
     */
    public record Relay(Duration connectTimeout, Duration idleTimeout, int writeBufferHighWaterMark,
                        int writeBufferLowWaterMark, int firstReadBytes) {
    }

    public enum ListenerMode { TPROXY, REDIRECT, EXPLICIT }

    public record ListenerConfig(String name, ListenerMode mode, InetSocketAddress bind,
                           Optional<InetSocketAddress> destination, Optional<String> captureInterface,
                           List<String> capturePorts) {
        /**
         * Where this transparent listener accepts the connections a bypass rule pins to uplink number
         * {@code uplinkIndex} (configuration order): its own port plus one plus that number.
         */
        public InetSocketAddress pinnedBind(int uplinkIndex) {
            return new InetSocketAddress(bind.getAddress(), bind.getPort() + 1 + uplinkIndex);
        }
    }

    /**
     * @param concentrators where the multipath side goes, in priority order (the first is the primary); one element
     *                      when only the single {@code cpe.concentrator} key is set
     * @param healthCheck   how the cpe decides which of {@code concentrators} is usable
     * @param convertReplyTimeout how long a LAN connection whose concentrator connection is established waits for
     *                      the concentrator's Convert reply before it is reset ({@code cpe.convert-reply-timeout})
     */
    public record Cpe(List<UpstreamConcentrator> concentrators, HealthCheck healthCheck, List<ListenerConfig> listeners,
                      boolean fastOpen, boolean installCaptureRules, Optional<KeyRef> key, WarmPoolConfig warmPool,
                      List<Bypass> bypass, Duration convertReplyTimeout) {
        public Cpe {
            concentrators = List.copyOf(concentrators);
            if (concentrators.isEmpty()) {
                throw new IllegalArgumentException("a cpe needs at least one concentrator");
            }
        }

        /** The same cpe with other bypass rules: what a reload may change without a restart. */
        public Cpe withBypass(List<Bypass> rules) {
            return new Cpe(concentrators, healthCheck, listeners, fastOpen, installCaptureRules, key, warmPool,
                    List.copyOf(rules), convertReplyTimeout);
        }

        /** The same cpe with another concentrator list and health check: also applied by a reload. */
        public Cpe withConcentrators(List<UpstreamConcentrator> list, HealthCheck check) {
            return new Cpe(list, check, listeners, fastOpen, installCaptureRules, key, warmPool, bypass,
                    convertReplyTimeout);
        }

        /** The first concentrator of the list: the one used while it is healthy. */
        public UpstreamConcentrator primary() {
            return concentrators.get(0);
        }
    }

    /**
     * One concentrator of the cpe's priority list.
     *
     * @param name    label for logs, metrics and the status page (configured, or its position: "0", "1"...)
     * @param address its multipath listener (kernel engine) or userspace listener (userspace engine)
     */
    public record UpstreamConcentrator(String name, InetSocketAddress address) {
    }

    /**
     * How the cpe decides which concentrator to use (docs/operations.md, "Backup concentrators").
     *
     * @param interval      time between two active probes (a TCP connect) of each concentrator
     * @param timeout       a probe not connected within this counts as failed
     * @param failures      consecutive failed probes or connection attempts that mark a concentrator down (a
     *                      refused connection marks it down at once)
     * @param recoveries    consecutive successful probes that mark a down concentrator up again
     * @param failBackAfter how long a higher-priority concentrator must have been up before new connections return
     *                      to it (hold-down against flapping)
     */
    public record HealthCheck(Duration interval, Duration timeout, int failures, int recoveries,
                              Duration failBackAfter) {
    }

    /** What a bypass rule does with the LAN traffic it matches. */
    public enum BypassAction {
        /** Straight out the named uplink, routed and source-NATed by the cpe, not proxied. */
        DIRECT,
        /** Through the proxy, but on the named uplink only (one plain TCP path to the concentrator). */
        PROXY
    }

    /**
     * A per-destination exception to "every uplink for every connection": a streaming service or a bank that
     * refuses the concentrator's address, a game that refuses VPN addresses. Matches LAN packets by destination
     * CIDR, destination port, source CIDR and source MAC (every given criterion must match; an empty list matches
     * anything, but a rule has at least one criterion). First match wins, in configuration order.
     */
    public record Bypass(String name, List<Cidr> destinations, List<PortRange> ports, List<Cidr> sources,
                         List<String> sourceMacs, BypassAction action, String uplink) {
        public Bypass {
            destinations = List.copyOf(destinations);
            ports = List.copyOf(ports);
            sources = List.copyOf(sources);
            sourceMacs = List.copyOf(sourceMacs);
        }
    }

    /**
     * Established MPTCP connections to the concentrator kept ready for new LAN connections (kernel engine): the
     * Convert request is then the first data on a connection whose handshake, and usually whose second subflow,
     * is already done.
     *
     * @param size    connections kept ready per process (0 disables); each event loop keeps its share
     * @param maxIdle a ready connection unused this long is closed and replaced
     * @param maxSize connections kept ready per process while LAN clients open them faster than one connect
     *                replaces them (at least {@code size})
     */
    public record WarmPoolConfig(int size, Duration maxIdle, int maxSize) {
    }

    /** A pre-shared key as configured; the secret is held only in memory. */
    public record KeyRef(String id, byte[] secret) {
        @Override
        public String toString() {
            return "KeyRef[id=" + id + ", secret=<redacted>]";
        }
    }

    public record DestinationRules(List<String> allow, List<String> deny, List<String> allowPorts,
                                   List<String> denyPorts) {
    }

    /**
     * The concentrator's settings (reference.conf, block {@code concentrator}).
     *
     * @param mptcpSendBuffer SO_SNDBUF for each accepted kernel MPTCP connection, in bytes; 0 leaves the send buffer
     *                        to the kernel's autotuning
     * @param mptcpCongestionControl TCP_CONGESTION of the kernel MPTCP listeners, which every subflow they accept
     *                               inherits; empty leaves the host's default ({@code net.ipv4.tcp_congestion_control})
     */
    public record Concentrator(List<InetSocketAddress> listen, List<String> authorizedCidrs, List<KeyRef> keys,
                               Duration maxClockSkew, int replayCacheSize, DestinationRules destinations,
                               int fastOpenQueue, List<InetSocketAddress> userspaceListen, Admission admission,
                               int mptcpSendBuffer, String mptcpCongestionControl) {
    }

    /**
     * How the concentrator keeps one source or one subscriber from taking service away from the others
     * (reference.conf, block {@code concentrator}: the deadlines and quotas on connections before and after their
     * Convert header).
     *
     * @param firstByteTimeout          a connection that has sent nothing is closed after this long
     * @param convertHeaderTimeout      the whole Convert header must arrive within this long of its first byte
     * @param maxPendingPerSource       connections per source address whose Convert header is not complete
     * @param maxConnectionsPerSource   connections per source address, pending or relaying
     * @param maxConnectionsPerKey      relayed connections per authenticated cpe key
     * @param refusalLogInterval        refusals are logged once per this interval per (reason, source), counted
     */
    public record Admission(Duration firstByteTimeout, Duration convertHeaderTimeout, int maxPendingPerSource,
                            int maxConnectionsPerSource, int maxConnectionsPerKey, Duration refusalLogInterval) {
    }

    /**
     * The userspace multipath engine's settings (reference.conf, block {@code userspace}).
     *
     * @param overflowBudgetBytes bytes per period the {@code primary-first} scheduler may spill onto overflow
     *                            uplinks; empty for no limit
     * @param maxSessionsPerKey   concentrator: sessions one cpe key may hold
     * @param maxPendingHandshakes          concentrator: connections in their handshake at once
     * @param maxPendingHandshakesPerSource concentrator: connections in their handshake from one source address
     * @param sessionMemory       heap bytes one session's streams may hold (buffers with their overhead)
     * @param processMemory       heap bytes all sessions of the process may hold together
     * @param receiveWindowPeriods a stream's receive limit in autotuning periods' worth of what was read per period
     * @param receivePeriodFromReceiverRtt the autotuning period from the subflows' receiver RTT estimates
     * @param largeFrames         cpe: offer protocol version 3 (DATA frames of up to 64 KiB)
     * @param collapseReinjection the collapse rule acts without the rest of late reinjection
     * @param warmStreamWindows   a stream's send and receive limits, when they first grow, grow to the largest the
     *                            session's streams reached
     * @param restartCongestionControlAfterCollapse a subflow whose TCP sender keeps a collapsed rate after its link
     *                            came back has its congestion control initialised again
     * @param warmSessionConnections cpe: LAN connections an event loop takes while its session is the one that carried
     *                            data last; 0 for each loop in turn
     */
    public record Userspace(String scheduler, int subflowsPerUplink, Optional<Long> overflowBudgetBytes,
                            Duration overflowBudgetPeriod, Duration sessionStartTimeout, Duration sessionRestartDelay,
                            int subflowSendQueue, int maxSessions, int maxSessionsPerKey, int maxPendingHandshakes,
                            int maxPendingHandshakesPerSource, long sessionMemory, long processMemory,
                            boolean lateReinjection, int receiveWindowPeriods, boolean receivePeriodFromReceiverRtt,
                            boolean largeFrames, boolean collapseReinjection, boolean warmStreamWindows,
                            boolean restartCongestionControlAfterCollapse, int warmSessionConnections) {
    }

    public enum SidecarMode { MPTCP_TO_TCP, TCP_TO_MPTCP }

    public record Sidecar(SidecarMode mode, InetSocketAddress listen, InetSocketAddress upstream) {
    }
}
