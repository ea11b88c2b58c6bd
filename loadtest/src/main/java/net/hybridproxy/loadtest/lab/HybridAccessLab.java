package net.hybridproxy.loadtest.lab;

import net.hybridproxy.loadtest.loadgen.BulkResult;
import net.hybridproxy.loadtest.loadgen.LoadClient;
import net.hybridproxy.loadtest.loadgen.LoadServer;
import net.hybridproxy.loadtest.loadgen.LoadTarget;
import net.hybridproxy.loadtest.loadgen.TtfbOptions;
import net.hybridproxy.loadtest.loadgen.TtfbResult;
import net.hybridproxy.loadtest.loadgen.Workload;
import net.hybridproxy.loadtest.lab.emu.EmulatorStats;
import net.hybridproxy.loadtest.lab.emu.Impairment;
import net.hybridproxy.loadtest.tool.ToolJson;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A hybrid-access network built from four network namespaces (plus one holding the link emulators, when those
 * are used):
 *
 * <pre>
 *   client --lan-- cpe ==dsl== conc --srv-- server
 *                      ==lte==
 * </pre>
 *
 * <table>
 *   <caption>Addresses</caption>
 *   <tr><th>namespace</th><th>interface</th><th>address</th><th>notes</th></tr>
 *   <tr><td>client</td><td>lan</td><td>198.18.1.2/24</td><td>default via 198.18.1.1</td></tr>
 *   <tr><td>cpe</td><td>lan</td><td>198.18.1.1/24</td><td></td></tr>
 *   <tr><td>cpe</td><td>dsl</td><td>198.18.10.1/24</td><td>main table: default via 198.18.10.2 dev dsl;
 *       table 10 (from 198.18.10.1): default via 198.18.10.2 dev dsl</td></tr>
 *   <tr><td>cpe</td><td>lte</td><td>198.18.20.1/24</td><td>table 20 (from 198.18.20.1):
 *       default via 198.18.20.2 dev lte</td></tr>
 *   <tr><td>conc</td><td>dsl</td><td>198.18.10.2/24</td><td>198.18.1.0/24 via 198.18.10.1 dev dsl</td></tr>
 *   <tr><td>conc</td><td>lte</td><td>198.18.20.2/24</td><td></td></tr>
 *   <tr><td>conc</td><td>srv</td><td>198.18.30.1/24</td><td></td></tr>
 *   <tr><td>conc</td><td>lo</td><td>198.18.100.1/32</td><td>service address the CPE connects to</td></tr>
 *   <tr><td>server</td><td>srv</td><td>198.18.30.2/24</td><td>default via 198.18.30.1</td></tr>
 * </table>
 *
 * <p>cpe and conc forward IPv4, so client-to-server traffic is routed end to end without any
 * proxy (the baseline). The per-source tables on the cpe send packets from each uplink address
 * out of that uplink, the usual setup for a multihomed MPTCP host.
 *
 * <p>Uplinks (dsl, lte) are emulated per direction: rate, one-way delay, jitter, random loss and queue limit
 * ({@link Impairment}). Where the kernel has netem, the uplinks are veth pairs with a netem qdisc on each end.
 * Where it does not (netem is an optional module many kernels leave out), each uplink is a pair of TUN devices
 * joined by a {@link net.hybridproxy.loadtest.lab.emu.LinkEmulator} process in the lab's own {@code emu}
 * namespace; {@link #emulation()} says which. Defaults: dsl 200 Mbit/s, lte 100 Mbit/s, no delay, no loss.
 * lan and srv are veth pairs, unshaped unless given a rate (then tbf on both ends).
 *
 * <p>Faults at runtime: {@link #linkDown}/{@link #linkUp}, {@link #blackhole}, {@link #setImpairment} (loss,
 * rate, RTT spikes), and {@link #stripMptcpOption}, a middlebox that blanks the MPTCP option on one path.
 *
 * <p>Namespaces are named {@code hpx<pid>-<n>-<role>} ({@link #prefix()}), so concurrent runs
 * and labs cannot collide, and leftovers of dead runs can be recognised and removed on start.
 */
public final class HybridAccessLab implements AutoCloseable {
    private static final String CLIENT_SUBNET = "198.18.1.0/24";
    /**
     * What docs/operations.md recommends for the concentrator's route to its DSL subscribers when its host runs BBR:
     * a loss-based algorithm on DSL, so that only the LTE subflow of a connection ever enters BBR's PROBE_RTT.
     */
    public static final String RECOMMENDED_DSL_CONGESTION_CONTROL = "cubic";
    public static final String CLIENT_ADDR = "198.18.1.2";
    public static final String CPE_LAN_ADDR = "198.18.1.1";
    public static final String CPE_DSL_ADDR = "198.18.10.1";
    public static final String CONC_DSL_ADDR = "198.18.10.2";
    public static final String CPE_LTE_ADDR = "198.18.20.1";
    public static final String CONC_LTE_ADDR = "198.18.20.2";
    public static final String CONC_SRV_ADDR = "198.18.30.1";
    public static final String SERVER_ADDR = "198.18.30.2";
    /** Concentrator service address, on the concentrator's loopback. */
    public static final String SERVICE_ADDR = "198.18.100.1";
    /** Port the lab's traffic servers listen on by convention. */
    public static final int TRAFFIC_PORT = 5001;
    /**
     * The nice value of the lab's processes that stand for other machines — the emulated links, and in the benchmark
     * the load client and server — so that they run ahead of the nice-0 systems under test on a shared machine: a
     * real line is never late, and a real client never slow to read, because the gateway's CPU is busy.
     */
    public static final int OTHER_MACHINES_NICENESS = -10;

    /** The four namespaces. */
    public enum Host {
        CLIENT, CPE, CONC, SERVER;

        String suffix() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** Direction on a link: UP travels from side A (the cpe, for uplinks) to side B, DOWN the other way. */
    public enum Direction { UP, DOWN }

    /** How uplinks get their delay, loss and rate. */
    public enum Emulation {
        /** netem if this kernel has it, else the TUN emulator. */
        AUTO,
        /** veth pairs with a netem qdisc on each end. */
        NETEM,
        /** TUN device pairs joined by a user-space {@link net.hybridproxy.loadtest.lab.emu.LinkEmulator}. */
        TUN,
        /**
         * Plain veth pairs with no delay, loss or rate at all: for CPU-ceiling runs, where any emulator would be
         * the bottleneck. Every uplink impairment must then be {@link Impairment#NONE}.
         */
        NONE
    }

    /** A link; side A is the end nearer the CPE, whose counters {@link #counters} reads. */
    public enum Link {
        LAN("lan", Host.CPE, CPE_LAN_ADDR, Host.CLIENT, CLIENT_ADDR, 0),
        DSL("dsl", Host.CPE, CPE_DSL_ADDR, Host.CONC, CONC_DSL_ADDR, 200),
        LTE("lte", Host.CPE, CPE_LTE_ADDR, Host.CONC, CONC_LTE_ADDR, 100),
        SRV("srv", Host.CONC, CONC_SRV_ADDR, Host.SERVER, SERVER_ADDR, 0);

        private final String ifname;
        private final Host sideA;
        private final String addrA;
        private final Host sideB;
        private final String addrB;
        private final double defaultMbit;

        Link(String ifname, Host sideA, String addrA, Host sideB, String addrB, double defaultMbit) {
            this.ifname = ifname;
            this.sideA = sideA;
            this.addrA = addrA;
            this.sideB = sideB;
            this.addrB = addrB;
            this.defaultMbit = defaultMbit;
        }

        /** Interface name, the same in both namespaces. */
        public String ifname() {
            return ifname;
        }

        public String addressA() {
            return addrA;
        }

        public String addressB() {
            return addrB;
        }

        /** dsl and lte: the emulated access links. lan and srv are plain veth pairs. */
        public boolean isUplink() {
            return this == DSL || this == LTE;
        }
    }

    /** Builder; every link not configured keeps its default shaping. */
    public static final class Builder {
        private final Map<Link, Shaping> shaping = new EnumMap<>(Link.class);
        private final Map<Link, Impairment[]> impairments = new EnumMap<>(Link.class);
        private Path logDir;
        private boolean uplinkPolicyRouting = true;
        private final Map<Link, String> concentratorCongestionControl =
                new EnumMap<>(Map.of(Link.DSL, RECOMMENDED_DSL_CONGESTION_CONTROL));
        private Emulation emulation = Emulation.AUTO;
        private int uplinkMtu = 1500;
        private long seed = 1;

        private Builder() {
            for (Link l : Link.values()) {
                shaping.put(l, new Shaping(l.defaultMbit, 0, 0));
                if (l.isUplink()) {
                    Impairment i = Impairment.NONE.withRateMbit(l.defaultMbit);
                    impairments.put(l, new Impairment[] {i, i});
                }
            }
        }

        /** How uplinks are emulated; default {@link Emulation#AUTO}. */
        public Builder emulation(Emulation how) {
            this.emulation = how;
            return this;
        }

        /** MTU of both uplinks (default 1500, as on most access lines). */
        public Builder uplinkMtu(int mtu) {
            this.uplinkMtu = mtu;
            return this;
        }

        /** Seed of the emulators' loss and jitter, so a run can be repeated. */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** Everything one direction of an uplink does to packets. */
        public Builder impairment(Link link, Direction direction, Impairment impairment) {
            requireUplink(link);
            impairments.get(link)[direction.ordinal()] = impairment;
            return this;
        }

        /** The same impairment in both directions of an uplink. */
        public Builder impairment(Link link, Impairment both) {
            return impairment(link, Direction.UP, both).impairment(link, Direction.DOWN, both);
        }

        /** One-way delay of an uplink, each direction. */
        public Builder delay(Link link, Duration oneWay) {
            return modify(link, i -> i.withDelay(oneWay));
        }

        /** Round-trip time of an uplink, split evenly between the directions. */
        public Builder rtt(Link link, Duration rtt) {
            return delay(link, rtt.dividedBy(2));
        }

        /** Jitter (±, uniform, order-preserving) of an uplink, each direction. */
        public Builder jitter(Link link, Duration jitter) {
            return modify(link, i -> i.withJitter(jitter));
        }

        /** Random loss of an uplink as a fraction (0.005 = 0.5 %), each direction. */
        public Builder loss(Link link, double fraction) {
            return modify(link, i -> i.withLoss(fraction));
        }

        private Builder modify(Link link, java.util.function.UnaryOperator<Impairment> change) {
            requireUplink(link);
            Impairment[] both = impairments.get(link);
            both[0] = change.apply(both[0]);
            both[1] = change.apply(both[1]);
            return this;
        }

        /**
         * Whether the lab itself installs the cpe's per-uplink source routing (tables 10 and 20). Off when
         * the appliance under test is expected to install its own, so the test proves that it does.
         */
        public Builder uplinkPolicyRouting(boolean install) {
            this.uplinkPolicyRouting = install;
            return this;
        }

        /**
         * The congestion control of the concentrator's route to the cpe's address on an uplink ({@code congctl
         * lock}), which every TCP connection and MPTCP subflow the concentrator sends over that uplink takes; null
         * leaves the link on the namespace's default. By default DSL is on {@value #RECOMMENDED_DSL_CONGESTION_CONTROL}
         * and LTE on the default, as docs/operations.md recommends for a concentrator whose host runs BBR.
         */
        public Builder concentratorCongestionControl(Link link, String algorithm) {
            requireUplink(link);
            if (algorithm == null || algorithm.isBlank()) {
                concentratorCongestionControl.remove(link);
            } else {
                concentratorCongestionControl.put(link, algorithm.strip());
            }
            return this;
        }

        /** Rate of a link in Mbit/s in each direction; 0 means unshaped. */
        public Builder rate(Link link, double mbit) {
            Shaping s = shaping.get(link);
            shaping.put(link, new Shaping(mbit, s.burstBytes(), s.limitBytes()));
            return link.isUplink() ? modify(link, i -> i.withRateMbit(mbit)) : this;
        }

        /** Token bucket size in bytes (0 = derived from the rate); lan and srv only, uplinks have no bucket. */
        public Builder burst(Link link, int bytes) {
            Shaping s = shaping.get(link);
            shaping.put(link, new Shaping(s.rateMbit(), bytes, s.limitBytes()));
            return this;
        }

        public Builder unshaped(Link link) {
            return rate(link, 0);
        }

        /** Where process logs go; default {@code target/lab-logs/<prefix>}. */
        public Builder logDir(Path dir) {
            this.logDir = dir;
            return this;
        }

        /** Creates the namespaces and links; on any failure removes what was created and throws. */
        public HybridAccessLab build() {
            HybridAccessLab lab = new HybridAccessLab(this);
            try {
                lab.setUp();
                return lab;
            } catch (RuntimeException | Error e) {
                try {
                    lab.close();
                } catch (RuntimeException cleanup) {
                    e.addSuppressed(cleanup);
                }
                throw e;
            }
        }
    }

    /**
     * Shaping of one link: rate in Mbit/s (0 = unshaped), tbf burst and limit in bytes
     * (0 = derived from the rate).
     */
    public record Shaping(double rateMbit, int burstBytes, int limitBytes) {
        boolean shaped() {
            return rateMbit > 0;
        }

        /**
         * At least 4 ms of line rate: the bucket must refill across timer granularity or the
         * rate undershoots; at least 16 KiB so one segmented GSO burst passes at low rates.
         */
        int effectiveBurst() {
            return burstBytes > 0 ? burstBytes : (int) Math.max(16 * 1024, bytesPerSecond() * 0.004);
        }

        /** About 50 ms of queueing at line rate: a plausible access-link buffer, not bufferbloat. */
        int effectiveLimit() {
            return limitBytes > 0 ? limitBytes : (int) Math.max(64 * 1024, effectiveBurst() + bytesPerSecond() * 0.05);
        }

        private double bytesPerSecond() {
            return rateMbit * 1_000_000 / 8;
        }
    }

    private record RouteCommand(Host role, Link link, List<String> args) {
    }

    private static final Pattern LAB_NS = Pattern.compile("^hpx(\\d+)-.*");
    private static final AtomicInteger SEQ = new AtomicInteger();

    private final String prefix;
    private final Path logDir;
    private final Map<Link, Shaping> shaping;
    private final Map<Host, Netns> namespaces = new EnumMap<>(Host.class);
    private final Set<Link> blackholed = EnumSet.noneOf(Link.class);
    private final List<RouteCommand> routes = new ArrayList<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Thread shutdownHook;

    private final boolean uplinkPolicyRouting;
    private final Map<Link, String> concentratorCongestionControl;
    private final Emulation requestedEmulation;
    private final int uplinkMtu;
    private final long seed;
    private final Map<Link, Impairment[]> impairments = new EnumMap<>(Link.class);
    private final Map<Link, EmulatedLink> emulators = new EnumMap<>(Link.class);
    private final Set<Link> stripped = EnumSet.noneOf(Link.class);
    private Emulation emulation;
    private Netns emulatorNs;

    private HybridAccessLab(Builder b) {
        this.prefix = "hpx" + ProcessHandle.current().pid() + "-" + SEQ.incrementAndGet() + "-";
        this.logDir = b.logDir != null ? b.logDir : defaultLogRoot().resolve(prefix.substring(0, prefix.length() - 1));
        this.shaping = new EnumMap<>(b.shaping);
        this.uplinkPolicyRouting = b.uplinkPolicyRouting;
        this.concentratorCongestionControl = Map.copyOf(b.concentratorCongestionControl);
        this.requestedEmulation = b.emulation;
        this.uplinkMtu = b.uplinkMtu;
        this.seed = b.seed;
        b.impairments.forEach((link, both) -> impairments.put(link, both.clone()));
        // Registered before anything exists so even a half-built lab is removed if the JVM exits.
        this.shutdownHook = new Thread(this::closeQuietly, "lab-cleanup-" + prefix);
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /**
     * Null when the lab can be built here, else a one-line reason for a test to skip with: it needs root (network
     * namespaces), ip, nft and tc on the PATH, and /dev/net/tun for the link emulator (the uplinks are TUN devices
     * unless the kernel has netem). CI runs as root with all of them.
     */
    public static String skipReason() {
        if (!"root".equals(System.getProperty("user.name"))) {
            return "needs root for network namespaces (runs in CI as root)";
        }
        for (String program : List.of("ip", "nft", "tc")) {
            if (!onPath(program)) {
                return "needs " + program + " (Debian packages iproute2 and nftables)";
            }
        }
        if (!Files.exists(Path.of("/dev/net/tun"))) {
            return "needs /dev/net/tun for the lab's link emulator";
        }
        return null;
    }

    private static boolean onPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .split(java.io.File.pathSeparator)) {
            if (Files.isExecutable(Path.of(dir, program))) {
                return true;
            }
        }
        return false;
    }

    /** The congestion control of the concentrator's route per uplink, as built (absent: the default). */
    public Map<Link, String> concentratorCongestionControl() {
        return concentratorCongestionControl;
    }

    public static Builder builder() {
        return new Builder();
    }

    private void setUp() {
        removeStaleNamespaces();
        for (Host r : Host.values()) {
            namespaces.put(r, Netns.create(prefix + r.suffix(), logDir));
        }
        for (Netns ns : namespaces.values()) {
            ns.ip("link", "set", "lo", "up");
            // Loose reverse-path filtering everywhere, set on "default" before the veths exist so
            // they inherit it. Strict mode would drop legitimate multipath traffic: the cpe's
            // route to the service address points at dsl, so a packet from the service address
            // arriving on lte (an LTE subflow's return traffic) fails a strict check unless the
            // per-source rules happen to match; likewise the concentrator would drop an LTE
            // subflow the cpe sent out of dsl. Loose still rejects unroutable sources.
            ns.sysctl("net.ipv4.conf.all.rp_filter", "2");
            ns.sysctl("net.ipv4.conf.default.rp_filter", "2");
            // What `hybridproxy check` recommends, so every scenario and e2e test runs as users do: TCP Fast Open
            // as client and server. The appliance itself keeps it off MPTCP sockets on kernels whose MPTCP fast
            // open collapses (docs/decisions.md); this makes sure nothing else in the lab hides that.
            ns.sysctl("net.ipv4.tcp_fastopen", "3");
        }
        cpe().sysctl("net.ipv4.ip_forward", "1");
        conc().sysctl("net.ipv4.ip_forward", "1");

        emulation = requestedEmulation == Emulation.AUTO
                ? (netemAvailable(client()) ? Emulation.NETEM : Emulation.TUN) : requestedEmulation;
        if (emulation == Emulation.NONE) {
            for (Impairment[] both : impairments.values()) {
                if (!both[0].equals(Impairment.NONE) || !both[1].equals(Impairment.NONE)) {
                    throw new IllegalArgumentException("emulation NONE needs unimpaired uplinks (rate 0, no delay)");
                }
            }
        }
        if (emulation == Emulation.TUN) {
            emulatorNs = Netns.create(prefix + "emu", logDir);
        }
        if (emulation == Emulation.TUN) {
            for (Link l : List.of(Link.DSL, Link.LTE)) {
                Impairment[] both = impairments.get(l);
                emulators.put(l, EmulatedLink.launch(emulatorNs, l.ifname, uplinkMtu, both[0], both[1],
                        seed + l.ordinal()));
            }
        }
        for (Link l : Link.values()) {
            Netns a = ns(l.sideA);
            Netns b = ns(l.sideB);
            if (emulators.containsKey(l)) {
                emulators.get(l).awaitAndPlace(emulatorNs, a, l.addrA, b, l.addrB, uplinkMtu);
                continue;
            }
            // Created inside side A with the peer placed straight into side B, so the pair
            // never appears in the root namespace.
            a.ip("link", "add", l.ifname, "type", "veth", "peer", "name", l.ifname, "netns", b.name());
            a.ip("addr", "add", l.addrA + "/24", "dev", l.ifname);
            b.ip("addr", "add", l.addrB + "/24", "dev", l.ifname);
            if (l.isUplink()) {
                a.ip("link", "set", l.ifname, "mtu", String.valueOf(uplinkMtu));
                b.ip("link", "set", l.ifname, "mtu", String.valueOf(uplinkMtu));
            }
            a.ip("link", "set", l.ifname, "up");
            b.ip("link", "set", l.ifname, "up");
        }
        conc().ip("addr", "add", SERVICE_ADDR + "/32", "dev", "lo");

        routes.add(new RouteCommand(Host.CLIENT, Link.LAN, List.of("default", "via", CPE_LAN_ADDR, "dev", "lan")));
        routes.add(new RouteCommand(Host.SERVER, Link.SRV, List.of("default", "via", CONC_SRV_ADDR, "dev", "srv")));
        routes.add(new RouteCommand(Host.CPE, Link.DSL, List.of("default", "via", CONC_DSL_ADDR, "dev", "dsl")));
        if (uplinkPolicyRouting) {
            routes.add(new RouteCommand(Host.CPE, Link.DSL, List.of("default", "via", CONC_DSL_ADDR, "dev", "dsl", "table", "10")));
            routes.add(new RouteCommand(Host.CPE, Link.LTE, List.of("default", "via", CONC_LTE_ADDR, "dev", "lte", "table", "20")));
        }
        routes.add(new RouteCommand(Host.CONC, Link.DSL, List.of(CLIENT_SUBNET, "via", CPE_DSL_ADDR, "dev", "dsl")));
        for (Link l : List.of(Link.DSL, Link.LTE)) {
            String algorithm = concentratorCongestionControl.get(l);
            if (algorithm != null) {
                // The uplink's connected route, replaced by itself plus the algorithm; linkUp re-applies it after
                // the kernel re-creates the connected route. Locked, because MPTCP gives a joining subflow the
                // connection's algorithm over an unlocked route's (net/mptcp/sockopt.c, sync_socket_options).
                String subnet = l.addrB.substring(0, l.addrB.lastIndexOf('.')) + ".0/24";
                routes.add(new RouteCommand(Host.CONC, l, List.of(subnet, "dev", l.ifname, "proto", "kernel",
                        "scope", "link", "src", l.addrB, "congctl", "lock", algorithm)));
            }
        }
        for (RouteCommand r : routes) {
            applyRoute(r);
        }
        if (uplinkPolicyRouting) {
            cpe().ip("rule", "add", "from", CPE_DSL_ADDR, "lookup", "10", "priority", "1000");
            cpe().ip("rule", "add", "from", CPE_LTE_ADDR, "lookup", "20", "priority", "1001");
        }

        for (Link l : Link.values()) {
            if (l.isUplink()) {
                if (emulation == Emulation.NETEM) {
                    applyNetem(l, Direction.UP);
                    applyNetem(l, Direction.DOWN);
                }
            } else {
                applyShaping(l);
            }
        }
    }

    /** Whether this kernel offers netem, tried on a namespace's loopback (which is then left as it was). */
    private static boolean netemAvailable(Netns ns) {
        boolean ok = ns.tryExec(Netns.DEFAULT_TIMEOUT, "tc", "qdisc", "add", "dev", "lo", "root", "netem",
                "delay", "1ms").ok();
        if (ok) {
            ns.exec("tc", "qdisc", "del", "dev", "lo", "root");
        }
        return ok;
    }

    // ---------------------------------------------------------------- accessors

    public Netns client() {
        return ns(Host.CLIENT);
    }

    public Netns cpe() {
        return ns(Host.CPE);
    }

    public Netns conc() {
        return ns(Host.CONC);
    }

    public Netns server() {
        return ns(Host.SERVER);
    }

    public Netns ns(Host role) {
        Netns ns = namespaces.get(role);
        if (ns == null) {
            throw new LabException("namespace " + role + " does not exist");
        }
        return ns;
    }

    /** Per-run namespace name prefix, e.g. {@code hpx4242-1-}. */
    public String prefix() {
        return prefix;
    }

    public Path logDir() {
        return logDir;
    }

    /** How the uplinks are emulated in this lab. */
    public Emulation emulation() {
        return emulation;
    }

    /** The current impairment of one direction of an uplink. */
    public synchronized Impairment impairment(Link link, Direction direction) {
        requireUplink(link);
        return impairments.get(link)[direction.ordinal()];
    }

    /**
     * The TUN emulator's counters for an uplink (admitted, written, drops by cause) and its own added lateness
     * percentiles in µs since the previous call, per direction; empty with netem.
     */
    public Optional<EmulatorStats> emulatorStats(Link link) {
        EmulatedLink e = emulators.get(link);
        return e == null ? Optional.empty() : Optional.of(e.stats());
    }

    /** The process id of an uplink's TUN emulator (to account its CPU); empty with netem or no emulation. */
    public OptionalLong emulatorPid(Link link) {
        EmulatedLink e = emulators.get(link);
        return e == null ? OptionalLong.empty() : OptionalLong.of(e.process().pid());
    }

    /** Counters of the side-A end of a link (cpe for lan, dsl and lte; conc for srv). */
    public InterfaceCounters counters(Link link) {
        return ns(link.sideA).readInterfaceCounters(link.ifname);
    }

    // ---------------------------------------------------------------- runtime changes

    /** Changes a link's rate in both directions; 0 removes shaping. Burst/limit are re-derived unless set explicitly. */
    public synchronized void setRate(Link link, double mbit) {
        Shaping s = shaping.get(link);
        shaping.put(link, new Shaping(mbit, s.burstBytes(), s.limitBytes()));
        if (link.isUplink()) {
            for (Direction d : Direction.values()) {
                setImpairment(link, d, impairment(link, d).withRateMbit(mbit));
            }
        } else {
            applyShaping(link);
        }
    }

    /**
     * Changes what one direction of an uplink does from the next packet on: loss changes, rate changes and RTT
     * spikes are all this call with a modified {@link Impairment}.
     */
    private synchronized void setImpairment(Link link, Direction direction, Impairment impairment) {
        requireUplink(link);
        impairments.get(link)[direction.ordinal()] = impairment;
        EmulatedLink e = emulators.get(link);
        if (e != null) {
            e.configure(direction, impairment);
        } else if (emulation == Emulation.NETEM) {
            applyNetem(link, direction);
        } else {
            throw new IllegalStateException("uplinks of a lab without emulation cannot be impaired");
        }
    }

    /**
     * A middlebox on one uplink that blanks the MPTCP option (kind 30) in both directions, as some carrier
     * equipment does: nftables in the cpe namespace rewrites the option to NOPs on packets leaving and arriving
     * on the link. MPTCP then falls back to plain TCP on connections that start on this path, and joins over it
     * fail.
     */
    public synchronized void stripMptcpOption(Link link, boolean on) {
        if (on == stripped.contains(link)) {
            return;
        }
        String table = "hpxstrip_" + link.ifname;
        Netns ns = ns(link.sideA);
        if (on) {
            ns.exec("nft", "add table inet " + table + "; "
                    + "add chain inet " + table + " out { type filter hook postrouting priority -300; }; "
                    + "add chain inet " + table + " in { type filter hook prerouting priority -300; }; "
                    + "add rule inet " + table + " out oifname \"" + link.ifname + "\" tcp option mptcp exists"
                    + " reset tcp option mptcp; "
                    + "add rule inet " + table + " in iifname \"" + link.ifname + "\" tcp option mptcp exists"
                    + " reset tcp option mptcp");
            stripped.add(link);
        } else {
            ns.exec("nft", "delete table inet " + table);
            stripped.remove(link);
        }
    }

    /** Takes both ends of a link administratively down (the peers see carrier loss). */
    public synchronized void linkDown(Link link) {
        ns(link.sideA).ip("link", "set", link.ifname, "down");
        ns(link.sideB).ip("link", "set", link.ifname, "down");
    }

    /**
     * Brings both ends back up and restores the link's gateway routes, which the kernel deleted
     * when the device went down (addresses and connected routes come back by themselves).
     */
    public synchronized void linkUp(Link link) {
        ns(link.sideA).ip("link", "set", link.ifname, "up");
        ns(link.sideB).ip("link", "set", link.ifname, "up");
        for (RouteCommand r : routes) {
            if (r.link == link) {
                applyRoute(r);
            }
        }
    }

    /**
     * Drops every frame arriving on either end of the link while the link stays up, so
     * endpoints see silence rather than an interface event, as on a broken path. An emulated uplink
     * drops in its emulator; a veth link uses a netdev ingress hook, which runs before IP and so also
     * swallows ARP.
     */
    public synchronized void blackhole(Link link, boolean on) {
        if (on == blackholed.contains(link)) {
            return;
        }
        EmulatedLink emulated = emulators.get(link);
        if (emulated != null) {
            emulated.blackhole(on);
            if (on) {
                blackholed.add(link);
            } else {
                blackholed.remove(link);
            }
            return;
        }
        String table = "hpxbh_" + link.ifname;
        for (Host side : List.of(link.sideA, link.sideB)) {
            if (on) {
                ns(side).exec("nft", "add table netdev " + table + " { chain ingress_drop { type filter hook ingress"
                        + " device \"" + link.ifname + "\" priority -500; policy drop; }; }");
            } else {
                ns(side).exec("nft", "delete table netdev " + table);
            }
        }
        if (on) {
            blackholed.add(link);
        } else {
            blackholed.remove(link);
        }
    }

    // ---------------------------------------------------------------- traffic helpers

    /** The command line running the load generator's {@link LoadClient} with {@code args} in a child JVM. */
    public static String[] loadClientCommand(String... args) {
        return JavaLauncher.command(JavaLauncher.DEFAULT_JVM_ARGS, LoadClient.class.getName(), args)
                .toArray(String[]::new);
    }

    /** The command line running the load generator's {@link LoadServer} with {@code args} in a child JVM. */
    public static String[] loadServerCommand(String... args) {
        return JavaLauncher.command(JavaLauncher.DEFAULT_JVM_ARGS, LoadServer.class.getName(), args)
                .toArray(String[]::new);
    }

    /** Starts a {@link LoadServer} in {@code ns} on 0.0.0.0:{@code port} and waits until it listens. */
    public LabProcess startTrafficServer(Netns ns, int port) {
        LabProcess p = ns.startLogged("load-server-" + port, loadServerCommand("--listen", "0.0.0.0:" + port));
        p.awaitStdoutLine(l -> l.startsWith("LISTENING "), Duration.ofSeconds(30));
        return p;
    }

    /**
     * Runs one load client bulk transfer in {@code ns} and returns its parsed result, whatever the exit code; throws
     * only if the client produced no result line. {@code clientArgs} are the {@code bulk} subcommand's options
     * ({@code --connect HOST:PORT (--up N | --down N) [--bind ADDR] [--seed S] [--expect-refused] ...}).
     */
    public TrafficResult runTrafficClient(Netns ns, Duration timeout, String... clientArgs) {
        String[] args = new String[clientArgs.length + 1];
        args[0] = "bulk";
        System.arraycopy(clientArgs, 0, args, 1, clientArgs.length);
        ExecResult r = ns.tryExec(timeout, loadClientCommand(args));
        try {
            String line = r.stdout().lines().filter(l -> l.startsWith("{")).reduce((a, b) -> b).orElseThrow();
            return new TrafficResult(ToolJson.read(BulkResult.class, line), r.exitCode(), line);
        } catch (RuntimeException e) {
            throw new LabException("traffic client printed no result in " + ns.name() + ": " + r.describe());
        }
    }

    /**
     * The DSL path's round trip as TCP sees it in this lab, now: the median connect time of 20 plain TCP connections
     * from the cpe's namespace to {@code plainTcpTarget} on the load server (a {@link LoadServer} port), which the cpe
     * routes over DSL and the concentrator's namespace forwards: one round trip of the emulated DSL link, the server's
     * short link and both kernels, with no proxy. Measured next to a time-to-first-byte run, "× the DSL RTT" then
     * uses the link as the emulator delivers it under the machine's load at that moment. Empty if the probe failed.
     */
    public OptionalDouble dslRoundTripMs(String plainTcpTarget, List<String> jvmArgs) {
        TtfbResult probe = runLoadClient(cpe(), Duration.ofMinutes(2), List.of(),
                jvmArgs, LoadTarget.of(plainTcpTarget),
                TtfbOptions.of(20, 1, 1_000).withWarmup(5));
        return probe.ok() ? OptionalDouble.of(probe.connect().p50Ms()) : OptionalDouble.empty();
    }

    /**
     * Runs one load client {@code workload} against {@code target} in {@code ns}, in a JVM started with
     * {@code jvmArgs} behind the {@code wrapper} command (e.g. prlimit; may be empty), and returns its typed result;
     * throws if the client printed none.
     */
    public static <R> R runLoadClient(Netns ns, Duration timeout, List<String> wrapper, List<String> jvmArgs,
                                      LoadTarget target, Workload<R> workload) {
        List<String> cmd = new ArrayList<>(wrapper);
        cmd.addAll(JavaLauncher.command(jvmArgs, LoadClient.class.getName(),
                LoadClient.arguments(target, workload).toArray(String[]::new)));
        ExecResult r = ns.tryExec(timeout, cmd.toArray(String[]::new));
        try {
            return LoadClient.parseResult(r.stdout(), workload.resultType());
        } catch (IllegalArgumentException e) {
            throw new LabException("load client " + workload.command() + " printed no result in " + ns.name() + ": "
                    + r.describe());
        }
    }

    // ---------------------------------------------------------------- cleanup

    /**
     * Kills every process started in the lab's namespaces, then deletes the namespaces (their
     * veths go with them). Idempotent; also run by a JVM shutdown hook.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        LabException failure = null;
        List<Netns> all = new ArrayList<>(namespaces.values());
        if (emulatorNs != null) {
            all.add(emulatorNs);
        }
        // Kill everywhere first: a process in one namespace may be talking to another.
        for (Netns ns : all) {
            try {
                ns.killAll();
            } catch (RuntimeException e) {
                failure = accumulate(failure, e);
            }
        }
        for (Netns ns : all) {
            try {
                ns.delete();
            } catch (RuntimeException e) {
                failure = accumulate(failure, e);
            }
        }
        // A half-built lab may have created a namespace it never recorded; sweep by prefix.
        try {
            for (String n : Netns.list()) {
                if (n.startsWith(prefix)) {
                    Netns.killPidsOf(n);
                    Netns.deleteByName(n);
                }
            }
        } catch (RuntimeException e) {
            failure = accumulate(failure, e);
        }
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException | IllegalArgumentException ignored) {
            // Already shutting down (we may be running inside the hook itself).
        }
        if (failure != null) {
            throw failure;
        }
    }

    public boolean isClosed() {
        return closed.get();
    }

    /**
     * Deletes {@code hpx<pid>-*} namespaces whose pid is no longer a live process: leftovers of
     * a run that crashed before it could clean up. Returns their names. Namespaces of live
     * processes are never touched, so parallel runs are safe.
     */
    static List<String> removeStaleNamespaces() {
        List<String> removed = new ArrayList<>();
        for (String n : Netns.list()) {
            Matcher m = LAB_NS.matcher(n);
            if (!m.matches()) {
                continue;
            }
            long pid;
            try {
                pid = Long.parseLong(m.group(1));
            } catch (NumberFormatException e) {
                continue;
            }
            boolean alive = ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
            if (!alive) {
                Netns.killPidsOf(n);
                Netns.deleteByName(n);
                removed.add(n);
            }
        }
        return removed;
    }

    /** Names of namespaces that currently exist with the given prefix. */
    public static List<String> namespacesWithPrefix(String prefix) {
        return Netns.list().stream().filter(n -> n.startsWith(prefix)).toList();
    }

    private void closeQuietly() {
        try {
            close();
        } catch (RuntimeException e) {
            System.err.println("lab cleanup failed: " + e);
        }
    }

    private static LabException accumulate(LabException failure, RuntimeException e) {
        if (failure == null) {
            return new LabException("lab cleanup failed", e);
        }
        failure.addSuppressed(e);
        return failure;
    }

    private void applyRoute(RouteCommand r) {
        List<String> args = new ArrayList<>(List.of("route", "replace"));
        args.addAll(r.args);
        ns(r.role).ip(args.toArray(String[]::new));
    }

    private static void requireUplink(Link link) {
        if (!link.isUplink()) {
            throw new IllegalArgumentException(link + " is not an emulated uplink");
        }
    }

    /**
     * netem on the egress of the sending end: UP on side A, DOWN on side B. netem's limit counts packets, so the
     * byte limit is converted at the uplink MTU.
     */
    private void applyNetem(Link l, Direction d) {
        Impairment i = impairments.get(l)[d.ordinal()];
        Netns ns = ns(d == Direction.UP ? l.sideA : l.sideB);
        List<String> cmd = new ArrayList<>(List.of("tc", "qdisc", "replace", "dev", l.ifname, "root", "netem",
                "delay", i.delayMicros() + "us"));
        if (i.jitterMicros() > 0) {
            cmd.addAll(List.of(i.jitterMicros() + "us", "distribution", "uniform"));
        }
        if (i.lossPpm() > 0) {
            cmd.addAll(List.of("loss", String.format(Locale.ROOT, "%.4f%%", i.lossPpm() / 10_000.0)));
        }
        if (i.rateLimited()) {
            cmd.addAll(List.of("rate", i.rateKbit() + "kbit"));
        }
        // Unlimited rate: room for whatever is in flight during the delay at multi-Gbit/s rates.
        long packets = !i.rateLimited() ? 100_000 : Math.max(16, i.effectiveQueueLimit() / uplinkMtu
                + (long) ((i.delayMicros() + i.jitterMicros()) * i.rateKbit() / 8_000.0 / uplinkMtu));
        cmd.addAll(List.of("limit", String.valueOf(packets)));
        ns.exec(cmd.toArray(String[]::new));
    }

    private void applyShaping(Link l) {
        Shaping s = shaping.get(l);
        for (Host side : List.of(l.sideA, l.sideB)) {
            Netns ns = ns(side);
            if (s.shaped()) {
                ns.exec("tc", "qdisc", "replace", "dev", l.ifname, "root", "tbf",
                        "rate", Math.round(s.rateMbit() * 1000) + "kbit",
                        "burst", String.valueOf(s.effectiveBurst()),
                        "limit", String.valueOf(s.effectiveLimit()));
            } else {
                // Fails harmlessly when there is no root qdisc to remove (never shaped).
                ns.tryExec(Netns.DEFAULT_TIMEOUT, "tc", "qdisc", "del", "dev", l.ifname, "root");
            }
        }
    }

    private static Path defaultLogRoot() {
        try {
            var src = HybridAccessLab.class.getProtectionDomain().getCodeSource();
            if (src != null) {
                Path p = Path.of(src.getLocation().toURI());
                String dir = p.getFileName() == null ? "" : p.getFileName().toString();
                if (dir.equals("classes") || dir.equals("test-classes")) {
                    return p.resolveSibling("lab-logs");
                }
            }
        } catch (URISyntaxException | SecurityException ignored) {
            // Fall through to the temp directory.
        }
        return Path.of(System.getProperty("java.io.tmpdir"), "lab-logs");
    }

    @Override
    public String toString() {
        return "HybridAccessLab[" + prefix + "*]";
    }
}
