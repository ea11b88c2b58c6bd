package net.hybridproxy.proxy.cli;

import io.netty.channel.Channel;
import net.hybridproxy.proxy.Appliance;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.ConfigLoader;
import net.hybridproxy.proxy.transport.MptcpFullInfo;
import net.hybridproxy.proxy.transport.MptcpFullInfo.MptcpSubflowInfo;

import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * {@code hybridproxy demo}: a concentrator, a CPE with an explicit listener and a local target in one process,
 * MPTCP over two loopback addresses standing in for DSL and LTE. It moves verified bytes both ways, shows what each
 * subflow carried, and compares with the same transfer made directly (no proxy).
 *
 * <p>Managing MPTCP endpoints needs CAP_NET_ADMIN in the current network namespace; the launcher runs the demo in
 * a private namespace so the host's own endpoints are never touched. Without the capability the demo still runs,
 * on one subflow, and says so.
 */
final class Demo {
    static final long DEFAULT_BYTES = 256L * 1024 * 1024;

    private Demo() {
    }

    static int run(long bytes, PrintStream out) throws Exception {
        boolean canManageEndpoints = Check.hasCapability(12);
        // The launcher's private namespace has 198.18.0.1-3 on lo: two "uplinks" and a target that is not a
        // loopback address (RFC 8803 converters refuse loopback destinations). Elsewhere: 127.0.0.1/2 as uplinks
        // and any non-loopback local address as the target.
        boolean privateLab = isLocal(InetAddress.getByName(PRIVATE_TARGET));
        InetAddress dsl = InetAddress.getByName(privateLab ? "198.18.0.1" : "127.0.0.1");
        InetAddress lte = InetAddress.getByName(privateLab ? "198.18.0.2" : "127.0.0.2");
        InetAddress targetHost = privateLab ? InetAddress.getByName(PRIVATE_TARGET) : nonLoopbackLocalAddress();
        int concentratorPort = freePort(dsl);
        int cpePort = freePort(dsl);
        int adminPort = freePort(InetAddress.getLoopbackAddress());
        try (DemoTarget target = new DemoTarget(targetHost)) {
            InetSocketAddress targetAddress = target.address();
            AppConfig concentratorConfig = ConfigLoader.parseString("""
                    hybridproxy {
                      role = concentrator
                      admin.enabled = false
                      path-manager.manage-endpoints = false
                      concentrator {
                        listen = ["%s:%d"]
                        authorized-cidrs = ["127.0.0.0/8", "198.18.0.0/15"]
                        keys = [{ id = "demo-cpe", key = "hex:000102030405060708090a0b0c0d0e0f" }]
                        # The demo's target is an address of this host, which the policy opens only by name.
                        destinations.allow = ["%s/%d"]
                      }
                    }
                    """.formatted(dsl.getHostAddress(), concentratorPort, targetAddress.getAddress().getHostAddress(),
                    targetAddress.getAddress().getAddress().length * 8));
            AppConfig cpeConfig = ConfigLoader.parseString("""
                    hybridproxy {
                      role = cpe
                      admin.bind = "127.0.0.1:%d"
                      uplinks = [
                        { name = dsl, interface = lo, address = "%s", role = primary }
                        { name = lte, interface = lo, address = "%s", role = primary }
                      ]
                      path-manager { manage-endpoints = %s, install-routes = false }
                      cpe {
                        concentrator = "%s:%d"
                        listeners = [{ name = demo, mode = explicit, bind = "%s:%d", destination = "%s" }]
                        key-id = "demo-cpe"
                        key = "hex:000102030405060708090a0b0c0d0e0f"
                      }
                    }
                    """.formatted(adminPort, dsl.getHostAddress(), lte.getHostAddress(), canManageEndpoints,
                    dsl.getHostAddress(), concentratorPort, dsl.getHostAddress(), cpePort,
                    net.hybridproxy.proxy.config.Endpoint.format(targetAddress)));
            out.println("hybridproxy demo: target " + targetAddress + ", concentrator " + dsl.getHostAddress() + ":"
                    + concentratorPort + " (MPTCP), cpe explicit listener " + dsl.getHostAddress() + ":" + cpePort);
            if (!canManageEndpoints) {
                out.println("  note: no CAP_NET_ADMIN here, so no MPTCP endpoint for the second uplink: one subflow "
                        + "only. Run the demo through bin/hybridproxy, which gives it a private network namespace.");
            }
            try (Appliance concentrator = new Appliance(concentratorConfig).start();
                 Appliance cpe = new Appliance(cpeConfig).start()) {
                out.println("  transport: " + cpe.transport().label() + "; uplinks: dsl=" + dsl.getHostAddress()
                        + ", lte=" + lte.getHostAddress() + " (both on lo)");
                InetSocketAddress viaProxy = new InetSocketAddress(dsl, cpePort);

                double directUp = DemoTarget.upload(targetAddress, bytes);
                double directDown = DemoTarget.download(targetAddress, bytes);

                SubflowRecorder sampler = new SubflowRecorder(cpe);
                double proxyUp;
                double proxyDown;
                try (sampler) {
                    proxyUp = DemoTarget.upload(viaProxy, bytes);
                    sampler.finishConnection();
                    proxyDown = DemoTarget.download(viaProxy, bytes);
                    sampler.finishConnection();
                }
                out.printf("%n  %-30s %12s %12s%n", "transfer (" + (bytes >> 20) + " MiB, SHA-256 verified)",
                        "upload", "download");
                out.printf("  %-30s %9.0f Mb/s %7.0f Mb/s%n", "direct TCP (no proxy)", directUp, directDown);
                out.printf("  %-30s %9.0f Mb/s %7.0f Mb/s%n", "cpe -> MPTCP -> concentrator", proxyUp, proxyDown);
                out.printf("  %-30s %11.2f %12.2f%n", "ratio proxy/direct", proxyUp / directUp, proxyDown / directDown);
                out.println();
                out.println("  What went over which subflow (cpe side of each MPTCP connection):");
                sampler.print(out);
                out.printf("%n  connections: %d accepted by the cpe, %d MPTCP fallbacks, %d by the concentrator%n",
                        cpe.counters().accepted(), cpe.counters().mptcpFallbacks(),
                        concentrator.counters().accepted());
                printUplinkMetrics(out, adminPort);
            }
        }
        return 0;
    }

    /** The cpe's own per-uplink byte counters, as its admin server exports them to Prometheus. */
    private static void printUplinkMetrics(PrintStream out, int adminPort) {
        try (java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient()) {
            String scrape = http.send(java.net.http.HttpRequest.newBuilder(
                            java.net.URI.create("http://127.0.0.1:" + adminPort + "/metrics")).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString()).body();
            out.println();
            out.println("  The cpe's per-uplink metrics (GET http://127.0.0.1:" + adminPort + "/metrics, excerpt):");
            scrape.lines()
                    .filter(l -> l.startsWith("hybridproxy_uplink_sent_bytes_total")
                            || l.startsWith("hybridproxy_uplink_received_bytes_total")
                            || l.startsWith("hybridproxy_uplink_subflows_opened_total"))
                    .forEach(l -> out.println("    " + l));
        } catch (IOException | InterruptedException e) {
            out.println("  (admin server not reachable: " + e.getMessage() + ")");
        }
    }

    static final String PRIVATE_TARGET = "198.18.0.3";

    private static boolean isLocal(InetAddress address) throws java.net.SocketException {
        return java.net.NetworkInterface.getByInetAddress(address) != null;
    }

    private static InetAddress nonLoopbackLocalAddress() throws java.net.SocketException {
        for (var nif : java.util.Collections.list(java.net.NetworkInterface.getNetworkInterfaces())) {
            for (var address : java.util.Collections.list(nif.getInetAddresses())) {
                if (address instanceof java.net.Inet4Address && !address.isLoopbackAddress()
                        && !address.isLinkLocalAddress()) {
                    return address;
                }
            }
        }
        throw new IllegalStateException("the demo needs a non-loopback local address for its target: run it "
                + "through bin/hybridproxy, which gives it a private network namespace");
    }

    private static int freePort(InetAddress address) throws java.io.IOException {
        try (var socket = new java.net.ServerSocket(0, 1, address)) {
            return socket.getLocalPort();
        }
    }

    /**
     * Samples the cpe's open MPTCP connections every 20 ms and keeps the last reading per connection, so the
     * figures survive the connection's close.
     */
    private static final class SubflowRecorder implements AutoCloseable {
        private final Appliance cpe;
        private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
        private final Map<Channel, List<MptcpSubflowInfo>> latest = new LinkedHashMap<>();
        private final List<List<MptcpSubflowInfo>> finished = new ArrayList<>();
        /** Connections already reported: a closing channel stays listed in the group for a moment. */
        private final java.util.Set<Channel> reported = new java.util.HashSet<>();

        SubflowRecorder(Appliance cpe) {
            this.cpe = cpe;
            timer.scheduleAtFixedRate(this::sample, 0, 20, TimeUnit.MILLISECONDS);
        }

        private synchronized void sample() {
            for (Channel channel : cpe.multipathChannels()) {
                if (reported.contains(channel)) {
                    continue;
                }
                try {
                    // Only connected subflows: a sample taken mid-handshake has no remote port yet.
                    List<MptcpSubflowInfo> connected = MptcpFullInfo.read(channel).subflows().stream()
                            .filter(s -> s.remote() != null && s.remote().getPort() != 0).toList();
                    if (!connected.isEmpty()) {
                        latest.put(channel, connected);
                    }
                } catch (Exception e) {
                    // closed between listing and reading: the previous sample stands
                }
            }
        }

        synchronized void finishConnection() {
            finished.addAll(latest.values());
            reported.addAll(latest.keySet());
            latest.clear();
        }

        @Override
        public void close() {
            timer.shutdownNow();
        }

        synchronized void print(PrintStream out) {
            int n = 0;
            for (List<MptcpSubflowInfo> connection : finished) {
                out.printf("    connection %d%n", ++n);
                out.printf("      %-24s %-24s %12s %12s %8s %6s%n", "local", "remote", "sent MiB", "recv MiB",
                        "rtt ms", "cwnd");
                for (MptcpSubflowInfo s : connection) {
                    out.printf("      %-24s %-24s %12.1f %12.1f %8.2f %6d%n", s.local(), s.remote(),
                            s.bytesSent() / 1048576.0, s.bytesReceived() / 1048576.0, s.rttMicros() / 1000.0,
                            s.congestionWindow());
                }
            }
        }
    }
}
