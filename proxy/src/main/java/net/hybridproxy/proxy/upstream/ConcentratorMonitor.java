package net.hybridproxy.proxy.upstream;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.Endpoint;
import net.hybridproxy.proxy.upstream.ConcentratorSelector.Choice;
import net.hybridproxy.proxy.upstream.ConcentratorSelector.Switch;

import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The cpe's concentrator list at work: probes each concentrator every {@code health-check.interval} with a TCP
 * connect (an MPTCP socket with the kernel engine) closed as soon as it is established, feeds what connections and
 * sessions report into a {@link ConcentratorSelector}, logs each switch at INFO, and tells the engines (the warm
 * pool, the userspace sessions) so they move toward the new active concentrator.
 *
 * <p>Metrics (bound by {@link #bindTo}; the {@code concentrator} label is the configured name, at most
 * 8 values):
 * <ul>
 *   <li>{@code hybridproxy_cpe_concentrator_up{concentrator}} gauge: 1 when healthy, 0 when down</li>
 *   <li>{@code hybridproxy_cpe_concentrator_active{concentrator}} gauge: 1 for the one new connections use</li>
 *   <li>{@code hybridproxy_cpe_concentrator_probe_failures_total{concentrator}} counter: failed health probes</li>
 *   <li>{@code hybridproxy_cpe_concentrator_switches_total} counter: changes of the active concentrator</li>
 * </ul>
 */
public final class ConcentratorMonitor implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("hybridproxy.cpe");

    private final ConcentratorSelector selector;
    private final List<Consumer<Switch>> listeners = new CopyOnWriteArrayList<>();
    private final List<Meter> meters = new ArrayList<>();
    private AppConfig.HealthCheck policy;
    private EventLoop loop;
    private ChannelFactory<SocketChannel> probeFactory;
    private ScheduledFuture<?> probes;
    private MeterRegistry registry;
    private volatile boolean closed;

    public ConcentratorMonitor(List<AppConfig.UpstreamConcentrator> concentrators, AppConfig.HealthCheck policy) {
        this.selector = new ConcentratorSelector(concentrators, policy, System.nanoTime());
        this.policy = policy;
    }

    /**
     * Starts probing on one loop of {@code workers}, with sockets from {@code probeFactory}. A single concentrator is
     * probed only while it is down ({@link ConcentratorSelector#probeTargets}).
     */
    public synchronized void start(EventLoopGroup workers, ChannelFactory<SocketChannel> probeFactory) {
        this.loop = workers.next();
        this.probeFactory = probeFactory;
        schedule();
        List<Choice> all = selector.all();
        LOG.log(Level.INFO, "concentrators (priority order): " + describe(all)
                + (all.size() > 1 ? "; probed every " + policy.interval().toMillis() + " ms, fail back after "
                + policy.failBackAfter().toSeconds() + " s up"
                : "; probed every " + policy.interval().toMillis() + " ms only while down"));
    }

    /** Where a new connection goes now. */
    public Choice choice() {
        return selector.choice();
    }

    /** The concentrators as configured, in priority order. */
    public List<Choice> all() {
        return selector.all();
    }

    /** The concentrators with their health, for the status page. */
    public List<ConcentratorSelector.Health> health() {
        return selector.health();
    }

    /** Called with each switch, on the thread that caused it; the listener moves work to its own loops. */
    public void onSwitch(Consumer<Switch> listener) {
        listeners.add(listener);
    }

    /** A connection (a relay's, the warm pool's, a session subflow's) to {@code to} could not be opened. */
    public void connectFailed(Choice to, Throwable cause) {
        boolean refused = isRefused(cause);
        report(selector.connectFailed(to, reason(cause), refused, System.nanoTime()));
    }

    /** A connection to {@code to} was opened. */
    public void connected(Choice to) {
        selector.connected(to);
    }

    /** A connection to {@code to} was established, but no Convert reply came within {@code waited}. */
    public void replyTimedOut(Choice to, java.time.Duration waited) {
        report(selector.replyTimedOut(to, "no Convert reply within " + waited.toMillis() + " ms",
                System.nanoTime()));
    }

    /** A Convert reply (an answer or an Error TLV) came from {@code from}. */
    public void replied(Choice from) {
        selector.replied(from);
    }

    /** A reload's list and health check; probes follow the new interval. */
    public synchronized void reconfigure(List<AppConfig.UpstreamConcentrator> concentrators,
                                         AppConfig.HealthCheck next) {
        Optional<Switch> change = selector.reconfigure(concentrators, next, System.nanoTime());
        this.policy = next;
        LOG.log(Level.INFO, "concentrators reloaded: " + describe(selector.all()));
        if (probes != null) {
            probes.cancel(false);
            probes = null;
        }
        if (loop != null) {
            schedule();
        }
        if (registry != null) {
            meters.forEach(registry::remove);
            meters.clear();
            register();
        }
        report(change);
    }

    /** Registers the meters listed in the class comment (again after each reload: the names may change). */
    public synchronized void bindTo(MeterRegistry meterRegistry) {
        this.registry = meterRegistry;
        register();
    }

    private void register() {
        for (ConcentratorSelector.Health h : selector.health()) {
            String name = h.name();
            meters.add(Gauge.builder("hybridproxy.cpe.concentrator.up", selector,
                            s -> s.health().stream().anyMatch(x -> x.name().equals(name) && x.up()) ? 1 : 0)
                    .tag("concentrator", name)
                    .description("1 while this concentrator passes its health checks, 0 while it is down")
                    .register(registry));
            meters.add(Gauge.builder("hybridproxy.cpe.concentrator.active", selector,
                            s -> s.choice().concentrator().name().equals(name) ? 1 : 0)
                    .tag("concentrator", name)
                    .description("1 for the concentrator new connections go to")
                    .register(registry));
            meters.add(FunctionCounter.builder("hybridproxy.cpe.concentrator.probe.failures", selector,
                            s -> s.health().stream().filter(x -> x.name().equals(name))
                                    .mapToLong(ConcentratorSelector.Health::probeFailures).sum())
                    .tag("concentrator", name)
                    .description("Health probes of this concentrator that failed")
                    .register(registry));
        }
        meters.add(FunctionCounter.builder("hybridproxy.cpe.concentrator.switches", selector,
                        ConcentratorSelector::switches)
                .description("Changes of the concentrator new connections go to (failovers and fail backs)")
                .register(registry));
    }

    private void schedule() {
        if (closed) {
            return;
        }
        long interval = policy.interval().toNanos();
        probes = loop.scheduleAtFixedRate(this::probeRound, interval, interval, TimeUnit.NANOSECONDS);
    }

    /** On the probe loop: one connect to each concentrator, then the hold-down clock. */
    private void probeRound() {
        if (closed) {
            return;
        }
        int timeoutMillis = (int) Math.max(1, policy.timeout().toMillis());
        for (Choice target : selector.probeTargets()) {
            ChannelFuture connect = new Bootstrap()
                    .group(loop)
                    .channelFactory(probeFactory)
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, timeoutMillis)
                    .handler(new ChannelInboundHandlerAdapter())
                    .connect(target.concentrator().address());
            connect.addListener(f -> {
                if (f.isSuccess()) {
                    try {
                        // A reset rather than a FIN: the concentrator forgets the probe without logging a connection
                        // that closed before its first byte.
                        connect.channel().config().setOption(ChannelOption.SO_LINGER, 0);
                    } catch (RuntimeException ignored) {
                        // A FIN then; only the concentrator's log notices.
                    }
                }
                connect.channel().close();
                Optional<String> failure = f.isSuccess() ? Optional.empty() : Optional.of(reason(f.cause()));
                if (failure.isPresent()) {
                    LOG.log(Level.DEBUG, () -> "probe of concentrator " + target.concentrator().name() + " failed: "
                            + failure.get());
                }
                report(selector.probed(target, failure, System.nanoTime()));
            });
        }
        report(selector.tick(System.nanoTime()));
    }

    private void report(Optional<Switch> change) {
        change.ifPresent(s -> {
            LOG.log(Level.INFO, "concentrator switch: new connections go to " + s.to().concentrator().name() + " ("
                    + Endpoint.format(s.to().concentrator().address()) + ")"
                    + (s.from() == null ? "" : " instead of " + s.from().concentrator().name() + " ("
                    + Endpoint.format(s.from().concentrator().address()) + ")") + ": " + s.reason());
            for (Consumer<Switch> l : listeners) {
                l.accept(s);
            }
        });
    }

    @Override
    public synchronized void close() {
        closed = true;
        if (probes != null) {
            probes.cancel(false);
        }
    }

    /** An RST to the SYN: nothing listens at that address (the process is gone or restarting). */
    static boolean isRefused(Throwable cause) {
        for (Throwable t = cause; t != null; t = t.getCause()) {
            if (t.getMessage() != null && t.getMessage().toLowerCase(java.util.Locale.ROOT).contains("refused")) {
                return true;
            }
        }
        return false;
    }

    private static String reason(Throwable cause) {
        if (cause == null) {
            return "cancelled";
        }
        if (cause instanceof io.netty.channel.ConnectTimeoutException) {
            return "connect timed out";
        }
        String message = cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage();
        // Netty's native transports prefix the system call: keep the reason, drop "connect(..) failed: ".
        int prefix = message.indexOf("failed: ");
        String text = prefix >= 0 ? message.substring(prefix + "failed: ".length()) : message;
        return text.length() > 120 ? text.substring(0, 120) : text;
    }

    private static String describe(List<Choice> all) {
        return all.stream().map(c -> c.concentrator().name() + " " + Endpoint.format(c.concentrator().address()))
                .toList().toString();
    }
}
