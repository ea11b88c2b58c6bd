package net.hybridproxy.proxy.cli;

import net.hybridproxy.proxy.capture.CaptureRules;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.ConfigLoader;
import net.hybridproxy.proxy.pm.KernelPathManager;
import net.hybridproxy.proxy.transport.MptcpSockets;
import net.hybridproxy.proxy.transport.MptcpUnavailableException;
import net.hybridproxy.proxy.transport.MptcpFastOpen;
import net.hybridproxy.proxy.transport.Transport;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * {@code hybridproxy check}: what this host offers the appliance, one line per item with OK / WARN / FAIL and, for
 * anything not OK, what to do. Exit code 1 when something would stop the kernel engine from running.
 */
final class Check {
    enum Status { OK, WARN, FAIL }

    record Item(String name, Status status, String detail) {
    }

    private Check() {
    }

    static int run(Optional<Path> configFile, PrintStream out) throws Exception {
        List<Item> items = inspectHost();
        out.println("hybridproxy check: host");
        for (Item item : items) {
            out.printf("  %-4s %-22s %s%n", item.status(), item.name(), item.detail());
        }
        boolean failed = items.stream().anyMatch(i -> i.status() == Status.FAIL);
        String engine = "the kernel engine";
        if (configFile.isPresent()) {
            AppConfig config = ConfigLoader.load(configFile.get());
            if (config.engine() == AppConfig.Engine.USERSPACE) {
                // Plain TCP subflows: nothing MPTCP-related can stop this engine.
                engine = "the userspace engine";
                failed = items.stream().anyMatch(i -> i.status() == Status.FAIL && !isMptcpOnly(i));
                out.println();
                out.println("engine = userspace: needs no kernel MPTCP (the MPTCP lines above do not apply). It needs"
                        + " plain TCP from every uplink's address to the concentrator's userspace listener, the cpe"
                        + " key on both ends, and, on a cpe, the per-uplink source routing below.");
            }
            out.println();
            out.println("hybridproxy check: " + configFile.get() + " is valid (role "
                    + config.role().name().toLowerCase() + ")");
            config.cpe().ifPresent(cpe -> out.print(describeConcentrators(cpe)));
            out.println();
            out.println("Host changes `run` will make:");
            out.print(indent(KernelPathManager.describe(config)));
            config.cpe().filter(AppConfig.Cpe::installCaptureRules).map(c -> new CaptureRules(config))
                    .filter(r -> !r.isEmpty()).ifPresent(r -> out.print(indent(r.describe())));
            config.cpe().filter(c -> !c.installCaptureRules()).map(c -> new CaptureRules(config))
                    .filter(r -> !r.isEmpty())
                    .ifPresent(r -> {
                        out.println("  capture rules are not installed by the appliance (cpe.install-capture-rules"
                                + " = false); the equivalent commands are:");
                        out.print(indent(r.describe()));
                    });
        }
        out.println();
        out.println(failed ? "Result: NOT READY for " + engine + " (fix the FAIL lines above)." : "Result: ready.");
        return failed ? 1 : 0;
    }

    /** Items that matter only to the kernel engine. */
    private static boolean isMptcpOnly(Item item) {
        return item.name().contains("mptcp") || item.name().contains("MPTCP") || item.name().startsWith("transport");
    }

    /**
     * Strict reverse-path filtering (1) drops a subflow's packets when they arrive on an uplink that is not the
     * route back to their source, which is exactly what a second uplink's subflows do on a multi-homed host without
     * matching policy routes. The kernel applies the maximum of "all" and the interface's own value.
     */
    static Item reversePathFilter(String value) {
        return switch (value) {
            case "0" -> new Item("rp_filter", Status.OK, "0 (off)");
            case "2" -> new Item("rp_filter", Status.OK, "2 (loose)");
            default -> new Item("rp_filter", Status.WARN, value + " (strict): subflows on a second uplink can be "
                    + "dropped; the appliance's policy routes avoid it on the cpe, otherwise run "
                    + "'sysctl -w net.ipv4.conf.all.rp_filter=2'");
        };
    }

    static List<Item> inspectHost() {
        List<Item> items = new ArrayList<>();
        String release = read("/proc/sys/kernel/osrelease").orElse("unknown");
        items.add(new Item("kernel", kernelAtLeast(release, 6, 2) ? Status.OK : Status.WARN, release
                + (kernelAtLeast(release, 6, 2) ? "" : " (MPTCP needs 5.6+; fast open and sockopts need 6.2+)")));

        Optional<String> enabled = read("/proc/sys/net/mptcp/enabled");
        items.add(enabled.map(v -> v.equals("1")
                        ? new Item("net.mptcp.enabled", Status.OK, "1")
                        : new Item("net.mptcp.enabled", Status.FAIL, v + ": run 'sysctl -w net.mptcp.enabled=1'"))
                .orElse(new Item("net.mptcp.enabled", Status.FAIL, "no /proc/sys/net/mptcp: kernel without MPTCP")));

        try {
            MptcpSockets.probe();
            items.add(new Item("MPTCP sockets", Status.OK, "socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP) works"));
        } catch (MptcpUnavailableException e) {
            items.add(new Item("MPTCP sockets", Status.FAIL, e.getMessage()));
        }

        items.add(read("/proc/sys/net/mptcp/path_manager")
                .map(pm -> new Item("path manager", pm.equals("kernel") ? Status.OK : Status.WARN,
                        pm + (pm.equals("kernel") ? " (endpoints managed over netlink)"
                                : ": the appliance programs the in-kernel PM; run "
                                + "'sysctl -w net.mptcp.path_manager=kernel'")))
                .orElse(new Item("path manager", Status.WARN, "unknown (older kernel: net.mptcp.pm_type)")));

        items.add(KernelPathManager.probeNetlink()
                .map(problem -> new Item("mptcp_pm netlink", Status.FAIL, problem))
                .orElse(new Item("mptcp_pm netlink", Status.OK, "family resolved; events group present")));

        items.add(read("/proc/sys/net/mptcp/available_schedulers")
                .map(s -> new Item("schedulers", Status.OK, s))
                .orElse(new Item("schedulers", Status.OK, "default (kernel has one scheduler)")));

        for (Transport t : List.of(Transport.IO_URING, Transport.EPOLL)) {
            items.add(t.unavailabilityCause()
                    .map(c -> new Item(t.label(), t == Transport.IO_URING ? Status.WARN : Status.FAIL,
                            "unavailable: " + c + (t == Transport.IO_URING
                                    ? " (only used when transport = io_uring; io_uring may be disabled by "
                                    + "kernel.io_uring_disabled)"
                                    : "")))
                    .orElse(new Item(t.label(), Status.OK, "available" + (t.canConnectMptcp() ? ""
                            : " (MPTCP listeners only: outbound MPTCP connections need epoll or io_uring)"))));
        }
        Transport chosen = Transport.select(AppConfig.TransportPreference.AUTO);
        items.add(new Item("transport (auto)", chosen.canCarryMptcp() ? Status.OK : Status.FAIL,
                chosen.label() + (chosen.canCarryMptcp() ? "" : ": NIO cannot carry MPTCP")));

        items.add(read("/proc/sys/net/ipv4/conf/all/rp_filter").map(Check::reversePathFilter)
                .orElse(new Item("rp_filter", Status.WARN, "unknown")));

        items.add(read("/proc/sys/net/ipv4/tcp_fastopen").map(Check::fastOpen)
                .orElse(new Item("tcp_fastopen", Status.WARN, "unknown")));
        items.add(mptcpFastOpen(MptcpFastOpen.runningRelease().orElse("unknown")));

        boolean netAdmin = hasCapability(12);
        items.add(new Item("CAP_NET_ADMIN", netAdmin ? Status.OK : Status.WARN, netAdmin ? "present"
                : "missing: endpoints, policy routes, TPROXY and capture rules need it (run as root or grant "
                + "CAP_NET_ADMIN); explicit listeners and the sidecar work without it"));

        for (String tool : List.of("ip", "nft")) {
            items.add(onPath(tool)
                    .map(p -> new Item(tool, Status.OK, p.toString()))
                    .orElse(new Item(tool, Status.WARN, "not found: install " + (tool.equals("ip") ? "iproute2"
                            : "nftables") + " (needed for " + (tool.equals("ip") ? "policy routing" : "capture rules")
                            + ")")));
        }
        return items;
    }

    static Item fastOpen(String value) {
        int v;
        try {
            v = Integer.parseInt(value);
        } catch (NumberFormatException e) {
            return new Item("tcp_fastopen", Status.WARN, value);
        }
        boolean client = (v & 1) != 0;
        boolean server = (v & 2) != 0;
        String detail = v + " (client " + (client ? "on" : "off") + ", server " + (server ? "on" : "off") + ")";
        if (client && server) {
            return new Item("tcp_fastopen", Status.OK, detail);
        }
        return new Item("tcp_fastopen", Status.WARN, detail + ": the Convert message rides in the SYN only with "
                + "both, on kernels whose MPTCP fast open works (see 'mptcp fast open'); run "
                + "'sysctl -w net.ipv4.tcp_fastopen=3' (connections still work without)");
    }

    /** Whether this kernel's MPTCP fast open path is usable; on affected kernels TFO is never set on MPTCP sockets. */
    static Item mptcpFastOpen(String release) {
        if (!MptcpFastOpen.atLeast(release, 6, 2)) {
            return new Item("mptcp fast open", Status.OK, "not in kernel " + release
                    + " (6.2+); the warm pool (cpe.warm-pool) gives the 0-RTT start");
        }
        if (MptcpFastOpen.brokenOn(release)) {
            return new Item("mptcp fast open", Status.WARN, "kernel " + release + " is affected by the MPTCP fast "
                    + "open collapse (a TFO-opened MPTCP download drops to about 1 Mb/s; docs/decisions.md), so "
                    + "hybridproxy never sets TCP Fast Open on MPTCP sockets here, whatever tcp_fastopen says; "
                    + "0-RTT comes from the warm pool (cpe.warm-pool). Other MPTCP software on this host should "
                    + "not use fast open either");
        }
        return new Item("mptcp fast open", Status.OK, "kernel " + release + ": used when cpe.fast-open is on");
    }

    static boolean kernelAtLeast(String release, int major, int minor) {
        return MptcpFastOpen.atLeast(release, major, minor);
    }

    static boolean hasCapability(int bit) {
        return read("/proc/self/status").flatMap(status -> status.lines()
                        .filter(l -> l.startsWith("CapEff:")).findFirst())
                .map(l -> (Long.parseUnsignedLong(l.substring(7).trim(), 16) & (1L << bit)) != 0)
                .orElse(false);
    }

    static Optional<Path> onPath(String tool) {
        for (String dir : (System.getenv().getOrDefault("PATH", "") + ":/usr/sbin:/sbin").split(":")) {
            Path candidate = Path.of(dir.isEmpty() ? "." : dir, tool);
            if (Files.isExecutable(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    static Optional<String> read(String file) {
        try {
            return Optional.of(Files.readString(Path.of(file)).trim());
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private static String indent(String text) {
        return text.lines().map(l -> "    " + l + "\n").reduce("", String::concat);
    }

    /** The cpe's concentrators in priority order, with the health check that chooses among them. */
    static String describeConcentrators(AppConfig.Cpe cpe) {
        StringBuilder text = new StringBuilder("\nConcentrators (priority order; new connections use the first one up):\n");
        for (int i = 0; i < cpe.concentrators().size(); i++) {
            AppConfig.UpstreamConcentrator c = cpe.concentrators().get(i);
            text.append("  ").append(i + 1).append(". ").append(c.name()).append("  ")
                    .append(net.hybridproxy.proxy.config.Endpoint.format(c.address()))
                    .append(i == 0 ? "  (primary)" : "  (backup)").append('\n');
        }
        AppConfig.HealthCheck h = cpe.healthCheck();
        if (cpe.concentrators().size() > 1) {
            text.append("  health check: a TCP connect every ").append(h.interval().toMillis()).append(" ms (timeout ")
                    .append(h.timeout().toMillis()).append(" ms); down after ").append(h.failures())
                    .append(" failures or one refused connection, up after ").append(h.recoveries())
                    .append(" successes; fail back after ").append(h.failBackAfter().toSeconds()).append(" s up\n");
        } else {
            text.append("  no backup: nothing is probed (cpe.concentrators lists backups)\n");
        }
        return text.toString();
    }
}
