package net.hybridproxy.engine.multipath.sched;

import java.util.List;

/**
 * {@code round-robin}: each chunk on the next eligible subflow with room, in turn. Useful to
 * exercise every path equally (tests, diagnostics); rarely the best choice for throughput on
 * unequal paths.
 */
public final class RoundRobinScheduler implements Scheduler {

    public static final String NAME = "round-robin";

    private long lastId = -1;

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int pick(List<SubflowView> subflows, int chunkBytes, long pendingBytes, long now) {
        boolean onlyBackups = Candidates.onlyBackups(subflows);
        int start = 0;
        for (int i = 0; i < subflows.size(); i++) {
            if (subflows.get(i).id() == lastId) {
                start = i + 1;
                break;
            }
        }
        for (int k = 0; k < subflows.size(); k++) {
            int i = (start + k) % subflows.size();
            SubflowView view = subflows.get(i);
            if (Candidates.eligible(view, onlyBackups) && view.fits(chunkBytes)) {
                lastId = view.id();
                return i;
            }
        }
        return -1;
    }
}
