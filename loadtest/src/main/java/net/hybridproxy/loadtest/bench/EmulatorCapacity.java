package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.HybridAccessLab.Link;
import net.hybridproxy.loadtest.lab.InterfaceCounters;
import net.hybridproxy.loadtest.lab.Json;
import net.hybridproxy.loadtest.lab.TrafficResult;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * Is the link emulator fast enough not to be the bottleneck? Both uplinks at {@code --rate} Mbit/s and
 * {@code --rtt} ms carry one bulk upload each at the same time (cpe to concentrator, each bound to its uplink),
 * and the emulators report how late they wrote packets compared with the schedule — the jitter they add.
 *
 * <pre>EmulatorCapacity [--rate 400] [--rtt 20] [--bytes 400000000] [--mtu 1500]</pre>
 */
public final class EmulatorCapacity {
    private EmulatorCapacity() {
    }

    public static void main(String[] args) {
        Map<String, String> opts = Options.parse(args);
        double rate = Double.parseDouble(opts.getOrDefault("rate", "400"));
        Duration rtt = Duration.ofMillis(Long.parseLong(opts.getOrDefault("rtt", "20")));
        long bytes = Long.parseLong(opts.getOrDefault("bytes", "400000000"));
        int mtu = Integer.parseInt(opts.getOrDefault("mtu", "1500"));
        System.out.println(Json.writePretty(run(rate, rtt, bytes, mtu)));
    }

    static Map<String, Object> run(double rate, Duration rtt, long bytes, int mtu) {
        Map<String, Object> report = new LinkedHashMap<>();
        try (HybridAccessLab lab = HybridAccessLab.builder().rate(Link.DSL, rate).rate(Link.LTE, rate)
                .rtt(Link.DSL, rtt).rtt(Link.LTE, rtt).uplinkMtu(mtu).build()) {
            report.put("emulation", lab.emulation().name());
            report.put("rateMbit", rate);
            report.put("rttMs", rtt.toMillis());
            report.put("mtu", mtu);
            report.put("cores", Runtime.getRuntime().availableProcessors());
            report.put("loadBefore", Machine.loadAverage());
            lab.startTrafficServer(lab.conc(), 5001);
            lab.emulatorStats(Link.DSL);
            lab.emulatorStats(Link.LTE);
            Map<Link, InterfaceCounters> before = Map.of(Link.DSL, lab.counters(Link.DSL), Link.LTE,
                    lab.counters(Link.LTE));
            List<CompletableFuture<TrafficResult>> runs = List.of(Link.DSL, Link.LTE).stream()
                    .map(l -> CompletableFuture.supplyAsync(() -> lab.runTrafficClient(lab.cpe(),
                            Duration.ofMinutes(5), "--connect", HybridAccessLab.SERVICE_ADDR + ":5001", "--bind",
                            l.addressA(), "--up", String.valueOf(bytes))))
                    .toList();
            for (int i = 0; i < 2; i++) {
                Link l = i == 0 ? Link.DSL : Link.LTE;
                TrafficResult r = runs.get(i).join();
                Map<String, Object> one = new LinkedHashMap<>();
                one.put("ok", r.ok());
                one.put("mbps", r.mbps());
                one.put("seconds", r.seconds());
                one.put("linkTxBytes", lab.counters(l).since(before.get(l)).txBytes());
                one.put("emulator", lab.emulatorStats(l));
                report.put(l.ifname(), one);
            }
            report.put("loadAfter", Machine.loadAverage());
        }
        return report;
    }
}
