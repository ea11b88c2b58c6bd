package net.hybridproxy.loadtest.e2e;

import net.hybridproxy.engine.multipath.crypto.MptcpCrypto;
import net.hybridproxy.loadtest.lab.ApplianceConfigs;
import net.hybridproxy.loadtest.lab.ApplianceLauncher;
import net.hybridproxy.loadtest.lab.ExecResult;
import net.hybridproxy.loadtest.lab.JavaLauncher;
import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.HybridAccessLab.Link;
import net.hybridproxy.loadtest.lab.LabProcess;
import net.hybridproxy.loadtest.lab.Pcap;
import net.hybridproxy.loadtest.lab.Pcap.Segment;
import net.hybridproxy.loadtest.lab.TrafficResult;
import net.hybridproxy.loadtest.loadgen.LoadTarget;
import net.hybridproxy.loadtest.loadgen.TtfbOptions;
import net.hybridproxy.loadtest.loadgen.TtfbResult;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * 0-RTT for real, on the wire: the cpe's warm pool holds established MPTCP connections to the concentrator, so a new
 * LAN connection's Convert request is the first data on a connection whose handshake was done long before and whose
 * LTE subflow has already joined; a 10 kB object then arrives one DSL round trip after the client asked for it. The
 * lab runs with net.ipv4.tcp_fastopen=3, as `hybridproxy check` recommends.
 *
 * <p>What is timed is the number of round trips, so the round trips are long: 100 ms on DSL (150 ms on LTE, which
 * stays the slower path). A second round trip then costs 100 ms, while the appliances' own time, which on a loaded
 * two-core machine is mostly waiting for a CPU, stays far below half of one. At a realistic 20 ms DSL round trip a
 * CI run once exceeded 1.5 round trips with no second round trip (the pool counters and the capture passed): ten
 * milliseconds of scheduling were enough. The figure against the goal (1.2 DSL round trips at 20 ms) is the
 * benchmark's, on a quiet machine.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class WarmPoolNetnsE2eTest {
    private static final Duration DSL_RTT = Duration.ofMillis(100);
    private static final Duration LTE_RTT = Duration.ofMillis(150);
    private static final int CONCENTRATOR_PORT = 5100;
    private static final int OBJECTS = 40;
    private static final int LOAD_PORT = 5201;
    /** Objects each load-generator run fetches unmeasured first (its own JVM's warm-up). */
    private static final int TTFB_WARMUP = 20;
    /** hybridproxy.cpe.warm-pool.size and max-size here: a fixed pool, whose takes and retirements are counted. */
    private static final int POOL_SIZE = 4;

    private HybridAccessLab lab;
    private LabProcess concentrator;
    private LabProcess cpe;
    private final List<LabProcess> captures = new ArrayList<>();
    private Path dir;

    @BeforeAll
    void startLabWithCapturesAndAppliances() throws Exception {
        String skip = HybridAccessLab.skipReason();
        Assumptions.assumeTrue(skip == null, skip);
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/tcpdump"))
                || Files.isExecutable(Path.of("/usr/sbin/tcpdump")), "needs tcpdump (Debian package tcpdump)");
        lab = HybridAccessLab.builder()
                .rate(Link.DSL, 50).rtt(Link.DSL, DSL_RTT)
                .rate(Link.LTE, 30).rtt(Link.LTE, LTE_RTT)
                .build();
        dir = Files.createTempDirectory("hybridproxy-warm-pool");
        for (String uplink : List.of("dsl", "lte")) {
            // Started before the appliances, so the pooled connections' handshakes are in the capture.
            captures.add(lab.conc().startLogged("tcpdump-" + uplink, "tcpdump", "-n", "-U", "-s", "256", "-i", uplink,
                    "-w", dir.resolve(uplink + ".pcap").toString(), "tcp port " + CONCENTRATOR_PORT));
        }
        // The first-byte path hop by hop: the client's side at the cpe, the cpe's side of DSL, the server's side at the
        // concentrator (the load port only: one measured object at a time, so the k-th of each is one request's).
        captures.add(lab.cpe().startLogged("tcpdump-cpe-lan", "tcpdump", "-n", "-U", "-s", "128", "-i", "lan",
                "-w", dir.resolve("cpe-lan.pcap").toString(), "tcp port " + LOAD_PORT));
        captures.add(lab.cpe().startLogged("tcpdump-cpe-dsl", "tcpdump", "-n", "-U", "-s", "256", "-i", "dsl",
                "-w", dir.resolve("cpe-dsl.pcap").toString(), "tcp port " + CONCENTRATOR_PORT));
        captures.add(lab.conc().startLogged("tcpdump-srv", "tcpdump", "-n", "-U", "-s", "128", "-i", "srv",
                "-w", dir.resolve("srv.pcap").toString(), "tcp port " + LOAD_PORT));
        Thread.sleep(500);
        lab.startTrafficServer(lab.server(), HybridAccessLab.TRAFFIC_PORT);
        lab.startTrafficServer(lab.server(), LOAD_PORT);
        Path concentratorConf = Files.writeString(dir.resolve("concentrator.conf"), ApplianceConfigs.concentrator(
                "[::]:" + CONCENTRATOR_PORT, "cpe-pool", ""));
        Path cpeConf = Files.writeString(dir.resolve("cpe.conf"), ApplianceConfigs.cpe(
                HybridAccessLab.SERVICE_ADDR + ":" + CONCENTRATOR_PORT, "cpe-pool", false,
                List.of(HybridAccessLab.TRAFFIC_PORT, LOAD_PORT))
                + "hybridproxy.cpe.warm-pool.size = " + POOL_SIZE + "\nhybridproxy.cpe.warm-pool.max-size = " + POOL_SIZE
                + "\n");
        concentrator = ApplianceLauncher.start(lab.conc(), concentratorConf, "concentrator listening");
        cpe = ApplianceLauncher.start(lab.cpe(), cpeConf, "cpe listener lan");
    }

    @AfterAll
    void stopEverything() {
        if (lab != null) {
            lab.close();
        }
    }

    @Test
    void theConvertRequestIsTheFirstDataOnAnEstablishedConnectionWithBothSubflowsAndTheObjectTakesOneRtt()
            throws Exception {
        // Time for the pool to connect and for the kernel to join the LTE subflow (first keepalive after 1 s).
        Thread.sleep(2500);
        // The first new connection after the pool is ready: the one the capture must show.
        TrafficResult first = lab.runTrafficClient(lab.client(), Duration.ofSeconds(30), "--connect",
                HybridAccessLab.SERVER_ADDR + ":" + HybridAccessLab.TRAFFIC_PORT, "--down", "10000");
        assertTrue(first.ok(), () -> first + "\n" + logs());
        // Then time to first byte the way the benchmark measures it: one load-generator JVM, a new connection per
        // 10 kB object. A first, unmeasured round warms up the appliances' JIT-compiled paths (and the pool keeps
        // refilling meanwhile); the measured round fetches one object at a time, after warming its own JVM.
        ttfb(200, 4);
        double hitsBefore = poolTakes("hit");
        double missesBefore = poolTakes("miss_refilling") + poolTakes("miss_backing_off");
        double measuredFrom = System.currentTimeMillis() / 1000.0;
        TtfbResult ttfb = ttfb(OBJECTS, 1);
        // The measured connections (and the load client's own warm-up ones) started on a ready connection: the
        // counters say so, not only the timing. One at a time, a share of two per loop is refilled long before
        // its next take; two misses of 60 are left to a CI machine that stalls a refill, not more.
        double hits = poolTakes("hit") - hitsBefore;
        double misses = poolTakes("miss_refilling") + poolTakes("miss_backing_off") - missesBefore;
        assertTrue(hits + misses == OBJECTS + TTFB_WARMUP && misses <= 2, "warm pool during the measured round: "
                + hits + " hits, " + misses + " misses");
        double medianMs = ttfb.ttfb().p50Ms();
        // The path's round trip as the emulator delivers it now, not the nominal 20 ms: on a loaded machine the
        // emulated link itself is slower, and that is not the appliance's.
        double rttMs = lab.dslRoundTripMs(HybridAccessLab.SERVER_ADDR + ":" + LOAD_PORT, JavaLauncher.DEFAULT_JVM_ARGS)
                .orElseThrow(() -> new AssertionError("the DSL round-trip probe failed\n" + logs()));
        System.out.println("warm pool: 10 kB objects on new connections, time to first byte " + ttfb.ttfb()
                + ", DSL RTT " + rttMs + " ms measured (" + DSL_RTT.toMillis() + " nominal): "
                + Math.round(medianMs / rttMs * 100) / 100.0 + " x");
        captures.forEach(c -> c.stop(Duration.ofSeconds(2)));

        List<Segment> dsl = Pcap.read(dir.resolve("dsl.pcap"));
        List<Segment> lte = Pcap.read(dir.resolve("lte.pcap"));
        Segment convert = dsl.stream().filter(s -> s.destinationPort() == CONCENTRATOR_PORT && isConvertRequest(s))
                .findFirst().orElseThrow(() -> new AssertionError("no Convert request on the DSL capture: "
                        + dsl.size() + " segments\n" + logs()));
        Segment syn = dsl.stream().filter(s -> s.flow().equals(convert.flow()) && s.syn() && !s.ack()).findFirst()
                .orElseThrow(() -> new AssertionError("no SYN of " + convert.flow() + " in the capture"));
        Segment synAck = dsl.stream().filter(s -> s.flow().equals(convert.reverseFlow()) && s.syn() && s.ack())
                .findFirst().orElseThrow(() -> new AssertionError("no SYN-ACK of " + convert.flow()));
        assertTrue(syn.mptcpSubtype().equals(Optional.of(0)), "the pooled connection's SYN has no MP_CAPABLE");
        assertTrue(syn.payload().length == 0, "data in the SYN: the pool must not depend on TCP Fast Open");
        double establishedFor = convert.seconds() - synAck.seconds();
        assertTrue(establishedFor > 2 * DSL_RTT.toMillis() / 1000.0, "the Convert request left only "
                + establishedFor + " s after the handshake: not a ready connection");

        long concentratorKey = ByteBuffer.wrap(synAck.mptcpOption().orElseThrow(), 4, 8).getLong();
        int token = MptcpCrypto.token(concentratorKey);
        Segment joinSyn = lte.stream().filter(s -> s.syn() && !s.ack() && s.mptcpSubtype().equals(Optional.of(1))
                        && ByteBuffer.wrap(s.mptcpOption().orElseThrow(), 4, 4).getInt() == token).findFirst()
                .orElseThrow(() -> new AssertionError("no MP_JOIN on LTE for the connection that carried the first"
                        + " Convert request (token " + Integer.toHexString(token) + ")"));
        Segment joinSynAck = lte.stream().filter(s -> s.flow().equals(joinSyn.reverseFlow()) && s.syn() && s.ack())
                .findFirst().orElseThrow(() -> new AssertionError("the LTE join was not answered"));
        assertTrue(joinSynAck.seconds() < convert.seconds(), "the LTE subflow joined only after the Convert request");
        System.out.println("warm pool on the wire: " + convert.flow() + " established " + Math.round(establishedFor
                * 1000) + " ms before its Convert request; LTE subflow " + joinSyn.flow() + " joined "
                + Math.round((convert.seconds() - joinSynAck.seconds()) * 1000) + " ms before it");

        firstByteHopByHop(measuredFrom, dsl, lte);

        // The goal is 1.2 DSL round trips (docs/decisions.md has the figures); the test holds a bound a loaded CI
        // machine meets and that any path needing a second round trip (a handshake to the concentrator, or no
        // 0-RTT start at all) cannot: 1.5 round trips of the path as measured (never less than the nominal one),
        // which leaves the appliances 50 ms of their own time (see the class comment).
        assertTrue(medianMs <= 1.5 * Math.max(rttMs, DSL_RTT.toMillis()), "first byte after " + medianMs
                + " ms at the median (" + ttfb.ttfb() + ", DSL RTT " + rttMs + " ms): not a 0-RTT start");
    }

    @Test
    void readyConnectionsUnusedForMaxIdleAreReplacedAndThePoolStaysFull() throws Exception {
        // The cpe's default max-idle is 20 s: within 20 s of its last refill every ready connection reaches it. One
        // timer per share retires them (not one per connection), so this checks that the timer re-arms for each.
        double idleBefore = poolMetric("hybridproxy_cpe_warm_pool_closes_total{", "reason=\"idle\"");
        long deadline = System.nanoTime() + Duration.ofSeconds(75).toNanos();
        double retired = 0;
        while (System.nanoTime() < deadline && retired < POOL_SIZE + 2) {
            Thread.sleep(1000);
            retired = poolMetric("hybridproxy_cpe_warm_pool_closes_total{", "reason=\"idle\"") - idleBefore;
        }
        // More than the pool: every ready connection retired, and replacements retired in their turn.
        assertTrue(retired >= POOL_SIZE + 2, "ready connections retired for max-idle within 75 s: " + retired
                + "\n" + logs());
        Thread.sleep(2000);
        double ready = poolMetric("hybridproxy_cpe_warm_pool_ready", "");
        assertTrue(ready == POOL_SIZE, "ready connections after the retirements: " + ready + " of " + POOL_SIZE);
    }

    /** The cpe's {@code hybridproxy_cpe_warm_pool_takes_total} of one outcome, from its admin server. */
    private double poolTakes(String outcome) {
        return poolMetric("hybridproxy_cpe_warm_pool_takes_total{", "outcome=\"" + outcome + "\"");
    }

    /** The sum of the cpe's samples whose line starts with {@code prefix} and contains {@code label}. */
    private double poolMetric(String prefix, String label) {
        ExecResult scrape = lab.cpe().tryExec(Duration.ofSeconds(10), "curl", "-sf", "--max-time", "5",
                "http://127.0.0.1:9190/metrics");
        assertTrue(scrape.ok(), () -> "cpe metrics: " + scrape.describe());
        return scrape.stdout().lines()
                .filter(l -> l.startsWith(prefix) && l.contains(label))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
                .sum();
    }

    private TtfbResult ttfb(int count, int concurrency) {
        TtfbResult result = HybridAccessLab.runLoadClient(lab.client(), Duration.ofSeconds(60), List.of(),
                JavaLauncher.DEFAULT_JVM_ARGS, LoadTarget.of(HybridAccessLab.SERVER_ADDR + ":" + LOAD_PORT),
                TtfbOptions.of(count, concurrency, 10_000).withWarmup(TTFB_WARMUP));
        assertTrue(result.ok(), () -> result + "\n" + logs());
        return result;
    }

    /**
     * The measured objects on the wire, one at a time: each request's hops (their medians printed, the figures for
     * docs/decisions.md), and what leaves together. The concentrator's success answer leaves with the server's first
     * bytes in one segment, and on DSL, for every object whose server answered within the hold (200 ms): sent alone it sat unacknowledged on DSL while the server's
     * answer came, and the kernel's scheduler put that answer on the idle LTE subflow. The cpe's request leaves with
     * the client's first bytes whenever they were already waiting at the take (most of the time; the client's
     * write races the cpe's accept, so no bound is held on it here).
     */
    private void firstByteHopByHop(double from, List<Segment> dsl, List<Segment> lte) throws IOException {
        List<Segment> lan = Pcap.read(dir.resolve("cpe-lan.pcap"));
        List<Segment> cpeDsl = Pcap.read(dir.resolve("cpe-dsl.pcap"));
        List<Segment> srv = Pcap.read(dir.resolve("srv.pcap"));
        List<Segment> clientSyns = lan.stream().filter(s -> s.seconds() >= from && s.syn() && !s.ack()).toList();
        List<List<Double>> hops = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            hops.add(new ArrayList<>());
        }
        int together = 0;
        int requests = 0;
        int answersAlone = 0;
        int answersAloneAfterSlowServer = 0;
        int answersOnLte = 0;
        for (Segment syn : clientSyns) {
            double t0 = syn.seconds();
            Optional<Segment> clientData = first(lan, t0, s -> s.destinationPort() == LOAD_PORT && s.payload().length > 0);
            Optional<Segment> convertOut = first(cpeDsl, t0, s -> s.destinationPort() == CONCENTRATOR_PORT
                    && isConvertRequest(s));
            Optional<Segment> convertIn = first(dsl, t0, s -> s.destinationPort() == CONCENTRATOR_PORT
                    && isConvertRequest(s));
            if (clientData.isEmpty() || convertOut.isEmpty() || convertIn.isEmpty()) {
                continue;
            }
            requests++;
            Segment request = convertIn.get();
            if (request.payload().length > 4 * (request.payload()[1] & 0xff)) {
                together++;
            }
            double t2 = request.seconds();
            Optional<Segment> serverSyn = first(srv, t2, s -> s.syn() && !s.ack());
            Optional<Segment> serverData = first(srv, t2, s -> s.sourcePort() == LOAD_PORT && s.payload().length > 0);
            Optional<Segment> answerDsl = first(dsl, t2, s -> s.flow().equals(request.reverseFlow())
                    && s.payload().length > 0);
            Optional<Segment> answerLte = first(lte, t2, s -> s.sourcePort() == CONCENTRATOR_PORT
                    && s.payload().length > 0);
            if (serverSyn.isEmpty() || serverData.isEmpty() || (answerDsl.isEmpty() && answerLte.isEmpty())) {
                continue;
            }
            boolean onLte = answerDsl.isEmpty()
                    || answerLte.isPresent() && answerLte.get().seconds() < answerDsl.get().seconds();
            Segment answer = onLte ? answerLte.get() : answerDsl.get();
            if (onLte) {
                answersOnLte++;
            }
            // The concentrator holds its answer for the server's first bytes up to 200 ms from the connect (a
            // quarter more at worst): alone is right only when the server took longer than that.
            if ((!isConvertAnswer(answer) || answer.payload().length <= 4)
                    && serverData.get().seconds() - serverSyn.get().seconds() < 0.2) {
                answersAlone++;
            } else if (!isConvertAnswer(answer) || answer.payload().length <= 4) {
                answersAloneAfterSlowServer++;
            }
            if (onLte) {
                continue; // the cpe's DSL capture does not see it
            }
            Optional<Segment> answerAtCpe = first(cpeDsl, answer.seconds(), s -> s.sourcePort() == CONCENTRATOR_PORT
                    && s.payload().length > 0);
            Optional<Segment> toClient = first(lan, answer.seconds(), s -> s.sourcePort() == LOAD_PORT
                    && s.payload().length > 0);
            if (answerAtCpe.isEmpty() || toClient.isEmpty()) {
                continue;
            }
            double[] at = {t0, clientData.get().seconds(), convertOut.get().seconds(), t2, serverSyn.get().seconds(),
                    serverData.get().seconds(), answer.seconds(), answerAtCpe.get().seconds(),
                    toClient.get().seconds()};
            for (int i = 1; i < at.length; i++) {
                hops.get(i - 1).add((at[i] - at[i - 1]) * 1000);
            }
            hops.get(8).add((at[8] - at[0]) * 1000);
        }
        String[] names = {"client SYN -> client's first bytes at the cpe", "-> Convert request out on the cpe's DSL",
                "-> in at the concentrator (DSL one way)", "-> SYN to the server", "-> server's first bytes",
                "-> answer out on the concentrator's DSL", "-> in at the cpe (DSL one way)", "-> first byte to the client",
                "client SYN -> first byte to the client"};
        StringBuilder table = new StringBuilder("warm pool, first byte hop by hop (median ms of " + hops.get(8).size()
                + " objects):");
        for (int i = 0; i < names.length; i++) {
            table.append("\n  ").append(names[i]).append(": ").append(String.format("%.2f", median(hops.get(i))));
        }
        System.out.println(table);
        System.out.println("warm pool on the wire: " + together + " of " + requests + " Convert requests left with the"
                + " client's first bytes; " + answersAlone + " answers left alone although the server answered within"
                + " the hold, " + answersAloneAfterSlowServer + " after a server slower than the hold; " + answersOnLte
                + " on LTE");
        assertTrue(requests >= OBJECTS / 2, "measured objects matched on the wire: " + requests + "\n" + table);
        assertTrue(answersAlone == 0, answersAlone + " of " + requests + " Convert answers left without the server's"
                + " first bytes although those came within the hold");
        assertTrue(answersOnLte == 0, answersOnLte + " of " + requests + " answers went on LTE");
    }

    private static Optional<Segment> first(List<Segment> capture, double after,
                                           java.util.function.Predicate<Segment> what) {
        return capture.stream().filter(s -> s.seconds() >= after && what.test(s)).findFirst();
    }

    private static double median(List<Double> values) {
        if (values.isEmpty()) {
            return Double.NaN;
        }
        List<Double> sorted = values.stream().sorted().toList();
        return sorted.get(sorted.size() / 2);
    }

    /** The concentrator's answer: the same header, version 1 and the Magic Number. */
    private static boolean isConvertAnswer(Segment s) {
        return isConvertRequest(s);
    }

    /** RFC 8803 §6.1: version 1, a length in 32-bit words, then the Magic Number 0x2263, from the cpe. */
    private static boolean isConvertRequest(Segment s) {
        byte[] p = s.payload();
        return p.length >= 4 && p[0] == 1 && (p[2] & 0xff) == 0x22 && (p[3] & 0xff) == 0x63;
    }

    private String logs() {
        return "--- concentrator ---\n" + (concentrator == null ? "" : concentrator.stdout()) + "\n--- cpe ---\n"
                + (cpe == null ? "" : cpe.stdout());
    }
}
