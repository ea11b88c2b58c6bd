package net.hybridproxy.loadtest.e2e;

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
