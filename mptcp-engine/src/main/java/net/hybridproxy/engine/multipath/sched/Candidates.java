package net.hybridproxy.engine.multipath.sched;

import java.util.List;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;

/** Selection helpers shared by the schedulers. */
final class Candidates {

    private Candidates() {
    }

    /**
     * Whether backups are the only subflows to use. RFC 8684 §3.3.8 (paraphrased): a backup
     * subflow is one the peer would prefer not to carry data unless no non-backup subflow is
     * available.
     */
    static boolean onlyBackups(List<SubflowView> subflows) {
        for (SubflowView view : subflows) {
            if (view.priority() != SubflowPriority.BACKUP) {
                return false;
            }
        }
        return true;
    }

    /** Whether {@code view} may be used at all, given the backup rule. */
    static boolean eligible(SubflowView view, boolean onlyBackups) {
        return onlyBackups || view.priority() != SubflowPriority.BACKUP;
    }

    /** The eligible subflow with the lowest RTT that has room for {@code bytes}, or -1. */
    static int lowestRttFitting(List<SubflowView> subflows, int bytes) {
        boolean onlyBackups = onlyBackups(subflows);
        return lowestRtt(subflows, bytes, view -> eligible(view, onlyBackups));
    }

    /** The subflow with the lowest RTT among those that pass {@code filter} and have room, or -1. */
    static int lowestRtt(List<SubflowView> subflows, int bytes, java.util.function.Predicate<SubflowView> filter) {
        int best = -1;
        for (int i = 0; i < subflows.size(); i++) {
            SubflowView view = subflows.get(i);
            if (filter.test(view) && view.fits(bytes)
                    && (best < 0 || view.srttNanos() < subflows.get(best).srttNanos())) {
                best = i;
            }
        }
        return best;
    }
}
