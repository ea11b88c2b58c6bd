package net.hybridproxy.proxy.upstream;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import net.hybridproxy.proxy.config.AppConfig.HealthCheck;
import net.hybridproxy.proxy.config.AppConfig.UpstreamConcentrator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The monitor's probes over real loopback sockets: a single concentrator that a refused connection marked down is
 * marked up again by probes once something listens at its address, and is not probed while up.
 */
class ConcentratorMonitorTest {
    private static final HealthCheck FAST = new HealthCheck(Duration.ofMillis(50), Duration.ofMillis(500), 2, 2,
            Duration.ofSeconds(30));

    private final EventLoopGroup loops = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());

    @AfterEach
    void stop() {
        loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    @Test
    void aSingleConcentratorMarkedDownIsBroughtBackUpByProbesWithoutAClient() throws Exception {
        InetAddress loopback = InetAddress.getLoopbackAddress();
        int port;
        try (ServerSocket reserve = new ServerSocket(0, 1, loopback)) {
            port = reserve.getLocalPort(); // closed again: nothing listens there until the concentrator "restarts"
        }
        UpstreamConcentrator only = new UpstreamConcentrator("only", new InetSocketAddress(loopback, port));
        try (ConcentratorMonitor monitor = new ConcentratorMonitor(List.of(only), FAST)) {
            monitor.start(loops, NioSocketChannel::new);
            monitor.connectFailed(monitor.choice(), new ConnectException("Connection refused"));
            assertFalse(monitor.health().get(0).up(), "a refused connection marks it down at once");

            AtomicInteger accepted = new AtomicInteger();
            try (ServerSocket concentrator = new ServerSocket(port, 50, loopback)) {
                Thread acceptor = Thread.ofVirtual().start(() -> {
                    while (!concentrator.isClosed()) {
                        try (Socket probe = concentrator.accept()) {
                            accepted.incrementAndGet();
                        } catch (Exception closed) {
                            return;
                        }
                    }
                });
                long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
                while (!monitor.health().get(0).up() && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                }
                assertTrue(monitor.health().get(0).up(), "probes mark it up once it listens again");
                // A probe succeeds when the kernel completes its handshake, before this thread's accept() returns.
                while (accepted.get() < FAST.recoveries() && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                }
                assertTrue(accepted.get() >= FAST.recoveries(), "accepted " + accepted.get());

                // Up again: probing stops. Ten intervals later, at most the round already in flight has connected.
                int whenUp = accepted.get();
                Thread.sleep(FAST.interval().multipliedBy(10).toMillis());
                assertTrue(accepted.get() <= whenUp + 1, "probed while up: " + whenUp + " -> " + accepted.get());
                concentrator.close();
                acceptor.join();
            }
            assertEquals("", monitor.health().get(0).lastFailure());
        }
    }
}
