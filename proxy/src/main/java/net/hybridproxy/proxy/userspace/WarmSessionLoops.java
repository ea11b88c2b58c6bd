package net.hybridproxy.proxy.userspace;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.AbstractEventExecutorGroup;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The event loops a userspace cpe's LAN connections are registered on: the worker loops, chosen so that a new
 * connection becomes a stream of a session whose subflows have carried data.
 *
 * <p>The cpe keeps one session per loop ({@link UserspaceCpe}), and a stream belongs to the session of the loop its
 * LAN connection was registered on (nothing crosses threads). Netty's own choice, each loop in turn, put a
 * subscriber's second download on a session that had never carried a byte: TCP slow start and receive autotuning
 * from scratch on both subflows, with the stream windows on top, while the first download's session sat warm on
 * another loop (docs/decisions.md, "lossy paths, twelfth pass" and "thirteenth pass"). So a new connection goes to
 * the loop whose session delivered stream bytes most recently, as long as that loop holds fewer than
 * {@code warmSessionConnections} LAN connections; past that, to the next most recently used loop under the limit,
 * and when every loop is at the limit, to the loop with the fewest. A household's few bulk transfers share one warm
 * session; a browser opening dozens of connections at once spreads over the loops (and cores) in groups of the
 * limit. 0 turns the preference off: each loop in turn, as Netty does.
 *
 * <p>What the choice reads is two numbers per loop, bounded by the loop count: the LAN connections registered and
 * not yet closed (counted here, atomically, since accept threads and the loops' close listeners both touch it), and
 * when the loop's current session last delivered stream bytes ({@link #markCold}, written by the loop itself,
 * read here). No session state is read or changed off its loop. The choice is made for every registration, on the
 * accepting thread, in a loop over the loops (a handful): no lock.
 *
 * <p>The kernel engine keeps Netty's choice: its connections are independent MPTCP connections, there is no
 * session to keep warm.
 */
public final class WarmSessionLoops extends AbstractEventExecutorGroup implements EventLoopGroup {
    /** {@link Load#lastStreamBytesNanos} of a loop whose current session has not delivered a stream byte yet. */
    static final long NEVER = Long.MIN_VALUE;

    private final EventLoopGroup workers;
    private final List<EventLoop> loops;
    private final Load[] loads;
    private final Map<EventLoop, Load> byLoop = new IdentityHashMap<>();
    private final int warmSessionConnections;
    /** Where the search for the least loaded loop starts among equals: each loop in turn. */
    private final AtomicInteger turn = new AtomicInteger();

    /** What the choice knows of one loop. */
    static final class Load {
        final AtomicInteger connections = new AtomicInteger();
        final AtomicLong lastStreamBytesNanos = new AtomicLong(NEVER);
    }

    /**
     * @param workers                the worker loops, one cpe session each
     * @param warmSessionConnections LAN connections a loop takes while it is the warmest; 0 for each loop in turn
     */
    public WarmSessionLoops(EventLoopGroup workers, int warmSessionConnections) {
        if (warmSessionConnections < 0) {
            throw new IllegalArgumentException("warmSessionConnections " + warmSessionConnections
                    + " must not be negative");
        }
        this.workers = workers;
        this.warmSessionConnections = warmSessionConnections;
        List<EventLoop> all = new ArrayList<>();
        for (EventExecutor executor : workers) {
            all.add((EventLoop) executor);
        }
        this.loops = List.copyOf(all);
        this.loads = new Load[loops.size()];
        for (int i = 0; i < loads.length; i++) {
            loads[i] = new Load();
            byLoop.put(loops.get(i), loads[i]);
        }
    }

    /**
     * The session of {@code loop} ended, or a new one starts there: the loop is cold until its next session delivers
     * stream bytes itself. Returns where that session publishes when it last did
     * ({@link SessionDriver#publishStreamActivity}), on its loop, with a release store: the accepting thread sees it
     * at its next choice, and the loop pays no fence for it.
     */
    AtomicLong markCold(EventLoop loop) {
        AtomicLong last = byLoop.get(loop).lastStreamBytesNanos;
        last.set(NEVER);
        return last;
    }

    /** LAN connections registered on {@code loop} and not yet closed (for tests). */
    int connections(EventLoop loop) {
        Load load = byLoop.get(loop);
        return load == null ? 0 : load.connections.get();
    }

    @Override
    public EventLoop next() {
        return loops.get(choose());
    }

    private int choose() {
        int n = loads.length;
        int[] connections = new int[n];
        long[] lastStreamBytes = new long[n];
        for (int i = 0; i < n; i++) {
            connections[i] = loads[i].connections.get();
            lastStreamBytes[i] = loads[i].lastStreamBytesNanos.get();
        }
        return choose(connections, lastStreamBytes, warmSessionConnections, Math.floorMod(turn.getAndIncrement(), n));
    }

    /**
     * The rule, apart from its inputs' threads (tested alone). Among the loops with fewer than {@code limit}
     * connections, the one whose session delivered stream bytes last; if none under the limit has delivered any, or
     * every loop is at the limit, the loop with the fewest connections, equals taken in turn from {@code start}. A
     * limit of 0: {@code start}, each loop in turn.
     *
     * @param connections     per loop, LAN connections open on it
     * @param lastStreamBytes per loop, when its session last delivered stream bytes ({@link #NEVER}: not yet)
     * @param start           where the turn is: 0 to loops - 1
     */
    static int choose(int[] connections, long[] lastStreamBytes, int limit, int start) {
        int n = connections.length;
        if (limit == 0) {
            return start;
        }
        int warmest = -1;
        for (int i = 0; i < n; i++) {
            if (connections[i] < limit && lastStreamBytes[i] != NEVER
                    && (warmest < 0 || lastStreamBytes[i] > lastStreamBytes[warmest])) {
                warmest = i;
            }
        }
        if (warmest >= 0) {
            return warmest;
        }
        int least = start;
        for (int k = 1; k < n; k++) {
            int i = (start + k) % n;
            if (connections[i] < connections[least]) {
                least = i;
            }
        }
        return least;
    }

    @Override
    public ChannelFuture register(Channel channel) {
        EventLoop loop = next();
        return counted(loop, channel, loop.register(channel));
    }

    @Override
    public ChannelFuture register(ChannelPromise promise) {
        EventLoop loop = next();
        return counted(loop, promise.channel(), loop.register(promise));
    }

    @Override
    @Deprecated
    public ChannelFuture register(Channel channel, ChannelPromise promise) {
        EventLoop loop = next();
        return counted(loop, channel, loop.register(channel, promise));
    }

    /**
     * Counts {@code channel} against {@code loop} until it closes. The close listener is added once the registration
     * has given the channel its loop (a future's listeners run there); a channel closed before that (a failed
     * registration) runs it at once.
     */
    private ChannelFuture counted(EventLoop loop, Channel channel, ChannelFuture registration) {
        AtomicInteger open = byLoop.get(loop).connections;
        open.incrementAndGet();
        channel.closeFuture().addListener(f -> open.decrementAndGet());
        return registration;
    }

    @Override
    public Iterator<EventExecutor> iterator() {
        return workers.iterator();
    }

    /** The worker group belongs to the appliance, which shuts it down; this view of it only reports. */
    @Override
    public boolean isShuttingDown() {
        return workers.isShuttingDown();
    }

    @Override
    public Future<?> shutdownGracefully(long quietPeriod, long timeout, TimeUnit unit) {
        throw new UnsupportedOperationException("the worker loops are shut down by their owner");
    }

    @Override
    public Future<?> terminationFuture() {
        return workers.terminationFuture();
    }

    @Override
    @Deprecated
    public void shutdown() {
        throw new UnsupportedOperationException("the worker loops are shut down by their owner");
    }

    @Override
    public boolean isShutdown() {
        return workers.isShutdown();
    }

    @Override
    public boolean isTerminated() {
        return workers.isTerminated();
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
        return workers.awaitTermination(timeout, unit);
    }
}
