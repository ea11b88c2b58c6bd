package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.HybridAccessLab.Link;
import net.hybridproxy.loadtest.lab.InterfaceCounters;
import net.hybridproxy.loadtest.lab.TrafficResult;
import net.hybridproxy.loadtest.lab.emu.EmulatorStats;
import net.hybridproxy.loadtest.tool.ToolCommandLine;
import net.hybridproxy.loadtest.tool.ToolJson;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;

/**
 * Is the link emulator fast enough not to be the bottleneck? Both uplinks at {@code --rate} Mbit/s and
 * {@code --rtt} ms carry one bulk upload each at the same time (cpe to concentrator, each bound to its uplink),
 * and the emulators report how late they wrote packets compared with the schedule — the jitter they add.
 */
@Command(name = "EmulatorCapacity", mixinStandardHelpOptions = true,
        description = "Checks that the link emulator is not the bottleneck: two uploads at the given rate"
                + " (needs root).")
public final class EmulatorCapacity implements Callable<Integer> {
    @Option(names = "--rate", defaultValue = "400", description = "Mbit/s per uplink (default: ${DEFAULT-VALUE})")
    double rate;

    @Option(names = "--rtt", defaultValue = "20", description = "ms per uplink (default: ${DEFAULT-VALUE})")
    long rttMs;

    @Option(names = "--bytes", defaultValue = "400000000", description = "per upload (default: ${DEFAULT-VALUE})")
    long bytes;

    @Option(names = "--mtu", defaultValue = "1500", description = "uplink MTU (default: ${DEFAULT-VALUE})")
    int mtu;

    /** What one uplink carried and what its emulator reported. */
    record UplinkRun(boolean ok, double mbps, double seconds, long linkTxBytes, EmulatorStats emulator) {
    }

    /** The whole measurement, as printed. */
    record Capacity(String emulation, double rateMbit, long rttMs, int mtu, int cores, double loadBefore,
                    UplinkRun dsl, UplinkRun lte, double loadAfter) {
    }

    public static void main(String[] args) {
        ToolCommandLine.exit(new EmulatorCapacity(), args);
    }

    @Override
    public Integer call() {
        System.out.print(ToolJson.pretty(run(rate, Duration.ofMillis(rttMs), bytes, mtu)));
        return ToolCommandLine.OK;
    }

    static Capacity run(double rate, Duration rtt, long bytes, int mtu) {
        try (HybridAccessLab lab = HybridAccessLab.builder().rate(Link.DSL, rate).rate(Link.LTE, rate)
                .rtt(Link.DSL, rtt).rtt(Link.LTE, rtt).uplinkMtu(mtu).build()) {
            double loadBefore = Machine.loadAverage();
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
            UplinkRun[] uplinks = new UplinkRun[2];
            for (int i = 0; i < 2; i++) {
                Link l = i == 0 ? Link.DSL : Link.LTE;
                TrafficResult r = runs.get(i).join();
                uplinks[i] = new UplinkRun(r.ok(), r.mbps(), r.seconds(),
                        lab.counters(l).since(before.get(l)).txBytes(), lab.emulatorStats(l).orElse(null));
            }
            return new Capacity(lab.emulation().name(), rate, rtt.toMillis(), mtu,
                    Runtime.getRuntime().availableProcessors(), loadBefore, uplinks[0], uplinks[1],
                    Machine.loadAverage());
        }
    }
}
