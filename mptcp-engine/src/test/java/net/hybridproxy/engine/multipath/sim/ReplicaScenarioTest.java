package net.hybridproxy.engine.multipath.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.connection.SessionEvent;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import org.junit.jupiter.api.Test;

/**
 * A concentrator replica behind a balanced public address (docs/operations.md, "Concentrator scale-out"): it
 * announces its own address ahead of the session's first frames, and the cpe's joins go there instead of the
 * initial address. The simulated links reach one endpoint whatever the address; what is checked is where the cpe
 * asks its adapter to connect.
 */
class ReplicaScenarioTest {

    private static final List<SubflowPriority> BOTH = List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY);
    private static final InetSocketAddress REPLICA = new InetSocketAddress(address("198.18.41.2"), 5101);

    @Test
    void joinsGoToTheAnnouncedAddressFromTheFirstOne() {
        SimPair pair = replica(SimLink.of("dsl", 50, 20, 1), SimLink.of("lte", 30, 50, 2));
        pair.runFor(SimPair.SECOND);

        assertTrue(pair.cpe.isEstablished());
        assertTrue(pair.cpeEvents.contains(new SessionEvent.AddressAnnounced(1, REPLICA.getAddress(), 5101)));
        List<SessionEvent.SubflowRequested> requests = requests(pair);
        // The session's first subflows go to the configured address, both uplinks at once.
        assertNull(requests.get(0).remote());
        assertNull(requests.get(1).remote());
        // The one that did not carry the capable handshake had sent nothing yet: it is given up, not failed, and
        // its uplink's join goes to the replica at once.
        assertEquals(3, requests.size(), () -> "requests " + requests);
        SessionEvent.SubflowRequested join = requests.get(2);
        assertEquals(REPLICA.getAddress(), join.remote());
        assertEquals(5101, join.remotePort());
        assertTrue(pair.cpeEvents.stream().anyMatch(e -> e instanceof SessionEvent.SubflowClose c
                && c.reason() == ResetReason.ADMINISTRATIVELY_PROHIBITED));
        assertTrue(pair.cpeEvents.contains(new SessionEvent.SubflowAttached(join.subflowId(), join.uplink())));
        assertEquals(2, pair.cpe.subflows().stream().filter(s -> s.state().isAttached()).count());
        assertEquals(0, pair.endpoint.mib().get(MibCounter.JOIN_NO_TOKEN), "no join reached an unknown token");
    }

    @Test
    void whenTheAnnouncedAddressFailsWithNoSubflowLeftTheNextJoinGoesToTheInitialAddress() {
        SimLink dsl = SimLink.of("dsl", 50, 20, 1);
        SimLink lte = SimLink.of("lte", 30, 50, 2);
        SimPair pair = replica(dsl, lte);
        pair.runFor(SimPair.SECOND);
        int before = requests(pair).size();

        // The replica is gone: nothing answers, the subflows stall and close, joins to its address fail.
        dsl.blackholed = true;
        lte.blackholed = true;
        pair.runFor(15 * SimPair.SECOND);
        List<SessionEvent.SubflowRequested> during = requests(pair).subList(before, requests(pair).size());
        assertTrue(during.stream().anyMatch(r -> REPLICA.getAddress().equals(r.remote())), () -> "" + during);
        assertTrue(during.stream().anyMatch(r -> r.remote() == null),
                () -> "no join went back to the initial address: " + during);

        // Whoever answers at the initial address takes the join (here the same endpoint, as when the replica
        // came back): joins go to the announced address again.
        dsl.blackholed = false;
        lte.blackholed = false;
        pair.runFor(15 * SimPair.SECOND);
        assertTrue(pair.cpe.subflows().stream().anyMatch(s -> s.state().isAttached()));
        List<SessionEvent.SubflowRequested> all = requests(pair);
        int lastAttachedAt = -1;
        for (int i = 0; i < pair.cpeEvents.size(); i++) {
            if (pair.cpeEvents.get(i) instanceof SessionEvent.SubflowAttached) {
                lastAttachedAt = i;
            }
        }
        int attachedAt = lastAttachedAt;
        List<SessionEvent.SubflowRequested> after = pair.cpeEvents.subList(attachedAt, pair.cpeEvents.size()).stream()
                .filter(e -> e instanceof SessionEvent.SubflowRequested)
                .map(e -> (SessionEvent.SubflowRequested) e).toList();
        assertTrue(after.stream().allMatch(r -> REPLICA.getAddress().equals(r.remote())), () -> "" + all);
    }

    private static SimPair replica(SimLink dsl, SimLink lte) {
        SimPair pair = new SimPair(SessionConfig.defaults(), List.of(dsl, lte), BOTH);
        pair.endpoint.announceToNewSessions(List.of(REPLICA));
        return pair;
    }

    private static List<SessionEvent.SubflowRequested> requests(SimPair pair) {
        return pair.cpeEvents.stream().filter(e -> e instanceof SessionEvent.SubflowRequested)
                .map(e -> (SessionEvent.SubflowRequested) e).toList();
    }

    private static InetAddress address(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (java.net.UnknownHostException e) {
            throw new AssertionError(e);
        }
    }
}
