package net.hybridproxy.loadtest.e2e;

import net.hybridproxy.loadtest.lab.ApplianceConfigs;
import net.hybridproxy.loadtest.lab.ApplianceLauncher;
import net.hybridproxy.loadtest.lab.ExecResult;
import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.LabProcess;
import net.hybridproxy.loadtest.lab.Netns;
import net.hybridproxy.loadtest.loadgen.PayloadPattern;
import net.hybridproxy.proxy.nativeio.Libc;
import net.hybridproxy.proxy.testing.TestNative;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.LongFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Concentrator scale-out (docs/operations.md): two concentrator replicas in their own namespaces behind one public
 * address, which an nftables DNAT balancer spreads at random over the replicas per new connection, as a cloud load
 * balancer or a Kubernetes Service does. A connection's first subflow may land on either replica; each replica
 * announces its own address (ADD_ADDR) and sets MP_CAPABLE's C flag, so the cpe's joins reach the replica holding
 * the connection and never the balanced address.
 *
 * <p>Both engines at once: the replicas also listen for the userspace engine, whose cpe (a second gateway) runs
 * one session per event loop. Each replica announces its own address with the engine's ADD_ADDR ahead of the
 * session's first frames, and the cpe's joins go there; a session is checked whole on one replica by matching
 * the subflows both ends log.
 *
 * <pre>
 *   cpe  ──dsl/lte──┐
 *   ucpe ──dsl/lte──┴ lb (DNAT 198.18.100.10 → r1 | r2, random; the destination server) ──┬── r1 198.18.41.2
 *                                                                                         └── r2 198.18.42.2
 * </pre>
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ConcentratorReplicasNetnsE2eTest {
    private static final String VIP = "198.18.100.10";
    private static final String SERVER = "198.18.50.1";
    private static final String[] REPLICA = {"198.18.41.2", "198.18.42.2"};
    private static final String CPE_LISTEN = "198.18.1.1";
    private static final int PORT = 5100;
    private static final int SERVER_PORT = 5001;
    private static final int JOIN_PORT = 5200;
    /** The replicas' userspace listener: balanced like {@link #PORT}, and the port each replica announces. */
    private static final int USERSPACE_PORT = PORT + 1;
    private static final int USERSPACE_LISTENER = 12001;
    /**
     * The userspace cpe's event loops, one session each. With 16 sessions placed at random, all on one replica
     * happens once in 2^15 runs.
     */
    private static final int USERSPACE_SESSIONS = 16;
    private static final String UCPE_DSL = "198.18.11.1";
    private static final String UCPE_LTE = "198.18.21.1";
    /** A userspace subflow attached, as both ends log it: session name, then its local and remote endpoints. */
    private static final Pattern USERSPACE_SUBFLOW = Pattern.compile(
            "((?:cpe|concentrator) session \\d+)(?: \\[[^\\]]*])?: subflow \\d+ over \\S+ attached \\(\\S*?([0-9.]+:\\d+) -> "
                    + "\\S*?([0-9.]+:\\d+)\\)");
    /**
     * One TCP Fast Open key for all replicas, as for any TFO server farm behind one address: a cookie one replica
     * issued must be valid on the others (docs/operations.md).
     */
    private static final String FAST_OPEN_KEY = "a1b2c3d4-e5f60718-293a4b5c-6d7e8f90";
    private static final int KERNEL_LISTENER = 12000;
    private static final int CONNECTIONS = 40;
    /** A userspace cpe session established (a new one under the same name after one ended). */
    private static final Pattern USERSPACE_ESTABLISHED = Pattern.compile("(cpe session \\d+): session established");
    /**
     * The cpe's warm pool (cpe.warm-pool.size, default 8): ready MPTCP connections to the balanced address, on top
     * of the ones carrying the transfers. They are balanced like any connection and checked the same way.
     */
    private static final int WARM_POOL = 8;
    private static final int HALF = 1 << 20;
    private static final Pattern SUBFLOW = Pattern.compile("token:[0-9a-f]+\\(id:\\d+\\)/([0-9a-f]+)\\(id:\\d+\\)");

    private final List<Netns> namespaces = new ArrayList<>();
    private final LabProcess[] replicas = new LabProcess[2];
    private Netns cpe;
    private Netns userspaceCpe;
    private Netns lb;
    private final Netns[] replicaNs = new Netns[2];
    private Path configs;
    private LabProcess cpeProcess;
    private LabProcess userspaceCpeProcess;
    /** The userspace cpe's sessions the first test found on replica r1 (index 0). */
    private final java.util.Set<String> userspaceSessionsOnR1 = new java.util.TreeSet<>();

    @BeforeAll
    void topology() throws Exception {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
                "needs root for network namespaces (runs in CI as root)");
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/sbin/nft")) || Files.isExecutable(Path.of("/sbin/nft")),
                "needs nft (Debian package nftables)");
        String prefix = "hpr" + ProcessHandle.current().pid() + "-";
        cpe = ns(prefix + "cpe");
        userspaceCpe = ns(prefix + "ucpe");
        lb = ns(prefix + "lb");
        for (int i = 0; i < 2; i++) {
            replicaNs[i] = ns(prefix + "r" + (i + 1));
        }
        veth(cpe, "dsl", "198.18.10.1", lb, "198.18.10.2");
        veth(cpe, "lte", "198.18.20.1", lb, "198.18.20.2");
        veth(userspaceCpe, "dsl", UCPE_DSL, lb, "udsl", "198.18.11.2");
        veth(userspaceCpe, "lte", UCPE_LTE, lb, "ulte", "198.18.21.2");
        for (int i = 0; i < 2; i++) {
            String lbSide = "198.18.4" + (i + 1) + ".1";
            veth(lb, "r" + (i + 1), lbSide, replicaNs[i], REPLICA[i]);
            replicaNs[i].ip("route", "add", "default", "via", lbSide);
            replicaNs[i].sysctl("net.ipv4.tcp_fastopen", "515");
            replicaNs[i].sysctl("net.ipv4.tcp_fastopen_key", FAST_OPEN_KEY);
        }
        cpe.sysctl("net.ipv4.tcp_fastopen", "3");
        cpe.ip("addr", "add", CPE_LISTEN + "/32", "dev", "lo");
        cpe.ip("route", "add", "default", "via", "198.18.10.2", "dev", "dsl");
        userspaceCpe.ip("addr", "add", CPE_LISTEN + "/32", "dev", "lo");
        userspaceCpe.ip("route", "add", "default", "via", "198.18.11.2", "dev", "dsl");
        lb.sysctl("net.ipv4.ip_forward", "1");
        lb.ip("addr", "add", SERVER + "/32", "dev", "lo");
        balanceOver(List.of(REPLICA[0], REPLICA[1]));
        configs = Files.createTempDirectory("hybridproxy-replicas");
        lb.startLogged("traffic-server", HybridAccessLab.loadServerCommand("--listen", SERVER + ":" + SERVER_PORT)).awaitStdoutLine(l -> l.startsWith("LISTENING "), Duration.ofSeconds(30));
        for (int i = 0; i < 2; i++) {
            replicas[i] = startReplica(i);
        }
        Path cpeConf = Files.writeString(configs.resolve("cpe.conf"), """
                hybridproxy {
                  role = cpe
                  uplinks = [
                    { name = dsl, interface = dsl, address = "198.18.10.1", gateway = "198.18.10.2" }
                    { name = lte, interface = lte, address = "198.18.20.1", gateway = "198.18.20.2" }
                  ]
                  admin.enabled = false
                  cpe {
                    concentrator = "%s:%d"
                    listeners = [{ name = kernel, mode = explicit, bind = "%s:%d", destination = "%s:%d" }]
                    key-id = "cpe-replicas"
                    key = "%s"
                    warm-pool.size = %d
                  }
                }
                """.formatted(VIP, PORT, CPE_LISTEN, KERNEL_LISTENER, SERVER, SERVER_PORT, ApplianceConfigs.KEY,
                WARM_POOL));
        cpeProcess = ApplianceLauncher.start(cpe, cpeConf, "cpe listener kernel");
        Path userspaceCpeConf = Files.writeString(configs.resolve("ucpe.conf"), """
                hybridproxy {
                  role = cpe
                  engine = userspace
                  event-loop-threads = %d
                  uplinks = [
                    { name = dsl, interface = dsl, address = "%s", gateway = "198.18.11.2" }
                    { name = lte, interface = lte, address = "%s", gateway = "198.18.21.2" }
                  ]
                  admin.enabled = false
                  cpe {
                    concentrator = "%s:%d"
                    listeners = [{ name = userspace, mode = explicit, bind = "%s:%d", destination = "%s:%d" }]
                    key-id = "cpe-replicas"
                    key = "%s"
                  }
                }
                """.formatted(USERSPACE_SESSIONS, UCPE_DSL, UCPE_LTE, VIP, USERSPACE_PORT, CPE_LISTEN,
                USERSPACE_LISTENER, SERVER, SERVER_PORT, ApplianceConfigs.KEY));
        userspaceCpeProcess = ApplianceLauncher.start(userspaceCpe, userspaceCpeConf, "cpe listener userspace");
    }

    @AfterAll
    void tearDown() {
        for (Netns ns : namespaces) {
            ns.close();
        }
    }

    @Test
    @Order(1)
    void everyConnectionKeepsAllItsSubflowsOnOneReplicaAndBothReplicasServe() throws Exception {
        inspectWhileUploading(cpe, seed -> (halfway, inspected) -> upload(seed, halfway, inspected), 0, () -> {
            // Every connection is open and has moved bytes: the joins have had time to happen.
            Map<String, Integer> perReplica = new HashMap<>();
            List<Map<String, Integer>> subflows = new ArrayList<>();
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (true) {
                subflows.clear();
                for (Netns r : replicaNs) {
                    subflows.add(subflowsPerConnection(r));
                }
                int total = subflows.get(0).size() + subflows.get(1).size();
                boolean allJoined = subflows.stream().allMatch(m -> m.values().stream().allMatch(n -> n >= 2));
                if ((total >= CONNECTIONS && allJoined) || System.nanoTime() > deadline) {
                    break;
                }
                Thread.sleep(200);
            }
            for (int i = 0; i < 2; i++) {
                perReplica.put("r" + (i + 1), subflows.get(i).size());
            }
            String figures = "connections per replica " + perReplica + ", subflows per connection: r1 "
                    + subflows.get(0).values() + ", r2 " + subflows.get(1).values();
            System.out.println("replicas: " + figures);
            // A connection split across replicas would show as two, each with one subflow: the check below. The
            // count is the transfers plus the ready connections of the warm pool.
            int total = subflows.get(0).size() + subflows.get(1).size();
            assertTrue(total >= CONNECTIONS && total <= CONNECTIONS + WARM_POOL,
                    "a connection is missing or too many on the replicas: " + figures);
            assertTrue(subflows.get(0).size() > 0 && subflows.get(1).size() > 0, "one replica idle: " + figures);
            for (Map<String, Integer> m : subflows) {
                for (int n : m.values()) {
                    assertTrue(n >= 2, "a connection without its join on its replica: " + figures);
                }
            }
        });
    }

    @Test
    @Order(2)
    void everyUserspaceSessionKeepsAllItsSubflowsOnOneReplicaAndBothReplicasServe() throws Exception {
        inspectWhileUploading(userspaceCpe,
                seed -> (halfway, inspected) -> upload(USERSPACE_LISTENER, seed, halfway, inspected), 100, () -> {
            // Every stream is carried by its event loop's session: a session whole on one replica carries its
            // streams there. Wait until every session shows both uplinks' subflows.
            Map<String, Placement> sessions = Map.of();
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (System.nanoTime() < deadline) {
                sessions = userspacePlacement(0);
                // The logs that place each subflow may trail the sockets by a moment (-1: not placed yet).
                if (sessions.size() == USERSPACE_SESSIONS && sessions.values().stream()
                        .allMatch(p -> p.subflows() >= 2 && !p.replicas().contains(-1))) {
                    break;
                }
                Thread.sleep(200);
            }
            int[] perReplica = new int[2];
            sessions.values().forEach(p -> p.replicas().stream().filter(r -> r >= 0).forEach(r -> perReplica[r]++));
            int[][] uplinks = {userspaceSubflowsByUplink(replicaNs[0]), userspaceSubflowsByUplink(replicaNs[1])};
            String figures = "userspace sessions per replica r1 " + perReplica[0] + ", r2 " + perReplica[1]
                    + "; subflows (dsl, lte) r1 " + java.util.Arrays.toString(uplinks[0]) + ", r2 "
                    + java.util.Arrays.toString(uplinks[1]) + "; sessions " + sessions;
            System.out.println("replicas: " + figures);
            assertEquals(USERSPACE_SESSIONS, sessions.size(), () -> "a session is missing: " + figures + logs());
            for (Map.Entry<String, Placement> e : sessions.entrySet()) {
                assertEquals(1, e.getValue().holders().size(),
                        () -> e.getKey() + " is not whole on one replica session: " + figures + logs());
                assertTrue(e.getValue().subflows() >= 2, () -> e.getKey() + " has no join: " + figures);
            }
            assertTrue(perReplica[0] > 0 && perReplica[1] > 0, "one replica idle: " + figures);
            for (int i = 0; i < 2; i++) {
                assertEquals(perReplica[i], uplinks[i][0], "dsl subflows on r" + (i + 1) + ": " + figures);
                assertEquals(perReplica[i], uplinks[i][1], "lte subflows on r" + (i + 1) + ": " + figures);
            }
            sessions.forEach((name, p) -> {
                if (p.replicas().contains(0)) {
                    userspaceSessionsOnR1.add(name);
                }
            });
        });
    }

    /** One of the test's uploads: counts {@code halfway} down once it has moved bytes, then awaits {@code inspected}. */
    private interface HeldUpload {
        String run(CountDownLatch halfway, CountDownLatch inspected) throws Exception;
    }

    private interface Inspection {
        void run() throws Exception;
    }

    /**
     * Starts {@link #CONNECTIONS} verified uploads from a namespace (seeds from {@code firstSeed}), runs the inspection
     * once every upload has moved bytes and while all are still open, then lets them finish and checks each was
     * verified.
     */
    private void inspectWhileUploading(Netns from, LongFunction<HeldUpload> uploads, long firstSeed,
            Inspection inspection) throws Exception {
        ExecutorService threads = Executors.newFixedThreadPool(CONNECTIONS, r -> Thread.ofPlatform().unstarted(
                () -> inNamespace(from, r)));
        CountDownLatch halfway = new CountDownLatch(CONNECTIONS);
        CountDownLatch inspected = new CountDownLatch(1);
        List<Future<String>> transfers = new ArrayList<>();
        for (int c = 0; c < CONNECTIONS; c++) {
            HeldUpload upload = uploads.apply(firstSeed + c);
            transfers.add(threads.submit(() -> upload.run(halfway, inspected)));
        }
        try {
            assertTrue(halfway.await(60, TimeUnit.SECONDS), "connections did not get halfway: " + logs());
            inspection.run();
        } finally {
            inspected.countDown();
        }
        for (Future<String> t : transfers) {
            String outcome = t.get(120, TimeUnit.SECONDS);
            assertEquals("verified", outcome, () -> outcome + "\n" + logs());
        }
        threads.shutdown();
    }

    @Test
    @Order(3)
    void whenAReplicaDiesNewConnectionsSucceedWithinTwoSeconds() throws Exception {
        // The balancer's health check, as a cloud load balancer's or kube-proxy's endpoints do it: every 200 ms a
        // TCP connect to each replica's listener from the balancer; a replica that fails it leaves the DNAT map.
        java.util.concurrent.atomic.AtomicBoolean checking = new java.util.concurrent.atomic.AtomicBoolean(true);
        Thread healthCheck = Thread.ofPlatform().daemon().start(() -> inNamespace(lb, () -> {
            List<String> live = List.of(REPLICA);
            while (checking.get()) {
                List<String> now = new ArrayList<>();
                for (String replica : REPLICA) {
                    try (Socket probe = new Socket()) {
                        probe.connect(new InetSocketAddress(replica, PORT), 200);
                        now.add(replica);
                    } catch (IOException down) {
                        // left out of the map until it answers again
                    }
                }
                if (!now.equals(live) && !now.isEmpty()) {
                    balanceOver(now);
                    live = now;
                }
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }));
        Thread.sleep(500);
        int userspaceLogFrom = userspaceCpeProcess.stdoutLines().size();
        replicas[0].stop(Duration.ZERO);
        long killed = System.nanoTime();
        // Both engines, each through its own cpe: the first verified connection after the kill.
        long[] recovered = {-1, -1};
        ExecutorService both = Executors.newFixedThreadPool(2);
        List<Future<?>> firsts = new ArrayList<>();
        for (int engine = 0; engine < 2; engine++) {
            int e = engine;
            Netns ns = e == 0 ? cpe : userspaceCpe;
            int port = e == 0 ? KERNEL_LISTENER : USERSPACE_LISTENER;
            firsts.add(both.submit(() -> {
                while (System.nanoTime() - killed < Duration.ofSeconds(10).toNanos()) {
                    if ("verified".equals(uploadIn(ns, port, 1000 + e * 1000 + System.nanoTime() % 1000))) {
                        recovered[e] = System.nanoTime();
                        return null;
                    }
                }
                return null;
            }));
        }
        for (Future<?> f : firsts) {
            f.get(60, TimeUnit.SECONDS);
        }
        both.shutdown();
        for (int e = 0; e < 2; e++) {
            String engine = e == 0 ? "kernel" : "userspace";
            assertTrue(recovered[e] > 0, "no " + engine + " connection succeeded after the replica died: " + logs());
            long millis = Duration.ofNanos(recovered[e] - killed).toMillis();
            System.out.println("replicas: first verified " + engine + " connection " + millis
                    + " ms after replica r1 was killed");
            assertTrue(millis <= 2000, () -> engine + " took " + millis + " ms" + logs());
        }
        // The userspace sessions that were on r1 start again, through the balancer, on r2: every session is then
        // whole on r2, with both uplinks' subflows.
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        int[] onR2 = userspaceSubflowsByUplink(replicaNs[1]);
        while (System.nanoTime() < deadline && !(onR2[0] == USERSPACE_SESSIONS && onR2[1] == USERSPACE_SESSIONS)) {
            Thread.sleep(100);
            onR2 = userspaceSubflowsByUplink(replicaNs[1]);
        }
        long reestablished = Duration.ofNanos(System.nanoTime() - killed).toMillis();
        // The logs that place each session may trail the sockets by a moment.
        Map<String, Placement> restarted = userspacePlacement(userspaceLogFrom);
        while (System.nanoTime() < deadline && !allWholeOnR2(restarted)) {
            Thread.sleep(100);
            restarted = userspacePlacement(userspaceLogFrom);
        }
        Map<String, Placement> placed = restarted;
        String figures = "subflows (dsl, lte) on r2 " + java.util.Arrays.toString(onR2) + " after " + reestablished
                + " ms; sessions that were on r1 " + userspaceSessionsOnR1 + "; placed since the kill " + placed;
        System.out.println("replicas: userspace sessions re-established on r2: " + figures);
        assertEquals(USERSPACE_SESSIONS, onR2[0], () -> figures + logs());
        assertEquals(USERSPACE_SESSIONS, onR2[1], () -> figures + logs());
        assertFalse(userspaceSessionsOnR1.isEmpty(), "the previous test found no userspace session on r1");
        for (String name : userspaceSessionsOnR1) {
            assertTrue(wholeOnR2(placed.get(name)), () -> name + " did not re-establish whole on r2: " + figures);
        }
        checking.set(false);
        healthCheck.join();
        for (int i = 0; i < 10; i++) {
            assertEquals("verified", uploadIn(cpe, KERNEL_LISTENER, 2000 + i));
            assertEquals("verified", uploadIn(userspaceCpe, USERSPACE_LISTENER, 3000 + i));
        }
    }

    private boolean allWholeOnR2(Map<String, Placement> placements) {
        return userspaceSessionsOnR1.stream().allMatch(name -> wholeOnR2(placements.get(name)));
    }

    private static boolean wholeOnR2(Placement p) {
        return p != null && p.replicas().equals(java.util.Set.of(1)) && p.holders().size() == 1 && p.subflows() >= 2;
    }

    /** One transfer through the cpe in {@code ns}, from a thread in that namespace. */
    private String uploadIn(Netns ns, int port, long seed) throws Exception {
        ExecutorService one = Executors.newSingleThreadExecutor(r -> Thread.ofPlatform().unstarted(
                () -> inNamespace(ns, r)));
        try {
            return one.submit(() -> upload(port, seed, null, null)).get(30, TimeUnit.SECONDS);
        } finally {
            one.shutdown();
        }
    }

    /**
     * Where a userspace cpe session's subflows are, from what both ends log when a subflow attaches: the replicas
     * (0 or 1) and the replicas' sessions holding them (each "rN/concentrator session K"), and how many attached.
     */
    record Placement(java.util.Set<Integer> replicas, java.util.Set<String> holders, int subflows) {
    }

    /** Each cpe session's placement, from the cpe's log lines from {@code fromLine} on (a restarted one's). */
    private Map<String, Placement> userspacePlacement(int fromLine) {
        Map<String, String> holderByCpeEndpoint = new HashMap<>();
        Map<String, Integer> replicaByCpeEndpoint = new HashMap<>();
        for (int r = 0; r < 2; r++) {
            for (String line : replicas[r].stdoutLines()) {
                Matcher m = USERSPACE_SUBFLOW.matcher(line);
                if (m.find() && m.group(1).startsWith("concentrator")) {
                    holderByCpeEndpoint.put(m.group(3), "r" + (r + 1) + "/" + m.group(1));
                    replicaByCpeEndpoint.put(m.group(3), r);
                }
            }
        }
        Map<String, List<String>> endpointsBySession = new HashMap<>();
        List<String> cpeLines = userspaceCpeProcess.stdoutLines();
        for (String line : cpeLines.subList(Math.min(fromLine, cpeLines.size()), cpeLines.size())) {
            Matcher established = USERSPACE_ESTABLISHED.matcher(line);
            if (established.find()) {
                // A session that ended is replaced under the same name: only the latest one counts.
                endpointsBySession.remove(established.group(1));
                continue;
            }
            Matcher m = USERSPACE_SUBFLOW.matcher(line);
            if (m.find() && m.group(1).startsWith("cpe")) {
                endpointsBySession.computeIfAbsent(m.group(1), n -> new ArrayList<>()).add(m.group(2));
            }
        }
        Map<String, Placement> placements = new java.util.TreeMap<>();
        endpointsBySession.forEach((session, endpoints) -> {
            java.util.Set<Integer> at = new java.util.TreeSet<>();
            java.util.Set<String> holders = new java.util.TreeSet<>();
            for (String endpoint : endpoints) {
                at.add(replicaByCpeEndpoint.getOrDefault(endpoint, -1));
                holders.add(holderByCpeEndpoint.getOrDefault(endpoint, "nowhere"));
            }
            placements.put(session, new Placement(at, holders, endpoints.size()));
        });
        return placements;
    }

    /** The replica's established userspace subflows from the userspace cpe: {dsl, lte}. */
    private static int[] userspaceSubflowsByUplink(Netns replica) {
        ExecResult ss = replica.exec("ss", "-Htn", "state", "established", "( sport = :" + USERSPACE_PORT + " )");
        int[] count = new int[2];
        for (String line : ss.stdout().split("\n")) {
            if (line.contains(" " + UCPE_DSL + ":") || line.contains("[::ffff:" + UCPE_DSL + "]:")) {
                count[0]++;
            } else if (line.contains(" " + UCPE_LTE + ":") || line.contains("[::ffff:" + UCPE_LTE + "]:")) {
                count[1]++;
            }
        }
        return count;
    }

    /**
     * One upload through the cpe's explicit listener in the load server's UP protocol: 2 x {@link #HALF} pattern
     * bytes, which the server checks and answers with their SHA-256. Between the halves it waits for
     * {@code inspected}.
     */
    private String upload(long seed, CountDownLatch halfway, CountDownLatch inspected) throws Exception {
        return upload(KERNEL_LISTENER, seed, halfway, inspected);
    }

    /** The same through the cpe listening on {@code port} (the kernel or the userspace one). */
    private String upload(int port, long seed, CountDownLatch halfway, CountDownLatch inspected) throws Exception {
        byte[] half = new byte[HALF];
        PayloadPattern pattern = PayloadPattern.of(seed);
        MessageDigest sha = PayloadPattern.sha256();
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(CPE_LISTEN, port), 10_000);
            s.setSoTimeout(60_000);
            OutputStream out = s.getOutputStream();
            out.write(("UP seed=" + seed + "\n").getBytes(StandardCharsets.US_ASCII));
            for (int part = 0; part < 2; part++) {
                pattern.fill((long) part * HALF, half, 0, HALF);
                sha.update(half);
                out.write(half);
                out.flush();
                if (part == 0 && halfway != null) {
                    halfway.countDown();
                    inspected.await(60, TimeUnit.SECONDS);
                }
            }
            s.shutdownOutput();
            String reply = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII))
                    .readLine();
            String expected = HexFormat.of().formatHex(sha.digest());
            return reply != null && reply.startsWith("OK " + 2L * HALF + " " + expected + " ok ") ? "verified"
                    : "server said: " + reply;
        } catch (IOException e) {
            return "failed: " + e;
        }
    }

    /** The replica's MPTCP connections from the cpe by their token, each with its number of TCP subflows. */
    private static Map<String, Integer> subflowsPerConnection(Netns replica) {
        ExecResult ss = replica.exec("ss", "-HtinO", "state", "established",
                "( sport = :" + PORT + " or sport = :" + JOIN_PORT + " )");
        Map<String, Integer> count = new HashMap<>();
        for (String line : ss.stdout().split("\n")) {
            Matcher m = SUBFLOW.matcher(line);
            if (line.contains("tcp-ulp-mptcp") && m.find()) {
                count.merge(m.group(1), 1, Integer::sum);
            }
        }
        return count;
    }

    /** Points the public address at {@code live} replicas, chosen at random per new connection. */
    private synchronized void balanceOver(List<String> live) {
        StringBuilder map = new StringBuilder();
        for (int i = 0; i < live.size(); i++) {
            map.append(i == 0 ? "" : ", ").append(i).append(" : ").append(live.get(i));
        }
        String script = """
                table ip hpxlb
                delete table ip hpxlb
                table ip hpxlb {
                  chain prerouting {
                    type nat hook prerouting priority dstnat; policy accept;
                    ip daddr %s tcp dport { %d, %d } dnat to numgen random mod %d map { %s }
                  }
                }
                """.formatted(VIP, PORT, PORT + 1, live.size(), map);
        Path file = configs == null ? null : configs.resolve("lb.nft");
        try {
            if (file == null) {
                file = Files.createTempFile("lb", ".nft");
            }
            Files.writeString(file, script);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        lb.exec("nft", "-f", file.toString());
    }

    private LabProcess startReplica(int i) throws IOException {
        Path conf = Files.writeString(configs.resolve("replica" + (i + 1) + ".conf"),
                ApplianceConfigs.concentrator("[::]:" + PORT, "cpe-replicas", """
                                userspace-listen = ["[::]:%d"]
                                authorized-cidrs = ["198.18.10.0/24", "198.18.20.0/24", "198.18.11.0/24", "198.18.21.0/24"]
                                """.formatted(USERSPACE_PORT))
                        .replace("role = concentrator", """
                                role = concentrator
                                  path-manager {
                                    announce = ["%s"]
                                    announce-port = %d
                                    allow-join-initial-address = false
                                  }
                                  admin.enabled = false""".formatted(REPLICA[i], JOIN_PORT)));
        return ApplianceLauncher.start(replicaNs[i], conf, "concentrator listening");
    }

    private Netns ns(String name) {
        Netns ns = Netns.create(name);
        namespaces.add(ns);
        ns.ip("link", "set", "lo", "up");
        ns.sysctl("net.ipv4.conf.all.rp_filter", "2");
        ns.sysctl("net.ipv4.conf.default.rp_filter", "2");
        return ns;
    }

    private static void veth(Netns a, String name, String addrA, Netns b, String addrB) {
        veth(a, name, addrA, b, name, addrB);
    }

    private static void veth(Netns a, String name, String addrA, Netns b, String nameB, String addrB) {
        a.ip("link", "add", name, "type", "veth", "peer", "name", nameB, "netns", b.name());
        a.ip("addr", "add", addrA + "/24", "dev", name);
        b.ip("addr", "add", addrB + "/24", "dev", nameB);
        a.ip("link", "set", name, "up");
        b.ip("link", "set", nameB, "up");
    }

    private static void inNamespace(Netns ns, Runnable body) {
        try {
            int fd = TestNative.open("/run/netns/" + ns.name());
            try {
                TestNative.setns(fd, TestNative.CLONE_NEWNET);
            } finally {
                Libc.close(fd);
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        body.run();
    }

    private String logs() {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 2; i++) {
            s.append("\n--- replica r").append(i + 1).append(" ---\n").append(replicas[i].stdout());
        }
        return s.append("\n--- cpe ---\n").append(cpeProcess.stdout())
                .append("\n--- userspace cpe ---\n").append(userspaceCpeProcess.stdout()).toString();
    }
}
