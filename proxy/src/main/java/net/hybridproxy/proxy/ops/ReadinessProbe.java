package net.hybridproxy.proxy.ops;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import net.hybridproxy.admin.Readiness;
import net.hybridproxy.admin.ReadinessCheck;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.Endpoint;
import net.hybridproxy.proxy.metrics.UserspaceStats;
import net.hybridproxy.proxy.role.Role;
import net.hybridproxy.proxy.transport.MultipathConnections;
import net.hybridproxy.proxy.transport.Transport;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.function.Supplier;

/**
 * What {@code /health/ready} means, per role:
 * <ul>
 *   <li>every role: all of its listeners are bound and open;</li>
 *   <li>cpe: at least one uplink is usable (interface up, address present, not disabled), and the concentrator
 *       is reachable: a connection to it succeeded in the last {@value #RECENT_SECONDS} s, or else an MPTCP
 *       handshake to it completes within {@value #PROBE_TIMEOUT_MILLIS} ms. The probe is closed with a reset at
 *       once, so the concentrator counts it as an admitted connection but never as a Convert error; its result
 *       is reused for {@value #PROBE_REUSE_SECONDS} s so frequent readiness probes do not become load.</li>
 * </ul>
 * With the userspace engine, the cpe's concentrator check is its sessions instead of a probe (they keep warm
 * subflows and reconnect on their own, so a probe would only duplicate them): ready when the latest sample saw an
 * established session with an attached subflow, or a subflow attached in the last {@value #RECENT_SECONDS} s.
 * A concentrator or sidecar is ready when its listeners are bound: its peers are whoever connects.
 */
public final class ReadinessProbe implements ReadinessCheck {
    static final int RECENT_SECONDS = 60;
    static final int PROBE_TIMEOUT_MILLIS = 2000;
    static final int PROBE_REUSE_SECONDS = 10;

    private final Supplier<AppConfig> config;
    private final Supplier<Role> role;
    private final UplinkController uplinks;
    private final MultipathConnections multipath;
    private final Transport transport;
    private final EventLoopGroup probeGroup;
    private final UserspaceStats userspace;
    private long probedAtNanos;
    private Readiness.Condition lastProbe;

    public ReadinessProbe(Supplier<AppConfig> config, Supplier<Role> role, UplinkController uplinks,
                          MultipathConnections multipath, Transport transport, EventLoopGroup probeGroup) {
        this(config, role, uplinks, multipath, transport, probeGroup, null);
    }

    /** @param userspace the userspace engine's figures; null where the kernel engine carries the cpe's traffic */
    public ReadinessProbe(Supplier<AppConfig> config, Supplier<Role> role, UplinkController uplinks,
                          MultipathConnections multipath, Transport transport, EventLoopGroup probeGroup,
                          UserspaceStats userspace) {
        this.userspace = userspace;
        this.config = config;
        this.role = role;
        this.uplinks = uplinks;
        this.multipath = multipath;
        this.transport = transport;
        this.probeGroup = probeGroup;
    }

    @Override
    public synchronized Readiness check() {
        AppConfig c = config.get();
        List<Readiness.Condition> checks = new ArrayList<>();
        Role r = role.get();
        List<Channel> listeners = r == null ? List.of() : r.listeners();
        boolean bound = !listeners.isEmpty() && listeners.stream().allMatch(Channel::isActive);
        checks.add(new Readiness.Condition("listeners", bound, bound ? listeners.size() + " bound"
                : "not all listeners are bound"));
        if (c.role() == AppConfig.ApplianceRole.CPE) {
            checks.add(uplinkCheck(c));
            // The active concentrator: readiness follows a failover to a backup.
            InetSocketAddress concentrator = r instanceof net.hybridproxy.proxy.role.CpeRole cpe
                    ? cpe.concentrators().choice().concentrator().address()
                    : c.cpe().orElseThrow().primary().address();
            checks.add(c.engine() == AppConfig.Engine.USERSPACE && userspace != null
                    ? sessionCheck(concentrator) : concentratorCheck(concentrator));
        }
        return new Readiness(checks);
    }

    private Readiness.Condition uplinkCheck(AppConfig c) {
        List<String> usable = new ArrayList<>();
        List<String> unusable = new ArrayList<>();
        for (AppConfig.UplinkConfig u : c.uplinks()) {
            String why = uplinks.usability(u.name());
            if (why == null) {
                usable.add(u.name());
            } else {
                unusable.add(u.name() + ": " + why);
            }
        }
        String detail = (usable.isEmpty() ? "no usable uplink" : "usable: " + String.join(", ", usable))
                + (unusable.isEmpty() ? "" : "; unusable: " + String.join("; ", unusable));
        return new Readiness.Condition("uplinks", !usable.isEmpty(), detail);
    }

    private Readiness.Condition sessionCheck(InetSocketAddress concentrator) {
        String target = Endpoint.format(concentrator);
        UserspaceStats.Sessions sessions = userspace.sessions();
        int attached = userspace.uplinks().all().stream().mapToInt(u -> u.gauges().subflows()).sum();
        if (sessions.established() > 0 && attached > 0) {
            return new Readiness.Condition("concentrator", true, sessions.established() + " of " + sessions.sessions()
                    + " userspace sessions with " + target + " established, " + attached + " subflows attached");
        }
        long last = userspace.lastAttachNanos();
        long now = System.nanoTime();
        if (last != Long.MIN_VALUE && now - last < Duration.ofSeconds(RECENT_SECONDS).toNanos()) {
            return new Readiness.Condition("concentrator", true, "a subflow to " + target + " attached "
                    + (now - last) / 1_000_000_000L + " s ago");
        }
        return new Readiness.Condition("concentrator", false, "no userspace session with " + target
                + " has an attached subflow, and none attached in the last " + RECENT_SECONDS + " s");
    }

    private Readiness.Condition concentratorCheck(InetSocketAddress concentrator) {
        OptionalLong last = multipath.lastAddedNanos();
        long now = System.nanoTime();
        if (last.isPresent() && now - last.getAsLong() < Duration.ofSeconds(RECENT_SECONDS).toNanos()) {
            return new Readiness.Condition("concentrator", true, "last connection to " + Endpoint.format(concentrator)
                    + " " + (now - last.getAsLong()) / 1_000_000_000L + " s ago");
        }
        if (lastProbe != null && now - probedAtNanos < Duration.ofSeconds(PROBE_REUSE_SECONDS).toNanos()) {
            return lastProbe;
        }
        lastProbe = probe(concentrator);
        probedAtNanos = System.nanoTime();
        return lastProbe;
    }

    private Readiness.Condition probe(InetSocketAddress concentrator) {
        String target = Endpoint.format(concentrator);
        ChannelFuture connect = new Bootstrap().group(probeGroup).channelFactory(transport.mptcpClient())
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, PROBE_TIMEOUT_MILLIS)
                .handler(new ChannelInboundHandlerAdapter())
                .connect(concentrator);
        boolean done = connect.awaitUninterruptibly(PROBE_TIMEOUT_MILLIS + 500L);
        if (done && connect.isSuccess()) {
            Channel ch = connect.channel();
            try {
                ch.config().setOption(ChannelOption.SO_LINGER, 0);
            } catch (RuntimeException ignored) {
                // A FIN instead of a reset: the concentrator then logs one refused half-open connection.
            }
            ch.close();
            return new Readiness.Condition("concentrator", true, "MPTCP handshake with " + target + " succeeded (probe)");
        }
        connect.cancel(false);
        connect.channel().close();
        String why = !done ? "timed out" : connect.cause() == null ? "cancelled" : connect.cause().getMessage();
        return new Readiness.Condition("concentrator", false, "no connection to " + target + " in the last "
                + RECENT_SECONDS + " s and a probe failed: " + why);
    }
}
