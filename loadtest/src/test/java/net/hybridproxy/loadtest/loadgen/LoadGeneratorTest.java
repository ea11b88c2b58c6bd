package net.hybridproxy.loadtest.loadgen;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import net.hybridproxy.loadtest.tool.ToolJson;
import net.hybridproxy.proxy.transport.Transport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every workload of the load generator against its server over loopback, in process; needs no privileges. */
class LoadGeneratorTest {
    private static EventLoopGroup group;
    private static Channel server;
    private static final ByteArrayOutputStream SERVER_LOG = new ByteArrayOutputStream();

    @BeforeAll
    static void startServer() throws Exception {
        group = Transport.EPOLL.newEventLoopGroup(1, "loadserver-test");
        server = LoadServer.start(group, new InetSocketAddress("127.0.0.1", 0), false,
                new PrintStream(SERVER_LOG, true, StandardCharsets.UTF_8));
    }

    @AfterAll
    static void stopServer() {
        server.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    private static LoadTarget target() {
        return LoadTarget.of(LoadServer.format(server.localAddress()));
    }

    private static String serverLog() {
        synchronized (SERVER_LOG) {
            return SERVER_LOG.toString(StandardCharsets.UTF_8);
        }
    }

    @Test
    void anUploadOfAnOddSizeIsVerifiedByTheServerWhichSaysWhoItSaw() throws Exception {
        BulkResult r = LoadClient.run(target().withSeed(7), BulkOptions.transfer(true, 3 * 1024 * 1024 + 5));
        assertTrue(r.ok(), r::toString);
        assertEquals(3 * 1024 * 1024 + 5, r.verifiedBytes());
        assertEquals(r.stream().local(), r.stream().peerSeenByServer());
        assertNotNull(r.stream().sha256());
    }

    @Test
    void aDownloadIsCheckedByteByByteAndTheServerConfirmsTheDigestAfterItsFin() throws Exception {
        BulkResult r = LoadClient.run(target().withSeed(42), BulkOptions.transfer(false, 3 * 1024 * 1024 + 3));
        assertTrue(r.ok(), r::toString);
        assertEquals("ok", r.stream().outcome());
        assertTrue(r.stream().ttfbMs() > 0);
        String local = r.stream().local();
        for (int i = 0; i < 100 && !serverLog().contains("peer=" + local + " sent=3145731 received=3145731"
                + " result=MATCH"); i++) {
            Thread.sleep(20);
        }
        assertTrue(serverLog().contains("DONE op=DOWN peer=" + local + " sent=3145731 received=3145731 result=MATCH"),
                serverLog());
    }

    @Test
    void zeroBytesWorkBothWays() throws Exception {
        assertTrue(LoadClient.run(target(), BulkOptions.transfer(true, 0)).ok());
        assertTrue(LoadClient.run(target(), BulkOptions.transfer(false, 0)).ok());
    }

    @Test
    void timedParallelStreamsFillTheTimelineAndCountOnlyVerifiedBytes() throws Exception {
        for (boolean upload : new boolean[] {false, true}) {
            BulkResult r = LoadClient.run(target(), BulkOptions.timed(upload, 600).withConnections(3));
            assertTrue(r.ok(), r::toString);
            assertEquals(3, r.outcomes().get("ok"));
            assertEquals(0, r.unverifiedBytes());
            long timelineTotal = 0;
            for (long b : r.timelineBytes()) {
                timelineTotal += b;
            }
            assertEquals(r.verifiedBytes(), timelineTotal);
            assertTrue(r.timelineBytes().length >= 6, "100 ms buckets over 600 ms");
        }
    }

    @Test
    void aPacedDownloadKeepsToItsRate() throws Exception {
        BulkResult r = LoadClient.run(target(), BulkOptions.timed(false, 1000).withRateKbit(8_000));
        assertTrue(r.ok(), r::toString);
        // 8 Mbit/s for one second is 1 MB, plus one chunk of head start.
        assertTrue(r.verifiedBytes() > 700_000 && r.verifiedBytes() < 1_200_000, r::toString);
    }

    @Test
    void aClosedPortIsRefusedWhichOnlyAnExpectRefusedRunCountsAsSuccess() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        LoadTarget closed = LoadTarget.of("127.0.0.1:" + port);
        BulkResult plain = LoadClient.run(closed, BulkOptions.transfer(true, 10));
        assertFalse(plain.ok());
        assertEquals("refused", plain.stream().outcome());
        assertTrue(LoadClient.run(closed, BulkOptions.transfer(true, 10).expectingRefusal()).ok());
    }

    @Test
    void acceptedThenClosedCountsAsRefusedButAWorkingServerDoesNot() throws Exception {
        try (ServerSocket rude = new ServerSocket(0, 5, InetAddress.getLoopbackAddress())) {
            Thread t = Thread.ofPlatform().daemon().start(() -> {
                try (Socket c = rude.accept()) {
                    c.getInputStream().read(); // take the request's first byte, then hang up
                } catch (Exception ignored) {
                    // test helper
                }
            });
            BulkResult r = LoadClient.run(LoadTarget.of("127.0.0.1:" + rude.getLocalPort()),
                    BulkOptions.transfer(false, 1000).expectingRefusal());
            assertTrue(r.ok(), r::toString);
            t.join(5000);
        }
        assertFalse(LoadClient.run(target(), BulkOptions.transfer(false, 1000).expectingRefusal()).ok());
    }

    @Test
    void aCorruptedByteShortStreamOrExtraByteIsCaught() throws Exception {
        // A server that sends the right pattern but for one flipped byte, or one byte too few or too many.
        for (int variant = 0; variant < 3; variant++) {
            int v = variant;
            try (ServerSocket liar = new ServerSocket(0, 5, InetAddress.getLoopbackAddress())) {
                Thread t = Thread.ofPlatform().daemon().start(() -> {
                    try (Socket c = liar.accept()) {
                        while (c.getInputStream().read() != '\n') {
                            // the DOWN line
                        }
                        byte[] data = new byte[v == 1 ? 99_999 : v == 2 ? 100_001 : 100_000];
                        PayloadPattern.of(3).fill(0, data, 0, data.length);
                        if (v == 0) {
                            data[77_777] ^= 0x40;
                        }
                        OutputStream out = c.getOutputStream();
                        out.write(data);
                        c.shutdownOutput();
                        c.getInputStream().readAllBytes();
                    } catch (Exception ignored) {
                        // test helper
                    }
                });
                BulkResult r = LoadClient.run(LoadTarget.of("127.0.0.1:" + liar.getLocalPort()).withSeed(3),
                        BulkOptions.transfer(false, 100_000));
                assertFalse(r.ok(), r::toString);
                assertEquals(new String[] {"mismatch", "short", "protocol"}[v], r.stream().outcome(), r::toString);
                assertEquals(0, r.verifiedBytes());
                t.join(5000);
            }
        }
    }

    @Test
    void requestResponseOnPersistentAndOnNewConnections() throws Exception {
        for (boolean fresh : new boolean[] {false, true}) {
            RequestResponseResult r = LoadClient.run(target(), new RequestResponseOptions(3, 20_000, 500, fresh));
            assertTrue(r.ok(), r::toString);
            assertTrue(r.latency().count() > 3, r::toString);
            assertTrue(r.latency().p50Ms() <= r.latency().p99Ms() && r.latency().p99Ms() <= r.latency().maxMs());
            assertEquals(fresh, r.newConnectionPerRequest());
        }
    }

    @Test
    void timeToFirstByteIsMeasuredOnNewConnections() throws Exception {
        TtfbResult r = LoadClient.run(target(), TtfbOptions.of(30, 4, 10_000).withWarmup(5));
        assertTrue(r.ok(), r::toString);
        assertEquals(30, r.ttfb().count());
        assertTrue(r.connect().p50Ms() <= r.ttfb().p50Ms() && r.ttfb().p50Ms() <= r.total().p50Ms(), r::toString);
        assertTrue(r.connectionsPerSecond() > 0);
    }

    @Test
    void heldConnectionsStayOpenAndEachRelayedAnObject() throws Exception {
        HoldResult r = LoadClient.run(target(), new HoldOptions(50, 10, 200, 30_000));
        assertTrue(r.ok(), r::toString);
        assertEquals(50, r.verified());
        assertEquals(50, r.stillOpenAfterHold());
    }

    @Test
    void theCommandLinePrintsTheResultAsOneJsonLineAndExitsByIt() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int rc = net.hybridproxy.loadtest.tool.ToolCommandLine.run(new LoadClient(new PrintStream(out, true,
                        StandardCharsets.UTF_8)), new String[] {"bulk", "--connect", target().connect(), "--down",
                        "5000", "--seed", "11"}, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, rc, err::toString);
        BulkResult r = LoadClient.parseResult(out.toString(StandardCharsets.UTF_8), BulkResult.class);
        assertTrue(r.ok());
        assertEquals(5000, r.verifiedBytes());
        assertEquals(ToolJson.line(r), out.toString(StandardCharsets.UTF_8).strip());
    }
}
