package net.hybridproxy.loadtest.e2e;

import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.convert.ConvertMessage;
import net.hybridproxy.engine.multipath.crypto.SessionSecret;
import net.hybridproxy.engine.multipath.frame.CapableSyn;
import net.hybridproxy.engine.multipath.frame.Data;
import net.hybridproxy.engine.multipath.frame.FastClose;
import net.hybridproxy.engine.multipath.frame.Frame;
import net.hybridproxy.engine.multipath.frame.JoinSyn;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.loadtest.lab.ApplianceConfigs;
import net.hybridproxy.loadtest.lab.ApplianceLauncher;
import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.HybridAccessLab.Link;
import net.hybridproxy.loadtest.lab.LabProcess;
import net.hybridproxy.loadtest.lab.Teardown;
import net.hybridproxy.proxy.testing.NetNs;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The userspace engine's attacks of the hardening issue against a real userspace concentrator process, by a real
 * attacking client speaking the wire protocol (docs/userspace-protocol.md) with the engine's own frame records,
 * each while a legitimate userspace cpe keeps working: its new connections set up within twice their unloaded time
 * and its transfers echo byte-exact ({@link LabEcho#servesWhile}). The attacker is another subscriber on the DSL
 * access network (198.18.10.77); the attacks that need a session use a key of its own, as a subscriber's leaked or
 * hostile gateway would.
 *
 * <p>Each attack also asserts what its fix changed, so that the fix's parent fails here: a CAPABLE_SYN no longer
 * creates a session (the sessions gauge stays at the legitimate cpe's), half-open joins are refused at the per-source
 * quota and time out, one-byte out-of-order frames are reset at the memory budget, a never-acknowledging peer gets
 * no more than its budget sent, and the concentrator's resident memory grows by a bounded amount under each.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class UserspaceAttackSuiteNetnsTest {
    private static final int CONCENTRATOR_PORT = 5100;
    private static final int ECHO_PORT = 7007;
    private static final int SOURCE_PORT = 7008;
    private static final String ATTACKER = "198.18.10.77";
    private static final CpeKey ATTACKER_KEY = new CpeKey("cpe-attacker",
            HexFormat.of().parseHex("ffeeddccbbaa99887766554433221100"));
    /** The pre-auth flood's rate in the issue: enough CAPABLE_SYNs a second to hold all 4096 sessions in 5 s. */
    private static final double CAPABLE_SYN_RATE = Double.parseDouble(
            System.getProperty("hybridproxy.capable-syn-floor", "820"));
    /** How much a concentrator's resident memory may grow under one attack (session budget 32 MiB plus the JVM's). */
    private static final long RSS_GROWTH_BOUND = 192L << 20;
    private static final InetSocketAddress CONCENTRATOR = new InetSocketAddress(HybridAccessLab.SERVICE_ADDR,
            CONCENTRATOR_PORT);
    private static final SecureRandom RANDOM = new SecureRandom();

    private HybridAccessLab lab;
    private LabProcess concentrator;
    private LabProcess cpe;
    private LabEcho echo;
    private ServerSocket source;
    private AttackerSockets attackerSockets;
    private long normalSetupNanos;
    private long legitimateSessions;
    private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();

    @BeforeAll
    void startLab() throws Exception {
        String skip = HybridAccessLab.skipReason();
        Assumptions.assumeTrue(skip == null, skip);
        lab = HybridAccessLab.builder().rate(Link.DSL, 100).rate(Link.LTE, 50).uplinkPolicyRouting(false).build();
        lab.cpe().ip("addr", "add", ATTACKER + "/32", "dev", "dsl");
        attackerSockets = new AttackerSockets(NetNs.existing(lab.cpe().name()), ATTACKER);
        echo = new LabEcho(lab, ECHO_PORT);
        source = NetNs.existing(lab.server().name()).call(() ->
                new ServerSocket(SOURCE_PORT, 500, InetAddress.ofLiteral(HybridAccessLab.SERVER_ADDR)));
        serveEndlessly(source);

        Path configs = Files.createTempDirectory("hybridproxy-us-attacks");
        String concentratorConf = ApplianceConfigs.concentrator("userspace", "[::]:" + CONCENTRATOR_PORT, "cpe-e2e",
                "").replace("keys = [{ id = \"cpe-e2e\", key = \"" + ApplianceConfigs.KEY + "\" }]",
                "keys = [{ id = \"cpe-e2e\", key = \"" + ApplianceConfigs.KEY + "\" }, { id = \"cpe-attacker\", "
                        + "key = \"hex:ffeeddccbbaa99887766554433221100\" }]");
        assertTrue(concentratorConf.contains("cpe-attacker"), concentratorConf);
        // Gauges and engine counters are sampled; once a second, so the assertions need not wait 5 s for them.
        concentratorConf += "hybridproxy.admin.sample-interval = 1s\n";
        String cpeConf = ApplianceConfigs.cpe("userspace", HybridAccessLab.SERVICE_ADDR + ":" + CONCENTRATOR_PORT,
                "cpe-e2e", true, List.of(ECHO_PORT));
        concentrator = ApplianceLauncher.start(lab.conc(), Files.writeString(configs.resolve("conc.conf"),
                concentratorConf), "concentrator listening (userspace");
        cpe = ApplianceLauncher.start(lab.cpe(), Files.writeString(configs.resolve("cpe.conf"), cpeConf),
                "cpe listener lan");
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (true) {
            try {
                echo.setupNanos();
                break;
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("the legitimate cpe does not work: " + e + "\n" + logs(), e);
                }
                Thread.sleep(200);
            }
        }
        for (int i = 0; i < 5; i++) {
            echo.setupNanos(); // warm up: JIT, ARP, every session of the cpe
        }
        normalSetupNanos = echo.medianSetupNanos();
        Thread.sleep(2_000); // the sessions gauge is sampled
        legitimateSessions = LabMetrics.sum(LabMetrics.scrape(lab.conc()), "hybridproxy_userspace_sessions");
        System.out.printf("userspace attack suite: normal setup %.1f ms, %d sessions of the legitimate cpe%n",
                normalSetupNanos / 1e6, legitimateSessions);
    }

    @AfterAll
    void stopLab() throws Exception {
        Teardown.closeAll(threads::shutdownNow, attackerSockets, source, echo, lab);
    }

    @BeforeEach
    void legitimateTrafficWorks() throws Exception {
        echo.verifiedTransfer(256 * 1024);
    }

    /**
     * Pre-auth session flood: CAPABLE_SYNs naming a real key id, from one address, as fast as 16 connections go,
     * each left hanging after the concentrator's answer. Before the fix each one created a session and a token.
     */
    @Test
    @Order(1)
    void capableSynFlood() throws Exception {
        String before = LabMetrics.scrape(lab.conc());
        FloodPace pace = new FloodPace(CAPABLE_SYN_RATE * 1.1, System.nanoTime()); // the issue's rate and a margin
        Deque<Socket> held = new ArrayDeque<>();
        AtomicLong answered = new AtomicLong();
        AtomicLong lastAnswer = new AtomicLong();
        long started = System.nanoTime();
        long rss = concentrator.memoryStatusBytes("VmRSS");
        try {
            underAttack("CAPABLE_SYN flood", 16, stop -> {
                while (!stop.get()) {
                    pace.awaitSlot();
                    Socket s = attackerSockets.connect(CONCENTRATOR);
                    s.setSoLinger(true, 0);
                    s.getOutputStream().write(UserspaceAttacker.capableSyn("cpe-e2e"));
                    if (s.getInputStream().read() >= 0) { // a CAPABLE_SYNACK, or SUBFLOW_RESET over the quota
                        answered.incrementAndGet();
                        lastAnswer.set(System.nanoTime());
                    }
                    hold(held, s, 4000);
                }
            });
            Thread.sleep(2_000); // sampled, while the handshakes are still held open
            String after = LabMetrics.scrape(lab.conc());
            double rate = answered.get() / ((lastAnswer.get() - started) / 1e9);
            long sessions = LabMetrics.sum(after, "hybridproxy_userspace_sessions");
            long refused = event(after, "handshakes_refused_quota") - event(before, "handshakes_refused_quota");
            System.out.printf("userspace attack suite: CAPABLE_SYN flood %.0f SYN/s (%d answered), %d refused at the "
                    + "per-source quota; sessions %d (legitimate %d); RSS +%d MiB%n", rate, answered.get(), refused,
                    sessions, legitimateSessions, (concentrator.memoryStatusBytes("VmRSS") - rss) >> 20);
            long logged = concentrator.stdout().lines().filter(l -> l.contains("refused subflow")).count();
            System.out.printf("userspace attack suite: CAPABLE_SYN flood: %d refusal lines logged%n", logged);
            assertTrue(sessions <= legitimateSessions, sessions + " sessions: the flood created some\n" + logs());
            assertTrue(logged <= 10, logged + " refusal lines: the flood floods the log");
            assertTrue(refused > 0, "no handshake refused at the per-source quota");
            assertTrue(rate >= CAPABLE_SYN_RATE, "the flood reached only " + rate + " SYN/s");
        } finally {
            closeAll(held);
        }
    }

    /**
     * Half-open joins: JOIN_SYNs naming the attacker's own live session (and unknown tokens), never followed by a
     * JOIN_ACK. Before the fix each stayed in JOIN_RECEIVED for good and kept its session alive.
     */
    @Test
    @Order(2)
    void halfOpenJoinFlood() throws Exception {
        String before = LabMetrics.scrape(lab.conc());
        Deque<Socket> held = new ArrayDeque<>();
        AtomicLong sent = new AtomicLong();
        try (UserspaceAttacker session = establishedAttacker()) {
            Future<?> reader = readForever(session); // its own subflow answers PINGs: the session stays healthy
            int token = session.token();
            underAttack("half-open JOIN flood", 16, stop -> {
                while (!stop.get()) {
                    Socket s = attackerSockets.connect(CONCENTRATOR);
                    s.setSoLinger(true, 0);
                    int named = sent.incrementAndGet() % 2 == 0 ? token : RANDOM.nextInt();
                    s.getOutputStream().write(new JoinSyn(CapableSyn.VERSION, SubflowPriority.PRIMARY, 9, named,
                            RANDOM.nextInt()).encode());
                    s.getInputStream().read(); // JOIN_SYNACK (the same for both tokens), or the quota's reset
                    hold(held, s, 4000);
                }
            });
            Thread.sleep(7_000); // past the 5 s handshake deadline of the ones still held, and sampled
            String after = LabMetrics.scrape(lab.conc());
            long refused = event(after, "handshakes_refused_quota") - event(before, "handshakes_refused_quota");
            long timedOut = event(after, "handshakes_timed_out") - event(before, "handshakes_timed_out");
            System.out.printf("userspace attack suite: half-open JOIN flood: %d JOIN_SYNs, %d refused at the quota, "
                    + "%d timed out%n", sent.get(), refused, timedOut);
            assertTrue(refused > 0, "no join refused at the per-source quota");
            assertTrue(timedOut > 0, "no half-open join timed out\n" + logs());
            assertTrue(!reader.isDone(), () -> "the attacker's own session failed: " + outcome(reader));
            session.closeSession();
            reader.cancel(true);
        } finally {
            closeAll(held);
        }
    }

    /**
     * One-byte frames out of order (every other byte, the first missing, so nothing can be read): 2000 pieces on each
     * of ever new streams. Held one by one they cost about 30 times their payload in heap.
     */
    @Test
    @Order(3)
    void oneByteFrames() throws Exception {
        String before = LabMetrics.scrape(lab.conc());
        long rss = concentrator.memoryStatusBytes("VmRSS");
        AtomicLong frames = new AtomicLong();
        try (UserspaceAttacker attacker = establishedAttacker()) {
            Future<?> reader = readForever(attacker);
            AtomicLong nextStream = new AtomicLong(1);
            underAttack("one-byte frames", 1, stop -> {
                while (!stop.get()) {
                    long stream = nextStream.getAndIncrement();
                    UserspaceAttacker.Batch batch = new UserspaceAttacker.Batch();
                    for (int i = 0; i < 2000; i++) {
                        batch.add(new Data(stream, 1 + 2L * i, false, new byte[] {(byte) i}));
                    }
                    batch.sendTo(attacker);
                    frames.addAndGet(2000);
                }
            });
            String after = LabMetrics.scrape(lab.conc());
            long reset = event(after, "streams_reset_memory") - event(before, "streams_reset_memory");
            long grew = concentrator.memoryStatusBytes("VmRSS") - rss;
            System.out.printf("userspace attack suite: one-byte frames: %d frames on %d streams, %d streams reset at "
                    + "the memory budget; RSS +%d MiB%n", frames.get(), nextStream.get() - 1, reset, grew >> 20);
            assertTrue(reset > 0, "no stream reset at the memory budget\n" + logs());
            assertTrue(grew <= RSS_GROWTH_BOUND, "the concentrator grew " + (grew >> 20) + " MiB");
            assertTrue(concentrator.isAlive());
            attacker.closeSession(); // its never-completed streams would count against its source's pending quota
            reader.cancel(true);
        }
    }

    /**
     * A peer that opens 256 downloads from an endless source and never acknowledges a byte (it reads its socket and
     * answers PINGs, so its subflow stays healthy). Before the budgets each stream could pin its 4 MiB send buffer:
     * about 1 GiB.
     */
    @Test
    @Order(4)
    void neverAcknowledgingPeerWith256Streams() throws Exception {
        long rss = concentrator.memoryStatusBytes("VmRSS");
        try (UserspaceAttacker attacker = establishedAttacker()) {
            Future<?> reader = readForever(attacker);
            byte[] request = ConvertMessage.connect(new InetSocketAddress(InetAddress.ofLiteral(
                    HybridAccessLab.SERVER_ADDR), SOURCE_PORT), Optional.empty()).encode();
            UserspaceAttacker.Batch batch = new UserspaceAttacker.Batch();
            for (int stream = 1; stream <= 256; stream++) {
                batch.add(new Data(stream, 0, false, request));
            }
            batch.sendTo(attacker);
            underAttack("never-acknowledging peer, 256 streams", 1, stop -> {
                while (!stop.get()) {
                    Thread.sleep(50); // the streams run; the attacker only reads
                }
            });
            long grew = concentrator.memoryStatusBytes("VmRSS") - rss;
            System.out.printf("userspace attack suite: never-acknowledging peer: %d MiB sent to it unacknowledged "
                    + "over 256 streams; RSS +%d MiB%n", attacker.dataBytesReceived() >> 20, grew >> 20);
            assertTrue(attacker.dataBytesReceived() > 1 << 20, "the downloads never started (streams reset: "
                    + attacker.fastClosesReceived() + "; " + LabMetrics.scrape(lab.conc()).lines().filter(l ->
                    !l.startsWith("#") && (l.contains("refus") || l.contains("convert_errors"))).toList() + ")");
            // What a session may hold unacknowledged is its memory budget (userspace.session-memory, 32 MiB).
            assertTrue(attacker.dataBytesReceived() <= 40L << 20, attacker.dataBytesReceived() + " bytes sent");
            assertTrue(grew <= RSS_GROWTH_BOUND, "the concentrator grew " + (grew >> 20) + " MiB");
            attacker.closeSession();
            reader.cancel(true);
        }
    }

    /**
     * FAST_CLOSE for ever new stream ids, with valid MACs (the attacker holds its session's secret): the ids a
     * session remembers are bounded (4096) instead of growing with the flood.
     */
    @Test
    @Order(5)
    void fastCloseIdFlood() throws Exception {
        AtomicLong sent = new AtomicLong();
        long rss = concentrator.memoryStatusBytes("VmRSS");
        try (UserspaceAttacker attacker = establishedAttacker()) {
            Future<?> reader = readForever(attacker);
            SessionSecret secret = attacker.secret();
            AtomicLong nextId = new AtomicLong(2); // stream 1 never appears: the watermark never moves
            underAttack("FAST_CLOSE id flood", 1, stop -> {
                while (!stop.get()) {
                    UserspaceAttacker.Batch batch = new UserspaceAttacker.Batch();
                    for (int i = 0; i < 1000; i++) {
                        long id = nextId.getAndIncrement();
                        batch.add(new FastClose(id, secret.fastCloseMac(SessionSecret.Sender.A, id,
                                ResetReason.UNSPECIFIED.code()), ResetReason.UNSPECIFIED));
                    }
                    batch.sendTo(attacker);
                    sent.addAndGet(1000);
                }
            });
            long grew = concentrator.memoryStatusBytes("VmRSS") - rss;
            System.out.printf("userspace attack suite: FAST_CLOSE id flood: %d ids; RSS +%d MiB%n", sent.get(),
                    grew >> 20);
            // Five times the 4096 ids a session remembers (the simulator sends 100 000; this machine is shared).
            assertTrue(sent.get() >= 20_000, "only " + sent.get() + " FAST_CLOSEs sent");
            assertTrue(!reader.isDone(), () -> "the attacker's session failed: " + outcome(reader));
            attacker.closeSession();
            assertTrue(grew <= RSS_GROWTH_BOUND, "the concentrator grew " + (grew >> 20) + " MiB");
            reader.cancel(true);
        }
    }

    // ---- the attacker ----

    /** A session of the attacker's own key, established. */
    private UserspaceAttacker establishedAttacker() throws Exception {
        UserspaceAttacker attacker = new UserspaceAttacker(attackerSockets.connect(CONCENTRATOR));
        attacker.establish(ATTACKER_KEY);
        return attacker;
    }

    /** Reads (and drops, answering PINGs) whatever the concentrator sends, until cancelled or the subflow ends. */
    private Future<?> readForever(UserspaceAttacker attacker) {
        return threads.submit(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                Frame frame = attacker.receive();
                if (frame instanceof net.hybridproxy.engine.multipath.frame.SubflowReset reset) {
                    throw new IOException("the concentrator reset the attacker's subflow: " + reset);
                }
            }
            return null;
        });
    }

    private static String outcome(Future<?> reader) {
        try {
            reader.get();
            return "ended";
        } catch (Exception e) {
            return e.toString();
        }
    }

    private static void hold(Deque<Socket> held, Socket s, int max) throws IOException {
        Socket oldest = null;
        synchronized (held) {
            held.addLast(s);
            if (held.size() > max) {
                oldest = held.removeFirst();
            }
        }
        if (oldest != null) {
            oldest.close();
        }
    }

    private static void closeAll(Deque<Socket> held) throws IOException {
        synchronized (held) {
            for (Socket s : held) {
                s.close();
            }
            held.clear();
        }
    }

    // ---- the legitimate cpe ----

    private void underAttack(String name, int parallelism, LabEcho.Attack attack) throws Exception {
        echo.servesWhile(name, parallelism, attack, normalSetupNanos, this::logs);
    }

    /** A server that sends endless bytes to every connection (the never-acknowledging peer's downloads). */
    private void serveEndlessly(ServerSocket server) {
        Thread.ofVirtual().start(() -> {
            byte[] chunk = new byte[64 * 1024];
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    Thread.ofVirtual().start(() -> {
                        try (s; OutputStream out = s.getOutputStream()) {
                            while (true) {
                                out.write(chunk);
                            }
                        } catch (IOException ignored) {
                            // the stream was closed or reset
                        }
                    });
                } catch (IOException e) {
                    return;
                }
            }
        });
    }

    private static long event(String scrape, String event) {
        return LabMetrics.sum(scrape, "hybridproxy_userspace_events_total", "event=\"" + event + "\"");
    }

    private String logs() {
        String c = concentrator.stdout();
        String p = cpe.stdout();
        return "--- concentrator ---\n" + c.substring(Math.max(0, c.length() - 4000)) + "\n--- cpe ---\n"
                + p.substring(Math.max(0, p.length() - 4000));
    }
}
