package net.hybridproxy.proxy.userspace;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.util.concurrent.EventExecutor;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.multipath.connection.MemoryBudget;
import net.hybridproxy.engine.multipath.connection.Session;
import net.hybridproxy.engine.multipath.connection.SessionEvent;
import net.hybridproxy.engine.multipath.frame.CapableSyn;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import net.hybridproxy.engine.multipath.pm.Uplink;
import net.hybridproxy.proxy.metrics.UserspaceStats;
import net.hybridproxy.proxy.transport.Transport;
import net.hybridproxy.proxy.upstream.ConcentratorMonitor;
import net.hybridproxy.proxy.upstream.ConcentratorSelector;

import java.lang.System.Logger.Level;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.ToIntFunction;

/**
 * The cpe's side of the userspace engine: one session per worker event loop, each with its own warm subflows over
 * every uplink (plain TCP, bound to the uplink's source address, so the per-uplink policy routes send it out the
 * right interface). A LAN connection accepted on a loop becomes a stream of that loop's session
 * ({@link #streamBootstrap}): no TCP handshake on its critical path and nothing crossing threads. The LAN listeners
 * register their connections on {@link #lanConnectionLoops()}, which prefers the loop whose session carried data
 * most recently, so that a new download meets warm subflows ({@link WarmSessionLoops}).
 *
 * <p>A session that ends (the concentrator restarted, every uplink failed for its orphan timeout) is replaced by a
 * new one, at once if it had been established (at most once per {@link UserspaceSettings#restartDelay()}), else
 * after that delay; its streams were reset, as a kernel MPTCP connection's would be.
 *
 * <p>Sessions follow the active concentrator ({@link ConcentratorMonitor}). When it goes down, each loop's session
 * to it is replaced at once by one to the new active concentrator, then closed (its streams are reset). When new connections move for another
 * reason (fail back to a recovered primary, a reload), each loop starts a session to the new one for its new
 * connections and keeps the old session, without new streams, until its last stream closes: nothing is cut.
 */
public final class UserspaceCpe implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("hybridproxy.userspace");

    private final UserspaceSettings settings;
    private final CpeKey key;
    private final ConcentratorMonitor concentrators;
    /** Sessions that carry no new streams (their concentrator is no longer the active one) until their last closes. */
    private final Set<SessionDriver> retiring = ConcurrentHashMap.newKeySet();
    private final Map<SessionDriver, CpeSessionOwner> owners = new ConcurrentHashMap<>();
    /** Per loop: when a session of it was last replaced without delay; touched on the loop only. */
    private final Map<EventLoop, Long> lastImmediateRestart = new ConcurrentHashMap<>();
    private final List<Uplink> uplinks;
    private final Map<String, InetAddress> uplinkAddresses;
    private final Transport transport;
    private final SecureRandom random = new SecureRandom();
    private final MemoryBudget memory;
    private final Map<EventLoop, SessionDriver> drivers = new ConcurrentHashMap<>();
    private final UserspaceStats stats;
    private final UserspaceSampler sampler;
    /** The operator's uplink states, applied to every session, including those started later. */
    private final Map<String, UplinkMode> modes = new ConcurrentHashMap<>();
    /** The loops LAN connections are registered on; set by {@link #start}. */
    private volatile WarmSessionLoops lanLoops;
    private volatile boolean closing;

    /**
     * How the operator wants an uplink used (the admin API's actions).
     *
     * @param priority the priority of its subflows (configured, or backup)
     * @param paused   whether new subflows over it are opened
     */
    public record UplinkMode(SubflowPriority priority, boolean paused) {
    }

    /**
     * @param uplinkAddresses the source address of each uplink, by name
     * @param stats           where the sessions' figures go (metrics and status)
     */
    public UserspaceCpe(UserspaceSettings settings, CpeKey key, ConcentratorMonitor concentrators, List<Uplink> uplinks,
                        Map<String, InetAddress> uplinkAddresses, Transport transport, UserspaceStats stats) {
        this.memory = new MemoryBudget(settings.processMemory());
        this.stats = Objects.requireNonNull(stats, "stats");
        this.sampler = new UserspaceSampler(stats, this::allDrivers, () -> { });
        this.settings = Objects.requireNonNull(settings, "settings");
        this.key = Objects.requireNonNull(key, "key");
        this.concentrators = Objects.requireNonNull(concentrators, "concentrators");
        this.uplinks = List.copyOf(uplinks);
        this.uplinkAddresses = Map.copyOf(uplinkAddresses);
        this.transport = transport;
    }

    /** Starts one session on every loop of {@code workers}; returns once each has asked for its subflows. */
    public void start(EventLoopGroup workers) throws InterruptedException {
        lanLoops = new WarmSessionLoops(workers, settings.warmSessionConnections());
        List<io.netty.util.concurrent.Future<?>> started = new ArrayList<>();
        int n = 0;
        for (EventExecutor executor : workers) {
            EventLoop loop = (EventLoop) executor;
            String name = "cpe session " + n++;
            started.add(loop.submit(() -> startSession(loop, name)));
        }
        for (var f : started) {
            f.sync();
        }
        sampler.start();
        concentrators.onSwitch(this::concentratorSwitched);
        LOG.log(Level.INFO, "userspace engine: " + n + " sessions to " + describe(concentrators.choice()
                .concentrator().address()) + " over "
                + uplinks.stream().map(u -> u.name() + " (" + u.priority().name().toLowerCase() + ", "
                + u.subflows() + " subflow" + (u.subflows() == 1 ? "" : "s") + ")").toList()
                + ", scheduler " + settings.session().scheduler());
    }

    private void startSession(EventLoop loop, String name) {
        if (closing) {
            return;
        }
        ConcentratorSelector.Choice target = concentrators.choice();
        Session session = Session.cpe(settings.session(), key, uplinks, random, memory, SessionDriver.now());
        if (settings.largeFrames()) {
            session.offerVersion(CapableSyn.VERSION_LARGE_FRAMES);
        }
        modes.forEach((uplink, mode) -> {
            session.setUplinkPriority(uplink, mode.priority(), SessionDriver.now());
            session.setUplinkPaused(uplink, mode.paused(), SessionDriver.now());
        });
        CpeSessionOwner owner = new CpeSessionOwner(name, target);
        // With backups, the log names the concentrator each session goes to.
        String label = concentrators.all().size() > 1 ? name + " [" + target.concentrator().name() + "]" : name;
        SessionDriver driver = new SessionDriver(loop, session, owner, label, settings,
                settings.session().maxStreams(), stats);
        owners.put(driver, owner);
        drivers.put(loop, driver);
        driver.publishStreamActivity(lanLoops.markCold(loop));
        driver.pump();
    }

    /**
     * New connections go to another concentrator. On each loop a session to the new one starts at once; the old
     * session is closed when its concentrator is down (its subflows are dead or dying), else it keeps its streams,
     * takes no new ones, and ends with its last stream.
     */
    private void concentratorSwitched(ConcentratorSelector.Switch change) {
        for (SessionDriver driver : List.copyOf(drivers.values())) {
            driver.loop().execute(() -> {
                CpeSessionOwner owner = owners.get(driver);
                if (closing || owner == null || driver.isClosed() || drivers.get(driver.loop()) != driver
                        || owner.target.concentrator().equals(change.to().concentrator())) {
                    return;
                }
                // The replacement first: a LAN connection accepted on this loop meanwhile finds a session.
                owner.retired = true;
                drivers.remove(driver.loop(), driver);
                driver.publishStreamActivity(null); // the loop's warmth is its new session's from now on
                startSession(driver.loop(), owner.name);
                if (change.leftDown()) {
                    driver.close(ResetReason.UNSPECIFIED);
                    return;
                }
                retiring.add(driver);
                closeWhenIdle(driver);
            });
        }
    }

    /** A retiring session ends once its last stream has closed; checked once a second on its loop. */
    private void closeWhenIdle(SessionDriver driver) {
        if (driver.isClosed()) {
            retiring.remove(driver);
            return;
        }
        if (closing || driver.session().streamIds().isEmpty()) {
            CpeSessionOwner owner = owners.get(driver);
            if (owner != null) {
                LOG.log(Level.INFO, owner.name + " to concentrator " + owner.target.concentrator().name()
                        + ": no stream left on this retired session; it ends");
            }
            driver.close(ResetReason.UNSPECIFIED);
            return;
        }
        driver.loop().schedule(() -> closeWhenIdle(driver), 1, TimeUnit.SECONDS);
    }

    /** The sessions new streams go to, and the retiring ones. */
    private List<SessionDriver> allDrivers() {
        List<SessionDriver> all = new ArrayList<>(drivers.values());
        all.addAll(retiring);
        return all;
    }

    /**
     * The event loops the LAN listeners register their connections on: the workers given to {@link #start}, each new
     * connection on the loop whose session carried data most recently while that loop has fewer than
     * {@link UserspaceSettings#warmSessionConnections} of them.
     */
    public EventLoopGroup lanConnectionLoops() {
        WarmSessionLoops loops = lanLoops;
        if (loops == null) {
            throw new IllegalStateException("the userspace cpe has not started");
        }
        return loops;
    }

    /** Per session, in no particular order, the streams it has opened so far (for tests). */
    List<Long> streamsOpenedBySession() throws InterruptedException {
        List<Long> opened = new ArrayList<>();
        for (SessionDriver driver : allDrivers()) {
            try {
                opened.add(driver.loop().submit(() -> driver.session().mib().get(MibCounter.STREAMS_OPENED)).get());
            } catch (ExecutionException e) {
                throw new IllegalStateException(e.getCause());
            }
        }
        return opened;
    }

    /** Whether every loop's session is established (for readiness checks and tests). */
    boolean allEstablished() {
        return !drivers.isEmpty() && drivers.values().stream().allMatch(d -> d.session().isEstablished());
    }

    /** Attached subflows over all sessions. */
    int attachedSubflows() throws InterruptedException {
        return sumOverSessions(d -> (int) d.session().subflows().stream().filter(s -> s.state().isAttached()).count());
    }

    /** Sessions whose protocol version is below {@code version} (for tests). */
    int sessionsBelowVersion(int version) throws InterruptedException {
        return sumOverSessions(d -> d.session().version() < version ? 1 : 0);
    }

    /** Streams open over all sessions. */
    int openStreams() throws InterruptedException {
        return sumOverSessions(d -> d.session().streamIds().size());
    }

    /**
     * Closes every subflow over {@code uplink} in every session, as a failing line would: what they carried and
     * was not acknowledged goes over the others, and the path manager reconnects them after its backoff.
     */
    void resetSubflows(String uplink) throws InterruptedException {
        sumOverSessions(d -> d.closeSubflows(uplink));
    }

    /**
     * Uses {@code uplink} as {@code mode} in every session from now on (MP_PRIO for a priority change), and, with
     * {@code closeSubflows}, closes its subflows with a SUBFLOW_RESET (what they carried is reinjected on the
     * others). Returns the number of subflows closed. Runs on each session's loop; the caller waits.
     */
    public int applyUplinkMode(String uplink, UplinkMode mode, boolean closeSubflows) throws InterruptedException {
        if (uplinks.stream().noneMatch(u -> u.name().equals(uplink))) {
            throw new IllegalArgumentException("no uplink named '" + uplink + "'");
        }
        modes.put(uplink, mode);
        return sumOverSessions(d -> {
            long now = SessionDriver.now();
            Session session = d.session();
            session.setUplinkPriority(uplink, mode.priority(), now);
            session.setUplinkPaused(uplink, mode.paused(), now);
            int closed = closeSubflows ? session.closeUplinkSubflows(uplink, now) : 0;
            d.pump();
            return closed;
        });
    }

    /** The priority an uplink is configured with. */
    public SubflowPriority configuredPriority(String uplink) {
        return uplinks.stream().filter(u -> u.name().equals(uplink)).findFirst().orElseThrow().priority();
    }

    /** The sessions, for the sampler. */
    Collection<SessionDriver> drivers() {
        return allDrivers();
    }

    private int sumOverSessions(ToIntFunction<SessionDriver> f) throws InterruptedException {
        int sum = 0;
        for (SessionDriver driver : allDrivers()) {
            try {
                sum += driver.loop().submit(() -> f.applyAsInt(driver)).get();
            } catch (ExecutionException e) {
                throw new IllegalStateException(e.getCause());
            }
        }
        return sum;
    }

    /**
     * A bootstrap for the stream that carries one LAN connection: on the client's own loop, AUTO_READ off and
     * half-closure on, like the kernel engine's outbound MPTCP connection. Its {@code connect(address)} opens a
     * stream (the address is only what the channel reports as its peer).
     */
    public Bootstrap streamBootstrap(Channel client, WriteBufferWaterMark waterMark) {
        return streamBootstrap(client, waterMark, null);
    }

    /**
     * The same for a connection a bypass rule pins to {@code pinnedUplink} (null: every uplink): its stream's bytes
     * go over that uplink's subflows only, both ways (the DATA frames' P flag tells the concentrator).
     */
    public Bootstrap streamBootstrap(Channel client, WriteBufferWaterMark waterMark, String pinnedUplink) {
        if (pinnedUplink != null && uplinks.stream().noneMatch(u -> u.name().equals(pinnedUplink))) {
            throw new IllegalArgumentException("no uplink named '" + pinnedUplink + "'");
        }
        return new Bootstrap()
                .group(client.eventLoop())
                .channelFactory(() -> new StreamChannel(drivers::get, pinnedUplink))
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, waterMark);
    }

    @Override
    public void close() {
        closing = true;
        sampler.close();
        for (SessionDriver driver : allDrivers()) {
            if (!driver.loop().isShuttingDown()) {
                driver.loop().execute(() -> driver.close(ResetReason.UNSPECIFIED));
            }
        }
    }

    private static String describe(InetSocketAddress address) {
        return address.getAddress().getHostAddress() + ":" + address.getPort();
    }

    private final class CpeSessionOwner implements SessionDriver.SessionOwner {
        private final String name;
        /** The concentrator this session was started towards. */
        private final ConcentratorSelector.Choice target;
        /** Set on the loop when new streams go to another session: this one ends with its last stream. */
        private boolean retired;

        CpeSessionOwner(String name, ConcentratorSelector.Choice target) {
            this.name = name;
            this.target = target;
        }

        @Override
        public void subflowRequested(SessionDriver driver, SessionEvent.SubflowRequested request) {
            InetSocketAddress concentrator = target.concentrator().address();
            InetSocketAddress remote = request.remote() == null ? concentrator
                    : new InetSocketAddress(request.remote(),
                    request.remotePort() == 0 ? concentrator.getPort() : request.remotePort());
            InetAddress source = uplinkAddresses.get(request.uplink());
            ChannelFuture connect = new Bootstrap()
                    .group(driver.loop())
                    .channelFactory(transport.tcpClient())
                    .option(ChannelOption.AUTO_READ, true)
                    .option(ChannelOption.TCP_NODELAY, true)
                    .option(ChannelOption.SO_KEEPALIVE, true)
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, millis(settings.connectTimeout()))
                    .option(ChannelOption.WRITE_BUFFER_WATER_MARK, settings.subflowWaterMark())
                    .option(ChannelOption.RCVBUF_ALLOCATOR, ReusedReadBuffers.INSTANCE)
                    .handler(new ChannelInboundHandlerAdapter())
                    .localAddress(new InetSocketAddress(source, 0))
                    .connect(remote);
            long id = request.subflowId();
            connect.addListener(f -> {
                Channel channel = connect.channel();
                if (!f.isSuccess()) {
                    LOG.log(Level.DEBUG, () -> name + ": subflow " + id + " over " + request.uplink() + " to "
                            + describe(remote) + " failed: " + f.cause());
                    if (request.remote() == null && !retired) {
                        // The configured address (not a replica's announced one): evidence about the concentrator.
                        concentrators.connectFailed(target, f.cause());
                    }
                    driver.subflowFailed(id, f.cause());
                    return;
                }
                if (request.remote() == null) {
                    concentrators.connected(target);
                }
                if (driver.isClosed()) {
                    channel.close();
                    return;
                }
                driver.subflowConnected(id, channel);
            });
        }

        @Override
        public void streamOpened(SessionDriver driver, long streamId) {
            // Only the cpe opens streams; the session never reports one here.
        }

        @Override
        public void sessionClosed(SessionDriver driver, String reason) {
            owners.remove(driver);
            if (retired) {
                retiring.remove(driver);
                return; // the loop's new streams already go to another session
            }
            drivers.remove(driver.loop(), driver);
            // Until its replacement delivers, the loop is no warmer than one whose session never carried data (and
            // during the restart delay it has no session at all).
            lanLoops.markCold(driver.loop());
            if (!closing && !driver.loop().isShuttingDown()) {
                // A session that was established is replaced at once (its concentrator or replica is gone, and
                // new LAN connections on this loop wait for the next one); the delay applies when the one before
                // was replaced at once less than a delay ago, so a concentrator that keeps ending sessions is
                // not hammered.
                // A session whose concentrator is no longer the active one is replaced at once: the next goes to
                // another concentrator, which has not been hammered.
                long now = SessionDriver.now();
                long last = lastImmediateRestart.getOrDefault(driver.loop(), now - Long.MAX_VALUE / 2);
                boolean moved = !concentrators.choice().concentrator().equals(target.concentrator());
                long delay = moved || driver.wasEstablished() && now - last >= settings.restartDelay().toNanos()
                        ? 0 : settings.restartDelay().toNanos();
                if (delay == 0 && !moved) {
                    lastImmediateRestart.put(driver.loop(), now);
                }
                LOG.log(Level.WARNING, name + " ended (" + reason + "); a new session starts in "
                        + TimeUnit.NANOSECONDS.toMillis(delay) + " ms");
                if (delay == 0) {
                    // At once, on this turn of the loop: no LAN connection accepted meanwhile finds no session.
                    startSession(driver.loop(), name);
                } else {
                    driver.loop().schedule(() -> startSession(driver.loop(), name), delay, TimeUnit.NANOSECONDS);
                }
            }
        }
    }

    /** For {@code Duration}-typed settings that Netty wants as milliseconds. */
    static int millis(Duration d) {
        return (int) Math.min(Integer.MAX_VALUE, d.toMillis());
    }
}
