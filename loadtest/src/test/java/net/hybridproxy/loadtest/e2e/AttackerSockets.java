package net.hybridproxy.loadtest.e2e;

import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.Netns;
import net.hybridproxy.proxy.testing.NetNs;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Connections from an attacker's address inside a lab namespace, at flood rates: sockets are made in the namespace
 * in batches (each {@code NetNs.call} starts a thread that enters it) and connected from any thread.
 */
final class AttackerSockets implements AutoCloseable {
    private static final int BATCH = 64;

    private final NetNs ns;
    private final String address;
    private final Queue<Socket> spare = new ConcurrentLinkedQueue<>();

    AttackerSockets(NetNs ns, String address) {
        this.ns = ns;
        this.address = address;
    }

    /**
     * The attacker's own access line: a namespace of the lab holding {@code address}, joined to the concentrator by
     * a plain veth pair (closed with the lab's other namespaces by the caller). Another subscriber does not share the
     * legitimate cpe's DSL line; the two meet at the concentrator, as subscribers do at the operator's aggregation.
     * Keeping the lab's user-space link emulator off the attacker's path also keeps its CPU (about 0.2 ms per flood
     * connection, on the same two cores) and its queue (a download to the attacker filled the DSL queue the
     * legitimate cpe's packets wait in) out of what is measured: the concentrator's cost of the attack. An address
     * in the DSL access network keeps the attacker an authorized source, as the hardening issue's attacks need.
     */
    static Netns accessLine(HybridAccessLab lab, String address) {
        Netns line = Netns.create(lab.prefix() + "att", lab.logDir());
        line.ip("link", "add", "acc", "type", "veth", "peer", "name", "acc", "netns", lab.conc().name());
        line.ip("addr", "add", address + "/32", "dev", "acc");
        line.ip("link", "set", "lo", "up");
        line.ip("link", "set", "acc", "up");
        lab.conc().ip("link", "set", "acc", "up");
        // The concentrator answers ARP for its service address on any interface (arp_ignore 0, the default).
        line.ip("route", "add", HybridAccessLab.SERVICE_ADDR + "/32", "dev", "acc");
        lab.conc().ip("route", "add", address + "/32", "dev", "acc");
        return line;
    }

    /** A connection from the attacker's address to {@code target}, reads timing out after 10 s. */
    Socket connect(InetSocketAddress target) throws Exception {
        Socket s = spare.poll();
        if (s == null) {
            List<Socket> batch = ns.call(() -> {
                List<Socket> made = new ArrayList<>();
                for (int i = 0; i < BATCH; i++) {
                    Socket socket = new Socket();
                    socket.bind(new InetSocketAddress(address, 0));
                    made.add(socket);
                }
                return made;
            });
            s = batch.removeFirst();
            spare.addAll(batch);
        }
        try {
            s.connect(target, 5_000);
            s.setSoTimeout(10_000);
            return s;
        } catch (IOException e) {
            s.close();
            throw e;
        }
    }

    @Override
    public void close() throws IOException {
        Socket s;
        while ((s = spare.poll()) != null) {
            s.close();
        }
    }
}
