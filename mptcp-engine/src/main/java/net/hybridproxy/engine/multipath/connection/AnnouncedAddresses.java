package net.hybridproxy.engine.multipath.connection;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.hybridproxy.engine.multipath.frame.AddAddr;
import net.hybridproxy.engine.multipath.frame.RemoveAddr;
import net.hybridproxy.engine.multipath.mib.Mib;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import net.hybridproxy.engine.multipath.subflow.Subflow;

/**
 * The addresses a session's peer announced and the ones it announces (RFC 8684 §3.4 ADD_ADDR and REMOVE_ADDR,
 * docs/userspace-protocol.md §6). The concentrator announces another of its addresses (for example a replica's);
 * the cpe verifies the MAC, remembers the address, echoes it and reports {@code AddressAnnounced} to its adapter.
 *
 * <p>The cpe's joins go to the address announced last instead of the session's initial address, like a kernel
 * peer facing MP_CAPABLE's C flag ("the sender of this option will not accept additional MPTCP subflows to the
 * source address and port", RFC 8684 §3.1): behind a balanced public address, a join sent there could land on
 * another concentrator replica, which knows nothing of the session. Joins already under way towards the initial
 * address and not yet sent are redirected. One exception: when joins to the announced address fail while the
 * session has no subflow left, the next join goes to the initial address. If the replica holding the session is
 * gone, whoever answers there does not know the session, the JOIN_SYNACK does not verify and a new session starts
 * at once, instead of retrying a dead address for good.
 */
final class AnnouncedAddresses {

    /** At most this many announced addresses are remembered (address ids are one byte). */
    private static final int MAX_REMEMBERED = 255;

    private final Session session;
    private final Mib mib;
    private final Map<Integer, AddAddr> announcedByPeer = new LinkedHashMap<>();
    /** concentrator: announced on the first subflow, before the PING that confirms the session. */
    private List<InetSocketAddress> announceFirst = List.of();
    /** cpe: where joins go (the address announced last), null for the session's initial address. */
    private AddAddr joinTarget;
    /** cpe: joins to {@link #joinTarget} failed with no subflow left; the next goes to the initial address. */
    private boolean fallBack;

    AnnouncedAddresses(Session session, Mib mib) {
        this.session = session;
        this.mib = mib;
    }

    /** Announces one of our addresses (ADD_ADDR with a MAC keyed by the session secret). */
    void announce(int addressId, InetAddress address, int port) {
        if (session.handshake.secret() == null) {
            throw new IllegalStateException("no address can be announced before the session is established");
        }
        session.transmit.queueSessionControl(new AddAddr(addressId, address, port, false,
                session.handshake.addAddrHmac(addressId, address, port)));
    }

    /** Concentrator: these addresses are announced on the session's first subflow, ahead of everything else. */
    void announceOnFirstSubflow(List<InetSocketAddress> addresses) {
        announceFirst = List.copyOf(addresses);
    }

    /** Concentrator: queues the first-subflow announcements on {@code first} (once). */
    void queueFirstAnnouncements(Subflow first) {
        for (int i = 0; i < announceFirst.size(); i++) {
            InetSocketAddress a = announceFirst.get(i);
            int id = i + 1;
            first.queueControl(new AddAddr(id, a.getAddress(), a.getPort(), false,
                    session.handshake.addAddrHmac(id, a.getAddress(), a.getPort())));
        }
        announceFirst = List.of();
    }

    /** Cpe: where the next join goes; null for the session's initial address. */
    AddAddr joinTarget() {
        return fallBack ? null : joinTarget;
    }

    /** Cpe: a subflow attached; joins go to the announced address again. */
    void subflowAttached() {
        fallBack = false;
    }

    /** Cpe: a join towards the announced address failed and the session has no subflow left. */
    void announcedAddressFailed() {
        fallBack = true;
    }

    /** Withdraws addresses announced before (REMOVE_ADDR). */
    void withdraw(List<Integer> addressIds) {
        session.transmit.queueSessionControl(new RemoveAddr(addressIds));
    }

    /** An ADD_ADDR from the peer: verified, remembered, echoed and reported as {@code AddressAnnounced}. */
    void onAddAddr(AddAddr addAddr, long now) {
        if (addAddr.echo()) {
            return;
        }
        if (!session.handshake.verifiesAddAddr(addAddr.addressId(), addAddr.address(), addAddr.port(),
                addAddr.truncatedHmac())) {
            mib.increment(MibCounter.ADD_ADDR_BAD_HMAC);
            return;
        }
        mib.increment(MibCounter.ADD_ADDR_ACCEPTED);
        if (announcedByPeer.size() < MAX_REMEMBERED || announcedByPeer.containsKey(addAddr.addressId())) {
            announcedByPeer.put(addAddr.addressId(), addAddr);
        }
        session.transmit.queueSessionControl(addAddr.echoed());
        session.events.add(new SessionEvent.AddressAnnounced(addAddr.addressId(), addAddr.address(), addAddr.port()));
        if (session.role() == Session.Side.CPE) {
            joinTarget = addAddr;
            fallBack = false;
            session.subflows.redirectJoins(now);
        }
    }

    /** A REMOVE_ADDR from the peer: each address it knew is forgotten and reported as {@code AddressWithdrawn}. */
    void onRemoveAddr(RemoveAddr removeAddr) {
        mib.increment(MibCounter.REMOVE_ADDR_RECEIVED);
        for (int id : removeAddr.addressIds()) {
            if (joinTarget != null && joinTarget.addressId() == id) {
                joinTarget = null;
            }
            if (announcedByPeer.remove(id) != null) {
                session.events.add(new SessionEvent.AddressWithdrawn(id));
            }
        }
    }
}
