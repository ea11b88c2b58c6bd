package net.hybridproxy.engine.multipath.sched;

import java.util.List;

/**
 * {@code ecf}: Earliest Completion First, after Y. Lim, E. M. Nahum, D. Towsley, R. J. Gibbens,
 * "ECF: An MPTCP Path Scheduler to Manage Heterogeneous Paths", ACM CoNEXT 2017.
 *
 * <p>When the fastest subflow has no room, sending on a slower one is not always better than
 * waiting: if the fastest would finish the queued data sooner after waiting than the slower one
 * would deliver even one window, waiting wins and the slow path causes no head-of-line blocking.
 * The paper's rule, with {@code k} the bytes waiting, {@code f} the fastest subflow and {@code s}
 * the fastest with room:
 * <pre>
 * n = 1 + k / cwnd_f
 * if n * rtt_f &lt; (1 + waiting * beta) * (rtt_s + delta):
 *     if (k / cwnd_s) * rtt_s &gt;= 2 * rtt_f + delta: wait for f (waiting = 1)
 *     else: send on s
 * else: send on s (waiting = 0)
 * </pre>
 * {@code delta} is the larger RTT variation of the two and {@code beta} = 0.25 is the paper's
 * hysteresis. Windows the adapter does not know are taken as the subflow's queue plus its room.
 */
public final class EcfScheduler implements Scheduler {

    public static final String NAME = "ecf";

    private static final double BETA = 0.25;

    private boolean waiting;

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int pick(List<SubflowView> subflows, int chunkBytes, long pendingBytes, long now) {
        boolean onlyBackups = Candidates.onlyBackups(subflows);
        int fastest = -1;
        for (int i = 0; i < subflows.size(); i++) {
            SubflowView view = subflows.get(i);
            if (Candidates.eligible(view, onlyBackups)
                    && (fastest < 0 || view.srttNanos() < subflows.get(fastest).srttNanos())) {
                fastest = i;
            }
        }
        if (fastest < 0) {
            return -1;
        }
        SubflowView f = subflows.get(fastest);
        if (f.fits(chunkBytes)) {
            waiting = false;
            return fastest;
        }
        int second = Candidates.lowestRtt(subflows, chunkBytes, view -> Candidates.eligible(view, onlyBackups));
        if (second < 0) {
            return -1;
        }
        SubflowView s = subflows.get(second);
        double k = Math.max(pendingBytes, chunkBytes);
        double cwndF = window(f, chunkBytes);
        double cwndS = window(s, chunkBytes);
        double rttF = f.srttNanos();
        double rttS = s.srttNanos();
        double delta = Math.max(f.rttVarNanos(), s.rttVarNanos());
        double n = 1 + k / cwndF;
        if (n * rttF < (1 + (waiting ? BETA : 0)) * (rttS + delta)) {
            if (k / cwndS * rttS >= 2 * rttF + delta) {
                waiting = true;
                return -1;
            }
            return second;
        }
        waiting = false;
        return second;
    }

    private static double window(SubflowView view, int chunkBytes) {
        long cwnd = view.cwndBytes() > 0 ? view.cwndBytes() : view.inflightBytes() + view.notSentBytes() + view.spaceBytes();
        return Math.max(cwnd, chunkBytes);
    }
}
