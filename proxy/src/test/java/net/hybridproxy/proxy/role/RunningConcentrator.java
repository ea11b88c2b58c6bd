package net.hybridproxy.proxy.role;

import io.netty.channel.EventLoopGroup;
import net.hybridproxy.engine.auth.ConvertAuthenticator;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.convert.ConvertDecoder;
import net.hybridproxy.engine.convert.ConvertMessage;
import net.hybridproxy.engine.convert.DecodeResult;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.ConfigLoader;
import net.hybridproxy.proxy.testing.EchoServer;
import net.hybridproxy.proxy.testing.NetNs;
import net.hybridproxy.proxy.transport.MultipathConnections;
import net.hybridproxy.proxy.transport.Transport;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A concentrator role in this process, in a private network namespace, on an MPTCP listener on 198.18.0.1 (plain
 * TCP clients fall back, which the Convert layer does not mind), with an echo server on 198.18.0.2 as the
 * destination (RFC 8803 forbids loopback destinations). Two cpe keys, {@code cpe-a} and {@code cpe-b}. Clients are
 * plain sockets, so a test can send exactly the bytes an attacker would: the legitimate cpe from 198.18.0.1, the
 * attacker from 198.18.0.3. The event loops are started inside the namespace, so the sockets they create (the
 * outbound connections) belong to it too.
 */
final class RunningConcentrator implements AutoCloseable {
    static final InetAddress LEGITIMATE = address("198.18.0.1");
    static final InetAddress ECHO = address("198.18.0.2");
    /** A second source address for attackers, so the legitimate cpe's source is another one. */
    static final InetAddress ATTACKER = address("198.18.0.3");
    static final CpeKey KEY_A = new CpeKey("cpe-a", HexFormat.of().parseHex("00112233445566778899aabbccddeeff"));
    static final CpeKey KEY_B = new CpeKey("cpe-b", HexFormat.of().parseHex("ffeeddccbbaa99887766554433221100"));
    private static final SecureRandom RANDOM = new SecureRandom();

    final ProxyCounters counters;
    final InetSocketAddress listen;
    final InetSocketAddress echo;
    final NetNs ns;
    private final EventLoopGroup group;
    private final ConcentratorRole role;
    private final ServerSocket echoServer;

    /** Null when this can run here, else why not. */
    static String skipReason() {
        String ns = NetNs.skipReason();
        if (ns != null) {
            return ns;
        }
        if (!Transport.EPOLL.isAvailable()) {
            return "needs the epoll transport: " + Transport.EPOLL.unavailabilityCause().orElse("");
        }
        try {
            net.hybridproxy.proxy.transport.MptcpSockets.probe();
        } catch (Exception | Error e) {
            return "needs kernel MPTCP: " + e.getMessage();
        }
        return null;
    }

    /** @param extra HOCON inside {@code hybridproxy { ... }}, after the defaults here */
    RunningConcentrator(int maxConnections, String extra) throws Exception {
        ns = NetNs.create("admission");
        try {
            for (InetAddress a : List.of(LEGITIMATE, ECHO, ATTACKER)) {
                ns.ip("addr", "add", a.getHostAddress() + "/32", "dev", "lo");
            }
            echoServer = ns.call(() -> new ServerSocket(0, 200, ECHO));
            echo = (InetSocketAddress) echoServer.getLocalSocketAddress();
            EchoServer.start(echoServer);
            AppConfig config = ConfigLoader.parseString("""
                    hybridproxy {
                      role = concentrator
                      transport = epoll
                      max-connections = %d
                      concentrator {
                        listen = ["198.18.0.1:5100"]
                        keys = [
                          { id = cpe-a, key = "hex:00112233445566778899aabbccddeeff" }
                          { id = cpe-b, key = "hex:ffeeddccbbaa99887766554433221100" }
                        ]
                        destinations.allow = ["198.18.0.2/32"]
                        fast-open-queue = 0
                      }
                      %s
                    }
                    """.formatted(maxConnections, extra));
            counters = new ProxyCounters(config.maxConnections());
            group = Transport.EPOLL.newEventLoopGroup(2, "concentrator-test");
            role = ns.call(() -> {
                // Netty starts a loop's thread on its first task; started from here, it lives in the namespace.
                for (io.netty.util.concurrent.EventExecutor loop : group) {
                    loop.submit(() -> { }).sync();
                }
                ConcentratorRole r = new ConcentratorRole(new RoleContext(config, Transport.EPOLL, group, group,
                        counters, new MultipathConnections()));
                r.start();
                return r;
            });
            listen = (InetSocketAddress) role.listeners().getFirst().localAddress();
        } catch (Exception | Error e) {
            ns.close();
            throw e;
        }
    }

    /** A raw connection to the concentrator from {@code source}. */
    Socket connect(InetAddress source) throws Exception {
        Socket s = ns.call(() -> {
            Socket socket = new Socket();
            socket.bind(new InetSocketAddress(source, 0));
            return socket;
        });
        s.connect(listen, 5_000);
        s.setSoTimeout(10_000);
        return s;
    }

    /** A Connect request to the echo server proved with {@code key}. */
    byte[] request(CpeKey key) {
        byte[] nonce = new byte[ConvertAuthenticator.NONCE_BYTES];
        RANDOM.nextBytes(nonce);
        return ConvertMessage.connect(echo, Optional.of(ConvertAuthenticator.prove(key, echo,
                System.currentTimeMillis(), nonce))).encode();
    }

    /** Reads one Convert message from {@code in}. */
    static ConvertMessage readAnswer(InputStream in) throws Exception {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        while (true) {
            DecodeResult r = ConvertDecoder.decode(ByteBuffer.wrap(got.toByteArray()));
            if (r instanceof DecodeResult.Decoded d) {
                return d.message();
            }
            int b = in.read();
            if (b < 0) {
                throw new IOException("closed after " + got.size() + " bytes of an answer");
            }
            got.write(b);
        }
    }

    /**
     * One legitimate connection with {@code key} from {@code source}: request, answer, 4 KiB echoed byte-exact.
     * Returns the setup time in nanoseconds (connect until the success answer).
     */
    long echoOnce(CpeKey key, InetAddress source) throws Exception {
        long start = System.nanoTime();
        try (Socket s = connect(source)) {
            OutputStream out = s.getOutputStream();
            out.write(request(key));
            ConvertMessage answer = readAnswer(s.getInputStream());
            long setup = System.nanoTime() - start;
            if (answer.errorTlv().isPresent()) {
                throw new IOException("refused: " + answer.errorTlv().get());
            }
            byte[] payload = new byte[4096];
            RANDOM.nextBytes(payload);
            out.write(payload);
            byte[] back = s.getInputStream().readNBytes(payload.length);
            if (!Arrays.equals(payload, back)) {
                throw new IOException("echo differs: " + back.length + " bytes back");
            }
            return setup;
        }
    }

    /**
     * Keeps every event loop busy for {@code millis}, so that what clients send meanwhile (data and FIN) is all
     * waiting in the kernel when the concentrator first reads.
     */
    void stallEventLoops(long millis) {
        for (io.netty.util.concurrent.EventExecutor loop : group) {
            loop.execute(() -> {
                try {
                    Thread.sleep(millis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
        }
    }

    /** Waits until no connection holds a slot (the relays of closed connections end asynchronously). */
    void awaitIdle() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (counters.active() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
    }

    @Override
    public void close() throws Exception {
        try {
            role.close();
            echoServer.close();
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        } finally {
            ns.close();
        }
    }

    private static InetAddress address(String literal) {
        return InetAddress.ofLiteral(literal);
    }
}
