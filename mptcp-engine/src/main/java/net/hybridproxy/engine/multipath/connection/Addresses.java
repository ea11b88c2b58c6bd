package net.hybridproxy.engine.multipath.connection;

import java.net.InetAddress;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.hybridproxy.engine.multipath.frame.AddAddr;
import net.hybridproxy.engine.multipath.frame.RemoveAddr;
import net.hybridproxy.engine.multipath.mib.Mib;
import net.hybridproxy.engine.multipath.mib.MibCounter;

/**
 * The addresses a session's peer announced and the ones it announces (RFC 8684 §3.4 ADD_ADDR and REMOVE_ADDR,
 * docs/userspace-protocol.md §6). The concentrator announces another of its addresses (for example a replica's);
 * the cpe verifies the MAC, remembers the address, echoes it and reports {@code AddressAnnounced} to its adapter,
 * whose path manager may then join there.
 */
final class Addresses {

    /** At most this many announced addresses are remembered (address ids are one byte). */
    private static final int MAX_REMEMBERED = 255;

    private final Session session;
    private final Mib mib;
    private final Map<Integer, AddAddr> announcedByPeer = new LinkedHashMap<>();

    Addresses(Session session, Mib mib) {
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

    /** Withdraws addresses announced before (REMOVE_ADDR). */
    void withdraw(List<Integer> addressIds) {
        session.transmit.queueSessionControl(new RemoveAddr(addressIds));
    }

    /** An ADD_ADDR from the peer: verified, remembered, echoed and reported as {@code AddressAnnounced}. */
    void onAddAddr(AddAddr addAddr) {
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
    }

    /** A REMOVE_ADDR from the peer: each address it knew is forgotten and reported as {@code AddressWithdrawn}. */
    void onRemoveAddr(RemoveAddr removeAddr) {
        mib.increment(MibCounter.REMOVE_ADDR_RECEIVED);
        for (int id : removeAddr.addressIds()) {
            if (announcedByPeer.remove(id) != null) {
                session.events.add(new SessionEvent.AddressWithdrawn(id));
            }
        }
    }
}
