package net.hybridproxy.loadtest.lab;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** TrafficPeer over loopback, in process; needs no privileges. */
class LabTrafficPeerTest {
    private final ByteArrayOutputStream serverLog = new ByteArrayOutputStream();
    private TrafficPeer.Server server;

    @BeforeEach
    void startServer() throws Exception {
        server = TrafficPeer.Server.start(new InetSocketAddress("127.0.0.1", 0), 10_000,
                new PrintStream(serverLog, true, StandardCharsets.UTF_8));
    }

    @AfterEach
    void stopServer() throws Exception {
        server.close();
    }

    private TrafficResult client(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        String[] full = new String[args.length + 1];
        full[0] = "client";
        System.arraycopy(args, 0, full, 1, args.length);
        int rc = TrafficPeer.run(full, new PrintStream(out, true, StandardCharsets.UTF_8), System.err);
        String line = out.toString(StandardCharsets.UTF_8).strip();
        return TrafficResult.parse(line, rc);
    }

    private String target() {
        return "127.0.0.1:" + server.port();
    }

    @Test
    void uploadIsVerifiedAndReportsPeer() {
        TrafficResult r = client("--connect", target(), "--up", String.valueOf(3 * 1024 * 1024 + 5));
        assertTrue(r.ok(), r.line());
        assertEquals(0, r.exitCode());
        assertEquals("127.0.0.1", r.peerIpSeenByServer());
        assertEquals(r.local(), r.peerSeenByServer());
    }

    @Test
    void downloadIsVerifiedAndServerLogsMatch() throws Exception {
        TrafficResult r = client("--connect", target(), "--down", String.valueOf(3 * 1024 * 1024 + 3), "--seed", "42");
        assertTrue(r.ok(), r.line());
        for (int i = 0; i < 100 && !serverLog.toString(StandardCharsets.UTF_8).contains("result=MATCH"); i++) {
            Thread.sleep(20);
        }
        String log = serverLog.toString(StandardCharsets.UTF_8);
        assertTrue(log.contains("op=DOWN") && log.contains("result=MATCH") && log.contains("peer=127.0.0.1:"), log);
    }

    @Test
    void zeroBytesWorkBothWays() {
        assertTrue(client("--connect", target(), "--up", "0").ok());
        assertTrue(client("--connect", target(), "--down", "0").ok());
    }

    @Test
    void closedPortCountsAsRefused() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        TrafficResult plain = client("--connect", "127.0.0.1:" + port, "--up", "10");
        assertFalse(plain.ok());
        assertEquals(1, plain.exitCode());
        TrafficResult expected = client("--connect", "127.0.0.1:" + port, "--up", "10", "--expect-refused");
        assertTrue(expected.ok(), expected.line());
        assertEquals("refused", expected.outcome());
    }

    @Test
    void acceptedThenClosedCountsAsRefusedButWorkingServerDoesNot() throws Exception {
        try (ServerSocket rude = new ServerSocket(0, 5, java.net.InetAddress.getLoopbackAddress())) {
            Thread t = Thread.ofPlatform().daemon().start(() -> {
                try (Socket c = rude.accept()) {
                    c.getInputStream().read(); // take the request's first byte, then hang up
                } catch (Exception ignored) {
                    // test helper
                }
            });
            TrafficResult r = client("--connect", "127.0.0.1:" + rude.getLocalPort(), "--down", "1000",
                    "--expect-refused");
            assertTrue(r.ok(), r.line());
            t.join(5000);
        }
        TrafficResult served = client("--connect", target(), "--down", "1000", "--expect-refused");
        assertFalse(served.ok(), served.line());
        assertEquals(1, served.exitCode());
    }

    @Test
    void patternIsIndependentOfChunking() {
        byte[] whole = new byte[1000];
        new TrafficPeer.PatternStream(9).fill(whole, 0, whole.length);
        byte[] pieces = new byte[1000];
        TrafficPeer.PatternStream p = new TrafficPeer.PatternStream(9);
        int off = 0;
        for (int len : new int[] {1, 7, 8, 3, 13, 500}) {
            p.fill(pieces, off, len);
            off += len;
        }
        p.fill(pieces, off, pieces.length - off);
        assertArrayEquals(whole, pieces);
    }

    @Test
    void resultLineRoundTripsThroughJson() {
        Map<String, Object> m = Json.parseFlat("{\"a\":\"x\\\"y\",\"n\":-3,\"d\":1.5,\"t\":true,\"z\":null}");
        assertEquals("x\"y", m.get("a"));
        assertEquals(-3L, m.get("n"));
        assertEquals(1.5, m.get("d"));
        assertEquals(Boolean.TRUE, m.get("t"));
        assertNull(m.get("z"));
        assertEquals(m, Json.parseFlat(Json.write(m)));
    }

    @Test
    void netstatParsingPairsNamesWithValues() {
        String text = "TcpExt: A B\nTcpExt: 1 2\nMPTcpExt: MPCapableSYNRX MPJoinSynRx\nMPTcpExt: 5 18446744073709551615\n";
        assertEquals(Map.of("A", 1L, "B", 2L), Netns.parseNetstat(text, "TcpExt"));
        assertEquals(5L, Netns.parseNetstat(text, "MPTcpExt").get("MPCapableSYNRX"));
    }
}
