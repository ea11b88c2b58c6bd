package net.hybridproxy.engine.multipath.sim;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.LongConsumer;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.multipath.connection.ConcentratorEndpoint;
import net.hybridproxy.engine.multipath.connection.MemoryBudget;
import net.hybridproxy.engine.multipath.connection.Session;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.connection.SessionEvent;
import net.hybridproxy.engine.multipath.connection.Transmit;
import net.hybridproxy.engine.multipath.frame.CapableSyn;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.pm.Uplink;

/**
 * A cpe session and a concentrator endpoint joined by simulated links, driven like the Netty
 * adapters will drive them: bytes in, {@code pollTransmit} until null, events drained, one timer
 * at {@code pollTimeout}. Time jumps from one event to the next, so ten simulated seconds take a
 * fraction of a real one.
 */
final class SimPair {

    static final long MS = 1_000_000L;
    static final long SECOND = 1_000_000_000L;

    /** Unsent bytes a subflow socket holds before it stops reporting room (TCP_NOTSENT_LOWAT). */
    static final long NOTSENT_LOWAT = 64 * 1024;

    /**
     * Unsent bytes a subflow of the Netty adapter with its default settings holds before it reports no room: the
     * socket's TCP_NOTSENT_LOWAT (subflow-send-queue, 256 KiB) and, on top of it, the channel's outbound buffer up to
     * its high water mark (the same 256 KiB). What the namespace lab runs.
     */
    static final long ADAPTER_UNSENT = 2 * 256 * 1024;

    /** Unsent bytes each subflow socket holds before it reports no room; set before the subflows connect. */
    long subflowUnsentBytes = NOTSENT_LOWAT;
    /**
     * Whether the concentrator's adapter restarts a subflow's congestion control when the session asks
     * ({@code userspace.restart-congestion-control-after-collapse}).
     */
    boolean restartsCongestionControl = true;
    /** Restarts the concentrator's adapter made, and when it made the last one (-1 before). */
    int congestionControlRestarts;
    long lastCongestionControlRestartAt = -1;

    /**
     * The protocol version the cpe offers unless a test says otherwise: what the adapter offers by default
     * ({@code userspace.large-frames = false}, version 2). The one place to change when that default changes.
     */
    static final int ADAPTER_VERSION = CapableSyn.VERSION;

    static final CpeKey KEY = new CpeKey("cpe-sim", new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});

    final EventQueue queue = new EventQueue();
    final List<SimLink> links;
    private final Map<String, SimLink> linkByUplink = new HashMap<>();
    final Session cpe;
    final ConcentratorEndpoint endpoint;
    final List<Session> concentratorSessions = new ArrayList<>();
    private final Map<Long, SimTcp> cpeTcp = new HashMap<>();
    private final Map<Session, Map<Long, SimTcp>> concentratorTcp = new HashMap<>();
    private final Map<SimTcp, long[]> concentratorRoute = new HashMap<>();
    private final Map<SimTcp, Session> concentratorRouteSession = new HashMap<>();
    final Map<Long, StreamSink> cpeSinks = new LinkedHashMap<>();
    final Map<Long, StreamSink> concentratorSinks = new LinkedHashMap<>();
    final Map<Long, StreamSource> cpeSources = new LinkedHashMap<>();
    final Map<Long, StreamSource> concentratorSources = new LinkedHashMap<>();
    final List<SessionEvent> cpeEvents = new ArrayList<>();
    final List<SessionEvent> concentratorEvents = new ArrayList<>();
    final Map<String, Long> bytesSentByUplinkDown = new HashMap<>();
    /** Two frames of the largest size a session's version allows (version 3's 64 KiB once a session speaks it). */
    private ByteBuffer scratch = ByteBuffer.allocate(2 * Session.MIN_TRANSMIT_BUFFER);
    private LongConsumer onConcentratorStream = id -> { };
    /** When the cpe reported its session established, -1 before. */
    long establishedAtNanos = -1;

    SimPair(SessionConfig cpeConfig, SessionConfig concentratorConfig, List<SimLink> links,
            List<SubflowPriority> priorities, long seed) {
        this(cpeConfig, concentratorConfig, links, priorities, seed, KEY, List.of(KEY));
    }

    SimPair(SessionConfig cpeConfig, SessionConfig concentratorConfig, List<SimLink> links,
            List<SubflowPriority> priorities, long seed, CpeKey cpeKey, List<CpeKey> concentratorKeys) {
        this(cpeConfig, concentratorConfig, links, priorities, seed, cpeKey, concentratorKeys,
                MemoryBudget.unlimited());
    }

    /** A pair whose concentrator's sessions count against {@code concentratorMemory}, a process-wide budget. */
    SimPair(SessionConfig cpeConfig, SessionConfig concentratorConfig, List<SimLink> links,
            List<SubflowPriority> priorities, long seed, CpeKey cpeKey, List<CpeKey> concentratorKeys,
            MemoryBudget concentratorMemory) {
        this.links = List.copyOf(links);
        List<Uplink> uplinks = new ArrayList<>();
        for (int i = 0; i < links.size(); i++) {
            uplinks.add(new Uplink(links.get(i).name, i + 1, priorities.get(i), 1));
            linkByUplink.put(links.get(i).name, links.get(i));
        }
        this.endpoint = new ConcentratorEndpoint(concentratorConfig, concentratorKeys,
                ConcentratorEndpoint.Limits.defaults(16), concentratorMemory, new SplittableRandom(seed + 1));
        this.cpe = Session.cpe(cpeConfig, cpeKey, uplinks, new SplittableRandom(seed), 0);
        cpe.offerVersion(ADAPTER_VERSION);
    }

    SimPair(SessionConfig config, List<SimLink> links, List<SubflowPriority> priorities) {
        this(config, config, links, priorities, 42);
    }

    long now() {
        return queue.now();
    }

    /** What the concentrator does with each stream the cpe opens. */
    void onConcentratorStream(LongConsumer action) {
        this.onConcentratorStream = action;
    }

    /** Opens a stream at the cpe that sends {@code requestBytes} up and expects a reply. */
    long openStream(long requestBytes) {
        long id = cpe.openStream(now());
        cpeSinks.put(id, new StreamSink(id));
        if (requestBytes > 0) {
            cpeSources.put(id, new StreamSource(id, requestBytes, 0));
        }
        drive();
        return id;
    }

    /** Opens a stream at the cpe pinned to {@code uplink} (a bypass rule's proxy action), sending {@code requestBytes}. */
    long openPinnedStream(String uplink, long requestBytes) {
        long id = cpe.openPinnedStream(uplink, now());
        cpeSinks.put(id, new StreamSink(id));
        if (requestBytes > 0) {
            cpeSources.put(id, new StreamSource(id, requestBytes, 0));
        }
        drive();
        return id;
    }

    /** Makes the concentrator send on stream {@code id}. */
    void sendFromConcentrator(long id, long bytes, double bitsPerSecond) {
        concentratorSources.put(id, new StreamSource(id, bytes, bitsPerSecond));
        if (bitsPerSecond > 0) {
            tick(id);
        }
    }

    private void tick(long id) {
        queue.at(now() + MS, () -> {
            StreamSource source = concentratorSources.get(id);
            if (source != null && !source.finished) {
                tick(id);
            }
        });
    }

    // ------------------------------------------------------------------ running

    /** Runs the simulation until {@code end} (absolute simulated nanoseconds). */
    /** The cpe's timer firings, and those after which an adapter runs a session pass (handleTimeout said so). */
    long cpeTimerCalls;
    long cpeTimerPasses;

    void runUntil(long end) {
        drive();
        int sameInstant = 0;
        long last = -1;
        while (true) {
            long next = queue.nextAt();
            next = Math.min(next, cpe.pollTimeout());
            for (Session s : concentratorSessions) {
                next = Math.min(next, s.pollTimeout());
            }
            if (next > end) {
                queue.advanceTo(end);
                return;
            }
            queue.advanceTo(next);
            sameInstant = next == last ? sameInstant + 1 : 0;
            last = next;
            if (sameInstant > 100_000) {
                throw new AssertionError("simulation stuck at " + next + " ns");
            }
            queue.runDue();
            long now = now();
            if (cpe.pollTimeout() <= now) {
                cpeTimerCalls++;
                if (cpe.handleTimeout(now)) {
                    cpeTimerPasses++;
                }
            }
            for (Session s : List.copyOf(concentratorSessions)) {
                if (s.pollTimeout() <= now) {
                    s.handleTimeout(now);
                }
            }
            drive();
        }
    }

    void runFor(long nanos) {
        runUntil(now() + nanos);
    }

    /** Calls the sessions the way an adapter does until nothing more happens at this instant. */
    void drive() {
        for (int guard = 0; guard < 100_000; guard++) {
            boolean progress = pumpSources();
            progress |= transmit(cpe, cpeTcp, true);
            for (Session s : List.copyOf(concentratorSessions)) {
                progress |= transmit(s, concentratorTcp.get(s), false);
            }
            progress |= drainCpeEvents();
            for (Session s : List.copyOf(concentratorSessions)) {
                progress |= drainConcentratorEvents(s);
            }
            if (!progress) {
                return;
            }
        }
        throw new AssertionError("drive did not settle");
    }

    private boolean transmit(Session session, Map<Long, SimTcp> tcps, boolean cpeSide) {
        boolean progress = false;
        for (Map.Entry<Long, SimTcp> e : tcps.entrySet()) {
            session.updateSubflow(e.getKey(), pipe(e.getValue(), cpeSide).estimates());
        }
        Transmit t;
        while (true) {
            if (scratch.capacity() < 2 * session.transmitBufferBytes()) {
                scratch = ByteBuffer.allocate(2 * session.transmitBufferBytes());
            }
            scratch.clear();
            t = session.pollTransmit(now(), scratch);
            if (t == null) {
                return progress;
            }
            progress = true;
            SimTcp tcp = tcps.get(t.subflowId());
            if (tcp == null) {
                continue;
            }
            byte[] bytes = new byte[t.bytes()];
            scratch.flip();
            scratch.get(bytes);
            SimTcp.Pipe pipe = pipe(tcp, cpeSide);
            pipe.write(bytes);
            if (!cpeSide) {
                bytesSentByUplinkDown.merge(tcp.link.name, (long) bytes.length, Long::sum);
            }
            session.updateSubflow(t.subflowId(), pipe.estimates());
        }
    }

    private static SimTcp.Pipe pipe(SimTcp tcp, boolean cpeSide) {
        return cpeSide ? tcp.up : tcp.down;
    }

    private boolean pumpSources() {
        boolean progress = false;
        progress |= pump(cpe, cpeSources);
        for (Session s : concentratorSessions) {
            progress |= pump(s, concentratorSources);
        }
        return progress;
    }

    private boolean pump(Session session, Map<Long, StreamSource> sources) {
        boolean progress = false;
        for (StreamSource source : sources.values()) {
            if (source.finished || !session.hasStream(source.streamId)) {
                continue;
            }
            long wanted = Math.min(source.wanted(now()), session.writable(source.streamId));
            while (wanted > 0) {
                int chunk = (int) Math.min(wanted, 64 * 1024);
                ByteBuffer bytes = ByteBuffer.wrap(StreamBytes.bytes(source.streamId, source.written, chunk));
                int n = session.write(source.streamId, bytes, now());
                if (n == 0) {
                    break;
                }
                source.wrote(n);
                wanted -= n;
                progress = true;
            }
            if (source.written == source.total && !source.finished) {
                session.finish(source.streamId, now());
                source.finished = true;
                progress = true;
            }
        }
        return progress;
    }

    // ------------------------------------------------------------------ events

    private boolean drainCpeEvents() {
        boolean progress = false;
        SessionEvent event;
        while ((event = cpe.pollEvent()) != null) {
            progress = true;
            cpeEvents.add(event);
            switch (event) {
                case SessionEvent.SubflowRequested r -> connect(r.subflowId(), linkByUplink.get(r.uplink()));
                case SessionEvent.SessionEstablished e -> establishedAtNanos = establishedAtNanos < 0 ? now()
                        : establishedAtNanos;
                case SessionEvent.SubflowClose c -> closeFromCpe(c.subflowId());
                case SessionEvent.StreamReadable r -> readAll(cpe, cpeSinks, r.streamId());
                default -> {
                }
            }
        }
        return progress;
    }

    private boolean drainConcentratorEvents(Session session) {
        boolean progress = false;
        SessionEvent event;
        while ((event = session.pollEvent()) != null) {
            progress = true;
            concentratorEvents.add(event);
            switch (event) {
                case SessionEvent.StreamOpened o -> {
                    concentratorSinks.put(o.streamId(), new StreamSink(o.streamId()));
                    onConcentratorStream.accept(o.streamId());
                }
                case SessionEvent.StreamReadable r -> readAll(session, concentratorSinks, r.streamId());
                case SessionEvent.SubflowClose c -> closeFromConcentrator(session, c.subflowId());
                case SessionEvent.SubflowRestartCongestionControl r -> restartCongestionControl(session, r.subflowId());
                case SessionEvent.SessionClosed c -> endpoint.release(session);
                default -> {
                }
            }
        }
        return progress;
    }

    private final ByteBuffer readBuffer = ByteBuffer.allocate(256 * 1024);

    private void readAll(Session session, Map<Long, StreamSink> sinks, long streamId) {
        StreamSink sink = sinks.get(streamId);
        while (true) {
            readBuffer.clear();
            int n = session.read(streamId, readBuffer, now());
            if (n < 0) {
                if (sink != null) {
                    sink.ended = true;
                }
                return;
            }
            if (n == 0) {
                return;
            }
            if (sink != null) {
                sink.accept(readBuffer.array(), n, now());
            }
        }
    }

    // ------------------------------------------------------------------ connections

    private void connect(long subflowId, SimLink link) {
        SimTcp tcp = new SimTcp(link, queue, subflowUnsentBytes, () -> { });
        if (link.blackholed) {
            // The SYN is lost; the connect attempt times out.
            queue.at(now() + SECOND, () -> cpe.subflowClosed(subflowId, now()));
            return;
        }
        cpeTcp.put(subflowId, tcp);
        tcp.down.receiver(bytes -> {
            if (cpeTcp.get(subflowId) == tcp) {
                cpe.handleSubflowBytes(subflowId, bytes, now());
            }
        });
        if (link.peerFrozen) {
            tcp.up.receiver(bytes -> { });
        } else {
            ConcentratorEndpoint.Incoming incoming = endpoint.incoming(link.name, now());
            tcp.up.receiver(bytes -> concentratorReceive(tcp, incoming, bytes));
        }
        queue.at(now() + link.rttNanos, () -> cpe.subflowConnected(subflowId, now()));
    }

    private void concentratorReceive(SimTcp tcp, ConcentratorEndpoint.Incoming incoming, ByteBuffer bytes) {
        Session session = concentratorRouteSession.get(tcp);
        if (session != null) {
            long id = concentratorRoute.get(tcp)[0];
            if (concentratorTcp.get(session).get(id) == tcp) {
                session.handleSubflowBytes(id, bytes, now());
            }
            return;
        }
        while (!incoming.isDone()) {
            switch (incoming.handleBytes(bytes, now())) {
                case ConcentratorEndpoint.HandshakeIncomplete more -> {
                    return;
                }
                case ConcentratorEndpoint.Answer answer -> tcp.down.write(answer.reply());
                case ConcentratorEndpoint.Routed routed -> {
                    Session s = routed.session();
                    if (routed.newSession()) {
                        concentratorSessions.add(s);
                        concentratorTcp.put(s, new HashMap<>());
                    }
                    concentratorTcp.get(s).put(routed.subflowId(), tcp);
                    concentratorRoute.put(tcp, new long[] {routed.subflowId()});
                    concentratorRouteSession.put(tcp, s);
                    if (bytes.hasRemaining()) {
                        s.handleSubflowBytes(routed.subflowId(), bytes, now());
                    }
                }
                case ConcentratorEndpoint.ConnectionRefused refused -> {
                    tcp.down.write(refused.reply());
                    queue.at(now() + tcp.link.rttNanos, tcp::close);
                }
            }
        }
    }

    private void closeFromCpe(long subflowId) {
        SimTcp tcp = cpeTcp.remove(subflowId);
        if (tcp == null) {
            return;
        }
        // The FIN follows the last bytes; the concentrator learns of the close half an RTT later.
        queue.at(now() + tcp.link.rttNanos, () -> {
            tcp.close();
            Session s = concentratorRouteSession.get(tcp);
            if (s != null) {
                long id = concentratorRoute.get(tcp)[0];
                concentratorTcp.get(s).remove(id);
                s.subflowClosed(id, now());
            }
        });
    }

    /**
     * The concentrator adapter's answer to {@link SessionEvent.SubflowRestartCongestionControl} when
     * {@link #restartsCongestionControl}: the subflow's sender no longer holds a rate it measured
     * ({@link SimLink#senderHeldBitsPerSecond}).
     */
    private void restartCongestionControl(Session session, long subflowId) {
        SimTcp tcp = concentratorTcp.get(session).get(subflowId);
        if (tcp != null && restartsCongestionControl) {
            tcp.link.senderHeldBitsPerSecond = 0;
            congestionControlRestarts++;
            lastCongestionControlRestartAt = now();
        }
    }

    private void closeFromConcentrator(Session session, long subflowId) {
        SimTcp tcp = concentratorTcp.get(session).remove(subflowId);
        if (tcp == null) {
            return;
        }
        queue.at(now() + tcp.link.rttNanos, () -> {
            tcp.close();
            for (Map.Entry<Long, SimTcp> e : Map.copyOf(cpeTcp).entrySet()) {
                if (e.getValue() == tcp) {
                    cpeTcp.remove(e.getKey());
                    cpe.subflowClosed(e.getKey(), now());
                }
            }
        });
    }

    /** Concentrator sessions' combined counter. */
    /** What the cpe's socket of a live subflow over {@code link} reports now (TCP_INFO), empty without one. */
    java.util.Optional<net.hybridproxy.engine.multipath.subflow.SubflowEstimates> cpeEstimates(SimLink link) {
        return cpeTcp.values().stream().filter(tcp -> tcp.link == link && !tcp.closed).findFirst()
                .map(tcp -> tcp.up.estimates());
    }

    long concentratorCounter(net.hybridproxy.engine.multipath.mib.MibCounter counter) {
        long sum = 0;
        for (Session s : concentratorSessions) {
            sum += s.mib().get(counter);
        }
        return sum;
    }
}
