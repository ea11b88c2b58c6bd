package net.hybridproxy.engine.multipath.sim;

import java.util.List;
import java.util.function.Supplier;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import org.junit.jupiter.api.Test;

class ZzDiagTest {
    private static final List<SubflowPriority> BOTH = List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY);

    static SessionConfig windows(SessionConfig c, int bytes) {
        return new SessionConfig(c.scheduler(), c.overflowBudgetBytes(), c.overflowBudgetPeriod(), bytes, bytes,
                c.sessionReceiveBudget(), c.maxStreams(), c.maxSubflows(), c.maxOutOfOrderPieces(), c.probes(),
                c.handshakeTimeout(), c.reconnectBackoff(), c.maxReconnectBackoff(), c.stableAfter(), c.orphanTimeout(),
                c.sessionMemoryBudget(), c.lateReinjection());
    }

    static List<SimLink> links(String scenario) {
        List<SimLink> l = links0(scenario);
        if (Boolean.getBoolean("diagbbr")) {
            l.forEach(x -> x.bbrLike = true);
        }
        return l;
    }

    static List<SimLink> links0(String scenario) {
        return switch (scenario) {
            case "lossy-lte" -> {
                SimLink lte = SimLink.queued("lte", 100, 70, 200, 2);
                lte.lossRate = 0.005;
                yield List.of(SimLink.queued("dsl", 8, 15, 50, 1), lte);
            }
            case "lossy-mixed" -> {
                SimLink lte = SimLink.queued("lte", 30, 50, 200, 2);
                lte.lossRate = 0.01;
                yield List.of(SimLink.queued("dsl", 50, 20, 50, 1), lte);
            }
            default -> List.of(SimLink.queued("dsl", 50, 20, 50, 1), SimLink.queued("lte", 30, 50, 200, 2));
        };
    }

    @Test
    void collapse() {
        for (boolean bbr : new boolean[] {false, true}) {
            for (SessionConfig config : List.of(SessionConfig.defaults(), SessionConfig.defaults().withLateReinjection(true))) {
                SimLink dsl = SimLink.queued("dsl", 20, 20, 50, 1);
                SimLink lte = SimLink.queued("lte", 60, 50, 200, 2);
                dsl.bbrLike = bbr;
                lte.bbrLike = bbr;
                SimPair pair = new SimPair(config, List.of(dsl, lte), BOTH);
                pair.subflowUnsentBytes = SimPair.ADAPTER_UNSENT;
                pair.runFor(SimPair.SECOND / 2);
                pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, Long.MAX_VALUE, 0));
                long id = pair.openStream(100);
                pair.runFor(Bulk.WARMUP);
                long start = pair.now();
                pair.runFor(2 * SimPair.SECOND);
                lte.rateBitsPerSecond = 3_000_000;
                pair.runFor(3 * SimPair.SECOND);
                lte.rateBitsPerSecond = 60_000_000;
                pair.runFor(3 * SimPair.SECOND);
                long end = pair.now();
                StreamSink sink = pair.cpeSinks.get(id);
                double mean = sink.megabitsPerSecond(start, end);
                double worst = Double.MAX_VALUE;
                StringBuilder timeline = new StringBuilder();
                for (long t = start; t + 100 * SimPair.MS <= end; t += 100 * SimPair.MS) {
                    double m = sink.megabitsPerSecond(t, t + 100 * SimPair.MS);
                    worst = Math.min(worst, m);
                    timeline.append(String.format(" %.0f", m));
                }
                System.out.printf("DIAG collapse bbr=%s late=%s mean %.1f worst %.1f headwait %.2f winlim %.2f late %d holes %d reinj %d opp %d%n  %s%n",
                        bbr, config.lateReinjection(), mean, worst, pair.cpe.mib().get(MibCounter.HEAD_WAIT_NANOS) / 1e9 / 10.5,
                        pair.concentratorCounter(MibCounter.WINDOW_LIMITED_NANOS) / 1e9 / 10.5,
                        pair.concentratorCounter(MibCounter.LATE_REINJECTIONS), pair.concentratorCounter(MibCounter.HOLE_REINJECTIONS),
                        pair.concentratorCounter(MibCounter.REINJECTED_BYTES), pair.concentratorCounter(MibCounter.OPPORTUNISTIC_RETRANSMITS), timeline);
            }
        }
    }

    @Test
    void variants() {
        SessionConfig d = SessionConfig.defaults();
        String[] names = {"default", "win16", "win8", "late", "late+win16"};
        Supplier<?>[] unused = null;
        for (String scenario : List.of(System.getProperty("diagscen", "lossy-lte,lossy-mixed,hetero").split(","))) {
            List<SimLink> one = links(scenario);
            double a = Bulk.singlePath(links(scenario).get(0), 6, SimPair.ADAPTER_UNSENT);
            double b = Bulk.singlePath(links(scenario).get(1), 6, SimPair.ADAPTER_UNSENT);
            System.out.printf("DIAG %s alone dsl %.1f lte %.1f%n", scenario, a, b);
            SessionConfig[] configs = {d, windows(d, 16 << 20), windows(d, 8 << 20), d.withLateReinjection(true),
                    windows(d.withLateReinjection(true), 16 << 20)};
            for (int i = 0; i < configs.length; i++) {
                Bulk.Download run = Bulk.download(configs[i], links(scenario), BOTH, 6, SimPair.ADAPTER_UNSENT);
                double secs = (run.end() - run.start() + 2.5e9) / 1e9;
                System.out.printf("DIAG %s %s %.1f Mb/s worst100 %.1f headwait %.2f winlim %.2f sndbuf %.2f opp %d pen %d reinj %d%n", scenario, names[i],
                        run.megabitsPerSecond(), run.worstWindowMegabitsPerSecond(100 * SimPair.MS),
                        run.pair().cpe.mib().get(MibCounter.HEAD_WAIT_NANOS) / 1e9 / secs,
                        run.pair().concentratorCounter(MibCounter.WINDOW_LIMITED_NANOS) / 1e9 / secs,
                        run.pair().concentratorCounter(MibCounter.SEND_BUFFER_LIMITED_NANOS) / 1e9 / secs,
                        run.pair().concentratorCounter(MibCounter.OPPORTUNISTIC_RETRANSMITS),
                        run.pair().concentratorCounter(MibCounter.PENALISATIONS),
                        run.pair().concentratorCounter(MibCounter.REINJECTED_BYTES));
                StringBuilder j = new StringBuilder();
                for (var session : run.pair().concentratorSessions) {
                    session.judgementsByUplink().forEach((uplink, counts) -> {
                        for (var kind : net.hybridproxy.engine.multipath.mib.UplinkJudgements.Rule.values()) {
                            if (counts.count(kind) > 0) j.append(uplink).append(' ').append(kind).append('=').append(counts.count(kind)).append(' ');
                        }
                    });
                }
                System.out.println("DIAG   judgements " + j);
            }
        }
    }
}
