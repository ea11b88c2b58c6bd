package net.hybridproxy.proxy.pm;

import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * What {@link EndpointReconciler#reconcile} found and did, for the startup log. Endpoints carry the ids the kernel
 * holds after the run.
 */
public record ReconcileReport(List<Change> changes, MptcpLimits limitsBefore, MptcpLimits limitsAfter) {

    public enum Action {
        /** Already as desired: untouched, so its subflows were not disturbed. */
        KEPT,
        ADDED,
        REMOVED,
        /** Only the backup flag differed; changed in place (MP_PRIO), subflows stay up. */
        BACKUP_CHANGED,
        /** Created by the kernel for an address in use; left alone, deleting it would cut live subflows. */
        IMPLICIT_LEFT
    }

    /** @param uplinkName the uplink the endpoint belongs to, or null for endpoints no uplink wants */
    public record Change(Action action, String uplinkName, MptcpEndpoint endpoint) {
        @Override
        public String toString() {
            return action.name().toLowerCase(Locale.ROOT) + " " + endpoint
                    + (uplinkName != null ? " (uplink " + uplinkName + ")" : "");
        }
    }

    public ReconcileReport {
        changes = List.copyOf(changes);
    }

    public List<Change> changes(Action action) {
        return changes.stream().filter(c -> c.action() == action).toList();
    }

    /** True when the kernel's state was modified (anything beyond KEPT / IMPLICIT_LEFT). */
    boolean changedAnything() {
        return !limitsBefore.equals(limitsAfter) || changes.stream()
                .anyMatch(c -> c.action() != Action.KEPT && c.action() != Action.IMPLICIT_LEFT);
    }

    @Override
    public String toString() {
        String limits = limitsBefore.equals(limitsAfter)
                ? "limits kept " + describe(limitsAfter)
                : "limits " + describe(limitsBefore) + " -> " + describe(limitsAfter);
        return changes.stream().map(Change::toString).collect(Collectors.joining("\n", "", "\n")) + limits;
    }

    private static String describe(MptcpLimits l) {
        return "subflows " + l.subflows() + " add_addr_accepted " + l.addAddrAccepted();
    }
}
