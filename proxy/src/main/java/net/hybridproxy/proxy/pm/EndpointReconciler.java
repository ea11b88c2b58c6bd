package net.hybridproxy.proxy.pm;

import net.hybridproxy.proxy.nativeio.Libc;

import java.io.IOException;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.ToIntFunction;

import static net.hybridproxy.proxy.pm.ReconcileReport.Action.ADDED;
import static net.hybridproxy.proxy.pm.ReconcileReport.Action.BACKUP_CHANGED;
import static net.hybridproxy.proxy.pm.ReconcileReport.Action.IMPLICIT_LEFT;
import static net.hybridproxy.proxy.pm.ReconcileReport.Action.KEPT;
import static net.hybridproxy.proxy.pm.ReconcileReport.Action.REMOVED;

/**
 * Makes the kernel's MPTCP endpoints and limits match the configuration, touching only what differs, so that
 * re-running it (at every start, or on a config reload) does not tear down subflows that are already right.
 *
 * <p>Endpoints are matched by address. A match whose interface and flags are equal is kept; one that differs only
 * in the backup flag is changed in place; any other difference is fixed by delete + add. Endpoints no uplink wants
 * are deleted, except those the kernel created itself (implicit), which are reported and left alone.
 *
 * <p>Blocking (netlink round trips): run it on the startup / reconcile thread, never on an event loop. Interface
 * names are resolved in the network namespace of the calling thread.
 */
public final class EndpointReconciler {
    private final MptcpPathManagerClient client;
    private final ToIntFunction<String> interfaceIndex;

    public EndpointReconciler(MptcpPathManagerClient client) {
        this(client, Libc::interfaceIndex);
    }

    /** @param interfaceIndex name to index, 0 when there is no such interface (as if_nametoindex(3)) */
    public EndpointReconciler(MptcpPathManagerClient client, ToIntFunction<String> interfaceIndex) {
        this.client = Objects.requireNonNull(client, "client");
        this.interfaceIndex = Objects.requireNonNull(interfaceIndex, "interfaceIndex");
    }

    public ReconcileReport reconcile(List<DesiredEndpoint> desired, MptcpLimits limits) throws IOException {
        // Validate and resolve everything before the first change, so a typo cannot leave a half-applied state.
        Map<InetAddress, DesiredEndpoint> wanted = new LinkedHashMap<>();
        Map<InetAddress, Integer> wantedIndex = new HashMap<>();
        for (DesiredEndpoint d : desired) {
            DesiredEndpoint previous = wanted.putIfAbsent(d.address(), d);
            if (previous != null) {
                throw new IllegalArgumentException("uplinks " + previous.uplinkName() + " and " + d.uplinkName()
                        + " both use address " + d.address().getHostAddress());
            }
            wantedIndex.put(d.address(), resolve(d));
        }

        MptcpLimits limitsBefore = client.limits();
        List<MptcpEndpoint> current = client.endpoints();
        List<ReconcileReport.Change> changes = new ArrayList<>();
        List<DesiredEndpoint> toAdd = new ArrayList<>();
        List<MptcpEndpoint> toDelete = new ArrayList<>();
        Map<MptcpEndpoint, DesiredEndpoint> toFlip = new LinkedHashMap<>();
        Map<InetAddress, DesiredEndpoint> unmatched = new LinkedHashMap<>(wanted);

        for (MptcpEndpoint have : current) {
            DesiredEndpoint candidate = unmatched.get(have.address());
            DesiredEndpoint want = candidate != null && candidate.port() == have.port() ? candidate : null;
            if (want == null) {
                if (have.flags().contains(EndpointFlag.IMPLICIT)) {
                    changes.add(new ReconcileReport.Change(IMPLICIT_LEFT, null, have));
                } else {
                    toDelete.add(have);
                }
                continue;
            }
            unmatched.remove(have.address());
            int index = wantedIndex.get(have.address());
            if (have.interfaceIndex() == index && have.flags().equals(want.flags())) {
                changes.add(new ReconcileReport.Change(KEPT, want.uplinkName(), have));
            } else if (have.interfaceIndex() == index && differOnlyInBackup(have.flags(), want.flags())) {
                toFlip.put(have, want);
            } else {
                toDelete.add(have);
                toAdd.add(want);
            }
        }
        toAdd.addAll(unmatched.values());

        // Deletions first: they free endpoint slots (the kernel holds at most 8) and addresses re-added below.
        for (MptcpEndpoint e : toDelete) {
            DesiredEndpoint owner = wanted.get(e.address());
            try {
                client.deleteEndpoint(e.id());
            } catch (IOException ex) {
                throw new IOException(uplinkPrefix(owner) + ex.getMessage(), ex);
            }
            changes.add(new ReconcileReport.Change(REMOVED, owner == null ? null : owner.uplinkName(), e));
        }
        for (Map.Entry<MptcpEndpoint, DesiredEndpoint> flip : toFlip.entrySet()) {
            DesiredEndpoint want = flip.getValue();
            try {
                client.setEndpointBackup(flip.getKey().id(), want.flags().contains(EndpointFlag.BACKUP));
            } catch (IOException ex) {
                throw new IOException(uplinkPrefix(want) + ex.getMessage(), ex);
            }
        }
        for (DesiredEndpoint want : toAdd) {
            try {
                client.addEndpoint(new MptcpEndpoint(0, want.address(), want.port(), want.flags(),
                        wantedIndex.get(want.address())));
            } catch (IOException ex) {
                throw new IOException(uplinkPrefix(want) + ex.getMessage(), ex);
            }
        }
        if (!limitsBefore.equals(limits)) {
            client.setLimits(limits);
        }

        // Report with the ids the kernel actually assigned.
        Map<InetAddress, MptcpEndpoint> after = new HashMap<>();
        for (MptcpEndpoint e : client.endpoints()) {
            after.put(e.address(), e);
        }
        for (MptcpEndpoint e : toFlip.keySet()) {
            changes.add(new ReconcileReport.Change(BACKUP_CHANGED, toFlip.get(e).uplinkName(),
                    after.getOrDefault(e.address(), e)));
        }
        for (DesiredEndpoint want : toAdd) {
            MptcpEndpoint added = after.get(want.address());
            if (added == null) {
                throw new IOException(uplinkPrefix(want) + "endpoint " + want.address().getHostAddress()
                        + " was accepted by the kernel but is missing from its endpoint list");
            }
            changes.add(new ReconcileReport.Change(ADDED, want.uplinkName(), added));
        }
        return new ReconcileReport(changes, limitsBefore, limits);
    }

    /** A missing interface is an IOException, not a config error: an LTE modem's netdev may simply not be up yet. */
    private int resolve(DesiredEndpoint d) throws IOException {
        if (d.interfaceName() == null) {
            return 0;
        }
        int index = interfaceIndex.applyAsInt(d.interfaceName());
        if (index <= 0) {
            throw new IOException("uplink " + d.uplinkName() + ": interface " + d.interfaceName()
                    + " does not exist");
        }
        return index;
    }

    private static boolean differOnlyInBackup(Set<EndpointFlag> have, Set<EndpointFlag> want) {
        Set<EndpointFlag> a = have.isEmpty() ? EnumSet.noneOf(EndpointFlag.class) : EnumSet.copyOf(have);
        Set<EndpointFlag> b = want.isEmpty() ? EnumSet.noneOf(EndpointFlag.class) : EnumSet.copyOf(want);
        a.remove(EndpointFlag.BACKUP);
        b.remove(EndpointFlag.BACKUP);
        return a.equals(b);
    }

    private static String uplinkPrefix(DesiredEndpoint d) {
        return d == null ? "" : "uplink " + d.uplinkName() + ": ";
    }
}
