package net.hybridproxy.proxy.testing;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;

/** A TCP echo for tests: every accepted connection gets back what it sends, until it half-closes or resets. */
public final class EchoServer {
    /** After a failed accept (descriptors short, an aborted connection), before the next: no busy loop. */
    private static final long PAUSE_AFTER_FAILURE_MILLIS = 10;

    private EchoServer() {
    }

    /**
     * Serves {@code server} on a virtual thread until it is closed. A failed accept is printed and the server goes on
     * accepting. It used to stop silently at the first one: every later connection through the appliances would then
     * be accepted by the kernel and never answered, a hang that looks like the appliances' own (one candidate for the
     * fault matrix's unexplained 30 s hang, docs/decisions.md; nothing printed now means it was not this).
     */
    public static void start(ServerSocket server) {
        Thread.ofVirtual().start(() -> {
            while (!server.isClosed()) {
                Socket s;
                try {
                    s = server.accept();
                } catch (IOException e) {
                    if (server.isClosed()) {
                        return;
                    }
                    System.err.println("echo server on " + server.getLocalSocketAddress() + ": accept failed, going on: "
                            + e);
                    pause();
                    continue;
                }
                Thread.ofVirtual().start(() -> {
                    try (s) {
                        s.getInputStream().transferTo(s.getOutputStream());
                    } catch (IOException ignored) {
                        // the client reset: nothing to echo
                    }
                });
            }
        });
    }

    private static void pause() {
        try {
            Thread.sleep(PAUSE_AFTER_FAILURE_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
