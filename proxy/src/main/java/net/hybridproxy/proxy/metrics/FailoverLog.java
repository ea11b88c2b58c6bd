package net.hybridproxy.proxy.metrics;

import net.hybridproxy.admin.ApplianceStatus;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/** The most recent failovers, newest first, for the status page; bounded to {@value #CAPACITY} entries. */
public final class FailoverLog {
    static final int CAPACITY = 50;

    private final ArrayDeque<ApplianceStatus.Failover> entries = new ArrayDeque<>(CAPACITY);

    public synchronized void add(ApplianceStatus.Failover failover) {
        if (entries.size() == CAPACITY) {
            entries.removeLast();
        }
        entries.addFirst(failover);
    }

    public synchronized List<ApplianceStatus.Failover> recent() {
        return new ArrayList<>(entries);
    }
}
