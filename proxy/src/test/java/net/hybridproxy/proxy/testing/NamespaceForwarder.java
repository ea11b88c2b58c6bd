package net.hybridproxy.proxy.testing;

import net.hybridproxy.proxy.nativeio.Libc;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A TCP forwarder from this process's network namespace into a test namespace: it listens on a loopback port
 * here and, for each connection, connects to {@code target} from a thread inside the namespace. Lets clients
 * that cannot be moved into a namespace (an HTTP client, a browser) reach a server that lives there, such as an
 * appliance's admin server bound to the namespace's own 127.0.0.1.
 */
public final class NamespaceForwarder implements AutoCloseable {
    private final String namespace;
    private final InetSocketAddress target;
    private final ServerSocket listener;
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    /** One thread that entered the namespace: every upstream socket is created there, so it belongs there. */
    private final ExecutorService inside;
    private final Thread acceptor;

    public NamespaceForwarder(NetNs ns, InetSocketAddress target) throws IOException {
        this(ns.name(), target);
    }

    /** @param namespace a name under /run/netns, as {@code ip netns add} creates it */
    public NamespaceForwarder(String namespace, InetSocketAddress target) throws IOException {
        this.namespace = namespace;
        this.target = target;
        this.inside = Executors.newSingleThreadExecutor(r -> Thread.ofPlatform().daemon()
                .name("forward-in-" + namespace).unstarted(() -> {
                    try {
                        int fd = TestNative.open("/run/netns/" + namespace);
                        try {
                            TestNative.setns(fd, TestNative.CLONE_NEWNET);
                        } finally {
                            Libc.close(fd);
                        }
                    } catch (IOException e) {
                        throw new UncheckedIOException("cannot enter namespace " + namespace, e);
                    }
                    r.run();
                }));
        this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.acceptor = Thread.ofPlatform().daemon().name("forward-" + namespace).start(this::acceptLoop);
    }

    /** Where to connect, in this process's namespace. */
    public int port() {
        return listener.getLocalPort();
    }

    public String baseUri() {
        return "http://127.0.0.1:" + port();
    }

    private void acceptLoop() {
        while (!listener.isClosed()) {
            try {
                Socket client = listener.accept();
                Socket upstream;
                try {
                    upstream = inside.submit(() -> new Socket(target.getAddress(), target.getPort()))
                            .get(10, java.util.concurrent.TimeUnit.SECONDS);
                } catch (Exception e) {
                    client.close();
                    continue;
                }
                open.add(client);
                open.add(upstream);
                java.util.concurrent.atomic.AtomicInteger directions = new java.util.concurrent.atomic.AtomicInteger(2);
                pump(client, upstream, directions);
                pump(upstream, client, directions);
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    /** Copies one direction; a FIN is passed on as a FIN, and the pair closes when both directions ended. */
    private void pump(Socket from, Socket to, java.util.concurrent.atomic.AtomicInteger directions) {
        Thread.ofVirtual().start(() -> {
            byte[] buffer = new byte[16384];
            boolean clean = false;
            try {
                InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream();
                int n;
                while ((n = in.read(buffer)) >= 0) {
                    out.write(buffer, 0, n);
                }
                to.shutdownOutput();
                clean = true;
            } catch (IOException ignored) {
                // one side went away: close both below
            }
            if (!clean || directions.decrementAndGet() == 0) {
                closeQuietly(from);
                closeQuietly(to);
            }
        });
    }

    private void closeQuietly(Socket s) {
        open.remove(s);
        try {
            s.close();
        } catch (IOException ignored) {
            // closing a test socket
        }
    }

    @Override
    public void close() throws IOException {
        listener.close();
        inside.shutdownNow();
        open.forEach(this::closeQuietly);
        try {
            acceptor.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
