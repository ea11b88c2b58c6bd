package net.hybridproxy.proxy.role;

import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.convert.ConvertErrorCode;
import net.hybridproxy.engine.convert.ConvertMessage;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The concentrator's admission control against the attacks that were verified against a running concentrator
 * (the Info-only slot leak, slowloris) and against one source or one subscriber taking more than its share. Each
 * attack runs while a legitimate cpe from another source keeps passing byte-exact echoes (its setup time under
 * attack is measured in the namespace lab, AttackSuiteNetnsTest). Nothing here passes by raising max-connections:
 * it stays at 20, below the attack.
 */
class ConcentratorAdmissionTest {
    /** The Info-only Convert message of the verified attack: version 1, 2 words, magic, Info TLV. */
    static final byte[] INFO_ONLY = HexFormat.of().parseHex("0102226301010000");
    private static final int MAX_CONNECTIONS = 20;
    private static final int ATTACK_CONNECTIONS = 25;

    @BeforeEach
    void needsMptcp() {
        String reason = RunningConcentrator.skipReason();
        Assumptions.assumeTrue(reason == null, reason);
    }

    @Test
    void infoOnlyMessagesLeakNoSlot() throws Exception {
        try (RunningConcentrator c = new RunningConcentrator(MAX_CONNECTIONS, "")) {
            for (int i = 0; i < ATTACK_CONNECTIONS; i++) {
                try (Socket s = c.connect(RunningConcentrator.ATTACKER)) {
                    s.getOutputStream().write(INFO_ONLY);
                    ConvertMessage answer = RunningConcentrator.readAnswer(s.getInputStream());
                    // RFC 8803 §4.2.2: an Info TLV asks for the supported TCP extensions; the answer lists them.
                    assertTrue(answer.supportedTcpExtensionsTlv().isPresent(), () -> "answer: " + answer);
                }
            }
            c.awaitIdle();
            assertEquals(0, c.counters.active(), "slots still held after every Info-only connection closed");
            for (int i = 0; i < 5; i++) {
                c.echoOnce(RunningConcentrator.KEY_A, RunningConcentrator.LEGITIMATE);
            }
        }
    }

    @Test
    void slowlorisHeadersAreClosedAtTheirDeadlineAndCappedPerSource() throws Exception {
        try (RunningConcentrator c = new RunningConcentrator(MAX_CONNECTIONS,
                "concentrator { convert-header-timeout = 1s, max-pending-per-source = 8 }")) {
            List<Socket> attack = new ArrayList<>();
            try {
                long started = System.nanoTime();
                for (int i = 0; i < ATTACK_CONNECTIONS; i++) {
                    Socket s = c.connect(RunningConcentrator.ATTACKER);
                    s.getOutputStream().write(0x01);
                    attack.add(s);
                }
                // While the attack holds its pending connections, the legitimate cpe is served (its setup time under
                // attack is measured in the namespace lab's AttackSuiteNetnsTest, not in a unit test).
                medianSetup(c);
                // Those beyond the source's pending quota were refused at once, with Resource Exceeded.
                int refused = 0;
                int closedAtDeadline = 0;
                for (Socket s : attack) {
                    Optional<ConvertErrorCode> code = errorOrClose(s.getInputStream());
                    if (code.isPresent()) {
                        assertEquals(ConvertErrorCode.RESOURCE_EXCEEDED, code.get());
                        refused++;
                    } else {
                        closedAtDeadline++;
                    }
                }
                double seconds = (System.nanoTime() - started) / 1e9;
                assertEquals(ATTACK_CONNECTIONS - 8, refused, "refused beyond the pending quota");
                assertEquals(8, closedAtDeadline, "closed at the header deadline");
                assertTrue(seconds < 4, "the header deadline (1 s) took " + seconds + " s");
                assertEquals(8, c.counters.admissionRefusals(AdmissionRefusal.HEADER_TIMEOUT));
                assertEquals(ATTACK_CONNECTIONS - 8, c.counters.admissionRefusals(AdmissionRefusal.PENDING_PER_SOURCE));
            } finally {
                for (Socket s : attack) {
                    s.close();
                }
            }
            c.awaitIdle();
            assertEquals(0, c.counters.active());
        }
    }

    /**
     * The contract with a cpe that keeps connections warm: the header deadline counts from the header's first
     * byte, so a connection may wait longer than it before sending its request; one that never sends is closed
     * after first-byte-timeout.
     */
    @Test
    void aWarmConnectionMayWaitBeforeItsRequestButNotForever() throws Exception {
        try (RunningConcentrator c = new RunningConcentrator(MAX_CONNECTIONS,
                "concentrator { convert-header-timeout = 1s, first-byte-timeout = 3s }")) {
            try (Socket warm = c.connect(RunningConcentrator.LEGITIMATE);
                 Socket silent = c.connect(RunningConcentrator.LEGITIMATE)) {
                long opened = System.nanoTime();
                Thread.sleep(1_500);
                warm.getOutputStream().write(c.request(RunningConcentrator.KEY_A));
                ConvertMessage answer = RunningConcentrator.readAnswer(warm.getInputStream());
                assertTrue(answer.errorTlv().isEmpty(), () -> "warm connection refused: " + answer);
                warm.getOutputStream().write("hello".getBytes());
                assertEquals("hello", new String(warm.getInputStream().readNBytes(5)));

                assertEquals(Optional.empty(), errorOrClose(silent.getInputStream()));
                double seconds = (System.nanoTime() - opened) / 1e9;
                assertTrue(seconds >= 2.9 && seconds < 5, "silent connection closed after " + seconds + " s");
                assertEquals(1, c.counters.admissionRefusals(AdmissionRefusal.FIRST_BYTE_TIMEOUT));
            }
        }
    }

    @Test
    void oneKeyAtItsQuotaLeavesOtherKeysUnaffected() throws Exception {
        try (RunningConcentrator c = new RunningConcentrator(MAX_CONNECTIONS,
                "concentrator.max-connections-per-key = 3")) {
            List<Socket> held = new ArrayList<>();
            try {
                for (int i = 0; i < 3; i++) {
                    held.add(openRelay(c, RunningConcentrator.KEY_A));
                }
                try (Socket fourth = c.connect(RunningConcentrator.LEGITIMATE)) {
                    fourth.getOutputStream().write(c.request(RunningConcentrator.KEY_A));
                    assertEquals(Optional.of(ConvertErrorCode.RESOURCE_EXCEEDED), errorOrClose(fourth.getInputStream()));
                }
                assertEquals(1, c.counters.admissionRefusals(AdmissionRefusal.CONNECTIONS_PER_KEY));
                medianSetup(c); // cpe-b is served
                held.removeFirst().close();
                awaitTrue(() -> tryEcho(c, RunningConcentrator.KEY_A), "cpe-a gets its quota back");
            } finally {
                for (Socket s : held) {
                    s.close();
                }
            }
        }
    }

    /**
     * Kernel engine with keys: the per-cpe table names each cpe by the key its Convert cookie proved, not by its
     * address (here both keys come from one address), and a closed connection leaves the open count.
     */
    @Test
    void theCpeTableNamesEachCpeByTheKeyItsCookieProved() throws Exception {
        try (RunningConcentrator c = new RunningConcentrator(MAX_CONNECTIONS, "")) {
            List<Socket> held = new ArrayList<>();
            try {
                held.add(openRelay(c, RunningConcentrator.KEY_A));
                held.add(openRelay(c, RunningConcentrator.KEY_A));
                held.add(openRelay(c, RunningConcentrator.KEY_B));
                awaitTrue(() -> openByCpe(c).equals(Map.of("cpe-a", 2, "cpe-b", 1)),
                        "cpe-a with two open connections and cpe-b with one: " + c.counters.cpes().rows());
                assertTrue(c.counters.cpes().rows().stream().allMatch(r -> r.identifiedBy().equals("key")),
                        () -> "rows: " + c.counters.cpes().rows());
                held.removeFirst().close();
                awaitTrue(() -> openByCpe(c).equals(Map.of("cpe-a", 1, "cpe-b", 1)),
                        "cpe-a's closed connection leaves its open count");
            } finally {
                for (Socket s : held) {
                    s.close();
                }
            }
        }
    }

    private static Map<String, Integer> openByCpe(RunningConcentrator c) {
        Map<String, Integer> open = new TreeMap<>();
        c.counters.cpes().rows().forEach(r -> open.put(r.id(), r.connections()));
        return open;
    }

    @Test
    void oneSourceAtItsQuotaLeavesOtherSourcesUnaffected() throws Exception {
        try (RunningConcentrator c = new RunningConcentrator(MAX_CONNECTIONS,
                "concentrator.max-connections-per-source = 4")) {
            List<Socket> held = new ArrayList<>();
            try {
                for (int i = 0; i < 4; i++) {
                    held.add(c.connect(RunningConcentrator.ATTACKER));
                }
                try (Socket fifth = c.connect(RunningConcentrator.ATTACKER)) {
                    assertEquals(Optional.of(ConvertErrorCode.RESOURCE_EXCEEDED), errorOrClose(fifth.getInputStream()));
                }
                c.echoOnce(RunningConcentrator.KEY_A, RunningConcentrator.LEGITIMATE);
            } finally {
                for (Socket s : held) {
                    s.close();
                }
            }
        }
    }

    /**
     * A refused request costs no subflow bookkeeping: only admitted connections are sampled, and only they are counted
     * as MPTCP fallbacks (these test clients are plain TCP sockets, so every admitted one falls back). Before, every
     * accepted connection was, refused or not.
     */
    @Test
    void refusedRequestsAreNotSampledAsMultipathConnections() throws Exception {
        CpeKey impostor = new CpeKey("cpe-a", HexFormat.of().parseHex("0123456789abcdef0123456789abcdef"));
        try (RunningConcentrator c = new RunningConcentrator(MAX_CONNECTIONS, "")) {
            for (int i = 0; i < 5; i++) {
                try (Socket s = c.connect(RunningConcentrator.ATTACKER)) {
                    s.getOutputStream().write(c.request(impostor));
                    assertEquals(Optional.of(ConvertErrorCode.NOT_AUTHORIZED), errorOrClose(s.getInputStream()));
                }
            }
            assertEquals(0, c.counters.mptcpFallbacks(), "refused connections counted as fallbacks");
            c.echoOnce(RunningConcentrator.KEY_A, RunningConcentrator.LEGITIMATE);
            assertEquals(1, c.counters.mptcpFallbacks(), "the admitted plain TCP connection is a fallback");
        }
    }

    /** A source outside authorized-cidrs takes no slot, even while its refusal lingers. */
    @Test
    void refusedSourcesHoldNoSlot() throws Exception {
        try (RunningConcentrator c = new RunningConcentrator(MAX_CONNECTIONS,
                "concentrator.authorized-cidrs = [\"198.18.0.1/32\"]")) {
            List<Socket> refused = new ArrayList<>();
            try {
                for (int i = 0; i < ATTACK_CONNECTIONS; i++) {
                    refused.add(c.connect(RunningConcentrator.ATTACKER));
                }
                for (Socket s : refused) {
                    assertEquals(Optional.of(ConvertErrorCode.NOT_AUTHORIZED), errorOrClose(s.getInputStream()));
                }
                // The refusals linger (2 s) to let the Error TLV arrive; they must not hold max-connections slots.
                c.echoOnce(RunningConcentrator.KEY_A, RunningConcentrator.LEGITIMATE);
            } finally {
                for (Socket s : refused) {
                    s.close();
                }
            }
        }
    }

    /**
     * A client that sends its request, its data and its FIN at once (0-RTT) to a busy concentrator: once the peer's
     * FIN is in, Netty's epoll transport reads until EAGAIN even with auto-read off, so one read delivers several
     * buffers, and those after the header's must reach the server too. They were once dropped: the echo came back
     * short.
     */
    @Test
    void earlyDataAfterTheHeaderIsNeverDropped() throws Exception {
        try (RunningConcentrator c = new RunningConcentrator(MAX_CONNECTIONS, "")) {
            java.util.Random random = new java.util.Random(7);
            for (int round = 0; round < 10; round++) {
                // Small enough that request, data and FIN all fit in the socket buffers during the stall.
                byte[] payload = new byte[48 * 1024];
                random.nextBytes(payload);
                byte[] request = c.request(RunningConcentrator.KEY_A);
                c.stallEventLoops(300);
                byte[] burst = new byte[request.length + payload.length];
                System.arraycopy(request, 0, burst, 0, request.length);
                System.arraycopy(payload, 0, burst, request.length, payload.length);
                try (Socket s = c.connect(RunningConcentrator.LEGITIMATE)) {
                    Thread writer = Thread.ofVirtual().start(() -> {
                        try {
                            s.getOutputStream().write(burst);
                            s.shutdownOutput();
                        } catch (IOException ignored) {
                            // the read side reports it
                        }
                    });
                    ConvertMessage answer = RunningConcentrator.readAnswer(s.getInputStream());
                    assertTrue(answer.errorTlv().isEmpty(), () -> "refused: " + answer);
                    byte[] back = s.getInputStream().readAllBytes();
                    writer.join();
                    assertEquals(payload.length, back.length, "round " + round);
                    assertTrue(Arrays.equals(payload, back), "round " + round + ": bytes differ");
                }
            }
        }
    }

    private static Socket openRelay(RunningConcentrator c, net.hybridproxy.engine.auth.CpeKey key) throws Exception {
        Socket s = c.connect(RunningConcentrator.LEGITIMATE);
        s.getOutputStream().write(c.request(key));
        ConvertMessage answer = RunningConcentrator.readAnswer(s.getInputStream());
        assertTrue(answer.errorTlv().isEmpty(), () -> "refused: " + answer);
        return s;
    }

    private static boolean tryEcho(RunningConcentrator c, net.hybridproxy.engine.auth.CpeKey key) {
        try {
            c.echoOnce(key, RunningConcentrator.LEGITIMATE);
            return true;
        } catch (Exception e) {
            return false;
        }
    }

    private static void awaitTrue(java.util.function.BooleanSupplier condition, String what) throws Exception {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(what + " within 5 s");
            }
            Thread.sleep(50);
        }
    }

    /** The Error TLV's code if one arrives before the connection ends, else empty (closed or reset silently). */
    static Optional<ConvertErrorCode> errorOrClose(InputStream in) throws Exception {
        try {
            ConvertMessage answer = RunningConcentrator.readAnswer(in);
            return answer.errorTlv().map(e -> ConvertErrorCode.fromCode(e.code()).orElseThrow());
        } catch (SocketException e) {
            return Optional.empty(); // reset
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().startsWith("closed after 0 bytes")) {
                return Optional.empty();
            }
            throw e;
        }
    }

    /** Median setup time of 7 echoes with cpe-b from the legitimate source (the attacks use cpe-a or 198.18.0.3). */
    static long medianSetup(RunningConcentrator c) throws Exception {
        long[] setups = new long[7];
        for (int i = 0; i < setups.length; i++) {
            setups[i] = c.echoOnce(RunningConcentrator.KEY_B, RunningConcentrator.LEGITIMATE);
        }
        Arrays.sort(setups);
        return setups[setups.length / 2];
    }

}
