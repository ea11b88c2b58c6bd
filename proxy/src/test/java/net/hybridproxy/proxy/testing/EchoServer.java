package net.hybridproxy.proxy.testing;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;

/** A TCP echo for tests: every accepted connection gets back what it sends, until it half-closes or resets. */
public final class EchoServer {
    private EchoServer() {
    }

    /** Serves {@code server} on a virtual thread until it is closed. */
    public static void start(ServerSocket server) {
        Thread.ofVirtual().start(() -> {
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    Thread.ofVirtual().start(() -> {
                        try (s) {
                            s.getInputStream().transferTo(s.getOutputStream());
                        } catch (IOException ignored) {
                            // the client reset: nothing to echo
                        }
                    });
                } catch (IOException e) {
                    return;
                }
            }
        });
    }
}
