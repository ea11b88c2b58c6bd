package net.hybridproxy.engine.multipath.sim;

import java.util.List;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.frame.CapableSyn;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;

/** Runs of one bulk download over a set of links, and their goodput. */
final class Bulk {

    /** Warm-up before measuring: the session, slow start and the reorder buffer settle. */
    static final long WARMUP = 2 * SimPair.SECOND;

    private Bulk() {
    }

    /** The result of one download: the pair (for its counters) and the sink (for its log). */
    record Download(SimPair pair, StreamSink sink, long start, long end) {
        double megabitsPerSecond() {
            return sink.megabitsPerSecond(start, end);
        }

        /** The lowest goodput over consecutive windows of {@code window} nanoseconds. */
        double worstWindowMegabitsPerSecond(long window) {
            double worst = Double.MAX_VALUE;
            for (long t = start; t + window <= end; t += window) {
                worst = Math.min(worst, sink.megabitsPerSecond(t, t + window));
            }
            return worst;
        }
    }

    /** A download as fast as the session goes, measured for {@code seconds} after the warm-up. */
    static Download download(SessionConfig config, List<SimLink> links, List<SubflowPriority> priorities, int seconds) {
        return download(config, links, priorities, seconds, SimPair.NOTSENT_LOWAT);
    }

    /** The same with subflow sockets that hold {@code unsentBytes} before they report no room. */
    static Download download(SessionConfig config, List<SimLink> links, List<SubflowPriority> priorities, int seconds,
                             long unsentBytes) {
        return download(config, links, priorities, seconds, unsentBytes, SimPair.ADAPTER_VERSION);
    }

    /** The same with the cpe offering protocol version {@code version} (3: DATA frames of up to 64 KiB). */
    static Download download(SessionConfig config, List<SimLink> links, List<SubflowPriority> priorities, int seconds,
                             long unsentBytes, int version) {
        SimPair pair = new SimPair(config, links, priorities);
        pair.cpe.offerVersion(version);
        pair.subflowUnsentBytes = unsentBytes;
        pair.runFor(SimPair.SECOND / 2);
        pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, Long.MAX_VALUE, 0));
        long id = pair.openStream(100);
        long start = pair.now() + WARMUP;
        long end = start + seconds * SimPair.SECOND;
        pair.runUntil(end);
        StreamSink sink = pair.cpeSinks.get(id);
        if (sink.corruption != null) {
            throw new AssertionError(sink.corruption);
        }
        return new Download(pair, sink, start, end);
    }

    /** The moments of {@link #lteCollapse}'s download, in simulator time, and its sink. */
    record CollapseRun(StreamSink sink, long start, long collapsedAt, long recovered, long end) {
    }

    /**
     * The lab's LTE collapse on {@code pair}: a download as fast as the session goes; after the warm-up, 2 s at the
     * links' rates, then {@code lte} at 3 Mbit/s for 3 s, then at 60 again for 3 s.
     */
    static CollapseRun lteCollapse(SimPair pair, SimLink lte) {
        return lteCollapse(pair, lte, false);
    }

    /**
     * The same; if {@code senderHoldsCollapsedRate}, LTE's sender holds 2.9 Mbit/s
     * ({@link SimLink#senderHeldBitsPerSecond}) from 2 s into the collapse until 2.2 s after it, unless the
     * concentrator's adapter restarts its congestion control first: what Linux BBR did in the lab (docs/decisions.md,
     * "the LTE collapse, twelfth pass": policer mode 2.0 s into the collapse, at 2.89 Mbit/s, until 2.2 s after it).
     */
    static CollapseRun lteCollapse(SimPair pair, SimLink lte, boolean senderHoldsCollapsedRate) {
        pair.runFor(SimPair.SECOND / 2);
        pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, Long.MAX_VALUE, 0));
        long id = pair.openStream(100);
        pair.runFor(WARMUP);
        long start = pair.now();
        pair.runFor(2 * SimPair.SECOND);
        long collapsedAt = pair.now();
        lte.rateBitsPerSecond = 3_000_000;
        if (senderHoldsCollapsedRate) {
            pair.runFor(2 * SimPair.SECOND);
            lte.senderHeldBitsPerSecond = 2_900_000;
            pair.runFor(SimPair.SECOND);
            pair.queue.at(pair.now() + 2_200 * SimPair.MS, () -> lte.senderHeldBitsPerSecond = 0);
        } else {
            pair.runFor(3 * SimPair.SECOND);
        }
        lte.rateBitsPerSecond = 60_000_000;
        long recovered = pair.now();
        pair.runFor(3 * SimPair.SECOND);
        return new CollapseRun(pair.cpeSinks.get(id), start, collapsedAt, recovered, pair.now());
    }

    /** The same download over one link alone: the best a single path does in this simulator. */
    static double singlePath(SimLink link, int seconds) {
        return singlePath(link, seconds, SimPair.NOTSENT_LOWAT);
    }

    /** The same with subflow sockets that hold {@code unsentBytes} before they report no room. */
    static double singlePath(SimLink link, int seconds, long unsentBytes) {
        return download(SessionConfig.defaults(), List.of(link), List.of(SubflowPriority.PRIMARY), seconds, unsentBytes)
                .megabitsPerSecond();
    }
}
