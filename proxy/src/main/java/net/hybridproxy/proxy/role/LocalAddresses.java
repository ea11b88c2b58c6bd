package net.hybridproxy.proxy.role;

import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.time.Duration;
import java.util.Collections;
import java.util.HashSet;
import java.util.Set;

/**
 * This host's addresses, for the cpe's self-loop check, read off the event loops: enumerating interfaces is a
 * netlink dump, so a virtual thread refreshes the set every {@code refresh} (a WAN address that changed is known
 * within that time) and event loops only read it.
 */
final class LocalAddresses implements AutoCloseable {
    private volatile Set<InetAddress> addresses = Set.of();
    private final Thread refresher;

    LocalAddresses(Duration refresh) {
        addresses = read();
        refresher = Thread.ofVirtual().name("hybridproxy-local-addresses").start(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                try {
                    Thread.sleep(refresh);
                } catch (InterruptedException e) {
                    return;
                }
                addresses = read();
            }
        });
    }

    /** Whether {@code address} is this host: loopback, unspecified, or one of its interfaces' addresses. */
    boolean contains(InetAddress address) {
        return address.isLoopbackAddress() || address.isAnyLocalAddress() || addresses.contains(address);
    }

    private static Set<InetAddress> read() {
        Set<InetAddress> found = new HashSet<>();
        try {
            for (NetworkInterface nif : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                for (InetAddress a : Collections.list(nif.getInetAddresses())) {
                    found.add(InetAddress.getByAddress(a.getAddress())); // without scope or host name
                }
            }
        } catch (SocketException | java.net.UnknownHostException e) {
            return Set.of();
        }
        return Set.copyOf(found);
    }

    @Override
    public void close() {
        refresher.interrupt();
    }
}
