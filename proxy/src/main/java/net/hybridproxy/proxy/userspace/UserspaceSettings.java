package net.hybridproxy.proxy.userspace;

import io.netty.channel.WriteBufferWaterMark;
import net.hybridproxy.engine.multipath.connection.ConcentratorEndpoint;
import net.hybridproxy.engine.multipath.connection.MemoryBudget;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.pm.Uplink;
import net.hybridproxy.proxy.config.AppConfig;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * How the adapters run the userspace engine; built from the {@code hybridproxy.userspace} configuration block
 * (reference.conf documents each value and its default).
 *
 * @param session             the engine's own bounds and timers (scheduler, budgets, buffers)
 * @param connectTimeout      cpe: how long a subflow's TCP handshake may take
 * @param openTimeout         cpe: how long a new LAN connection waits for its session to be established
 * @param restartDelay        cpe: the wait before a session that ended is replaced
 * @param subflowWaterMark    subflow channels' write buffer water marks: the scheduler's "room" on a subflow
 * @param notSentLowWatermark TCP_NOTSENT_LOWAT on subflow sockets (native transports)
 * @param endpointLimits      concentrator: sessions in total and per key, handshakes in progress in total and per
 *                            source address
 * @param processMemory       heap bytes all sessions of the process may hold together ({@link MemoryBudget})
 * @param largeFrames         cpe: its sessions offer protocol version 3, DATA frames of up to 64 KiB (a concentrator
 *                            accepts versions 2 and 3 whatever this says)
 * @param restartCongestionControlAfterCollapse the adapter restarts a subflow's congestion control when its session
 *                            asks ({@code SessionEvent.SubflowRestartCongestionControl}: its TCP sender keeps a
 *                            collapsed rate after the link came back)
 * @param warmSessionConnections cpe: LAN connections an event loop takes while its session is the one that carried
 *                            data last ({@link WarmSessionLoops}); 0 for each loop in turn
 */
public record UserspaceSettings(SessionConfig session, Duration connectTimeout, Duration openTimeout,
                                Duration restartDelay, WriteBufferWaterMark subflowWaterMark, int notSentLowWatermark,
                                ConcentratorEndpoint.Limits endpointLimits, long processMemory, boolean largeFrames,
                                boolean restartCongestionControlAfterCollapse, int warmSessionConnections) {
    /**
     * Write buffer water marks of a concentrator's stream channels: small, because the session's send buffer
     * (autotuned with the path, within the session's memory budget) is where a stream's bytes wait. With the relay's
     * 1 MiB marks, a peer that never acknowledges left each of its streams' channels holding 1 MiB outside every
     * budget once the session's budget was full: 256 such streams held 256 MiB of the concentrator's memory.
     */
    public static final WriteBufferWaterMark STREAM_WATER_MARK = new WriteBufferWaterMark(32 * 1024, 64 * 1024);

    public UserspaceSettings {
        Objects.requireNonNull(session, "session");
        Objects.requireNonNull(subflowWaterMark, "subflowWaterMark");
        Objects.requireNonNull(endpointLimits, "endpointLimits");
        if (notSentLowWatermark < 1) {
            throw new IllegalArgumentException("notSentLowWatermark " + notSentLowWatermark + " must be positive");
        }
    }

    /** reference.conf's {@code userspace.process-memory}. */
    private static final long DEFAULT_PROCESS_MEMORY = 128L << 20;
    /** reference.conf's {@code userspace.warm-session-connections}. */
    private static final int DEFAULT_WARM_SESSION_CONNECTIONS = 8;

    /** Settings with the endpoint's default limits around {@code maxSessions}. */
    public UserspaceSettings(SessionConfig session, Duration connectTimeout, Duration openTimeout,
                             Duration restartDelay, WriteBufferWaterMark subflowWaterMark, int notSentLowWatermark,
                             int maxSessions) {
        this(session, connectTimeout, openTimeout, restartDelay, subflowWaterMark, notSentLowWatermark,
                ConcentratorEndpoint.Limits.defaults(maxSessions), DEFAULT_PROCESS_MEMORY, false, false,
                DEFAULT_WARM_SESSION_CONNECTIONS);
    }

    /** The settings a configuration asks for. */
    public static UserspaceSettings from(AppConfig config) {
        AppConfig.Userspace u = config.userspace();
        SessionConfig session = SessionConfig.defaults().withScheduler(u.scheduler())
                .withSessionMemoryBudget(u.sessionMemory()).withLateReinjection(u.lateReinjection())
                .withReceiveWindowPeriods(u.receiveWindowPeriods())
                .withReceivePeriodFromReceiverRtt(u.receivePeriodFromReceiverRtt())
                .withCollapseReinjection(u.collapseReinjection())
                .withWarmStreamWindows(u.warmStreamWindows());
        if (u.overflowBudgetBytes().isPresent()) {
            session = session.withOverflowBudget(u.overflowBudgetBytes().get(), u.overflowBudgetPeriod());
        }
        int queue = u.subflowSendQueue();
        return new UserspaceSettings(session, config.relay().connectTimeout(), u.sessionStartTimeout(),
                u.sessionRestartDelay(), new WriteBufferWaterMark(queue / 2, queue), queue,
                new ConcentratorEndpoint.Limits(u.maxSessions(), u.maxSessionsPerKey(), u.maxPendingHandshakes(),
                        u.maxPendingHandshakesPerSource()),
                effectiveProcessMemory(u.processMemory(), Runtime.getRuntime().maxMemory()), u.largeFrames(),
                u.restartCongestionControlAfterCollapse(), u.warmSessionConnections());
    }

    /**
     * The process-wide budget actually enforced: the configured one, but never more than half the JVM's maximum
     * heap. A budget as large as the heap would let the sessions exhaust it, and the launcher's
     * ExitOnOutOfMemoryError would then end every connection instead of refusing one stream; the other half is
     * left to Netty's buffers, the relays and everything else (on a 512 MB router the launcher's defaults give a
     * 128 MiB heap, so 64 MiB for sessions).
     */
    static long effectiveProcessMemory(long configured, long maxHeapBytes) {
        return Math.min(configured, Math.max(1L << 20, maxHeapBytes / 2));
    }

    /**
     * The line logged at start when the heap holds the process budget below the configured one (with the launcher's
     * default 128 MiB heap, 64 of the default 128 MiB); empty otherwise. A concentrator's budget is what all its cpes
     * share, so its operator must see that the heap, not the configuration, set it.
     */
    public static Optional<String> processMemoryNotice(long configured, long maxHeapBytes) {
        long effective = effectiveProcessMemory(configured, maxHeapBytes);
        if (effective >= configured) {
            return Optional.empty();
        }
        return Optional.of("userspace.process-memory " + (configured >> 20) + " MiB is held to " + (effective >> 20)
                + " MiB, half the maximum heap of " + (maxHeapBytes >> 20) + " MiB; a larger heap (JAVA_OPTS) raises it"
                + " (docs/operations.md, \"Memory sizing\")");
    }

    /** {@link #processMemoryNotice(long, long)} for this configuration and this JVM. */
    public static Optional<String> processMemoryNotice(AppConfig config) {
        return processMemoryNotice(config.userspace().processMemory(), Runtime.getRuntime().maxMemory());
    }

    /**
     * concentrator: the share of the process budget the sessions of one cpe key hold together: a quarter of it, so
     * that one subscriber (or one leaked key) at its share leaves three quarters to the others, but never less than
     * one session's budget, so a single session can always grow to its own.
     */
    public long keyMemoryShare() {
        return Math.min(processMemory, Math.max(processMemory / 4, session.sessionMemoryBudget()));
    }

    /** concentrator: the process budget with its per-key shares ({@link #keyMemoryShare()}). */
    public MemoryBudget concentratorMemory() {
        return new MemoryBudget(processMemory, keyMemoryShare());
    }

    /** The cpe's uplinks as the engine plans subflows over them: address ids 1, 2, ... in configuration order. */
    public static List<Uplink> uplinks(AppConfig config) {
        List<Uplink> uplinks = new ArrayList<>();
        for (int i = 0; i < config.uplinks().size(); i++) {
            AppConfig.UplinkConfig u = config.uplinks().get(i);
            uplinks.add(new Uplink(u.name(), i + 1, priority(u.role()), config.userspace().subflowsPerUplink()));
        }
        return uplinks;
    }

    /**
     * concentrator: what every new session announces (ADD_ADDR), so the cpe's joins go there: each
     * {@code path-manager.announce} address (a replica's own, docs/operations.md) with the port of the first
     * {@code concentrator.userspace-listen} listener, which accepts joins at that address as at any other. The
     * kernel's {@code path-manager.announce-port} is not used: it is a kernel MPTCP listener's port.
     */
    public static List<InetSocketAddress> announcements(AppConfig config) {
        List<InetSocketAddress> listen = config.concentrator().map(AppConfig.Concentrator::userspaceListen)
                .orElse(List.of());
        if (listen.isEmpty()) {
            return List.of();
        }
        int port = listen.get(0).getPort();
        return config.pathManager().announce().stream().map(a -> new InetSocketAddress(a, port)).toList();
    }

    /** Each uplink's source address, by name. */
    public static Map<String, InetAddress> uplinkAddresses(AppConfig config) {
        Map<String, InetAddress> addresses = new LinkedHashMap<>();
        config.uplinks().forEach(u -> addresses.put(u.name(), u.address()));
        return addresses;
    }

    static SubflowPriority priority(AppConfig.UplinkRole role) {
        return switch (role) {
            case PRIMARY -> SubflowPriority.PRIMARY;
            case OVERFLOW -> SubflowPriority.OVERFLOW;
            case BACKUP -> SubflowPriority.BACKUP;
        };
    }
}
