package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.lab.ApplianceConfigs;
import net.hybridproxy.loadtest.lab.ApplianceLauncher;
import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.LabProcess;
import net.hybridproxy.loadtest.lab.Netns;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The systems compared, each set up in a lab the runner has already built, torn down afterwards so the next one
 * starts from the same lab. Every one is asked to carry the same load-generator traffic from the client to the
 * server namespace; only how it gets there differs.
 */
final class Systems {
    static final int PLAIN_PORT = 5201;
    static final int MPTCP_PORT = 5202;
    private static final int HAPROXY_CONC_PORT = 5203;
    private static final int SS_PORT = 8388;
    private static final int SS_REDIR_PORT = 1080;
    private static final int HYBRIDPROXY_CONC_PORT = 5100;
    /** A second client address whose packets the cpe routes over LTE: kernel MPTCP's second path. */
    private static final String CLIENT_LTE_ADDR = "198.18.2.2";
    private static final String CPE_LAN2_ADDR = "198.18.2.1";
    private static final String SERVER = HybridAccessLab.SERVER_ADDR;

    private Systems() {
    }

    /** A system the runner can start; {@link #unavailableReason()} is non-empty for one it must list but skip. */
    interface SystemUnderTest {
        String name();

        String title();

        default Optional<String> unavailableReason() {
            return Optional.empty();
        }

        Running start(HybridAccessLab lab, Path work) throws IOException;
    }

    /**
     * A started system: where the client connects, whether the client and server themselves speak MPTCP, the
     * proxy processes (for CPU and memory), and how to undo the setup.
     */
    record Running(String target, boolean endToEndMptcp, List<LabProcess> proxies, Runnable undo) {
        List<Long> proxyPids() {
            return proxies.stream().map(LabProcess::pid).toList();
        }

        void stop() {
            for (LabProcess p : proxies) {
                p.stop(Duration.ofSeconds(2));
            }
            undo.run();
        }
    }

    /** The load server's plain TCP port, reached by routing alone (the direct system's target). */
    static String directTarget() {
        return SERVER + ":" + PLAIN_PORT;
    }

    static final SystemUnderTest DIRECT = new SystemUnderTest() {
        public String name() {
            return "direct";
        }

        public String title() {
            return "direct routed TCP (no proxy)";
        }

        public Running start(HybridAccessLab lab, Path work) {
            return new Running(directTarget(), false, List.of(), () -> { });
        }
    };

    static final SystemUnderTest KERNEL_MPTCP = new SystemUnderTest() {
        public String name() {
            return "mptcp-e2e";
        }

        public String title() {
            return "kernel MPTCP end to end";
        }

        public Running start(HybridAccessLab lab, Path work) {
            lab.client().ip("addr", "add", CLIENT_LTE_ADDR + "/24", "dev", "lan");
            lab.cpe().ip("addr", "add", CPE_LAN2_ADDR + "/24", "dev", "lan");
            lab.cpe().ip("rule", "add", "from", "198.18.2.0/24", "lookup", "20", "priority", "1002");
            lab.conc().ip("route", "replace", "198.18.2.0/24", "via", HybridAccessLab.CPE_LTE_ADDR, "dev", "lte");
            lab.client().ip("mptcp", "limits", "set", "subflow", "2", "add_addr_accepted", "2");
            lab.client().ip("mptcp", "endpoint", "add", CLIENT_LTE_ADDR, "dev", "lan", "subflow");
            lab.server().ip("mptcp", "limits", "set", "subflow", "2", "add_addr_accepted", "2");
            return new Running(SERVER + ":" + MPTCP_PORT, true, List.of(), () -> {
                lab.client().ip("mptcp", "endpoint", "flush");
                lab.client().ip("addr", "del", CLIENT_LTE_ADDR + "/24", "dev", "lan");
                lab.cpe().ip("addr", "del", CPE_LAN2_ADDR + "/24", "dev", "lan");
                lab.cpe().ip("rule", "del", "from", "198.18.2.0/24", "lookup", "20", "priority", "1002");
                lab.conc().ip("route", "del", "198.18.2.0/24");
            });
        }
    };

    /** The cpe announces its LTE address as a subflow endpoint; both ends accept a second subflow. */
    private static Runnable cpeSubflowOverLte(HybridAccessLab lab) {
        // A system before this one that failed to start (e.g. an appliance killed before it removed the endpoints
        // it installed) must not make this one fail with "duplicate" endpoint errors.
        lab.cpe().ip("mptcp", "endpoint", "flush");
        lab.cpe().ip("mptcp", "limits", "set", "subflow", "2", "add_addr_accepted", "2");
        lab.cpe().ip("mptcp", "endpoint", "add", HybridAccessLab.CPE_LTE_ADDR, "dev", "lte", "subflow");
        lab.conc().ip("mptcp", "limits", "set", "subflow", "2", "add_addr_accepted", "2");
        return () -> lab.cpe().ip("mptcp", "endpoint", "flush");
    }

    private static String[] mptcpize(String... cmd) {
        List<String> full = new ArrayList<>(List.of("prlimit", Machine.nofileOption(), "--", "mptcpize", "run"));
        full.addAll(List.of(cmd));
        return full.toArray(String[]::new);
    }

    static final SystemUnderTest SHADOWSOCKS = new SystemUnderTest() {
        public String name() {
            return "shadowsocks";
        }

        public String title() {
            return "shadowsocks-libev ss-redir/ss-server under mptcpize";
        }

        public Optional<String> unavailableReason() {
            return missing("ss-server", "ss-redir", "mptcpize");
        }

        public Running start(HybridAccessLab lab, Path work) {
            Runnable endpoints = cpeSubflowOverLte(lab);
            // aes-256-gcm: an AEAD cipher with hardware support here; the cheapest choice a user would make.
            LabProcess server = lab.conc().startLogged("ss-server", mptcpize("ss-server", "-s",
                    HybridAccessLab.SERVICE_ADDR, "-p", String.valueOf(SS_PORT), "-k", "benchmark", "-m",
                    "aes-256-gcm", "--no-delay", "-v"));
            LabProcess redir = lab.cpe().startLogged("ss-redir", mptcpize("ss-redir", "-s",
                    HybridAccessLab.SERVICE_ADDR, "-p", String.valueOf(SS_PORT), "-b", "0.0.0.0", "-l",
                    String.valueOf(SS_REDIR_PORT), "-k", "benchmark", "-m", "aes-256-gcm", "--no-delay", "-v"));
            lab.cpe().exec("nft", "add table ip hpxbench_ss; "
                    + "add chain ip hpxbench_ss pre { type nat hook prerouting priority dstnat; }; "
                    + "add rule ip hpxbench_ss pre iifname \"lan\" tcp dport " + PLAIN_PORT + " redirect to :"
                    + SS_REDIR_PORT);
            awaitListening(lab.conc(), SS_PORT, server);
            awaitListening(lab.cpe(), SS_REDIR_PORT, redir);
            return new Running(SERVER + ":" + PLAIN_PORT, false, List.of(redir, server), () -> {
                lab.cpe().exec("nft", "delete table ip hpxbench_ss");
                endpoints.run();
            });
        }
    };

    static final SystemUnderTest HAPROXY = new SystemUnderTest() {
        public String name() {
            return "haproxy";
        }

        public String title() {
            return "HAProxy relay pair under mptcpize (explicit, not transparent)";
        }

        public Optional<String> unavailableReason() {
            return missing("haproxy", "mptcpize");
        }

        public Running start(HybridAccessLab lab, Path work) throws IOException {
            Runnable endpoints = cpeSubflowOverLte(lab);
            Path cpeConf = Files.writeString(work.resolve("haproxy-cpe.cfg"), haproxyConfig(
                    HybridAccessLab.CPE_LAN_ADDR + ":" + PLAIN_PORT, HybridAccessLab.SERVICE_ADDR + ":" + HAPROXY_CONC_PORT));
            Path concConf = Files.writeString(work.resolve("haproxy-conc.cfg"), haproxyConfig(
                    HybridAccessLab.SERVICE_ADDR + ":" + HAPROXY_CONC_PORT, SERVER + ":" + PLAIN_PORT));
            LabProcess conc = lab.conc().startLogged("haproxy", mptcpize("haproxy", "-db", "-f", concConf.toString()));
            LabProcess cpe = lab.cpe().startLogged("haproxy", mptcpize("haproxy", "-db", "-f", cpeConf.toString()));
            awaitListening(lab.conc(), HAPROXY_CONC_PORT, conc);
            awaitListening(lab.cpe(), PLAIN_PORT, cpe);
            return new Running(HybridAccessLab.CPE_LAN_ADDR + ":" + PLAIN_PORT, false, List.of(cpe, conc), endpoints);
        }
    };

    private static String haproxyConfig(String bind, String server) {
        // HAProxy refuses to start if maxconn needs more descriptors than it may open (two per relayed connection).
        long maxconn = Math.max(1000, (Machine.openFileHardLimit() - 200) / 2);
        return """
                global
                    maxconn %d
                defaults
                    mode tcp
                    timeout connect 5s
                    timeout client 120s
                    timeout server 120s
                frontend in
                    bind %s
                    default_backend out
                backend out
                    server next %s
                """.formatted(maxconn, bind, server);
    }

    static final SystemUnderTest HYBRIDPROXY = hybridproxy("kernel", "hybridproxy",
            "hybridproxy, kernel engine (transparent TPROXY capture)");

    static final SystemUnderTest HYBRIDPROXY_USERSPACE = hybridproxy("userspace", "hybridproxy-userspace",
            "hybridproxy, userspace engine (transparent TPROXY capture)");

    /**
     * Environment variable: HOCON appended to the benchmark's cpe configuration, for measuring a setting against the
     * default in the same lab, e.g. {@code hybridproxy.cpe.warm-pool.size = 0}.
     */
    static final String CPE_CONF_VARIABLE = "HYBRIDPROXY_LAB_CPE_CONF";

    /** Environment variable: the same for the concentrator's configuration. */
    static final String CONC_CONF_VARIABLE = "HYBRIDPROXY_LAB_CONC_CONF";

    /** This project with the given engine, started the way an operator runs it. */
    private static SystemUnderTest hybridproxy(String engine, String name, String title) {
        boolean kernel = engine.equals("kernel");
        return new SystemUnderTest() {
            public String name() {
                return name;
            }

            public String title() {
                return title;
            }

            public Running start(HybridAccessLab lab, Path work) throws IOException {
                // The benchmark's one cpe key stands for a whole site: the 10k-connection scenario asks one
                // subscriber (one source address) for more than the per-key and per-source quotas allow by default.
                Path concConf = Files.writeString(work.resolve("concentrator.conf"), ApplianceConfigs.concentrator(
                        engine, HybridAccessLab.SERVICE_ADDR + ":" + HYBRIDPROXY_CONC_PORT, "bench",
                        "max-connections-per-key = 10000\nmax-connections-per-source = 10000")
                        + System.getenv().getOrDefault(CONC_CONF_VARIABLE, ""));
                Path cpeConf = Files.writeString(work.resolve("cpe.conf"), ApplianceConfigs.cpe(engine,
                        HybridAccessLab.SERVICE_ADDR + ":" + HYBRIDPROXY_CONC_PORT, "bench", false,
                        List.of(PLAIN_PORT)) + System.getenv().getOrDefault(CPE_CONF_VARIABLE, ""));
                // Both JVMs start side by side; the cpe needs the concentrator only once traffic arrives.
                LabProcess conc = ApplianceLauncher.launch(lab.conc(), concConf);
                LabProcess cpe = ApplianceLauncher.launch(lab.cpe(), cpeConf);
                ApplianceLauncher.awaitReady(conc, "concentrator listening");
                ApplianceLauncher.awaitReady(cpe, "cpe listener lan");
                if (!kernel) {
                    // Measure warm sessions: every session's subflow over lte has joined.
                    cpe.awaitStdoutLine(line -> line.contains("over lte attached"), Duration.ofSeconds(20));
                }
                return new Running(SERVER + ":" + PLAIN_PORT, false, List.of(cpe, conc), () -> {
                    if (kernel) {
                        lab.cpe().ip("mptcp", "endpoint", "flush");
                    }
                });
            }
        };
    }

    static final List<SystemUnderTest> ALL = List.of(DIRECT, KERNEL_MPTCP, SHADOWSOCKS, HAPROXY, HYBRIDPROXY,
            HYBRIDPROXY_USERSPACE);

    static SystemUnderTest byName(String name) {
        return ALL.stream().filter(s -> s.name().equals(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("unknown system " + name + "; known: "
                        + ALL.stream().map(SystemUnderTest::name).toList()));
    }

    private static Optional<String> missing(String... programs) {
        for (String p : programs) {
            boolean found = false;
            for (String dir : System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
                if (Files.isExecutable(Path.of(dir, p))) {
                    found = true;
                    break;
                }
            }
            if (!found) {
                return Optional.of(p + " not installed (Debian packages: shadowsocks-libev, haproxy, mptcpize)");
            }
        }
        return Optional.empty();
    }

    /** Waits until something listens on {@code port} in {@code ns}; fails with the process's output otherwise. */
    static void awaitListening(Netns ns, int port, LabProcess process) {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (System.nanoTime() < deadline) {
            String listening = ns.exec("ss", "-Hltn", "sport = :" + port).stdout();
            if (!listening.isBlank()) {
                return;
            }
            if (!process.isAlive()) {
                break;
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        throw new IllegalStateException(process + " is not listening on port " + port + ":\n" + process.stdout()
                + process.stderr());
    }
}
